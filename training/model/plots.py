"""Figures for a training run: ROC, precision-recall, calibration, feature importance (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from training.model.metrics import calibration_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw_run_figures"]

_MAX_POINTS = 2_000


def draw_run_figures(
    directory: Path,
    y: np.ndarray,
    predictions: dict[str, np.ndarray],
    importance: dict[str, float],
    split: str = "test",
) -> list[Path]:
    """Write the four figures for the given split; return their paths.

    Drawn on matplotlib's Agg canvas directly: no pyplot, so no global figure state and no
    backend start-up.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def subplots(figsize: tuple[float, float]) -> tuple[Figure, Any]:
        fig = Figure(figsize=figsize, layout="constrained")
        FigureCanvasAgg(fig)
        return fig, fig.add_subplot()

    directory.mkdir(parents=True, exist_ok=True)
    paths = []

    fig, ax = subplots(figsize=(5, 5))
    for name, p in predictions.items():
        fpr, tpr, _ = roc_curve(y, p)
        step = max(1, len(fpr) // _MAX_POINTS)
        ax.plot(fpr[::step], tpr[::step], label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC ({split})")
    ax.legend(loc="lower right")
    paths.append(_save(fig, directory / f"roc_{split}.png"))

    fig, ax = subplots(figsize=(5, 5))
    for name, p in predictions.items():
        precision, recall, _ = precision_recall_curve(y, p)
        step = max(1, len(recall) // _MAX_POINTS)  # a curve of a million points draws no better
        ax.plot(recall[::step], precision[::step], label=name)
    ax.axhline(float(np.mean(y)), color="grey", linestyle=":", label="prevalence")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall ({split})")
    ax.legend(loc="upper right")
    paths.append(_save(fig, directory / f"precision_recall_{split}.png"))

    fig, ax = subplots(figsize=(5, 5))
    top = 0.0
    for name, p in predictions.items():
        table = calibration_table(y, p)
        ax.plot(table["predicted"], table["observed"], marker="o", label=name)
        top = max(top, *table["predicted"], *table["observed"])
    ax.plot([0, top], [0, top], color="grey", linestyle=":", label="perfect")
    ax.set(
        xlabel="mean predicted risk (decile)",
        ylabel="observed rate",
        title=f"Calibration ({split})",
    )
    ax.legend(loc="upper left")
    paths.append(_save(fig, directory / f"calibration_{split}.png"))

    names = sorted(importance, key=importance.__getitem__)[-20:]
    fig, ax = subplots(figsize=(6, 6))
    ax.barh(names, [importance[n] for n in names], color="#3b6ea8")
    ax.set(xlabel="total gain", title="LightGBM feature importance (top 20)")
    paths.append(_save(fig, directory / "feature_importance.png"))
    return paths


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=100)
    return path
