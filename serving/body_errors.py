"""A request body that is not the JSON object a route expects, said in words.

FastAPI reports a body that does not parse as JSON at ``('body', <character>)``, which the
generic message turned into ``Invalid parameter(s) '[0]'``; a body that parses but is not an
object (a list, a string) at ``('body',)`` with pydantic's wording. Here either becomes one
problem about ``body``: what was wrong (not JSON, at which character; or JSON of the wrong
kind; or empty) and what was expected, with the route's own documented example. The body's
content is never repeated (it is the caller's, and may be anything).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["body_example", "body_problem"]

_KIND_ERRORS = frozenset({"model_attributes_type", "dict_type", "model_type"})


def body_problem(
    errors: Sequence[Any], example: dict[str, Any] | None, content_type: str | None = None
) -> tuple[str, str] | None:
    """The detail and the ``body`` parameter's reason when the body is not a JSON object.

    None for other errors (a field of the object, a query parameter), which keep the
    generic message. ``content_type`` is the request's: a body not sent as JSON is not read
    as JSON, and that is what the reason then says.

    ``errors`` are pydantic's (``RequestValidationError.errors()``); ``example`` is a body the
    route accepts (its model's documented example), quoted as what was expected.
    """
    reason = None
    for error in errors:
        loc = tuple(error.get("loc", ()))
        kind = error.get("type")
        if not loc or loc[0] != "body":
            continue
        if kind == "json_invalid":
            at = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
            what = str((error.get("ctx") or {}).get("error") or "it does not parse")
            where = f" at character {at}" if at is not None else ""
            reason = f"is not valid JSON ({what}{where})"
        elif loc == ("body",) and kind == "missing":
            reason = "is empty"
        elif loc == ("body",) and kind in _KIND_ERRORS:
            media = (content_type or "").split(";")[0].strip().lower()
            sent_as_json = media == "application/json" or media.endswith("+json")
            reason = (
                "is not a JSON object"
                if sent_as_json
                else f"was sent as {media or 'no Content-Type'}, so it is not read as JSON"
            )
        if reason is not None:
            break
    if reason is None:
        return None
    expected = "a JSON object (Content-Type: application/json)"
    if example is not None:
        expected += ", for example " + json.dumps(example, separators=(", ", ": "))
    detail = f"The request body {reason}: expected {expected}."
    return detail, f"{reason}; expected {expected}"


def body_example(route: object) -> dict[str, Any] | None:
    """The first documented example of ``route``'s body model (a FastAPI route), if any."""
    field = getattr(route, "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    config = getattr(model, "model_config", None)
    extra = config.get("json_schema_extra") if isinstance(config, dict) else None
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if isinstance(examples, list) and examples and isinstance(examples[0], dict):
        return examples[0]
    return None
