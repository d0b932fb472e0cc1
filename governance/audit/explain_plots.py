"""Plots of SHAP values for the ethics board's report: distributions over many rows, never people.

:func:`beeswarm_png` shows every row's contributions of the most important features;
:func:`dependence_png` one feature's contribution against its value. Both refuse fewer than
:data:`MIN_PLOT_ROWS` rows, draw at most :data:`DEFAULT_MAX_POINTS` (a seeded sample) and
carry no identifier. The SHAP values themselves come from :mod:`governance.audit.explain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from governance.audit.arrays import FloatArray, IntArray
from governance.audit.explain import (
    SHAP_UNIT,
    ExplainInputError,
    check_count,
    check_values,
    global_importance,
)
from governance.audit.figures import new_figure, save_png

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_MAX_POINTS", "MIN_PLOT_ROWS", "beeswarm_png", "dependence_png"]


#: Plots are distributions: fewer rows than this are refused.
MIN_PLOT_ROWS = 100
#: Plots draw at most this many rows (a seeded random sample); aggregates use all rows.
DEFAULT_MAX_POINTS = 10_000
#: Dependence plots average SHAP values over groups of at least this many rows.
_MIN_MEAN_ROWS = 10
_BAD_X_SHAPE = "'x' must have the shape of 'values' {0}; got {1}"
_TOO_FEW_ROWS = (
    "A plot needs at least {min_rows} rows so that it shows a distribution, not people (got {rows})"
)
_UNKNOWN_FEATURE = "Feature {0!r} is not in 'names'; choose one of {1}"
_X_NOT_A_FRAME = "'x' must be a pandas DataFrame (got {0})"


def beeswarm_png(
    values: FloatArray,
    x: pd.DataFrame,
    names: Sequence[str],
    path: Path | str,
    max_display: int = 15,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
    min_rows: int = MIN_PLOT_ROWS,
) -> Path:
    """Beeswarm of the SHAP values of the most important features, as a PNG file.

    One horizontal strip per feature, most important at the top: each dot is a row's SHAP
    value, spread vertically where dots are dense, coloured from blue (low feature value)
    to red (high); grey dots have no value. Drawn with matplotlib's Agg canvas (no pyplot,
    no display, no global state) rather than ``shap.plots.beeswarm``, because importing shap
    emits deprecation warnings under ``-W error`` and shap draws through pyplot.

    Parameters
    ----------
    values : numpy.ndarray
        SHAP values, shape (rows, features).
    x : pandas.DataFrame
        The feature values of the same rows, same shape, columns in the order of `names`.
    names : sequence of str
        Feature names, one per column.
    path : path-like
        Where to write the PNG.
    max_display : int, default 15
        How many features to show; the order comes from all rows.
    max_points : int, default 10,000
        Rows drawn: a random sample (seeded by `seed`) if there are more.
    seed : int, default 0
        Seed of the sample and of the vertical spread.
    min_rows : int, default 100
        Fewer rows are refused, so that a plot shows a distribution, not people.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ExplainInputError
        If the inputs do not match, there are fewer than `min_rows` rows, or an option is
        not an integer >= 1.
    """
    matrix = _check_plot_input(values, x, names, min_rows)
    check_count(max_display, "max_display")
    check_count(max_points, "max_points")
    ranking = global_importance(matrix, names)
    shown = [list(names).index(r["feature"]) for r in ranking[:max_display]]
    rng = np.random.default_rng(seed)
    rows = _sample_rows(len(matrix), max_points, rng)
    fig, ax = new_figure(width=8.0, height=1.6 + 0.42 * len(shown))
    _draw_strips(ax, matrix, x, rows, shown, rng)
    ax.axvline(0.0, color="#555555", linewidth=0.8, zorder=0)
    ax.set_yticks(range(len(shown)), [str(names[j]) for j in reversed(shown)])
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.set_xlabel(SHAP_UNIT)
    hidden = len(names) - len(shown)
    fig.suptitle(f"SHAP values of the {len(shown)} most important features", x=0.02, ha="left")
    ax.set_title(
        _sample_note(len(rows), len(matrix))
        + (f"; {hidden} less important features not shown" if hidden else ""),
        fontsize=9,
        loc="left",
    )
    _colour_bar(fig, ax)
    return save_png(fig, path, dpi=150)


def dependence_png(
    values: FloatArray,
    x: pd.DataFrame,
    feature: str,
    path: Path | str,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
    min_rows: int = MIN_PLOT_ROWS,
) -> Path:
    """Dependence plot of one feature: its SHAP value against its value, as a PNG file.

    Dots are rows (a seeded sample of at most `max_points`); the line is the mean SHAP value
    over all rows in each twentieth of the feature's distribution (or at each distinct value,
    for a feature with at most 20 of them), drawn only where at least 10 rows contribute.
    Rows with no value are left out; the subtitle gives their number and mean SHAP value.
    Category columns are drawn at one position per category.

    Parameters
    ----------
    values : numpy.ndarray
        SHAP values, shape (rows, features), columns in the order of ``x.columns``.
    x : pandas.DataFrame
        The feature values of the same rows.
    feature : str
        The column to plot.
    path : path-like
        Where to write the PNG.
    max_points : int, default 10,000
        Rows drawn as dots.
    seed : int, default 0
        Seed of the sample and of the jitter of category positions.
    min_rows : int, default 100
        Fewer rows are refused.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ExplainInputError
        If the inputs do not match, `feature` is not a column, there are fewer than
        `min_rows` rows, or an option is not an integer >= 1.
    """
    names = [str(c) for c in x.columns]
    matrix = _check_plot_input(values, x, names, min_rows)
    check_count(max_points, "max_points")
    if feature not in names:
        raise ExplainInputError(_UNKNOWN_FEATURE.format(feature, names))
    j = names.index(feature)
    column = x.iloc[:, j]
    shap_col = matrix[:, j]
    rng = np.random.default_rng(seed)
    position, categories = _positions(column)
    known = ~np.isnan(position)
    with_value = np.flatnonzero(known)
    rows = with_value[_sample_rows(len(with_value), max_points, rng)]
    fig, ax = new_figure(width=7.0, height=4.8)
    jitter = rng.uniform(-0.2, 0.2, len(rows)) if categories is not None else 0.0
    _draw_dependence(ax, position, shap_col, rows, jitter, known)
    if categories is not None:
        ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
    ax.set_xlabel(f"{feature} (value)" if categories is None else f"{feature} (category)")
    ax.set_ylabel(f"{SHAP_UNIT} of {feature}")
    ax.legend(loc="best", fontsize=8, frameon=False)
    missing = int((~known).sum())
    fig.suptitle(f"How {feature} moves the score", x=0.02, ha="left")
    ax.set_title(
        _sample_note(len(rows), len(with_value))
        + (
            f"; {missing:,} rows with no value (mean SHAP {shap_col[~known].mean():+.3f}) not shown"
            if missing
            else ""
        ),
        fontsize=9,
        loc="left",
    )
    return save_png(fig, path, dpi=150)


def _check_plot_input(values: Any, x: Any, names: Sequence[str], min_rows: int) -> FloatArray:
    matrix = check_values(values, names)
    if not isinstance(x, pd.DataFrame):
        raise ExplainInputError(_X_NOT_A_FRAME.format(type(x).__name__))
    if x.shape != matrix.shape:
        raise ExplainInputError(_BAD_X_SHAPE.format(matrix.shape, x.shape))
    check_count(min_rows, "min_rows")
    if len(matrix) < min_rows:
        raise ExplainInputError(_TOO_FEW_ROWS.format(min_rows=min_rows, rows=len(matrix)))
    return matrix


def _sample_rows(n: int, max_points: int, rng: np.random.Generator) -> IntArray:
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=max_points, replace=False)).astype(np.int64)


def _sample_note(drawn: int, total: int) -> str:
    if drawn == total:
        return f"Each dot is one of {total:,} rows"
    return f"Each dot is one row of a random sample of {drawn:,} of {total:,}"


def _swarm_offsets(shap_col: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Vertical offsets within ±0.4, wider where SHAP values are dense (a beeswarm's shape)."""
    lo, hi = float(shap_col.min()), float(shap_col.max())
    if hi <= lo:
        return rng.uniform(-0.4, 0.4, len(shap_col))
    bins = np.minimum(((shap_col - lo) / (hi - lo) * 60).astype(np.int64), 59)
    counts = np.bincount(bins, minlength=60).astype(np.float64)
    width = 0.4 * np.sqrt(counts[bins] / counts.max())
    return np.asarray(rng.uniform(-1.0, 1.0, len(shap_col)) * width, dtype=np.float64)


