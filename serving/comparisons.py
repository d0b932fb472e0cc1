"""Each area against its parent area and the city: higher, similar or lower, by interval.

The rule, as England's public-health profiles (Fingertips) compare an area with a benchmark:

    The area's rate per 1,000 gets an exact 95% Poisson interval from its published expected
    number. If the whole interval lies above the comparator's published rate per 1,000 the
    area is **higher**; if it lies wholly below, **lower**; if it contains it, **similar**.

Why exact Poisson (Garwood; the chi-square/gamma form that Byar's formula approximates): an
area's expected number is small where it matters most (an LSOA expects a handful), where a
normal interval is too narrow on the low side. The gamma form works for the non-whole
expected numbers a release publishes.

Only published figures are used (the server never sees anything else), and the interval is
widened by how far disclosure control may have moved the published expected number (its
``bound``: half the rounding base, the cell-key perturbation's largest error, or the dp
noise's 95% half-width), so protection cannot turn "similar" into "higher". The published
population's own rounding (a few in hundreds) is not added: it moves the rate by well under
one per cent. The comparator is a point (its published rate), as Fingertips compares with
England's value.

An area whose figures are withheld is "not compared" (reason ``withheld``); so is one whose
comparator's rate is withheld (reason ``comparator withheld``). The city has no comparator.
Pure: published figures in, verdicts out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincinv

from serving.schemas import AreaComparison, AreaPublic, Comparison, Verdict

__all__ = [
    "CONFIDENCE",
    "METHOD",
    "RateInterval",
    "compare_areas",
    "rate_intervals",
    "said",
    "verdict",
]

CONFIDENCE = 0.95
"""The interval's level, as the bands and the areas' own intervals use."""

METHOD = "exact Poisson 95% interval of the rate per 1,000, widened for disclosure control"
"""Named in every comparison; the rule in words is in the module's docstring and the schema."""
WITHHELD = "withheld"
COMPARATOR_WITHHELD = "comparator withheld"


@dataclass(frozen=True)
class RateInterval:
    """An area's rate per 1,000 and its interval, from published figures."""

    low: float
    high: float


def rate_intervals(
    expected: Sequence[float],
    population: Sequence[float],
    bound: Sequence[float],
    confidence: float = CONFIDENCE,
) -> list[RateInterval]:
    """Exact Poisson intervals of ``1000 * expected / population``, widened by ``bound``.

    The lower end is the ``(1 - confidence) / 2`` quantile of a gamma with shape
    ``expected - bound`` (0 when that is 0 or less), the upper end the ``(1 + confidence) / 2``
    quantile of a gamma with shape ``expected + bound + 1``: Garwood's interval for a Poisson
    count, at the ends the published count may really be.

    Raises
    ------
    ValueError
        If the sequences differ in length, a population is not above 0, an expected number or
        a bound is negative, or ``confidence`` is not in (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence}")
    e = np.asarray(expected, dtype=np.float64)
    n = np.asarray(population, dtype=np.float64)
    b = np.asarray(bound, dtype=np.float64)
    if not e.shape == n.shape == b.shape:
        raise ValueError(
            f"expected, population and bound must have one length each; got "
            f"{e.shape[0]}, {n.shape[0]}, {b.shape[0]}"
        )
    if (n <= 0).any():
        raise ValueError("population must be above 0 for every area compared")
    if (e < 0).any() or (b < 0).any():
        raise ValueError("expected and bound must be 0 or more")
    alpha = 1.0 - confidence
    low_count = np.maximum(e - b, 0.0)
    low = np.where(
        low_count > 0, gammaincinv(np.where(low_count > 0, low_count, 1.0), alpha / 2), 0.0
    )
    high = gammaincinv(e + b + 1.0, 1.0 - alpha / 2)
    return [
        RateInterval(low=float(lo), high=float(hi))
        for lo, hi in zip(1000.0 * low / n, 1000.0 * high / n, strict=True)
    ]


def verdict(interval: RateInterval, comparator: float) -> Verdict:
    """``higher`` (wholly above ``comparator``), ``lower`` (wholly below) or ``similar``."""
    if interval.low > comparator:
        return "higher"
    if interval.high < comparator:
        return "lower"
    return "similar"


def compare_areas(
    areas: Mapping[str, AreaPublic], bounds: Mapping[str, float], city_code: str | None
) -> dict[str, AreaComparison]:
    """Every area against its parent and the city, by code (the city's comparisons are null).

    One comparator's comparisons take few distinct values (a verdict, or a reason), so each
    is made once and shared: a London-sized release's areas are compared in well under a
    second at load.

    ``bounds`` is how far each published area's expected number may lie from the truth
    (:func:`serving.releases.expected_bounds`); an area missing from it is treated as exact.
    """
    shown = [
        a
        for a in areas.values()
        if not a.suppressed and a.expected is not None and a.rate_per_1000 is not None
        if a.population
    ]
    intervals = dict(
        zip(
            [a.code for a in shown],
            rate_intervals(
                [max(float(a.expected or 0.0), 0.0) for a in shown],
                [float(a.population or 0) for a in shown],
                [bounds.get(a.code, 0.0) for a in shown],
            ),
            strict=True,
        )
    )
    made: dict[tuple[str, str], Comparison] = {}

    def against(code: str, comparator: AreaPublic | None) -> Comparison | None:
        if comparator is None:
            return None
        interval = intervals.get(code)
        value = None if comparator.suppressed else comparator.rate_per_1000
        said = WITHHELD if interval is None else "" if value is None else verdict(interval, value)
        key = (comparator.code, said)
        if key not in made:
            made[key] = _against(interval, comparator)
        return made[key]

    out: dict[str, AreaComparison] = {}
    for code, area in areas.items():
        parent = None if area.parent_code is None else areas.get(area.parent_code)
        city = None if city_code is None or code == city_code else areas.get(city_code)
        out[code] = AreaComparison(
            parent=against(code, parent),
            city=against(code, city),
            rate_low=None if code not in intervals else round(intervals[code].low, 2),
            rate_high=None if code not in intervals else round(intervals[code].high, 2),
        )
    return out


def _against(interval: RateInterval | None, comparator: AreaPublic) -> Comparison:
    """One comparison; "not compared" when either side is withheld."""
    value = None if comparator.suppressed else comparator.rate_per_1000
    if interval is None:
        return Comparison(
            comparator_code=comparator.code,
            comparator_name=comparator.name,
            comparator_value=value,
            verdict="not compared",
            reason=WITHHELD,
            method=METHOD,
        )
    if value is None:
        return Comparison(
            comparator_code=comparator.code,
            comparator_name=comparator.name,
            comparator_value=None,
            verdict="not compared",
            reason=COMPARATOR_WITHHELD,
            method=METHOD,
        )
    return Comparison(
        comparator_code=comparator.code,
        comparator_name=comparator.name,
        comparator_value=value,
        verdict=verdict(interval, value),
        reason=None,
        method=METHOD,
    )


def said(side: Comparison | None) -> str:
    """A comparison as a table cell says it: the verdict, and why where it was not compared."""
    if side is None:
        return ""
    return side.verdict + (f": {side.reason}" if side.reason else "")
