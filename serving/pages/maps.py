"""Choropleth maps drawn on the server as SVG: areas' boundaries coloured by a published figure.

A pure function (:func:`choropleth`) from areas (boundary, figure, link) to SVG markup: no
script, no tiles fetched from elsewhere, it prints and reads offline. What it draws:

* each area with a boundary as a path, filled by its figure's class (quantiles of the
  published figures of the areas drawn: ``classes`` groups of about equal size), from a
  sequential single-hue palette (ColorBrewer "Reds", safe for the common colour-vision
  deficiencies and in greyscale: lighter is lower, darker is higher);
* each area withheld by disclosure control hatched grey, with its own legend entry;
* each area as a link (``<a href>``, focusable, in document order) opening its page, named by
  ``aria-label`` and ``<title>`` with the area's name and figure;
* a legend (the classes' ranges as drawn, and the hatching), and a ``<desc>`` summary.

Areas without a boundary are not drawn; :attr:`Choropleth.unmapped` names them so that the
page lists them in text. The table the page shows beside the map is the map's text
alternative.

The projection is equirectangular, scaled by the cosine of the middle latitude (so that a
city's shapes keep their proportions), with north up (y flipped): at a city's scale this
differs from a conformal projection by well under a pixel.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

__all__ = [
    "PALETTE",
    "WITHHELD_FILL",
    "Choropleth",
    "LegendClass",
    "MapArea",
    "choropleth",
    "class_breaks",
    "percent",
    "project",
]

PALETTE: tuple[str, ...] = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")
"""ColorBrewer Reds, 5 classes (lowest first): sequential and colour-blind safe."""
WITHHELD_FILL = "#d5d9de"
_STROKE = "#ffffff"
_LEGEND_H = 64
_MARGIN = 8


@dataclass(frozen=True)
class MapArea:
    """One area to draw: its boundary (GeoJSON geometry, WGS84) or None, its figure, its link.

    ``value`` is None when the area's figure is withheld (``withheld``) or not published.
    """

    code: str
    name: str
    value: float | None
    href: str
    geometry: Mapping[str, Any] | None
    withheld: bool = False


@dataclass(frozen=True)
class LegendClass:
    """One colour of the legend: the lowest and highest figure drawn in it."""

    fill: str
    low: float
    high: float
    count: int


@dataclass(frozen=True)
class Choropleth:
    """The map (None when no area has a boundary), its classes, and the areas not drawn."""

    svg: Markup | None
    classes: tuple[LegendClass, ...]
    unmapped: tuple[str, ...]
    withheld: int


def percent(value: float) -> str:
    """A fraction as a percentage with at most two decimals (0.0241 -> ``2.41%``)."""
    text = f"{100 * value:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def class_breaks(values: Sequence[float], classes: int = len(PALETTE)) -> list[float]:
    """Upper bounds of the lower ``classes - 1`` classes: quantiles of ``values``, distinct.

    Fewer distinct values than classes give fewer classes (never an empty colour in the
    legend); one value gives one class.
    """
    if classes < 1:
        raise ValueError(f"classes: expected 1 or more, got {classes}")
    distinct = sorted(set(values))
    if len(distinct) <= 1 or classes == 1:
        return []
    if len(distinct) <= classes:
        return distinct[:-1]
    cuts = statistics.quantiles(values, n=classes, method="inclusive")
    return sorted({c for c in cuts if distinct[0] <= c < distinct[-1]})


def _rings(geometry: Mapping[str, Any]) -> Iterable[Sequence[Sequence[float]]]:
    """Every ring (outer and holes) of a Polygon or MultiPolygon."""
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    for polygon in polygons:
        yield from polygon


def project(
    geometries: Iterable[Mapping[str, Any]], width: float
) -> tuple[Callable[[float, float], tuple[float, float]], float]:
    """The projection fitting ``geometries`` into ``width`` pixels, and the height it needs.

    Equirectangular scaled by cos(middle latitude); y grows southward (north up).
    """
    lons: list[float] = []
    lats: list[float] = []
    for geometry in geometries:
        for ring in _rings(geometry):
            for point in ring:
                lons.append(float(point[0]))
                lats.append(float(point[1]))
    if not lons:
        return (lambda lon, lat: (0.0, 0.0)), 0.0
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    k = math.cos(math.radians((south + north) / 2))
    span_x, span_y = max((east - west) * k, 1e-9), max(north - south, 1e-9)
    scale = (width - 2 * _MARGIN) / span_x
    height = span_y * scale + 2 * _MARGIN

    def to_xy(lon: float, lat: float) -> tuple[float, float]:
        return (_MARGIN + (lon - west) * k * scale, _MARGIN + (north - lat) * scale)

    return to_xy, height


def _path(geometry: Mapping[str, Any], to_xy: Callable[[float, float], tuple[float, float]]) -> str:
    """SVG path data of a geometry's rings, at one decimal; repeated points dropped."""
    parts: list[str] = []
    for ring in _rings(geometry):
        last = ""
        points: list[str] = []
        for lon, lat, *_ in ring:
            x, y = to_xy(float(lon), float(lat))
            text = f"{x:.1f},{y:.1f}"
            if text != last:
                points.append(text)
                last = text
        if len(points) >= 3:
            parts.append("M" + "L".join(points) + "Z")
    return "".join(parts)


