"""The generator: determinism, files and manifest, geography, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.contracts.errors import ConfigError
from governance.contracts.layout import SOURCES, DataLayout
from tests.helpers import make_config
from training.generate.geography import london_boroughs
from training.generate.run import GenerateResult, run_generate


def _hashes(result: GenerateResult) -> dict[str, str]:
    return {name: meta["sha256"] for name, meta in result.manifest["files"].items()}


def test_same_seed_gives_identical_files(tmp_path: Path, small_city: GenerateResult) -> None:
    again = run_generate(make_config(), tmp_path / "again")
    assert _hashes(again) == _hashes(small_city)


def test_another_seed_gives_other_extracts(tmp_path: Path, small_city: GenerateResult) -> None:
    other = run_generate(make_config(seed=99), tmp_path / "other")
    for source in SOURCES:
        name = f"extracts/{source}.parquet"
        assert _hashes(other)[name] != _hashes(small_city)[name]


def test_manifest_describes_every_file(small_city_dir: Path) -> None:
    manifest = json.loads(DataLayout(small_city_dir).manifest.read_text())
    assert manifest["seed"] == 1234
    assert len(manifest["config_hash"]) == 64
    assert manifest["persons"] == 3000
    on_disk = {p.relative_to(small_city_dir).as_posix() for p in small_city_dir.rglob("*.parquet")}
    assert on_disk == set(manifest["files"])
    for name, meta in manifest["files"].items():
        assert meta["rows"] == len(pd.read_parquet(small_city_dir / name)), name
        assert meta["schema_version"]


def test_exact_number_of_persons_and_every_record_has_one(small_city_dir: Path) -> None:
    persons = pd.read_parquet(small_city_dir / "truth/persons.parquet")
    assert len(persons) == 3000 and persons["person_id"].is_unique
    record_person = pd.read_parquet(small_city_dir / "truth/record_person.parquet")
    for source in SOURCES:
        extract = pd.read_parquet(DataLayout(small_city_dir).extract(source))
        assert len(extract) > 0
        mine = record_person[record_person["source"] == source]
        assert set(mine["record_id"]) == set(extract["record_id"])
    assert record_person["person_id"].isin(persons["person_id"]).all()


def test_no_clean_key_joins_the_extracts(small_city_dir: Path) -> None:
    layout = DataLayout(small_city_dir)
    ids = {s: set(pd.read_parquet(layout.extract(s))["record_id"]) for s in SOURCES}
    for a in SOURCES:
        for b in SOURCES:
            if a < b:
                assert not ids[a] & ids[b]
    health = pd.read_parquet(layout.extract("education"))
    assert "nhs_number" not in health.columns  # schools do not hold NHS numbers


def test_people_look_like_londons_young(small_city_dir: Path) -> None:
    persons = pd.read_parquet(small_city_dir / "truth/persons.parquet")
    ages = (pd.Timestamp("2025-03-31") - pd.to_datetime(persons["date_of_birth"])).dt.days / 365.25
    assert ages.between(0, 25.01).all()
    assert 0.45 < (persons["sex"] == "M").mean() < 0.58
    shares = persons["ethnicity"].value_counts(normalize=True)
    assert set(shares.index) == {"White", "Mixed", "Asian", "Black", "Other"}
    assert 0.35 < shares["White"] < 0.55 and 0.1 < shares["Black"] < 0.22


def test_generated_geography_is_a_consistent_hierarchy(small_city_dir: Path) -> None:
    geo = pd.read_parquet(DataLayout(small_city_dir).geography)
    assert geo["lsoa_code"].is_unique
    assert (geo.groupby("ward_code")["borough_code"].nunique() == 1).all()
    assert (geo.groupby("borough_code")["bcu_code"].nunique() == 1).all()
    boroughs = london_boroughs()
    assert sorted(geo["borough_code"].unique()) == [f"E090000{i:02d}" for i in range(1, 34)]
    bcu = geo.drop_duplicates("borough_code").set_index("borough_code")["bcu_code"]
    assert bcu.to_dict() == boroughs.set_index("borough_code")["bcu_code"].to_dict()
    assert bcu["E09000001"] == "COLP" and bcu.drop("E09000001").nunique() == 12
    assert geo["lsoa_code"].str.match(r"^X01\d{6}$").all()
    assert set(geo["deprivation_decile"]) == set(range(1, 11))
    assert np.isclose(geo["population_weight"].sum(), 1.0)


def test_deprivation_follows_real_borough_ranking(tmp_path: Path) -> None:
    result = run_generate(make_config(persons=40_000), tmp_path)
    geo = pd.read_parquet(DataLayout(result.data_dir).geography)
    mean = geo.groupby("borough_name")["deprivation_score"].mean()
    assert mean["Barking and Dagenham"] > mean["Richmond upon Thames"] + 1.0
    assert mean["Hackney"] > mean["Kingston upon Thames"] + 1.0


def test_postcodes_belong_to_one_lsoa_and_records_use_them(small_city_dir: Path) -> None:
    postcodes = pd.read_parquet(small_city_dir / "postcodes.parquet")
    assert postcodes["postcode"].is_unique
    health = pd.read_parquet(DataLayout(small_city_dir).extract("health"))
    shown = health["postcode"].dropna()
    assert shown.isin(postcodes["postcode"]).all()


def _ons_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A tiny ONS-format lookup, IMD and population file for two real London boroughs."""
    rows = []
    for b, (lad, name) in enumerate(
        [("E09000012", "Hackney"), ("E09000027", "Richmond upon Thames")]
    ):
        for w in range(3):
            for i in range(4):
                code = f"E0100{b}{w}{i:02d}"
                rows.append((code, f"{name} {w}{i}", f"E0500{b}{w:03d}", f"Ward {b}{w}", lad, name))
    lookup = pd.DataFrame(
        rows, columns=["LSOA11CD", "LSOA11NM", "WD19CD", "WD19NM", "LAD19CD", "LAD19NM"]
    )
    imd = pd.DataFrame(
        {
            "LSOA code (2011)": lookup["LSOA11CD"],
            "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)": np.where(
                lookup["LAD19CD"] == "E09000012", 2000, 30000
            ),
            "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)": np.where(
                lookup["LAD19CD"] == "E09000012", 1, 10
            ),
        }
    )
    population = pd.DataFrame({"LSOA11CD": lookup["LSOA11CD"], "Persons_0-15": 300})
    paths = tmp_path / "lookup.csv", tmp_path / "imd.csv", tmp_path / "pop.csv"
    for frame, path in zip((lookup, imd, population), paths, strict=True):
        frame.to_csv(path, index=False)
    return paths


