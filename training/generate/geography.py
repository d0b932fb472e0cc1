"""The city's geography: LSOAs inside wards inside boroughs, boroughs inside police BCUs.

Two ways to get one, both returning the same table (:data:`GEOGRAPHY_COLUMNS`):

* :func:`generate_geography`: London's 33 local authorities with their real codes, names and
  BCUs (built in, ``data/london_boroughs.csv``) and generated wards and LSOAs whose number
  follows each borough's real share and whose deprivation follows its real mean.
* :func:`london_geography`: London's real 4,835 LSOAs, 637 wards, 33 boroughs and 12 BCUs,
  with IMD 2019 deprivation and mid-2019 populations, from the reference data shipped in
  :mod:`governance.geography` (the demo's geography).
* :func:`read_ons_geography`: a real ONS LSOA→ward→local-authority lookup, with IMD 2019
  ranks and mid-year child populations when given.

Generated codes start with ``X`` (``X01...`` LSOAs, ``X05...`` wards) so they can never be
mistaken for real ONS codes. Also :func:`make_postcodes`: the unit postcodes of each LSOA,
the public lookup that later stages use to place an address in an area.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from governance.contracts.errors import ConfigError
from governance.geography import london_lookup
from training.generate.config import GeographyConfig

__all__ = [
    "GEOGRAPHY_COLUMNS",
    "generate_geography",
    "london_boroughs",
    "london_geography",
    "make_postcodes",
    "read_ons_geography",
]

GEOGRAPHY_COLUMNS: tuple[str, ...] = (
    "lsoa_code",
    "lsoa_name",
    "ward_code",
    "ward_name",
    "borough_code",
    "borough_name",
    "bcu_code",
    "bcu_name",
    "deprivation_score",
    "deprivation_decile",
    "population_weight",
)

_MISSING_COLUMNS = "{path}: missing column(s) {missing}; expected {expected}"
_UNKNOWN_LAD = (
    "{path}: local authority code(s) {codes} have no police BCU in the built-in London table; "
    "set generate.geography.bcu_csv to a file with LAD19CD, bcu_code, bcu_name"
)
_IMD_RANK_PREFIX = "Index of Multiple Deprivation (IMD) Rank"
_IMD_DECILE_PREFIX = "Index of Multiple Deprivation (IMD) Decile"
_ENGLAND_LSOAS = 32_844
#: Share of the ONS 16-29 band aged 16-25 (ten of its fourteen years, taken as even).
_AGES_16_25_OF_16_29 = 10 / 14
_WARD_WORDS = [
    "Abbey",
    "Albion",
    "Alexandra",
    "Ashburton",
    "Beacon",
    "Bridge",
    "Brook",
    "Castle",
    "Cedar",
    "Chapel",
    "Church",
    "Clock",
    "Common",
    "Cross",
    "Elm",
    "Fairfield",
    "Forest",
    "Garden",
    "Gate",
    "Grange",
    "Green",
    "Grove",
    "Hatch",
    "Heath",
    "Highfield",
    "Hill",
    "Kings",
    "Lea",
    "Manor",
    "Market",
    "Marsh",
    "Mill",
    "Oak",
    "Orchard",
    "Park",
    "Priory",
    "Queens",
    "Riverside",
    "Rose",
    "Saint",
    "Stanley",
    "Station",
    "Temple",
    "Tower",
    "Vale",
    "Victoria",
    "Well",
    "Wood",
]
_WARD_SUFFIXES = ("", " North", " South", " East", " West", " Central", " Park", " Green", " Vale")
_UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
UNITS_PER_LSOA = 16


def london_boroughs() -> pd.DataFrame:
    """The built-in table of London's 33 local authorities, their BCUs and real LSOA counts."""
    with resources.files("training.generate").joinpath("data/london_boroughs.csv").open() as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False).astype(
            {"lsoas": int, "wards": int, "deprivation": float}
        )


