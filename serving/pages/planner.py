"""The planners' pages: areas of a level under a parent, charts, a tile map, CSV.

Every figure comes from the release snapshot the API serves (:class:`serving.releases.Catalog`):
published area figures after disclosure control, never anything about a person. A suppressed
area is listed, with "suppressed" in place of its figures, and its figures are empty in CSV.

==============================  ==============================================================
``GET /planner``                a level's areas under a parent: table, bar chart, drill-down
``GET /planner/areas.csv``      the same areas (same filter and order) as CSV
``GET /planner/areas/{code}``   one area: figures, drivers, factors, trend across releases
``GET /planner/map``            London's boroughs as tiles coloured by risk decile
==============================  ==============================================================
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.params import Path
from markupsafe import Markup
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, Response

from governance.contracts.levels import LEVELS, Level
from serving.area_lookup import find_area, suggest_areas
from serving.comparisons import said
from serving.dependencies import HolderDep, PageDep
from serving.ons_population import ons_population_note
from serving.pages.charts import Bar, Tile, TrendPoint, bar_chart, tile_map, trend_chart
from serving.pages.series_view import area_series, series_chart
from serving.pages.tiles import Grid, grid_positions
from serving.pages.web import SECURITY_HEADERS, PageError
from serving.releases import Catalog, LoadedRelease, ReleaseHolder, sort_value
from serving.schemas import AreaHistory, AreaPublic
from serving.wording import count_of, level_noun, with_article

__all__ = ["CSV_COLUMNS", "LISTED_LEVELS", "AreaSelection", "areas_csv", "router", "select_areas"]

LISTED_LEVELS: tuple[Level, ...] = tuple(reversed(LEVELS[:-1]))
"""Levels a planner lists, from the top down."""
LEVEL_NAMES = {
    "lsoa": "LSOAs",
    "ward": "wards",
    "borough": "boroughs",
    "bcu": "police BCUs",
    "city": "city",
}
LEVEL_TITLES = {k: v[0].upper() + v[1:] for k, v in LEVEL_NAMES.items()}
"""``LEVEL_NAMES`` starting with a capital (``Police BCUs``, ``LSOAs``)."""
LevelName = Literal["bcu", "borough", "ward", "lsoa"]
SortField = Literal[
    "rank", "mean_risk", "rate_per_1000", "expected", "population", "change_mean_risk", "name"
]
SortName = Literal[
    "rank",
    "-rank",
    "mean_risk",
    "-mean_risk",
    "rate_per_1000",
    "-rate_per_1000",
    "expected",
    "-expected",
    "population",
    "-population",
    "change_mean_risk",
    "-change_mean_risk",
    "name",
    "-name",
]
COLUMNS: tuple[tuple[str, str | None, str], ...] = (
    # (header, sort field or None, what the column holds, for its header's description)
    (
        "Band",
        "rank",
        "the 95% interval against the level's median mean risk: wholly above (higher), "
        "containing it (similar), wholly below (lower); sorted by band, then mean risk",
    ),
    ("Area", "name", "name and code; follow it to the areas within"),
    ("Mean risk", "mean_risk", "the average chance among the area's young people"),
    ("95% interval", None, "interval of the mean risk"),
    ("Per 1,000", "rate_per_1000", "risk as a rate per 1,000 young people"),
    ("Expected", "expected", "expected number involved in serious violence (rounded)"),
    ("Young people", "population", "young people known to services (protected)"),
    ("Change", "change_mean_risk", "mean risk minus the previous release's"),
    ("Top drivers", None, "risk factors that raise the area's risk most"),
    (
        "Against parent, city",
        None,
        "the area's rate per 1,000 against the area it lies in, then the whole city: higher or "
        "lower when its 95% interval lies wholly above or below their rate, otherwise similar",
    ),
)
CSV_COLUMNS = (
    "level",
    "code",
    "name",
    "parent_code",
    "status",
    "population",
    "expected",
    "rate_per_1000",
    "mean_risk",
    "risk_low",
    "risk_high",
    "band",
    "rank",
    "decile",
    "change_mean_risk",
    "top_drivers",
    "release_id",
    "as_of_date",
    "model_version",
    "against_parent",
    "against_city",
)
_log = logging.getLogger("serving")
_NOT_READY = "No verified release is being served yet; the details are in the server log."
_NOT_READY_DO = "An operator runs 'vru release' (or fixes the release named in the server log); reload this page after that."
_UNKNOWN = "There is no area with code '{code}' in release {release}."
_UNKNOWN_DO = "Choose the area from the lists on the planner page instead of typing its code."
_NOT_BELOW = "{level} do not lie within {name} ({code}), so those in {where} are listed."
MAX_ROWS = 500
"""Rows a table shows (London has ~4,800 LSOAs); the CSV holds every area that matches."""
_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _catalog(holder: ReleaseHolder) -> Catalog:
    catalog = holder.catalog
    if catalog is None:
        _log.warning("not ready: %s", holder.last_error or "loading")
        raise PageError(503, _NOT_READY, _NOT_READY_DO)
    return catalog


def _sort_key(area: AreaPublic, field: str, descending: bool) -> tuple[Any, ...]:
    """As the API orders: published figures in the order asked, suppressed or empty last."""
    value = sort_value(area, field)  # rank: by band first, as the API
    if value is None:
        return (1, 0, area.code)
    if isinstance(value, str):
        return (0, value.casefold(), area.code)
    if isinstance(value, tuple):
        return (0, tuple(-v for v in value) if descending else value, area.code)
    return (0, -value if descending else value, area.code)


def _order(areas: list[AreaPublic], sort: str) -> list[AreaPublic]:
    field, descending = (sort[1:], True) if sort.startswith("-") else (sort, False)
    ordered = sorted(areas, key=lambda a: _sort_key(a, field, descending))
    if descending and field == "name":
        published = [a for a in ordered if getattr(a, field) is not None]
        published.reverse()
        ordered = published + [a for a in ordered if getattr(a, field) is None]
    return ordered


def _resolve(
    release: LoadedRelease, level: str | None, parent: str | None
) -> tuple[str, AreaPublic | None, str | None]:
    """The level listed, the area it is listed within, and a notice if that area changed.

    A level that does not lie within the parent chosen (a planner on a borough's wards who
    asks for BCUs) is listed within the parent's nearest area that it does lie within (or
    the whole city), and the notice says so, rather than an error page.
    """
    above = None
    if parent is not None:
        above = release.areas.get(parent) or release.areas.get(
            find_area(release.areas, parent) or parent
        )
        if above is None:
            raise _unknown_page(release, parent)
        below = [lv for lv in LEVELS[: LEVELS.index(above.level)] if lv in LISTED_LEVELS]
        if level is None and not below:
            raise PageError(
                400,
                f"{above.name} ({above.code}) is an LSOA: no areas lie within it.",
                "Choose a ward, borough or BCU to list the areas within it.",
            )
        if level is None:
            level = below[-1]
        elif level not in below:
            chosen = above
            above = next(
                (
                    release.areas[c]
                    for c in release.ancestors[chosen.code]
                    if LEVELS.index(release.areas[c].level) > LEVELS.index(level)
                    and release.areas[c].level != "city"
                ),
                None,
            )
            where = "the whole city" if above is None else f"{above.name}"
            notice = _NOT_BELOW.format(
                level=LEVEL_TITLES[level], name=chosen.name, code=chosen.code, where=where
            )
            return level, above, notice
    return level or "bcu", above, None


class AreaSelection(BaseModel):
    """Which areas a planner lists, and in what order: the query of the page and of its CSV."""

    level: LevelName | None = None
    parent: str | None = Field(None, max_length=64)
    sort: SortName = "rank"
    q: str | None = Field(None, max_length=100)
    published: bool = False


def select_areas(
    release: LoadedRelease, selection: AreaSelection
) -> tuple[str, AreaPublic | None, list[AreaPublic], str | None]:
    """The areas a planner page shows, filtered and in order.

    Returns the level listed, the area they lie within (None: the city), the areas, and a
    notice when that area is not the parent asked for (see :func:`_resolve`).
    """
    level, above, notice = _resolve(release, selection.level, selection.parent or None)
    within = None if above is None else above.code
    members = [
        a
        for a in release.areas.values()
        if a.level == level and (within is None or within in release.ancestors[a.code])
    ]
    if selection.q:
        needle = selection.q.strip().casefold()
        members = [a for a in members if needle in a.name.casefold() or needle in a.code.casefold()]
    if selection.published:
        members = [a for a in members if not a.suppressed]
    return level, above, _order(members, selection.sort), notice


def _unknown_page(release: LoadedRelease, code: str) -> PageError:
    """404 page for an unknown area code or name, linking the areas it may have meant."""
    near = suggest_areas(release.areas, code[:64])
    return PageError(
        404,
        _UNKNOWN.format(code=code[:64], release=release.release_id),
        _UNKNOWN_DO,
        [(f"/planner/areas/{quote(s.code, safe='')}", s.text) for s in near],
    )


def _href(path: str, **params: object) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return path + ("?" + urlencode(kept) if kept else "")


def _breadcrumbs(release: LoadedRelease, above: AreaPublic | None) -> list[dict[str, str]]:
    crumbs = [{"name": "All BCUs", "href": "/planner"}]
    if above is None:
        return crumbs
    chain = [c for c in reversed(release.ancestors[above.code]) if release.areas[c].level != "city"]
    for code in [*chain, above.code]:
        area = release.areas[code]
        crumbs.append(
            {
                "name": f"{area.name} ({level_noun(area.level)})",
                "href": _href("/planner", parent=code),
            }
        )
    return crumbs


def _parent_options(release: LoadedRelease, level: str) -> list[dict[str, Any]]:
    """Groups of areas above ``level`` a planner may list it within."""
    groups = []
    for above in LISTED_LEVELS[:-1]:
        if LEVELS.index(above) <= LEVELS.index(level):
            continue
        areas = sorted(
            (a for a in release.areas.values() if a.level == above), key=lambda a: a.name.casefold()
        )
        groups.append({"label": LEVEL_TITLES[above], "areas": areas})
    return groups


_DESCENDING_FIRST = frozenset(
    {"mean_risk", "rate_per_1000", "expected", "population", "change_mean_risk"}
)


def _headers(sort: str, common: Mapping[str, object]) -> list[dict[str, str | None]]:
    """The table's column headings: sort state (``aria-sort``) and the link that re-sorts.

    A figure column sorts highest first on the first click, then toggles.
    """
    headers = []
    for label, field, note in COLUMNS:
        state, nxt = "none", None
        if field is not None:
            if sort == field:
                state, nxt = "ascending", f"-{field}"
            elif sort == f"-{field}":
                state, nxt = "descending", field
            else:
                nxt = f"-{field}" if field in _DESCENDING_FIRST else field
        href = None if nxt is None else _href("/planner", sort=nxt, **common)
        headers.append({"label": label, "note": note, "state": state, "href": href})
    return headers


def _top_chart(areas: Sequence[AreaPublic], title: str) -> Markup | None:
    """The bar chart of the ten highest-risk published areas among ``areas``."""
    top = sorted(
        (a for a in areas if a.mean_risk is not None),
        key=lambda a: (-(a.mean_risk or 0.0), a.code),
    )[:10]
    if not top:
        return None
    bars = [
        Bar(a.name, a.mean_risk or 0.0, a.risk_low, a.risk_high, f"/planner/areas/{a.code}")
        for a in top
    ]
    return bar_chart(bars, title=title)


def _child_level(area: AreaPublic) -> str | None:
    index = LEVELS.index(area.level)
    below = LEVELS[index - 1] if index > 0 else None
    return below if below in LISTED_LEVELS else None


async def _grid(request: Request) -> Grid:
    grid: Grid = request.app.state.grid
    return grid


GridDep = Annotated[Grid, Depends(_grid)]
"""The borough grid of the tile map (``pages.borough_grid``)."""

router = APIRouter(prefix="/planner", include_in_schema=False)
"""The planners' pages: any signed-in role may read them, as the API's read routes."""


@router.get("", response_class=HTMLResponse)
async def planner_page(
    request: Request,
    page: PageDep,
    holder: HolderDep,
    selection: Annotated[AreaSelection, Query()],
) -> Response:
    """Areas of a level under a parent: sortable, filterable, with a bar chart."""
    viewer = page.signed_in()
    release = _catalog(holder).current
    listed, above, areas, notice = select_areas(release, selection)
    context = _listing_context(release, selection, listed, above, areas)
    return page.pages.render(
        request, "planner.html", {"viewer": viewer, **context, "notice": notice}
    )


def _listing_context(
    release: LoadedRelease,
    selection: AreaSelection,
    listed: str,
    above: AreaPublic | None,
    areas: list[AreaPublic],
) -> dict[str, Any]:
    """What the planner page shows of the areas selected (all but the viewer and notice)."""
    within = None if above is None else above.code
    common = {
        "level": listed,
        "parent": within,
        "q": selection.q,
        "published": selection.published,
    }
    where = "the city" if above is None else above.name
    return {
        "release": release.manifest,
        "level": listed,
        "level_name": LEVEL_NAMES[listed],
        "level_title": LEVEL_TITLES[listed],
        "levels": [(lv, LEVEL_TITLES[lv]) for lv in LISTED_LEVELS],
        "parent": above,
        "parent_groups": _parent_options(release, listed),
        "sort": selection.sort,
        "q": selection.q or "",
        "published": selection.published,
        "headers": _headers(selection.sort, common),
        "rows": _table_rows(areas),
        "suppressed_count": sum(1 for a in areas if a.suppressed),
        "matching": len(areas),
        "matching_text": count_of(len(areas), listed),
        "max_rows": MAX_ROWS,
        "crumbs": _breadcrumbs(release, above),
        "chart": _top_chart(areas, f"Highest-risk {LEVEL_NAMES[listed]} in {where}"),
        "csv_href": _href("/planner/areas.csv", sort=selection.sort, **common),
        "where": where,
    }


def _table_rows(areas: Sequence[AreaPublic]) -> list[dict[str, Any]]:
    """The table's rows (the first :data:`MAX_ROWS`): each area, its drill-down and detail links."""
    rows = []
    for area in areas[:MAX_ROWS]:
        child = _child_level(area)
        rows.append(
            {
                "area": area,
                "children_href": None if child is None else _href("/planner", parent=area.code),
                "children_label": None if child is None else LEVEL_NAMES[child],
                "detail_href": f"/planner/areas/{area.code}",
            }
        )
    return rows


