"""Calibration and the choice of threshold, group by group.

Two questions the fairness tables at one operating point cannot answer: does a predicted
risk of 5% mean 5% for every group (:func:`calibration_by_group`), and how do the groups'
selection and error rates move as the service reaches further down the ranking
(:func:`threshold_sweep`)? Both group rows as :mod:`governance.fairness` does (each sensitive
column alone and, with several, their intersection; missing values are ``"not recorded"``;
small groups flagged ``too_small``, never hidden) and return aggregates only.

Calibration bins are the deciles of the score over *all* rows, so that every group is judged
on the same bins; a group's expected calibration error (ECE) is the size-weighted mean of
``|mean predicted − observed rate|`` over the bins its rows fall in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from governance.contracts.errors import VruError
from governance.fairness import INTERSECTION_SEPARATOR, MIN_POSITIVES, NOT_RECORDED

__all__ = [
    "GroupPerformanceError",
    "calibration_by_group",
    "calibration_png",
    "threshold_sweep",
    "thresholds_png",
]

Json = dict[str, Any]
FloatArray = NDArray[np.float64]

_LENGTH = "'{name}' has {got} values; expected one per row ({n})"
_NOT_BINARY = "'y_true' must hold only 0 and 1"
_NOT_FINITE = "'scores' has missing or infinite values"
_BAD_FRACTION = "'fractions' must be numbers in (0, 1]; got {0!r}"
_NO_DIMENSION = "no dimension {0!r} in the result; it has {1}"


class GroupPerformanceError(VruError, ValueError):
    """Inputs to the group calibration or threshold sweep are not usable."""


def _dimensions(groups: pd.DataFrame) -> dict[str, NDArray[np.object_]]:
    """Each column's labels, and the intersection's, named as governance.fairness names them."""
    labels = {
        str(c): groups[c]
        .astype(object)
        .where(groups[c].notna(), NOT_RECORDED)
        .astype(str)
        .to_numpy()
        for c in groups.columns
    }
    if len(labels) > 1:
        first, *rest = labels.values()
        joined = pd.Series(first, dtype=object)
        for part in rest:
            joined = joined + INTERSECTION_SEPARATOR + pd.Series(part, dtype=object)
        labels[INTERSECTION_SEPARATOR.join(labels)] = joined.to_numpy()
    return labels


def _check(
    y_true: ArrayLike, scores: ArrayLike, groups: pd.DataFrame
) -> tuple[NDArray[np.int64], FloatArray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    n = len(groups)
    for name, values in (("y_true", y), ("scores", s)):
        if values.ndim != 1 or values.shape[0] != n:
            got = values.shape[0] if values.ndim == 1 else values.shape
            raise GroupPerformanceError(_LENGTH.format(name=name, got=got, n=n))
    if not np.isin(y, (0, 1)).all():
        raise GroupPerformanceError(_NOT_BINARY)
    if not np.isfinite(s).all():
        raise GroupPerformanceError(_NOT_FINITE)
    return y.astype(np.int64), s


def _small(count: int, positives: int, min_group_size: int) -> bool:
    return count < min_group_size or positives < MIN_POSITIVES


def calibration_by_group(
    y_true: ArrayLike,
    scores: ArrayLike,
    groups: pd.DataFrame,
    *,
    bins: int = 10,
    min_group_size: int,
) -> Json:
    """Observed against predicted risk by score decile, and ECE, overall and per group.

    Returns
    -------
    dict
        ``{"overall": {...}, "by": {dimension: {group: {...}}}}``; each entry has ``count``,
        ``positives``, ``mean_predicted``, ``observed_rate``, ``ece``, ``too_small`` and
        ``deciles`` (``[{"predicted", "observed", "count"}]``, bins the group has no rows in
        left out). Too-small groups keep their count and flag; ``ece`` and ``deciles`` are None.
    """
    y, s = _check(y_true, scores, groups)
    edges = np.unique(np.quantile(s, np.linspace(0, 1, bins + 1))[1:-1])
    code = np.searchsorted(edges, s, side="right")
    n_bins = edges.size + 1

    def summary(mask: NDArray[np.bool_]) -> Json:
        count, positives = int(mask.sum()), int(y[mask].sum())
        small = _small(count, positives, min_group_size)
        entry: Json = {
            "count": count,
            "positives": positives,
            "mean_predicted": float(s[mask].mean()) if count else None,
            "observed_rate": positives / count if count else None,
            "too_small": small,
            "ece": None,
            "deciles": None,
        }
        if small:
            return entry
        c = code[mask]
        n = np.bincount(c, minlength=n_bins).astype(np.float64)
        predicted = np.bincount(c, weights=s[mask], minlength=n_bins)
        observed = np.bincount(c, weights=y[mask].astype(np.float64), minlength=n_bins)
        seen = n > 0
        mean_p, mean_o = predicted[seen] / n[seen], observed[seen] / n[seen]
        entry["ece"] = float(np.sum(n[seen] * np.abs(mean_p - mean_o)) / count)
        entry["deciles"] = [
            {"predicted": float(p), "observed": float(o), "count": int(k)}
            for p, o, k in zip(mean_p, mean_o, n[seen], strict=True)
        ]
        return entry

    by: Json = {}
    for dimension, labels in _dimensions(groups).items():
        by[dimension] = {
            str(group): summary(labels == group) for group in sorted(np.unique(labels))
        }
    return {"overall": summary(np.ones(len(y), dtype=bool)), "by": by}


def threshold_sweep(
    y_true: ArrayLike,
    scores: ArrayLike,
    groups: pd.DataFrame,
    *,
    fractions: Sequence[float],
    min_group_size: int,
) -> Json:
    """Selection rate, TPR, FPR and precision per group when the top fraction f is selected.

    The top f of all rows is chosen as :func:`governance.fairness.select` chooses it (the
    nearest whole number of rows, halves up; ties by position), so the figure at the
    operating point equals the fairness table's.
    """
    y, s = _check(y_true, scores, groups)
    if not fractions or not all(0 < float(f) <= 1 for f in fractions):
        raise GroupPerformanceError(_BAD_FRACTION.format(list(fractions)))
    order = np.argsort(-s, kind="stable")
    rank = np.empty(len(s), dtype=np.int64)
    rank[order] = np.arange(len(s))
    cutoffs = [int(np.floor(float(f) * len(s) + 0.5)) for f in fractions]
    result: Json = {}
    for dimension, labels in _dimensions(groups).items():
        members: Json = {}
        for group in sorted(np.unique(labels)):
            mask = labels == group
            r, t = rank[mask], y[mask]
            count, positives = int(mask.sum()), int(t.sum())
            negatives = count - positives
            rates: dict[str, list[float | None]] = {
                "selection_rate": [],
                "tpr": [],
                "fpr": [],
                "precision": [],
            }
            for k in cutoffs:
                chosen = r < k
                selected = int(chosen.sum())
                tp = int(np.sum(chosen & (t == 1)))
                rates["selection_rate"].append(selected / count)
                rates["tpr"].append(tp / positives if positives else None)
                rates["fpr"].append((selected - tp) / negatives if negatives else None)
                rates["precision"].append(tp / selected if selected else None)
            members[str(group)] = {
                "count": count,
                "too_small": _small(count, positives, min_group_size),
                **rates,
            }
        result[dimension] = {"fractions": [float(f) for f in fractions], "groups": members}
    return result


def calibration_png(result: Json, dimension: str, path: Path | str) -> Path:
    """Reliability curves (observed against predicted, by decile) of each judged group."""
    groups = _dimension(result["by"], dimension)
    fig, ax = _figure()
    top = 0.0
    skipped = 0
    for name, entry in groups.items():
        if entry["too_small"]:
            skipped += 1
            continue
        predicted = [d["predicted"] for d in entry["deciles"]]
        observed = [d["observed"] for d in entry["deciles"]]
        ax.plot(predicted, observed, marker="o", markersize=3, label=name)
        top = max(top, *predicted, *observed)
    ax.plot([0, top or 1], [0, top or 1], color="grey", linestyle=":", label="perfect")
    ax.set(
        xlabel="mean predicted risk (score decile)",
        ylabel="observed rate",
        title=f"Calibration by {dimension}"
        + (f" ({skipped} small groups not drawn)" if skipped else ""),
    )
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def thresholds_png(result: Json, dimension: str, path: Path | str) -> Path:
    """TPR (solid) and FPR (dashed) of each judged group against the fraction selected."""
    entry = _dimension(result, dimension)
    fractions = [100 * f for f in entry["fractions"]]
    fig, ax = _figure()
    skipped = 0
    for name, rates in entry["groups"].items():
        if rates["too_small"]:
            skipped += 1
            continue
        tpr = [np.nan if v is None else v for v in rates["tpr"]]
        fpr = [np.nan if v is None else v for v in rates["fpr"]]
        (line,) = ax.plot(fractions, tpr, marker="o", markersize=3, label=f"{name} TPR")
        ax.plot(fractions, fpr, linestyle="--", color=line.get_color(), label=f"{name} FPR")
    ax.set(
        xlabel="share of young people selected (top %)",
        ylabel="rate",
        title=f"TPR and FPR by {dimension}"
        + (f" ({skipped} small groups not drawn)" if skipped else ""),
    )
    ax.legend(fontsize=6, ncol=2, loc="upper left")
    return _save(fig, path)


def _dimension(result: Json, dimension: str) -> Any:
    if dimension not in result:
        raise GroupPerformanceError(_NO_DIMENSION.format(dimension, sorted(result)))
    return result[dimension]


def _figure() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Any, path: Path | str) -> Path:
    target = Path(path)
    fig.savefig(target, dpi=100)
    return target
