"""The planners' programme pages: did a prevention programme work? Aggregate results only.

==================================  ==========================================================
``GET /planner/programmes``         each programme with a verified evaluation, in a sentence
``GET /planner/programmes/{name}``  one programme: the estimate in words, the event-study
                                    chart (server-drawn SVG) and its table, the checks, the
                                    assumptions, every method
==================================  ==========================================================

Every figure is the verified publication's (:mod:`serving.programmes`): groups of wards only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.params import Path
from starlette.responses import HTMLResponse, Response

from governance.contracts.programme_schema import PROGRAMME_NAME
from serving.dependencies import PageDep
from serving.pages.programme_chart import event_study_chart
from serving.pages.web import PageError
from serving.programmes import ShelfDep, interval_words

__all__ = ["router"]

_UNKNOWN = "No verified evaluation of a programme named '{name}' is published."
_UNKNOWN_DO = "Choose a programme from the list of programmes."

router = APIRouter(prefix="/planner/programmes", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
async def programmes_page(request: Request, page: PageDep, shelf: ShelfDep) -> Response:
    """Each programme with a verified evaluation: where, since when, the estimate in words."""
    viewer = page.signed_in()
    return page.pages.render(
        request,
        "programmes.html",
        {"viewer": viewer, "programmes": shelf.listing().programmes},
    )


@router.get("/{name}", response_class=HTMLResponse)
async def programme_page(
    request: Request,
    page: PageDep,
    shelf: ShelfDep,
    name: Annotated[str, Path(pattern=PROGRAMME_NAME)],
) -> Response:
    """One programme: the estimate in a sentence, the chart and its table, checks, assumptions."""
    viewer = page.signed_in()
    published = shelf.served().get(name)
    if published is None:
        raise PageError(404, _UNKNOWN.format(name=name), _UNKNOWN_DO)
    detail = published.detail()
    chart = event_study_chart(
        detail.event_study,
        title=f"{detail.name}: difference in recorded outcomes, year by year",
    )
    return page.pages.render(
        request,
        "programme.html",
        {
            "viewer": viewer,
            "p": detail,
            "chart": chart,
            "words": {
                e.estimator: interval_words(e) for e in [*detail.estimates, *detail.placebos]
            },
        },
    )