def _positions(column: pd.Series) -> tuple[FloatArray, list[str] | None]:
    """A column as floats (NaN if missing); a category column as codes, with its categories."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = np.asarray(column.cat.codes, dtype=np.float64)
        codes[codes < 0] = np.nan
        return codes, [str(c) for c in column.cat.categories]
    numbers = pd.to_numeric(column, errors="coerce")
    return np.asarray(numbers.to_numpy(dtype=np.float64, na_value=np.nan)), None


def _colour_scale(column: pd.Series) -> FloatArray:
    """Feature values mapped to 0..1 between their 5th and 95th percentiles; NaN if missing."""
    raw, _ = _positions(column)
    present = raw[~np.isnan(raw)]
    if len(present) == 0:
        return raw
    lo, hi = np.percentile(present, [5, 95])
    if hi <= lo:
        lo, hi = float(present.min()), float(present.max())
    if hi <= lo:
        return np.where(np.isnan(raw), np.nan, 0.5)
    return np.asarray(np.clip((raw - lo) / (hi - lo), 0.0, 1.0), dtype=np.float64)


def _binned_means(position: FloatArray, shap_col: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean position and SHAP value per distinct value (<= 20 of them) or per twentieth."""
    distinct = np.unique(position)
    if len(distinct) <= 20:
        bins = np.searchsorted(distinct, position)
    else:
        edges = np.unique(np.quantile(position, np.linspace(0.0, 1.0, 21))[1:-1])
        bins = np.searchsorted(edges, position, side="right")
    frame = pd.DataFrame({"bin": bins, "x": position, "y": shap_col}).groupby("bin")
    stats = frame.agg(n=("x", "size"), x=("x", "mean"), y=("y", "mean"))
    stats = stats[stats["n"] >= _MIN_MEAN_ROWS]
    return stats["x"].to_numpy(np.float64), stats["y"].to_numpy(np.float64)


