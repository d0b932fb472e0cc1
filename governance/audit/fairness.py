"""Group fairness of a binary decision: counts, rates, disparities and their uncertainty.

A *dimension* is one sensitive column (``sex``) or an intersection of several
(``sex × ethnicity``); a *group* is one value of a dimension (``female``, ``female × Black``).
A missing value is a group of its own, ``"not recorded"``. Which intersections are reported is
chosen by the caller (:func:`chosen_intersections`): by default only the one of all the
columns; the model audit asks for every pair as well (its settings' ``intersections``), since
the three-way cells are mostly too small to read.

Everything is computed from each group's four confusion cells (true positives, false
positives, false negatives, true negatives), which are counted from the rows once, by
:func:`group_counts`. After that nothing touches a row: rates and disparities
(:func:`group_metrics`), exact intervals of the rates (:func:`exact_intervals`) and the
permutation p-value of each gap (:func:`gap_p_values`, drawn from the counts) are functions of
the counts. The one exception is the ROC AUC within each group, which needs the scores; it is
computed with one grouped rank per dimension. :func:`bootstrap_intervals` (which resamples the
cells) is kept for callers, but the audit no longer uses it: a bootstrap of a cell of 0 can only
draw 0 (0 of 5 came out as [0, 0]) and the percentile interval of a max−min gap is biased
upward (see :mod:`governance.audit.fairness_evidence`).
:func:`audit_scored_table` is the entry point for any scored table; what it returns holds
aggregates only and is ready for :func:`json.dumps`.

Small groups are flagged (``too_small``), never hidden, and are left out of the summary
disparities. A group's true (false) positive rate is *judged*, and enters the equalized odds
difference, only with ``min_outcomes`` people with (without) the outcome; others are shown
with their counts and flagged ``tpr_judged`` / ``fpr_judged`` false. A group below ``withhold_below`` rows (statistical disclosure control, as for a
release: an outcome rate of a group of two says something about each of them) keeps its row,
count and flags, with ``withheld`` set and every rate, interval and gap ``None``.

Differences and ratios are taken against a *reference* group: the largest recorded group that
is not too small (ties go to the first in sort order). The largest group is chosen over the
"best-off" one because it is stable from one run to the next; the equalized odds and
demographic parity differences do not depend on the choice.

A rate whose denominator is zero (the true positive rate of a group with no positives, the
precision of a group with no one selected) is undefined and reported as ``None``, not 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from governance.audit.aequitas import aequitas_by_dimension
from governance.audit.arithmetic import divide, float_or_none
from governance.audit.arrays import BoolArray, FloatArray, IntArray, Json
from governance.audit.fairness_evidence import (
    INTERVAL_METHOD,
    NULL_METHOD,
    equalized_odds_null,
    exact_interval,
    judged_rates,
)
from governance.contracts.errors import AuditInputError

__all__ = [
    "CELLS",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_MIN_GROUP_SIZE",
    "DEFAULT_MIN_OUTCOMES",
    "DEFAULT_PERMUTATIONS",
    "INTERSECTION_SEPARATOR",
    "MIN_POSITIVES",
    "NOT_RECORDED",
    "RATES",
    "AuditInputError",
    "audit_scored_table",
    "bootstrap_intervals",
    "chosen_intersections",
    "exact_intervals",
    "gap_p_values",
    "group_counts",
    "group_metrics",
    "select",
]


NOT_RECORDED = "not recorded"
INTERSECTION_SEPARATOR = " × "
DIMENSION, GROUP = "dimension", "group"
CELLS: tuple[str, ...] = ("tp", "fp", "fn", "tn")
COUNT_COLUMNS: tuple[str, ...] = ("n", "positives", *CELLS)
RATES: tuple[str, ...] = ("selection_rate", "tpr", "fpr", "fnr", "precision")
GROUP_METRICS: tuple[str, ...] = ("base_rate", *RATES)
MIN_POSITIVES = 5
DEFAULT_MIN_GROUP_SIZE = 30
#: As ``gates.min_outcomes``, ``audit.permutations`` and ``gates.gate_confidence`` default.
DEFAULT_MIN_OUTCOMES = 30
DEFAULT_PERMUTATIONS = 2000
DEFAULT_CONFIDENCE = 0.95

_MISSING_COLUMN = "Column {column!r} ({role}) is not in the table; its columns are {available}"
_EMPTY_TABLE = "The table has no rows; there is nothing to audit"
_NO_SENSITIVE = "Give at least one sensitive column (got {0!r})"
_DUPLICATE_SENSITIVE = "Sensitive columns must be distinct (got {0!r})"
_NOT_BINARY_LABEL = "Column {0!r} (label) must hold only 0 and 1; {1} of {2} values are not 0 or 1"
_NOT_NUMERIC_SCORE = "Column {0!r} (score) must be numeric; its dtype is {1}"
_NOT_FINITE_SCORE = "Column {0!r} (score) has {1} missing or infinite values of {2}"
_NOT_BINARY = "'{0}' must hold only 0 and 1; {1} of {2} values are not 0 or 1"
_BAD_LENGTH = "'{0}' must be one-dimensional with one value per row of groups ({1}); got shape {2}"
_NO_GROUPS = "'groups' must have at least one column and one row; got shape {0}"
_DUPLICATE_GROUP_COLUMNS = "'groups' has duplicate column names: {0}"
_NOT_FINITE = "'scores' has {0} missing or infinite values of {1}"
_ONE_OPERATING_POINT = (
    "Give exactly one of 'threshold' and 'top_fraction' (got threshold={0!r}, top_fraction={1!r})"
)
_BAD_THRESHOLD = "'threshold' must be a finite number (got {0!r})"
_BAD_TOP_FRACTION = "'top_fraction' must be greater than 0 and at most 1 (got {0!r})"
_AUC_INPUTS = "Give all of 'scores', 'y_true' and 'groups' for ROC AUC, or none of them"
_BAD_COUNTS = "'counts' must be the output of group_counts; missing columns {0}"
_EMPTY_GROUP = "'counts' has groups with n = 0 in dimension {0!r}"
_BAD_N_BOOT = "'n_boot' must be at least 1 (got {0!r})"
_BAD_LEVEL = "'level' must be between 0 and 1 (got {0!r})"
_BAD_INTERSECTION = "Intersection {0!r} must name two or more distinct sensitive columns of {1!r}"

Intersections = Sequence[Sequence[str]]


# --------------------------------------------------------------------------------------------
# counts


def group_counts(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: pd.DataFrame,
    intersections: Intersections | None = None,
) -> pd.DataFrame:
    """Count each group's outcomes and confusion cells, per sensitive column and intersection.

    The rows are grouped once, by all sensitive columns together; each single column's
    counts are sums over that (small) joint table.

    Parameters
    ----------
    y_true : array-like of 0/1 or bool
        Observed outcome, one per row of `groups`.
    y_pred : array-like of 0/1 or bool
        Decision (1 = selected), one per row of `groups`.
    groups : pandas.DataFrame
        The sensitive columns, aligned with the rows by position. Missing values become the
        group ``"not recorded"``.
    intersections : sequence of sequences of str, optional
        The intersections to count (see :func:`chosen_intersections`); by default the one
        of all the columns.

    Returns
    -------
    pandas.DataFrame
        One row per dimension and group with columns ``dimension``, ``group``, ``n``,
        ``positives`` (y = 1), ``tp``, ``fp``, ``fn`` and ``tn``. Dimensions follow the column
        order, then the intersections in the order given (an intersection's counts add up
        to every row); groups are sorted within each dimension.

    Raises
    ------
    AuditInputError
        If `groups` is empty, `y_true` or `y_pred` is not 0/1 or has the wrong length, or an
        intersection does not name two or more of the columns.
    """
    keys, joint = _joint(y_true, y_pred, groups)
    columns = list(keys.columns)
    pieces = []
    for column in columns:
        marginal = joint.groupby(keys[column].to_numpy(), sort=True).sum()
        pieces.append(_long_counts(column, marginal.index.to_numpy(), marginal))
    for combination in chosen_intersections(columns, intersections):
        cells_of = joint.groupby([keys[c].to_numpy() for c in combination], sort=True).sum()
        index = cells_of.index
        parts = [index.get_level_values(i).to_numpy(dtype=object) for i in range(index.nlevels)]
        pieces.append(
            _long_counts(INTERSECTION_SEPARATOR.join(combination), _join(parts), cells_of)
        )
    return pd.concat(pieces, ignore_index=True)


def _joint(
    y_true: ArrayLike, y_pred: ArrayLike, groups: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The finest groups (every sensitive column together): their labels and their cells.

    Returns the labels (one column per sensitive column, sorted) and the four confusion
    cells of each combination present, row for row.
    """
    labels = _labels(groups)
    y = _binary(y_true, "y_true", len(groups))
    p = _binary(y_pred, "y_pred", len(groups))
    cells = pd.DataFrame({"tp": y & p, "fp": ~y & p, "fn": y & ~p, "tn": ~y & ~p}).astype(np.int64)
    columns = list(labels)
    key_names = [f"_key{i}" for i in range(len(columns))]  # cannot clash with a cell name
    keyed = cells.assign(**dict(zip(key_names, labels.values(), strict=True)))
    joint = keyed.groupby(key_names, sort=True).sum()
    keys = joint.index.to_frame(index=False)
    keys.columns = pd.Index(columns)
    return keys, joint.reset_index(drop=True)


