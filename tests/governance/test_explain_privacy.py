"""Attacks on the board report's SHAP figures: can one young person be read off a plot?

The figures are drawn as the audit draws them (``model_audit._shap_figures``, with the
governance config), embedded in a report by ``render_report``, and each figure the report
embeds is taken apart as an attacker with matplotlib's objects would: every plotted mark's
coordinates. A mark that sits exactly on a SHAP contribution that fewer than the governance
threshold (``audit.withhold_below``) of young people have gives away that person's
contribution (and, with it, their feature value); an artist with more marks than there are
groups of that threshold cannot summarise that many people per mark.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import Collection, PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from governance.audit.explain import global_importance, shap_values
from governance.audit.explain_plots import (
    NO_VALUE,
    FeatureBins,
    IndividualMarksError,
    ValueBin,
    binned_dependence_png,
    check_no_persons,
    feature_bins,
    rare_contributions,
    summary_png,
)
from governance.audit.model_audit import _shap_figures
from governance.audit.report import render_report
from governance.contracts.errors import VruError
from governance.contracts.settings import GovernanceConfig, ShapBinSettings
from tests.governance.test_explain import PARAMS

ROWS = 2_000
CONFIG = GovernanceConfig(audit={"dependence_plots": 4})
MIN_COUNT = CONFIG.audit.withhold_below


@pytest.fixture(scope="module")
def explained() -> tuple[np.ndarray, pd.DataFrame]:
    """SHAP values of a small model: a continuous driver, a count, a rare flag, noise."""
    rng = np.random.default_rng(20261207)
    x = pd.DataFrame(
        {
            "driver": rng.normal(size=ROWS),
            "exclusions": rng.poisson(0.7, ROWS).astype(float),
            "rare_flag": (rng.random(ROWS) < 0.002).astype(float),
            "noise": rng.normal(size=ROWS),
        }
    )
    x.loc[rng.random(ROWS) < 0.05, "noise"] = np.nan
    logit = 2.5 * x["driver"] + 0.5 * x["exclusions"] + 2.0 * x["rare_flag"] - 1.0
    y = (rng.random(ROWS) < 1.0 / (1.0 + np.exp(-logit))).astype(int).to_numpy()
    booster = lgb.train(PARAMS, lgb.Dataset(x, y), num_boost_round=40)
    return shap_values(booster, x), x


def _drawn(
    values: np.ndarray, x: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, bytes], dict[bytes, Figure]]:
    """The audit's SHAP figures by name, and the matplotlib figure behind each file's bytes."""
    saved: list[tuple[Figure, str]] = []
    original = Figure.savefig

    def recording(fig: Figure, path: Any, *args: Any, **kwargs: Any) -> None:
        original(fig, path, *args, **kwargs)
        saved.append((fig, str(path)))

    monkeypatch.setattr(Figure, "savefig", recording)
    figures: dict[str, bytes] = {}
    ranked = [r["feature"] for r in global_importance(values, list(x.columns))]
    by_bytes: dict[bytes, Figure] = {}

    def keep(name: str, data: bytes) -> None:
        figures[name] = data
        by_bytes[data] = saved[-1][0]

    class _Recorder(dict[str, bytes]):
        def __setitem__(self, name: str, data: bytes) -> None:
            keep(name, data)

    _shap_figures(values, x, ranked, CONFIG, _Recorder())
    monkeypatch.undo()
    return figures, by_bytes


def _report(values: np.ndarray, x: pd.DataFrame, figures: dict[str, bytes]) -> str:
    importance = global_importance(values, list(x.columns))
    audit = {"explainability": {"available": True, "method": "TreeSHAP", "importance": importance}}
    return render_report(audit, figures)


def _embedded(report: str) -> list[bytes]:
    section = re.search(r'<section id="explainability">(.*?)</section>', report, flags=re.S)
    assert section
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', section.group(1))
    return [base64.b64decode(u) for u in uris]


def _marks(fig: Figure) -> Iterator[tuple[str, np.ndarray]]:
    """Every data mark of every plot area: (artist kind, an (n, 2) array of its points)."""
    for ax in fig.axes:
        for artist in ax.get_children():
            if isinstance(artist, PathCollection):  # dots: the path is the marker's shape
                yield "dots", np.asarray(artist.get_offsets(), dtype=float).reshape(-1, 2)
            elif isinstance(artist, Collection):  # lines, polygons, meshes: data in the paths
                for path in artist.get_paths():
                    yield type(artist).__name__, np.asarray(path.vertices, dtype=float)
            elif isinstance(artist, Line2D):
                yield "Line2D", np.asarray(artist.get_xydata(), dtype=float).reshape(-1, 2)


def _rare_contributions(values: np.ndarray) -> np.ndarray:
    """Every SHAP value that fewer than MIN_COUNT young people have, in any feature."""
    found, counts = np.unique(values.ravel(), return_counts=True)
    return found[counts < MIN_COUNT]


def _exposed(points: np.ndarray, rare: np.ndarray) -> int:
    """How many marked coordinates sit on a contribution fewer than MIN_COUNT people have."""
    coordinates = points[np.isfinite(points)]
    if len(coordinates) == 0 or len(rare) == 0:
        return 0
    where = np.clip(np.searchsorted(rare, coordinates), 0, len(rare) - 1)
    nearest = np.minimum(
        np.abs(rare[where] - coordinates), np.abs(rare[np.maximum(where - 1, 0)] - coordinates)
    )
    return int((nearest <= 1e-12 * np.maximum(1.0, np.abs(coordinates))).sum())


def test_no_plot_in_the_report_gives_away_a_young_persons_contribution(
    explained: tuple[np.ndarray, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    values, x = explained
    figures, by_bytes = _drawn(values, x, monkeypatch)
    embedded = _embedded(_report(values, x, figures))
    assert len(embedded) >= 1 + CONFIG.audit.dependence_plots  # the summary and the features
    rare = _rare_contributions(values)
    assert len(rare) > 100  # the attack has something to find
    exposed: dict[str, int] = {}
    crowded: dict[str, int] = {}
    for number, data in enumerate(embedded):
        fig = by_bytes[data]
        for kind, points in _marks(fig):
            label = f"figure {number} {kind}"
            exposed[label] = exposed.get(label, 0) + _exposed(points, rare)
            if len(points) > ROWS // MIN_COUNT:
                crowded[label] = len(points)
    assert {k: n for k, n in exposed.items() if n} == {}
    assert crowded == {}


# ----------------------------------------------------------------------------------------------
# the bins


def test_small_bins_are_merged_with_a_neighbour_and_counts_rounded(
    explained: tuple[np.ndarray, pd.DataFrame],
) -> None:
    values, x = explained
    settings = CONFIG.audit.shap_bins
    j = list(x.columns).index("rare_flag")
    flagged = int(x["rare_flag"].sum())
    assert 0 < flagged < MIN_COUNT  # the flag's "1" bin is too small to draw on its own
    binned = feature_bins(values[:, j], x["rare_flag"], settings=settings, min_count=MIN_COUNT)
    assert (binned.hidden, binned.merged) == (0, 1)
    (only,) = binned.shown
    assert only.label == "0 to 1"
    assert only.people == ROWS
    assert only.rounded == round(ROWS / 5) * 5
    assert only.mean == pytest.approx(values[:, j].mean())
    counts = x["exclusions"].value_counts()
    top = counts.index.max()
    assert counts[top] < MIN_COUNT  # the highest count is too rare: it joins the one below
    k = list(x.columns).index("exclusions")
    binned = feature_bins(values[:, k], x["exclusions"], settings=settings, min_count=MIN_COUNT)
    assert binned.shown[-1].label.endswith(f" to {top:g}")
    assert all(b.people >= MIN_COUNT and b.rounded % 5 == 0 for b in binned.shown)


def test_no_value_is_its_own_bin_and_hidden_when_small(
    explained: tuple[np.ndarray, pd.DataFrame],
) -> None:
    values, x = explained
    settings = CONFIG.audit.shap_bins
    k = list(x.columns).index("noise")
    noise = feature_bins(values[:, k], x["noise"], settings=settings, min_count=MIN_COUNT)
    assert noise.shown[-1].label == NO_VALUE and np.isnan(noise.shown[-1].order)
    assert noise.shown[-1].people == int(x["noise"].isna().sum())
    assert len(noise.shown) == settings.bins + 1
    few = pd.Series(np.where(np.arange(ROWS) < 3, np.nan, x["driver"]), name="noise")  # 3 none
    binned = feature_bins(values[:, k], few, settings=settings, min_count=MIN_COUNT)
    assert binned.hidden == 1 and NO_VALUE not in [b.label for b in binned.shown]
    assert sum(b.people for b in binned.shown) == ROWS - 3


def test_small_categories_are_pooled_and_a_small_pool_hidden() -> None:
    rng = np.random.default_rng(5)
    names = np.array(["a"] * 300 + ["b"] * 200 + ["c"] * 6 + ["d"] * 5 + ["e"] * 3)
    column = pd.Series(pd.Categorical(names), name="area")
    shap_col = rng.normal(size=len(names))
    settings = ShapBinSettings()
    binned = feature_bins(shap_col, column, settings=settings, min_count=MIN_COUNT)
    assert [b.label for b in binned.shown] == ["a", "b", "other categories"]
    assert binned.shown[-1].people == 14 and (binned.hidden, binned.merged) == (0, 2)
    assert binned.shown[-1].mean == pytest.approx(shap_col[names >= "c"].mean())
    alone = feature_bins(shap_col[:506], column[:506], settings=settings, min_count=MIN_COUNT)
    assert [b.label for b in alone.shown] == ["a", "b"] and alone.hidden == 1


def test_the_drawn_bins_of_a_value_add_up_to_everyone_with_one(
    explained: tuple[np.ndarray, pd.DataFrame],
) -> None:
    """Differencing: with a total (the rows, a group's mean) and the drawn bins, a hidden bin
    next to them could be worked out. Every young person with a value is in a drawn bin."""
    values, x = explained
    for j, feature in enumerate(x.columns):
        binned = feature_bins(
            values[:, j], x[feature], settings=CONFIG.audit.shap_bins, min_count=MIN_COUNT
        )
        valued = [b for b in binned.shown if b.label != NO_VALUE]
        assert sum(b.people for b in valued) == int(x[feature].notna().sum()), feature
        total = sum(b.people * b.mean for b in valued)
        assert total == pytest.approx(values[x[feature].notna().to_numpy(), j].sum(), abs=1e-9)


def test_each_bin_is_its_rows_mean_with_a_t_interval(
    explained: tuple[np.ndarray, pd.DataFrame],
) -> None:
    """Recomputed independently: the rows whose value falls in the labelled range."""
    values, x = explained
    j = list(x.columns).index("driver")
    binned = feature_bins(
        values[:, j], x["driver"], settings=CONFIG.audit.shap_bins, min_count=MIN_COUNT
    )
    assert binned.hidden == 0
    labels = [b.label for b in binned.shown]
    assert labels[0].startswith("≤ ") and labels[-1].startswith("> ")
    edges = [float(labels[0][2:]), *(float(label.split(" to ")[1]) for label in labels[1:-1])]
    assert edges == sorted(edges) and all(e == float(f"{e:.2g}") for e in edges)
    column = x["driver"].to_numpy()
    bounds = [-np.inf, *edges, np.inf]
    for b, lo, hi in zip(binned.shown, bounds[:-1], bounds[1:], strict=True):
        inside = values[(column > lo) & (column <= hi), j]
        assert b.people == len(inside)
        assert b.mean == pytest.approx(inside.mean(), rel=1e-12)
        half = 1.959963984540054 * inside.std(ddof=1) / np.sqrt(len(inside))
        assert b.high - b.mean == pytest.approx(half, rel=0.02)  # t is near normal here
        assert b.low < b.mean < b.high


def test_the_figures_are_the_same_bytes_every_time(
    explained: tuple[np.ndarray, pd.DataFrame], tmp_path: Path
) -> None:
    values, x = explained
    settings = CONFIG.audit.shap_bins
    names = list(x.columns)
    drawn = [
        summary_png(
            values, x, names, tmp_path / f"s{i}.png", settings=settings, min_count=10
        ).read_bytes()
        for i in range(2)
    ]
    assert drawn[0] == drawn[1]
    again = [
        binned_dependence_png(
            values, x, "noise", tmp_path / f"d{i}.png", settings=settings, min_count=10
        ).read_bytes()
        for i in range(2)
    ]
    assert again[0] == again[1]


def test_the_report_says_what_the_plots_show(
    explained: tuple[np.ndarray, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    values, x = explained
    figures, _ = _drawn(values, x, monkeypatch)
    assert sorted(figures) == sorted(
        ["shap_summary.png", *(f"shap_bins_{f}.png" for f in x.columns)]
    )
    report = _report(values, x, figures)
    assert "beeswarm.png" not in report and "dependence_" not in report
    text = " ".join(report.split())
    assert "The plots summarise bins of young people, never a person." in text
    assert "is merged with its neighbour" in text
    assert "The plot says how many bins were merged or not drawn." in text
    assert "no point is a person" in text


# ----------------------------------------------------------------------------------------------
# the control: a figure that draws persons is refused before it is written


def _figure(title: str = "A future plot") -> tuple[Figure, Any]:
    from governance.audit.figures import new_figure

    fig, ax = new_figure(width=4.0, height=3.0)
    fig.suptitle(title)
    return fig, ax


@pytest.fixture(scope="module")
def rare(explained: tuple[np.ndarray, pd.DataFrame]) -> np.ndarray:
    return rare_contributions(explained[0], MIN_COUNT)


def test_a_scatter_of_persons_is_refused(
    explained: tuple[np.ndarray, pd.DataFrame], rare: np.ndarray
) -> None:
    values, x = explained
    fig, ax = _figure()
    ax.scatter(x["driver"], values[:, 0])
    with pytest.raises(IndividualMarksError) as err:
        check_no_persons(fig, rare, rows=ROWS, min_count=MIN_COUNT)
    assert isinstance(err.value, VruError)
    assert str(err.value) == (
        "Figure 'A future plot': a PathCollection draws 2,000 mark(s) without saying how many "
        "young people each summarises (gid 'people=n,...'); the report draws only summaries "
        "of at least 10 young people"
    )


def test_a_scatter_of_persons_that_claims_to_be_bins_is_refused(
    explained: tuple[np.ndarray, pd.DataFrame], rare: np.ndarray
) -> None:
    values, x = explained
    fig, ax = _figure()
    dots = ax.scatter(x["driver"], values[:, 0])
    dots.set_gid("people=" + ",".join(["10"] * ROWS))  # a lie: one person per dot
    with pytest.raises(IndividualMarksError, match=r"draws 2,000 marks, more than the 2,000 rows"):
        check_no_persons(fig, rare, rows=ROWS, min_count=MIN_COUNT)
    few = values[:150]
    fig, ax = _figure()
    dots = ax.scatter(np.arange(150), few[:, 0])
    dots.set_gid("people=" + ",".join(["10"] * 150))  # few enough marks, still one person each
    with pytest.raises(IndividualMarksError) as err:
        check_no_persons(fig, rare, rows=ROWS, min_count=MIN_COUNT)
    assert str(err.value).startswith("Figure 'A future plot': a PathCollection puts ")
    assert str(err.value).endswith(
        "coordinate(s) exactly on a SHAP contribution that fewer than 10 young people have: "
        "it draws people, not summaries"
    )


def test_a_bin_under_the_threshold_or_a_wrong_count_is_refused(rare: np.ndarray) -> None:
    fig, ax = _figure("Bins")
    (line,) = ax.plot([0.0, 1.0, 2.0], [0.11, 0.22, 0.33], marker="o")
    line.set_gid("people=40,9,25")
    with pytest.raises(IndividualMarksError) as err:
        check_no_persons(fig, rare, rows=ROWS, min_count=MIN_COUNT)
    assert str(err.value) == (
        "Figure 'Bins': a Line2D draws 1 mark(s) summarising fewer than 10 young people; "
        "such bins must be merged or not drawn"
    )
    line.set_gid("people=40,25")
    with pytest.raises(IndividualMarksError) as err:
        check_no_persons(fig, rare, rows=ROWS, min_count=MIN_COUNT)
    assert str(err.value) == "Figure 'Bins': a Line2D draws 3 mark(s) but declares the people of 2"
    line.set_gid("people=40,10,25")
    check_no_persons(fig, rare, rows=ROWS, min_count=MIN_COUNT)
    bar = ax.bar([0.0], [5.0])[0]  # a bar that says nothing about its people
    with pytest.raises(IndividualMarksError, match="a Rectangle draws 1 mark"):
        check_no_persons(fig, rare, rows=ROWS, min_count=MIN_COUNT)
    bar.set_gid("people=12")
    check_no_persons(fig, rare, rows=ROWS, min_count=MIN_COUNT)


def test_the_plots_run_the_check_before_writing(
    explained: tuple[np.ndarray, pd.DataFrame], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With the bins drawn one person each, the plot is refused and nothing is written."""
    values, x = explained
    from governance.audit import explain_plots

    def per_person(shap_col: np.ndarray, column: pd.Series, **_: Any) -> FeatureBins:
        rows = [
            ValueBin(str(i), MIN_COUNT, MIN_COUNT, float(s), float(s), float(s), 0.5)
            for i, s in enumerate(shap_col[:50])
        ]
        return FeatureBins(str(column.name), tuple(rows), 0)

    monkeypatch.setattr(explain_plots, "feature_bins", per_person)
    target = tmp_path / "d.png"
    with pytest.raises(IndividualMarksError, match="exactly on a SHAP contribution"):
        binned_dependence_png(
            values, x, "driver", target, settings=CONFIG.audit.shap_bins, min_count=MIN_COUNT
        )
    assert not target.exists()
    with pytest.raises(IndividualMarksError, match="exactly on a SHAP contribution"):
        summary_png(
            values, x, list(x.columns), target, settings=CONFIG.audit.shap_bins, min_count=10
        )
    assert not target.exists()


def test_a_reference_line_away_from_zero_must_say_whom_it_stands_for(rare: np.ndarray) -> None:
    fig, ax = _figure()
    ax.axhline(0.0).set_gid("reference")
    check_no_persons(fig, rare, rows=ROWS, min_count=MIN_COUNT)
    ax.axhline(float(rare[len(rare) // 2])).set_gid("reference")  # one person's contribution
    with pytest.raises(IndividualMarksError, match=r"^Figure 'A future plot': a Line2D draws 2 "):
        check_no_persons(fig, rare, rows=ROWS, min_count=MIN_COUNT)
