"""What every page shares: templates, the signed-in viewer, role checks, and error pages.

A page route declares itself with a :class:`PageRequirement` dependency (the roles that may
read it once signed in): the gate lets it through without a Bearer key, and the page runs
the check where it always did, first thing in its body (:meth:`PageGuard.signed_in`), so that
a request the route cannot even parse is answered as such before anyone is asked to sign in.

Pages answer errors as pages (never JSON): :class:`PageError` carries what went wrong and
what to do, and :func:`install_page_errors` makes the app's error handlers render them for
page routes (:func:`serving.access.is_page`) while the API keeps its problem+json.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from serving.access import Access, Requirement, is_page
from serving.definitions import DEFINITIONS, OUTCOME
from serving.gate import PAGE_KEY, RateLimiter
from serving.keys import ApiKey
from serving.pages.detail_text import detail_items
from serving.pages.session import CSRF_FIELD, PageSession, SessionCodec
from serving.problems import ProblemError

__all__ = [
    "SECURITY_HEADERS",
    "PageError",
    "PageGuard",
    "PageRequirement",
    "Pages",
    "SignInNeeded",
    "Viewer",
    "install_page_errors",
]

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
"""Headers of every page: only the app's own files, no framing by other sites, no caching."""

_TITLES = {
    400: "The request is not valid",
    401: "Sign in first",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "Cannot do that now",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Not ready",
}


class PageError(Exception):
    """Answer with an error page: ``what`` went wrong and what to ``do`` about it."""

    def __init__(
        self, status: int, what: str, do: str, links: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(what)
        self.status = status
        self.what = what
        self.do = do
        self.links = list(links)  # (href, text): e.g. the areas an unknown code may have meant


class SignInNeeded(Exception):
    """The page needs a signed-in session: redirect to the sign-in form, then back."""

    def __init__(self, back: str) -> None:
        super().__init__(back)
        self.back = back


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the session, and its key once signed in."""

    session: PageSession

    @property
    def key(self) -> ApiKey:
        """The signed-in key (only for pages that required one)."""
        assert self.session.key is not None
        return self.session.key


def _percent(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{100 * value:.{digits}f}%"


def _number(value: float | int | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:,.{digits}f}"


def _label(name: str) -> str:
    """``persistent_absence`` -> ``persistent absence``."""
    return name.replace("_", " ")


_HIDDEN_DETAILS = frozenset({"signature"})
_MAX_DETAIL = 160


def _details(details: object) -> str:
    """An audit entry's details in one line (``key: value; ...``), long values cut short."""
    if not isinstance(details, dict):
        return ""
    parts = []
    for key, value in details.items():
        if key in _HIDDEN_DETAILS:
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value)) or "none"
        text = str(value)
        if len(text) > _MAX_DETAIL:
            text = text[: _MAX_DETAIL - 1] + "…"
        parts.append(f"{key}: {text}")
    return "; ".join(parts)


class Pages:
    """The pages' shared machinery: templates, sessions, the rate limit, role checks."""

    def __init__(self, codec: SessionCodec, limiter: RateLimiter) -> None:
        self.codec = codec
        self.limiter = limiter
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("serving.pages", "templates"),
            autoescape=jinja2.select_autoescape(("html", "svg")),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(percent=_percent, number=_number, label=_label, details=_details)
        self.env.filters["detail_items"] = detail_items  # the audit log's details as pairs
        self.env.globals["csrf_field"] = CSRF_FIELD
        self.env.globals["definitions"] = DEFINITIONS  # "What the figures mean", every page
        self.env.globals["outcome"] = OUTCOME

    # -- sessions and roles --------------------------------------------------------------

    def viewer(self, request: Request) -> Viewer:
        """The request's session (a new one if it has none); no sign-in required."""
        session = self.codec.read(request)
        request.state.page_session = session
        return Viewer(session)

    def signed_in(self, request: Request, *roles: str) -> Viewer:
        """The viewer, who must be signed in (else :class:`SignInNeeded`) with one of ``roles``.

        The key is also put in the request state for the gate's audit record, and takes one
        token of its rate limit, as an API request would.
        """
        viewer = self.viewer(request)
        key = viewer.session.key
        if key is None:  # back to this page after signing in (a form's target: home)
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInNeeded(back if request.method == "GET" else "/")
        setattr(request.state, PAGE_KEY, key)
        wait = self.limiter.take(key.key_id, time.perf_counter())
        if wait:
            raise PageError(
                429,
                f"Key {key.key_id} is over its rate limit "
                f"({self.limiter.per_minute} requests a minute).",
                f"Wait {max(1, math.ceil(wait))} seconds, then reload the page.",
            )
        if roles and key.role not in roles:
            raise PageError(
                403,
                f"This page is for the {' or '.join(roles)} role; you signed in with a "
                f"{key.role} key ({key.name}).",
                "Go back to the pages for your role, or sign out and sign in with a key that "
                "has the role (an operator issues keys with 'vru keys create').",
            )
        return viewer

    # -- rendering -----------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        status: int = 200,
    ) -> HTMLResponse:
        """Render ``template`` with the session, and set its cookie if it is new."""
        session: PageSession = (
            getattr(request.state, "page_session", None) or self.viewer(request).session
        )
        body = self.env.get_template(template).render(
            request_path=request.url.path, session=session, **context
        )
        response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
        self.codec.write(request, response, session)
        return response

    def redirect(
        self, request: Request, to: str, session: PageSession | None = None
    ) -> RedirectResponse:
        """A 303 to ``to`` (after a form), setting ``session``'s cookie if given and new."""
        response = RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)
        if session is not None:
            self.codec.write(request, response, session)
        return response

    def error(
        self,
        request: Request,
        status: int,
        what: str,
        do: str,
        links: Sequence[tuple[str, str]] = (),
    ) -> HTMLResponse:
        """An error page (``links``: pages the person may have meant, as ``(href, text)``)."""
        return self.render(
            request,
            "error.html",
            {
                "status": status,
                "title": _TITLES.get(status, "Error"),
                "what": what,
                "do": do,
                "links": links,
            },
            status=status,
        )


