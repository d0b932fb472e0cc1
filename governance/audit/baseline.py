"""The area-rate baseline, and whether a version beats it on the decision metric.

A model that links records from four agencies is only worth its risks if it knows more than
where a young person lives. The area-rate baseline knows only that: each young person's risk
is the recorded outcome rate of their ward. It is fitted here, inside the audit, on the
validation split's recorded outcomes (an earlier cohort, labelled, that the test rows are not
part of) and applied to the test rows, so it needs nothing from training.

Small wards have few outcomes (at a 1% rate, a ward of 300 young people has about 3), so a
ward's rate is shrunk toward its borough's and a borough's toward the overall rate: with
``m = prior_rows``, an area's rate is ``(outcomes + m * parent rate) / (rows + m)``, the
posterior mean under a beta prior worth ``m`` young people at the parent's rate. The overall
rate is the Jeffreys estimate ``(outcomes + 1/2) / (rows + 1)``. A young person whose ward
had no validation rows gets their borough's rate, and one whose borough had none the overall
rate; how many test rows fell back is reported.

The gate (:func:`compare_with_area_baseline`) scores the candidate and the baseline on the
same test rows and takes the paired bootstrap interval of their difference on the decision
metric (:func:`governance.audit.paired_bootstrap.paired_bootstrap`: the same resampled rows
for both). The candidate beats the baseline only when the interval's lower end is above the
configured margin (0 by default): a model equal to the baseline, or one whose advantage
chance explains, fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from governance.audit.paired_bootstrap import (
    HIGHER_IS_BETTER,
    Metric,
    paired_bootstrap,
    weighted_metric,
)
from governance.contracts.audit_document import (
    AreaBaselineReport,
    AreaBaselineSection,
    SectionUnavailable,
)
from governance.contracts.settings import GovernanceConfig

__all__ = [
    "METHOD",
    "METRICS",
    "AreaBaselineError",
    "AreaRates",
    "apply_area_rates",
    "area_baseline_section",
    "baseline_gate_figure",
    "compare_with_area_baseline",
    "fit_area_rates",
    "rated_at",
]

FloatArray = NDArray[np.float64]
METRICS: tuple[Metric, ...] = ("roc_auc", "average_precision", "brier", "log_loss")
METHOD = (
    "Area-rate baseline: each young person's risk is the recorded outcome rate of their "
    "{levels} in the validation cohort, shrunk toward the next level up (an area's rate is "
    "(outcomes + {m:g} x parent rate) / (rows + {m:g})) and the overall rate (Jeffreys, "
    "(outcomes + 1/2) / (rows + 1)); no individual information. Compared with the model on the "
    "same test rows by a paired bootstrap ({resamples} resamples of the rows, percentile "
    "interval)."
)
_NO_COLUMN = "{split} rows: no area column {column!r} (audit.area_baseline.levels: {levels})"
_NO_AREAS = (
    "The {split} rows have no area column(s) {missing} (audit.area_baseline.levels); the "
    "area-rate baseline could not be fitted, so its gate fails as not measured."
)
_NOT_ALIGNED = "{name}: expected {expected} values, one per row of {of}; got {got}"


class AreaBaselineError(ValueError):
    """The area-rate baseline cannot be fitted or applied; the message names the input."""


@dataclass(frozen=True)
class AreaRates:
    """A fitted area-rate baseline: each level's area rates, finest level first."""

    levels: tuple[str, ...]
    rates: tuple[Mapping[str, float], ...]
    overall: float
    prior_rows: float
    rows: int
    outcomes: int