def _draw_strips(
    ax: Axes,
    matrix: FloatArray,
    x: pd.DataFrame,
    rows: IntArray,
    shown: list[int],
    rng: np.random.Generator,
) -> None:
    """One beeswarm strip per shown feature, the first at the top; grey where no value."""
    for position, j in enumerate(reversed(shown)):
        shap_col = matrix[rows, j]
        colour = _colour_scale(x.iloc[rows, j])
        y = position + _swarm_offsets(shap_col, rng)
        known = ~np.isnan(colour)
        ax.scatter(shap_col[~known], y[~known], s=5, color="#9a9a9a", linewidths=0, rasterized=True)
        ax.scatter(
            shap_col[known],
            y[known],
            c=colour[known],
            cmap="coolwarm",
            vmin=0.0,
            vmax=1.0,
            s=5,
            alpha=0.8,
            linewidths=0,
            rasterized=True,
        )


def _colour_bar(fig: Figure, ax: Axes) -> None:
    """The beeswarm's colour key, from low to high feature value."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    bar = fig.colorbar(
        ScalarMappable(norm=Normalize(0.0, 1.0), cmap="coolwarm"),
        ax=ax,
        ticks=[0.0, 1.0],
        aspect=40,
    )
    bar.ax.set_yticklabels(["Low", "High"])
    bar.set_label("Feature value (5th to 95th percentile)")


def _draw_dependence(
    ax: Axes,
    position: FloatArray,
    shap_col: FloatArray,
    rows: IntArray,
    jitter: FloatArray | float,
    known: NDArray[np.bool_],
) -> None:
    """The sampled rows as dots, the binned means as a line, and the zero line."""
    ax.scatter(
        position[rows] + jitter,
        shap_col[rows],
        s=6,
        color="#1f77b4",
        alpha=0.35,
        linewidths=0,
        rasterized=True,
        label="rows (sample)",
    )
    mean_x, mean_y = _binned_means(position[known], shap_col[known])
    if len(mean_x):
        ax.plot(
            mean_x, mean_y, color="black", linewidth=1.6, marker="o", markersize=3, label="mean"
        )
    ax.axhline(0.0, color="#555555", linewidth=0.8, zorder=0)