def chosen_intersections(
    columns: Sequence[str], intersections: Intersections | None = None
) -> list[tuple[str, ...]]:
    """The intersections to report: as given, checked, or by default all the columns together.

    Parameters
    ----------
    columns : sequence of str
        The sensitive columns.
    intersections : sequence of sequences of str, optional
        Each a combination of two or more distinct columns, e.g. ``[["sex", "ethnicity"]]``;
        ``None`` is the one intersection of all the columns (none with a single column).

    Raises
    ------
    AuditInputError
        If an intersection names a column that is not sensitive, one twice, or fewer than two.
    """
    names = [str(c) for c in columns]
    if intersections is None:
        return [tuple(names)] if len(names) > 1 else []
    chosen = []
    for combination in intersections:
        parts = tuple(str(c) for c in combination)
        if len(parts) < 2 or len(set(parts)) != len(parts) or not set(parts) <= set(names):
            raise AuditInputError(_BAD_INTERSECTION.format(list(parts), names))
        chosen.append(parts)
    return chosen


def _long_counts(dimension: str, names: NDArray[Any], cells: pd.DataFrame) -> pd.DataFrame:
    tp, fp, fn, tn = (cells[c].to_numpy(np.int64) for c in CELLS)
    return pd.DataFrame(
        {
            DIMENSION: dimension,
            GROUP: [str(name) for name in names],
            "n": tp + fp + fn + tn,
            "positives": tp + fn,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": tn,
        }
    )