def fit_area_rates(
    areas: pd.DataFrame, y: NDArray[Any], *, levels: Sequence[str], prior_rows: float
) -> AreaRates:
    """Each area's shrunk recorded outcome rate, from labelled rows (see the module doc).

    Parameters
    ----------
    areas
        One row per young person, with a column per level (missing codes are allowed: those
        rows count toward coarser levels only).
    y
        The recorded outcome (0 or 1) of each row.
    levels
        Area columns, finest first (``["ward_code", "borough_code"]``).
    prior_rows
        How many young people at the parent's rate each area's rate is shrunk with.
    """
    labels = _labels(y, len(areas), "y", "areas")
    _columns(areas, levels, "fit")
    if not prior_rows > 0:
        raise AreaBaselineError(f"prior_rows: expected a number above 0, got {prior_rows!r}")
    rows, outcomes = len(labels), int(labels.sum())
    overall = (outcomes + 0.5) / (rows + 1.0)
    parent = np.full(rows, overall)
    fitted: list[dict[str, float]] = []
    for level in reversed(list(levels)):  # coarsest first: each level shrinks to its parent
        codes = areas[level].astype(object).where(areas[level].notna(), None)
        table = pd.DataFrame({"code": codes, "y": labels, "parent": parent}).dropna(subset=["code"])
        grouped = table.groupby(table["code"].astype(str), sort=True).agg(
            outcomes=("y", "sum"), rows=("y", "size"), parent=("parent", "mean")
        )
        rate = (grouped["outcomes"] + prior_rows * grouped["parent"]) / (
            grouped["rows"] + prior_rows
        )
        level_rates = {str(k): float(v) for k, v in rate.items()}
        fitted.append(level_rates)
        parent = _lookup(areas[level], level_rates, parent)
    return AreaRates(
        levels=tuple(levels),
        rates=tuple(reversed(fitted)),
        overall=overall,
        prior_rows=float(prior_rows),
        rows=rows,
        outcomes=outcomes,
    )


def apply_area_rates(rates: AreaRates, areas: pd.DataFrame) -> FloatArray:
    """Each row's risk: its finest known area's rate, else the overall rate."""
    _columns(areas, rates.levels, "scored")
    risk = np.full(len(areas), rates.overall)
    for level, level_rates in reversed(list(zip(rates.levels, rates.rates, strict=True))):
        risk = _lookup(areas[level], level_rates, risk)
    return risk


def rated_at(rates: AreaRates, areas: pd.DataFrame) -> dict[str, int]:
    """How many rows got each level's rate (the finest known), and how many the overall."""
    _columns(areas, rates.levels, "scored")
    counts: dict[str, int] = {}
    left = np.ones(len(areas), dtype=bool)
    for level, level_rates in zip(rates.levels, rates.rates, strict=True):
        known = ~np.isnan(_lookup(areas[level], level_rates, np.full(len(areas), np.nan)))
        counts[level] = int((known & left).sum())
        left &= ~known
    counts["overall"] = int(left.sum())
    return counts


