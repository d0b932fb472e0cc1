"""Signing in and out: the home redirect, the sign-in form and its post, signing out.

==========================  ==================================================================
``GET  /``                  signed in: the pages of the role; otherwise the sign-in form
``GET  /signin``            the sign-in form (an API key)
``POST /signin``            check the key as the API does; a new session, then its pages
``POST /signout``           end the session (CSRF-checked)
==========================  ==================================================================

Nobody needs to be signed in to reach them (:data:`serving.dependencies.PageDep`).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from serving.dependencies import PageDep
from serving.gate import PAGE_KEY
from serving.pages.session import CSRF_FIELD, check_csrf
from serving.pages.web import PageError

__all__ = ["router"]

_CSRF = "This form has expired or did not come from this site, so nothing was done."
_CSRF_DO = "Reload the page and send the form again."
_BAD_KEY = "That key was not accepted: it is unknown, mistyped or revoked."

router = APIRouter(include_in_schema=False)


def _home(role: str) -> str:
    return "/board" if role == "board" else "/planner"


def _safe_next(target: str | None) -> str | None:
    """A local path to go back to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


@router.get("/")
async def root(request: Request, page: PageDep) -> Response:
    """Signed in: the pages of the role; otherwise the sign-in form."""
    key = page.viewer().session.key
    return page.pages.redirect(request, "/signin" if key is None else _home(key.role))


@router.get("/signin", response_class=HTMLResponse)
async def sign_in_form(
    request: Request, page: PageDep, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    """The sign-in form (an API key)."""
    viewer = page.viewer()
    return page.pages.render(
        request,
        "signin.html",
        {"viewer": viewer, "next": _safe_next(next) or "", "error": None},
    )


@router.post("/signin", response_class=HTMLResponse)
async def sign_in(request: Request, page: PageDep) -> Response:
    """Check the key as the API does; a new session for it, then its pages."""
    pages = page.pages
    viewer = page.viewer()
    async with request.form(max_files=0, max_fields=10, max_part_size=4_000) as form:
        csrf, token, target = form.get(CSRF_FIELD), form.get("api_key"), form.get("next")
    if viewer.session.new or not check_csrf(viewer.session, csrf):
        raise PageError(403, _CSRF, _CSRF_DO)
    keys = pages.codec.keys
    key = keys.lookup(token.strip()) if isinstance(token, str) and token.strip() else None
    back = _safe_next(target if isinstance(target, str) else None)
    if key is None:
        return pages.render(
            request,
            "signin.html",
            {"viewer": viewer, "next": back or "", "error": _BAD_KEY},
            status=401,
        )
    setattr(request.state, PAGE_KEY, key)
    session = pages.codec.signed_in(key)
    request.state.page_session = session
    return pages.redirect(request, back or _home(key.role), session)


@router.post("/signout")
async def sign_out(request: Request, page: PageDep) -> Response:
    """End the session (CSRF-checked, so another site cannot sign you out)."""
    viewer = page.viewer()
    async with request.form(max_files=0, max_fields=10, max_part_size=1_000) as form:
        csrf = form.get(CSRF_FIELD)
    if not check_csrf(viewer.session, csrf):
        raise PageError(403, _CSRF, _CSRF_DO)
    if viewer.session.key is not None:
        setattr(request.state, PAGE_KEY, viewer.session.key)
    response = page.pages.redirect(request, "/signin")
    page.pages.codec.sign_out(request, response, viewer.session)
    return response