def generate_geography(
    config: GeographyConfig, persons: int, rng: np.random.Generator
) -> pd.DataFrame:
    """London's boroughs and BCUs with generated wards and LSOAs sized for ``persons`` people."""
    boroughs = london_boroughs()
    total = max(int(np.ceil(persons / config.young_people_per_lsoa)), len(boroughs))
    share = boroughs["lsoas"].to_numpy() / boroughs["lsoas"].sum()
    n_lsoas = np.maximum(np.round(share * total).astype(int), config.min_lsoas_per_borough)
    # The City of London is tiny: never give it more LSOAs than it really has.
    n_lsoas = np.minimum(
        n_lsoas, np.maximum(boroughs["lsoas"].to_numpy(), config.min_lsoas_per_borough)
    )

    frames = []
    ward_serial = 0
    lsoa_serial = 0
    for b, row in enumerate(boroughs.itertuples(index=False)):  # 33 boroughs, not records
        n = int(n_lsoas[b])
        n_wards = int(np.clip(round(n / config.lsoas_per_ward), 1, n))
        # every ward has at least one LSOA; the rest are spread unevenly, as real wards are
        extra = rng.multinomial(n - n_wards, rng.dirichlet(np.full(n_wards, 4.0)))
        ward_of_lsoa = np.repeat(np.arange(n_wards), 1 + extra)
        ward_effect = rng.normal(0.0, config.ward_deprivation_sd, n_wards)
        score = (
            config.borough_deprivation_sd / 0.44 * row.deprivation
            + ward_effect[ward_of_lsoa]
            + rng.normal(0.0, config.lsoa_deprivation_sd, n)
        )
        names = _ward_names(n_wards, rng)
        suffix = [_lsoa_suffix(i) for i in range(n)]
        frames.append(
            pd.DataFrame(
                {
                    "lsoa_code": [f"X01{lsoa_serial + i:06d}" for i in range(n)],
                    "lsoa_name": [f"{row.borough_name} {s}" for s in suffix],
                    "ward_code": [f"X05{ward_serial + w:06d}" for w in ward_of_lsoa],
                    "ward_name": [names[w] for w in ward_of_lsoa],
                    "borough_code": row.borough_code,
                    "borough_name": row.borough_name,
                    "bcu_code": row.bcu_code,
                    "bcu_name": row.bcu_name,
                    "deprivation_score": score,
                }
            )
        )
        ward_serial += n_wards
        lsoa_serial += n
    geo = pd.concat(frames, ignore_index=True)
    geo["deprivation_decile"] = _city_deciles(geo["deprivation_score"].to_numpy())
    # More deprived areas are home to more children; sizes vary as real LSOAs do.
    weight = rng.lognormal(0.0, 0.25, len(geo)) * np.exp(0.12 * geo["deprivation_score"].to_numpy())
    geo["population_weight"] = weight / weight.sum()
    return _standardise(geo)


def london_geography(config: GeographyConfig) -> pd.DataFrame:
    """London's real LSOAs, wards, boroughs and BCUs (or those of ``config.boroughs``).

    Deprivation is the IMD 2019 rank on the normal scale (as for ``source: ons``) with its
    national decile; people are placed by the ONS mid-2019 estimate of 0-25 year olds (0-15
    plus ten fourteenths of 16-29, as the file gives 16-29 as one band).
    """
    lookup = london_lookup()
    if config.boroughs:
        known = set(lookup["borough_code"])
        if unknown := sorted(set(config.boroughs) - known):
            raise ConfigError(
                f"generate.geography.boroughs: unknown borough code(s) {unknown[:5]}; "
                f"expected London codes E09000001 to E09000033"
            )
        lookup = lookup[lookup["borough_code"].isin(config.boroughs)]
    geo = lookup.loc[:, [c for c in GEOGRAPHY_COLUMNS if c in lookup.columns]].copy()
    geo["deprivation_score"] = _imd_score(lookup["imd_rank"].to_numpy())
    geo["deprivation_decile"] = lookup["imd_decile"].to_numpy()
    young = lookup["population_0_15"] + lookup["population_16_29"] * _AGES_16_25_OF_16_29
    geo["population_weight"] = (young / young.sum()).to_numpy()
    return _standardise(geo)


