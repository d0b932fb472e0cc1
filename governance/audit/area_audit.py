"""The area-level audit: the decision the product makes, judged first.

A release publishes each area's expected count (the sum of its young people's calibrated
risks) and never flags a person, so the first question for the board is whether those counts
are right, and right alike for every kind of area:

- **Observed over expected** (O/E) overall, by area type and by group, with the exact
  (Garwood) Poisson interval of :func:`governance.audit.calibration.observed_expected`.
  Area types: deprivation (the quintile of the area's mean deprivation decile), policing
  intensity (thirds of the areas) and ethnic composition (thirds of the areas by their share
  of each chosen group). Against the *recorded* outcomes always; against the *true* outcomes
  when evaluation code supplies them (generated data only: a model trained on records
  expects fewer than truly happen, and more so where less is recorded).
- **Allocation fairness**: among areas with the same outcomes, do areas with more young
  people of one group, heavier policing or more deprivation get higher expected counts? For
  each attribute, the Poisson regression of the areas' outcome counts ``O_a`` on the
  attribute ``z_a`` (standardised over areas) with ``log E_a`` (the expected count) as
  offset: ``log E[O_a] = log E_a + alpha + beta z_a``. ``exp(-beta)`` is how many times more
  is predicted, relative to outcomes, for an area one standard deviation higher in the
  attribute: 1 is even-handed; the intercept absorbs any overall miscalibration, so only
  the *allocation* between areas is judged. Deprivation and policing are held equal too
  (covariates of the same fit) when the attribute is another one: a group's share is judged
  among areas of equal outcomes, deprivation and policing, since the three go together in a
  city and a model that misjudges deprivation would otherwise seem to misjudge the group.
  The outcome is the response and the expected
  count the offset (not the other way round): regressing predicted rates on noisy observed
  rates would attenuate the rate's coefficient and load the rest on any attribute
  correlated with need, finding bias in a fair model.

  The interval and p-value come from a bootstrap over areas (areas resampled with
  replacement, ``bootstrap`` replicates, the model refitted on each): it needs no Poisson
  assumption for the spread between areas (over-dispersion, areas of different sizes, an
  attribute correlated with the expected count), only that areas are the units, so a figure
  is judged with at least ``min_areas`` areas and ``min_outcomes`` outcomes. Percentile
  interval of ``exp(-beta)``; the p-value is the bootstrap test of ``beta = 0``, twice the
  smaller tail share (so it is below ``1 - confidence`` exactly when the interval excludes
  1). The fit is Newton's method on the two-parameter Poisson likelihood, run on every
  replicate at once (hand-written for speed; a test checks it against scikit-learn's
  ``PoissonRegressor``).

Aggregates only: areas are never named, only counted into their types; a type or group with
fewer than ``withhold_below`` young people keeps its counts only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from governance.audit.calibration import observed_expected
from governance.audit.gates import AREA_FIGURES
from governance.contracts.audit_document import (
    AreaAllocation,
    AreaComparison,
    AreaLevelAudit,
    AreaObservedExpected,
    AreaReport,
)
from governance.contracts.errors import AuditInputError
from governance.contracts.settings import AreaAuditSettings

__all__ = [
    "METHOD",
    "AllocationFit",
    "AreaRows",
    "AreaTruth",
    "allocation_ratio",
    "area_audit",
    "area_figures",
    "poisson_offset_fit",
]

METHOD = (
    "Observed over expected outcomes (expected: the sum of calibrated risks, what a release "
    "publishes) with the exact Poisson interval of the observed count, for every area, each "
    "area type and each group. Allocation: the Poisson regression of each area's outcome "
    "count on the attribute (standardised over areas), with deprivation and policing as "
    "covariates for the other attributes and the log expected count as offset; "
    "exp(-coefficient) is predicted over observed for areas one standard deviation higher, at "
    "equal outcomes; percentile interval and p-value from a bootstrap over areas"
)
NOTE = (
    "A planner reads an area's expected count as how many young people there will be "
    "involved in serious violence. Observed over expected is 1 when the counts are right, "
    "below 1 when the model expects too many, above 1 too few. The allocation ratio asks "
    "whether the model gives some kinds of areas more than their outcomes warrant: 1.2 for "
    "'share Black' means areas one standard deviation higher in their share of Black young "
    "people are given 20% more expected, relative to what happens there, than other areas. "
    "Against recorded outcomes recording bias cannot show: a model can match the records "
    "everywhere and still give heavily recorded areas more than truly happens there; the "
    "true outcomes (generated data only) show where recording bias moves the counts."
)
_DEPRIVATION = {
    1: "Q1 most deprived",
    2: "Q2",
    3: "Q3",
    4: "Q4",
    5: "Q5 least deprived",
}
_THIRDS = ("lowest third", "middle third", "highest third")
_DESCRIPTIONS = {
    "deprivation": "areas more deprived (lower mean deprivation decile)",
    "policing": "areas more heavily policed ({source})",
}
_NEWTON_STEPS = 60
_MAX_STEP = 5.0


@dataclass(frozen=True)
class AreaRows:
    """The audited rows, aligned by position: everything the area audit reads of them.

    ``levels`` maps an area column (``lsoa_code``, ``ward_code``) to each row's area;
    ``deprivation`` is each row's area deprivation decile (1 most deprived), ``policing``
    each row's area policing measure (None: not known), ``composition`` each row's group
    (ethnicity), ``groups`` the group columns O/E is reported by.
    """

    levels: Mapping[str, ArrayLike]
    y: ArrayLike
    scores: ArrayLike
    deprivation: ArrayLike | None
    policing: ArrayLike | None
    composition: ArrayLike | None
    groups: pd.DataFrame


@dataclass(frozen=True)
class AreaTruth:
    """True outcomes, aggregated by evaluation code (generated data only).

    ``levels[column][area]`` and ``groups[dimension][group]`` are ``(count, true, expected)``:
    the young people matched to a true person, how many truly had the outcome, and the sum of
    their risks.
    """

    levels: Mapping[str, Mapping[str, tuple[int, int, float]]]
    groups: Mapping[str, Mapping[str, tuple[int, int, float]]]

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> AreaTruth:
        """Read what ``training.evaluation.area_truth`` returns (available ones only)."""
        try:
            levels = data["levels"]
            groups = data["groups"]
            assert isinstance(levels, Mapping) and isinstance(groups, Mapping)
            return cls(
                levels={str(k): _cells(v) for k, v in levels.items()},
                groups={str(k): _cells(v) for k, v in groups.items()},
            )
        except (KeyError, TypeError, ValueError, AssertionError) as err:
            raise AuditInputError(
                "area truth: expected {'levels': {column: {area: {count, true, expected}}}, "
                f"'groups': {{dimension: {{group: ...}}}}}}; got keys {sorted(data)}"
            ) from err


def _cells(value: object) -> dict[str, tuple[int, int, float]]:
    assert isinstance(value, Mapping)
    return {
        str(k): (int(v["count"]), int(v["true"]), float(v["expected"])) for k, v in value.items()
    }


@dataclass(frozen=True)
class AllocationFit:
    """One attribute's allocation ratio, its bootstrap interval and p-value."""

    ratio: float | None
    low: float | None
    high: float | None
    p_value: float | None
    sd: float | None


