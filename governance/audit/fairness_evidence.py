"""How sure the fairness figures are: exact intervals for rates, a permutation null for gaps.

Issue 17 found the fairness section printing a true positive rate of 0 of 5 as "0.0%
(0.0–0.0%)" (a bootstrap that redraws a cell of 0 can only draw 0) and a gate failing a
perfectly fair model nearly every time at the demo's group sizes. This module holds the two
statistics that replace the bootstrap; both are functions of the confusion counts only.

Exact intervals (:func:`exact_interval`)
    Every group rate (selection rate, true and false positive rates, false negative rate,
    precision) is a count of successes out of a count of trials, so it gets the
    Clopper–Pearson interval from the beta distribution. It is chosen over Jeffreys' because
    its coverage is at least the stated level at every count (Jeffreys' averages the level
    but falls below it at some counts), and a board deciding on a small group should not be
    told more certainty than the data give. 0 of 5 is [0, 0.52], 5 of 5 [0.48, 1].

Permutation null (:func:`equalized_odds_null`)
    Under equalized odds, whether a young person is selected does not depend on their group
    once their outcome is known. So the null distribution of a dimension's gap is that of
    the gap after shuffling group labels among those with the outcome, and separately among
    those without it. Shuffling keeps every group's count of outcomes and non-outcomes and
    the number selected in each outcome class; the selected among those with the outcome
    then fall to the groups as a multivariate hypergeometric draw (likewise those without),
    so each replicate is drawn from the counts directly, in time independent of the rows.
    The draws are made at the finest grouping (every sensitive column together) and summed
    to each dimension, so every dimension sees the same shuffle. The p-value is the share
    of replicates with a gap at least the observed one, counting the observed as one
    (``(1 + k) / (1 + B)``), so it is never 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.audit.arithmetic import divide
from governance.audit.arrays import BoolArray, FloatArray, IntArray
from governance.contracts.errors import AuditInputError

__all__ = [
    "INTERVAL_METHOD",
    "NULL_METHOD",
    "equalized_odds_null",
    "exact_interval",
    "judged_rates",
]

INTERVAL_METHOD = "exact (Clopper–Pearson) binomial intervals for every group rate"
NULL_METHOD = (
    "permutation null of each equalized-odds gap: group labels shuffled among those with the "
    "outcome and among those without, {permutations} replicates"
)
#: Gaps within this of the observed one count as "at least as large" (floating-point ties).
_TIE = 1e-12

_BAD_CONFIDENCE = "'confidence' must be between 0 and 1 (got {0!r})"
_BAD_COUNTS = "'successes' must lie between 0 and 'trials' ({0} of the counts do not)"
_BAD_PERMUTATIONS = "'permutations' must be at least 1 (got {0!r})"


def exact_interval(
    successes: IntArray, trials: IntArray, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """The Clopper–Pearson interval of ``successes`` out of ``trials``, elementwise.

    Parameters
    ----------
    successes, trials : numpy.ndarray of int
        Matching shapes; ``0 <= successes <= trials``.
    confidence : float
        Two-sided coverage, in (0, 1).

    Returns
    -------
    (low, high) : numpy.ndarray of float
        NaN where ``trials`` is 0 (the rate is undefined). The lower bound is 0 at 0
        successes and the upper bound 1 at ``trials`` successes, as the exact interval is.

    Raises
    ------
    AuditInputError
        If `confidence` is not in (0, 1) or a count lies outside ``[0, trials]``.
    """
    from scipy.stats import beta

    if not 0 < confidence < 1:
        raise AuditInputError(_BAD_CONFIDENCE.format(confidence))
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    bad = int(np.count_nonzero((k < 0) | (k > n)))
    if bad:
        raise AuditInputError(_BAD_COUNTS.format(bad))
    tail = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k > 0, beta.ppf(tail, np.maximum(k, 1), n - k + 1), 0.0)
        high = np.where(k < n, beta.ppf(1.0 - tail, k + 1, np.maximum(n - k, 1)), 1.0)
    empty = n == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def judged_rates(
    n: IntArray, positives: IntArray, min_group_size: int, min_outcomes: int
) -> tuple[BoolArray, BoolArray]:
    """Which groups' true and false positive rates are judged (enter a gap).

    A rate is judged only when its denominator holds at least ``min_outcomes`` people: the
    true positive rate needs that many young people with the outcome, the false positive
    rate that many without it; and the group needs ``min_group_size`` people. Below that,
    the exact interval of the rate is too wide for a gap to say anything (0 of 5 is
    [0, 0.52]), so the rate is shown with its counts and left out of the gap.
    """
    big = np.asarray(n) >= min_group_size
    negatives = np.asarray(n) - np.asarray(positives)
    return (
        np.asarray(big & (np.asarray(positives) >= min_outcomes), dtype=np.bool_),
        np.asarray(big & (negatives >= min_outcomes), dtype=np.bool_),
    )


def equalized_odds_null(
    joint: pd.DataFrame,
    members: dict[str, IntArray],
    *,
    min_group_size: int,
    min_outcomes: int,
    permutations: int,
    seed: int,
) -> dict[str, float | None]:
    """Each dimension's permutation p-value for its equalized-odds gap.

    Parameters
    ----------
    joint : pandas.DataFrame
        The finest groups' confusion cells, columns ``tp``, ``fp``, ``fn``, ``tn`` (one row
        per combination of every sensitive column).
    members : dict
        Per dimension, the index of its group for each row of `joint`.
    min_group_size, min_outcomes : int
        Which rates enter a gap (:func:`judged_rates`); they depend only on counts the
        shuffle keeps, so every replicate judges the same rates as the observed gap.
    permutations : int
        Replicates of the null (at least 1).
    seed : int
        Seed; the same seed gives the same p-values.

    Returns
    -------
    dict
        ``{dimension: p-value or None}``.
    """
    if permutations < 1:
        raise AuditInputError(_BAD_PERMUTATIONS.format(permutations))
    tp, fp, fn, tn = (joint[c].to_numpy(np.int64) for c in ("tp", "fp", "fn", "tn"))
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    # each replicate's selected among those with (and without) the outcome, per finest group
    tp_null = rng.multivariate_hypergeometric(tp + fn, int(tp.sum()), size=permutations)
    fp_null = rng.multivariate_hypergeometric(fp + tn, int(fp.sum()), size=permutations)
    result: dict[str, float | None] = {}
    for dimension, index in members.items():
        size = int(index.max()) + 1
        onehot = np.zeros((len(index), size))
        onehot[np.arange(len(index)), index] = 1.0
        positives, negatives = (tp + fn) @ onehot, (fp + tn) @ onehot
        tpr_judged, fpr_judged = judged_rates(
            positives + negatives, positives, min_group_size, min_outcomes
        )
        observed = _gap(
            divide(tp @ onehot, positives), divide(fp @ onehot, negatives), tpr_judged, fpr_judged
        )
        if np.isnan(observed[0]):
            result[dimension] = None
            continue
        replicates = _gap(
            divide(tp_null @ onehot, positives),
            divide(fp_null @ onehot, negatives),
            tpr_judged,
            fpr_judged,
        )
        exceed = int(np.count_nonzero(replicates >= observed[0] - _TIE))
        result[dimension] = (1 + exceed) / (1 + permutations)
    return result


def _gap(
    tpr: FloatArray, fpr: FloatArray, tpr_judged: BoolArray, fpr_judged: BoolArray
) -> FloatArray:
    """The larger of the judged TPR and FPR ranges per row (replicate); NaN if neither."""
    tpr, fpr = np.atleast_2d(tpr), np.atleast_2d(fpr)
    return np.asarray(np.fmax(_range(tpr, tpr_judged), _range(fpr, fpr_judged)))


def _range(rates: FloatArray, judged: BoolArray) -> FloatArray:
    """Max minus min over the judged groups per replicate; NaN with fewer than two."""
    if np.count_nonzero(judged) < 2:
        return np.full(rates.shape[0], np.nan)
    chosen = rates[:, judged]
    return np.asarray(chosen.max(axis=1) - chosen.min(axis=1))