def _fill(value: float, breaks: Sequence[float], count: int) -> str:
    index = bisect_left(breaks, value)
    # spread the classes used over the palette, so that 3 classes are light, mid and dark
    step = (len(PALETTE) - 1) / max(count - 1, 1)
    return PALETTE[round(index * step)] if count > 1 else PALETTE[len(PALETTE) // 2]


def choropleth(
    areas: Sequence[MapArea],
    *,
    title: str,
    measure: str = "mean risk",
    fmt: Callable[[float], str] = percent,
    width: int = 720,
    ident: str = "map",
    classes: int = len(PALETTE),
) -> Choropleth:
    """The areas with a boundary as an SVG choropleth of ``measure``; see the module's notes.

    ``fmt`` prints a figure (legend, titles); ``ident`` makes the SVG's ids unique on a page.
    """
    published = [a.value for a in areas if a.value is not None and not a.withheld]
    breaks = class_breaks(published, classes)
    count = len(breaks) + 1 if published else 0
    legend = _legend_classes(published, breaks, count)
    drawn = [a for a in areas if a.geometry is not None]
    unmapped = tuple(a.name for a in areas if a.geometry is None)
    withheld = sum(1 for a in areas if a.withheld or a.value is None)
    if not drawn:
        return Choropleth(None, legend, unmapped, withheld)
    to_xy, map_h = project((a.geometry for a in drawn if a.geometry is not None), width)
    height = math.ceil(map_h) + _LEGEND_H
    ids = escape(ident, quote=True)
    desc = _summary(areas, drawn, legend, measure, fmt, withheld, unmapped)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart choropleth" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="group" '
        f'aria-labelledby="{ids}-title" aria-describedby="{ids}-desc">',
        f'<title id="{ids}-title">{escape(title)}</title>',
        f'<desc id="{ids}-desc">{escape(desc)}</desc>',
        f'<defs><pattern id="{ids}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{WITHHELD_FILL}"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#6b7280" stroke-width="1.5"/></pattern></defs>',
        '<g class="areas">',
    ]
    for area in drawn:
        assert area.geometry is not None
        hidden = area.withheld or area.value is None
        fill = f"url(#{ids}-hatch)" if hidden else _fill(area.value or 0.0, breaks, count)
        figure = (
            "withheld by disclosure control"
            if area.withheld
            else "not published"
            if area.value is None
            else f"{measure} {fmt(area.value)}"
        )
        label = escape(f"{area.name}: {figure}", quote=True)
        out.append(
            f'<a href="{escape(area.href, quote=True)}" aria-label="{label}">'
            f"<title>{label}</title>"
            f'<path class="area" d="{_path(area.geometry, to_xy)}" fill="{fill}" '
            f'stroke="{_STROKE}" stroke-width="0.6" fill-rule="evenodd"/></a>'
        )
    out.append("</g>")
    out.extend(_legend_svg(legend, math.ceil(map_h) + 4, measure, fmt, ids, withheld, width))
    out.append("</svg>")
    return Choropleth(Markup("".join(out)), legend, unmapped, withheld)


