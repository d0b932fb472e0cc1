"""The audit's "what changed since the champion" section, put together.

:func:`~governance.audit.drift.champion_drift` lays the headline figures, drivers and inputs
side by side. Its input and score drift compared the champion's *test* rows with the
candidate's, which are the same rows when both were judged on the same as-of date (every PSI
0.000). Here they are replaced by the drift from the champion's *training* data to the cohort
the release will score (:mod:`governance.audit.cohort_drift`), and the section gains the
candidate-minus-champion difference of each headline metric on the candidate's test rows,
with a paired bootstrap interval (:mod:`governance.audit.champion_delta`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from governance.audit.arrays import FloatArray, IntArray
from governance.audit.champion_delta import champion_scores, paired_deltas
from governance.audit.cohort_drift import Cohort, cohort_drift
from governance.audit.drift import ChampionAudit, champion_drift
from governance.contracts.audit_document import DriftReport

__all__ = ["CandidateScored", "compare_with_champion"]


@dataclass(frozen=True)
class CandidateScored:
    """The candidate on its test split: the rows, their labels and its scores."""

    test: pd.DataFrame
    x: pd.DataFrame
    y: IntArray
    scores: FloatArray


def compare_with_champion(
    champion: ChampionAudit,
    candidate: CandidateScored,
    *,
    cohort: Cohort | None,
    figures: Mapping[str, float | None],
    drivers: Sequence[str],
    resamples: int,
    confidence: float,
    seed: int,
) -> DriftReport:
    """Drift from the champion's training data to ``cohort``, figures, and paired deltas."""
    section = champion_drift(
        champion, candidate.x, candidate.scores, candidate=figures, drivers=drivers
    )
    on_cohort = None
    if cohort is not None and champion.model is not None:
        on_cohort, _ = champion_scores(champion.model, cohort.rows)
    drift = cohort_drift(
        champion.training_reference, cohort, [str(c) for c in candidate.x.columns], on_cohort
    )
    on_test, why = champion_scores(champion.model, candidate.test)
    paired, missing = (
        ([], why)
        if on_test is None
        else paired_deltas(
            candidate.y,
            candidate.scores,
            on_test,
            resamples=resamples,
            confidence=confidence,
            seed=seed,
        )
    )
    return section.model_copy(
        update={
            "features": drift.features,
            "score": drift.score,
            "cohort": drift.comparison,
            "paired": paired,
            "paired_missing": missing,
        }
    )