@router.get("/areas.csv")
async def planner_csv(
    request: Request,
    page: PageDep,
    holder: HolderDep,
    selection: Annotated[AreaSelection, Query()],
) -> Response:
    """The areas of the planner page, as published, in CSV (suppressed figures empty)."""
    page.signed_in()
    release = _catalog(holder).current
    listed, above, areas, _ = select_areas(release, selection)
    body = areas_csv(release, areas)
    name = _FILE_NAME.sub(
        "-", f"vru-{listed}-{above.code if above else 'city'}-{release.release_id}"
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            **SECURITY_HEADERS,
            "content-disposition": f'attachment; filename="{name}.csv"',
        },
    )


@router.get("/areas/{code}", response_class=HTMLResponse)
async def planner_area(
    request: Request,
    page: PageDep,
    holder: HolderDep,
    code: Annotated[str, Path(max_length=64)],
) -> Response:
    """One area: figures, drivers, factors, and its trend across releases."""
    viewer = page.signed_in()
    catalog = _catalog(holder)
    release = catalog.current
    area = release.areas.get(code)
    if area is None:
        found = find_area(release.areas, code)
        if found is not None:  # a code in another case, or an area's unique name
            return page.pages.redirect(request, f"/planner/areas/{quote(found, safe='')}")
        raise _unknown_page(release, code)
    history = catalog.history_body.get(code)
    points = [] if history is None else AreaHistory.model_validate_json(history).points
    trend = trend_chart(
        [TrendPoint(p.as_of_date, p.mean_risk, p.risk_low, p.risk_high) for p in points],
        title=f"Mean risk of {area.name} in each release",
    )
    series = area_series(release, area)
    child = _child_level(area)
    parent = release.areas.get(area.parent_code) if area.parent_code else None
    within = parent if parent and parent.level != "city" else None
    return page.pages.render(
        request,
        "area.html",
        {
            "viewer": viewer,
            "release": release.manifest,
            "area": area,
            "level_name": level_noun(area.level),
            "level_plural": level_noun(area.level, 2),
            "level_with_article": with_article(level_noun(area.level), capital=True),
            "parent_level_name": level_noun(parent.level) if parent else "",
            "ons_note": ons_population_note(area.code, area.population),  # London's areas
            "points": points,
            "trend": trend,
            "children_href": None if child is None else _href("/planner", parent=code),
            "children_label": None if child is None else LEVEL_NAMES[child],
            "siblings_href": _href(
                "/planner", level=area.level, parent=None if within is None else within.code
            ),
            "crumbs": _breadcrumbs(release, within),
            "series": series,
            "series_chart": series_chart(series, area.name),
        },
    )


