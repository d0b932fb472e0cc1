"""The planners' API: area-level figures of verified releases, and nothing else.

``create_app(config)`` builds the FastAPI application; uvicorn starts it from the import string
``"serving.app:create_app"`` (``factory=True``), in which case the settings come from
``VRU_SERVING_CONFIG`` (:func:`serving.config.get_settings`).

Routes (all JSON; errors are ``application/problem+json``, :mod:`serving.problems`):

============================  =======  ====================================================
``GET  /v1/areas``            any key  a page of areas of a level, optionally under a parent
``GET  /v1/areas/{code}``     any key  one area's figures, drivers and prevalence
``GET  /v1/areas/{code}/history``      the area in every verified release
``GET  /v1/areas.geojson|.csv``        a level's areas for GIS or spreadsheets, with metadata
``POST /v1/aggregate``        any key  population-weighted combination of published areas
``GET  /v1/releases[/{id}]``  any key  verified releases; one manifest and model card summary
``GET  /v1/programmes[/{name}]``       published programme evaluations (signed, verified)
``POST /v1/admin/reload``     admin    load what CURRENT names now and swap it in
``GET  /metrics``             admin    Prometheus text
``GET  /healthz``, ``/readyz`` open    alive; ready only with a verified release loaded
``/signin``, ``/planner...``, session  the web pages for planners and the board
``/board...``, ``/static/...``         (:mod:`serving.pages`; not in the OpenAPI document)
============================  =======  ====================================================

The routes are in :mod:`serving.routers`, one router per resource; each declares who may call
it (:mod:`serving.dependencies`), and the gate reads those declarations
(:class:`serving.access.AccessTable`). ``create_app`` only wires: the settings, the server's
state (``app.state``), the routers, the error handlers and the gate.

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
import functools
import logging
from collections.abc import AsyncIterator, Callable

import anyio
from fastapi import FastAPI
from starlette.types import ASGIApp

from governance.contracts.levels import LEVELS
from governance.contracts.release_schema import ReleaseError
from governance.contracts.settings import GovernanceConfig
from serving.access import AccessTable
from serving.audit import RequestAudit
from serving.config import ServingConfig, get_settings
from serving.definitions import AGES, OUTCOME_MONTHS
from serving.dependencies import KNOWN_QUERY, query_names
from serving.downloads import DownloadCache
from serving.gate import Gate, RateLimiter
from serving.geometry import Boundaries
from serving.keys import KeyStore
from serving.metrics import Metrics
from serving.openapi import build_openapi
from serving.pages.board import BoardStore
from serving.pages.tiles import load_grid
from serving.pages.web import install_page_errors
from serving.problems import install_handlers
from serving.programmes import ProgrammeShelf
from serving.releases import ReleaseHolder, ReleaseLibrary
from serving.routers import admin, areas, docs, downloads, operations, pages, programmes, releases
from serving.schemas import SORTS

__all__ = ["create_app"]

_log = logging.getLogger("serving")
Gauges = dict[str, tuple[str, float, dict[str, str]]]


def create_app(config: ServingConfig | None = None) -> FastAPI:
    """Build the API for ``config`` (default: :func:`serving.config.get_settings`)."""
    config = config or get_settings()
    governance = config.governance()
    holder = _holder(config, governance)
    keys = KeyStore(config.keys_file, check_seconds=config.keys_check_seconds)
    audit = RequestAudit(
        config.audit_log_path(governance),
        flush_seconds=config.audit_flush_seconds,
        governance=governance,
        max_backlog=config.audit_max_backlog,
        tally_seconds=config.anonymous.audit_window_seconds,
    )
    limiter = RateLimiter(config.rate_limit.requests_per_minute, config.rate_limit.burst)
    anonymous = RateLimiter(
        config.anonymous.requests_per_minute,
        config.anonymous.burst,
        config.anonymous.max_addresses,
    )
    app = _Api(
        title="vru-risk planners' API",
        version="1",
        summary="Area-level risk figures of verified releases: never anything about a person.",
        description=(
            "Published figures of the current release for LSOAs, wards, boroughs, police BCUs "
            "and the city: risk with an interval, expected count, rank, drivers, how common "
            "each risk factor is, how each area compares with the area it lies in and with the "
            f"city, trends across releases. Every figure counts young people aged {AGES[0]} to "
            f"{AGES[1]} known to local services, and the outcome is serious violence recorded "
            f"in the next {OUTCOME_MONTHS} months. Every figure went through statistical "
            "disclosure control before release; suppressed areas say so and publish nothing. "
            "Authenticate with `Authorization: Bearer <token>`. Errors are "
            "`application/problem+json`."
        ),
        lifespan=_lifespan,
        docs_url=None,  # served offline, with a CSP, by serving.routers.docs
        redoc_url=None,
        dependencies=[KNOWN_QUERY],
        generate_unique_id_function=lambda route: route.name,
    )
    metrics = Metrics(functools.partial(_gauges, holder, audit))
    app.state.holder = holder
    app.state.audit = audit
    app.state.keys = keys
    app.state.metrics = metrics
    app.state.config = config
    app.state.pages = pages.build_pages(
        config, keys, limiter, production=governance.environment == "production"
    )
    app.state.grid = load_grid(config.pages.borough_grid)
    app.state.board_store = BoardStore(config, governance)
    app.state.boundaries = Boundaries()  # the maps' and GeoJSON's shapes, read per level once
    app.state.downloads = DownloadCache()
    app.state.programmes = ProgrammeShelf(
        config.programmes_dir, config.release_public_key_b64, config.disclosure_floor.min_count
    )

    install_handlers(app, _allowed_values(config))
    app.include_router(areas.listing_router(config.max_page_size))
    app.include_router(downloads.router)
    app.include_router(programmes.router)
    for router in (areas.router, releases.router, admin.router, operations.router, pages.router):
        app.include_router(router)
    app.include_router(docs.docs_router(app.title, app.openapi_url or "/openapi.json"))
    install_page_errors(app, app.state.pages)

    app.state.query_names = query_names(app.routes)
    access = AccessTable(app.routes, (app.openapi_url, app.docs_url, app.redoc_url))
    app.state.access = access
    app.front = functools.partial(
        Gate,
        keys=keys,
        limiter=limiter,
        audit=audit,
        metrics=metrics,
        access=access,
        hot_route=areas.AREA_ROUTE,
        hot_area=functools.partial(_published_area, holder),
        extra_headers=lambda: holder.warning_headers,
        anonymous=anonymous,
    )
    app.openapi = lambda: build_openapi(app, access)  # type: ignore[method-assign]
    return app


def _holder(config: ServingConfig, governance: GovernanceConfig) -> ReleaseHolder:
    """The releases to serve, loaded and verified now if one is ready (else not ready yet)."""
    holder = ReleaseHolder(
        ReleaseLibrary(
            config.releases_dir,
            governance.board_roster(),
            release_key_b64=config.release_public_key_b64,
            floor=config.disclosure_floor,
            revocations_dir=governance.revocations_dir,
            revocation_log=governance.audit_log,
        )
    )
    try:
        holder.reload()
    except ReleaseError as err:
        _log.warning("not ready: %s", err)
    return holder


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


def _allowed_values(config: ServingConfig) -> dict[str, list[str]]:
    """Each query or body parameter's allowed values, for the problems of invalid ones."""
    return {
        "level": list(LEVELS),
        "sort": list(SORTS),
        "limit": [f"1..{config.max_page_size}"],
        "offset": ["0 or more"],
        "codes": ["1 to 1000 distinct area codes"],
    }