def compare_with_area_baseline(
    y: NDArray[Any],
    scores: NDArray[np.floating],
    areas: pd.DataFrame,
    fitted: AreaRates,
    *,
    metric: Metric,
    resamples: int,
    confidence: float,
    seed: int,
    margin: float = 0.0,
) -> dict[str, Any]:
    """The candidate against the area-rate baseline on the test rows, as the audit reports it.

    Returns the baseline's description and fit (rows, outcomes, areas per level, test rows
    rated at each level), the decision metric's values for both, their difference (positive:
    the candidate is better) and its paired bootstrap interval, whether the gate passes
    (``low > margin``), and the other metrics' values for both (no interval: not decided on).
    Counts and figures only: no row, area code or score.
    """
    labels = _labels(y, len(areas), "y", "areas")
    candidate = np.asarray(scores, dtype=np.float64)
    if candidate.shape != labels.shape:
        raise AreaBaselineError(
            _NOT_ALIGNED.format(
                name="scores", expected=len(labels), of="areas", got=candidate.shape
            )
        )
    baseline = apply_area_rates(fitted, areas)
    result = paired_bootstrap(
        labels,
        candidate,
        baseline,
        metric=metric,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    low = result.low
    return {
        "available": True,
        "method": METHOD.format(
            levels=", else ".join(fitted.levels), m=fitted.prior_rows, resamples=resamples
        ),
        "levels": list(fitted.levels),
        "prior_rows": fitted.prior_rows,
        "fit_rows": fitted.rows,
        "fit_outcomes": fitted.outcomes,
        "fit_overall_rate": fitted.overall,
        "areas": {level: len(r) for level, r in zip(fitted.levels, fitted.rates, strict=True)},
        "rated_at": rated_at(fitted, areas),
        "rows": result.rows,
        "outcomes": result.outcomes,
        "expected_candidate": float(candidate.sum()),
        "expected_baseline": float(baseline.sum()),
        "metric": metric,
        "higher_is_better": metric in HIGHER_IS_BETTER,
        "candidate": _finite(result.a),
        "baseline": _finite(result.b),
        "difference": _finite(result.difference),
        "low": _finite(low),
        "high": _finite(result.high),
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "margin": margin,
        "passed": bool(low == low and low > margin),
        "metrics": {
            m: {
                "candidate": _finite(weighted_metric(m, labels, candidate)),
                "baseline": _finite(weighted_metric(m, labels, baseline)),
            }
            for m in METRICS
        },
    }


def area_baseline_section(
    test: pd.DataFrame,
    validation: pd.DataFrame,
    scores: NDArray[np.floating],
    config: GovernanceConfig,
    *,
    seed: int,
) -> AreaBaselineSection:
    """The audit's step: fit on the validation rows' labels, compare on the test rows.

    ``test`` and ``validation`` are the audited rows (a ``label`` column and the area
    columns of ``audit.area_baseline.levels``); ``scores`` the candidate's risks on ``test``.
    Without the area columns the section says so, and the gate fails as not measured.
    """
    levels = list(config.audit.area_baseline.levels)
    for split, frame in (("validation", validation), ("test", test)):
        missing = [c for c in levels if c not in frame.columns]
        if missing:
            return SectionUnavailable(
                available=False, reason=_NO_AREAS.format(split=split, missing=missing)
            )
    fitted = fit_area_rates(
        validation[levels],
        validation["label"].to_numpy(),
        levels=levels,
        prior_rows=config.audit.area_baseline.prior_rows,
    )
    result = compare_with_area_baseline(
        test["label"].to_numpy(),
        scores,
        test[levels],
        fitted,
        metric=config.gates.baseline_metric,
        resamples=config.audit.bootstrap,
        confidence=config.gates.gate_confidence,
        seed=seed,
        margin=config.gates.min_baseline_improvement,
    )
    return AreaBaselineReport.model_validate(
        {**result, "fit_split": "validation", "evaluated_on": "test"}
    )


def baseline_gate_figure(section: AreaBaselineSection | None) -> float | None:
    """The gate's figure: the interval's lower end, or None when not measured."""
    return section.low if isinstance(section, AreaBaselineReport) else None


# -- helpers ----------------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _lookup(codes: pd.Series, rates: Mapping[str, float], fallback: FloatArray) -> FloatArray:
    """Each row's rate at this level where its code has one, else ``fallback``."""
    values = codes.astype(str).map(rates).to_numpy(dtype=np.float64, na_value=np.nan)
    unknown = np.isnan(values) | codes.isna().to_numpy()
    return np.where(unknown, fallback, values)


def _labels(y: NDArray[Any], rows: int, name: str, of: str) -> FloatArray:
    labels = np.asarray(y, dtype=np.float64)
    if labels.ndim != 1 or len(labels) != rows:
        raise AreaBaselineError(
            _NOT_ALIGNED.format(name=name, expected=rows, of=of, got=labels.shape)
        )
    if not np.isin(labels, (0.0, 1.0)).all():
        raise AreaBaselineError(f"{name}: expected 0 or 1 in every row")
    return labels


def _columns(areas: pd.DataFrame, levels: Sequence[str], split: str) -> None:
    if not levels:
        raise AreaBaselineError("levels: expected at least one area column, finest first")
    for level in levels:
        if level not in areas.columns:
            raise AreaBaselineError(
                _NO_COLUMN.format(split=split, column=level, levels=list(levels))
            )
