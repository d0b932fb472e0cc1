"""Plots of SHAP values for the ethics board's report: summaries of bins of people, never people.

Each feature's rows are put in bins of the feature's value (:func:`feature_bins`: quantile
bins, or one bin per value for a flag or a small count, or per category, plus a bin for rows
with no value). A bin is drawn as one mark: the mean SHAP contribution of its young people,
with an interval for that mean, and their number rounded as the release rounds counts. A bin
of fewer than ``min_count`` young people (the governance threshold, ``audit.withhold_below``)
is merged with its neighbour, so that the drawn bins hold everyone with a value and no small
bin can be had by subtraction; small categories are pooled, and a pool or the "no value" bin
still too small is not drawn. The figure says how many bins were merged or not drawn.

:func:`summary_png` shows the bins of the most important features side by side (what a
beeswarm shows, without its one dot per person); :func:`binned_dependence_png` one feature's
bins in detail. Both refuse fewer than :data:`MIN_PLOT_ROWS` rows and pass the finished figure
through :func:`check_no_persons` before writing it: a mark that does not say how many people
it summarises, summarises fewer than ``min_count``, sits exactly on a contribution fewer than
``min_count`` people have, or an artist with more marks than the rows could fill with bins of
that size, is refused. A future plot that draws persons fails there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from governance.audit.arrays import FloatArray, IntArray
from governance.audit.explain import (
    SHAP_UNIT,
    ExplainInputError,
    check_count,
    check_values,
    global_importance,
)
from governance.audit.figures import new_figure, new_panels, save_png
from governance.contracts.errors import VruError
from governance.contracts.settings import ShapBinSettings

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "MIN_PLOT_ROWS",
    "NO_VALUE",
    "FeatureBins",
    "IndividualMarksError",
    "ValueBin",
    "binned_dependence_png",
    "check_no_persons",
    "feature_bins",
    "rare_contributions",
    "summary_png",
]


#: Plots are distributions: fewer rows than this are refused.
MIN_PLOT_ROWS = 100
#: The bin of rows with no value of the feature.
NO_VALUE = "no value"
#: gid of a reference line (zero), which stands for no one.
_REFERENCE = "reference"
#: gid of a colour key's axes, which stands for no one.
_KEY = "key"
_PEOPLE = re.compile(r"^people=(\d+(?:,\d+)*)$")
_BAD_X_SHAPE = "'x' must have the shape of 'values' {0}; got {1}"
_TOO_FEW_ROWS = (
    "A plot needs at least {min_rows} rows so that it shows a distribution, not people (got {rows})"
)
_UNKNOWN_FEATURE = "Feature {0!r} is not in 'names'; choose one of {1}"
_X_NOT_A_FRAME = "'x' must be a pandas DataFrame (got {0})"
_UNDECLARED = (
    "Figure {title!r}: a {kind} draws {marks:,} mark(s) without saying how many young people "
    "each summarises (gid 'people=n,...'); the report draws only summaries of at least "
    "{min_count} young people"
)
_MISDECLARED = (
    "Figure {title!r}: a {kind} draws {marks:,} mark(s) but declares the people of {declared:,}"
)
_TOO_FEW_PEOPLE = (
    "Figure {title!r}: a {kind} draws {small:,} mark(s) summarising fewer than {min_count} "
    "young people; such bins must be merged or not drawn"
)
_CROWDED = (
    "Figure {title!r}: a {kind} draws {marks:,} marks, more than the {rows:,} rows could fill "
    "with groups of {min_count}: it draws people, not summaries"
)
_ON_A_PERSON = (
    "Figure {title!r}: a {kind} puts {hits:,} coordinate(s) exactly on a SHAP contribution "
    "that fewer than {min_count} young people have: it draws people, not summaries"
)


class IndividualMarksError(VruError, ValueError):
    """A figure for the report draws marks that stand for fewer than the threshold of people."""


@dataclass(frozen=True)
class ValueBin:
    """One drawn bin: its label, people (rounded), mean contribution and its interval."""

    label: str
    people: int
    rounded: int
    mean: float
    low: float
    high: float
    order: float


@dataclass(frozen=True)
class FeatureBins:
    """A feature's drawn bins in order of value (no value last).

    ``hidden``: bins not drawn (too few people even pooled: small categories, no value);
    ``merged``: fine bins merged into a neighbour because they were too small.
    """

    feature: str
    shown: tuple[ValueBin, ...]
    hidden: int
    merged: int = 0


# --------------------------------------------------------------------------------------------
# bins


def feature_bins(
    shap_col: FloatArray,
    column: pd.Series,
    *,
    settings: ShapBinSettings,
    min_count: int,
) -> FeatureBins:
    """The bins of one feature's value, each with its people and mean contribution.

    Values are first cut finely (quantile ranges, or one bin per distinct value or category);
    then an ordered bin of fewer than `min_count` young people is merged with its neighbour
    (the next, or for the last the one before), so that every young person with a value is
    in a drawn bin and no small bin can be found by subtracting the drawn ones from a total.
    Small categories are pooled as "other categories". Only a pool, or the bin of rows with
    no value, that is still too small is hidden.

    Parameters
    ----------
    shap_col : numpy.ndarray
        The feature's SHAP value of each row.
    column : pandas.Series
        The feature's value of each row (numbers, or a category column).
    settings : ShapBinSettings
        How many quantile bins, how edges and counts are rounded, the interval's coverage.
    min_count : int
        The fewest young people a drawn bin may hold.

    Returns
    -------
    FeatureBins
        Bins in order of value; rows with no value form a last bin, :data:`NO_VALUE`.
        Each bin's interval is the `settings.confidence` Student-t interval of its mean.
    """
    check_count(min_count, "min_count")
    position, categories = _positions(column)
    known = ~np.isnan(position)
    if categories is not None:
        groups, merged = _pooled_categories(position, categories, min_count)
    else:
        groups, merged = _merged_ranges(position, known, settings, min_count)
    valued = len(groups)
    order = np.append(np.linspace(0.0, 1.0, valued) if valued > 1 else np.full(valued, 0.5), np.nan)
    groups.append((NO_VALUE, ~known))
    shown: list[ValueBin] = []
    hidden = 0
    for (label, rows), colour in zip(groups, order, strict=True):
        inside = shap_col[rows]
        if 0 < len(inside) < min_count:
            hidden += 1
        elif len(inside):
            mean, low, high = _mean_interval(inside, settings.confidence)
            rounded = _round_count(len(inside), settings.count_rounding)
            shown.append(ValueBin(label, len(inside), rounded, mean, low, high, float(colour)))
    return FeatureBins(str(column.name), tuple(shown), hidden, merged)


_Groups = list[tuple[str, NDArray[np.bool_]]]


def _merged_ranges(
    position: FloatArray, known: NDArray[np.bool_], settings: ShapBinSettings, min_count: int
) -> tuple[_Groups, int]:
    """Ordered bins of a numeric feature, small ones merged; and how many fine bins merged."""
    present = position[known]
    distinct = np.unique(present)
    filled = np.nan_to_num(position)
    if len(distinct) <= settings.bins:
        fine = np.searchsorted(distinct, filled)
        names = [_number(v) for v in distinct]

        def label(a: int, b: int) -> str:
            return names[a] if a == b else f"{names[a]} to {names[b]}"

        k = len(distinct)
    else:
        edges = _edges(present, settings)
        fine = np.searchsorted(edges, filled, side="left")
        text = [_number(e) for e in edges]

        def label(a: int, b: int) -> str:
            if a == 0:
                return "all values" if b == len(text) else f"≤ {text[b]}"
            return f"> {text[a - 1]}" if b == len(text) else f"{text[a - 1]} to {text[b]}"

        k = len(edges) + 1
    sizes = np.bincount(fine[known], minlength=k)
    runs = _runs(sizes, min_count)
    merged = int((sizes > 0).sum()) - len(runs)
    return [(label(a, b), known & (fine >= a) & (fine <= b)) for a, b in runs], merged


def _runs(sizes: IntArray, min_count: int) -> list[tuple[int, int]]:
    """Consecutive fine bins joined until each run holds ``min_count`` people.

    A short tail joins the run before it; fine bins with no one in them join a run too.
    """
    runs: list[tuple[int, int]] = []
    start, total = 0, 0
    for i, n in enumerate(sizes):
        total += int(n)
        if total >= min_count:
            runs.append((start, i))
            start, total = i + 1, 0
    if total > 0:
        runs[-1:] = [(runs[-1][0] if runs else start, len(sizes) - 1)]
    return runs


def _pooled_categories(
    position: FloatArray, categories: list[str], min_count: int
) -> tuple[_Groups, int]:
    """One bin per category of at least ``min_count`` people; the others pooled."""
    groups: _Groups = []
    pooled = np.zeros(len(position), dtype=bool)
    small = 0
    for code, name in enumerate(categories):
        rows = position == code
        if rows.sum() >= min_count:
            groups.append((name, rows))
        elif rows.any():
            pooled |= rows
            small += 1
    if small:
        groups.append(("other categories", pooled))
    return groups, max(small - 1, 0)


def _edges(present: FloatArray, settings: ShapBinSettings) -> FloatArray:
    """Quantile edges rounded to ``edge_digits`` significant digits, distinct, inner only."""
    inner = np.quantile(present, np.linspace(0.0, 1.0, settings.bins + 1)[1:-1])
    rounded = [_significant(float(e), settings.edge_digits) for e in inner]
    return np.unique(np.asarray(rounded, dtype=np.float64))


def _significant(value: float, digits: int) -> float:
    if value == 0.0 or not math.isfinite(value):
        return 0.0 if value == 0.0 else value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _number(value: float) -> str:
    """A value for a label: no trailing zeros, no negative zero."""
    return f"{value + 0.0:g}"


def _mean_interval(inside: FloatArray, confidence: float) -> tuple[float, float, float]:
    """The mean and its Student-t interval (a single value: the mean itself)."""
    mean = float(inside.mean())
    if len(inside) < 2:
        return mean, mean, mean
    half = (
        float(stats.t.ppf(0.5 + confidence / 2, len(inside) - 1))
        * float(inside.std(ddof=1))
        / math.sqrt(len(inside))
    )
    return mean, mean - half, mean + half


def _round_count(people: int, base: int) -> int:
    """Nearest multiple of ``base``, halves up (as the release rounds its counts)."""
    return int((people + base // 2) // base * base) if base > 1 else people


def _positions(column: pd.Series) -> tuple[FloatArray, list[str] | None]:
    """A column as floats (NaN if missing); a category column as codes, with its categories."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = np.asarray(column.cat.codes, dtype=np.float64)
        codes[codes < 0] = np.nan
        return codes, [str(c) for c in column.cat.categories]
    numbers = pd.to_numeric(column, errors="coerce")
    return np.asarray(numbers.to_numpy(dtype=np.float64, na_value=np.nan)), None


