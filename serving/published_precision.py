"""How many decimals a figure made from published areas may carry: as many as the release's.

A combination of published areas (``POST /v1/aggregate``) is itself a published figure, so it
is rounded the way the release rounded its own (:func:`governance.disclosure._publish`, under
the release's signed :class:`~governance.disclosure.DisclosureConfig`): mean risks and their
interval to ``risk_decimals``, fewer for a small population
(:func:`governance.disclosure.adaptive_decimals`), prevalence to ``risk_decimals``,
contributions to ``contribution_decimals`` (fewer for a small population) and the rate per
1,000 to ``rate_decimals``. A figure six decimals long beside areas published to three
claimed a precision the release never had.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from governance.disclosure import DisclosureConfig, adaptive_decimals

__all__ = ["FigureDecimals", "figure_decimals", "round_figure", "round_outward"]


@dataclass(frozen=True)
class FigureDecimals:
    """Decimals of each kind of figure for one population, under one release's rules."""

    risk: int
    prevalence: int
    contribution: int
    rate: int


def figure_decimals(rules: DisclosureConfig, population: float) -> FigureDecimals:
    """The decimals the release's rules give an area of ``population`` (published, rounded).

    Raises
    ------
    ValueError
        If ``population`` is negative or not finite.
    """
    if not math.isfinite(population) or population < 0:
        raise ValueError(f"population must be a finite number >= 0; got {population!r}")
    adaptive = int(adaptive_decimals([int(population)], rules)[0])
    return FigureDecimals(
        risk=min(adaptive, rules.risk_decimals),
        prevalence=rules.risk_decimals,
        contribution=min(adaptive, rules.contribution_decimals),
        rate=rules.rate_decimals,
    )


def round_figure(value: float | None, decimals: int) -> float | None:
    """``value`` to ``decimals``; None stays None; never a negative zero."""
    return None if value is None else round(value, decimals) + 0.0


def round_outward(value: float, decimals: int, direction: Callable[[float], int]) -> float:
    """``value`` to ``decimals``, away from the mean (``math.floor`` for a low bound, ``ceil``).

    A value already on the step (to 9 significant places, so that float noise such as
    ``0.0300000001`` does not move it a whole step) stays where it is.
    """
    scale = 10.0**decimals
    return direction(round(value * scale, 9)) / scale + 0.0
