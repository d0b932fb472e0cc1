"""Administration: load the release CURRENT names and swap it in (admin key)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter

from governance.contracts.release_schema import ReleaseError
from serving.dependencies import AdminKey, HolderDep
from serving.openapi import problem_docs
from serving.problems import ProblemError
from serving.schemas import ReloadResult

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/reload", response_model=ReloadResult, responses=problem_docs(401, 403, 409, 429))
async def reload_release(holder: HolderDep, _: AdminKey) -> ReloadResult:
    """Load the release CURRENT names now, verify it, and swap it in atomically.

    With several workers this reloads the worker that answers; the others follow within
    `reload_poll_seconds`.
    """
    before = holder.catalog
    try:
        catalog, _replaced = await anyio.to_thread.run_sync(holder.reload)
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
