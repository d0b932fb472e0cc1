"""The audit's figures: drawn on matplotlib's Agg canvas, outside pyplot, saved as PNG.

Every plot of the audit (thresholds, calibration, SHAP) starts with :func:`new_figure` and
ends with :func:`save_png`: no display, no global list of figures, nothing left open.
matplotlib is imported inside the functions, so importing a plotting module costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["new_figure", "new_panels", "save_png"]


def new_figure(*, width: float, height: float) -> tuple[Figure, Axes]:
    """A figure of ``width`` by ``height`` inches on the Agg canvas, with one set of axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def new_panels(
    *, width: float, height: float, ratios: tuple[int, ...]
) -> tuple[Figure, list[Axes]]:
    """A figure on the Agg canvas with one set of axes per ratio, stacked, sharing x."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(ratios), 1, sharex=True, height_ratios=list(ratios), squeeze=False)
    return fig, [a for (a,) in axes]


def save_png(fig: Figure, path: Path | str, *, dpi: int) -> Path:
    """Write ``fig`` to ``path`` as a PNG at ``dpi`` dots per inch; return the path."""
    target = Path(path)
    fig.savefig(target, format="png", dpi=dpi)
    return target
