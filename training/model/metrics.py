"""Model metrics: discrimination, calibration, and what a service reaching the top k% would see."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from governance.audit.calibration import (
    calibration_line,
    calibration_table,
    expected_calibration_error,
)

__all__ = ["calibration_table", "evaluate", "expected_calibration_error"]


def _calibration_line(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the logistic recalibration (ideal: 1 and 0); NaN if undefined."""
    line = calibration_line(y, p)
    return (line.slope, line.intercept) if line is not None else (float("nan"), float("nan"))


def evaluate(y: np.ndarray, p: np.ndarray, top_k_percent: float) -> dict[str, float]:
    """Every metric of one set of predictions."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    k = max(1, round(len(p) * top_k_percent / 100))
    top = np.argsort(-p, kind="stable")[:k]
    both = y.min() != y.max()
    slope, intercept = _calibration_line(y, p)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
        "ece": expected_calibration_error(y, p),
        "precision_at_top_k": float(y[top].mean()),
        "recall_at_top_k": float(y[top].sum() / y.sum()) if y.sum() else float("nan"),
        "prevalence": float(y.mean()),
        "rows": float(len(y)),
    }