# --------------------------------------------------------------------------------------------
# figures


def summary_png(
    values: FloatArray,
    x: pd.DataFrame,
    names: Sequence[str],
    path: Path | str,
    *,
    settings: ShapBinSettings,
    min_count: int,
    max_display: int = 15,
    min_rows: int = MIN_PLOT_ROWS,
) -> Path:
    """The bins of the most important features, one strip each, as a PNG file.

    One horizontal strip per feature, most important at the top. Each dot is one bin of the
    feature's value: placed at the bin's mean SHAP value, with a line for its interval,
    coloured from blue (lowest values) to red (highest); grey is the bin of rows with no
    value. It shows what a beeswarm shows (which way low and high values push the score, and
    how far) without a dot per person.

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
    settings : ShapBinSettings
        The bins (see :func:`feature_bins`).
    min_count : int
        The fewest young people a drawn bin holds (smaller ones merged or not drawn).
    max_display : int, default 15
        How many features to show; the order comes from all rows.
    min_rows : int, default 100
        Fewer rows are refused.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ExplainInputError
        If the inputs do not match, there are fewer than `min_rows` rows, or an option is
        not an integer >= 1.
    IndividualMarksError
        If the figure would draw a mark that stands for fewer than `min_count` people.
    """
    matrix = _check_plot_input(values, x, names, min_rows)
    check_count(max_display, "max_display")
    check_count(min_count, "min_count")
    ranking = global_importance(matrix, names)
    shown = [list(names).index(r["feature"]) for r in ranking[:max_display]]
    fig, ax = new_figure(width=8.0, height=1.6 + 0.5 * len(shown))
    binned = [
        feature_bins(matrix[:, j], x.iloc[:, j], settings=settings, min_count=min_count)
        for j in reversed(shown)
    ]
    for position, bins in enumerate(binned):
        _draw_strip(ax, bins, position)
    _reference(ax.axvline(0.0, color="#555555", linewidth=0.8, zorder=0))
    ax.set_yticks(range(len(shown)), [str(names[j]) for j in reversed(shown)])
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.set_xlabel(f"Mean {SHAP_UNIT} of the young people in a bin of the feature's value")
    fig.suptitle(
        f"SHAP values of the {len(shown)} most important features, by value bin",
        x=0.02,
        ha="left",
    )
    ax.set_title(
        _bins_note(settings, min_count, binned, len(names) - len(shown)), fontsize=8.5, loc="left"
    )
    _colour_key(fig, ax)
    return _checked_png(fig, path, matrix, min_count)


