"""Model metrics: discrimination, calibration, and what a service reaching the top k% would see."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

__all__ = ["calibration_table", "evaluate", "expected_calibration_error"]

_EPS = 1e-6


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed − predicted| over equal-count bins of the prediction, weighted by size."""
    table = calibration_table(y, p, bins)
    return float(
        sum(
            n * abs(o - e)
            for o, e, n in zip(table["observed"], table["predicted"], table["count"], strict=True)
        )
        / len(y)
    )


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Observed rate and mean prediction in each decile of the prediction."""
    order = np.argsort(p, kind="stable")
    chunks = np.array_split(order, bins)
    return {
        "predicted": [float(p[c].mean()) for c in chunks if len(c)],
        "observed": [float(y[c].mean()) for c in chunks if len(c)],
        "count": [len(c) for c in chunks if len(c)],
    }


def _calibration_line(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the logistic recalibration of y on logit(p) (ideal: 1 and 0)."""
    if y.min() == y.max():
        return float("nan"), float("nan")
    logit = np.log(np.clip(p, _EPS, 1 - _EPS) / (1 - np.clip(p, _EPS, 1 - _EPS)))
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(logit.reshape(-1, 1), y)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


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
