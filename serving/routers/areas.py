"""Areas: a page of areas, one area, its history, and a combination of areas (any key).

``GET /v1/areas/{code}`` (:data:`AREA_ROUTE`) is the hot route: the gate answers a published
code itself with the bytes this route would send (``Catalog.current.area_body``), so this
handler answers only the rest (an unknown code, no release loaded) and documents the route.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.params import Body, Path
from starlette.responses import Response

from governance.contracts.levels import LEVELS, Level
from serving.aggregate import combine_areas
from serving.area_lookup import find_area, suggest_areas
from serving.dependencies import AnyKey, HolderDep, served_catalog
from serving.openapi import JSON, problem_docs
from serving.problems import InvalidParam, ProblemError, SuggestedArea
from serving.releases import Catalog, LoadedRelease
from serving.schemas import (
    SORTS,
    AggregateRequest,
    AggregateResponse,
    AreaHistory,
    AreaList,
    AreaResponse,
)
from serving.series import AreaTrend, no_series_body
from serving.wording import level_noun, with_article

__all__ = ["AREA_ROUTE", "DEFAULT_PAGE", "listing_router", "router"]

AREA_ROUTE = "/v1/areas/{code}"
"""The hot route's template (:mod:`serving.gate` answers it for a published code)."""
DEFAULT_PAGE = 100
READ_ERRORS = (400, 401, 429, 503)
_UNKNOWN_AREA = "No area with code '{code}' in release {release}."
_NOT_BELOW = "Areas of level '{level}' do not lie within {parent} ({parent_level})."
SortName = Literal[SORTS]  # type: ignore[valid-type]
Code = Annotated[
    str,
    Path(
        max_length=64,
        description="The area's code (ONS code where there is one), e.g. a borough's.",
        examples=["E09000002"],
    ),
]

router = APIRouter(tags=["areas"])


def listing_router(max_page_size: int) -> APIRouter:
    """``GET /v1/areas``, whose page size the config bounds (so it is added per app)."""
    listing = APIRouter(tags=["areas"])
    listing.add_api_route(
        "/v1/areas",
        _list_areas_route(max_page_size),
        methods=["GET"],
        response_model=AreaList,
        responses=problem_docs(*READ_ERRORS, 404),
    )
    return listing


def _list_areas_route(max_page_size: int) -> Callable[..., Awaitable[Response]]:
    """The listing's handler, with ``limit`` bounded by ``max_page_size`` in its signature."""

    async def list_areas(
        holder: HolderDep,
        _: AnyKey,
        level: Annotated[
            Level | None,
            Query(
                description="Level of the areas listed (default: the level just below `parent`).",
                examples=["ward"],
            ),
        ] = None,
        parent: Annotated[
            str | None,
            Query(
                max_length=64,
                description="Only areas within this area, of any level above `level` "
                "(default: the whole city).",
                examples=["E09000002"],
            ),
        ] = None,
        sort: Annotated[
            SortName,
            Query(
                description="Order: a field, or `-field` for descending; suppressed last.",
                examples=["-rate_per_1000"],
            ),
        ] = "rank",
        limit: Annotated[
            int,
            Query(ge=1, le=max_page_size, description="Most areas on the page.", examples=[20]),
        ] = DEFAULT_PAGE,
        offset: Annotated[
            int,
            Query(ge=0, le=1_000_000, description="Areas to skip (the next page).", examples=[0]),
        ] = 0,
    ) -> Response:
        """A page of areas of one level, e.g. every ward of a borough, highest risk first.

        Without `parent`, the whole city; without `level`, the level just below `parent`
        (so `/v1/areas` lists the BCUs and `/v1/areas?parent=<BCU>` its boroughs).
        """
        catalog = served_catalog(holder)
        if parent is not None:  # a code in any case, or an area's unique name
            parent = _area_code(parent, catalog)
        listed = _listed_level(catalog, level, parent)
        return Response(
            _list_body(catalog.current, listed, parent, sort, limit, offset), media_type=JSON
        )

    return list_areas


def _listed_level(catalog: Catalog, level: str | None, parent: str | None) -> str:
    """The level listed: ``level``, checked to lie below ``parent``, or the one just below it."""
    if level is None and parent is None:
        return "bcu"
    if parent is None:
        assert level is not None
        return level
    above = catalog.current.areas.get(parent)
    if above is None:
        raise _unknown_area(parent, catalog, name="parent")
    below = _levels_below(above.level)
    if level is None:
        if not below:
            raise ProblemError(
                400,
                f"{parent} is {with_article(level_noun(above.level))}: no areas lie within it.",
                kind="invalid-parameter",
                invalid_params=[InvalidParam(name="parent", reason="has no areas within")],
            )
        return below[-1]  # the level just below
    if level not in below:
        raise ProblemError(
            400,
            _NOT_BELOW.format(
                level=level, parent=parent, parent_level=with_article(level_noun(above.level))
            ),
            kind="invalid-parameter",
            invalid_params=[
                InvalidParam(name="level", reason=f"not below {above.level}", allowed=below)
            ],
        )
    return level


