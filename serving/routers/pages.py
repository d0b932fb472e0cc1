"""The web pages in the API's app: sign-in, the planners' and the board's pages, the stylesheet.

The pages' shared machinery (:class:`~serving.pages.web.Pages`: templates, sessions, the rate
limit) is built by :func:`build_pages` and kept on ``app.state.pages``, where the page
routes' dependencies find it; their error pages are installed by
:func:`serving.pages.web.install_page_errors`.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from serving.config import ServingConfig
from serving.gate import RateLimiter
from serving.keys import KeyStore
from serving.pages import area_maps, board, planner, programmes, signin
from serving.pages.session import SessionCodec, load_secret
from serving.pages.signed_out import SignedOut
from serving.pages.web import Pages

__all__ = ["build_pages", "router"]

router = APIRouter()
router.mount("/static", StaticFiles(packages=[("serving.pages", "static")]), name="static")
router.include_router(signin.router)
router.include_router(programmes.router)  # before planner: /planner/programmes...
router.include_router(planner.router)
router.include_router(area_maps.router)
router.include_router(board.router)


def build_pages(
    config: ServingConfig, keys: KeyStore, limiter: RateLimiter, *, production: bool
) -> Pages:
    """The pages' templates and sessions: signed cookies checked against ``keys``.

    ``production`` (the governance config's ``environment``) makes the cookie ``Secure``.
    """
    codec = SessionCodec(
        load_secret(config.pages.secret_path(config.keys_file)),
        keys,
        SignedOut(config.pages.signed_out_path(config.keys_file)),
        max_age_seconds=round(config.pages.session_hours * 3600),
        idle_seconds=config.pages.idle_minutes * 60.0,
        refresh_seconds=config.pages.refresh_seconds,
        secure=production,
    )
    return Pages(codec, limiter)
