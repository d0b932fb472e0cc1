"""Calibration and the choice of threshold, group by group.

Two questions the fairness tables at one operating point cannot answer: does a predicted
risk of 5% mean 5% for every group (:func:`calibration_by_group`), and how do the groups'
selection and error rates move as the service reaches further down the ranking
(:func:`threshold_sweep`)? Both group the rows exactly as :mod:`governance.audit.fairness` does
(:func:`group_codes`): each sensitive column alone and, with several, their intersection
(``"sex × ethnicity"``); a missing value is the group ``"not recorded"``; a group with fewer
than ``min_group_size`` rows or :data:`governance.fairness.MIN_POSITIVES` positives is flagged
``too_small``, never hidden. What they return is aggregates only, plain Python numbers ready
for :func:`json.dumps`, with ``None`` where a rate is undefined.

Calibration bins are the equal-frequency bins (deciles by default) of the score over *all*
rows, so that every group is judged on the same bins; a group's expected calibration error
(ECE) is ``sum over bins of (n_bin / n) × |mean predicted − observed rate|`` over its own
rows. The threshold sweep selects the top fraction of all rows, as
:func:`governance.fairness.select` does, so its figure at the operating point equals the
fairness table's.

Both are counted with one ``bincount`` per dimension over (group, bin) codes, and the sweep
with one sort of the scores for every fraction: 200,000 rows and 60 intersectional groups
take a fraction of a second. :func:`calibration_png` and :func:`thresholds_png` draw the
results on the Agg canvas, without pyplot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from governance.audit.arithmetic import divide, float_or_none
from governance.audit.arrays import BoolArray, FloatArray, IntArray, Json
from governance.audit.fairness import (
    INTERSECTION_SEPARATOR,
    MIN_POSITIVES,
    NOT_RECORDED,
    chosen_intersections,
)
from governance.audit.figures import new_figure, save_png
from governance.contracts.errors import VruError

__all__ = [
    "GroupPerformanceError",
    "calibration_by_group",
    "calibration_png",
    "group_codes",
    "threshold_sweep",
    "thresholds_png",
]


_RATES: tuple[str, ...] = ("selection_rate", "tpr", "fpr", "precision")

_NOT_A_FRAME = "'groups' must be a pandas DataFrame of sensitive columns (got {0})"
_NO_GROUPS = "'groups' must have at least one column and one row; got shape {0}"
_DUPLICATE_COLUMNS = "'groups' has duplicate column names: {0}"
_BAD_LENGTH = (
    "'{name}' must be one-dimensional with one value per row of 'groups' ({n}); got shape {shape}"
)
_NOT_BINARY = "'y_true' must hold only 0 and 1; {bad} of {n} values are not 0 or 1"
_NOT_NUMERIC = "'scores' must be numeric (got dtype {0})"
_NOT_FINITE = "'scores' has {bad} missing or infinite values of {n}"
_BAD_BINS = "'bins' must be a whole number of at least 1 (got {0!r})"
_BAD_MIN_SIZE = "'min_group_size' must be a whole number of at least 0 (got {0!r})"
_NO_FRACTIONS = "'fractions' must hold at least one top fraction (got {0!r})"
_BAD_FRACTION = "'fractions' must be numbers greater than 0 and at most 1; got {0!r} in {1!r}"
_NO_DIMENSION = "'dimension' {0!r} is not in the result; its dimensions are {1}"
_NOT_A_RESULT = "'{name}' is not the output of {function} (no {key!r} entry)"


class GroupPerformanceError(VruError, ValueError):
    """Inputs to the group calibration or threshold sweep, or to their figures, are not usable."""


# --------------------------------------------------------------------------------------------
# groups


def group_codes(
    groups: pd.DataFrame, intersections: Sequence[Sequence[str]] | None = None
) -> dict[str, tuple[NDArray[np.intp], list[str]]]:
    """Each dimension's group index per row and its group names, as the fairness audit has them.

    Parameters
    ----------
    groups : pandas.DataFrame
        The sensitive columns, aligned with the rows by position.
    intersections : sequence of sequences of str, optional
        The intersections, as :func:`governance.fairness.chosen_intersections` takes them;
        by default the one of all the columns.

    Returns
    -------
    dict
        ``{dimension: (codes, names)}`` where ``names[codes[i]]`` is row ``i``'s group.
        Dimensions are the columns in order, then each intersection named with :data:`governance.fairness.INTERSECTION_SEPARATOR`; group
        names and their order are those of :func:`governance.fairness.group_counts`: text
        labels (a whole-number float such as a quintile ``3.0`` is ``"3"``), missing values
        ``"not recorded"``, sorted within each dimension (the intersection by its columns).

    Raises
    ------
    GroupPerformanceError
        If `groups` is not a DataFrame, is empty or has duplicate column names.
    AuditInputError
        If an intersection does not name two or more distinct columns of `groups`.
    """
    if not isinstance(groups, pd.DataFrame):
        raise GroupPerformanceError(_NOT_A_FRAME.format(type(groups).__name__))
    if groups.shape[0] == 0 or groups.shape[1] == 0:
        raise GroupPerformanceError(_NO_GROUPS.format(groups.shape))
    names = [str(c) for c in groups.columns]
    if len(set(names)) != len(names):
        raise GroupPerformanceError(_DUPLICATE_COLUMNS.format(sorted(names)))
    result: dict[str, tuple[NDArray[np.intp], list[str]]] = {}
    for name, (_, column) in zip(names, groups.items(), strict=True):
        codes, uniques = pd.factorize(_text(column), sort=True)
        result[name] = (codes.astype(np.intp), [str(u) for u in uniques])
    for combination in chosen_intersections(names, intersections):
        parts = [result[name] for name in combination]
        result[INTERSECTION_SEPARATOR.join(combination)] = _joint_codes(parts)
    return result


def _joint_codes(
    parts: list[tuple[NDArray[np.intp], list[str]]],
) -> tuple[NDArray[np.intp], list[str]]:
    """One intersection's codes and names, ordered as the tuple of its columns' sorted codes."""
    shape = tuple(len(labels) for _, labels in parts)
    joint = np.ravel_multi_index(tuple(codes for codes, _ in parts), shape)
    joint_codes, present = pd.factorize(joint, sort=True)
    which = np.unravel_index(present, shape)
    joint_labels = [
        INTERSECTION_SEPARATOR.join(
            part_labels[int(index[k])] for (_, part_labels), index in zip(parts, which, strict=True)
        )
        for k in range(len(present))
    ]
    return joint_codes.astype(np.intp), joint_labels


def _text(column: pd.Series) -> pd.Series:
    """A sensitive column as text labels, exactly as :mod:`governance.audit.fairness` labels it."""
    if pd.api.types.is_float_dtype(column.dtype):
        present = column.dropna().to_numpy(dtype=float)
        if np.isfinite(present).all() and (present == np.floor(present)).all():
            column = column.astype("Int64")  # a quintile 3.0 (float because of NaN) is "3"
    return column.astype("string").fillna(NOT_RECORDED)


# --------------------------------------------------------------------------------------------
# calibration


def calibration_by_group(
    y_true: ArrayLike,
    scores: ArrayLike,
    groups: pd.DataFrame,
    *,
    bins: int = 10,
    min_group_size: int,
    intersections: Sequence[Sequence[str]] | None = None,
) -> Json:
    """Observed against predicted risk by score bin, and the ECE, overall and per group.

    Parameters
    ----------
    y_true : array-like of 0/1 or bool
        Observed outcome, one per row of `groups`.
    scores : array-like of float
        Predicted risk, one finite value per row.
    groups : pandas.DataFrame
        The sensitive columns (see :func:`group_codes`).
    bins : int, default 10
        Number of equal-frequency bins of the score over all rows. Tied scores can make
        bins merge (a bin edge is dropped when two quantiles coincide).
    min_group_size : int
        A group with fewer rows, or fewer than :data:`governance.fairness.MIN_POSITIVES`
        positives, is ``too_small``.
    intersections : sequence of sequences of str, optional
        As in :func:`group_codes`.

    Returns
    -------
    dict
        ``{"overall": entry, "by": {dimension: {group: entry}}}``. Each entry has ``count``,
        ``positives``, ``mean_predicted``, ``observed_rate``, ``ece``, ``too_small`` and
        ``deciles``: ``[{"predicted", "observed", "count"}]`` for each bin the group has rows
        in, in score order (bins it has no row in are left out). A too-small entry keeps its
        row count and flag; its other figures are ``None`` (they would describe a handful of
        people).

    Raises
    ------
    GroupPerformanceError
        If `y_true` is not 0/1, `scores` is not finite, either has the wrong length,
        `groups` is unusable, or `bins` or `min_group_size` is not a valid whole number.
    """
    y, s = check_audited_rows(y_true, scores, groups)
    _check_whole(bins, 1, _BAD_BINS)
    _check_whole(min_group_size, 0, _BAD_MIN_SIZE)
    edges = np.unique(np.quantile(s, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    bin_of = np.searchsorted(edges, s, side="right")
    n_bins = len(edges) + 1
    y_float = y.astype(np.float64)

    def table(codes: NDArray[np.intp], names: list[str]) -> dict[str, Json]:
        cell = codes * n_bins + bin_of
        size = len(names) * n_bins
        n = np.bincount(cell, minlength=size).reshape(len(names), n_bins)
        predicted = np.bincount(cell, weights=s, minlength=size).reshape(len(names), n_bins)
        observed = np.bincount(cell, weights=y_float, minlength=size).reshape(len(names), n_bins)
        return {
            name: _calibration_entry(n[g], predicted[g], observed[g], min_group_size)
            for g, name in enumerate(names)
        }

    overall = table(np.zeros(len(s), dtype=np.intp), ["everyone"])["everyone"]
    by = {
        dimension: table(codes, names)
        for dimension, (codes, names) in group_codes(groups, intersections).items()
    }
    return {"overall": overall, "by": by}


def _calibration_entry(
    n: IntArray, predicted: FloatArray, observed: FloatArray, min_group_size: int
) -> Json:
    """One group's entry from its per-bin row counts and sums of scores and outcomes."""
    count = int(n.sum())
    positives = round(float(observed.sum()))
    small = _is_too_small(count, positives, min_group_size)
    entry: Json = {
        "count": count,
        "positives": positives,
        "mean_predicted": float(predicted.sum() / count) if count else None,
        "observed_rate": positives / count if count else None,
        "ece": None,
        "too_small": small,
        "deciles": None,
    }
    if small:
        # a group of one or two (or with a handful of outcomes) would have its members'
        # scores and outcomes printed: keep the count and the flag, withhold the rest
        entry.update(positives=None, mean_predicted=None, observed_rate=None)
        return entry
    if count == 0:
        return entry
    # (n_b / n) |sum_p / n_b - sum_y / n_b| = |sum_p - sum_y| / n
    entry["ece"] = float(np.abs(predicted - observed).sum() / count)
    seen = np.flatnonzero(n)
    entry["deciles"] = [
        {
            "predicted": float(predicted[b] / n[b]),
            "observed": float(observed[b] / n[b]),
            "count": int(n[b]),
        }
        for b in seen
    ]
    return entry


