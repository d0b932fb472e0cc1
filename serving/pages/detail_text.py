"""An audit-log entry's details as readable key/value text, not Python's ``repr``.

The audit log stores each entry's details as JSON (nested objects, lists, nulls, booleans).
Printed with ``str()`` they showed ``{'release_id': 'r2', 'gates': None}``; here each becomes
a list of ``(label, text)`` pairs: nested objects flattened under their parent's label
(``approval › version``), a missing value as "—", true/false as "yes"/"no", a list as its
items joined (or "none"), and long text cut short. The signature is never shown (it is
long, and checked by the chain verification above the table).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["MISSING", "detail_items"]

MISSING = "—"
"""What a missing (null) value reads as."""
_HIDDEN = frozenset({"signature"})
_MAX_TEXT = 160
_MAX_DEPTH = 4


def _label(key: object) -> str:
    return str(key).replace("_", " ")


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _scalar(value: object) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _inline(value: object, depth: int) -> str:
    """A value inside a list, on one line: ``key: value, ...`` for an object."""
    if isinstance(value, Mapping):
        if depth >= _MAX_DEPTH or not value:
            return MISSING if not value else "…"
        return ", ".join(
            f"{_label(k)}: {_inline(v, depth + 1)}" for k, v in value.items() if k not in _HIDDEN
        )
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if depth >= _MAX_DEPTH:
            return "…"
        return "; ".join(_inline(v, depth + 1) for v in value) or "none"
    return _scalar(value)


def detail_items(details: object, *, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """``details`` as ``(label, text)`` pairs, nested objects flattened; [] if not an object."""
    if not isinstance(details, Mapping):
        return []
    items: list[tuple[str, str]] = []
    for key, value in details.items():
        if key in _HIDDEN:
            continue
        label = f"{prefix} › {_label(key)}" if prefix else _label(key)
        if isinstance(value, Mapping) and value and depth < _MAX_DEPTH:
            items.extend(detail_items(value, prefix=label, depth=depth + 1))
        else:
            items.append((label, _cut(_inline(value, depth + 1))))
    return items