def binned_dependence_png(
    values: FloatArray,
    x: pd.DataFrame,
    feature: str,
    path: Path | str,
    *,
    settings: ShapBinSettings,
    min_count: int,
    min_rows: int = MIN_PLOT_ROWS,
) -> Path:
    """One feature's contribution by bin of its value, and the people in each bin, as a PNG.

    Above, each bin's mean SHAP value with its interval; below, the young people in each bin
    (rounded to a multiple of ``settings.count_rounding``). Bins are those of
    :func:`feature_bins` (small ones merged or, if they cannot be, not drawn); the subtitle
    says how many.

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
    settings : ShapBinSettings
        The bins.
    min_count : int
        The fewest young people a drawn bin holds (smaller ones merged or not drawn).
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
    IndividualMarksError
        If the figure would draw a mark that stands for fewer than `min_count` people.
    """
    names = [str(c) for c in x.columns]
    matrix = _check_plot_input(values, x, names, min_rows)
    check_count(min_count, "min_count")
    if feature not in names:
        raise ExplainInputError(_UNKNOWN_FEATURE.format(feature, names))
    j = names.index(feature)
    binned = feature_bins(matrix[:, j], x.iloc[:, j], settings=settings, min_count=min_count)
    fig, (ax, counts) = new_panels(width=7.0, height=5.2, ratios=(3, 1))
    _draw_dependence(ax, counts, binned)
    ax.set_ylabel(f"Mean {SHAP_UNIT} of {feature}")
    counts.set_xlabel(f"{feature}: bin of its value")
    counts.set_ylabel("Young people")
    fig.suptitle(f"How {feature} moves the score, by bin of its value", x=0.02, ha="left")
    ax.set_title(_bins_note(settings, min_count, [binned], 0), fontsize=8.5, loc="left")
    return _checked_png(fig, path, matrix, min_count)


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