def _labels(groups: pd.DataFrame) -> dict[str, NDArray[np.object_]]:
    """Each sensitive column as text labels, with missing values as ``"not recorded"``."""
    if groups.shape[0] == 0 or groups.shape[1] == 0:
        raise AuditInputError(_NO_GROUPS.format(groups.shape))
    names = [str(c) for c in groups.columns]
    if len(set(names)) != len(names):
        raise AuditInputError(_DUPLICATE_GROUP_COLUMNS.format(sorted(names)))
    labels = {}
    for name, (_, column) in zip(names, groups.items(), strict=True):
        if pd.api.types.is_float_dtype(column.dtype):
            present = column.dropna().to_numpy(dtype=float)
            if np.isfinite(present).all() and (present == np.floor(present)).all():
                column = column.astype("Int64")  # a quintile 3.0 (float because of NaN) is "3"
        text = column.astype("string").fillna(NOT_RECORDED)
        labels[name] = text.to_numpy(dtype=object)
    return labels


def _join(parts: list[NDArray[Any]]) -> NDArray[np.object_]:
    """The intersection label of each row (or key), e.g. ``"female × Black"``."""
    joined = pd.Series(parts[0], dtype="string")
    for part in parts[1:]:
        joined = joined + INTERSECTION_SEPARATOR + pd.Series(part, dtype="string")
    return joined.to_numpy(dtype=object)


def _dimension_keys(
    groups: pd.DataFrame, dimensions: Sequence[str] | None = None
) -> dict[str, NDArray[np.object_]]:
    """Row-level group label for every dimension that :func:`group_counts` reports.

    ``dimensions`` are the names in the counts (an intersection's name is its columns joined
    by the separator); by default the columns and their full intersection.
    """
    singles = _labels(groups)
    if dimensions is None:
        combos = chosen_intersections(list(singles))
        dimensions = [*singles, *(INTERSECTION_SEPARATOR.join(c) for c in combos)]
    return {
        d: singles[d]
        if d in singles
        else _join([singles[c] for c in d.split(INTERSECTION_SEPARATOR)])
        for d in dimensions
    }


def _binary(values: ArrayLike, name: str, n: int) -> BoolArray:
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] != n:
        raise AuditInputError(_BAD_LENGTH.format(name, n, array.shape))
    if array.dtype == np.bool_:
        return array.astype(np.bool_)
    bad = int(np.count_nonzero(~np.isin(array, [0, 1])))
    if bad:
        raise AuditInputError(_NOT_BINARY.format(name, bad, n))
    return np.asarray(array == 1, dtype=np.bool_)


# --------------------------------------------------------------------------------------------
# metrics


