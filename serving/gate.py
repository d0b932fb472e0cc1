"""The gate every request passes: API key, role, rate limit, then audit and metrics.

A pure ASGI middleware (no per-request task or Request object), so the checks cost a few
dict lookups:

1. ``/healthz``, ``/readyz`` and the API documentation are open (probes carry no data) and not
   audited;
2. any other path needs ``Authorization: Bearer <token>`` of an active key: otherwise 401;
   except the web pages (:data:`PAGE_PREFIXES`, :mod:`serving.pages`), which a browser asks
   for without a key: they check their own signed session cookie, and the gate audits them
   under the session's key once the page has answered (their stylesheet is not audited);
3. ``/v1/admin/...`` and ``/metrics`` need the ``admin`` role: otherwise 403;
4. each key has a token bucket (:class:`RateLimiter`): over it, 429 with ``Retry-After``;
5. after the response, the request is counted (:mod:`serving.metrics`) and queued for the
   audit log (:mod:`serving.audit`) with the key id, route template, parameters, status and
   time; refused requests (401, 403, 429) are audited too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.audit import RequestAudit
from serving.keys import ApiKey, KeyStore
from serving.metrics import Metrics
from serving.problems import PROBLEM_JSON, problem_bytes

__all__ = ["ADMIN_PREFIXES", "OPEN_PATHS", "PAGE_PREFIXES", "Gate", "RateLimiter", "is_page"]

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/redoc"})
PAGE_PREFIXES = ("/signin", "/signout", "/board", "/planner", "/static/")
"""Paths of the web pages (and their static files): session cookie, not a Bearer key."""
STATIC_PREFIX = "/static/"
PAGE_KEY = "page_key"
"""Where a page puts the signed-in session's key in the request state, for the audit."""
ADMIN_PREFIXES = ("/v1/admin/", "/metrics")
HOT_PREFIX = "/v1/areas/"
HOT_ROUTE = "/v1/areas/{code}"
AUDITED_QUERY = frozenset({"level", "parent", "sort", "limit", "offset"})
_MAX_VALUE = 200

