"""The gate every request passes: audit state, API key, role, rate limit, then audit and metrics.

A pure ASGI middleware (no per-request task or Request object), so the checks cost a few
dict lookups. What a request needs is what its route declares (:mod:`serving.access`), read
once into an :class:`~serving.access.AccessTable`:

1. ``open`` routes (the probes and the API documentation) pass and are not audited;
2. while the request audit is closed (:attr:`serving.audit.RequestAudit.closed`: its last
   write failed, or its backlog reached its bound) every audited route answers 503 with a
   generic body (fail closed: nothing is served that cannot be audited); those refusals are
   counted, not queued, so an outage does not grow the backlog;
3. the web pages (``page`` and ``static``) check their own signed session cookie and are
   audited under the session's key once the page has answered (their stylesheet is not
   audited). A Bearer header on a page is ignored: the page acts only as its session's key,
   so it is the only key that may be logged for it (refusing would break browsers behind a
   proxy that adds its own ``Authorization``, and would change nothing the page does);
4. any other route needs ``Authorization: Bearer <token>`` of an active key: otherwise 401,
   or 429 once the client address is over the anonymous limit; neither is audited one by
   one: the audit counts them and writes one ``api.refused`` entry per route, status and
   window (:meth:`serving.audit.RequestAudit.tally`);
5. a ``key`` route that names roles (``/v1/admin/reload``, ``/metrics``: ``admin``) refuses a
   key of another role: 403;
6. each key has a token bucket (:class:`RateLimiter`): over it, 429 with ``Retry-After``;
7. after the response, the request is counted (:mod:`serving.metrics`) and queued for the
   audit log (:mod:`serving.audit`) with the key id, route template, parameters, status and
   time; refused requests with a key (403, 429) are audited too.

Every API answer carries :data:`API_HEADERS` (``Cache-Control: no-store``,
``X-Content-Type-Options: nosniff``); the pages send their own (:mod:`serving.pages.web`).

The hot route (``GET /v1/areas/{code}``) is recognised from its path alone, without matching
the routes, and its declared access was looked up once, when the gate was built; its only
extra cost for the audit's state is one attribute check, and its headers are precomputed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.access import ACCESS, Access, AccessTable
from serving.audit import RequestAudit
from serving.keys import ApiKey, KeyStore
from serving.metrics import Metrics
from serving.problems import PROBLEM_JSON, problem_bytes

__all__ = ["API_HEADERS", "API_KEY", "PAGE_KEY", "Gate", "RateLimiter"]

PAGE_KEY = "page_key"
"""Where a page puts the signed-in session's key in the request state, for the audit."""
API_KEY = "api_key"
"""Where the gate puts a request's checked Bearer key in the request state, for the route."""
AUDITED_QUERY = frozenset({"level", "parent", "sort", "limit", "offset"})
_MAX_VALUE = 200

_NO_KEY = (
    "This API needs a key: send 'Authorization: Bearer <token>' "
    "(an operator creates one with `vru keys create`)."
)
_BAD_KEY = "The API key is not valid: unknown, malformed or revoked."
_NOT_ALLOWED = "{path} needs the {roles} role; this key has the {role} role."
_TOO_MANY = "Key {key_id} is over its rate limit ({rpm} requests per minute, burst {burst})."
_ANON_TOO_MANY = (
    "Too many requests without a valid key from this address ({rpm} a minute); "
    "send 'Authorization: Bearer <token>' with a valid key."
)
_CLOSED = (
    "The service is unavailable: requests cannot be audited right now, so none is served. "
    "Retry later; the operator has the details in the server log."
)
_CLOSED_BODY = problem_bytes(503, _CLOSED, kind="not-ready")
_CLOSED_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Not available</title>"
    f"<h1>Not available</h1><p>{_CLOSED}</p></html>"
).encode()
API_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
"""Headers of every API answer (JSON): never cached, never sniffed as another type."""


def _not_allowed(path: str, access: Access, role: str) -> str:
    """The 403 detail: the path, the roles its route declares, and the key's role."""
    return _NOT_ALLOWED.format(path=path, roles=" or ".join(access.roles), role=role)


