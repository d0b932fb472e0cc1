"""Expected calibration error: one definition, which training logs and the audit recomputes.

The rows are sorted by predicted risk and cut into ``bins`` parts of equal count; the ECE is
the row-weighted mean of ``|observed rate - mean prediction|`` over the parts. Absolute
gaps: a model that overstates risk in one part and understates it in another does not have
the errors cancel. Training logs ``test_ece`` with it and the audit recomputes the same
figure from the model and the test rows, so the two can be compared exactly (a logged figure
that disagrees is a failed gate: :mod:`governance.audit.gates`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["calibration_table", "expected_calibration_error"]


def calibration_table(y: ArrayLike, p: ArrayLike, bins: int = 10) -> dict[str, list[float]]:
    """Observed rate, mean prediction and row count in each of ``bins`` equal-count parts."""
    outcome = np.asarray(y, dtype=np.float64)
    risk = np.asarray(p, dtype=np.float64)
    chunks = [c for c in np.array_split(np.argsort(risk, kind="stable"), bins) if len(c)]
    return {
        "predicted": [float(risk[c].mean()) for c in chunks],
        "observed": [float(outcome[c].mean()) for c in chunks],
        "count": [len(c) for c in chunks],
    }


def expected_calibration_error(y: ArrayLike, p: ArrayLike, bins: int = 10) -> float:
    """Row-weighted mean absolute gap between observed rate and mean prediction per part."""
    table = calibration_table(y, p, bins)
    total = sum(table["count"])
    gaps = (
        n * abs(o - e)
        for o, e, n in zip(table["observed"], table["predicted"], table["count"], strict=True)
    )
    return float(sum(gaps) / total)
