"""The OpenAPI document: bearer auth, errors as problem+json, no FastAPI default 422."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from serving.access import AccessTable
from serving.problems import PROBLEM_JSON, Problem

__all__ = ["JSON", "build_openapi", "problem_docs"]

JSON = "application/json"


def problem_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses (moved to problem+json by :func:`build_openapi`)."""
    text = {
        400: "A parameter is not valid; `invalid_params` names it and the allowed values.",
        401: "No API key, or not a valid one.",
        403: "The key's role may not use this route.",
        404: "No such area or release.",
        409: "The release CURRENT names cannot be served; the previous one stays.",
        422: "A listed area is suppressed: its figures are not published.",
        429: "Over the key's rate limit; retry after `Retry-After` seconds.",
        503: "No verified release is served yet, or requests cannot be audited right now "
        "(the body is generic; the reason is in the server log).",
    }
    return {s: {"model": Problem, "description": text[s]} for s in statuses}


def build_openapi(app: FastAPI, access: AccessTable) -> dict[str, Any]:
    """OpenAPI with problem+json errors, no FastAPI default 422, and bearer auth.

    Bearer auth is required of every operation whose route is not declared open (``access``).
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `vru keys create` (vru_<key id>_<secret>).",
    }
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            if "422" in responses and _is_default_422(responses["422"]):
                del responses["422"]
            for status, response in responses.items():
                if int(status) >= 400 and JSON in response.get("content", {}):
                    response["content"] = {PROBLEM_JSON: response["content"].pop(JSON)}
            if access.by_template[path].kind != "open":
                operation["security"] = [{"bearer": []}]
    app.openapi_schema = schema
    return schema


def _is_default_422(response: dict[str, Any]) -> bool:
    ref = response.get("content", {}).get(JSON, {}).get("schema", {}).get("$ref", "")
    return bool(ref.endswith("/HTTPValidationError"))