def _gauges(holder: ReleaseHolder, audit: RequestAudit) -> Gauges:
    """The gauges of ``/metrics``: the audit's backlog and the release served."""
    catalog = holder.catalog
    out: Gauges = {
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


def _published_area(holder: ReleaseHolder, code: str) -> bytes | None:
    """The hot route's body for ``code``, if a release is served and publishes it."""
    catalog = holder.catalog
    return None if catalog is None else catalog.current.area_body.get(code)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the audit writer and the CURRENT poll; on shutdown, stop both (audit flushed)."""
    audit: RequestAudit = app.state.audit
    config: ServingConfig = app.state.config
    audit.start()
    poll = None
    if config.reload_poll_seconds > 0:
        poll = asyncio.create_task(_poll(app.state.holder, config.reload_poll_seconds))
    try:
        yield
    finally:
        if poll is not None:
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
        await anyio.to_thread.run_sync(audit.close)


async def _poll(holder: ReleaseHolder, seconds: float) -> None:
    """Check CURRENT every ``seconds``; a new release is loaded aside and swapped in."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await anyio.to_thread.run_sync(holder.reload)
        except ReleaseError as err:
            served = holder.catalog.release_id if holder.catalog is not None else "nothing"
            _log.warning("poll: %s (now serving %s)", err, served)