def _checked_png(fig: Figure, path: Path | str, matrix: FloatArray, min_count: int) -> Path:
    """Write ``fig`` as a PNG only if :func:`check_no_persons` finds no mark of a person."""
    check_no_persons(
        fig, rare_contributions(matrix, min_count), rows=len(matrix), min_count=min_count
    )
    return save_png(fig, path, dpi=150)


def _bins_note(
    settings: ShapBinSettings, min_count: int, binned: Sequence[FeatureBins], unshown: int
) -> str:
    """The subtitle: what a mark is, then the rounding and what was merged or not drawn."""
    first = (
        f"Each mark: the mean over a bin of at least {min_count} young people, "
        f"{settings.confidence:.0%} interval; no mark is a person"
    )
    merged, hidden = sum(b.merged for b in binned), sum(b.hidden for b in binned)
    then = []
    if settings.count_rounding > 1:
        then.append(f"people rounded to {settings.count_rounding}")
    if merged:
        then.append(f"{merged} small bin(s) merged with a neighbour")
    if hidden:
        then.append(f"{hidden} bin(s) of fewer than {min_count} not shown")
    if unshown:
        then.append(f"{unshown} less important features not shown")
    return "\n".join([first, "; ".join(then)]) if then else first


def _declare(artist: Artist, people: Sequence[int]) -> None:
    """Say on ``artist`` how many young people each of its marks summarises."""
    artist.set_gid("people=" + ",".join(str(int(n)) for n in people))


