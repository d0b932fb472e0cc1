"""Reading an audit that is either a dict (``audit.json``) or a typed document.

The report and the model card read the audit only through these three functions, so they
work on the JSON dict of today and on a typed (pydantic) document with the same field names.
A record is a mapping or a pydantic model; anything else (a list, a string, ``None``) has no
fields, so a garbled section reads as empty instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["entries", "field", "is_record"]


def is_record(value: Any) -> bool:
    """Whether ``value`` has named fields: a mapping or a pydantic model."""
    return isinstance(value, Mapping | BaseModel)


def field(record: Any, name: str, default: Any = None) -> Any:
    """The field ``name`` of ``record`` (a key or an attribute), or ``default`` if it has none."""
    if isinstance(record, Mapping):
        return record.get(name, default)
    if isinstance(record, BaseModel):
        return getattr(record, name, default)
    return default


def entries(record: Any) -> list[tuple[Any, Any]]:
    """``record``'s fields as (name, value) pairs in order; none if it is not a record.

    A pydantic model gives the fields that were set (declared first, then extras), so a
    document read from JSON lists the same fields as the JSON did.
    """
    if isinstance(record, Mapping):
        return list(record.items())
    if isinstance(record, BaseModel):
        declared = [n for n in type(record).model_fields if n in record.model_fields_set]
        extra = list((record.model_extra or {}).items())
        return [(n, getattr(record, n)) for n in declared] + extra
    return []