def group_metrics(
    counts: pd.DataFrame,
    *,
    scores: ArrayLike | None = None,
    y_true: ArrayLike | None = None,
    groups: pd.DataFrame | None = None,
    min_group_size: int,
    min_outcomes: int = DEFAULT_MIN_OUTCOMES,
) -> dict[str, Json]:
    """Rates, disparities against a reference group and summary disparities, per dimension.

    Parameters
    ----------
    counts : pandas.DataFrame
        The output of :func:`group_counts`.
    scores, y_true, groups : array-like, array-like, pandas.DataFrame, optional
        The rows' scores, outcomes and sensitive columns, all three or none. Only the ROC AUC
        within each group needs them; without them ``roc_auc`` is ``None``.
    min_group_size : int
        A group with fewer rows, or with fewer than :data:`MIN_POSITIVES` positives, is
        ``too_small``: reported and flagged, but neither a reference nor part of the
        demographic parity difference.
    min_outcomes : int, default 30
        A group's true positive rate is *judged* (enters the equalized odds difference)
        only with at least this many people with the outcome, its false positive rate only
        with this many without (and ``min_group_size`` people): see
        :func:`governance.audit.fairness_evidence.judged_rates`.

    Returns
    -------
    dict
        ``{dimension: {"reference", "equalized_odds_difference", "true_positive_rate_gap",
        "false_positive_rate_gap", "demographic_parity_difference", "groups": {group:
        {...}}}}``. Each group has ``count``, ``outcomes``, ``base_rate``,
        ``selection_rate``, ``tpr``, ``fpr``, ``fnr``, ``precision``, ``roc_auc``,
        ``too_small``, ``tpr_judged``, ``fpr_judged``, and ``difference`` and ``ratio``
        (group against reference) for each of :data:`RATES`. The true (false) positive rate
        gap is the range of the judged TPRs (FPRs); the equalized odds difference is the
        larger of the two (as Fairlearn's ``equalized_odds_difference`` when every rate is
        judged); the demographic parity difference the range of selection rates over the
        groups not too small. Each is ``None`` with fewer than two groups to compare. All
        values are plain Python numbers, ``None`` where undefined.

    Raises
    ------
    AuditInputError
        If `counts` lacks columns or has an empty group, or only some of `scores`, `y_true`
        and `groups` are given.
    """
    _check_counts(counts)
    auc = _group_auc(scores, y_true, groups, [d for d, _ in _by_dimension(counts)])
    result: dict[str, Json] = {}
    for dimension, table in _by_dimension(counts):
        cells = _cells(table)
        rates = _rates(*cells)
        small = _too_small(table, min_group_size)
        n, positives = (table[c].to_numpy(np.int64) for c in ("n", "positives"))
        tpr_judged, fpr_judged = judged_rates(n, positives, min_group_size, min_outcomes)
        names = table[GROUP].astype(str).tolist()
        ref = _reference(names, table["n"].to_numpy(np.int64), small)
        aucs = auc.get(dimension, {}) if auc is not None else {}
        members: Json = {}
        for i, name in enumerate(names):
            members[name] = {
                "count": int(n[i]),
                "outcomes": int(positives[i]),
                **{metric: float_or_none(rates[metric][i]) for metric in GROUP_METRICS},
                "roc_auc": aucs.get(name),
                "too_small": bool(small[i]),
                "tpr_judged": bool(tpr_judged[i]),
                "fpr_judged": bool(fpr_judged[i]),
                "difference": {m: _difference(rates[m], i, ref) for m in RATES},
                "ratio": {m: _ratio_to(rates[m], i, ref) for m in RATES},
            }
        tpr_gap = _spread(rates["tpr"][None, :], tpr_judged)[0]
        fpr_gap = _spread(rates["fpr"][None, :], fpr_judged)[0]
        result[dimension] = {
            "reference": None if ref is None else names[ref],
            "equalized_odds_difference": float_or_none(np.fmax(tpr_gap, fpr_gap)),
            "true_positive_rate_gap": float_or_none(tpr_gap),
            "false_positive_rate_gap": float_or_none(fpr_gap),
            "demographic_parity_difference": float_or_none(
                _spread(rates["selection_rate"][None, :], ~small)[0]
            ),
            "groups": members,
        }
    return result


def _check_counts(counts: pd.DataFrame) -> None:
    missing = [c for c in (DIMENSION, GROUP, *COUNT_COLUMNS) if c not in counts.columns]
    if missing:
        raise AuditInputError(_BAD_COUNTS.format(missing))
    empty = counts.loc[counts["n"] <= 0, DIMENSION]
    if len(empty):
        raise AuditInputError(_EMPTY_GROUP.format(str(empty.iloc[0])))