# -- the entry point ---------------------------------------------------------------------------


def area_audit(
    rows: AreaRows,
    settings: AreaAuditSettings,
    *,
    truth: AreaTruth | None,
    policing_source: str,
    gated_level: str,
    confidence: float,
    min_outcomes: int,
    withhold_below: int,
    seed: int,
) -> AreaReport:
    """The area-level audit of every level in ``rows.levels`` (see the module docstring).

    Raises
    ------
    AuditInputError
        If the arrays differ in length, ``gated_level`` is not among the levels, a label is
        not 0/1 or a score not a probability.
    """
    y = np.asarray(rows.y, dtype=np.float64)
    scores = np.asarray(rows.scores, dtype=np.float64)
    _check(rows, y, scores, gated_level)
    levels = {}
    for offset, (column, ids) in enumerate(rows.levels.items()):
        areas = _area_table(np.asarray(ids, dtype=object), y, scores, rows, settings)
        level_truth = truth.levels.get(column) if truth is not None else None
        args = (settings, confidence, min_outcomes, withhold_below, seed + offset)
        recorded = _comparison(
            "recorded", areas, _group_cells(rows, y, scores), *args, policing_source
        )
        true = None
        if level_truth is not None and truth is not None:
            true_areas = _with_truth(areas, level_truth)
            true = _comparison("true", true_areas, truth.groups, *args, policing_source)
        levels[column] = AreaLevelAudit(
            area_column=column,
            areas=len(areas),
            small_areas=int((areas["count"] < withhold_below).sum()),
            recorded=recorded,
            true=true,
        )
    return AreaReport(
        available=True,
        method=METHOD,
        note=NOTE,
        policing_source=policing_source,
        confidence=confidence,
        min_outcomes=min_outcomes,
        min_areas=settings.min_areas,
        bootstrap=settings.bootstrap,
        gated_level=gated_level,
        levels=levels,
    )


