"""The paired bootstrap: its weighted metrics against scikit-learn, its interval by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from governance.audit.paired_bootstrap import (
    PairedBootstrapError,
    paired_bootstrap,
    weighted_metric,
)

SKLEARN = {
    "roc_auc": roc_auc_score,
    "average_precision": average_precision_score,
    "brier": brier_score_loss,
    "log_loss": log_loss,
}


def _table(rows: int, seed: int, ties: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.binomial(1, 0.2, rows)
    score = np.clip(0.2 + 0.3 * (y - 0.2) + rng.normal(0, 0.2, rows), 0.01, 0.99)
    if ties:
        score = np.round(score, 1)  # many tied scores, as a coarse model gives
    weights = rng.integers(0, 4, rows).astype(float)
    return y, score, weights


@pytest.mark.parametrize("metric", sorted(SKLEARN))
@pytest.mark.parametrize("ties", [False, True])
def test_weighted_metrics_equal_scikit_learn(metric: str, ties: bool) -> None:
    y, score, weights = _table(400, seed=3, ties=ties)
    ours = weighted_metric(metric, y, score, weights.astype(int))  # type: ignore[arg-type]
    theirs = SKLEARN[metric](y, score, sample_weight=weights)
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_interval_equals_a_bootstrap_done_by_hand() -> None:
    """Same seed, same rows drawn: the quantiles of differences computed by scikit-learn."""
    y, a, _ = _table(120, seed=5, ties=False)
    b = np.clip(a + np.random.default_rng(9).normal(0, 0.15, len(a)), 0.01, 0.99)
    result = paired_bootstrap(y, a, b, metric="roc_auc", resamples=100, confidence=0.9, seed=11)
    rng = np.random.default_rng(11)
    drawn = rng.integers(0, len(y), size=(100, len(y)))  # drawn in chunks, from one stream
    counts = [np.bincount(row, minlength=len(y)) for row in drawn]
    by_hand = [
        roc_auc_score(y, a, sample_weight=c) - roc_auc_score(y, b, sample_weight=c) for c in counts
    ]
    assert result.low == pytest.approx(np.quantile(by_hand, 0.05), abs=1e-12)
    assert result.high == pytest.approx(np.quantile(by_hand, 0.95), abs=1e-12)
    assert result.difference == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))


def test_a_better_scoring_is_detected_and_an_equal_one_is_not() -> None:
    rng = np.random.default_rng(1)
    rows = 4000
    risk = rng.beta(1, 20, rows)
    y = rng.binomial(1, risk)
    good = risk
    noisy = np.clip(risk * np.exp(rng.normal(0, 1.2, rows)), 1e-4, 0.999)
    better = paired_bootstrap(
        y, good, noisy, metric="roc_auc", resamples=300, confidence=0.95, seed=2
    )
    assert better.low > 0, better
    same = paired_bootstrap(
        y, good, good.copy(), metric="brier", resamples=300, confidence=0.95, seed=2
    )
    assert same.difference == 0 and same.low == 0 and same.high == 0


def test_losses_are_oriented_so_that_positive_means_a_is_better() -> None:
    y = np.array([0, 0, 1, 1, 0, 1, 0, 0])
    a = np.array([0.1, 0.2, 0.8, 0.7, 0.1, 0.9, 0.2, 0.1])
    b = np.full(8, 0.375)
    for metric in ("brier", "log_loss"):
        result = paired_bootstrap(y, a, b, metric=metric, resamples=50, confidence=0.9, seed=0)  # type: ignore[arg-type]
        assert result.a < result.b and result.difference == pytest.approx(result.b - result.a)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"metric": "accuracy"}, "metric"),
        ({"resamples": 0}, "resamples"),
        ({"confidence": 1.0}, "confidence"),
        ({"score_b": np.array([0.1, 0.2])}, "score_b"),
        ({"y": np.array([0, 2, 1])}, "y"),
        ({"score_a": np.array([0.1, np.nan, 0.3])}, "score_a"),
    ],
)
def test_bad_input_names_the_parameter(change: dict[str, object], named: str) -> None:
    arguments: dict[str, object] = {
        "y": np.array([0, 1, 1]),
        "score_a": np.array([0.1, 0.2, 0.3]),
        "score_b": np.array([0.3, 0.2, 0.1]),
        "metric": "roc_auc",
        "resamples": 10,
        "confidence": 0.95,
        "seed": 0,
    }
    arguments.update(change)
    y, a, b = arguments.pop("y"), arguments.pop("score_a"), arguments.pop("score_b")
    with pytest.raises(PairedBootstrapError, match=named):
        paired_bootstrap(y, a, b, **arguments)  # type: ignore[arg-type]
