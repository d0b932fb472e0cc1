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
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.params import Body, Path
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp

from governance.release_schema import LEVELS, ReleaseError
from serving.audit import RequestAudit
from serving.config import ServingConfig, get_settings
from serving.gate import Gate, RateLimiter
from serving.keys import KeyStore
from serving.metrics import CONTENT_TYPE, Metrics
from serving.problems import (
    PROBLEM_JSON,
    InvalidParam,
    Problem,
    ProblemError,
    install_handlers,
)
from serving.releases import Catalog, ReleaseHolder, ReleaseLibrary
from serving.schemas import (
    SORTS,
    AggregateFactor,
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
_AGG_UNKNOWN = "Unknown area code(s) in release {release}: {codes}."
_AGG_SUPPRESSED = (
    "Suppressed area(s) cannot be combined (their figures are not published): {codes}."
)
_AGG_OVERLAP = "Area(s) lie within other listed areas and would be counted twice: {codes}."
_AGG_REPEATED = "Area code(s) listed more than once: {codes}."
_AGG_METHOD = (
    "Sums of the areas' published (rounded) population and expected count; population-weighted "
    "means of the published mean risk, rate per 1,000, interval bounds (a conservative "
    "interval: at least as wide as that of the combined mean), prevalence and contribution "
    "of each factor. A factor's figure is null if any area's is hidden."
)

SortName = Literal[SORTS]  # type: ignore[valid-type]
LevelName = Literal["lsoa", "ward", "borough", "bcu", "city"]


def _problem_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses (moved to problem+json in :func:`_openapi`)."""
    text = {
        400: "A parameter is not valid; `invalid_params` names it and the allowed values.",
        401: "No API key, or not a valid one.",
        403: "The key's role may not use this route.",
        404: "No such area or release.",
        409: "The release CURRENT names cannot be served; the previous one stays.",
        422: "A listed area is suppressed: its figures are not published.",
        429: "Over the key's rate limit; retry after `Retry-After` seconds.",
        503: "No verified release is loaded yet.",
    }
    return {s: {"model": Problem, "description": text[s]} for s in statuses}


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
        responses=_problem_docs(*_READ_ERRORS, 404),
        tags=["areas"],
    )
    async def list_areas(
        level: Annotated[
            LevelName | None,
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
        responses=_problem_docs(*_READ_ERRORS, 404),
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
        responses=_problem_docs(*_READ_ERRORS, 404),
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
        responses=_problem_docs(*_READ_ERRORS, 404, 422),
        tags=["areas"],
    )
    async def aggregate(
        request: Request, body: Annotated[AggregateRequest, Body()]
    ) -> AggregateResponse:
        """Combine published areas into one neighbourhood (population-weighted)."""
        request.state.audit_params = {"codes": [c[:64] for c in body.codes[:100]]}
        return _aggregate(serving(), body.codes)

    # -- releases ------------------------------------------------------------------------

    @app.get(
        "/v1/releases",
        response_model=ReleaseList,
        responses=_problem_docs(401, 429, 503),
        tags=["releases"],
    )
    async def list_releases() -> Response:
        """Verified releases, newest first, and which one is served."""
        return Response(serving().releases_body, media_type=JSON)

    @app.get(
        "/v1/releases/{release_id}",
        response_model=ReleaseDetail,
        responses=_problem_docs(*_READ_ERRORS, 404),
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
        responses=_problem_docs(401, 403, 409, 429),
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

    @app.get("/readyz", response_model=Ready, responses=_problem_docs(503), tags=["operations"])
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
            **_problem_docs(401, 403, 429),
        },
        tags=["operations"],
    )
    async def read_metrics() -> Response:
        """Prometheus metrics of this process (admin key)."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    app.state.query_names = {
        route.endpoint: frozenset(p.alias for p in route.dependant.query_params)
        for route in app.routes
        if isinstance(route, APIRoute)
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
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
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


def _aggregate(catalog: Catalog, codes: list[str]) -> AggregateResponse:
    release = catalog.current
    seen = set(codes)
    repeated = sorted(c for c in seen if codes.count(c) > 1) if len(seen) < len(codes) else []
    if repeated:
        raise ProblemError(
            400,
            _AGG_REPEATED.format(codes=", ".join(repeated)),
            kind="invalid-parameter",
            invalid_params=[
                InvalidParam(name="codes", reason=f"{c} is repeated") for c in repeated
            ],
        )
    unknown = [c for c in codes if c not in release.areas]
    if unknown:
        raise ProblemError(
            404,
            _AGG_UNKNOWN.format(
                release=release.release_id, codes=", ".join(c[:64] for c in unknown)
            ),
            kind="unknown-area",
            invalid_params=[
                InvalidParam(name=f"codes[{codes.index(c)}]", reason=f"unknown area {c[:64]}")
                for c in unknown
            ],
        )
    areas = [release.areas[c] for c in codes]
    hidden = [a.code for a in areas if a.suppressed or not a.population]
    if hidden:
        raise ProblemError(
            422,
            _AGG_SUPPRESSED.format(codes=", ".join(hidden)),
            kind="suppressed-area",
            invalid_params=[
                InvalidParam(name=f"codes[{codes.index(c)}]", reason=f"{c} is suppressed")
                for c in hidden
            ],
        )
    inside = sorted(c for c in codes if set(release.ancestors[c]) & seen)
    if inside:
        raise ProblemError(
            400,
            _AGG_OVERLAP.format(codes=", ".join(inside)),
            kind="invalid-parameter",
            invalid_params=[
                InvalidParam(name=f"codes[{codes.index(c)}]", reason=f"{c} lies within another")
                for c in inside
            ],
        )
    weights = [float(a.population or 0) for a in areas]
    total = sum(weights)

    def mean(values: list[float | None]) -> float | None:
        if any(v is None for v in values):
            return None
        return (
            sum(w * float(v) for w, v in zip(weights, values, strict=True) if v is not None) / total
        )

    factors = []
    for i, name in enumerate(release.manifest.factors):
        factors.append(
            AggregateFactor(
                factor=name,
                prevalence=_round(mean([a.factors[i].prevalence for a in areas])),
                contribution=_round(mean([a.factors[i].contribution for a in areas])),
            )
        )
    drivers = sorted(
        (f for f in factors if f.contribution is not None and f.contribution > 0),
        key=lambda f: -(f.contribution or 0.0),
    )
    m = release.manifest

    def figure(name: str) -> float:
        value = mean([getattr(a, name) for a in areas])
        if value is None:  # published areas publish these figures
            raise ProblemError(
                422,
                f"An area listed has no published {name}; it cannot be combined.",
                kind="suppressed-area",
            )
        return _round(value) or 0.0

    return AggregateResponse(
        release_id=m.release_id,
        model_name=m.model_name,
        model_version=m.model_version,
        as_of_date=m.as_of_date,
        codes=codes,
        areas=len(areas),
        population=int(total),
        expected=float(sum(a.expected or 0.0 for a in areas)),
        rate_per_1000=figure("rate_per_1000"),
        mean_risk=figure("mean_risk"),
        risk_low=figure("risk_low"),
        risk_high=figure("risk_high"),
        top_drivers=[f.factor for f in drivers[:3]],
        factors=factors,
        method=_AGG_METHOD,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """OpenAPI with bearer auth, problem+json errors, and no FastAPI default 422."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `vru keys create` (vru_<key id>_<secret>).",
    }
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    open_paths = {"/healthz", "/readyz"}
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            if "422" in responses and _is_default_422(responses["422"]):
                del responses["422"]
            for status, response in responses.items():
                if int(status) >= 400 and JSON in response.get("content", {}):
                    response["content"] = {PROBLEM_JSON: response["content"].pop(JSON)}
            if path not in open_paths:
                operation["security"] = [{"bearer": []}]
    app.openapi_schema = schema
    return schema


def _is_default_422(response: dict[str, Any]) -> bool:
    ref = response.get("content", {}).get(JSON, {}).get("schema", {}).get("$ref", "")
    return bool(ref.endswith("/HTTPValidationError"))