def _list_body(
    release: LoadedRelease, level: str, parent: str | None, sort: str, limit: int, offset: int
) -> bytes:
    """The listing's JSON: the release's prefix, the page's header, then the pre-serialised items."""
    items = release.listings.get((level, parent), {}).get(sort, ())
    page = items[offset : offset + limit]
    head = (
        f',"level":"{level}","parent":{_json_str(parent)},"sort":"{sort}",'
        f'"total":{len(items)},"limit":{limit},"offset":{offset},"items":['
    ).encode()
    return release.list_prefix + head + b",".join(page) + b"]}"


@router.get(
    AREA_ROUTE,
    response_model=AreaResponse,
    responses=problem_docs(*READ_ERRORS, 404),
)
async def read_area(code: Code, holder: HolderDep, _: AnyKey) -> Response:
    """One area: published figures, how it compares, drivers, how common each risk factor is."""
    catalog = served_catalog(holder)
    body = catalog.current.area_body.get(_area_code(code, catalog))
    if body is None:
        raise _unknown_area(code, catalog)
    return Response(body, media_type=JSON)


@router.get(
    "/v1/areas/{code}/history",
    response_model=AreaHistory,
    responses=problem_docs(*READ_ERRORS, 404),
)
async def read_area_history(code: Code, holder: HolderDep, _: AnyKey) -> Response:
    """The area's published figures in every verified release, oldest first."""
    catalog = served_catalog(holder)
    body = catalog.history_body.get(code) or catalog.history_body.get(_area_code(code, catalog))
    if body is None:
        raise _unknown_area(code, catalog)
    return Response(body, media_type=JSON)


@router.get(
    "/v1/areas/{code}/trend",
    response_model=AreaTrend,
    responses=problem_docs(*READ_ERRORS, 404),
)
async def read_area_trend(code: Code, holder: HolderDep, _: AnyKey) -> Response:
    """The area at every as-of date, scored by this release's model, beside what was recorded.

    Each point: young people, expected number, mean risk and its interval, the recorded
    number in the same months (where the period has ended and disclosure control publishes
    it) and recorded ÷ expected with an exact interval. A release without a series answers
    `available: false`.
    """
    catalog = served_catalog(holder)
    release = catalog.current
    code = _area_code(code, catalog)  # its code in any case, or its unique name
    body = None if release.series is None else release.series.body(code)
    if body is not None:
        return Response(body, media_type=JSON)
    area = release.areas.get(code)
    if area is None:
        raise _unknown_area(code, catalog)
    return Response(no_series_body(release.manifest, code, area.level, area.name), media_type=JSON)


@router.post(
    "/v1/aggregate",
    response_model=AggregateResponse,
    responses=problem_docs(*READ_ERRORS, 404, 422),
)
async def aggregate(
    request: Request,
    body: Annotated[AggregateRequest, Body()],
    holder: HolderDep,
    _: AnyKey,
) -> AggregateResponse:
    """Combine published areas into one neighbourhood (population-weighted)."""
    request.state.audit_params = {"codes": [c[:64] for c in body.codes[:100]]}
    return combine_areas(served_catalog(holder).current, body.codes)


def _area_code(text: str, catalog: Catalog) -> str:
    """The code of the area ``text`` names (its code in any case, or its unique name), else ``text``."""
    return find_area(catalog.current.areas, text) or text


def _unknown_area(code: str, catalog: Catalog, name: str = "code") -> ProblemError:
    """404: no area ``code`` in the release served, with the areas it may have meant."""
    near = suggest_areas(catalog.current.areas, code[:64])
    hint = f" Did you mean: {'; '.join(s.text for s in near)}?" if near else ""
    return ProblemError(
        404,
        _UNKNOWN_AREA.format(code=code[:64], release=catalog.release_id) + hint,
        kind="unknown-area",
        invalid_params=[
            InvalidParam(
                name=name,
                reason="no area has this code or name",
                allowed=[s.code for s in near] or None,
            )
        ],
        suggestions=[SuggestedArea(code=s.code, name=s.name, level=s.level) for s in near],
    )


def _json_str(text: str | None) -> str:
    return json.dumps(text, ensure_ascii=False)


def _levels_below(level: str) -> list[str]:
    """Levels strictly below ``level`` (``LEVELS`` runs from LSOA up to the city)."""
    return list(LEVELS[: LEVELS.index(level)])
