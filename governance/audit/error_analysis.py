"""Error analysis: the cohorts where the model fails, each with figures valid at its size.

The group figures (fairness, calibration by group) look at protected groups; a model can also
fail young people the records know little about ("no school record", "no health record"), or
one age band, or one kind of area. Each configured slice (``audit.error_slices``) is a cohort
of the test rows: rows whose column is missing, or whose value lies in a range. For each, and
for everyone as the yardstick:

* ``n`` and ``outcomes`` (recorded outcomes);
* ROC AUC with its DeLong interval (the variance from the placement values, Sun & Xu's fast
  form; written out here, no library offers it), withheld below ``min_outcomes`` outcomes or
  without a single non-outcome;
* observed/expected with the exact Poisson interval of
  :func:`governance.audit.calibration.observed_expected` (valid at any count).

A slice *fails* when its O/E interval excludes 1 (the model's expected count is wrong for
that cohort), or when its AUC's upper bound is below the AUC of everyone (it ranks that
cohort worse than it ranks the population). Slices smaller than ``withhold_below`` keep their
name only. Aggregates only: no row, score or id leaves this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm, rankdata

from governance.audit.calibration import observed_expected
from governance.contracts.errors import AuditInputError
from governance.contracts.settings import ErrorSlice

__all__ = ["SliceResult", "delong_auc", "error_analysis", "error_section", "slice_mask"]

EVERYONE = "everyone"


@dataclass(frozen=True)
class SliceResult:
    """One cohort's figures; None where withheld or not measurable (``note`` says why)."""

    name: str
    available: bool
    n: int | None
    outcomes: int | None
    roc_auc: float | None
    roc_auc_low: float | None
    roc_auc_high: float | None
    observed: int | None
    expected: float | None
    observed_expected: float | None
    oe_low: float | None
    oe_high: float | None
    fails: bool
    reasons: tuple[str, ...]
    note: str | None

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for the document."""
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        return out


def delong_auc(
    y: ArrayLike, score: ArrayLike, confidence: float = 0.95
) -> tuple[float, float, float] | None:
    """ROC AUC with its DeLong interval (clipped to [0, 1]); None without both classes."""
    t = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    pos, neg = s[t], s[~t]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return None
    ranks = rankdata(np.concatenate([pos, neg]))
    auc = float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))
    v10 = (ranks[:m] - rankdata(pos)) / n  # per positive: share of negatives ranked below
    v01 = 1.0 - (ranks[m:] - rankdata(neg)) / m  # per negative: share of positives above
    var = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / n if n > 1 else 0.0)
    z = float(norm.ppf(0.5 + confidence / 2))
    half = z * float(np.sqrt(var))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def slice_mask(frame: pd.DataFrame, spec: ErrorSlice) -> np.ndarray | None:
    """The rows in the slice; None when ``frame`` has no such column."""
    if spec.column not in frame.columns:
        return None
    column = frame[spec.column]
    if spec.missing:
        return column.isna().to_numpy()
    values = pd.to_numeric(column, errors="coerce")
    keep = values.notna()
    if spec.min is not None:
        keep &= values >= spec.min
    if spec.max is not None:
        keep &= values <= spec.max
    return keep.to_numpy()


def _figures(
    name: str,
    y: np.ndarray,
    p: np.ndarray,
    *,
    overall_auc: float | None,
    confidence: float,
    min_outcomes: int,
    withhold_below: int,
) -> SliceResult:
    n = len(y)
    if n < max(withhold_below, 1):
        note = f"fewer than {withhold_below} young people: figures withheld"
        return SliceResult(
            name, True, None, None, None, None, None, None, None, None, None, None, False, (), note
        )
    outcomes = int(y.sum())
    oe = observed_expected(y, p, confidence)
    auc = None
    notes = []
    if outcomes < min_outcomes:
        notes.append(f"ROC AUC withheld: {outcomes} outcomes, fewer than {min_outcomes}")
    elif outcomes == n:
        notes.append("ROC AUC not measurable: every young person has the outcome")
    else:
        auc = delong_auc(y, p, confidence)
    reasons = []
    if oe.low is not None and oe.high is not None and (oe.low > 1 or oe.high < 1):
        word = "under-predicts" if oe.low > 1 else "over-predicts"
        reasons.append(f"the model {word}: O/E interval excludes 1")
    if auc is not None and overall_auc is not None and name != EVERYONE and auc[2] < overall_auc:
        reasons.append("ranks worse than for everyone: ROC AUC interval below everyone's")
    return SliceResult(
        name=name,
        available=True,
        n=n,
        outcomes=outcomes,
        roc_auc=None if auc is None else auc[0],
        roc_auc_low=None if auc is None else auc[1],
        roc_auc_high=None if auc is None else auc[2],
        observed=oe.observed,
        expected=oe.expected,
        observed_expected=oe.ratio,
        oe_low=oe.low,
        oe_high=oe.high,
        fails=bool(reasons),
        reasons=tuple(reasons),
        note="; ".join(notes) or None,
    )


def error_analysis(
    frame: pd.DataFrame,
    y: ArrayLike,
    p: ArrayLike,
    slices: Sequence[ErrorSlice],
    *,
    confidence: float,
    min_outcomes: int,
    withhold_below: int,
) -> list[SliceResult]:
    """Everyone first, then each slice in configured order (see the module docstring).

    ``frame`` holds the columns the slices name (one row per scored young person), ``y`` the
    recorded outcomes (0/1) and ``p`` the calibrated risks, in the same row order. A slice whose
    column the rows do not have is kept, unavailable, with a note naming the column.
    """
    t = np.asarray(y)
    risk = np.asarray(p, dtype=np.float64)
    if len(t) != len(frame) or len(risk) != len(frame):
        raise AuditInputError(
            f"error_analysis: y ({len(t)}) and p ({len(risk)}) must have one value per row of "
            f"frame ({len(frame)})"
        )
    if len(t) and not np.isin(t, (0, 1)).all():
        raise AuditInputError("error_analysis: y must hold 0 or 1 only")
    if len(risk) and not ((risk >= 0) & (risk <= 1)).all():
        raise AuditInputError("error_analysis: p must hold probabilities from 0 to 1")
    t = t.astype(np.int64)
    options = {
        "confidence": confidence,
        "min_outcomes": min_outcomes,
        "withhold_below": withhold_below,
    }
    everyone = _figures(EVERYONE, t, risk, overall_auc=None, **options)  # type: ignore[arg-type]
    out = [everyone]
    for spec in slices:
        mask = slice_mask(frame, spec)
        if mask is None:
            out.append(
                SliceResult(
                    spec.name, False, None, None, None, None, None, None, None, None, None,
                    None, False, (), f"the audited rows have no column {spec.column!r}",
                )
            )  # fmt: skip
            continue
        out.append(
            _figures(spec.name, t[mask], risk[mask], overall_auc=everyone.roc_auc, **options)  # type: ignore[arg-type]
        )
    return out


def error_section(
    frame: pd.DataFrame,
    y: ArrayLike,
    p: ArrayLike,
    slices: Sequence[ErrorSlice],
    *,
    confidence: float,
    min_outcomes: int,
    withhold_below: int,
) -> dict[str, Any]:
    """The document's ``error_analysis`` section: the method in words and every slice."""
    results = error_analysis(
        frame,
        y,
        p,
        slices,
        confidence=confidence,
        min_outcomes=min_outcomes,
        withhold_below=withhold_below,
    )
    return {
        "method": _METHOD.format(
            pct=round(100 * confidence), min_outcomes=min_outcomes, withhold=withhold_below
        ),
        "confidence": confidence,
        "min_outcomes": min_outcomes,
        "slices": [r.as_dict() for r in results],
        "failing": [r.name for r in results if r.fails],
    }


_METHOD = (
    "Each cohort is a slice of the test rows (configured in audit.error_slices). ROC AUC "
    "with its {pct}% DeLong interval, withheld below {min_outcomes} outcomes; observed/"
    "expected (outcomes recorded against the sum of predicted risks) with its exact Poisson "
    "interval. A cohort fails when its O/E interval excludes 1, or when its ROC AUC "
    "interval lies wholly below the ROC AUC for everyone. Cohorts of fewer than {withhold} "
    "young people show no figures."
)
