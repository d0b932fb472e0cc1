"""Downloads of a level's areas (any key): GeoJSON for GIS, CSV with its metadata sheet.

==================================  ==================================================
``GET /v1/areas.geojson?level=``    RFC 7946 FeatureCollection; properties as /v1/areas
``GET /v1/areas.csv?level=``        the same figures as CSV (Link: its metadata sheet)
``GET /v1/areas.csv/metadata``      the metadata sheet: release, disclosure, columns
==================================  ==================================================

The bodies are built by :mod:`serving.downloads` once per release and level, and kept (and
gzipped once, for clients that accept it). The handlers are plain functions: a first build
(about a second for London's LSOAs) runs in the thread pool, not on the event loop.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from governance.contracts.levels import Level
from serving.dependencies import AnyKey, HolderDep, served_catalog
from serving.downloads import DownloadCache, csv_body, encoded, geojson_body, metadata_csv_body
from serving.geometry import Boundaries
from serving.openapi import problem_docs
from serving.releases import LoadedRelease

__all__ = ["GEOJSON", "router"]

GEOJSON = "application/geo+json"
CSV = "text/csv; charset=utf-8"
_ERRORS = (400, 401, 429, 503)
_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

LevelQuery = Annotated[
    Level,
    Query(
        description="Level of the areas: lsoa, ward, borough, bcu or city (every area of it).",
        examples=["ward"],
        openapi_examples={
            "ward": {"summary": "Every ward", "value": "ward"},
            "lsoa": {"summary": "Every LSOA", "value": "lsoa"},
            "borough": {"summary": "Every borough", "value": "borough"},
        },
    ),
]

_FEATURE_EXAMPLE: dict[str, Any] = {
    "type": "FeatureCollection",
    "metadata": {
        "release_id": "20240601T090000Z-3f2a9c1b7d",
        "as_of_date": "2024-04-01",
        "model_version": "3",
        "environment": "DEMO",
        "level": "ward",
        "disclosure_note": "Counts are rounded to a multiple of 5; ...",
        "geography": "Boundaries: Office for National Statistics, licensed under the Open "
        "Government Licence v3.0. ...",
        "columns": [{"name": "mean_risk", "definition": "Mean calibrated risk ..."}],
    },
    "features": [
        {
            "type": "Feature",
            "id": "E05000026",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[0.08, 51.53], [0.09, 51.53], [0.09, 51.54], [0.08, 51.54], [0.08, 51.53]]
                ],
            },
            "properties": {"code": "E05000026", "name": "Abbey", "mean_risk": 0.0241},
        }
    ],
}
_CSV_EXAMPLE = (
    "level,code,name,parent_code,suppressed,...,mean_risk,...\r\n"
    "ward,E05000026,Abbey,E09000002,false,...,0.0241,...\r\n"
)
_METADATA_EXAMPLE = (
    "name,kind,description\r\nrelease_id,about,20240601T090000Z-3f2a9c1b7d\r\n"
    "environment,about,DEMO\r\nmean_risk,column,Mean calibrated risk ...\r\n"
)

router = APIRouter(tags=["downloads"])


def _downloads(request: Request) -> tuple[Boundaries, DownloadCache]:
    """The boundaries and the bodies kept, on the app's state (:func:`serving.app.create_app`)."""
    state = request.app.state
    return state.boundaries, state.downloads


def _file_name(release: LoadedRelease, level: str, suffix: str) -> str:
    name = _FILE_NAME.sub("-", f"vru-{level}-{release.release_id}")
    return f'attachment; filename="{name}{suffix}"'


def _send(
    request: Request,
    release: LoadedRelease,
    key: tuple[str, str],
    body: bytes,
    media_type: str,
    headers: dict[str, str],
) -> Response:
    """The body, gzipped where the client accepts it (built once per release)."""
    sent, encoding = encoded(
        release.release_id,
        key,
        body,
        request.headers.get("accept-encoding", ""),
        _downloads(request)[1],
    )
    return Response(sent, media_type=media_type, headers={**headers, **encoding})


@router.get(
    "/v1/areas.geojson",
    response_class=Response,
    responses={
        200: {
            "description": "A GeoJSON FeatureCollection (RFC 7946, WGS84): one Feature per "
            "area of the level; `properties` are the area's published figures exactly as "
            "`GET /v1/areas` gives them (null where withheld); `geometry` its boundary, or "
            "null where the release's areas have none (a generated city); `metadata` the "
            "release, disclosure note, geography licence and column definitions.",
            "content": {GEOJSON: {"schema": {"type": "object"}, "example": _FEATURE_EXAMPLE}},
        },
        **problem_docs(*_ERRORS),
    },
)
def areas_geojson_route(
    request: Request, level: LevelQuery, holder: HolderDep, _: AnyKey
) -> Response:
    """Every area of a level as GeoJSON, for a GIS tool (QGIS, ArcGIS), with its metadata."""
    release = served_catalog(holder).current
    boundaries, cache = _downloads(request)
    body = geojson_body(release, level, boundaries, cache)
    disposition = {"content-disposition": _file_name(release, level, ".geojson")}
    return _send(request, release, ("geojson", level), body, GEOJSON, disposition)


@router.get(
    "/v1/areas.csv",
    response_class=Response,
    responses={
        200: {
            "description": "Every area of the level, one row each, in code order: the "
            "published figures of `GET /v1/areas` (a withheld figure is an empty cell), "
            "factors as three columns each. UTF-8 with a byte-order mark (Excel). The "
            "`Link` header (rel=describedby) names its metadata sheet.",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}},
        },
        **problem_docs(*_ERRORS),
    },
)
def areas_csv_route(request: Request, level: LevelQuery, holder: HolderDep, _: AnyKey) -> Response:
    """Every area of a level as CSV; its metadata sheet is `GET /v1/areas.csv/metadata`."""
    release = served_catalog(holder).current
    body = csv_body(release, level, _downloads(request)[1])
    headers = {
        "content-disposition": _file_name(release, level, ".csv"),
        "link": f'</v1/areas.csv/metadata?level={level}>; rel="describedby"; type="text/csv"',
    }
    return _send(request, release, ("csv", level), body, CSV, headers)


@router.get(
    "/v1/areas.csv/metadata",
    response_class=Response,
    responses={
        200: {
            "description": "The CSV's metadata sheet (`name,kind,description`): `about` rows "
            "give the release id, as-of date, model version, environment (DEMO for a demo "
            "release), the disclosure note and the geography's licence; `column` rows define "
            "every column of the CSV.",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": _METADATA_EXAMPLE}},
        },
        **problem_docs(*_ERRORS),
    },
)
def areas_csv_metadata_route(
    request: Request, level: LevelQuery, holder: HolderDep, _: AnyKey
) -> Response:
    """The metadata sheet of `GET /v1/areas.csv` for a level: what every column means."""
    release = served_catalog(holder).current
    boundaries, cache = _downloads(request)
    body = metadata_csv_body(release, level, boundaries, cache)
    disposition = {"content-disposition": _file_name(release, level, "-metadata.csv")}
    return _send(request, release, ("csv-metadata", level), body, CSV, disposition)
