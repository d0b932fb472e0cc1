"""The planners' API: area-level figures of verified releases, and nothing else.

``create_app(config)`` builds the FastAPI application; uvicorn starts it from the import string
``"serving.app:create_app"`` (``factory=True``), in which case the settings come from
``VRU_SERVING_CONFIG`` (:func:`serving.config.get_settings`).

Routes (all JSON; errors are ``application/problem+json``, :mod:`serving.problems`):

============================  =======  ====================================================
``GET  /v1/areas``            any key  a page of areas of a level, optionally under a parent
``GET  /v1/areas/{code}``     any key  one area's figures, drivers and prevalence
``GET  /v1/areas/{code}/history``      the area in every verified release
``POST /v1/aggregate``        any key  population-weighted combination of published areas
``GET  /v1/releases[/{id}]``  any key  verified releases; one manifest and model card summary
``POST /v1/admin/reload``     admin    load what CURRENT names now and swap it in
``GET  /metrics``             admin    Prometheus text
``GET  /healthz``, ``/readyz`` open    alive; ready only with a verified release loaded
``/signin``, ``/planner...``, session  the web pages for planners and the board
``/board...``, ``/static/...``         (:mod:`serving.pages`; not in the OpenAPI document)
============================  =======  ====================================================

``GET /v1/areas/{code}`` is the hot route. The gate (:mod:`serving.gate`) sits outside
FastAPI's own middleware (:class:`_Api`), checks the key, role and rate limit, and answers a
known code itself with the bytes serialised when the release was loaded: no Request object,
validation, serialisation or dependency injection per request (FastAPI's stack costs about as
much again as a bare Starlette endpoint). Anything else, including an unknown code, goes on
through FastAPI, whose route documents ``/v1/areas/{code}`` in OpenAPI and answers the problem
(404, 503). Both send the same bytes (``Catalog.current.area_body``).
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Literal

import anyio
from fastapi import Depends, FastAPI, Query, Request
from fastapi.params import Body, Path
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import ASGIApp

from governance.contracts.levels import LEVELS, Level
from governance.contracts.release_schema import ReleaseError
from serving.aggregate import combine_areas
from serving.audit import RequestAudit
from serving.config import ServingConfig, get_settings
from serving.gate import Gate, RateLimiter
from serving.keys import KeyStore
from serving.metrics import CONTENT_TYPE, Metrics
from serving.openapi import build_openapi, problem_docs
from serving.pages import install_pages
from serving.problems import (
    InvalidParam,
    ProblemError,
    install_handlers,
)
from serving.releases import Catalog, ReleaseHolder, ReleaseLibrary
from serving.schemas import (
    SORTS,
    AggregateRequest,
    AggregateResponse,
    AreaHistory,
    AreaList,
    AreaResponse,
    Health,
    Ready,
    ReleaseDetail,
    ReleaseList,
    ReloadResult,
)

__all__ = ["create_app"]

_log = logging.getLogger("serving")
JSON = "application/json"
_DEFAULT_PAGE = 100
_UNKNOWN_AREA = "No area with code '{code}' in release {release}."
_UNKNOWN_RELEASE = "No verified release with id '{rid}'; GET /v1/releases lists them."
_NOT_READY = "No verified release is loaded yet: {why}"
_NOT_BELOW = "Areas of level '{level}' do not lie within {parent} (a {parent_level})."
_UNKNOWN_QUERY = "Unknown query parameter(s) {names} for {path}."
SortName = Literal[SORTS]  # type: ignore[valid-type]


_READ_ERRORS = (400, 401, 429, 503)


def create_app(config: ServingConfig | None = None) -> FastAPI:
    """Build the API for ``config`` (default: :func:`serving.config.get_settings`)."""
    config = config or get_settings()
    governance = config.governance()
    holder = ReleaseHolder(ReleaseLibrary(config.releases_dir, governance.board_public_key_b64))
    keys = KeyStore(config.keys_file, check_seconds=config.keys_check_seconds)
    audit = RequestAudit(
        config.audit_log_path(governance), flush_seconds=config.audit_flush_seconds
    )
    limiter = RateLimiter(config.rate_limit.requests_per_minute, config.rate_limit.burst)
    try:
        holder.reload()
    except ReleaseError as err:
        _log.warning("not ready: %s", err)

    def gauges() -> dict[str, tuple[str, float, dict[str, str]]]:
        catalog = holder.catalog
        out: dict[str, tuple[str, float, dict[str, str]]] = {
            "vru_api_audit_backlog": ("Request audit records not yet written.", audit.backlog, {}),
            "vru_api_audit_written": ("Request audit records written.", audit.written, {}),
            "vru_api_audit_write_failures": ("Failed audit-log writes.", audit.failures, {}),
            "vru_api_ready": (
                "1 when a verified release is served.",
                float(catalog is not None),
                {},
            ),
        }
        if catalog is not None:
            m = catalog.current.manifest
            out["vru_api_release_info"] = (
                "The release served.",
                1.0,
                {"release_id": m.release_id, "model_version": m.model_version},
            )
            out["vru_api_release_areas"] = (
                "Areas in the release served.",
                float(len(catalog.current.areas)),
                {},
            )
        return out

    metrics = Metrics(gauges)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        audit.start()
        poll = None
        if config.reload_poll_seconds > 0:
            poll = asyncio.create_task(_poll(holder, config.reload_poll_seconds))
        try:
            yield
        finally:
            if poll is not None:
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll
            await anyio.to_thread.run_sync(audit.close)

    app = _Api(
        title="vru-risk planners' API",
        version="1",
        summary="Area-level risk figures of verified releases: never anything about a person.",
        description=(
            "Published figures of the current release for LSOAs, wards, boroughs, police BCUs "
            "and the city: risk with an interval, expected count, rank, drivers, prevalence of "
            "risk factors, trends across releases. Every figure went through statistical "
            "disclosure control before release; suppressed areas say so and publish nothing. "
            "Authenticate with `Authorization: Bearer <token>`. Errors are "
            "`application/problem+json`."
        ),
        lifespan=lifespan,
        dependencies=[Depends(_only_known_query)],
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.holder = holder
    app.state.audit = audit
    app.state.keys = keys
    app.state.metrics = metrics
    app.state.config = config
    install_handlers(
        app,
        {
            "level": list(LEVELS),
            "sort": list(SORTS),
            "limit": [f"1..{config.max_page_size}"],
            "offset": ["0 or more"],
            "codes": ["1 to 1000 distinct area codes"],
        },
    )

    def serving() -> Catalog:
        catalog = holder.catalog
        if catalog is None:
            raise ProblemError(
                503, _NOT_READY.format(why=holder.last_error or "loading"), kind="not-ready"
            )
        return catalog

    # -- areas -----------------------------------------------------------------------------

    @app.get(
        "/v1/areas",
        response_model=AreaList,
        responses=problem_docs(*_READ_ERRORS, 404),
        tags=["areas"],
    )
    async def list_areas(
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
            Query(description="Order: a field, or `-field` for descending; suppressed last."),
        ] = "rank",
        limit: Annotated[int, Query(ge=1, le=config.max_page_size)] = _DEFAULT_PAGE,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response:
        """A page of areas of one level, e.g. every ward of a borough, highest risk first.

        Without `parent`, the whole city; without `level`, the level just below `parent`
        (so `/v1/areas` lists the BCUs and `/v1/areas?parent=<BCU>` its boroughs).
        """
        catalog = serving()
        release = catalog.current
        if level is None and parent is None:
            level = "bcu"
        if parent is not None:
            above = release.areas.get(parent)
            if above is None:
                raise _unknown_area(parent, catalog)
            below = _levels_below(above.level)
            if level is None:
                if not below:
                    raise ProblemError(
                        400,
                        f"{parent} is a {above.level}: no areas lie within it.",
                        kind="invalid-parameter",
                        invalid_params=[InvalidParam(name="parent", reason="has no areas within")],
                    )
                level = below[-1]  # type: ignore[assignment]  # the level just below
            elif level not in below:
                raise ProblemError(
                    400,
                    _NOT_BELOW.format(level=level, parent=parent, parent_level=above.level),
                    kind="invalid-parameter",
                    invalid_params=[
                        InvalidParam(name="level", reason=f"not below {above.level}", allowed=below)
                    ],
                )
        assert level is not None
        items = release.listings.get((level, parent), {}).get(sort, ())
        page = items[offset : offset + limit]
        head = (
            f',"level":"{level}","parent":{_json_str(parent)},"sort":"{sort}",'
            f'"total":{len(items)},"limit":{limit},"offset":{offset},"items":['
        ).encode()
        return Response(release.list_prefix + head + b",".join(page) + b"]}", media_type=JSON)

    def area_body(code: str) -> bytes:
        catalog = serving()
        body = catalog.current.area_body.get(code)
        if body is None:
            raise _unknown_area(code, catalog)
        return body

    @app.get(
        "/v1/areas/{code}",
        response_model=AreaResponse,
        responses=problem_docs(*_READ_ERRORS, 404),
        tags=["areas"],
    )
    async def read_area(
        code: Annotated[str, Path(max_length=64, examples=["E05000026"])],
    ) -> Response:
        """One area: published figures, suppression, drivers, prevalence; release and model."""
        return Response(area_body(code), media_type=JSON)

    @app.get(
        "/v1/areas/{code}/history",
        response_model=AreaHistory,
        responses=problem_docs(*_READ_ERRORS, 404),
        tags=["areas"],
    )
    async def read_area_history(
        code: Annotated[str, Path(max_length=64, examples=["E05000026"])],
    ) -> Response:
        """The area's published figures in every verified release, oldest first."""
        catalog = serving()
        body = catalog.history_body.get(code)
        if body is None:
            raise _unknown_area(code, catalog)
        return Response(body, media_type=JSON)

    @app.post(
        "/v1/aggregate",
        response_model=AggregateResponse,
        responses=problem_docs(*_READ_ERRORS, 404, 422),
        tags=["areas"],
    )
    async def aggregate(
        request: Request, body: Annotated[AggregateRequest, Body()]
    ) -> AggregateResponse:
        """Combine published areas into one neighbourhood (population-weighted)."""
        request.state.audit_params = {"codes": [c[:64] for c in body.codes[:100]]}
        return combine_areas(serving().current, body.codes)

    # -- releases ------------------------------------------------------------------------

    @app.get(
        "/v1/releases",
        response_model=ReleaseList,
        responses=problem_docs(401, 429, 503),
        tags=["releases"],
    )
    async def list_releases() -> Response:
        """Verified releases, newest first, and which one is served."""
        return Response(serving().releases_body, media_type=JSON)

    @app.get(
        "/v1/releases/{release_id}",
        response_model=ReleaseDetail,
        responses=problem_docs(*_READ_ERRORS, 404),
        tags=["releases"],
    )
    async def read_release(
        release_id: Annotated[str, Path(max_length=128)],
    ) -> Response:
        """A verified release's manifest (with the board's signed approval) and model card."""
        catalog = serving()
        body = catalog.release_body.get(release_id)
        if body is None:
            raise ProblemError(
                404, _UNKNOWN_RELEASE.format(rid=release_id[:128]), kind="unknown-release"
            )
        return Response(body, media_type=JSON)

    @app.post(
        "/v1/admin/reload",
        response_model=ReloadResult,
        responses=problem_docs(401, 403, 409, 429),
        tags=["admin"],
    )
    async def reload_release() -> ReloadResult:
        """Load the release CURRENT names now, verify it, and swap it in atomically.

        With several workers this reloads the worker that answers; the others follow within
        `reload_poll_seconds`.
        """
        before = holder.catalog
        try:
            catalog, _ = await anyio.to_thread.run_sync(holder.reload)
        except ReleaseError as err:
            serving_now = before.release_id if before is not None else "nothing"
            raise ProblemError(
                409, f"{err}; still serving {serving_now}.", kind="release-refused"
            ) from None
        previous = before.release_id if before is not None else None
        return ReloadResult(
            release_id=catalog.release_id,
            previous_release_id=previous,
            changed=previous != catalog.release_id,
        )

    # -- operations ----------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["operations"])
    async def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Ready, responses=problem_docs(503), tags=["operations"])
    async def readyz() -> Ready:
        """Ready when a verified release is loaded and the request audit is being written."""
        catalog = serving()
        if not audit.healthy:
            raise ProblemError(
                503, f"The request audit cannot be written: {audit.last_error}", kind="not-ready"
            )
        return Ready(status="ready", release_id=catalog.release_id)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
            **problem_docs(401, 403, 429),
        },
        tags=["operations"],
    )
    async def read_metrics() -> Response:
        """Prometheus metrics of this process (admin key)."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    install_pages(
        app, config=config, governance=governance, keys=keys, limiter=limiter, holder=holder
    )

    app.state.query_names = {
        route.endpoint: _query_names(route) for route in app.routes if isinstance(route, APIRoute)
    }

    def published_area(code: str) -> bytes | None:
        catalog = holder.catalog
        return None if catalog is None else catalog.current.area_body.get(code)

    app.front = lambda inner: Gate(
        inner,
        keys=keys,
        limiter=limiter,
        audit=audit,
        metrics=metrics,
        routes=lambda: app.router.routes,
        hot_area=published_area,
    )
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


class _Api(FastAPI):
    """FastAPI with one more layer outside its middleware: the gate (:mod:`serving.gate`).

    ``front`` wraps the stack FastAPI builds (error handling, exception handlers, routing),
    so the gate sees every request first and may answer the hot route itself.
    """

    front: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        """FastAPI's stack, inside ``front``."""
        stack = super().build_middleware_stack()
        return stack if self.front is None else self.front(stack)


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters ``route`` defines, those of a query model included."""
    names: set[str] = set()
    for param in route.dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names.update(field.alias or name for name, field in model.model_fields.items())
        else:
            names.add(param.alias)
    return frozenset(names)


def _only_known_query(request: Request) -> None:
    """Refuse query parameters the route does not define (a typo would be silently ignored)."""
    if not request.scope["query_string"]:
        return
    known: frozenset[str] = request.app.state.query_names.get(
        request.scope.get("endpoint"), frozenset()
    )
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        raise ProblemError(
            400,
            _UNKNOWN_QUERY.format(
                names=", ".join(f"'{n[:64]}'" for n in unknown), path=request.url.path
            ),
            kind="invalid-parameter",
            invalid_params=[
                InvalidParam(name=n[:64], reason="unknown query parameter", allowed=sorted(known))
                for n in unknown
            ],
        )


async def _poll(holder: ReleaseHolder, seconds: float) -> None:
    """Check CURRENT every ``seconds``; a new release is loaded aside and swapped in."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await anyio.to_thread.run_sync(holder.reload)
        except ReleaseError as err:
            _log.warning("poll: keeping the release served: %s", err)


def _json_str(text: str | None) -> str:
    return json.dumps(text, ensure_ascii=False)


def _levels_below(level: str) -> list[str]:
    """Levels strictly below ``level`` (``LEVELS`` runs from LSOA up to the city)."""
    return list(LEVELS[: LEVELS.index(level)])


def _unknown_area(code: str, catalog: Catalog) -> ProblemError:
    return ProblemError(
        404,
        _UNKNOWN_AREA.format(code=code[:64], release=catalog.release_id),
        kind="unknown-area",
    )
