"""The event-study chart of a programme, drawn on the server as SVG (no script).

One point per year around the programme's start (difference in recorded outcomes per 1,000
young people against the comparison wards) with its 95% interval as a bar; a dotted line at
no difference and a dashed line where the programme started. Same conventions as
:mod:`serving.pages.charts`: a visible title, labelled axes with units, an accessible name and
a text description, colours from the stylesheet's classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from governance.contracts.programme_schema import PublishedEventPoint
from serving.pages.charts import nice_ticks

__all__ = ["event_study_chart"]


def _a(value: float) -> str:
    return f"{value:.1f}"


def _num(value: float) -> str:
    return f"{value:+.2f}".rstrip("0").rstrip(".") if value else "0"


def _ticks(low: float, high: float) -> list[float]:
    """Round ticks from below ``low`` to above ``high`` (``low <= 0 <= high``), 0 among them."""
    top = nice_ticks(max(-low, high, 1e-9))
    step = top[1] - top[0] if len(top) > 1 else 1.0
    below, above = math.ceil(-low / step - 1e-9), math.ceil(high / step - 1e-9)
    return [step * i for i in range(-below, above + 1)]


def event_study_chart(
    points: Sequence[PublishedEventPoint], *, title: str, ident: str = "event"
) -> Markup:
    """Year-by-year differences around the start with 95% interval bars."""
    left, right, top, bottom = 70, 30, 40, 70
    width, height = 680, 320
    plot_w, plot_h = width - left - right, height - top - bottom
    ordered = sorted(points, key=lambda p: p.years_from_start)
    low = min((p.low for p in ordered), default=-1.0)
    high = max((p.high for p in ordered), default=1.0)
    ticks = _ticks(min(low, 0.0), max(high, 0.0))
    lo, hi = ticks[0], max(ticks[-1], ticks[0] + 1e-9)
    scale = plot_h / (hi - lo)
    base = top + plot_h

    def y(value: float) -> float:
        return base - (value - lo) * scale

    desc = "; ".join(
        f"year {p.years_from_start:+d}: {_num(p.estimate)} per 1,000 "
        f"(95% interval {_num(p.low)} to {_num(p.high)})"
        for p in ordered
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{ident}-t {ident}-d">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc or "No years to show.")}</desc>',
        f'<text class="chart-title" x="0" y="18">{escape(title)}</text>',
    ]
    for tick in ticks:
        out.append(
            f'<line class="grid" x1="{left}" y1="{_a(y(tick))}" x2="{width - right}" '
            f'y2="{_a(y(tick))}"/><text class="tick" x="{left - 6}" y="{_a(y(tick) + 4)}" '
            f'text-anchor="end">{_num(tick)}</text>'
        )
    out.append(
        f'<text class="axis-label" transform="translate(16 {top + plot_h / 2:.0f}) rotate(-90)" '
        'text-anchor="middle">Difference per 1,000 young people</text>'
        f'<text class="axis-label" x="{left + plot_w / 2:.0f}" y="{height - 8}" '
        'text-anchor="middle">Years since the programme started (-1 = the year before)</text>'
        f'<line class="axis" x1="{left}" y1="{_a(y(0.0))}" x2="{width - right}" '
        f'y2="{_a(y(0.0))}" stroke-dasharray="2 4"/>'
    )
    years = [p.years_from_start for p in ordered]
    first, last = (min(years), max(years)) if years else (-1, 1)
    step = plot_w / max(1, last - first + 1)

    def x(year: float) -> float:
        return left + step * (year - first + 0.5)

    if years and first <= -1 < last:
        out.append(
            f'<line class="axis" x1="{_a(x(-0.5))}" y1="{top}" x2="{_a(x(-0.5))}" y2="{base}" '
            'stroke-dasharray="6 4"/>'
            f'<text class="tick" x="{_a(x(-0.5) + 4)}" y="{top + 12}">start</text>'
        )
    for p in ordered:
        cx = x(p.years_from_start)
        y1, y2 = y(p.low), y(p.high)
        out.append(
            f'<text class="tick" x="{_a(cx)}" y="{base + 18}" text-anchor="middle">'
            f"{p.years_from_start:+d}</text>"
            f'<path class="whisker" d="M{_a(cx)} {_a(y1)}V{_a(y2)}'
            f'M{_a(cx - 6)} {_a(y1)}H{_a(cx + 6)}M{_a(cx - 6)} {_a(y2)}H{_a(cx + 6)}"/>'
            f'<circle class="point" cx="{_a(cx)}" cy="{_a(y(p.estimate))}" r="5">'
            f"<title>year {p.years_from_start:+d}: {_num(p.estimate)} per 1,000</title></circle>"
        )
    out.append("</svg>")
    return Markup("".join(out))