def _reference(artist: Artist) -> None:
    """Mark ``artist`` as a reference line (zero), which stands for no one."""
    artist.set_gid(_REFERENCE)


def _draw_strip(ax: Axes, binned: FeatureBins, position: int) -> None:
    """One feature's bins on the strip at ``position``: dots at the means, interval lines."""
    if not binned.shown:
        return
    k = len(binned.shown)
    y = position + (np.linspace(-0.3, 0.3, k) if k > 1 else np.zeros(1))
    people = [b.people for b in binned.shown]
    _declare(
        ax.hlines(
            y,
            [b.low for b in binned.shown],
            [b.high for b in binned.shown],
            color="#777777",
            linewidth=0.8,
        ),
        people,
    )
    order = np.array([b.order for b in binned.shown])
    known = ~np.isnan(order)
    from matplotlib import colormaps

    colours = [
        colormaps["coolwarm"](float(o)) if ok else (0.6, 0.6, 0.6, 1.0)
        for o, ok in zip(order, known, strict=True)
    ]
    means = [b.mean for b in binned.shown]
    _declare(ax.scatter(means, y, s=22, c=colours, linewidths=0, zorder=3), people)


def _draw_dependence(ax: Axes, counts: Axes, binned: FeatureBins) -> None:
    """Means and intervals above, rounded people below, one position per drawn bin."""
    shown = binned.shown
    positions = np.arange(len(shown), dtype=np.float64)
    people = [b.people for b in shown]
    _reference(ax.axhline(0.0, color="#555555", linewidth=0.8, zorder=0))
    if shown:
        _declare(
            ax.vlines(positions, [b.low for b in shown], [b.high for b in shown], color="black"),
            people,
        )
        ordered = [i for i, b in enumerate(shown) if not math.isnan(b.order)]
        for part, style in ((ordered, "-"), (sorted(set(range(len(shown))) - set(ordered)), "")):
            if part:
                (line,) = ax.plot(
                    positions[part],
                    [shown[i].mean for i in part],
                    color="black" if style else "#777777",
                    linestyle=style or "none",
                    linewidth=1.2,
                    marker="o",
                    markersize=4,
                )
                _declare(line, [people[i] for i in part])
        bars = counts.bar(positions, [b.rounded for b in shown], color="#8fb3d9", width=0.7)
        for bar, n in zip(bars, people, strict=True):
            _declare(bar, [n])
        counts.bar_label(bars, labels=[f"{b.rounded:,}" for b in shown], fontsize=7)
        counts.set_xticks(positions, [b.label for b in shown], rotation=30, ha="right")
    counts.margins(y=0.25)


