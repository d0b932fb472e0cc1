"""The API's documentation pages, Swagger UI (``/docs``) and ReDoc (``/redoc``), served offline.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN: a blank page where the server
has no internet access, and a third party's script running on the pages' origin, beside the
signed-in session. Here both come from the static files of the ``fastapi-offline`` package
(pinned in the lock), mounted at ``/docs/assets``, and each page sends a
Content-Security-Policy that allows only this origin's scripts (and, for Swagger UI, its one
inline start-up script, by hash), connections to this origin, and no framing. They stay on in
production: they only describe the API (the document is open anyway), and every call made
from them needs a key like any other.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from serving.dependencies import OPEN_ROUTE

__all__ = ["ASSETS", "docs_router"]

ASSETS = "/docs/assets"
"""Where the package's Swagger UI and ReDoc files are served."""
_PACKAGE = ("fastapi_offline", "static")
_INLINE = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_POLICY = (
    "default-src 'none'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


_A11Y_STYLE = (
    # axe-core (tests/serving/test_accessibility_browser.py) finds these below WCAG AA
    # contrast in the packaged Swagger UI and ReDoc styles: darker shades of the same hues
    "<style>"
    ".swagger-ui .opblock .opblock-summary-method{color:#fff!important}"
    ".swagger-ui .opblock.opblock-get .opblock-summary-method{background:#0b57a4!important}"
    ".swagger-ui .opblock.opblock-post .opblock-summary-method{background:#0f6b36!important}"
    ".swagger-ui .info .title small.version-stamp{background-color:#3b6e00!important}"
    ".swagger-ui .info .title small{background-color:#4b5563!important}"
    ".swagger-ui .info .title small pre{color:#fff!important}"
    ".swagger-ui .info a.link .url,.swagger-ui .info .url{color:#0b57a4!important}"
    ".swagger-ui .btn span{color:#1b1f24!important}"
    ".swagger-ui .json-schema-2020-12-expand-deep-button{color:#0b57a4!important}"
    "redoc code{color:#8b0030!important}"
    "redoc h5{color:#4b5563!important}"
    # a sample that scrolls cannot be reached from the keyboard: wrap it instead
    "redoc pre{white-space:pre-wrap!important;word-break:break-word;overflow:visible!important}"
    "redoc li.tab-error:not(.react-tabs__tab--selected){color:#ff8a87!important}"
    "redoc li.tab-success:not(.react-tabs__tab--selected){color:#7ee2a0!important}"
    "</style>"
)


def _accessible(body: bytes) -> bytes:
    """The page with its language declared and :data:`_A11Y_STYLE` after its own styles."""
    text = body.decode()
    text = text.replace("<html>", '<html lang="en-GB">', 1)
    text = text.replace("</head>", _A11Y_STYLE + "</head>", 1)
    return text.encode()


def _with_policy(page: HTMLResponse) -> Response:
    """``page`` with a CSP naming its inline scripts by hash (computed once, at start-up)."""
    body = _accessible(bytes(page.body))
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE.findall(body.decode())
    )
    headers = {"content-security-policy": _POLICY.format(hashes=hashes)}
    return Response(body, media_type="text/html", headers=headers)


def docs_router(title: str, openapi_url: str) -> APIRouter:
    """The ``/docs`` and ``/redoc`` pages (open to anyone) and their files, for ``openapi_url``."""
    swagger = _with_policy(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title}: Swagger UI",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to an online validator
        )
    )
    redoc = _with_policy(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title}: ReDoc",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
    )
    router = APIRouter(include_in_schema=False)
    router.mount(ASSETS, StaticFiles(packages=[_PACKAGE]), name="docs-assets")

    @router.get("/docs", dependencies=[OPEN_ROUTE])
    async def swagger_ui() -> Response:
        """Swagger UI, from this server's files only."""
        return swagger

    @router.get("/redoc", dependencies=[OPEN_ROUTE])
    async def redoc_page() -> Response:
        """ReDoc, from this server's files only."""
        return redoc

    return router
