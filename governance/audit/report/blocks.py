"""The report's building blocks: what the section views hand to the templates.

A view prepares plain values (text already formatted for people) arranged in these blocks;
the templates (``templates/macros.html``) turn each block into HTML and escape every piece
of text. Nothing here writes HTML.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from governance.audit.formatting import sentence
from governance.audit.formatting import text as as_text
from governance.audit.reading import entries, field, is_record

__all__ = [
    "TOO_SMALL",
    "WITHHELD",
    "Badge",
    "BadgeKind",
    "ByDimension",
    "Cell",
    "Code",
    "Figure",
    "GroupedTable",
    "Part",
    "Row",
    "Table",
    "dimensions",
    "figure",
    "level_badge",
    "result_badge",
    "row",
    "table",
    "unavailable",
]

BadgeKind = Literal["pass", "fail", "flag", "info"]

TOO_SMALL = "too small to judge"
WITHHELD = "figures withheld: too few people to show"
_SKIP = frozenset({"available", "reason", "note"})
_LEVELS: dict[Any, BadgeKind] = {"stable": "pass", "moderate": "flag", "significant": "fail"}


@dataclass(frozen=True)
class Badge:
    """A coloured label that also says its meaning in words."""

    kind: BadgeKind
    text: str


@dataclass(frozen=True)
class Code:
    """Text shown as code (a figure's name)."""

    text: str


Part = str | Badge | Code
Cell = tuple[Part, ...]
"""A table cell: its parts, separated by one space."""


@dataclass(frozen=True)
class Row:
    """A table row; a ``small`` row (a group too small to judge) is greyed out."""

    cells: tuple[Cell, ...]
    small: bool = False


def _cells(values: Iterable[Part | Cell]) -> tuple[Cell, ...]:
    return tuple(v if isinstance(v, tuple) else (v,) for v in values)


def row(*values: Part | Cell, small: bool = False) -> Row:
    """A row from its cells; a single part makes a cell of its own."""
    return Row(_cells(values), small)


@dataclass(frozen=True)
class Table:
    """A table; an empty one is shown as a sentence saying there is nothing to show."""

    headers: tuple[str, ...]
    rows: tuple[Row, ...]
    numeric: frozenset[int] = frozenset()
    text: frozenset[int] = frozenset()


def table(
    headers: Sequence[str],
    rows: Iterable[Row],
    *,
    numeric: Iterable[int] = (),
    text: Iterable[int] = (),
) -> Table:
    """A :class:`Table`; ``numeric`` columns are right-aligned, ``text`` ones keep line breaks."""
    return Table(tuple(headers), tuple(rows), frozenset(numeric), frozenset(text))


@dataclass(frozen=True)
class GroupedTable:
    """A table whose rows come in groups, striped group by group.

    Columns from ``numeric_from`` on hold numbers.
    """

    headers: tuple[str, ...]
    groups: tuple[tuple[Row, ...], ...]
    numeric_from: int


@dataclass(frozen=True)
class Figure:
    """An embedded PNG: its bytes in base64, its alternative text and its caption."""

    data: str
    alt: str
    caption: str


@dataclass(frozen=True)
class ByDimension:
    """One dimension's table (``By sex``), with its figure if there is one."""

    dimension: str
    table: Table | GroupedTable
    figure: Figure | None = None


def figure(figures: Mapping[str, bytes], name: str, alt: str, caption: str) -> Figure | None:
    """The figure called ``name``, or None if there is none (nothing is then shown)."""
    data = figures.get(name)
    if not data:
        return None
    return Figure(base64.b64encode(data).decode("ascii"), alt, caption)


def result_badge(passed: Any, unknown: str) -> Badge:
    """pass, fail, or a flag saying ``unknown`` when the result is neither."""
    if passed is True:
        return Badge("pass", "pass")
    if passed is False:
        return Badge("fail", "fail")
    return Badge("flag", unknown)


def level_badge(level: Any) -> Badge:
    """A drift level: stable passes, significant fails, anything else is flagged."""
    return Badge(_LEVELS.get(level, "flag"), as_text(level))


def unavailable(section: Any, what: str) -> str | None:
    """A sentence saying why a section cannot be shown, or None if it can."""
    if section is None:
        return f"This audit holds no {what}."
    if is_record(section) and field(section, "available") is False:
        reason = field(section, "reason")
        return f"Not available for this audit: {sentence(reason or 'no reason was recorded')}"
    if not (is_record(section) or isinstance(section, list)):
        return f"This audit's {what} could not be read."
    return None


def dimensions(section: Any) -> list[tuple[str, Any]]:
    """The (dimension, result) pairs of a by-dimension section, skipping its notes."""
    return [(str(k), v) for k, v in entries(section) if k not in _SKIP and is_record(v)]