def _colour_key(fig: Figure, ax: Axes) -> None:
    """The summary's colour key, from the lowest bin of values to the highest."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    bar = fig.colorbar(
        ScalarMappable(norm=Normalize(0.0, 1.0), cmap="coolwarm"),
        ax=ax,
        ticks=[0.0, 1.0],
        aspect=40,
    )
    bar.ax.set_yticklabels(["Lowest", "Highest"])
    bar.set_label("Bin of the feature's value (grey: no value)")
    bar.ax.set_gid(_KEY)


# --------------------------------------------------------------------------------------------
# the check


def rare_contributions(values: FloatArray, min_count: int) -> FloatArray:
    """Every SHAP value (any feature) that fewer than ``min_count`` rows have, sorted.

    A mark placed exactly on one of them draws that person's contribution.
    """
    found, counts = np.unique(np.asarray(values, dtype=np.float64).ravel(), return_counts=True)
    return np.asarray(found[counts < min_count], dtype=np.float64)


def check_no_persons(fig: Figure, rare: FloatArray, *, rows: int, min_count: int) -> None:
    """Refuse a figure with a mark that stands for fewer than ``min_count`` young people.

    Every collection, line and patch drawn in a plot area (colour keys aside) must declare
    the people each of its marks summarises (gid ``people=n,...``, one per mark) or be the
    reference line at zero; and then every declared count must be at least
    `min_count`, no artist may draw more marks than ``rows // min_count``, and no coordinate
    may sit exactly on a SHAP contribution in `rare` (see :func:`rare_contributions`).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The finished figure, before it is saved.
    rare : numpy.ndarray
        Contributions fewer than `min_count` people have, sorted.
    rows : int
        The young people the figure is drawn from.
    min_count : int
        The governance threshold (``audit.withhold_below``).

    Raises
    ------
    IndividualMarksError
        Naming the figure's title and the kind of artist; never a value.
    """
    title = fig.get_suptitle()
    for ax in fig.axes:
        if ax.get_gid() == _KEY:
            continue
        for artist in [*ax.collections, *ax.lines, *ax.patches]:
            points = _points(artist)
            kind = type(artist).__name__
            facts: dict[str, Any] = {
                "title": title,
                "kind": kind,
                "marks": _mark_count(artist, points),
            }
            if artist.get_gid() == _REFERENCE and _is_zero_line(points):
                continue
            _check_declared(artist, facts, min_count)
            if facts["marks"] > max(rows // min_count, 1):
                raise IndividualMarksError(_CROWDED.format(**facts, rows=rows, min_count=min_count))
            hits = _on_rare(points, rare)
            if hits:
                raise IndividualMarksError(
                    _ON_A_PERSON.format(**facts, hits=hits, min_count=min_count)
                )


def _is_zero_line(points: FloatArray) -> bool:
    """Two points, every coordinate 0 or 1: a line at zero across the axes (axhline/axvline)."""
    return len(points) <= 2 and bool(np.isin(points, (0.0, 1.0)).all())


def _check_declared(artist: Artist, facts: dict[str, Any], min_count: int) -> None:
    """The artist declares one count per mark, none below ``min_count``."""
    gid = artist.get_gid()
    match = _PEOPLE.match(gid) if isinstance(gid, str) else None
    if match is None:
        raise IndividualMarksError(_UNDECLARED.format(**facts, min_count=min_count))
    people = [int(n) for n in match.group(1).split(",")]
    if len(people) != facts["marks"]:
        raise IndividualMarksError(_MISDECLARED.format(**facts, declared=len(people)))
    small = sum(1 for n in people if n < min_count)
    if small:
        raise IndividualMarksError(
            _TOO_FEW_PEOPLE.format(**facts, small=small, min_count=min_count)
        )


def _points(artist: Artist) -> FloatArray:
    """Every data coordinate pair an artist draws: dots, segment or polygon vertices, points."""
    from matplotlib.collections import Collection, PathCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    if isinstance(artist, Line2D):
        return np.asarray(artist.get_xydata(), dtype=np.float64).reshape(-1, 2)
    if isinstance(artist, Rectangle):
        return np.asarray([artist.get_xy(), (artist.get_width(), artist.get_height())], np.float64)
    if isinstance(artist, PathCollection):  # dots: data at the offsets, the path is the marker
        return np.asarray(artist.get_offsets(), dtype=np.float64).reshape(-1, 2)
    if isinstance(artist, Collection):  # lines, polygons: data in the paths
        parts = [
            np.asarray(p.vertices, dtype=np.float64).reshape(-1, 2) for p in artist.get_paths()
        ]
        return np.concatenate(parts) if parts else np.zeros((0, 2))
    return np.zeros((0, 2))


def _mark_count(artist: Artist, points: FloatArray) -> int:
    """Marks an artist draws: a patch one, a line or dots one per point, a collection per path."""
    from matplotlib.collections import Collection, PathCollection
    from matplotlib.patches import Patch

    if isinstance(artist, Patch):
        return 1
    if isinstance(artist, PathCollection):
        return len(points)
    if isinstance(artist, Collection):
        return len(artist.get_paths())
    return len(points)


def _on_rare(points: FloatArray, rare: FloatArray) -> int:
    """How many coordinates equal (to 1e-12, relative) a contribution in ``rare``."""
    coordinates = points[np.isfinite(points)]
    if len(coordinates) == 0 or len(rare) == 0:
        return 0
    at = np.clip(np.searchsorted(rare, coordinates), 0, len(rare) - 1)
    nearest = np.minimum(
        np.abs(rare[at] - coordinates), np.abs(rare[np.maximum(at - 1, 0)] - coordinates)
    )
    return int((nearest <= 1e-12 * np.maximum(1.0, np.abs(coordinates))).sum())