def test_real_ons_geography_puts_people_in_real_lsoas(tmp_path: Path) -> None:
    lookup, imd, population = _ons_files(tmp_path)
    geography = {
        "source": "ons",
        "lookup_csv": lookup,
        "imd_csv": imd,
        "population_csv": population,
    }
    result = run_generate(make_config(persons=500, geography=geography), tmp_path / "city")
    geo = pd.read_parquet(DataLayout(result.data_dir).geography)
    assert set(geo["lsoa_code"]) == set(pd.read_csv(lookup)["LSOA11CD"])
    assert set(geo["bcu_code"]) == {"CE", "SW"}
    persons = pd.read_parquet(result.data_dir / "truth/persons.parquet")
    assert persons["lsoa_code_at_end"].isin(geo["lsoa_code"]).all()
    by_borough = geo.set_index("lsoa_code")["borough_code"]
    hackney = persons["lsoa_code_at_end"].map(by_borough) == "E09000012"
    assert (
        persons.loc[hackney, "deprivation_score"].mean()
        > persons.loc[~hackney, "deprivation_score"].mean()
    )


def test_ons_lookup_missing_a_column_is_refused(tmp_path: Path) -> None:
    lookup, _, _ = _ons_files(tmp_path)
    pd.read_csv(lookup).drop(columns=["WD19CD"]).to_csv(lookup, index=False)
    with pytest.raises(ConfigError, match=r"lookup.csv: missing column\(s\) \['WD19CD'\]"):
        run_generate(
            make_config(persons=500, geography={"source": "ons", "lookup_csv": lookup}),
            tmp_path / "c",
        )
    assert not (tmp_path / "c" / "geography.parquet").exists()


def test_failed_run_leaves_previous_city_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_generate(make_config(persons=300), tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("training.generate.run.police_records", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        run_generate(make_config(persons=300, seed=7), tmp_path)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    assert first.manifest["seed"] == json.loads((tmp_path / "manifest.json").read_text())["seed"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_chunking_keeps_every_chunk_consistent(tmp_path: Path) -> None:
    result = run_generate(make_config(persons=2500, households_per_chunk=1000), tmp_path)
    persons = pd.read_parquet(result.data_dir / "truth/persons.parquet")
    assert len(persons) == 2500 and persons["person_id"].is_unique
    police = pd.read_parquet(DataLayout(result.data_dir).extract("police"))
    assert police["record_id"].is_unique
    # children present at one incident share its reference, and no reference spans chunks' households
    record_person = pd.read_parquet(result.data_dir / "truth/record_person.parquet")
    da = police[police["incident_type"] == "domestic_abuse_incident"].merge(
        record_person, on=["source", "record_id"]
    )
    households = persons.set_index("person_id")["household_id"]
    assert (
        da.groupby("crime_reference")["person_id"].apply(lambda p: p.map(households).nunique()) == 1
    ).all()