def _check(rows: AreaRows, y: NDArray[np.float64], scores: NDArray[np.float64], gated: str) -> None:
    n = len(y)
    arrays: dict[str, object] = {
        "scores": scores,
        "deprivation": rows.deprivation,
        "policing": rows.policing,
        "composition": rows.composition,
        "groups": rows.groups,
        **{f"levels[{k!r}]": v for k, v in rows.levels.items()},
    }
    for name, value in arrays.items():
        if value is not None and len(value) != n:  # type: ignore[arg-type]
            raise AuditInputError(f"area audit: {name} has {len(value)} rows, labels {n}")  # type: ignore[arg-type]
    if gated not in rows.levels:
        raise AuditInputError(
            f"area audit: gated_level {gated!r} is not among the levels {list(rows.levels)}"
        )
    if n and not np.isin(y, (0.0, 1.0)).all():
        raise AuditInputError("area audit: y must hold 0 or 1 only")
    if n and not ((scores >= 0) & (scores <= 1)).all():
        raise AuditInputError("area audit: scores must be probabilities from 0 to 1")


# -- per-area aggregates ----------------------------------------------------------------------


def _area_table(
    ids: NDArray[np.object_],
    y: NDArray[np.float64],
    scores: NDArray[np.float64],
    rows: AreaRows,
    settings: AreaAuditSettings,
) -> pd.DataFrame:
    """One row per area: young people, recorded outcomes, expected, and its attributes."""
    frame = pd.DataFrame({"area": pd.Series(ids).astype(str), "y": y, "score": scores})
    if rows.deprivation is not None:
        frame["deprivation"] = 11.0 - pd.to_numeric(pd.Series(rows.deprivation), errors="coerce")
    if rows.policing is not None:
        frame["policing"] = pd.to_numeric(pd.Series(rows.policing), errors="coerce").to_numpy()
    if rows.composition is not None:
        composition = pd.Series(rows.composition).astype(object).astype(str).to_numpy()
        for group in settings.composition_groups:
            frame[f"share {group}"] = (composition == group).astype(np.float64)
    grouped = frame.groupby("area", sort=True)
    table = pd.DataFrame(
        {
            "count": grouped.size(),
            "observed": grouped["y"].sum(),
            "expected": grouped["score"].sum(),
        }
    )
    attributes = [c for c in frame.columns if c not in ("area", "y", "score")]
    return table.join(grouped[attributes].mean())


def _with_truth(areas: pd.DataFrame, cells: Mapping[str, tuple[int, int, float]]) -> pd.DataFrame:
    """The areas' attributes with the truth's matched counts, true outcomes and expected."""
    truth = pd.DataFrame.from_dict(
        {k: list(v) for k, v in cells.items()},
        orient="index",
        columns=["count", "observed", "expected"],
    )
    attributes = areas.drop(columns=["count", "observed", "expected"])
    return truth.join(attributes, how="inner")