# --------------------------------------------------------------------------------------------
# threshold sweep


def threshold_sweep(
    y_true: ArrayLike,
    scores: ArrayLike,
    groups: pd.DataFrame,
    *,
    fractions: Sequence[float],
    min_group_size: int,
    withhold_below: int = 0,
    intersections: Sequence[Sequence[str]] | None = None,
) -> Json:
    """Selection rate, TPR, FPR and precision of each group when the top fraction is selected.

    For each fraction ``f`` the top ``f`` of *all* rows by score is selected, as
    :func:`governance.fairness.select` selects it (``floor(f × n + 0.5)`` rows; among equal
    scores the earlier row first). The scores are sorted once; each row's first fraction that
    selects it is found with one ``searchsorted``, and each group's counts at every fraction
    are cumulative sums of one ``bincount``.

    Parameters
    ----------
    y_true : array-like of 0/1 or bool
        Observed outcome, one per row of `groups`.
    scores : array-like of float
        One finite score per row; higher is selected first.
    groups : pandas.DataFrame
        The sensitive columns (see :func:`group_codes`).
    fractions : sequence of float
        Top fractions, each greater than 0 and at most 1, reported in the order given.
    min_group_size : int
        As in :func:`calibration_by_group`.
    withhold_below : int, default 0
        A group with fewer rows keeps its count and flags, with ``withheld: true`` and every
        rate ``None`` (disclosure control: at the top 1% a group of two would show who of
        them was picked out).
    intersections : sequence of sequences of str, optional
        As in :func:`group_codes`.

    Returns
    -------
    dict
        ``{dimension: {"fractions": [...], "groups": {group: {"count", "too_small", "withheld",
        "selection_rate": [...], "tpr": [...], "fpr": [...], "precision": [...]}}}}``, one
        value per fraction; a rate whose denominator is zero (TPR of a group with no
        positives, precision of a group with no one selected) is ``None``.

    Raises
    ------
    GroupPerformanceError
        If the rows are unusable (as in :func:`calibration_by_group`), `fractions` is empty
        or holds a value outside (0, 1], or `min_group_size` is not a valid whole number.
    """
    y, s = check_audited_rows(y_true, scores, groups)
    _check_whole(min_group_size, 0, _BAD_MIN_SIZE)
    chosen = _check_fractions(fractions)
    first, back = _selection_steps(s, chosen)
    positive = y.astype(np.float64)
    result: Json = {}
    for dimension, (codes, names) in group_codes(groups, intersections).items():
        count, positives, rates = _cumulative_rates(codes, len(names), first, back, positive)
        result[dimension] = {
            "fractions": list(chosen),
            "groups": {
                name: _sweep_entry(
                    int(count[g]),
                    int(positives[g]),
                    {rate: rates[rate][g] for rate in _RATES},
                    min_group_size,
                    withhold_below,
                )
                for g, name in enumerate(names)
            },
        }
    return result


