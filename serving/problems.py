"""Errors as ``application/problem+json`` (RFC 9457), the only error shape the API returns.

Every error body has ``type``, ``title``, ``status`` and ``detail``; an error about the request's
parameters adds ``invalid_params``: for each bad parameter its ``name`` (``level``,
``codes[2]``), the ``reason`` and, where the values are a known set or range, ``allowed``.
Handlers here replace FastAPI's default 422 and Starlette's plain-text 404 and 405, and map
:class:`~governance.contracts.errors.VruError` to 4xx; nothing returns a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from governance.contracts.errors import VruError
from governance.contracts.levels import LEVELS
from serving.body_errors import body_example, body_problem

__all__ = [
    "PROBLEM_JSON",
    "InvalidParam",
    "Problem",
    "ProblemError",
    "SuggestedArea",
    "install_handlers",
    "problem_bytes",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://vru-risk.example/problems/"
_log = logging.getLogger("serving")

_TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class InvalidParam(BaseModel):
    """One bad request parameter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        description="The parameter: a query or path name, or a body field path.",
        examples=["level"],
    )
    reason: str = Field(
        description="What is wrong with the value given.", examples=["got 'street'"]
    )
    allowed: list[str] | None = Field(
        default=None,
        description="The allowed values or range, where they are a known set.",
        examples=[["lsoa", "ward", "borough", "bcu", "city"]],
    )


class SuggestedArea(BaseModel):
    """An area an unknown code or name may have meant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="The area's code, as the API spells it.")
    name: str = Field(description="The area's name.")
    level: str = Field(description="The area's level.")


class Problem(BaseModel):
    """An error response (``application/problem+json``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": _TYPE_BASE + "invalid-parameter",
                    "title": "Invalid request",
                    "status": 400,
                    "detail": "Query parameter 'level' is not allowed: got 'street'.",
                    "invalid_params": [
                        {
                            "name": "level",
                            "reason": "got 'street'",
                            "allowed": list(LEVELS),
                        }
                    ],
                }
            ]
        },
    )

    type: str = Field(
        description="A link naming the kind of error; the same kind always has the same link.",
        examples=[_TYPE_BASE + "invalid-parameter"],
    )
    title: str = Field(
        description="The kind of error in a few words.", examples=["Invalid request"]
    )
    status: int = Field(description="The HTTP status code.", examples=[400])
    detail: str = Field(
        description="What went wrong with this request and what would be accepted.",
        examples=["Query parameter 'level' is not allowed: got 'street'."],
    )
    invalid_params: list[InvalidParam] | None = Field(
        default=None, description="Each bad parameter, where the request's parameters are at fault."
    )
    suggestions: list[SuggestedArea] | None = Field(
        default=None,
        description="Areas the request may have meant (an unknown area code or name), best first.",
    )


class ProblemError(VruError):
    """Raised by a handler to answer with a problem; ``status`` is the HTTP status."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str = "request",
        invalid_params: Sequence[InvalidParam] = (),
        headers: dict[str, str] | None = None,
        suggestions: Sequence[SuggestedArea] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.invalid_params = list(invalid_params)
        self.headers = headers or {}
        self.suggestions = list(suggestions)


def problem_bytes(
    status: int,
    detail: str,
    *,
    kind: str = "request",
    invalid_params: Sequence[InvalidParam] = (),
    suggestions: Sequence[SuggestedArea] = (),
) -> bytes:
    """The JSON body of a problem."""
    body: dict[str, Any] = {
        "type": _TYPE_BASE + kind,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if invalid_params:
        body["invalid_params"] = [p.model_dump(exclude_none=True) for p in invalid_params]
    if suggestions:
        body["suggestions"] = [s.model_dump() for s in suggestions]
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str = "request",
    invalid_params: Sequence[InvalidParam] = (),
    headers: dict[str, str] | None = None,
    suggestions: Sequence[SuggestedArea] = (),
) -> Response:
    """A problem as a response."""
    return Response(
        problem_bytes(
            status, detail, kind=kind, invalid_params=invalid_params, suggestions=suggestions
        ),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _param_name(loc: Sequence[Any]) -> str:
    """``('query', 'limit')`` -> ``limit``; ``('body', 'codes', 2)`` -> ``codes[2]``."""
    parts = list(loc[1:]) if loc and loc[0] in ("query", "path", "body", "header") else list(loc)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def validation_problem(
    errors: Sequence[Any], allowed: dict[str, list[str]]
) -> tuple[str, list[InvalidParam]]:
    """The detail and invalid parameters of pydantic validation errors."""
    params: list[InvalidParam] = []
    for error in errors:
        loc = error.get("loc", ())
        name = _param_name(loc)
        given = error.get("input")
        reason = str(error.get("msg", "not valid"))
        if error.get("type") != "missing" and isinstance(given, str | int | float):
            reason += f" (got {given!r})"
        base = name.split("[")[0].split(".")[0]
        params.append(InvalidParam(name=name, reason=reason, allowed=allowed.get(base)))
    names = ", ".join(f"'{p.name}'" for p in params)
    return f"Invalid parameter(s) {names}; see invalid_params.", params


def install_handlers(app: FastAPI, allowed: dict[str, list[str]]) -> None:
    """Answer every error with a problem; ``allowed`` gives each parameter's allowed values."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return problem_response(
            exc.status,
            exc.detail,
            kind=exc.kind,
            invalid_params=exc.invalid_params,
            headers=exc.headers,
            suggestions=exc.suggestions,
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        body = body_problem(
            exc.errors(),
            body_example(request.scope.get("route")),
            request.headers.get("content-type"),
        )
        if body is not None:  # not a JSON object at all: say so, not "parameter '[0]'"
            detail, params = body[0], [InvalidParam(name="body", reason=body[1])]
        else:
            detail, params = validation_problem(exc.errors(), allowed)
        return problem_response(400, detail, kind="invalid-parameter", invalid_params=params)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = {
            404: f"No route {request.url.path}; the API is under /v1 (see /docs).",
            405: f"Method {request.method} is not allowed on {request.url.path}.",
        }.get(exc.status_code, str(exc.detail))
        return problem_response(
            exc.status_code, detail, kind="http", headers=dict(exc.headers or {})
        )

    async def on_vru_error(request: Request, exc: Exception) -> Response:
        return problem_response(400, str(exc), kind="invalid-request")

    async def on_crash(request: Request, exc: Exception) -> Response:
        _log.error("unhandled %s on %s", type(exc).__name__, request.url.path)
        return problem_response(
            500, "The server failed to answer; it has been logged.", kind="server"
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(VruError, on_vru_error)
    app.add_exception_handler(Exception, on_crash)