def _by_dimension(counts: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Each dimension's rows of `counts`, in their order of appearance."""
    return [
        (str(dimension), table.reset_index(drop=True))
        for dimension, table in counts.groupby(DIMENSION, sort=False)
    ]


def _cells(table: pd.DataFrame) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    tp, fp, fn, tn = (table[c].to_numpy(np.int64) for c in CELLS)
    return tp, fp, fn, tn


def _too_small(table: pd.DataFrame, min_group_size: int) -> BoolArray:
    n = table["n"].to_numpy(np.int64)
    positives = table["positives"].to_numpy(np.int64)
    return np.asarray((n < min_group_size) | (positives < MIN_POSITIVES), dtype=np.bool_)


def _rates(tp: IntArray, fp: IntArray, fn: IntArray, tn: IntArray) -> dict[str, FloatArray]:
    """Every group rate from the confusion cells; works on any (matching) array shape."""
    return {
        "base_rate": divide(tp + fn, tp + fp + fn + tn),
        "selection_rate": divide(tp + fp, tp + fp + fn + tn),
        "tpr": divide(tp, tp + fn),
        "fpr": divide(fp, fp + tn),
        "fnr": divide(fn, tp + fn),
        "precision": divide(tp, tp + fp),
    }


def _reference(names: list[str], n: IntArray, small: BoolArray) -> int | None:
    """Index of the largest recorded group that is not too small (first on ties)."""
    candidates = ~small & (np.asarray(names, dtype=object) != NOT_RECORDED)
    if not candidates.any():
        return None
    return int(np.argmax(np.where(candidates, n, -1)))


def _difference(values: FloatArray, i: int, ref: int | None) -> float | None:
    return None if ref is None else float_or_none(values[i] - values[ref])


def _ratio_to(values: FloatArray, i: int, ref: int | None) -> float | None:
    return None if ref is None else float_or_none(divide(values[i], values[ref]).item())


def _spread(values: FloatArray, eligible: BoolArray) -> FloatArray:
    """Max minus min over the eligible groups (axis 1), ignoring NaN; NaN with < 2 groups."""
    if np.count_nonzero(eligible) < 2:
        return np.full(values.shape[0], np.nan)
    chosen = values[:, eligible]
    return np.asarray(np.fmax.reduce(chosen, axis=1) - np.fmin.reduce(chosen, axis=1))


def _equalized_odds(tpr: FloatArray, fpr: FloatArray, eligible: BoolArray) -> FloatArray:
    """The larger of the TPR and FPR ranges, per row (bootstrap replicate)."""
    return np.asarray(np.fmax(_spread(tpr, eligible), _spread(fpr, eligible)))


def _group_auc(
    scores: ArrayLike | None,
    y_true: ArrayLike | None,
    groups: pd.DataFrame | None,
    dimensions: Sequence[str] | None = None,
) -> dict[str, dict[str, float | None]] | None:
    """ROC AUC within every group (Mann-Whitney with mid-ranks, as scikit-learn's)."""
    if scores is None and y_true is None and groups is None:
        return None
    if scores is None or y_true is None or groups is None:
        raise AuditInputError(_AUC_INPUTS)
    s = _finite_scores(scores, len(groups))
    y = _binary(y_true, "y_true", len(groups)).astype(np.float64)
    result: dict[str, dict[str, float | None]] = {}
    for dimension, key in _dimension_keys(groups, dimensions).items():
        codes, names = pd.factorize(key)
        size = len(names)
        ranks = pd.Series(s).groupby(codes).rank(method="average").to_numpy(np.float64)
        n = np.bincount(codes, minlength=size).astype(np.float64)
        n1 = np.bincount(codes, weights=y, minlength=size)
        rank_sum = np.bincount(codes, weights=ranks * y, minlength=size)
        auc = divide(rank_sum - n1 * (n1 + 1) / 2, n1 * (n - n1))
        result[dimension] = {
            str(name): float_or_none(a) for name, a in zip(names, auc, strict=True)
        }
    return result


# --------------------------------------------------------------------------------------------
# bootstrap


def bootstrap_intervals(
    counts: pd.DataFrame,
    *,
    n_boot: int,
    seed: int,
    level: float = 0.95,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> dict[str, Json]:
    """Percentile intervals for each group's rates and each dimension's equalized odds.

    Each replicate redraws every group's four confusion cells from a multinomial with the
    group's size and observed cell proportions; the rows are never resampled. One
    ``multinomial`` call draws all groups and replicates of a dimension.

    Parameters
    ----------
    counts : pandas.DataFrame
        The output of :func:`group_counts`.
    n_boot : int
        Number of bootstrap replicates (at least 1).
    seed : int
        Seed; the same seed gives the same intervals. Each dimension has its own stream.
    level : float, default 0.95
        Confidence level of the two-sided percentile intervals.
    min_group_size : int, default 30
        As in :func:`group_metrics`: the equalized odds difference is taken over the groups
        that are not too small in the observed counts.

    Returns
    -------
    dict
        ``{dimension: {"groups": {group: {metric: [lo, hi]}}, "equalized_odds_difference":
        [lo, hi] or None}}`` for each metric of :data:`RATES`. A bound is ``None`` when the
        metric is undefined in every replicate; replicates where it is undefined (a draw with
        no positives, say) are left out.

    Raises
    ------
    AuditInputError
        If `counts` is malformed, `n_boot` < 1 or `level` is not in (0, 1).
    """
    _check_counts(counts)
    if n_boot < 1:
        raise AuditInputError(_BAD_N_BOOT.format(n_boot))
    if not 0 < level < 1:
        raise AuditInputError(_BAD_LEVEL.format(level))
    tails = ((1 - level) / 2, (1 + level) / 2)
    dimensions = _by_dimension(counts)
    streams = np.random.SeedSequence(seed).spawn(len(dimensions))
    result: dict[str, Json] = {}
    for (dimension, table), stream in zip(dimensions, streams, strict=True):
        cells = table[list(CELLS)].to_numpy(np.int64)
        n = cells.sum(axis=1)
        draws = np.random.default_rng(stream).multinomial(
            n, cells / n[:, None], size=(n_boot, len(n))
        )
        rates = _rates(draws[..., 0], draws[..., 1], draws[..., 2], draws[..., 3])
        bounds = {metric: _quantiles(rates[metric], tails) for metric in RATES}
        eligible = ~_too_small(table, min_group_size)
        eod = None
        if np.count_nonzero(eligible) >= 2:
            replicates = _equalized_odds(rates["tpr"], rates["fpr"], eligible)
            eod = _interval(_quantiles(replicates[:, None], tails)[:, 0])
        names = table[GROUP].astype(str).tolist()
        result[dimension] = {
            "groups": {
                name: {metric: _interval(bounds[metric][:, i]) for metric in RATES}
                for i, name in enumerate(names)
            },
            "equalized_odds_difference": eod,
        }
    return result


def _quantiles(values: FloatArray, tails: tuple[float, float]) -> FloatArray:
    """Quantiles over axis 0 ignoring NaN (linear, as numpy's default); NaN if no value.

    ``numpy.nanquantile`` would do, but it warns on a column with no value at all.
    """
    ordered = np.sort(values, axis=0)  # NaN sorts last
    valid = np.count_nonzero(~np.isnan(values), axis=0)
    out = np.full((len(tails), values.shape[1]), np.nan)
    for i, tail in enumerate(tails):
        position = tail * (valid - 1)
        below = np.clip(np.floor(position), 0, None).astype(np.intp)
        above = np.clip(np.ceil(position), 0, None).astype(np.intp)
        low = np.take_along_axis(ordered, below[None, :], axis=0)[0]
        high = np.take_along_axis(ordered, above[None, :], axis=0)[0]
        out[i] = np.where(valid > 0, low + (high - low) * (position - np.floor(position)), np.nan)
    return out


def _interval(bounds: FloatArray) -> list[float | None]:
    return [float_or_none(bounds[0]), float_or_none(bounds[1])]


# --------------------------------------------------------------------------------------------
# exact intervals and the permutation null


def exact_intervals(counts: pd.DataFrame, *, confidence: float) -> dict[str, Json]:
    """The exact (Clopper–Pearson) interval of every group rate, from the counts alone.

    Parameters
    ----------
    counts : pandas.DataFrame
        The output of :func:`group_counts`.
    confidence : float
        Two-sided coverage, in (0, 1).

    Returns
    -------
    dict
        ``{dimension: {group: {metric: [low, high]}}}`` for each metric of :data:`RATES`;
        ``[None, None]`` where the rate is undefined (no one in its denominator). Valid at
        any count, unlike a bootstrap of the cells: 0 of 5 is [0, 0.52], not [0, 0].
    """
    _check_counts(counts)
    result: dict[str, Json] = {}
    for dimension, table in _by_dimension(counts):
        tp, fp, fn, tn = _cells(table)
        fractions = {
            "selection_rate": (tp + fp, tp + fp + fn + tn),
            "tpr": (tp, tp + fn),
            "fpr": (fp, fp + tn),
            "fnr": (fn, tp + fn),
            "precision": (tp, tp + fp),
        }
        bounds = {m: exact_interval(k, n, confidence) for m, (k, n) in fractions.items()}
        result[dimension] = {
            str(name): {m: _interval(np.array([lo[i], hi[i]])) for m, (lo, hi) in bounds.items()}
            for i, name in enumerate(table[GROUP])
        }
    return result


def gap_p_values(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: pd.DataFrame,
    *,
    min_group_size: int,
    min_outcomes: int,
    permutations: int,
    seed: int,
) -> dict[str, float | None]:
    """Each dimension's permutation p-value for its equalized odds difference.

    How likely a gap at least as large is if the decision, given the outcome, did not depend
    on the group (:func:`governance.audit.fairness_evidence.equalized_odds_null`). None
    where the gap is None (fewer than two rates judged).

    Parameters
    ----------
    y_true, y_pred, groups
        As :func:`group_counts`.
    min_group_size, min_outcomes : int
        As :func:`group_metrics`: the same rates are judged in the null as in the gap.
    permutations : int
        Replicates of the null.
    seed : int
        Seed; the same seed gives the same p-values.
    """
    keys, joint = _joint(y_true, y_pred, groups)
    members = {str(c): pd.factorize(keys[c], sort=True)[0].astype(np.intp) for c in keys.columns}
    if keys.shape[1] > 1:
        members[INTERSECTION_SEPARATOR.join(str(c) for c in keys.columns)] = np.arange(
            len(keys), dtype=np.intp
        )
    return equalized_odds_null(
        joint,
        members,
        min_group_size=min_group_size,
        min_outcomes=min_outcomes,
        permutations=permutations,
        seed=seed,
    )


# --------------------------------------------------------------------------------------------
# decision and the table-level entry point


def select(
    scores: ArrayLike, *, threshold: float | None = None, top_fraction: float | None = None
) -> BoolArray:
    """Turn scores into a decision: at or above a threshold, or the top fraction.

    Parameters
    ----------
    scores : array-like of float
        One finite score per row.
    threshold : float, optional
        Select every row whose score is at least this.
    top_fraction : float, optional
        Select this fraction of rows (rounded to the nearest whole row, halves up) with the
        highest scores; among equal scores the earlier row is selected first.

    Returns
    -------
    numpy.ndarray of bool
        True for each selected row.

    Raises
    ------
    AuditInputError
        Unless exactly one of `threshold` and `top_fraction` is given and valid, or if a
        score is missing or infinite.
    """
    if (threshold is None) == (top_fraction is None):
        raise AuditInputError(_ONE_OPERATING_POINT.format(threshold, top_fraction))
    s = _finite_scores(scores, None)
    if threshold is not None:
        if not math.isfinite(threshold):
            raise AuditInputError(_BAD_THRESHOLD.format(threshold))
        return np.asarray(s >= threshold, dtype=np.bool_)
    fraction = float(top_fraction) if top_fraction is not None else math.nan
    if not (math.isfinite(fraction) and 0 < fraction <= 1):
        raise AuditInputError(_BAD_TOP_FRACTION.format(top_fraction))
    k = math.floor(fraction * len(s) + 0.5)
    chosen = np.zeros(len(s), dtype=np.bool_)
    chosen[np.argsort(-s, kind="stable")[:k]] = True
    return chosen


def _finite_scores(scores: ArrayLike, n: int | None) -> FloatArray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or (n is not None and s.shape[0] != n):
        raise AuditInputError(_BAD_LENGTH.format("scores", n, s.shape))
    bad = int(np.count_nonzero(~np.isfinite(s)))
    if bad:
        raise AuditInputError(_NOT_FINITE.format(bad, len(s)))
    return s


def audit_scored_table(
    frame: pd.DataFrame,
    *,
    label: str,
    score: str,
    sensitive: list[str],
    threshold: float | None = None,
    top_fraction: float | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    min_outcomes: int = DEFAULT_MIN_OUTCOMES,
    permutations: int = DEFAULT_PERMUTATIONS,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int | None = None,
    seed: int = 0,
    withhold_below: int = 0,
    intersections: Intersections | None = None,
) -> Json:
    """Audit any scored table: group metrics, disparities and their evidence, aggregates only.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per person with an observed outcome, a score and the sensitive columns.
    label : str
        The outcome column, 0/1 (or bool).
    score : str
        The numeric score column; higher means selected first.
    sensitive : list of str
        The sensitive columns; each is audited alone and, if there are several, together.
    threshold, top_fraction : float, optional
        The operating point, exactly one of them (see :func:`select`).
    min_group_size : int, default 30
        Groups smaller than this, or with fewer than 5 positives, are flagged ``too_small``.
    min_outcomes : int, default 30
        People with (for the TPR) or without (for the FPR) the outcome a group needs before
        its rate is judged in the equalized odds difference (:func:`group_metrics`).
    permutations : int, default 2000
        Replicates of the permutation null of each gap (:func:`gap_p_values`).
    confidence : float, default 0.95
        Coverage of the exact intervals of the rates (:func:`exact_intervals`).
    n_boot : int, optional
        Not used: the rates' intervals were bootstrap intervals and are now exact. Accepted
        so that callers written for the bootstrap (``vru audit --table --bootstrap``) run.
    seed : int, default 0
        Seed of the permutations.
    withhold_below : int, default 0
        Groups with fewer rows keep ``count``, the flags and ``withheld: true``; their
        outcomes, rates, ROC AUC, intervals, differences and ratios are ``None`` (the audit
        settings' ``withhold_below``, 10 by default, where a command calls this).
    intersections : sequence of sequences of str, optional
        The intersections audited beside each column (see :func:`chosen_intersections`),
        each with the same small-group flags and withholding; by default all the columns.

    Returns
    -------
    dict
        ``{"rows", "method", "confidence", "min_outcomes", "operating_point": {"threshold" |
        "top_fraction", "selected"}, "overall", "by": {dimension: {group: {count,
        outcomes, base_rate, selection_rate, tpr, fpr, fnr, precision, roc_auc, too_small,
        tpr_judged, fpr_judged, withheld, difference, ratio, ci, aequitas}}}, "summary": {dimension:
        {"reference", "equalized_odds_difference", "equalized_odds_p_value",
        "true_positive_rate_gap", "false_positive_rate_gap",
        "demographic_parity_difference"}}}``; see :func:`group_metrics`,
        :func:`exact_intervals` and :func:`gap_p_values`; ``aequitas`` holds the group's FDR,
        FOR, NPV and selected share against its population share, with exact intervals and
        judged flags (:func:`governance.audit.aequitas.aequitas_figures`; ``None`` when
        withheld). Only plain ints, floats, strings,
        bools, lists of two bounds and ``None``: it can be passed to :func:`json.dumps` and
        holds no row.

    Raises
    ------
    AuditInputError
        If a column is missing (named, with the table's columns), the table is empty, the
        label is not 0/1, the score is not numeric and finite, or the operating point,
        confidence or permutations are not valid.
    """
    del n_boot  # see the docstring
    _check_table(frame, label=label, score=score, sensitive=sensitive)
    y = frame[label].to_numpy(dtype=np.float64, na_value=np.nan) == 1
    s = frame[score].to_numpy(dtype=np.float64, na_value=np.nan)
    chosen = select(s, threshold=threshold, top_fraction=top_fraction)
    groups = frame[sensitive]
    point = ("threshold", threshold) if threshold is not None else ("top_fraction", top_fraction)
    operating_point: Json = {
        point[0]: float_or_none(point[1]),
        "selected": int(np.count_nonzero(chosen)),
    }
    options = _Options(min_group_size, min_outcomes, permutations, confidence, seed)
    by, summary = _audit(y, chosen, s, groups, options, intersections)
    overall = _overall(y, chosen, s, options)
    _mark_withheld(by, withhold_below)
    return {
        "rows": len(frame),
        "method": f"{INTERVAL_METHOD}; {NULL_METHOD.format(permutations=permutations)}",
        "confidence": confidence,
        "min_outcomes": min_outcomes,
        "operating_point": operating_point,
        "overall": overall,
        "by": by,
        "summary": summary,
    }


@dataclass(frozen=True)
class _Options:
    """How the table is judged: see :func:`audit_scored_table`."""

    min_group_size: int
    min_outcomes: int
    permutations: int
    confidence: float
    seed: int


def _audit(
    y: BoolArray,
    chosen: BoolArray,
    scores: FloatArray,
    groups: pd.DataFrame,
    options: _Options,
    intersections: Intersections | None = None,
) -> tuple[dict[str, Json], dict[str, Json]]:
    counts = group_counts(y, chosen, groups, intersections)
    metrics = group_metrics(
        counts,
        scores=scores,
        y_true=y,
        groups=groups,
        min_group_size=options.min_group_size,
        min_outcomes=options.min_outcomes,
    )
    intervals = exact_intervals(counts, confidence=options.confidence)
    aequitas = aequitas_by_dimension(
        counts,
        min_group_size=options.min_group_size,
        min_outcomes=options.min_outcomes,
        confidence=options.confidence,
    )
    p_values = gap_p_values(
        y,
        chosen,
        groups,
        min_group_size=options.min_group_size,
        min_outcomes=options.min_outcomes,
        permutations=options.permutations,
        seed=options.seed,
    )
    by: dict[str, Json] = {}
    summary: dict[str, Json] = {}
    for dimension, found in metrics.items():
        ci: Mapping[str, Any] = intervals[dimension]
        by[dimension] = {
            group: {**values, "ci": ci[group], "aequitas": aequitas[dimension][group]}
            for group, values in found["groups"].items()
        }
        summary[dimension] = {
            "reference": found["reference"],
            "equalized_odds_difference": found["equalized_odds_difference"],
            "equalized_odds_p_value": p_values.get(dimension),
            "true_positive_rate_gap": found["true_positive_rate_gap"],
            "false_positive_rate_gap": found["false_positive_rate_gap"],
            "demographic_parity_difference": found["demographic_parity_difference"],
        }
    return by, summary


def _overall(y: BoolArray, chosen: BoolArray, scores: FloatArray, options: _Options) -> Json:
    """Every row as one group: its figures and intervals, without gaps to a reference."""
    everyone = pd.DataFrame({"overall": np.full(len(y), "everyone", dtype=object)})
    alone = _Options(options.min_group_size, options.min_outcomes, 1, options.confidence, 0)
    overall_by, _ = _audit(y, chosen, scores, everyone, alone)
    return {
        key: value
        for key, value in overall_by["overall"]["everyone"].items()
        if key not in ("difference", "ratio", "tpr_judged", "fpr_judged")
    }


def _mark_withheld(by: dict[str, Json], withhold_below: int) -> None:
    """Flag every group below `withhold_below` rows ``withheld`` and blank its figures."""
    for members in by.values():
        for group in members.values():
            group["withheld"] = group["count"] < withhold_below
            if group["withheld"]:
                _withhold(group)


def _withhold(group: Json) -> None:
    """Blank every figure of a group but its count and flags, in place."""
    for metric in ("outcomes", *GROUP_METRICS, "roc_auc"):
        group[metric] = None
    for key in ("difference", "ratio"):
        group[key] = dict.fromkeys(group[key])
    group["ci"] = {metric: [None, None] for metric in group["ci"]}
    group["aequitas"] = None


def _check_table(frame: pd.DataFrame, *, label: str, score: str, sensitive: list[str]) -> None:
    """Refuse a table that cannot be audited, naming the column and the problem."""
    if not sensitive:
        raise AuditInputError(_NO_SENSITIVE.format(sensitive))
    if len(set(sensitive)) != len(sensitive):
        raise AuditInputError(_DUPLICATE_SENSITIVE.format(sensitive))
    available = [str(c) for c in frame.columns]
    roles = [(label, "label"), (score, "score"), *((c, "sensitive") for c in sensitive)]
    missing = [
        _MISSING_COLUMN.format(column=column, role=role, available=available)
        for column, role in roles
        if column not in frame.columns
    ]
    if missing:
        raise AuditInputError("\n".join(missing))
    if len(frame) == 0:
        raise AuditInputError(_EMPTY_TABLE)
    binary = frame[label].isin([0, 1]).to_numpy(dtype=np.bool_, na_value=False)
    if not binary.all():
        raise AuditInputError(
            _NOT_BINARY_LABEL.format(label, int(np.count_nonzero(~binary)), len(frame))
        )
    if not pd.api.types.is_numeric_dtype(frame[score].dtype):
        raise AuditInputError(_NOT_NUMERIC_SCORE.format(score, frame[score].dtype))
    values = frame[score].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise AuditInputError(_NOT_FINITE_SCORE.format(score, bad, len(frame)))