def _selection_steps(
    s: FloatArray, chosen: list[float]
) -> tuple[NDArray[np.intp], NDArray[np.int64]]:
    """From which sorted cutoff on each row is selected, and each fraction's sorted number."""
    n = len(s)
    cutoffs = np.array([math.floor(f * n + 0.5) for f in chosen], dtype=np.int64)
    order = np.argsort(cutoffs, kind="stable")
    ascending = cutoffs[order]
    position = np.empty(n, dtype=np.int64)
    position[np.argsort(-s, kind="stable")] = np.arange(n)
    # the row at rank p is selected at cutoff k iff p < k: from sorted cutoff number `first` on
    first = np.searchsorted(ascending, position, side="right")
    back = np.empty(len(order), dtype=np.int64)  # sorted cutoff number of each given fraction
    back[order] = np.arange(len(order))
    return first, back


def _cumulative_rates(
    codes: NDArray[np.intp],
    groups: int,
    first: NDArray[np.intp],
    back: NDArray[np.int64],
    positive: FloatArray,
) -> tuple[IntArray, IntArray, dict[str, FloatArray]]:
    """Each group's rows, positives and rates at every fraction, from one bincount each."""
    width = len(back) + 1
    cell = codes * width + first
    size = groups * width
    selected = np.bincount(cell, minlength=size).reshape(groups, width)
    hits = np.bincount(cell, weights=positive, minlength=size).reshape(groups, width)
    count = selected.sum(axis=1)
    positives = np.rint(hits.sum(axis=1)).astype(np.int64)
    sel = np.cumsum(selected, axis=1)[:, back].astype(np.float64)
    tp = np.rint(np.cumsum(hits, axis=1)[:, back])
    rates = {
        "selection_rate": divide(sel, count[:, None]),
        "tpr": divide(tp, positives[:, None]),
        "fpr": divide(sel - tp, (count - positives)[:, None]),
        "precision": divide(tp, sel),
    }
    return count, positives, rates


