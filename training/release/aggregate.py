"""Area figures from per-person risks: pure functions, no I/O, nothing about a person out.

Every figure is computed for every area at every level (LSOA, ward, borough, BCU, city) from
additive sums over the area's cohort, so a parent's unrounded population, expected count and
factor counts are exactly the sums of its children's. The work is in two halves so that every
engine shares the second: per-person values become LSOA sums (:func:`lsoa_sums` over the whole
cohort in process; :func:`partial_sums` per part and :func:`combine_sums` on Spark), and
:func:`areas_from_sums` makes every figure from those sums. The methods, as recorded in the
release manifest (:data:`METHODS`):

Mean risk and expected count
    ``expected`` is the sum of the cohort's calibrated risks (the expected number of young
    people involved in the label window); ``mean_risk_raw`` is ``expected / population``;
    ``rate_per_1000`` is ``1000 * expected / population``. All three are unshrunk. What is
    *published* is made after disclosure control from the published (rounded) expected and
    population (:func:`risk_from_published` for the mean and interval; the raw mean and rate
    in :mod:`governance.disclosure`), so that no mean times a population undoes the rounding.

Interval (``normal_pooled``)
    A 95% (configurable) interval for the area's mean risk, treating its cohort as a sample
    of young people like them: standard error ``sqrt(V / n)``, where ``V`` is the pooled
    within-area variance of individual calibrated risks at that level
    (``sum over areas of sum (p_i - mean_a)^2 / (N - k)``), normal quantiles, clipped to
    [0, 1]. For shrunk levels the interval is the empirical-Bayes posterior one (below). It
    covers sampling only: the model's own calibration error is measured in the audit report.

Shrinkage (``normal_normal``)
    LSOA and ward mean risks are shrunk toward their parent's (ward, borough) raw mean risk:
    ``mean_risk = B * parent + (1 - B) * raw`` with ``B = s^2 / (s^2 + tau^2)``, ``s^2 = V / n``
    the area's sampling variance and ``tau^2`` the between-area variance around the parents,
    estimated per level by the method of moments (``mean((raw - parent)^2) - mean(s^2)``,
    at least 0). Small areas (large ``s^2``) move further toward their parent than large ones.
    The posterior variance is ``(1 - B) s^2 + B^2 s_parent^2``. The raw value is kept in
    ``mean_risk_raw``.

Prevalence and contributions
    ``count_F`` is the number of young people with factor ``F`` (any of its flags above zero),
    ``prevalence_F = count_F / population``; ``contrib_F`` is the mean over the cohort of the
    sum of the SHAP values (log-odds) of ``F``'s model inputs: how much ``F`` raises (or
    lowers) the area's risk on average. ``top_drivers`` names the factors with the largest
    positive published mean contribution.

Rank, decile and change
    Computed after disclosure control from published figures only: ``rank`` 1 is the highest
    published mean risk among published areas of the same level (ties share the lower rank),
    ``decile`` ``ceil(10 * rank / published areas)``; ``change_mean_risk`` is the published mean
    risk minus the previous release's published mean risk of the same area, null when either
    is suppressed or the area is new.

Band (no ranking within the noise)
    ``band`` compares each published area's interval of the mean risk with the median of its
    level's published mean risks, as England's public-health profiles (Fingertips) compare an
    area with a benchmark by its 95% interval: ``higher`` when the interval lies wholly above
    the median, ``lower`` when wholly below, ``similar`` when it contains it. So an area is
    placed in a higher band than another only when its interval lies wholly above a point
    that the other's does not, and a ``higher`` area's interval lies wholly above every
    ``lower`` one's; a small area whose wide interval reaches the median is ``similar``
    however high its rounded mean looks. Sorting by rank sorts by band first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from governance.contracts.errors import ExtractError
from governance.contracts.levels import LEVELS, PARENT_OF
from governance.contracts.release_schema import AREA_COLUMNS, BANDS, factor_columns
from governance.disclosure import DisclosureConfig, adaptive_decimals

__all__ = [
    "METHODS",
    "aggregate_areas",
    "area_table",
    "areas_from_sums",
    "band_by_interval",
    "change_against",
    "combine_sums",
    "factor_present",
    "lsoa_sums",
    "name_top_drivers",
    "order_columns",
    "partial_sums",
    "rank_and_decile",
    "risk_from_published",
    "sum_columns",
]

FloatArray = NDArray[np.float64]

METHODS: dict[str, str] = {
    "population": "young people in the cohort at the latest as-of date, by LSOA of residence",
    "expected": "sum of calibrated individual risks (expected number involved in the label window)",
    "rate_per_1000": "1000 * published expected / published population (unshrunk)",
    "mean_risk": (
        "mean calibrated risk; LSOA and ward shrunk toward the parent by empirical Bayes "
        "(normal-normal, between-area variance by method of moments per level), made from the "
        "published expected and population after disclosure control; raw in mean_risk_raw"
    ),
    "interval": (
        "normal interval for the mean risk with the pooled within-area variance of individual "
        "risks at the level (se^2 = V / n + base^2 / 12 / n^2 with n the published population: "
        "sampling and the rounding of expected), posterior interval where shrunk, rounded "
        "outward, clipped to [0, 1]; not model error"
    ),
    "prevalence": "young people with the factor (any of its flags > 0) / population",
    "contributions": (
        "mean over the cohort of the sum of the factor's inputs' exact TreeSHAP values (log-odds), "
        "computed once per distinct model input pattern and weighted by its multiplicity"
    ),
    "rank": "1 = highest published mean risk among published areas of the level; ties share the lower rank",
    "decile": "ceil(10 * rank / published areas of the level); 1 = highest-risk tenth",
    "change": "published mean risk minus the previous release's published mean risk, same area",
    "band": (
        "published interval of the mean risk against the median published mean risk of the "
        "level: higher (wholly above), similar (contains it), lower (wholly below)"
    ),
}

_GEO_COLUMNS = ("lsoa_code", "lsoa_name", "ward_code", "ward_name", "borough_code", "borough_name")
_GEO_MISSING = "geography: missing column(s) {missing}; expected {expected}"
_NOT_NESTED = "geography: {child} {code!r} lies in {n} {parents} ({some}); areas must nest"
_REPEATED_CODE = (
    "geography: code(s) {codes} are used at more than one level; area codes must be unique"
)
_REPEATED_LSOA = "geography: LSOA code(s) {codes} appear on more than one row"
_UNKNOWN_LSOA = (
    "features: {n} young people live in LSOA code(s) not in the geography, e.g. {some}; "
    "rebuild the features from this data directory"
)
_SHAPES = "risk has {n} rows but {name} has shape {shape}; expected ({n}, {f})"


def area_table(geography: pd.DataFrame, *, city_code: str, city_name: str) -> pd.DataFrame:
    """Every area at every level: ``level``, ``code``, ``name``, ``parent_code``.

    LSOAs lie in wards, wards in boroughs, boroughs in police BCUs and BCUs in the city.
    Ordered by level (LSOA first) then code.

    Raises
    ------
    ExtractError
        If a column is missing, an area lies in several parents, or a code is repeated
        across levels.
    """
    expected = [*_GEO_COLUMNS, "bcu_code", "bcu_name"]
    missing = [c for c in expected if c not in geography.columns]
    if missing:
        raise ExtractError(_GEO_MISSING.format(missing=missing, expected=expected))
    chain = [(level, PARENT_OF[level]) for level in LEVELS[:-2]]
    frames = []
    for level, parent in chain:
        pairs = geography[[f"{level}_code", f"{level}_name", f"{parent}_code"]].drop_duplicates()
        parents = pairs.groupby(f"{level}_code")[f"{parent}_code"].nunique()
        if (parents > 1).any():
            code = str(parents[parents > 1].index[0])
            some = sorted(pairs.loc[pairs[f"{level}_code"] == code, f"{parent}_code"])[:3]
            raise ExtractError(
                _NOT_NESTED.format(
                    child=level, code=code, n=int(parents.max()), parents=f"{parent}s", some=some
                )
            )
        frames.append(
            pd.DataFrame(
                {
                    "level": level,
                    "code": pairs[f"{level}_code"].astype(str),
                    "name": pairs[f"{level}_name"].astype(str),
                    "parent_code": pairs[f"{parent}_code"].astype(str),
                }
            ).drop_duplicates("code")
        )
    bcus = geography[["bcu_code", "bcu_name"]].drop_duplicates("bcu_code")
    frames.append(
        pd.DataFrame(
            {
                "level": "bcu",
                "code": bcus["bcu_code"].astype(str),
                "name": bcus["bcu_name"].astype(str),
                "parent_code": city_code,
            }
        )
    )
    frames.append(
        pd.DataFrame(
            {"level": ["city"], "code": [city_code], "name": [city_name], "parent_code": [None]}
        )
    )
    areas = pd.concat(frames, ignore_index=True)
    areas["parent_code"] = areas["parent_code"].astype(object)
    areas.loc[areas["level"] == "city", "parent_code"] = None
    repeated = areas["code"][areas["code"].duplicated()]
    if len(repeated):
        raise ExtractError(_REPEATED_CODE.format(codes=sorted(set(repeated))[:5]))
    order = {level: i for i, level in enumerate(LEVELS)}
    areas = areas.sort_values(
        ["level", "code"], key=lambda s: s.map(order) if s.name == "level" else s
    )
    return areas.reset_index(drop=True)


def sum_columns(factors: Sequence[str]) -> list[str]:
    """The additive per-area sums every figure is made from, in order.

    ``population``; ``sum_risk`` and ``sum_risk_sq`` (of calibrated risks and their squares);
    per factor ``count_F`` (young people with it) and ``sum_contrib_F`` (its SHAP
    contributions). Sums of parts add up to the sum of the whole, so any engine may compute
    them over any split of the cohort (:func:`partial_sums`, :func:`combine_sums`).
    """
    columns = ["population", "sum_risk", "sum_risk_sq"]
    for factor in factors:
        columns += [f"count_{factor}", f"sum_contrib_{factor}"]
    return columns


def factor_present(
    cohort: pd.DataFrame, present_when: Mapping[str, Sequence[str]]
) -> NDArray[np.bool_]:
    """Whether each young person has each factor: any of its flag columns above zero.

    Returns an array (rows x factors) in the order of ``present_when``; a missing flag
    value counts as zero.
    """
    return np.column_stack(
        [
            (cohort[list(flags)].fillna(0).to_numpy(np.float64) > 0).any(axis=1)
            for flags in present_when.values()
        ]
    )


def lsoa_sums(
    geography: pd.DataFrame,
    lsoa_codes: Sequence[str] | NDArray[np.object_] | pd.Series,
    risk: FloatArray,
    present: NDArray[np.bool_],
    contributions: FloatArray,
    factors: Sequence[str],
) -> pd.DataFrame:
    """:func:`sum_columns` of every LSOA of ``geography`` (its order) from per-person values.

    Raises
    ------
    ValueError
        If ``present`` or ``contributions`` is not (rows x factors).
    ExtractError
        If an LSOA is repeated in the geography or a young person lives outside it.
    """
    n_rows, n_factors = len(risk), len(factors)
    for name, array in (("present", present), ("contributions", contributions)):
        if array.shape != (n_rows, n_factors):
            raise ValueError(_SHAPES.format(n=n_rows, name=name, shape=array.shape, f=n_factors))
    lsoas = _lsoa_index(geography)
    index = lsoas.get_indexer(pd.Index(np.asarray(lsoa_codes, dtype=object)))
    if (index < 0).any():
        unknown = pd.unique(np.asarray(lsoa_codes, dtype=object)[index < 0])
        raise ExtractError(_UNKNOWN_LSOA.format(n=int((index < 0).sum()), some=list(unknown[:5])))
    return _bincount_sums(index, lsoas, risk, present, contributions, factors)


def partial_sums(
    lsoa_codes: Sequence[str] | NDArray[np.object_] | pd.Series,
    risk: FloatArray,
    present: NDArray[np.bool_],
    contributions: FloatArray,
    factors: Sequence[str],
) -> pd.DataFrame:
    """:func:`sum_columns` of each LSOA that has young people among these rows: a part's sums.

    For an engine that scores the cohort in parts (Spark's partitions): no geography is
    needed here; :func:`combine_sums` adds the parts and checks the codes. Returns
    ``lsoa_code`` then the sums, one row per LSOA seen, in order of first appearance.
    """
    codes, uniques = pd.factorize(np.asarray(lsoa_codes, dtype=object))
    sums = _bincount_sums(
        codes.astype(np.int64), pd.Index(uniques), risk, present, contributions, factors
    )
    return sums.rename_axis("lsoa_code").reset_index()


def combine_sums(
    geography: pd.DataFrame, partials: pd.DataFrame, factors: Sequence[str]
) -> pd.DataFrame:
    """Add parts' :func:`partial_sums` by LSOA: what :func:`lsoa_sums` gives for the whole.

    Equal up to the order of floating-point additions (population and counts exactly).

    Raises
    ------
    ExtractError
        If an LSOA is repeated in the geography or a part holds young people outside it.
    """
    lsoas = _lsoa_index(geography)
    columns = sum_columns(factors)
    added = (
        partials.astype({"lsoa_code": str})
        .groupby("lsoa_code", sort=False)[columns]
        .sum()
        .astype(np.float64)
    )
    unknown = added.index[~added.index.isin(lsoas) & (added["population"] > 0)]
    if len(unknown):
        n = int(added.loc[unknown, "population"].sum())
        raise ExtractError(_UNKNOWN_LSOA.format(n=n, some=list(unknown[:5])))
    return added.reindex(lsoas, fill_value=0.0)


def aggregate_areas(
    areas: pd.DataFrame,
    geography: pd.DataFrame,
    lsoa_codes: Sequence[str] | NDArray[np.object_] | pd.Series,
    risk: FloatArray,
    present: NDArray[np.bool_],
    contributions: FloatArray,
    factors: Sequence[str],
    *,
    shrink_levels: Sequence[str] = ("lsoa", "ward"),
    interval_level: float = 0.95,
) -> pd.DataFrame:
    """The unpublished figures of every area from per-person values (see the module notes).

    :func:`lsoa_sums` then :func:`areas_from_sums`.

    Parameters
    ----------
    areas
        :func:`area_table` of ``geography``.
    geography
        One row per LSOA with ``lsoa_code`` and its parents' codes.
    lsoa_codes, risk, present, contributions
        Per young person: LSOA of residence, calibrated risk, whether each factor is present
        (rows x factors) and each factor's SHAP contribution (rows x factors).
    factors
        Factor names, in the column order of ``present`` and ``contributions``.
    """
    by_lsoa = lsoa_sums(geography, lsoa_codes, risk, present, contributions, factors)
    return areas_from_sums(
        areas,
        geography,
        by_lsoa,
        factors,
        shrink_levels=shrink_levels,
        interval_level=interval_level,
    )


def areas_from_sums(
    areas: pd.DataFrame,
    geography: pd.DataFrame,
    by_lsoa: pd.DataFrame,
    factors: Sequence[str],
    *,
    shrink_levels: Sequence[str] = ("lsoa", "ward"),
    interval_level: float = 0.95,
) -> pd.DataFrame:
    """The unpublished figures of every area, before disclosure control, from LSOA sums.

    Parameters
    ----------
    areas
        :func:`area_table` of ``geography``.
    geography
        One row per LSOA with ``lsoa_code`` and its parents' codes.
    by_lsoa
        :func:`sum_columns` indexed by LSOA code, every LSOA of ``geography`` once
        (:func:`lsoa_sums` or :func:`combine_sums`).
    factors
        Factor names, as in :func:`sum_columns`.

    Returns
    -------
    pandas.DataFrame
        One row per area in ``areas`` order: identity, ``population``, ``expected``,
        ``rate_per_1000``, ``mean_risk``, ``mean_risk_raw``, ``risk_low``, ``risk_high``,
        ``shrinkage_weight`` (0 where not shrunk), ``within_variance`` (the level's pooled
        within-area variance of individual risks, for :func:`risk_from_published`) and per
        factor ``count_F``,
        ``prevalence_F``, ``contrib_F``. Areas without young people have population 0 and
        null figures.
    """
    table = _sums_at_every_level(areas, geography, by_lsoa, sum_columns(factors))
    n = table["population"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(n > 0, table["sum_risk"].to_numpy() / n, np.nan)
        pooled = _pooled_variance(table)
        se2 = np.where(n > 0, table["level"].map(pooled).to_numpy(np.float64) / n, np.nan)
    table["population"] = n.astype(np.int64)
    table["expected"] = table["sum_risk"]
    table["rate_per_1000"] = 1000.0 * raw
    table["mean_risk_raw"] = raw
    mean, variance, weight = _shrink(table, raw, se2, tuple(shrink_levels))
    z = NormalDist().inv_cdf(0.5 + interval_level / 2.0)
    half = z * np.sqrt(variance)
    table["mean_risk"] = mean
    table["risk_low"] = np.clip(mean - half, 0.0, 1.0)
    table["risk_high"] = np.clip(mean + half, 0.0, 1.0)
    table["shrinkage_weight"] = weight
    table["within_variance"] = table["level"].map(pooled).to_numpy(np.float64)
    for factor in factors:
        count = table[f"count_{factor}"].to_numpy()
        table[f"count_{factor}"] = np.rint(count).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"prevalence_{factor}"] = np.where(n > 0, count / n, np.nan)
            table[f"contrib_{factor}"] = np.where(n > 0, table[f"sum_contrib_{factor}"] / n, np.nan)
    columns = [*_FIGURE_COLUMNS]
    for factor in factors:
        columns += [f"count_{factor}", f"prevalence_{factor}", f"contrib_{factor}"]
    return table[columns].reset_index(drop=True)


#: The columns of :func:`areas_from_sums` before the per-factor ones.
_FIGURE_COLUMNS = (
    "level",
    "code",
    "name",
    "parent_code",
    "population",
    "expected",
    "rate_per_1000",
    "mean_risk",
    "mean_risk_raw",
    "risk_low",
    "risk_high",
    "shrinkage_weight",
    "within_variance",
)


def _sums_at_every_level(
    areas: pd.DataFrame, geography: pd.DataFrame, by_lsoa: pd.DataFrame, sums: list[str]
) -> pd.DataFrame:
    """``areas`` with each area's sums (0 where it has no young people) and ``_ss``.

    LSOA sums add up to every parent level; the within-area sum of squares does not, so it
    is taken per area, at each level.
    """
    by_lsoa = by_lsoa[sums].copy()
    by_lsoa["_ss"] = _within_ss(by_lsoa)
    codes = geography.set_index(geography["lsoa_code"].astype(str))
    per_level: list[pd.DataFrame] = []
    additive = by_lsoa.drop(columns="_ss")
    for level in LEVELS:
        if level == "lsoa":
            frame = by_lsoa
        else:
            if level == "city":
                frame = additive.sum().to_frame().T
                frame.index = pd.Index(areas.loc[areas["level"] == "city", "code"].tolist())
            else:
                keys = codes.loc[additive.index, f"{level}_code"].astype(str).to_numpy()
                frame = additive.groupby(keys).sum()
            frame = frame.assign(_ss=_within_ss(frame))
        per_level.append(frame.assign(level=level))
    stacked = pd.concat(per_level).rename_axis("code").reset_index()
    table = areas.merge(stacked, on=["level", "code"], how="left", validate="one_to_one")
    return table.fillna({c: 0.0 for c in sums} | {"_ss": 0.0})


def _lsoa_index(geography: pd.DataFrame) -> pd.Index:
    """The geography's LSOA codes, each once."""
    lsoas = pd.Index(geography["lsoa_code"].astype(str))
    if lsoas.has_duplicates:
        raise ExtractError(_REPEATED_LSOA.format(codes=sorted(set(lsoas[lsoas.duplicated()]))[:5]))
    return lsoas


def _bincount_sums(
    index: NDArray[np.int64],
    lsoas: pd.Index,
    risk: FloatArray,
    present: NDArray[np.bool_],
    contributions: FloatArray,
    factors: Sequence[str],
) -> pd.DataFrame:
    """:func:`sum_columns` per LSOA, ``index`` giving each row's position in ``lsoas``."""
    size = len(lsoas)
    sums = {
        "population": np.bincount(index, minlength=size).astype(np.float64),
        "sum_risk": np.bincount(index, weights=risk, minlength=size),
        "sum_risk_sq": np.bincount(index, weights=risk * risk, minlength=size),
    }
    for j, factor in enumerate(factors):
        sums[f"count_{factor}"] = np.bincount(
            index, weights=present[:, j].astype(np.float64), minlength=size
        )
        sums[f"sum_contrib_{factor}"] = np.bincount(
            index, weights=contributions[:, j], minlength=size
        )
    return pd.DataFrame(sums, index=lsoas)


def _within_ss(frame: pd.DataFrame) -> FloatArray:
    """Sum over each area's cohort of (risk - area mean)^2, from the additive sums."""
    n = frame["population"].to_numpy(np.float64)
    s1, s2 = frame["sum_risk"].to_numpy(), frame["sum_risk_sq"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = np.where(n > 0, s2 - s1 * s1 / n, 0.0)
    return np.clip(ss, 0.0, None)


def _pooled_variance(table: pd.DataFrame) -> dict[str, float]:
    """Per level: pooled within-area variance of individual risks, sum SS / (N - k)."""
    out: dict[str, float] = {}
    for level, rows in table.groupby("level", sort=False):
        occupied = rows["population"] > 0
        dof = float(rows.loc[occupied, "population"].sum() - occupied.sum())
        if dof <= 0:  # one young person per area: fall back to the variance across everyone
            total = rows.loc[occupied]
            count = float(total["population"].sum())
            s1, s2 = float(total["sum_risk"].sum()), float(total["sum_risk_sq"].sum())
            out[str(level)] = max(s2 / count - (s1 / count) ** 2, 0.0) if count > 1 else 0.0
        else:
            out[str(level)] = float(rows.loc[occupied, "_ss"].sum()) / dof
    return out


def _shrink(
    table: pd.DataFrame, raw: FloatArray, se2: FloatArray, levels: tuple[str, ...]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Shrunk mean, its variance and the shrinkage weight B of every area."""
    mean, variance = raw.copy(), se2.copy()
    weight = np.zeros(len(table), dtype=np.float64)
    by_code = pd.Series(np.arange(len(table)), index=table["code"].to_numpy())
    for level in levels:
        rows = np.flatnonzero((table["level"] == level).to_numpy() & ~np.isnan(raw))
        if len(rows) == 0:
            continue
        parents = by_code.loc[table["parent_code"].to_numpy()[rows]].to_numpy()
        prior, prior_var = raw[parents], se2[parents]
        tau2 = max(float(np.mean((raw[rows] - prior) ** 2) - np.mean(se2[rows])), 0.0)
        s2 = se2[rows]
        total = s2 + tau2
        b = np.divide(s2, total, out=np.zeros_like(s2), where=total > 0)
        mean[rows] = b * prior + (1.0 - b) * raw[rows]
        variance[rows] = (1.0 - b) * s2 + b * b * prior_var
        weight[rows] = b
    return mean, variance, weight


# -- after disclosure control: figures derived from published values only ----------------


def risk_from_published(
    table: pd.DataFrame,
    variance: Mapping[str, float],
    rules: DisclosureConfig,
    *,
    shrink_levels: Sequence[str] = ("lsoa", "ward"),
    interval_level: float = 0.95,
    noise_variance: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> pd.DataFrame:
    """``mean_risk``, ``risk_low`` and ``risk_high`` made from published figures only.

    ``noise_variance`` (method ``dp``): the variances of each row's noise in ``expected``
    and in ``population`` (data-independent), which replace the rounding's variance: the
    mean's sampling variance gains ``(var_e + raw^2 var_n) / n^2`` (delta method).

    Post-processing of the disclosure-controlled table: the raw mean of a published area is
    its published ``expected`` over its published ``population``, shrunk (``shrink_levels``)
    toward the raw mean of its nearest published ancestor, with the between-area variance
    estimated from the published raw means of the level. The sampling variance is the one of
    the module notes with ``n`` the published population, plus the rounding's
    (``rounding_base**2 / 12 / n**2``: expected is known to within half a base), so small
    areas, whose rounded figure says least, move furthest toward their parent. The interval
    is the normal one on that variance, rounded outward to the area's decimals so that it
    always contains the published mean, strictly unless it touches 0 or 1. ``variance`` is each level's pooled within-area variance of individual
    risks (``within_variance`` of :func:`areas_from_sums`): a figure over the whole level,
    not a cell's. Suppressed areas get nulls.
    """
    out = table.copy()
    n = pd.to_numeric(out["population"]).to_numpy(np.float64, na_value=np.nan)
    e = pd.to_numeric(out["expected"]).to_numpy(np.float64, na_value=np.nan)
    shown = ~out["suppressed"].astype(bool).to_numpy() & (n > 0)
    n = np.where(shown, n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = e / n
        # sampling variance plus the rounding's: expected is known to +/- base / 2, whose
        # variance as an even spread is base^2 / 12
        s2 = out["level"].map(dict(variance)).to_numpy(np.float64) / n
        if noise_variance is None:
            s2 = s2 + rules.rounding_base**2 / 12.0 / (n * n)
        else:
            var_e, var_n = noise_variance
            s2 = s2 + (var_e + raw * raw * var_n) / (n * n)
    prior = _nearest_published_ancestor(out, shown)
    mean, var = raw.copy(), s2.copy()
    for level in shrink_levels:
        rows = np.flatnonzero(shown & (out["level"] == level).to_numpy() & (prior >= 0))
        if len(rows) == 0:
            continue
        p = prior[rows]
        tau2 = max(float(np.mean((raw[rows] - raw[p]) ** 2) - np.mean(s2[rows])), 0.0)
        total = s2[rows] + tau2
        b = np.divide(s2[rows], total, out=np.zeros_like(total), where=total > 0)
        mean[rows] = b * raw[p] + (1.0 - b) * raw[rows]
        var[rows] = (1.0 - b) * s2[rows] + b * b * s2[p]
    half = NormalDist().inv_cdf(0.5 + interval_level / 2.0) * np.sqrt(var)
    decimals = np.minimum(adaptive_decimals(np.nan_to_num(n).astype(np.int64), rules), 12)
    decimals = np.minimum(decimals, rules.risk_decimals)
    step = 10.0 ** -decimals.astype(np.float64)
    published = np.round(mean / step) * step
    low = np.minimum(np.floor((mean - half) / step + 1e-9) * step, published - step)
    high = np.maximum(np.ceil((mean + half) / step - 1e-9) * step, published + step)
    for column, values in (("mean_risk", published), ("risk_low", low), ("risk_high", high)):
        clipped = np.clip(values, 0.0, 1.0)
        rounded = np.array(
            [round(float(v), int(d)) for v, d in zip(clipped, decimals, strict=True)]
        )
        out[column] = np.where(shown, rounded + 0.0, np.nan)
    return out


def _nearest_published_ancestor(table: pd.DataFrame, shown: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Row of each area's nearest published ancestor (-1 if none): its shrinkage prior."""
    row_of = pd.Series(np.arange(len(table)), index=table["code"].to_numpy())
    parents = table["parent_code"]
    parent_row = np.full(len(table), -1, dtype=np.int64)
    has = parents.notna().to_numpy()
    parent_row[has] = row_of.loc[parents[has].to_numpy()].to_numpy()
    found = np.full(len(table), -1, dtype=np.int64)
    current = parent_row.copy()
    for _ in LEVELS:  # at most one step per level
        live = (current >= 0) & (found < 0)
        hit = live.copy()
        hit[live] = shown[current[live]]
        found[hit] = current[hit]
        current = np.where(live & ~hit, parent_row[np.maximum(current, 0)], -1)
    return found


def rank_and_decile(table: pd.DataFrame) -> pd.DataFrame:
    """``rank`` and ``decile`` within each level among published areas (1 = highest risk).

    The city is the one area of its level: it is not ranked among anything, so its rank and
    decile are null (not "rank 1, decile 10").
    """
    out = table.copy()
    published = (
        ~out["suppressed"].astype(bool) & out["mean_risk"].notna() & (out["level"] != "city")
    )
    rank = pd.Series(pd.NA, index=out.index, dtype="Int64")
    decile = pd.Series(pd.NA, index=out.index, dtype="Int64")
    for _, rows in out[published].groupby("level", sort=False):
        r = rows["mean_risk"].rank(ascending=False, method="min")
        rank.loc[rows.index] = r.astype("int64")
        decile.loc[rows.index] = np.clip(np.ceil(10.0 * r / len(rows)), 1, 10).astype("int64")
    out["rank"] = rank
    out["decile"] = decile
    return out


def band_by_interval(table: pd.DataFrame) -> pd.DataFrame:
    """``band`` within each level among published areas: the interval against the median.

    ``higher`` where ``risk_low`` is above the median published ``mean_risk`` of the level,
    ``lower`` where ``risk_high`` is below it, ``similar`` otherwise; null where suppressed.
    Made from published figures only, so that areas whose intervals reach the same middle
    ground are not ordered one above the other on figures the data cannot tell apart.
    """
    out = table.copy()
    published = ~out["suppressed"].astype(bool) & out["mean_risk"].notna()
    band = pd.Series(None, index=out.index, dtype=object)
    higher, similar, lower = BANDS
    for _, rows in out[published].groupby("level", sort=False):
        mean = rows["mean_risk"].to_numpy(np.float64)
        median = float(np.round(np.median(mean), 12))
        low = rows["risk_low"].to_numpy(np.float64)
        high = rows["risk_high"].to_numpy(np.float64)
        band.loc[rows.index] = np.where(
            low > median, higher, np.where(high < median, lower, similar)
        )
    out["band"] = band
    return out


def name_top_drivers(table: pd.DataFrame, factors: Sequence[str], k: int) -> pd.DataFrame:
    """``top_drivers``: up to ``k`` factors with the largest positive published contribution."""
    out = table.copy()
    contrib = out[[f"contrib_{f}" for f in factors]].to_numpy(np.float64, na_value=np.nan)
    names: list[str | None] = []
    for row, suppressed in zip(contrib, out["suppressed"].astype(bool), strict=True):
        ranked = sorted(
            ((-v, f) for v, f in zip(row, factors, strict=True) if not math.isnan(v) and v > 0)
        )
        names.append(None if suppressed or not ranked else ",".join(f for _, f in ranked[:k]))
    out["top_drivers"] = pd.Series(names, index=out.index, dtype=object)
    return out


def change_against(table: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """``change_mean_risk``: published mean risk minus the previous release's, same area."""
    out = table.copy()
    if previous is None or previous.empty:
        out["change_mean_risk"] = np.nan
        return out
    before = previous[["level", "code", "mean_risk"]].rename(columns={"mean_risk": "_before"})
    merged = out[["level", "code"]].merge(before, on=["level", "code"], how="left")
    now = pd.to_numeric(out["mean_risk"], errors="coerce").to_numpy(np.float64)
    then = pd.to_numeric(merged["_before"], errors="coerce").to_numpy(np.float64)
    change = np.round(now - then, 12)
    change[out["suppressed"].astype(bool).to_numpy()] = np.nan
    out["change_mean_risk"] = change
    return out


def order_columns(table: pd.DataFrame, factors: Sequence[str]) -> pd.DataFrame:
    """The release contract's columns, in order: :data:`AREA_COLUMNS`, then each factor's."""
    columns = [*AREA_COLUMNS]
    for factor in factors:
        columns += factor_columns(factor)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"the release table lacks column(s) {missing}")
    return table[columns].reset_index(drop=True)
