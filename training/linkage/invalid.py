"""Unparseable values in real extracts: counted per source and column, refused only en masse.

Real extracts always carry some dates of birth and postcodes that do not parse (a typed
"31/02/2009", "unknown", a foreign postcode). One such value becomes missing, and the record
still links on its other identifiers. But when a column's unparseable share passes
``link.max_invalid_share`` the mapping or the format is wrong (``%d/%m/%Y`` for a column of
``%Y-%m-%d`` dates), and linking would quietly lose most of that identifier: the run refuses.
The counts go to ``report.json`` and the log with record numbers, never the values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from governance.contracts.errors import ExtractError
from training.linkage.config import ExtraComparison, PostcodeFormat, SourceMapping
from training.linkage.standardise import checked_columns, invalid_sql

__all__ = ["InvalidColumn", "count_invalid", "invalid_report", "judge_invalid"]

logger = logging.getLogger("vru.link")


@dataclass(frozen=True)
class InvalidColumn:
    """The unparseable values of one mapped column of one extract."""

    source: str
    path: Path
    field: str  # dob, postcode, or an extra comparison's name
    column: str  # the extract's own column
    expected: str  # what a valid value is, in words
    records: int
    invalid: int
    first_records: tuple[int, ...]  # record numbers (1 is the first), never values

    @property
    def share(self) -> float:
        """The share of the extract's records whose value in this column does not parse."""
        return self.invalid / self.records if self.records else 0.0

    def words(self) -> str:
        """The count, share and first record numbers, for a log line or an error."""
        more = ", …" if self.invalid > len(self.first_records) else ""
        numbers = ", ".join(str(n) for n in self.first_records)
        return (
            f"{self.path}: column '{self.column}' ({self.field}) has {self.invalid:,} of "
            f"{self.records:,} values that are not {self.expected} ({100 * self.share:.1f}%; "
            f"records {numbers}{more}; the first record is 1)"
        )


def count_invalid(
    con: duckdb.DuckDBPyConnection,
    view: str,
    source: str,
    path: Path,
    mapping: SourceMapping,
    postcode_format: PostcodeFormat,
    comparisons: Mapping[str, ExtraComparison],
) -> list[InvalidColumn]:
    """Count each checked column's unparseable values in one extract (one pass)."""
    checked = checked_columns(mapping, postcode_format, comparisons)
    row = con.execute(invalid_sql(view, checked)).fetchone()
    assert row is not None  # an aggregate always gives one row
    records = int(row[0])
    return [
        InvalidColumn(
            source=source,
            path=path,
            field=c.field,
            column=c.column,
            expected=c.expected,
            records=records,
            invalid=int(row[1 + 2 * i]),
            first_records=tuple(int(n) for n in row[2 + 2 * i]),
        )
        for i, c in enumerate(checked)
    ]


def judge_invalid(columns: Sequence[InvalidColumn], max_share: float) -> None:
    """Refuse when any column's unparseable share passes ``max_share``; else log each count.

    Every column over the limit is named in the one error, so that a user fixes them at once.
    """
    over = [c for c in columns if c.invalid and c.share > max_share]
    if over:
        lines = "; ".join(c.words() for c in over)
        raise ExtractError(
            f"{lines}. More than link.max_invalid_share ({100 * max_share:g}%) of a column does "
            "not parse: check the mapping and the format (dob_format, postcode_format)"
        )
    for c in columns:
        if c.invalid:
            logger.warning("%s: counted as missing", c.words())


def invalid_report(columns: Sequence[InvalidColumn]) -> dict[str, dict[str, Any]]:
    """``report.json``'s ``invalid_values``: per source, per checked column, the counts."""
    out: dict[str, dict[str, Any]] = {}
    for c in columns:
        out.setdefault(c.source, {})[c.column] = {
            "field": c.field,
            "records": c.records,
            "invalid": c.invalid,
            "share": round(c.share, 6),
            "first_records": list(c.first_records),
        }
    return out