@router.get("/map", response_class=HTMLResponse)
async def planner_map(
    request: Request, page: PageDep, holder: HolderDep, grid: GridDep
) -> Response:
    """Boroughs as tiles in a geographic grid, coloured by risk decile; each links in."""
    viewer = page.signed_in()
    release = _catalog(holder).current
    boroughs = sorted(
        (a for a in release.areas.values() if a.level == "borough"), key=lambda a: a.code
    )
    return page.pages.render(
        request,
        "map.html",
        {
            "viewer": viewer,
            "release": release.manifest,
            "map": tile_map(_tiles(boroughs, grid), title="Boroughs by risk decile"),
            "boroughs": sorted(boroughs, key=lambda a: (a.rank is None, a.rank or 0, a.name)),
            "london": bool(boroughs) and all(a.code in grid for a in boroughs),
        },
    )


def _tiles(boroughs: Sequence[AreaPublic], grid: Grid) -> list[Tile]:
    """The boroughs as tiles at their places in ``grid``, each linking to its wards."""
    places = grid_positions([(a.code, a.name) for a in boroughs], grid)
    return [
        Tile(
            a.code,
            a.name,
            *places[a.code],
            a.decile,
            _href("/planner", parent=a.code),
            grid.labels.get(a.code),
        )
        for a in boroughs
    ]


