"""Who may call a route: each route declares it, and the gate reads the declarations.

A route states its access with a dependency whose callable is a :class:`Requirement`
(:mod:`serving.dependencies` for the API, :mod:`serving.pages.web` for the pages); the
requirement carries an :class:`Access`:

- ``open``: no key, not audited (the probes and the API documentation);
- ``key``: ``Authorization: Bearer`` of an active key, of one of ``roles`` (any role if empty);
- ``page``: a web page, which a browser asks for without a key: it checks its own session
  cookie and is audited under the session's key (a Bearer header, if sent, is ignored);
- ``static``: the pages' stylesheet, as ``page`` but not audited.

:class:`AccessTable` reads every route's declaration once, when the app is built, into a
lookup keyed by route template, which :mod:`serving.gate` asks; the gate leaves the access
it found in the request state, where the pages' error handlers read it (:func:`is_page`).
A route of the app that declares nothing is refused at start-up, so none is left unguarded.
A path that matches no route (a 404 to be) gets the access of the routes sharing its
longest leading path segments, when those agree (``/v1/admin/x`` as ``/v1/admin/reload``,
``/planner/x`` as the planner pages), else ``key``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = [
    "ACCESS",
    "ANY_KEY",
    "OPEN",
    "Access",
    "AccessTable",
    "Requirement",
    "declared_access",
    "is_page",
]

Kind = Literal["open", "key", "page", "static"]
ACCESS = "route_access"
"""Where the gate puts the access of a request's route in the request state."""
UNMATCHED = "unmatched"
_UNDECLARED = "Route {path} ({name}) declares no access: add a role or page dependency."
_CONFLICT = "Routes at {path} declare different access: {first} and {second}."


@dataclass(frozen=True)
class Access:
    """What a route needs: its ``kind`` and, for ``key``, the roles allowed (empty: any)."""

    kind: Kind
    roles: tuple[str, ...] = ()

    def allows(self, role: str) -> bool:
        """Whether a key of ``role`` may call the route (pages check their own session)."""
        return self.kind != "key" or not self.roles or role in self.roles


OPEN = Access("open")
ANY_KEY = Access("key")
STATIC = Access("static")


class Requirement:
    """Base of the dependencies that declare a route's access (read by :func:`declared_access`)."""

    access: Access


def declared_access(dependant: Dependant) -> Access | None:
    """The access a route's ``dependant`` declares (its routers' dependencies included)."""
    pending = list(dependant.dependencies)
    while pending:
        dependant = pending.pop(0)
        if isinstance(dependant.call, Requirement):
            return dependant.call.access
        pending.extend(dependant.dependencies)
    return None


def _segments(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part)


def _literal_segments(template: str) -> tuple[str, ...]:
    """The leading segments of a route template before its first parameter."""
    return _segments(template.split("{", 1)[0].rsplit("/", 1)[0] if "{" in template else template)


class AccessTable:
    """Each route's declared access by template, and the route a request path matches.

    Parameters
    ----------
    routes
        The app's routes, in the order the router tries them (those of included routers
        with their prefixes and dependencies, as FastAPI's :class:`RouteContext`).
    open_urls
        Paths of routes the framework adds itself and serves to anyone (the OpenAPI
        document and its viewers).
    """

    def __init__(self, routes: Sequence[BaseRoute], open_urls: Iterable[str | None]) -> None:
        contexts = list(iter_route_contexts(routes))
        opened = {url for url in open_urls if url}
        self.by_template: dict[str, Access] = {}
        for context in contexts:
            self._declare(str(context.path), _route_access(context, opened))
        # each route's own matcher and template, bound once: the requests do not look them up
        self._matchers = tuple((context.matches, str(context.path)) for context in contexts)
        self.open_paths = frozenset(
            path for path, access in self.by_template.items() if access == OPEN and "{" not in path
        )
        self._by_segments = _segment_access(self.by_template)

    def _declare(self, path: str, access: Access) -> None:
        known = self.by_template.setdefault(path, access)
        if known != access:
            raise RuntimeError(_CONFLICT.format(path=path, first=known, second=access))

    def resolve(self, scope: Scope) -> tuple[str, Access]:
        """The template of the route the request matches (as the router tries them) and its access.

        A request that matches none is ``unmatched``, with the access of its path's section.
        """
        for matches, path in self._matchers:
            match, _ = matches(scope)
            if match != Match.NONE:
                return path, self.by_template[path]
        return UNMATCHED, self.section(scope["path"])

    def section(self, path: str) -> Access:
        """The access of the routes sharing ``path``'s longest leading segments, if they agree."""
        parts = _segments(path)
        for size in range(len(parts), 0, -1):
            found = self._by_segments.get(parts[:size])
            if found is not None:
                return found
        return ANY_KEY


def is_page(scope: Scope) -> bool:
    """Whether the gate passed the request on as a web page (or its stylesheet).

    Errors of a page are answered as pages (:mod:`serving.pages.web`); of the API, as problems.
    """
    access = (scope.get("state") or {}).get(ACCESS)
    return isinstance(access, Access) and access.kind in ("page", "static")


def _route_access(context: RouteContext, opened: set[str]) -> Access:
    """A route's declared access; the framework's own routes and static files by what they are."""
    if isinstance(context.original_route, APIRoute):
        access = declared_access(context.dependant)
        if access is None:
            raise RuntimeError(_UNDECLARED.format(path=context.path, name=context.name))
        return access
    if isinstance(getattr(context, "app", None), StaticFiles):
        return STATIC
    return OPEN if context.path in opened else ANY_KEY


def _segment_access(by_template: dict[str, Access]) -> dict[tuple[str, ...], Access]:
    """Leading segments of the templates -> their access, where every such route agrees.

    Open and static routes lend their access to no other path, so a path below them needs a key.
    """
    seen: dict[tuple[str, ...], set[Access]] = {}
    for template, access in by_template.items():
        literal = _literal_segments(template)
        for size in range(1, len(literal) + 1):
            seen.setdefault(literal[:size], set()).add(access)
    return {
        prefix: next(iter(found))
        for prefix, found in seen.items()
        if len(found) == 1 and next(iter(found)).kind in ("key", "page")
    }
