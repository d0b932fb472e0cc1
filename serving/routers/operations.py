"""Operations: liveness and readiness (open), Prometheus metrics (admin key).

The OpenAPI document and its viewers (``/openapi.json``, ``/docs``, ``/redoc``) are
FastAPI's own, open to anyone (:class:`serving.access.AccessTable`), with the document built
by :func:`serving.openapi.build_openapi`.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.responses import Response

from serving.dependencies import (
    OPEN_ROUTE,
    AdminKey,
    AuditDep,
    HolderDep,
    MetricsDep,
    served_catalog,
)
from serving.metrics import CONTENT_TYPE
from serving.openapi import problem_docs
from serving.problems import ProblemError
from serving.schemas import Health, Ready

__all__ = ["router"]

router = APIRouter(tags=["operations"])
_log = logging.getLogger("serving")
LAPSED_WARNING = "the board's approval lapsed on {date}; board review overdue"
"""``/readyz``'s warning while the served release's approval has lapsed (within grace)."""
_AUDIT_CLOSED = (
    "Requests cannot be audited right now, so none is served; the operator has the details "
    "in the server log."
)


@router.get("/healthz", response_model=Health, dependencies=[OPEN_ROUTE])
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Ready,
    response_model_exclude_none=True,
    responses=problem_docs(503),
    dependencies=[OPEN_ROUTE],
)
async def readyz(holder: HolderDep, audit: AuditDep) -> Ready:
    """Ready when a verified release is loaded and the request audit is being written.

    Anyone may ask, so the body says only that it is not ready; the reason (a file, an
    error) is in the server log.
    """
    catalog = served_catalog(holder)
    if not audit.healthy:
        _log.warning("not ready: request audit closed: %s", audit.last_error or "backlog full")
        raise ProblemError(503, _AUDIT_CLOSED, kind="not-ready")
    lapsed = holder.lapsed_on
    warning = None if lapsed is None else LAPSED_WARNING.format(date=lapsed)
    return Ready(status="ready", release_id=catalog.release_id, warning=warning)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
        **problem_docs(401, 403, 429),
    },
)
async def read_metrics(metrics: MetricsDep, _: AdminKey) -> Response:
    """Prometheus metrics of this process (admin key)."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