def _group_cells(
    rows: AreaRows, y: NDArray[np.float64], scores: NDArray[np.float64]
) -> dict[str, dict[str, tuple[int, int, float]]]:
    """``(count, observed, expected)`` of each group of each group column."""
    out: dict[str, dict[str, tuple[int, int, float]]] = {}
    for column in rows.groups.columns:
        values = rows.groups[column].astype(object)
        labels = values.where(values.notna(), "not recorded").map(str).to_numpy()
        frame = pd.DataFrame({"g": labels, "y": y, "s": scores}).groupby("g", sort=True)
        sums = frame.agg(count=("y", "size"), observed=("y", "sum"), expected=("s", "sum"))
        out[str(column)] = {
            str(g): (int(r["count"]), int(r["observed"]), float(r["expected"]))
            for g, r in sums.iterrows()
        }
    return out


# -- one comparison: O/E by type and group, allocation ----------------------------------------


def _comparison(
    outcome: str,
    areas: pd.DataFrame,
    groups: Mapping[str, Mapping[str, tuple[int, int, float]]],
    settings: AreaAuditSettings,
    confidence: float,
    min_outcomes: int,
    withhold_below: int,
    seed: int,
    policing_source: str,
) -> AreaComparison:
    def entry(
        part: pd.DataFrame | tuple[int, int, float], n_areas: int | None
    ) -> AreaObservedExpected:
        if isinstance(part, pd.DataFrame):
            count, observed, expected = (
                int(part["count"].sum()),
                int(part["observed"].sum()),
                float(part["expected"].sum()),
            )
        else:
            count, observed, expected = part
        return oe_entry(
            count, observed, expected, n_areas, confidence, min_outcomes, withhold_below
        )

    by_type = {
        name: {label: entry(part, len(part)) for label, part in parts}
        for name, parts in _area_types(areas).items()
    }
    by_group = {
        dimension: {group: entry(cells, None) for group, cells in found.items()}
        for dimension, found in groups.items()
    }
    allocation = {}
    for offset, attribute in enumerate(_attributes(areas)):
        controls = _controls(areas, attribute)
        fit = allocation_ratio(
            areas["observed"].to_numpy(dtype=np.float64),
            areas["expected"].to_numpy(dtype=np.float64),
            areas[attribute].to_numpy(dtype=np.float64),
            bootstrap=settings.bootstrap,
            confidence=confidence,
            seed=seed * 1000 + offset,
            controls=areas[controls].to_numpy(dtype=np.float64) if controls else None,
        )
        usable = _usable(areas, [attribute, *controls])
        observed = int(areas.loc[usable, "observed"].sum())
        allocation[attribute] = AreaAllocation(
            attribute=attribute,
            description=_description(attribute).format(source=policing_source)
            + (f", among areas of equal {' and '.join(controls)}" if controls else ""),
            areas=int(usable.sum()),
            observed=observed,
            attribute_sd=fit.sd,
            ratio=fit.ratio,
            low=fit.low,
            high=fit.high,
            p_value=fit.p_value,
            judged=bool(
                fit.low is not None
                and int(usable.sum()) >= settings.min_areas
                and observed >= min_outcomes
            ),
        )
    return AreaComparison(
        outcome=outcome,  # type: ignore[arg-type]
        overall=entry(areas, len(areas)),
        by_type=by_type,
        by_group=by_group,
        allocation=allocation,
    )


def oe_entry(
    count: int,
    observed: int,
    expected: float,
    areas: int | None,
    confidence: float,
    min_outcomes: int,
    withhold_below: int,
) -> AreaObservedExpected:
    """O/E of a set of areas or a group from its counts; counts only when too few people."""
    if count < max(withhold_below, 1):
        return AreaObservedExpected(
            areas=areas,
            count=count,
            observed=None,
            expected=None,
            ratio=None,
            low=None,
            high=None,
            judged=False,
            withheld=True,
        )
    # observed_expected sums its arguments: one "row" holding the totals gives the same figure
    found = observed_expected([observed], [expected], confidence)
    return AreaObservedExpected(
        areas=areas,
        count=count,
        observed=found.observed,
        expected=found.expected,
        ratio=found.ratio,
        low=found.low,
        high=found.high,
        judged=found.observed >= min_outcomes and found.low is not None,
        withheld=False,
    )


def _attributes(areas: pd.DataFrame) -> list[str]:
    return [c for c in areas.columns if c not in ("count", "observed", "expected")]


