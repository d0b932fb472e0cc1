"""Programmes: did a prevention programme work? The published evaluations (any key, as areas).

Figures are for groups of wards only, as ``vru evaluate --publish`` published them after the
disclosure rules; each publication is verified against the release key before it is served
(:mod:`serving.programmes`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.params import Path
from starlette.responses import Response

from governance.contracts.programme_schema import PROGRAMME_NAME
from serving.dependencies import AnyKey
from serving.openapi import JSON, problem_docs
from serving.problems import ProblemError
from serving.programme_schemas import ProgrammeDetail, ProgrammeList
from serving.programmes import ShelfDep

__all__ = ["router"]

_UNKNOWN = (
    "No verified published evaluation of a programme named '{name}'; GET /v1/programmes lists them."
)


router = APIRouter(prefix="/v1/programmes", tags=["programmes"])


@router.get("", response_model=ProgrammeList, responses=problem_docs(401, 429, 503))
async def list_programmes(shelf: ShelfDep, _: AnyKey) -> Response:
    """Every programme with a verified evaluation: where, since when, the main estimate in words.

    Each headline is the relative change in recorded serious violence among young people in
    the wards the programme reached, against what similar wards suggest, with its 95% interval.
    """
    return Response(shelf.listing().model_dump_json(), media_type=JSON)


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        **problem_docs(404)[404],
        "description": "No verified published evaluation of a programme by this name.",
    }
}


@router.get(
    "/{name}",
    response_model=ProgrammeDetail,
    responses={**problem_docs(400, 401, 429, 503), **_NOT_FOUND},
)
async def read_programme(
    name: Annotated[
        str,
        Path(
            pattern=PROGRAMME_NAME,
            description="The programme's name, as the listing gives it.",
            examples=["youth-workers"],
        ),
    ],
    shelf: ShelfDep,
    _: AnyKey,
) -> Response:
    """One programme: each method's estimate, the checks, the year-by-year differences.

    With intervals throughout, and the assumptions the estimate rests on in plain words.
    """
    published = shelf.served().get(name)
    if published is None:
        raise ProblemError(404, _UNKNOWN.format(name=name), kind="unknown-programme")
    return Response(published.detail().model_dump_json(), media_type=JSON)