def read_ons_geography(config: GeographyConfig, rng: np.random.Generator) -> pd.DataFrame:
    """A real ONS lookup (and IMD ranks and child populations where given) as a geography."""
    assert config.lookup_csv is not None  # the config model guarantees it for source 'ons'
    lookup = _read_csv(
        config.lookup_csv, ["LSOA11CD", "LSOA11NM", "WD19CD", "WD19NM", "LAD19CD", "LAD19NM"]
    )
    geo = pd.DataFrame(
        {
            "lsoa_code": lookup["LSOA11CD"],
            "lsoa_name": lookup["LSOA11NM"],
            "ward_code": lookup["WD19CD"],
            "ward_name": lookup["WD19NM"],
            "borough_code": lookup["LAD19CD"],
            "borough_name": lookup["LAD19NM"],
        }
    )
    geo = geo.merge(_bcu_table(config), on="borough_code", how="left")
    if geo["bcu_code"].isna().any():
        codes = sorted(geo.loc[geo["bcu_code"].isna(), "borough_code"].unique())
        raise ConfigError(_UNKNOWN_LAD.format(path=config.lookup_csv, codes=codes[:5]))
    if config.imd_csv is not None:
        imd = _read_imd(config.imd_csv)
        geo = geo.merge(imd, on="lsoa_code", how="left")
        if geo["deprivation_score"].isna().any():
            raise ConfigError(
                f"{config.imd_csv}: no IMD rank for "
                f"{geo['deprivation_score'].isna().sum()} LSOA(s) of the lookup"
            )
    else:
        boroughs = london_boroughs().set_index("borough_code")["deprivation"]
        mean = geo["borough_code"].map(boroughs).fillna(0.0).to_numpy()
        geo["deprivation_score"] = mean + rng.normal(0.0, config.lsoa_deprivation_sd, len(geo))
        geo["deprivation_decile"] = _city_deciles(geo["deprivation_score"].to_numpy())
    if config.population_csv is not None:
        pop = _read_csv(config.population_csv, ["LSOA11CD", "Persons_0-15"])
        weights = geo["lsoa_code"].map(pop.set_index("LSOA11CD")["Persons_0-15"].astype(float))
        geo["population_weight"] = weights.fillna(weights.mean()).to_numpy()
    else:
        geo["population_weight"] = 1.0
    geo["population_weight"] = geo["population_weight"] / geo["population_weight"].sum()
    return _standardise(geo)


