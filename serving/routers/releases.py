"""Releases: the verified releases, and one release's manifest and model card (any key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.params import Path
from starlette.responses import Response

from serving.dependencies import AnyKey, HolderDep, served_catalog
from serving.openapi import JSON, problem_docs
from serving.problems import ProblemError
from serving.routers.areas import READ_ERRORS
from serving.schemas import ReleaseDetail, ReleaseList

__all__ = ["router"]

_UNKNOWN_RELEASE = "No verified release with id '{rid}'; GET /v1/releases lists them."

router = APIRouter(prefix="/v1/releases", tags=["releases"])


@router.get("", response_model=ReleaseList, responses=problem_docs(401, 429, 503))
async def list_releases(holder: HolderDep, _: AnyKey) -> Response:
    """Verified releases, newest first, and which one is served."""
    return Response(served_catalog(holder).releases_body, media_type=JSON)


@router.get(
    "/{release_id}", response_model=ReleaseDetail, responses=problem_docs(*READ_ERRORS, 404)
)
async def read_release(
    release_id: Annotated[str, Path(max_length=128)], holder: HolderDep, _: AnyKey
) -> Response:
    """A verified release's manifest (with the board's signed approval) and model card."""
    body = served_catalog(holder).release_body.get(release_id)
    if body is None:
        raise ProblemError(
            404, _UNKNOWN_RELEASE.format(rid=release_id[:128]), kind="unknown-release"
        )
    return Response(body, media_type=JSON)
