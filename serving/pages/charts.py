"""Charts drawn on the server as SVG: a bar chart with intervals, a trend, a tile map.

Pure functions from published figures to SVG markup: no script runs in the browser, the
charts print, and they read without a network. Each chart has a visible title, labelled axes
with units, and an accessible name (``role="img"``, ``<title>``, ``<desc>``). Colours come
from classes in the stylesheet (the page's content security policy allows no inline style).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from serving.definitions import OUTCOME_MONTHS
from serving.pages.text_width import fit_label, text_width

__all__ = ["Bar", "Tile", "TrendPoint", "bar_chart", "nice_ticks", "tile_map", "trend_chart"]

_FONT = 13
#: a bar chart's label margin, in pixels: at least, at most, and the gap before the axis
_LABEL_MIN, _LABEL_MAX, _LABEL_GAP = 120, 340, 8


@dataclass(frozen=True)
class Bar:
    """One area in the bar chart: its mean risk and interval (fractions), and its link."""

    label: str
    value: float
    low: float | None
    high: float | None
    href: str


@dataclass(frozen=True)
class TrendPoint:
    """One release of one area; ``value`` None when the area was suppressed in it."""

    label: str
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Tile:
    """One borough of the tile map."""

    code: str
    name: str
    row: int
    col: int
    decile: int | None
    href: str
    label: str | None = None


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (1, 2 or 5 times a power of ten apart)."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 12) for i in range(n + 1)]


def _pct(value: float) -> str:
    text = f"{100 * value:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _a(value: float) -> str:
    return f"{value:.1f}"


def _open(
    width: int, height: int, ident: str, title: str, desc: str, role: str = "img"
) -> list[str]:
    """The chart's opening tag, title and description.

    ``role`` is ``img``, or ``group`` for a chart holding links: an image's children are
    presentational, so links inside one would be hidden from assistive technology.
    """
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="{role}" '
        f'aria-labelledby="{ident}-t {ident}-d">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc)}</desc>',
        f'<text class="chart-title" x="0" y="18">{escape(title)}</text>',
    ]


def bar_chart(bars: Sequence[Bar], *, title: str, ident: str = "bars") -> Markup:
    """Horizontal bars of mean risk with 95% interval whiskers, highest first; each a link.

    The left margin is as wide as the longest label needs (:func:`text_width`), between
    :data:`_LABEL_MIN` and :data:`_LABEL_MAX` pixels; a label longer than the widest margin
    is cut with an ellipsis, its full name in its ``<title>`` (and the bar's).
    """
    right, top, row = 30, 40, 28
    width = 680
    longest = max((text_width(b.label, _FONT) for b in bars), default=0.0)
    left = math.ceil(min(max(longest + _LABEL_GAP + 4, _LABEL_MIN), _LABEL_MAX))
    height = top + row * max(1, len(bars)) + 50
    plot = width - left - right
    highest = max((b.high if b.high is not None else b.value for b in bars), default=0.0)
    ticks = nice_ticks(highest)
    scale = plot / ticks[-1]
    desc = "; ".join(
        f"{b.label}: {_pct(b.value)}"
        + (
            f" ({_pct(b.low)} to {_pct(b.high)})"
            if b.low is not None and b.high is not None
            else ""
        )
        for b in bars
    )
    out = _open(width, height, ident, title, desc or "No published areas.", role="group")
    base = top + row * max(1, len(bars))
    for tick in ticks:
        x = left + tick * scale
        out.append(
            f'<line class="grid" x1="{_a(x)}" y1="{top - 4}" x2="{_a(x)}" y2="{base}"/>'
            f'<text class="tick" x="{_a(x)}" y="{base + 16}" text-anchor="middle">'
            f"{_pct(tick)}</text>"
        )
    out.append(
        f'<text class="axis-label" x="{left + plot / 2:.0f}" y="{base + 40}" '
        'text-anchor="middle">Mean risk of serious violence in the next '
        f"{OUTCOME_MONTHS} months (%), with 95% interval</text>"
    )
    for i, bar in enumerate(bars):
        y = top + i * row
        w = max(1.0, bar.value * scale)
        label = fit_label(bar.label, _FONT, left - _LABEL_GAP - 4)
        # a cut label keeps its full name as its tooltip (the bar's title has it too)
        full = "" if label == bar.label else f"<title>{escape(bar.label)}</title>"
        out.append(f'<a href="{escape(bar.href)}">')
        out.append(
            f'<text class="bar-label" x="{left - _LABEL_GAP}" y="{y + row / 2 + 4:.0f}" '
            f'text-anchor="end">{full}{escape(label)}</text>'
        )
        out.append(
            f'<rect class="bar" x="{left}" y="{y + 5}" width="{_a(w)}" height="{row - 10}">'
            f"<title>{escape(bar.label)}: {_pct(bar.value)}</title></rect>"
        )
        out.append("</a>")
        if bar.low is not None and bar.high is not None:
            x1, x2, cy = left + bar.low * scale, left + bar.high * scale, y + row / 2
            out.append(
                f'<path class="whisker" d="M{_a(x1)} {_a(cy)}H{_a(x2)}'
                f'M{_a(x1)} {_a(cy - 6)}V{_a(cy + 6)}M{_a(x2)} {_a(cy - 6)}V{_a(cy + 6)}"/>'
            )
    out.append(f'<line class="axis" x1="{left}" y1="{top - 4}" x2="{left}" y2="{base}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def trend_chart(
    points: Sequence[TrendPoint],
    *,
    title: str,
    ident: str = "trend",
    x_label: str = "Release (as-of date of the young people scored)",
) -> Markup:
    """Mean risk in each release (oldest first) with its interval; suppressed releases marked."""
    left, right, top, bottom = 70, 30, 40, 70
    width, height = 680, 320
    plot_w, plot_h = width - left - right, height - top - bottom
    published = [p for p in points if p.value is not None]
    highest = max(
        (p.high if p.high is not None else p.value for p in published if p.value is not None),
        default=0.0,
    )
    ticks = nice_ticks(highest)
    scale = plot_h / ticks[-1]
    step = plot_w / max(1, len(points))
    desc = "; ".join(
        f"{p.label}: {'suppressed' if p.value is None else _pct(p.value)}" for p in points
    )
    out = _open(width, height, ident, title, desc or "No releases.")
    base = top + plot_h
    for tick in ticks:
        y = base - tick * scale
        out.append(
            f'<line class="grid" x1="{left}" y1="{_a(y)}" x2="{width - right}" y2="{_a(y)}"/>'
            f'<text class="tick" x="{left - 6}" y="{_a(y + 4)}" text-anchor="end">'
            f"{_pct(tick)}</text>"
        )
    out.append(
        f'<text class="axis-label" transform="translate(16 {top + plot_h / 2:.0f}) rotate(-90)" '
        'text-anchor="middle">Mean risk (%)</text>'
        f'<text class="axis-label" x="{left + plot_w / 2:.0f}" y="{height - 8}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    xs = [left + step * (i + 0.5) for i in range(len(points))]
    segments: list[list[str]] = [[]]
    for x, p in zip(xs, points, strict=True):
        if p.value is None:
            segments.append([])
        else:
            segments[-1].append(f"{_a(x)} {_a(base - p.value * scale)}")
    for seg in segments:
        if len(seg) > 1:
            out.append(f'<path class="trend-line" d="M{"L".join(seg)}"/>')
    for x, p in zip(xs, points, strict=True):
        out.append(
            f'<text class="tick" x="{_a(x)}" y="{base + 18}" text-anchor="middle">'
            f"{escape(p.label)}</text>"
        )
        if p.value is None:
            out.append(
                f'<text class="suppressed-mark" x="{_a(x)}" y="{base - 8}" '
                'text-anchor="middle">suppressed</text>'
            )
            continue
        y = base - p.value * scale
        if p.low is not None and p.high is not None:
            y1, y2 = base - p.low * scale, base - p.high * scale
            out.append(
                f'<path class="whisker" d="M{_a(x)} {_a(y1)}V{_a(y2)}'
                f'M{_a(x - 6)} {_a(y1)}H{_a(x + 6)}M{_a(x - 6)} {_a(y2)}H{_a(x + 6)}"/>'
            )
        out.append(
            f'<circle class="point" cx="{_a(x)}" cy="{_a(y)}" r="5">'
            f"<title>{escape(p.label)}: {_pct(p.value)}</title></circle>"
        )
    out.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{width - right}" y2="{base}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def _abbrev(name: str) -> str:
    words = [w for w in name.replace("-", " ").split() if w.lower() not in ("and", "of", "upon")]
    if len(words) == 1:
        return words[0][:3]
    return "".join(w[0] for w in words[:3]).upper()


def tile_map(tiles: Sequence[Tile], *, title: str, ident: str = "tiles") -> Markup:
    """One square per borough at its grid position, coloured by risk decile, each a link."""
    size, gap, top, left = 64, 4, 36, 4
    rows = max((t.row for t in tiles), default=0) + 1
    cols = max((t.col for t in tiles), default=0) + 1
    legend_h = 60
    width = max(left + cols * (size + gap), 10 * 34 + 20)
    height = top + rows * (size + gap) + legend_h
    desc = "; ".join(
        f"{t.name}: {'suppressed' if t.decile is None else f'decile {t.decile}'}" for t in tiles
    )
    out = _open(width, height, ident, title, desc or "No boroughs.", role="group")
    for t in tiles:
        x, y = left + t.col * (size + gap), top + t.row * (size + gap)
        kind = "suppressed" if t.decile is None else f"d{t.decile}"
        status = "suppressed" if t.decile is None else f"risk decile {t.decile} (1 = highest)"
        out.append(
            f'<a href="{escape(t.href)}" aria-label="{escape(t.name)}: {status}">'
            f'<rect class="tile {kind}" x="{x}" y="{y}" width="{size}" height="{size}" rx="4">'
            f"<title>{escape(t.name)}: {status}</title></rect>"
            f'<text class="tile-label {kind}" x="{x + size / 2:.0f}" y="{y + size / 2 - 2:.0f}" '
            f'text-anchor="middle">{escape(t.label or _abbrev(t.name))}</text>'
            f'<text class="tile-sub {kind}" x="{x + size / 2:.0f}" y="{y + size / 2 + 14:.0f}" '
            f'text-anchor="middle">{"–" if t.decile is None else t.decile}</text></a>'
        )
    ly = top + rows * (size + gap) + 14
    out.append(
        f'<text class="axis-label" x="{left}" y="{ly}">Risk decile among boroughs '
        "(1 = highest risk; – = suppressed)</text>"
    )
    for d in range(1, 11):
        x = left + (d - 1) * 34
        out.append(
            f'<rect class="tile d{d}" x="{x}" y="{ly + 8}" width="30" height="20"/>'
            f'<text class="tile-sub d{d}" x="{x + 15}" y="{ly + 23}" text-anchor="middle">{d}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))