def _sweep_entry(
    count: int,
    positives: int,
    rates: Mapping[str, FloatArray],
    min_group_size: int,
    withhold_below: int,
) -> Json:
    """One group's sweep; a group below `withhold_below` rows keeps its count and flags only."""
    withheld = count < withhold_below
    return {
        "count": count,
        "too_small": _is_too_small(count, positives, min_group_size),
        "withheld": withheld,
        **{
            rate: [None if withheld else float_or_none(v) for v in values]
            for rate, values in rates.items()
        },
    }


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    values = list(fractions)
    if not values:
        raise GroupPerformanceError(_NO_FRACTIONS.format(fractions))
    checked = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise GroupPerformanceError(_BAD_FRACTION.format(value, values)) from None
        if not (math.isfinite(number) and 0 < number <= 1):
            raise GroupPerformanceError(_BAD_FRACTION.format(value, values))
        checked.append(number)
    return checked


# --------------------------------------------------------------------------------------------
# shared checks and arithmetic


def check_audited_rows(
    y_true: ArrayLike, scores: ArrayLike, groups: pd.DataFrame
) -> tuple[BoolArray, FloatArray]:
    """The outcomes as bool and the scores as float, or an error naming the parameter."""
    if not isinstance(groups, pd.DataFrame):
        raise GroupPerformanceError(_NOT_A_FRAME.format(type(groups).__name__))
    n = len(groups)
    y = np.asarray(y_true)
    raw = np.asarray(scores)
    for name, values in (("y_true", y), ("scores", raw)):
        if values.ndim != 1 or values.shape[0] != n:
            raise GroupPerformanceError(_BAD_LENGTH.format(name=name, n=n, shape=values.shape))
    if y.dtype != np.bool_:
        bad = int(np.count_nonzero(~np.isin(y, [0, 1])))
        if bad:
            raise GroupPerformanceError(_NOT_BINARY.format(bad=bad, n=n))
    if not (np.issubdtype(raw.dtype, np.number) or raw.dtype == np.bool_):
        raise GroupPerformanceError(_NOT_NUMERIC.format(raw.dtype))
    s = raw.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(s)))
    if bad:
        raise GroupPerformanceError(_NOT_FINITE.format(bad=bad, n=n))
    return np.asarray(y == 1, dtype=np.bool_), s


