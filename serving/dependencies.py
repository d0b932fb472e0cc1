"""What the API's routes share, as dependencies: the server's state and who may call them.

Each route declares its access with one of the aliases below (:mod:`serving.access`): a
parameter ``_: AnyKey`` or ``_: AdminKey``, ``dependencies=[OPEN_ROUTE]`` for a probe, or
``page: PageDep`` / ``page: BoardPageDep`` for a web page. The gate enforces a key route's
declaration before the app runs (:mod:`serving.gate`) and leaves the key it checked in the
request state, where the dependency finds it for the route. A page checks its session where
it always did (:class:`serving.pages.web.PageGuard`).

The server's state (release holder, request audit, metrics) lives on ``app.state``
(:func:`serving.app.create_app`); the aliases give it to a route typed. The release served is
read in the route's body with :func:`served_catalog`, not as a dependency, so that a request
with a bad parameter is still told so (400) before it is told that no release is loaded (503).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from starlette.routing import BaseRoute

from serving.access import ANY_KEY, OPEN, Access, Requirement
from serving.audit import RequestAudit
from serving.gate import API_KEY
from serving.keys import ApiKey
from serving.metrics import Metrics
from serving.pages.web import PageGuard, PageRequirement
from serving.problems import InvalidParam, ProblemError
from serving.releases import Catalog, ReleaseHolder

__all__ = [
    "KNOWN_QUERY",
    "NOT_READY",
    "OPEN_ROUTE",
    "AdminKey",
    "AnyKey",
    "AuditDep",
    "BoardPageDep",
    "HolderDep",
    "KeyRequirement",
    "MetricsDep",
    "PageDep",
    "query_names",
    "require_role",
    "served_catalog",
]

NOT_READY = (
    "No verified release is being served yet; the operator has the details in the server log."
)
"""The body of every 503 for a missing release: generic, the reason goes to the server log."""
_log = logging.getLogger("serving")
_UNKNOWN_QUERY = "Unknown query parameter(s) {names} for {path}."


class KeyRequirement(Requirement):
    """A route that needs a Bearer key of one of ``roles`` (any role if none).

    The gate enforces it before the app runs; the dependency hands the route the key the
    gate checked (None only when the app runs without its gate, as a test may).
    """

    def __init__(self, *roles: str) -> None:
        self.access = Access("key", roles) if roles else ANY_KEY

    async def __call__(self, request: Request) -> ApiKey | None:
        """The key the gate checked for this request."""
        key: ApiKey | None = getattr(request.state, API_KEY, None)
        return key


class OpenRequirement(Requirement):
    """A route anyone may call, unaudited: the probes."""

    access = OPEN

    async def __call__(self) -> None:
        """Nothing to check."""


def require_role(*roles: str) -> KeyRequirement:
    """A dependency that declares the roles a route needs (none: any key), for the gate."""
    return KeyRequirement(*roles)


AnyKey = Annotated[ApiKey | None, Depends(require_role())]
"""A key of any role: the read routes."""
AdminKey = Annotated[ApiKey | None, Depends(require_role("admin"))]
"""A key of the ``admin`` role: reload and metrics."""
OPEN_ROUTE = Depends(OpenRequirement())
"""For ``dependencies=[...]`` of a route anyone may call."""
PageDep = Annotated[PageGuard, Depends(PageRequirement())]
"""A web page that any signed-in role may read (or, for the sign-in pages, anyone)."""
BoardPageDep = Annotated[PageGuard, Depends(PageRequirement("board"))]
"""A web page for the ``board`` role."""


async def _holder(request: Request) -> ReleaseHolder:
    holder: ReleaseHolder = request.app.state.holder
    return holder


async def _audit(request: Request) -> RequestAudit:
    audit: RequestAudit = request.app.state.audit
    return audit


async def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


HolderDep = Annotated[ReleaseHolder, Depends(_holder)]
AuditDep = Annotated[RequestAudit, Depends(_audit)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]


def served_catalog(holder: ReleaseHolder) -> Catalog:
    """The catalog served; 503 (not ready) while no verified release is loaded.

    The body is generic (:data:`NOT_READY`): why no release is served names files and
    errors, which go to the server log, not to whoever asked.
    """
    catalog = holder.catalog
    if catalog is None:
        _log.warning("not ready: %s", holder.last_error or "loading")
        raise ProblemError(503, NOT_READY, kind="not-ready")
    return catalog


def query_names(routes: Sequence[BaseRoute]) -> dict[Callable[..., Any], frozenset[str]]:
    """Each route's endpoint -> the query parameters it defines (for :data:`KNOWN_QUERY`)."""
    return {
        context.endpoint: _route_query_names(context.dependant)
        for context in iter_route_contexts(routes)
        if isinstance(context.original_route, APIRoute) and context.endpoint is not None
    }


def _route_query_names(dependant: Any) -> frozenset[str]:
    """The query parameters a route defines, those of a query model included."""
    names: set[str] = set()
    for param in dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names.update(field.alias or name for name, field in model.model_fields.items())
        else:
            names.add(param.alias)
    return frozenset(names)


async def _only_known_query(request: Request) -> None:
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


KNOWN_QUERY = Depends(_only_known_query)
"""For the app's ``dependencies``: every route refuses query parameters it does not define."""
