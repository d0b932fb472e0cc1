"""Paired bootstrap of a metric's difference between two scorings of the same young people.

Two models scored on the same rows are not independent samples: their errors move together,
so the interval of their difference must come from resampling the *rows*, the same rows for
both (a paired bootstrap). That is how the audit asks whether a candidate beats a baseline, or
how much it differs from the champion, with an interval a board can act on.

Each resample draws row numbers with replacement (the ordinary bootstrap); both scorings are
evaluated on the same drawn rows, without copying the data. Ranking metrics tally each
resample's positives and negatives per group of tied scores with one ``bincount``, so ROC AUC
and average precision cost a few passes over the rows. ROC AUC, average precision, Brier score
and log loss of rows counted several times agree with scikit-learn's ``sample_weight``
versions (tested), ties included.

The interval is the percentile interval of the resampled differences: at the audit's sizes
(thousands of rows, tens of outcomes or more) it is the usual choice, and the estimate itself
is the metric difference on the rows as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "HIGHER_IS_BETTER",
    "Metric",
    "PairedBootstrapError",
    "PairedDifference",
    "paired_bootstrap",
    "weighted_metric",
]

Metric = Literal["roc_auc", "average_precision", "brier", "log_loss"]
FloatArray = NDArray[np.float64]
#: Metrics where a larger value is better; for the others the difference is taken the other way.
HIGHER_IS_BETTER: frozenset[str] = frozenset({"roc_auc", "average_precision"})
_EPS = 1e-15
_CHUNK = 32  # resamples drawn and evaluated at once (memory: _CHUNK x rows integers)


@dataclass(frozen=True)
class PairedDifference:
    """How much better scoring ``a`` is than scoring ``b`` on one metric, with an interval.

    ``difference`` is oriented so that a positive value means ``a`` is better: ``a - b`` for
    ROC AUC and average precision, ``b - a`` for Brier score and log loss.
    """

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    confidence: float
    resamples: int
    rows: int
    outcomes: int


class PairedBootstrapError(ValueError):
    """The inputs of a paired bootstrap are not usable (names the parameter)."""


def paired_bootstrap(
    y: NDArray[np.integer] | NDArray[np.floating],
    score_a: NDArray[np.floating],
    score_b: NDArray[np.floating],
    *,
    metric: Metric,
    resamples: int,
    confidence: float,
    seed: int,
) -> PairedDifference:
    """Resample rows with replacement, the same rows for both scorings; see the module doc."""
    labels, a, b = _check(y, score_a, score_b, metric, resamples, confidence)
    evaluate_a = _prepared(metric, labels, a)
    evaluate_b = _prepared(metric, labels, b)
    n = len(labels)
    everyone = np.arange(n)[None, :]
    value_a, value_b = float(evaluate_a(everyone)[0]), float(evaluate_b(everyone)[0])
    sign = 1.0 if metric in HIGHER_IS_BETTER else -1.0
    rng = np.random.default_rng(seed)
    differences: list[FloatArray] = []
    done = 0
    while done < resamples:
        size = min(_CHUNK, resamples - done)
        drawn = rng.integers(0, n, size=(size, n))
        differences.append(sign * (evaluate_a(drawn) - evaluate_b(drawn)))
        done += size
    spread = np.concatenate(differences)
    spread = spread[np.isfinite(spread)]
    tail = (1.0 - confidence) / 2.0
    low, high = (
        (float(np.quantile(spread, tail)), float(np.quantile(spread, 1.0 - tail)))
        if len(spread)
        else (math.nan, math.nan)
    )
    return PairedDifference(
        metric=metric,
        a=value_a,
        b=value_b,
        difference=sign * (value_a - value_b),
        low=low,
        high=high,
        confidence=confidence,
        resamples=resamples,
        rows=n,
        outcomes=int(labels.sum()),
    )


def weighted_metric(
    metric: Metric,
    y: NDArray[np.integer] | NDArray[np.floating],
    score: NDArray[np.floating],
    counts: NDArray[np.integer] | None = None,
) -> float:
    """One metric of one scoring, each row counted ``counts`` times (once when None)."""
    labels, scores, _ = _check(y, score, score, metric, 1, 0.5)
    times = np.ones(len(labels), np.int64) if counts is None else np.asarray(counts)
    if (
        times.shape != labels.shape
        or not np.issubdtype(times.dtype, np.integer)
        or (times < 0).any()
    ):
        raise PairedBootstrapError(
            f"counts: expected {labels.shape[0]} whole numbers >= 0, one per row of y"
        )
    drawn = np.repeat(np.arange(len(labels)), times)[None, :]
    return float(_prepared(metric, labels, scores)(drawn)[0])


# -- the metrics, each prepared once and evaluated on many resamples of row numbers -----------

Evaluator = Callable[[NDArray[np.integer]], FloatArray]


def _prepared(metric: str, y: FloatArray, score: FloatArray) -> Evaluator:
    """The metric as a function of drawn row numbers (one resample per row of the array)."""
    if metric in ("brier", "log_loss"):
        p = np.clip(score, _EPS, 1.0 - _EPS)
        loss = (score - y) ** 2 if metric == "brier" else -(y * np.log(p) + (1 - y) * np.log1p(-p))
        return lambda drawn: loss[drawn].mean(axis=1)
    # rows tied on score form one group; groups are numbered from the highest score down
    unique, inverse = np.unique(-score, return_inverse=True)
    group = inverse.astype(np.int64).ravel()
    groups = len(unique)
    positive = y.astype(bool)

    def tallies(drawn: NDArray[np.integer]) -> tuple[FloatArray, FloatArray]:
        size = drawn.shape[0]
        keys = group[drawn] + (np.arange(size, dtype=np.int64) * groups)[:, None]
        everyone = np.bincount(keys.ravel(), minlength=size * groups)
        hits = np.bincount(keys[positive[drawn]], minlength=size * groups)
        shape = (size, groups)
        return hits.reshape(shape).astype(float), (everyone - hits).reshape(shape).astype(float)

    if metric == "roc_auc":
        return lambda drawn: _roc_auc(*tallies(drawn))
    return lambda drawn: _average_precision(*tallies(drawn))


def _roc_auc(positives: FloatArray, negatives: FloatArray) -> FloatArray:
    """The probability that a positive outscores a negative, ties half (groups high to low)."""
    below = negatives.sum(axis=1, keepdims=True) - np.cumsum(negatives, axis=1)
    wins = (positives * (below + 0.5 * negatives)).sum(axis=1)
    total = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, wins / total, np.nan)


def _average_precision(positives: FloatArray, negatives: FloatArray) -> FloatArray:
    """Sum over thresholds of the recall gained times the precision there (scikit-learn's)."""
    true_positives = np.cumsum(positives, axis=1)
    selected = true_positives + np.cumsum(negatives, axis=1)
    total = true_positives[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(selected > 0, true_positives / selected, 0.0)
        gained = (positives * precision).sum(axis=1)
        return np.where(total > 0, gained / total, np.nan)


def _check(
    y: NDArray[np.integer] | NDArray[np.floating],
    score_a: NDArray[np.floating],
    score_b: NDArray[np.floating],
    metric: str,
    resamples: int,
    confidence: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    if metric not in get_args(Metric):
        raise PairedBootstrapError(f"metric: got {metric!r}; expected one of {get_args(Metric)}")
    labels = np.asarray(y, dtype=np.float64)
    a = np.asarray(score_a, dtype=np.float64)
    b = np.asarray(score_b, dtype=np.float64)
    if labels.ndim != 1 or len(labels) == 0:
        raise PairedBootstrapError("y: expected a non-empty one-dimensional array of 0 and 1")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise PairedBootstrapError("y: expected 0 or 1 in every row")
    for name, values in (("score_a", a), ("score_b", b)):
        if values.shape != labels.shape:
            raise PairedBootstrapError(
                f"{name}: expected {labels.shape[0]} scores, one per row of y; got {values.shape}"
            )
        if not np.isfinite(values).all():
            raise PairedBootstrapError(f"{name}: expected finite scores in every row")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise PairedBootstrapError(f"resamples: expected a whole number >= 1, got {resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise PairedBootstrapError(
            f"confidence: expected a number between 0 and 1, got {confidence!r}"
        )
    return labels, a, b