@dataclass(frozen=True)
class PageGuard:
    """A page request with the checks its route declares, run when the page asks for them."""

    pages: Pages
    request: Request
    roles: tuple[str, ...]

    def viewer(self) -> Viewer:
        """The request's session; no sign-in required (the sign-in pages)."""
        return self.pages.viewer(self.request)

    def signed_in(self) -> Viewer:
        """The viewer, signed in with one of the route's roles (:meth:`Pages.signed_in`)."""
        return self.pages.signed_in(self.request, *self.roles)


class PageRequirement(Requirement):
    """A web page, read on a session cookie; once signed in, by ``roles`` (any if none)."""

    def __init__(self, *roles: str) -> None:
        self.access = Access("page", roles)

    async def __call__(self, request: Request) -> PageGuard:
        """The page's guard: the app's pages and the route's roles; checks nothing yet."""
        pages: Pages = request.app.state.pages
        return PageGuard(pages, request, self.access.roles)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def install_page_errors(app: FastAPI, pages: Pages) -> None:
    """Render errors on page paths as pages; leave the API's problem+json handlers as they are."""
    app.add_exception_handler(PageError, functools.partial(_on_page_error, pages))
    app.add_exception_handler(SignInNeeded, functools.partial(_on_sign_in, pages))
    for kind, page in (
        (ProblemError, _on_problem),
        (RequestValidationError, _on_validation),
        (StarletteHTTPException, _on_http),
    ):
        api = cast("Handler | None", app.exception_handlers.get(kind))
        app.add_exception_handler(kind, functools.partial(_page_or_api, pages, page, api))
    crash = cast("Handler | None", app.exception_handlers.get(Exception))
    app.add_exception_handler(Exception, functools.partial(_on_any, pages, crash))


async def _page_or_api(
    pages: Pages,
    page: Callable[[Pages, Request, Exception], Awaitable[Response]],
    api: Handler | None,
    request: Request,
    exc: Exception,
) -> Response:
    """A page route's error as a page; the API's with the API's handler (if it has one)."""
    if is_page(request.scope) or api is None:
        return await page(pages, request, exc)
    return await api(request, exc)


async def _on_page_error(pages: Pages, request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return pages.error(request, exc.status, exc.what, exc.do, exc.links)


async def _on_sign_in(pages: Pages, request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    return pages.redirect(request, "/signin?next=" + quote(exc.back, safe="/"))


async def _on_problem(pages: Pages, request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return pages.error(
        request,
        exc.status,
        exc.detail,
        "Check the address, or go back and choose from the page's lists.",
    )


async def _on_validation(pages: Pages, request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    names = sorted({str(e.get("loc", ("", "?"))[-1]) for e in exc.errors()})
    return pages.error(
        request,
        400,
        f"The value of {', '.join(names)} in the address is not one this page accepts.",
        "Go back and choose from the page's lists instead of editing the address.",
    )


async def _on_http(pages: Pages, request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return pages.error(
            request,
            404,
            f"There is no page at {request.url.path}.",
            "Use the links at the top of the page: planners start at /planner, the "
            "board at /board.",
        )
    if exc.status_code == 405:
        return pages.error(
            request,
            405,
            f"{request.method} is not allowed on {request.url.path}.",
            "Use the page's own links and forms.",
        )
    return pages.error(request, exc.status_code, str(exc.detail), "Go back and try again.")


async def _on_any(
    pages: Pages, crash: Handler | None, request: Request, exc: Exception
) -> Response:
    """Any other failure: on a page, logged by the API's handler, then an error page."""
    if is_page(request.scope) or crash is None:
        if crash is not None:
            await crash(request, exc)  # logs it (type and path only)
        return pages.error(
            request,
            500,
            "The server failed to answer this page; the failure has been logged.",
            "Try again in a moment; if it happens again, tell the operator the time it did.",
        )
    return await crash(request, exc)