def _check_whole(value: int, minimum: int, template: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise GroupPerformanceError(template.format(value))


def _is_too_small(count: int, positives: int, min_group_size: int) -> bool:
    """As :mod:`governance.audit.fairness`: too few rows or too few positives to judge."""
    return count < min_group_size or positives < MIN_POSITIVES


# --------------------------------------------------------------------------------------------
# figures


def calibration_png(
    calibration_result: Mapping[str, Any], dimension: str, path: Path | str
) -> Path:
    """Draw the reliability curve (observed against predicted, by bin) of each judged group.

    Parameters
    ----------
    calibration_result : mapping
        The output of :func:`calibration_by_group`.
    dimension : str
        One of its dimensions, e.g. ``"ethnicity"``.
    path : pathlib.Path or str
        Where to write the PNG.

    Returns
    -------
    pathlib.Path
        `path`. Too-small groups are not drawn; the title says how many were left out.

    Raises
    ------
    GroupPerformanceError
        If `calibration_result` is not such an output or has no `dimension`.
    """
    members = _dimension(calibration_result, "by", dimension, "calibration_by_group")
    fig, ax = new_figure(width=6.4, height=4.4)
    top = 0.0
    skipped = 0
    for name, entry in members.items():
        if entry["too_small"] or not entry["deciles"]:
            skipped += 1
            continue
        predicted = [d["predicted"] for d in entry["deciles"]]
        observed = [d["observed"] for d in entry["deciles"]]
        ax.plot(predicted, observed, marker="o", markersize=3, linewidth=1.2, label=name)
        top = max(top, *predicted, *observed)
    top = top or 1.0
    ax.plot([0.0, top], [0.0, top], color="grey", linestyle=":", linewidth=1, label="perfect")
    ax.set_xlabel("mean predicted risk (score bin)")
    ax.set_ylabel("observed rate")
    ax.set_title(f"Calibration by {dimension}{_skipped_note(skipped)}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    return save_png(fig, path, dpi=110)


def thresholds_png(sweep_result: Mapping[str, Any], dimension: str, path: Path | str) -> Path:
    """Draw each judged group's TPR (solid) and FPR (dashed) against the top fraction selected.

    Parameters
    ----------
    sweep_result : mapping
        The output of :func:`threshold_sweep`.
    dimension : str
        One of its dimensions.
    path : pathlib.Path or str
        Where to write the PNG.

    Returns
    -------
    pathlib.Path
        `path`. Too-small groups are not drawn; the title says how many were left out.

    Raises
    ------
    GroupPerformanceError
        If `sweep_result` is not such an output or has no `dimension`.
    """
    entry = _dimension(sweep_result, None, dimension, "threshold_sweep")
    if "fractions" not in entry or "groups" not in entry:
        raise GroupPerformanceError(
            _NOT_A_RESULT.format(name="sweep_result", function="threshold_sweep", key="groups")
        )
    order = np.argsort(np.asarray(entry["fractions"], dtype=np.float64), kind="stable")
    percent = [100.0 * entry["fractions"][i] for i in order]
    fig, ax = new_figure(width=6.4, height=4.4)
    skipped = 0
    for name, rates in entry["groups"].items():
        if rates["too_small"]:
            skipped += 1
            continue
        tpr = [math.nan if rates["tpr"][i] is None else rates["tpr"][i] for i in order]
        fpr = [math.nan if rates["fpr"][i] is None else rates["fpr"][i] for i in order]
        (line,) = ax.plot(percent, tpr, marker="o", markersize=3, label=f"{name} TPR")
        ax.plot(percent, fpr, linestyle="--", color=line.get_color(), label=f"{name} FPR")
    ax.set_xlabel("share of young people selected (top %)")
    ax.set_ylabel("true positive rate (solid), false positive rate (dashed)")
    ax.set_title(f"Error rates by {dimension}{_skipped_note(skipped)}", fontsize=10)
    ax.legend(fontsize=6, ncol=2, loc="upper left")
    return save_png(fig, path, dpi=110)


def _dimension(result: Mapping[str, Any], key: str | None, dimension: str, function: str) -> Any:
    name = "calibration_result" if key else "sweep_result"
    if not isinstance(result, Mapping) or (key is not None and key not in result):
        raise GroupPerformanceError(_NOT_A_RESULT.format(name=name, function=function, key=key))
    dimensions = result[key] if key is not None else result
    if dimension not in dimensions:
        raise GroupPerformanceError(_NO_DIMENSION.format(dimension, sorted(dimensions)))
    return dimensions[dimension]


def _skipped_note(skipped: int) -> str:
    if not skipped:
        return ""
    return f"\n({skipped} group{'s' if skipped > 1 else ''} too small to judge, not drawn)"
