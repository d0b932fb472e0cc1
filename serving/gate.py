"""The gate every request passes: API key, role, rate limit, then audit and metrics.

A pure ASGI middleware (no per-request task or Request object), so the checks cost a few
dict lookups. What a request needs is what its route declares (:mod:`serving.access`), read
once into an :class:`~serving.access.AccessTable`:

1. ``open`` routes (the probes and the API documentation) pass and are not audited;
2. any other route needs ``Authorization: Bearer <token>`` of an active key: otherwise 401;
   except the web pages (``page`` and ``static``), which a browser asks for without a key:
   they check their own signed session cookie, and the gate audits them under the session's
   key once the page has answered (their stylesheet is not audited);
3. a ``key`` route that names roles (``/v1/admin/reload``, ``/metrics``: ``admin``) refuses a
   key of another role: 403;
4. each key has a token bucket (:class:`RateLimiter`): over it, 429 with ``Retry-After``;
5. after the response, the request is counted (:mod:`serving.metrics`) and queued for the
   audit log (:mod:`serving.audit`) with the key id, route template, parameters, status and
   time; refused requests (401, 403, 429) are audited too.

The hot route (``GET /v1/areas/{code}``) is recognised from its path alone, without matching
the routes, and its declared access was looked up once, when the gate was built.
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

__all__ = ["API_KEY", "PAGE_KEY", "Gate", "RateLimiter"]

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


def _not_allowed(path: str, access: Access, role: str) -> str:
    """The 403 detail: the path, the roles its route declares, and the key's role."""
    return _NOT_ALLOWED.format(path=path, roles=" or ".join(access.roles), role=role)


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
    access
        Each route's declared access, and the route a request matches.
    hot_route
        The template of the hot route, ``/v1/areas/{code}``: one parameter, last.
    hot_area
        The pre-serialised body of the hot route for a code, or None: a hit is answered here,
        with those bytes; a miss (unknown code, no release) goes on to the app, whose
        documented route answers the problem.
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
    ) -> None:
        self.app = app
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
            await self.app(scope, receive, send)
            return
        code = self._hot_code(scope, path)
        if code is not None:  # the hot route's template and access, without matching routes
            template, access = self.hot_route, self.hot_access
        else:
            template, access = self.access.resolve(scope)
            if access.kind == "open":
                await self.app(scope, receive, send)
                return
        token = _bearer(scope["headers"])
        if token is None:
            if access.kind in ("page", "static"):  # only without a key: the API's path is unchanged
                await self._page(scope, receive, send, started, template, access)
                return
            await self._refuse(
                scope, send, started, template, None, 401, _NO_KEY, "unauthenticated"
            )
            return
        key = self.keys.lookup(token)
        if key is None:
            await self._refuse(
                scope, send, started, template, None, 401, _BAD_KEY, "unauthenticated"
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
        self._done(scope, key, template, status, started, {})


def _bearer(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None