def _controls(areas: pd.DataFrame, attribute: str) -> list[str]:
    """What an attribute's allocation figure holds equal: deprivation and policing, if known.

    A group's share is compared among areas of equal outcomes, deprivation and policing;
    policing among areas of equal deprivation, and deprivation of equal policing. The shares
    are not held equal for one another (they sum to one with the other groups).
    """
    return [c for c in ("deprivation", "policing") if c in areas.columns and c != attribute]


def _usable(areas: pd.DataFrame, columns: list[str]) -> pd.Series:
    return (areas["expected"] > 0) & areas[columns].notna().all(axis=1)


def _description(attribute: str) -> str:
    if attribute.startswith("share "):
        return f"areas with a larger share of {attribute.removeprefix('share ')} young people"
    return _DESCRIPTIONS.get(attribute, attribute)


def _area_types(areas: pd.DataFrame) -> dict[str, list[tuple[str, pd.DataFrame]]]:
    """Each attribute's area types, in order: deprivation quintiles, else thirds of the areas."""
    types: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for attribute in _attributes(areas):
        known = areas[areas[attribute].notna()]
        if known.empty:
            continue
        if attribute == "deprivation":
            decile = 11.0 - known[attribute]
            quintile = np.clip(np.ceil(decile.round(6) / 2.0), 1, 5).astype(int)
            types[attribute] = [
                (name, known[quintile == q])
                for q, name in _DEPRIVATION.items()
                if (quintile == q).any()
            ]
            continue
        order = np.argsort(known[attribute].to_numpy(), kind="stable")
        parts = [p for p in np.array_split(order, 3) if len(p)]
        types[attribute] = [
            (_third_name(i, known[attribute].iloc[p], attribute), known.iloc[p])
            for i, p in enumerate(parts)
        ]
    return types


def _third_name(index: int, values: pd.Series, attribute: str) -> str:
    """``lowest third (12–30%)`` for a share, ``lowest third`` otherwise."""
    if attribute.startswith("share "):
        return f"{_THIRDS[index]} ({values.min():.0%}–{values.max():.0%})"
    return _THIRDS[index]


# -- the allocation fit ------------------------------------------------------------------------