def _cell(value: object) -> object:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with a '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _expected_cell(area: AreaPublic) -> object:
    """The expected number as the pages print it: "fewer than N" where 0 is published."""
    if area.expected_fewer_than is not None:
        return f"fewer than {area.expected_fewer_than:,.1f}"  # as the pages print it
    return area.expected


def _comparison_cells(area: AreaPublic) -> tuple[str, str]:
    """The verdicts against the parent and the city, as the badges say them."""
    comparison = area.comparison
    if comparison is None:
        return "", ""
    return said(comparison.parent), said(comparison.city)


def areas_csv(release: LoadedRelease, areas: Sequence[AreaPublic]) -> str:
    """Published figures of ``areas`` as CSV; a suppressed area's figures are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    m = release.manifest
    for a in areas:
        figures: list[object] = (
            [None] * 11
            if a.suppressed
            else [
                a.population,
                _expected_cell(a),
                a.rate_per_1000,
                a.mean_risk,
                a.risk_low,
                a.risk_high,
                a.band,
                a.rank,
                a.decile,
                a.change_mean_risk,
                " ".join(a.top_drivers),
            ]
        )
        row = [
            a.level,
            a.code,
            a.name,
            a.parent_code,
            "suppressed" if a.suppressed else "published",
            *figures,
            m.release_id,
            m.as_of_date,
            m.model_version,
            *_comparison_cells(a),
        ]
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()