_NO_KEY = (
    "This API needs a key: send 'Authorization: Bearer <token>' "
    "(an operator creates one with `vru keys create`)."
)
_BAD_KEY = "The API key is not valid: unknown, malformed or revoked."
_NOT_ADMIN = "{path} needs the admin role; this key has the {role} role."
_TOO_MANY = "Key {key_id} is over its rate limit ({rpm} requests per minute, burst {burst})."


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, refilled at ``per_minute``."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self.rate = per_minute / 60.0
        self._buckets: dict[str, list[float]] = {}

    def take(self, key_id: str, now: float) -> float:
        """Spend one token; 0.0 if allowed, else the seconds until one is available."""
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = [float(self.burst), now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate


def _safe(text: str) -> str:
    """A bounded, valid-UTF-8 copy of a user-supplied string, for the audit log."""
    text = text[:_MAX_VALUE]
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


class Gate:
    """The ASGI layer in front of the app; see the module docstring.

    Parameters
    ----------
    app
        The application behind the gate (FastAPI's whole stack).
    keys, limiter, audit, metrics
        The key store, rate limiter, request audit and metrics of this server.
    routes
        Returns the app's routes, to name the route template of a request.
    hot_area
        The pre-serialised body of ``GET /v1/areas/{code}`` for a code, or None: a hit is
        answered here, with those bytes; a miss (unknown code, no release) goes on to the
        app, whose documented route answers the problem.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: KeyStore,
        limiter: RateLimiter,
        audit: RequestAudit,
        metrics: Metrics,
        routes: Callable[[], Iterable[BaseRoute]],
        hot_area: Callable[[str], bytes | None] | None = None,
    ) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.audit = audit
        self.metrics = metrics
        self.routes = routes
        self.hot_area = hot_area

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check, answer or pass on, then count and audit one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        if path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        token = _bearer(scope["headers"])
        if token is None:
            if is_page(path):  # checked only without a key: the API's path is unchanged
                await self._page(scope, receive, send, started)
                return
            await self._refuse(scope, send, started, None, 401, _NO_KEY, "unauthenticated")
            return
        key = self.keys.lookup(token)
        if key is None:
            await self._refuse(scope, send, started, None, 401, _BAD_KEY, "unauthenticated")
            return
        if key.role != "admin" and path.startswith(ADMIN_PREFIXES):
            detail = _NOT_ADMIN.format(path=path, role=key.role)
            await self._refuse(scope, send, started, key, 403, detail, "forbidden")
            return
        wait = self.limiter.take(key.key_id, started)
        if wait:
            detail = _TOO_MANY.format(
                key_id=key.key_id, rpm=self.limiter.per_minute, burst=self.limiter.burst
            )
            retry = str(max(1, math.ceil(wait)))
            await self._refuse(scope, send, started, key, 429, detail, "rate-limited", retry)
            return

        if (
            self.hot_area is not None
            and path.startswith(HOT_PREFIX)
            and scope["method"] == "GET"
            and not scope["query_string"]  # the app refuses unknown query parameters
        ):
            code = path[len(HOT_PREFIX) :]
            body = self.hot_area(code) if code and "/" not in code else None
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                elapsed = time.perf_counter() - started
                self.metrics.observe(HOT_ROUTE, "GET", 200, elapsed)
                # the code alone (a known area's, so safe to log), not a dict: a record of
                # atoms only, which the garbage collector stops tracking
                self.audit.record(
                    key.key_id, key.role, "GET", HOT_ROUTE, code, 200, elapsed * 1e3, time.time()
                )
                return

        await self._forward(scope, receive, send, started, key)

    async def _page(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        """A web page: it checks its own session; audited with the session's key, if any."""
        if scope["path"].startswith(STATIC_PREFIX):
            await self.app(scope, receive, send)
            return
        await self._forward(scope, receive, send, started, None, from_session=True)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
        key: ApiKey | None,
        *,
        from_session: bool = False,
    ) -> None:
        """Run the app; then count and audit the request with the status it answered.

        ``from_session``: a page, audited with the key its session signed in with (if any),
        which the page leaves in the request's state.
        """
        status = 500  # what the server answers if the app fails before it responds

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if from_session:
                key = (scope.get("state") or {}).get(PAGE_KEY)
            params = {k: _safe(str(v)) for k, v in scope.get("path_params", {}).items()}
            self._done(scope, key, self._template(scope), status, started, params)

    def _done(
        self,
        scope: Scope,
        key: ApiKey | None,
        template: str,
        status: int,
        started: float,
        params: dict[str, Any],
    ) -> None:
        elapsed = time.perf_counter() - started
        self.metrics.observe(template, scope["method"], status, elapsed)
        query: bytes = scope["query_string"]
        if query:
            other = []
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if name in AUDITED_QUERY:
                    params[name] = _safe(value)
                else:
                    other.append(_safe(name))
            if other:
                params["other_query_names"] = other
        state = scope.get("state")
        if state and "audit_params" in state:
            params.update(state["audit_params"])
        self.audit.record(
            None if key is None else key.key_id,
            None if key is None else key.role,
            scope["method"],
            template,
            params,
            status,
            elapsed * 1000.0,
            time.time(),
        )

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        started: float,
        key: ApiKey | None,
        status: int,
        detail: str,
        kind: str,
        retry_after: str | None = None,
    ) -> None:
        body = problem_bytes(status, detail, kind=kind)
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="vru-risk"'))
        if retry_after is not None:
            headers.append((b"retry-after", retry_after.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self._done(scope, key, self._template(scope), status, started, {})

    def _template(self, scope: Scope) -> str:
        """The route template the request's path matches (``unmatched`` if none)."""
        for route in self.routes():
            match, _ = route.matches(scope)
            if match != Match.NONE:
                return str(getattr(route, "path", "unmatched"))
        return "unmatched"


def is_page(path: str) -> bool:
    """Whether ``path`` is a web page (or its static file), served on a session cookie."""
    return path == "/" or path.startswith(PAGE_PREFIXES)


def _bearer(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None