def poisson_offset_fit(
    observed: ArrayLike, expected: ArrayLike, z: ArrayLike, weights: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(alpha, beta)`` of ``log E[O] = log expected + alpha + z @ beta``, per weight row.

    ``z`` is ``(areas,)`` or ``(areas, k)``; ``weights`` is ``(replicates, areas)``
    (bootstrap counts) or None (one fit, all weights 1). Returns ``alpha`` ``(replicates,)``
    and ``beta`` ``(replicates,)`` for one covariate, ``(replicates, k)`` for several.
    Newton's method on the concave Poisson log-likelihood, every replicate at once, each
    step capped; a replicate with no outcome, collinear covariates or no convergence is NaN.
    """
    o = np.asarray(observed, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    x = np.asarray(z, dtype=np.float64)
    single = x.ndim == 1
    design = np.column_stack([np.ones(len(o)), x.reshape(len(o), -1)])
    k = design.shape[1]
    # each area's outer product of its design row, flattened: the Hessian is one matrix product
    products = (design[:, :, None] * design[:, None, :]).reshape(len(o), k * k)
    w = np.ones((1, len(o))) if weights is None else np.asarray(weights, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        start = np.log((w @ o) / (w @ e))
    bad = ~np.isfinite(start)
    theta = np.zeros((len(w), design.shape[1]))
    theta[:, 0] = np.where(bad, 0.0, start)
    converged = np.zeros(len(w), dtype=bool)
    for _ in range(_NEWTON_STEPS):
        with np.errstate(over="ignore"):
            mu = e * np.exp(theta @ design.T)
        gradient = (w * (o - mu)) @ design
        hessian = ((w * mu) @ products).reshape(len(w), k, k)
        try:
            step = np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = np.stack([_solve_or_nan(h, g) for h, g in zip(hessian, gradient, strict=True)])
        bad |= ~np.isfinite(step).all(axis=1)
        step = np.clip(np.nan_to_num(step), -_MAX_STEP, _MAX_STEP)
        theta = theta + step
        converged = np.abs(step).max(axis=1) < 1e-9
        if converged.all():
            break
    theta[bad | ~converged] = np.nan
    return theta[:, 0], theta[:, 1] if single else theta[:, 1:]


def _solve_or_nan(
    hessian: NDArray[np.float64], gradient: NDArray[np.float64]
) -> NDArray[np.float64]:
    try:
        return np.asarray(np.linalg.solve(hessian, gradient), dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.full(len(gradient), np.nan)


def allocation_ratio(
    observed: ArrayLike,
    expected: ArrayLike,
    attribute: ArrayLike,
    *,
    bootstrap: int,
    confidence: float,
    seed: int,
    controls: ArrayLike | None = None,
) -> AllocationFit:
    """Predicted over observed for areas one SD higher in ``attribute``, at equal outcomes.

    ``controls`` (``(areas, k)``, optional) are held equal too: the attribute's coefficient
    is the one of the joint fit. Areas with no expected outcome or a missing value are left
    out; a control that does not vary is dropped. All None when fewer than three areas
    remain, the attribute does not vary, or there is no outcome.
    """
    o = np.asarray(observed, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(attribute, dtype=np.float64)
    c = np.zeros((len(a), 0)) if controls is None else np.asarray(controls, np.float64)
    c = c.reshape(len(a), -1)
    keep = (e > 0) & np.isfinite(a) & np.isfinite(c).all(axis=1)
    o, e, a, c = o[keep], e[keep], a[keep], c[keep]
    sd = float(a.std()) if len(a) else 0.0
    if len(a) < 3 + c.shape[1] or not sd > 0 or o.sum() <= 0:
        return AllocationFit(None, None, None, None, sd if sd > 0 else None)
    c = c[:, c.std(axis=0) > 0]
    z = np.column_stack([(a - a.mean()) / sd, (c - c.mean(axis=0)) / c.std(axis=0)])
    _, beta = poisson_offset_fit(o, e, z)
    if not np.isfinite(beta[0, 0]):
        return AllocationFit(None, None, None, None, sd)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(o), np.full(len(o), 1.0 / len(o)), size=bootstrap)
    _, betas_all = poisson_offset_fit(o, e, z, weights)
    betas = betas_all[:, 0][np.isfinite(betas_all[:, 0])]
    if len(betas) < bootstrap // 2:
        return AllocationFit(float(np.exp(-beta[0, 0])), None, None, None, sd)
    tail = (1.0 - confidence) / 2.0
    b_low, b_high = np.quantile(betas, [tail, 1.0 - tail])
    below = (1 + int((betas <= 0).sum())) / (len(betas) + 1)
    above = (1 + int((betas >= 0).sum())) / (len(betas) + 1)
    return AllocationFit(
        ratio=float(np.exp(-beta[0, 0])),
        low=float(np.exp(-b_high)),
        high=float(np.exp(-b_low)),
        p_value=min(1.0, 2.0 * min(below, above)),
        sd=sd,
    )


# -- the gates' figures ------------------------------------------------------------------------


def area_figures(report: object) -> dict[str, float | None]:
    """The area gates' figures: the worst interval bounds at the gated level, or None.

    O/E by area type against the *recorded* outcomes (what anyone can check), over the types
    judged: the smallest upper bound and the largest lower bound. Allocation against the true
    outcomes when the audit has them, else the recorded: the same over the attributes judged.
    Nothing judged, or no report: None, so the gate fails as not measured.
    """
    if not isinstance(report, AreaReport):
        return dict.fromkeys(AREA_FIGURES)
    level = report.levels[report.gated_level]
    types = [e for parts in level.recorded.by_type.values() for e in parts.values() if e.judged]
    chosen = level.true if level.true is not None else level.recorded
    judged = [a for a in chosen.allocation.values() if a.judged]
    return {
        "area_observed_expected_high": _worst([e.high for e in types], min),
        "area_observed_expected_low": _worst([e.low for e in types], max),
        "area_allocation_high": _worst([a.high for a in judged], min),
        "area_allocation_low": _worst([a.low for a in judged], max),
    }


def _worst(values: Sequence[float | None], pick: Callable[[list[float]], float]) -> float | None:
    known = [v for v in values if v is not None]
    return float(pick(known)) if known else None
