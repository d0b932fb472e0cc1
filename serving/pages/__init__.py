"""Web pages for the ethics board and planners, rendered on the server, in the API's app.

Read top-down:

- :mod:`serving.pages.session`: sign-in with an API key, the signed session cookie, CSRF;
- :mod:`serving.pages.web`: templates, role checks and error pages;
- :mod:`serving.pages.planner`: areas, charts, the tile map and CSV for planners;
- :mod:`serving.pages.board`, :mod:`serving.pages.board_data`: versions, reports, decisions
  and the audit log for the board;
- :mod:`serving.pages.charts`, :mod:`serving.pages.tiles`: SVG charts and the borough grid.

Templates (Jinja2) and the stylesheet ship inside the package (``templates/``, ``static/``),
so the pages work offline: nothing is loaded from another site. The gate lets page paths
through without a Bearer key (:func:`serving.gate.is_page`); each page checks its session.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import FastAPI, Query, Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from governance.contracts.settings import GovernanceConfig
from serving.config import ServingConfig
from serving.gate import PAGE_KEY, RateLimiter
from serving.keys import KeyStore
from serving.pages.board import board_pages
from serving.pages.planner import planner_pages
from serving.pages.session import CSRF_FIELD, SessionCodec, check_csrf, load_secret
from serving.pages.signed_out import SignedOut
from serving.pages.tiles import load_grid
from serving.pages.web import PageError, Pages, install_page_errors
from serving.releases import ReleaseHolder

__all__ = ["install_pages"]

_CSRF = "This form has expired or did not come from this site, so nothing was done."
_CSRF_DO = "Reload the page and send the form again."
_BAD_KEY = "That key was not accepted: it is unknown, mistyped or revoked."


def _home(role: str) -> str:
    return "/board" if role == "board" else "/planner"


def _safe_next(target: str | None) -> str | None:
    """A local path to go back to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def install_pages(
    app: FastAPI,
    *,
    config: ServingConfig,
    governance: GovernanceConfig,
    keys: KeyStore,
    limiter: RateLimiter,
    holder: ReleaseHolder,
) -> None:
    """Add the sign-in, planner and board pages, their static files and error pages."""
    codec = SessionCodec(
        load_secret(config.pages.secret_path(config.keys_file)),
        keys,
        SignedOut(config.pages.signed_out_path(config.keys_file)),
        max_age_seconds=round(config.pages.session_hours * 3600),
    )
    pages = Pages(codec, limiter)
    install_page_errors(app, pages)
    app.mount("/static", StaticFiles(packages=[("serving.pages", "static")]), name="static")

    @app.get("/", include_in_schema=False)
    async def root(request: Request) -> Response:
        """Signed in: the pages of the role; otherwise the sign-in form."""
        viewer = pages.viewer(request)
        key = viewer.session.key
        return pages.redirect(request, "/signin" if key is None else _home(key.role))

    @app.get("/signin", response_class=HTMLResponse, include_in_schema=False)
    async def sign_in_form(
        request: Request, next: Annotated[str | None, Query(max_length=500)] = None
    ) -> Response:
        """The sign-in form (an API key)."""
        viewer = pages.viewer(request)
        return pages.render(
            request,
            "signin.html",
            {"viewer": viewer, "next": _safe_next(next) or "", "error": None},
        )

    @app.post("/signin", response_class=HTMLResponse, include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        """Check the key as the API does; a new session for it, then its pages."""
        viewer = pages.viewer(request)
        async with request.form(max_files=0, max_fields=10, max_part_size=4_000) as form:
            csrf, token, target = form.get(CSRF_FIELD), form.get("api_key"), form.get("next")
        if viewer.session.new or not check_csrf(viewer.session, csrf):
            raise PageError(403, _CSRF, _CSRF_DO)
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
        session = codec.signed_in(key)
        request.state.page_session = session
        return pages.redirect(request, back or _home(key.role), session)

    @app.post("/signout", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        """End the session (CSRF-checked, so another site cannot sign you out)."""
        viewer = pages.viewer(request)
        async with request.form(max_files=0, max_fields=10, max_part_size=1_000) as form:
            csrf = form.get(CSRF_FIELD)
        if not check_csrf(viewer.session, csrf):
            raise PageError(403, _CSRF, _CSRF_DO)
        if viewer.session.key is not None:
            setattr(request.state, PAGE_KEY, viewer.session.key)
        response = pages.redirect(request, "/signin")
        codec.sign_out(request, response, viewer.session)
        return response

    grid = load_grid(config.pages.borough_grid)
    planner_pages(app.router, pages, holder, grid)
    board_pages(app.router, pages, config, governance)
