"""The planners' boundary maps and the browser's copies of the /v1 downloads.

==========================================  ===============================================
``GET /planner/map/{level}?parent=``        boroughs, wards or LSOAs as a choropleth (SVG)
``GET /planner/download/areas.geojson``     the level's GeoJSON (as ``/v1/areas.geojson``)
``GET /planner/download/areas.csv``         the level's CSV (as ``/v1/areas.csv``)
``GET /planner/download/areas-metadata.csv`` its metadata sheet (``/v1/areas.csv/metadata``)
==========================================  ===============================================

A signed-in planner's browser has a session, not an API key, so the page links to these
copies; they send the same bytes as the ``/v1`` routes (one cache, :class:`DownloadCache`).

The map (:func:`serving.pages.maps.choropleth`) is drawn once per release, level and parent,
and kept. A level whose areas have no boundaries (a generated city: its codes are not ONS
codes) shows no map and says why; the table beside the map is its text alternative.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.params import Path
from starlette.responses import HTMLResponse, Response

from serving.dependencies import HolderDep, PageDep
from serving.downloads import DownloadCache, csv_body, encoded, geojson_body, metadata_csv_body
from serving.geometry import Boundaries
from serving.pages.maps import Choropleth, MapArea, choropleth
from serving.pages.web import SECURITY_HEADERS, PageError
from serving.releases import Catalog, LoadedRelease, ReleaseHolder
from serving.schemas import AreaPublic
from serving.wording import count_of, level_noun, with_article

__all__ = ["MAP_LEVELS", "map_areas", "router"]

MapLevel = Literal["borough", "ward", "lsoa"]
MAP_LEVELS: tuple[str, ...] = ("borough", "ward", "lsoa")
DownloadLevel = Literal["bcu", "borough", "ward", "lsoa"]
_NAMES = {"borough": "boroughs", "ward": "wards", "lsoa": "LSOAs", "bcu": "police BCUs"}
MAX_ROWS = 500
_NOT_READY = "No verified release is being served yet; the details are in the server log."
_NOT_READY_DO = "An operator runs 'vru release'; reload this page after that."
_UNKNOWN = "There is no area with code '{code}' in release {release}."
_UNKNOWN_DO = "Choose the area from the lists on the planner page instead of typing its code."
_NOT_ABOVE = "{name} ({code}) is {level}: it holds no {below}."
_NOT_ABOVE_DO = "Choose an area of a level above, or the whole city."
_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_ORDER = ("lsoa", "ward", "borough", "bcu", "city")

router = APIRouter(prefix="/planner", include_in_schema=False)


def _state(request: Request) -> tuple[Boundaries, DownloadCache]:
    state = request.app.state
    return state.boundaries, state.downloads


def _catalog(holder: ReleaseHolder) -> Catalog:
    catalog: Catalog | None = holder.catalog
    if catalog is None:
        raise PageError(503, _NOT_READY, _NOT_READY_DO)
    return catalog


def _within(release: LoadedRelease, level: str, parent: str | None) -> AreaPublic | None:
    """The area the map is drawn within (None: the city); refused if it lies at or below."""
    if not parent:
        return None
    above = release.areas.get(parent)
    if above is None:
        raise PageError(
            404, _UNKNOWN.format(code=parent[:64], release=release.release_id), _UNKNOWN_DO
        )
    if _ORDER.index(above.level) <= _ORDER.index(level):
        raise PageError(
            400,
            _NOT_ABOVE.format(
                name=above.name,
                code=above.code,
                level=with_article(level_noun(above.level)),  # "an LSOA", not "a lsoa"
                below=_NAMES[level],
            ),
            _NOT_ABOVE_DO,
        )
    return above


def map_areas(release: LoadedRelease, level: str, within: str | None) -> list[AreaPublic]:
    """The level's areas (within ``within`` if given), by name."""
    members = [
        a
        for a in release.areas.values()
        if a.level == level and (within is None or within in release.ancestors[a.code])
    ]
    return sorted(members, key=lambda a: (a.name.casefold(), a.code))


