"""Drift from the data a model was trained on to the cohort the release will score.

Comparing the champion's test split with the candidate's says nothing when both were judged
on the same as-of date (every PSI is 0). What a board needs to know is whether the young
people who will be scored now look like the ones the approved model learnt from. So:

- training keeps a :func:`training_reference`: :func:`~governance.audit.drift.reference_bins`
  of every input on its *training* split, and of the calibrated score on its *validation*
  split (scores on the rows a model was fitted on are over-confident, so they would show
  drift that is only overfitting). It is logged with the model as
  :data:`TRAINING_REFERENCE`; aggregates only (bin edges halfway between values, and shares).
- the audit compares the *cohort* (the features table's latest as-of date: the rows the
  release scores, see ``training/release/run.py``) with it: :func:`cohort_drift` gives each
  input's PSI and the score's (the champion's own scores on the cohort), with the usual
  drift levels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from numpy.typing import ArrayLike

from governance.audit.arrays import Json
from governance.audit.drift import DriftInputError, drift_level, psi_against, reference_bins
from governance.audit.training_artifacts import TRAINING_REFERENCE
from governance.contracts.audit_document import CohortComparison, FeatureDrift, ScoreDrift

__all__ = [
    "TRAINING_REFERENCE",
    "Cohort",
    "CohortDrift",
    "cohort_drift",
    "training_reference",
]

_BAD_REFERENCE = (
    "the training reference must be training_reference()'s output with 'features' (a mapping "
    "of input to bins), 'score', 'train_rows', 'score_rows', 'train_dates' and "
    "'score_split'; got keys {0}"
)
_NO_COHORT = (
    "No cohort to score was given: the features table has no as-of date after the test split's."
)
_NO_REFERENCE = (
    "The champion's training run kept no reference bins ({0}); it was trained before they were "
    "logged, so drift from its training data cannot be measured. Train and approve a new "
    "champion."
)


@dataclass(frozen=True)
class Cohort:
    """The young people the release would score: the latest as-of date's rows (features only)."""

    as_of: str
    rows: pd.DataFrame


@dataclass(frozen=True)
class CohortDrift:
    """Each input's and the score's drift, and what was compared with what."""

    features: list[FeatureDrift]
    score: ScoreDrift | None
    comparison: CohortComparison


def training_reference(
    train_x: pd.DataFrame,
    validation_scores: ArrayLike,
    *,
    train_dates: Sequence[str],
    validation_date: str,
    bins: int = 10,
) -> Json:
    """The bins the next audits compare the scored cohort with (aggregates only).

    Parameters
    ----------
    train_x : pandas.DataFrame
        The model's inputs on its training split.
    validation_scores : array-like of float
        The calibrated score on the validation split.
    train_dates, validation_date : str
        Which as-of dates the two samples are (said in the report).
    bins : int, default 10
        Quantile bins per column (see :func:`~governance.audit.drift.psi`).
    """
    return {
        "features": {str(c): reference_bins(train_x[c].to_numpy(), bins=bins) for c in train_x},
        "score": reference_bins(validation_scores, bins=bins),
        "train_rows": len(train_x),
        "score_rows": len(pd.Series(validation_scores)),
        "train_dates": [str(d) for d in train_dates],
        "score_split": f"validation ({validation_date})",
    }


def cohort_drift(
    reference: Mapping[str, Any] | None,
    cohort: Cohort | None,
    columns: Sequence[str],
    scores: ArrayLike | None,
) -> CohortDrift:
    """PSI of each of ``columns`` and of ``scores`` on the cohort against ``reference``.

    ``reference`` is :func:`training_reference`'s output (None: the champion kept none);
    ``scores`` are the champion's scores on the cohort's rows (None: not scored). Inputs the
    reference has no bins for are left out. Features are sorted by PSI, largest first.
    """
    if reference is None:
        return CohortDrift(
            [], None, CohortComparison(missing=_NO_REFERENCE.format(TRAINING_REFERENCE))
        )
    if cohort is None:
        return CohortDrift([], None, CohortComparison(missing=_NO_COHORT))
    kept, score_bins = _checked(reference)
    values = {
        c: psi_against(kept[c], cohort.rows[c].to_numpy(dtype=float, na_value=float("nan")))
        for c in columns
        if c in kept and c in cohort.rows
    }
    features = [
        FeatureDrift(feature=c, psi=v, level=drift_level(v))
        for c, v in sorted(values.items(), key=lambda item: (-item[1], item[0]))
    ]
    score = None
    if scores is not None:
        value = psi_against(score_bins, scores)
        score = ScoreDrift(psi=value, level=drift_level(value))
    dates = ", ".join(reference["train_dates"])
    return CohortDrift(
        features,
        score,
        CohortComparison(
            reference=f"inputs: the champion's training split (as-of {dates}); score: its "
            f"{reference['score_split']} split",
            reference_rows=int(reference["train_rows"]),
            cohort_as_of=cohort.as_of,
            cohort_rows=len(cohort.rows),
        ),
    )


def _checked(reference: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    wanted = ("features", "score", "train_rows", "score_rows", "train_dates", "score_split")
    if not isinstance(reference, Mapping) or any(k not in reference for k in wanted):
        keys = sorted(reference) if isinstance(reference, Mapping) else type(reference).__name__
        raise DriftInputError(_BAD_REFERENCE.format(keys))
    features = reference["features"]
    if not isinstance(features, Mapping):
        raise DriftInputError(_BAD_REFERENCE.format(sorted(reference)))
    return features, reference["score"]