class RateLimiter:
    """A token bucket per key (or client address): ``burst`` at once, refilled at ``per_minute``.

    ``max_buckets`` bounds the memory: past it, the buckets that have refilled (whose key
    has been idle long enough) are dropped, which changes nobody's limit.
    """

    def __init__(self, per_minute: int, burst: int, max_buckets: int = 1_000_000) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self.rate = per_minute / 60.0
        self.max_buckets = max_buckets
        self._buckets: dict[str, list[float]] = {}

    def take(self, key_id: str, now: float) -> float:
        """Spend one token; 0.0 if allowed, else the seconds until one is available."""
        bucket = self._buckets.get(key_id)
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                self._prune(now)
            bucket = self._buckets[key_id] = [float(self.burst), now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget the buckets that are full again (a new one would be the same)."""
        full = [
            name
            for name, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate >= self.burst
        ]
        for name in full:
            del self._buckets[name]


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
    anonymous
        The rate limit of requests without a valid key, per client address.
    access
        Each route's declared access, and the route a request matches.
    hot_route
        The template of the hot route, ``/v1/areas/{code}``: one parameter, last.
    hot_area
        The pre-serialised body of the hot route for a code, or None: a hit is answered here,
        with those bytes; a miss (unknown code, no release) goes on to the app, whose
        documented route answers the problem.
    extra_headers
        Headers every API answer carries at the moment (the release holder's warning that
        the board's approval has lapsed, within its grace period); none by default.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: KeyStore,
        limiter: RateLimiter,
        audit: RequestAudit,
        metrics: Metrics,
        access: AccessTable,
        hot_route: str,
        hot_area: Callable[[str], bytes | None] | None = None,
        anonymous: RateLimiter,
        extra_headers: Callable[[], tuple[tuple[bytes, bytes], ...]] = tuple,
    ) -> None:
        self.app = app
        self.extra_headers = extra_headers
        self.anonymous = anonymous
        self.closed_retry = str(max(1, math.ceil(audit.flush_seconds))).encode()
        self.keys = keys
        self.limiter = limiter
        self.audit = audit
        self.metrics = metrics
        self.access = access
        self.hot_route = hot_route
        self.hot_prefix = hot_route.split("{", 1)[0]
        self.hot_access = access.by_template[hot_route]
        self.hot_area = hot_area

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check, answer or pass on, then count and audit one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        if path in self.access.open_paths:
            await self.app(scope, receive, _with_api_headers(send))
            return
        code = self._hot_code(scope, path)
        if code is not None:  # the hot route's template and access, without matching routes
            template, access = self.hot_route, self.hot_access
        else:
            template, access = self.access.resolve(scope)
            if access.kind == "open":
                await self.app(scope, receive, _with_api_headers(send))
                return
        if self.audit.closed and access.kind != "static":  # fail closed: nothing unaudited
            await self._unavailable(scope, send, started, template, access)
            return
        if access.kind in ("page", "static"):
            # a page acts as its session's key only, and is audited under it: a Bearer
            # header there is ignored, so it can neither act nor be logged as another key
            await self._page(scope, receive, send, started, template, access)
            return
        token = _bearer(scope["headers"])
        key = None if token is None else self.keys.lookup(token)
        if key is None:
            await self._anonymous(
                scope, send, started, template, _NO_KEY if token is None else _BAD_KEY
            )
            return
        if not access.allows(key.role):
            detail = _not_allowed(path, access, key.role)
            await self._refuse(scope, send, started, template, key, 403, detail, "forbidden")
            return
        wait = self.limiter.take(key.key_id, started)
        if wait:
            detail = _TOO_MANY.format(
                key_id=key.key_id, rpm=self.limiter.per_minute, burst=self.limiter.burst
            )
            retry = str(max(1, math.ceil(wait)))
            await self._refuse(
                scope, send, started, template, key, 429, detail, "rate-limited", retry
            )
            return
        if code is not None and await self._answer_hot(send, started, key, code):
            return
        await self._forward(scope, receive, send, started, template, access, key)

    async def _anonymous(
        self, scope: Scope, send: Send, started: float, template: str, detail: str
    ) -> None:
        """Refuse a request without a valid key: 401, or 429 past the address's limit.

        Neither is audited on its own: each is counted (:meth:`RequestAudit.tally`) and the
        audit writes the counts per route and status once a window.
        """
        client = scope.get("client")
        address = client[0] if client else "unknown"
        wait = self.anonymous.take(address, started)
        if wait:
            status, kind, retry = 429, "rate-limited", str(max(1, math.ceil(wait)))
            detail = _ANON_TOO_MANY.format(rpm=self.anonymous.per_minute)
        else:
            status, kind, retry = 401, "unauthenticated", None
        await self._refuse(
            scope, send, started, template, None, status, detail, kind, retry, tally=True
        )

    async def _unavailable(
        self, scope: Scope, send: Send, started: float, template: str, access: Access
    ) -> None:
        """503 while the audit is closed (:attr:`RequestAudit.closed`); counted, not queued."""
        page = access.kind == "page"
        body = _CLOSED_PAGE if page else _CLOSED_BODY
        headers = [
            (b"content-type", b"text/html; charset=utf-8" if page else PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", self.closed_retry),
            *API_HEADERS,
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        elapsed = time.perf_counter() - started
        self.metrics.observe(template, scope["method"], 503, elapsed)
        self.audit.tally(template, 503, time.time())

    def _hot_code(self, scope: Scope, path: str) -> str | None:
        """The code of a request the gate may answer itself (``GET`` of the hot route), else None."""
        if (
            self.hot_area is None
            or scope["method"] != "GET"
            or scope["query_string"]  # the app refuses unknown query parameters
            or not path.startswith(self.hot_prefix)
        ):
            return None
        code = path[len(self.hot_prefix) :]
        return code if code and "/" not in code else None

    async def _answer_hot(self, send: Send, started: float, key: ApiKey, code: str) -> bool:
        """Send the published area's bytes, count and audit; False if the code is not published."""
        assert self.hot_area is not None
        body = self.hot_area(code)
        if body is None:
            return False
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *API_HEADERS,
                    *self.extra_headers(),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        elapsed = time.perf_counter() - started
        self.metrics.observe(self.hot_route, "GET", 200, elapsed)
        # the code alone (a known area's, so safe to log), not a dict: a record of atoms only,
        # which the garbage collector stops tracking
        self.audit.record(
            key.key_id, key.role, "GET", self.hot_route, code, 200, elapsed * 1e3, time.time()
        )
        return True

    async def _page(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
        template: str,
        access: Access,
    ) -> None:
        """A web page: it checks its own session; audited with the session's key, if any."""
        if access.kind == "static":
            scope.setdefault("state", {})[ACCESS] = access
            await self.app(scope, receive, send)
            return
        await self._forward(
            scope, receive, send, started, template, access, None, from_session=True
        )

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
        template: str,
        access: Access,
        key: ApiKey | None,
        *,
        from_session: bool = False,
    ) -> None:
        """Run the app; then count and audit the request with the status it answered.

        ``from_session``: a page, audited with the key its session signed in with (if any),
        which the page leaves in the request's state.
        """
        state = scope.setdefault("state", {})
        state[ACCESS] = access  # for the route's checks and the pages' error handlers
        if key is not None:
            state[API_KEY] = key
        status = 500  # what the server answers if the app fails before it responds

        api = not from_session

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if api:
                    message["headers"] = [
                        *message.get("headers", ()),
                        *API_HEADERS,
                        *self.extra_headers(),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if from_session:
                key = (scope.get("state") or {}).get(PAGE_KEY)
            params = {k: _safe(str(v)) for k, v in scope.get("path_params", {}).items()}
            self._done(scope, key, template, status, started, params)

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
        template: str,
        key: ApiKey | None,
        status: int,
        detail: str,
        kind: str,
        retry_after: str | None = None,
        *,
        tally: bool = False,
    ) -> None:
        """Answer a refusal as a problem; audit it (``tally``: counted, not one record)."""
        body = problem_bytes(status, detail, kind=kind)
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            *API_HEADERS,
        ]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="vru-risk"'))
        if retry_after is not None:
            headers.append((b"retry-after", retry_after.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if tally:
            self.metrics.observe(template, scope["method"], status, time.perf_counter() - started)
            self.audit.tally(template, status, time.time())
        else:
            self._done(scope, key, template, status, started, {})


def _with_api_headers(send: Send) -> Send:
    """``send`` adding :data:`API_HEADERS` to the response's start (open routes)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *API_HEADERS]
        await send(message)

    return sending


def _bearer(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None