def make_postcodes(geo: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Unit postcodes of each LSOA: its borough's districts, a sector digit and two letters.

    LSOAs that share a district and sector get disjoint blocks of unit letters, so that each
    postcode lies in exactly one LSOA (as the ONS postcode directory has it).
    """
    districts = london_boroughs().set_index("borough_code")["postcode_districts"].str.split()
    n = len(geo)
    district = np.empty(n, dtype=object)
    made_up = 0
    for code, idx in geo.groupby("borough_code", sort=False).indices.items():
        options = districts.get(code)
        if not options:
            # outside the built-in table: made-up districts Z1A, Z2A, ... valid in form, each
            # with room for its LSOAs (10 sectors of 400 / UNITS_PER_LSOA blocks each)
            k = -(-len(idx) * UNITS_PER_LSOA // 2000)
            options = [_made_up_district(made_up + j) for j in range(k)]
            made_up += k
        district[idx] = np.asarray(options, dtype=object)[np.arange(len(idx)) % len(options)]
    sector = rng.integers(0, 10, n)
    # the k-th LSOA in a district and sector takes the k-th block of unit letters
    block = (
        pd.Series(district.astype(str))
        .str.cat(sector.astype(str))
        .pipe(lambda key: key.groupby(key).cumcount().to_numpy())
    )
    units = np.arange(UNITS_PER_LSOA)
    # shuffle unit letter pairs once; LSOA blocks take consecutive runs of them
    pairs = rng.permutation(len(_UNIT_LETTERS) ** 2)
    pos = (block[:, None] * UNITS_PER_LSOA + units[None, :]) % len(pairs)
    letters = pairs[pos]
    first = _UNIT_LETTERS[letters // len(_UNIT_LETTERS)]
    second = _UNIT_LETTERS[letters % len(_UNIT_LETTERS)]
    prefix = np.char.add(np.char.add(district.astype(str), " "), sector.astype(str))
    codes = np.char.add(
        np.char.add(np.repeat(prefix, UNITS_PER_LSOA).reshape(n, -1), first), second
    )
    return pd.DataFrame(
        {
            "postcode": codes.ravel().astype(object),
            "lsoa_code": np.repeat(geo["lsoa_code"].to_numpy(), UNITS_PER_LSOA),
        }
    ).drop_duplicates("postcode", ignore_index=True)


def _made_up_district(i: int) -> str:
    return f"{'Z' if i < 234 else 'ZZ'}{i % 9 + 1}{chr(65 + (i // 9) % 26)}"


def _standardise(geo: pd.DataFrame) -> pd.DataFrame:
    geo = geo.sort_values(["borough_code", "ward_code", "lsoa_code"], ignore_index=True)
    score = geo["deprivation_score"].to_numpy(dtype=float)
    geo["deprivation_score"] = (score - score.mean()) / (score.std() or 1.0)
    geo["deprivation_decile"] = geo["deprivation_decile"].astype("int8")
    return geo.loc[:, list(GEOGRAPHY_COLUMNS)]


def _city_deciles(score: np.ndarray) -> np.ndarray:
    """Decile within the city, 1 = most deprived (the IMD convention)."""
    order = (-score).argsort(kind="stable").argsort(kind="stable")
    return (order * 10 // len(score) + 1).astype("int8")


def _ward_names(n: int, rng: np.random.Generator) -> list[str]:
    words = rng.permutation(len(_WARD_WORDS))
    names = []
    for i in range(n):
        word = _WARD_WORDS[words[i % len(words)]]
        names.append(word + _WARD_SUFFIXES[(i // len(words)) % len(_WARD_SUFFIXES)])
    return names


def _lsoa_suffix(i: int) -> str:
    return f"{i // 4 + 1:03d}{'ABCD'[i % 4]}"


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    if not Path(path).is_file():
        raise ConfigError(f"{path}: file not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if missing := [c for c in required if c not in frame.columns]:
        raise ConfigError(_MISSING_COLUMNS.format(path=path, missing=missing, expected=required))
    return frame


def _read_imd(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    rank = next((c for c in frame.columns if c.startswith(_IMD_RANK_PREFIX)), None)
    decile = next((c for c in frame.columns if c.startswith(_IMD_DECILE_PREFIX)), None)
    code = next((c for c in frame.columns if c.startswith("LSOA code")), None)
    if rank is None or decile is None or code is None:
        expected = ["LSOA code (2011)", _IMD_RANK_PREFIX + " ...", _IMD_DECILE_PREFIX + " ..."]
        raise ConfigError(
            _MISSING_COLUMNS.format(path=path, missing="IMD rank/decile", expected=expected)
        )
    ranks = pd.to_numeric(frame[rank], errors="raise").to_numpy()
    return pd.DataFrame(
        {
            "lsoa_code": frame[code],
            "deprivation_score": _imd_score(ranks),
            "deprivation_decile": frame[decile].astype(int),
        }
    )


def _imd_score(ranks: np.ndarray) -> list[float]:
    """IMD ranks (1 = most deprived in England) as a deprivation score on the normal scale."""
    normal = NormalDist()
    return [-normal.inv_cdf((r - 0.5) / _ENGLAND_LSOAS) for r in ranks]


def _bcu_table(config: GeographyConfig) -> pd.DataFrame:
    if config.bcu_csv is not None:
        table = _read_csv(config.bcu_csv, ["LAD19CD", "bcu_code", "bcu_name"])
        table = table.rename(columns={"LAD19CD": "borough_code"})
        table.loc[table["bcu_code"] == "", ["bcu_code", "bcu_name"]] = [
            "COLP",
            "City of London Police",
        ]
    else:
        table = london_boroughs()
    return table.loc[:, ["borough_code", "bcu_code", "bcu_name"]]