def _legend_classes(
    published: Sequence[float], breaks: Sequence[float], count: int
) -> tuple[LegendClass, ...]:
    """Each class's colour and the lowest and highest figure drawn in it."""
    groups: dict[int, list[float]] = {}
    for value in published:
        groups.setdefault(bisect_left(breaks, value), []).append(value)
    return tuple(
        LegendClass(_fill(members[0], breaks, count), min(members), max(members), len(members))
        for _, members in sorted(groups.items())
    )


def _legend_svg(
    legend: Sequence[LegendClass],
    top: int,
    measure: str,
    fmt: Callable[[float], str],
    ids: str,
    withheld: int,
    width: int,
) -> list[str]:
    """The legend under the map: one swatch per class, lowest first, then the hatching.

    The swatches share the map's width (at most 130 px each), so that the labels never run
    into each other.
    """
    out = [
        f'<text class="axis-label" x="{_MARGIN}" y="{top + 12}">'
        f"{escape(measure[:1].upper() + measure[1:])}: lighter is lower, darker is higher "
        "(classes of about equal numbers of areas)</text>"
    ]
    entries = len(legend) + (1 if withheld else 0)
    x, box = _MARGIN, min(130, (width - 2 * _MARGIN) // max(entries, 1))
    for item in legend:
        text = fmt(item.low) if item.low == item.high else f"{fmt(item.low)}–{fmt(item.high)}"
        out.append(
            f'<rect x="{x}" y="{top + 20}" width="{box - 6}" height="14" fill="{item.fill}" '
            'stroke="#9aa1ab" stroke-width="0.5"/>'
            f'<text class="tick" x="{x}" y="{top + 48}">{escape(text)}</text>'
        )
        x += box
    if withheld:
        out.append(
            f'<rect x="{x}" y="{top + 20}" width="{box - 6}" height="14" fill="url(#{ids}-hatch)" '
            'stroke="#9aa1ab" stroke-width="0.5"/>'
            f'<text class="tick" x="{x}" y="{top + 48}">withheld</text>'
        )
    return out


def _summary(
    areas: Sequence[MapArea],
    drawn: Sequence[MapArea],
    legend: Sequence[LegendClass],
    measure: str,
    fmt: Callable[[float], str],
    withheld: int,
    unmapped: Sequence[str],
) -> str:
    """The map in one paragraph: what is coloured, the range, the highest areas, what is missing."""
    parts = [
        f"{len(drawn)} of {len(areas)} areas drawn, coloured by {measure} in {len(legend)} "
        "classes, darker for higher."
    ]
    if legend:
        parts.append(f"Published figures run from {fmt(legend[0].low)} to {fmt(legend[-1].high)}.")
    top = sorted(
        (a for a in areas if a.value is not None and not a.withheld),
        key=lambda a: (-(a.value or 0.0), a.name),
    )[:3]
    if top:
        parts.append(
            "Highest: " + "; ".join(f"{a.name} ({fmt(a.value or 0.0)})" for a in top) + "."
        )
    if withheld:
        parts.append(f"{withheld} withheld by disclosure control (hatched).")
    if unmapped:
        parts.append(f"{len(unmapped)} without a boundary, not drawn (listed below the map).")
    parts.append("The table below gives every area's figures.")
    return " ".join(parts)
