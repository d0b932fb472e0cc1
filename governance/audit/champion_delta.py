"""The candidate against the champion on the same young people, with paired intervals.

Both models score the candidate's test rows; each headline metric's difference gets a paired
bootstrap interval from :func:`governance.audit.paired_bootstrap.paired_bootstrap` (the same
resampled rows for both models, so the interval reflects how their errors move together).
A positive difference always means the candidate is better.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from governance.audit.arrays import FloatArray, IntArray
from governance.audit.paired_bootstrap import Metric, paired_bootstrap
from governance.contracts.audit_document import PairedDelta

__all__ = ["PAIRED_METRICS", "champion_scores", "paired_deltas"]

#: The metrics compared, in the report's order.
PAIRED_METRICS: tuple[Metric, ...] = ("roc_auc", "average_precision", "brier", "log_loss")
_NO_COLUMNS = "The candidate's test rows lack the champion's input(s) {0}; it cannot be scored."
_NO_MODEL = "The champion's model could not be loaded, so it was not scored on these rows."
_ONE_CLASS = "The test rows hold only one class; ranking metrics cannot be compared."


def champion_scores(model: Any, rows: pd.DataFrame) -> tuple[FloatArray | None, str | None]:
    """The champion's calibrated scores on ``rows``, or None and why not."""
    if model is None:
        return None, _NO_MODEL
    columns = [str(c) for c in model.columns]
    missing = [c for c in columns if c not in rows]
    if missing:
        return None, _NO_COLUMNS.format(missing)
    return np.asarray(model.predict(rows[columns].astype(float)), dtype=np.float64), None


def paired_deltas(
    y: IntArray,
    candidate: FloatArray,
    champion: FloatArray,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[list[PairedDelta], str | None]:
    """Each of :data:`PAIRED_METRICS`, candidate minus champion, with its paired interval."""
    if not 0 < int(np.sum(y)) < len(y):
        return [], _ONE_CLASS
    rows = []
    for metric in PAIRED_METRICS:
        found = paired_bootstrap(
            y,
            candidate,
            champion,
            metric=metric,
            resamples=resamples,
            confidence=confidence,
            seed=seed,
        )
        rows.append(
            PairedDelta(
                metric=metric,
                champion=found.b,
                candidate=found.a,
                difference=found.difference,
                low=None if np.isnan(found.low) else found.low,
                high=None if np.isnan(found.high) else found.high,
                confidence=found.confidence,
                resamples=found.resamples,
                rows=found.rows,
                outcomes=found.outcomes,
            )
        )
    return rows, None