def _draw(
    release: LoadedRelease, level: str, above: AreaPublic | None, boundaries: Boundaries
) -> tuple[Choropleth, list[AreaPublic]]:
    members = map_areas(release, level, None if above is None else above.code)
    shapes = boundaries.level(level)
    where = "the city" if above is None else above.name
    drawn = choropleth(
        [
            MapArea(
                a.code,
                a.name,
                a.mean_risk,
                f"/planner/areas/{a.code}",
                shapes.geometries.get(a.code),
                withheld=a.suppressed,
            )
            for a in members
        ],
        title=f"Mean risk of the {_NAMES[level]} in {where}",
        ident=f"map-{level}",
    )
    return drawn, members


@router.get("/map/{level}", response_class=HTMLResponse)
def planner_area_map(
    request: Request,
    page: PageDep,
    holder: HolderDep,
    level: Annotated[MapLevel, Path()],
    parent: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """A level's areas as a map coloured by mean risk, with the same figures as a table."""
    viewer = page.signed_in()
    release = _catalog(holder).current
    above = _within(release, level, parent)
    boundaries, cache = _state(request)
    key = ("svg", f"{level}|{'' if above is None else above.code}")
    drawn, members = cache.get(
        release.release_id, key, lambda: _draw(release, level, above, boundaries)
    )
    shapes = boundaries.level(level)
    return page.pages.render(
        request,
        "area_map.html",
        {
            "viewer": viewer,
            "release": release.manifest,
            "level": level,
            "level_name": _NAMES[level],
            "levels": [(lv, _NAMES[lv]) for lv in MAP_LEVELS],
            "parent": above,
            "where": "the city" if above is None else above.name,
            "map": drawn,
            "attribution": shapes.attribution,
            "rows": members[:MAX_ROWS],
            "total": len(members),
            "total_text": count_of(len(members), level),  # "1 ward", "3 wards"
            "max_rows": MAX_ROWS,
            "withheld": sum(1 for a in members if a.suppressed),
            "generated": bool(members) and all(a.code.startswith("X") for a in members),
        },
    )


def _download(
    request: Request,
    release: LoadedRelease,
    key: tuple[str, str],
    body: bytes,
    media_type: str,
    file_name: str,
) -> Response:
    """A download as the /v1 route sends it (gzipped where accepted), with the page headers."""
    sent, encoding = encoded(
        release.release_id,
        key,
        body,
        request.headers.get("accept-encoding", ""),
        _state(request)[1],
    )
    return Response(
        sent,
        media_type=media_type,
        headers={
            **SECURITY_HEADERS,
            **encoding,
            "content-disposition": f'attachment; filename="{_FILE_NAME.sub("-", file_name)}"',
        },
    )


@router.get("/download/areas.geojson")
def planner_geojson(
    request: Request,
    page: PageDep,
    holder: HolderDep,
    level: Annotated[DownloadLevel, Query()] = "ward",
) -> Response:
    """The level's GeoJSON, as ``GET /v1/areas.geojson`` sends it."""
    page.signed_in()
    release = _catalog(holder).current
    boundaries, cache = _state(request)
    body = geojson_body(release, level, boundaries, cache)
    name = f"vru-{level}-{release.release_id}.geojson"
    return _download(request, release, ("geojson", level), body, "application/geo+json", name)


@router.get("/download/areas.csv")
def planner_level_csv(
    request: Request,
    page: PageDep,
    holder: HolderDep,
    level: Annotated[DownloadLevel, Query()] = "ward",
) -> Response:
    """The level's CSV, as ``GET /v1/areas.csv`` sends it."""
    page.signed_in()
    release = _catalog(holder).current
    _, cache = _state(request)
    body = csv_body(release, level, cache)
    name = f"vru-{level}-{release.release_id}.csv"
    return _download(request, release, ("csv", level), body, "text/csv; charset=utf-8", name)


@router.get("/download/areas-metadata.csv")
def planner_metadata_csv(
    request: Request,
    page: PageDep,
    holder: HolderDep,
    level: Annotated[DownloadLevel, Query()] = "ward",
) -> Response:
    """The CSV's metadata sheet, as ``GET /v1/areas.csv/metadata`` sends it."""
    page.signed_in()
    release = _catalog(holder).current
    boundaries, cache = _state(request)
    body = metadata_csv_body(release, level, boundaries, cache)
    name = f"vru-{level}-{release.release_id}-metadata.csv"
    key = ("csv-metadata", level)
    return _download(request, release, key, body, "text/csv; charset=utf-8", name)
