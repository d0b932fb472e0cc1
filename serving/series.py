"""The back-scored series as served: ``GET /v1/areas/{code}/trend`` and the area page's trend.

A release's ``series.parquet`` (``governance.contracts.release_schema.SERIES``) is read once,
when the release is loaded, after the release's files were verified against the signed
manifest (a changed or missing series file refuses the whole release there), and sorted by
area; an area's answer is made from its few rows when asked for (:class:`SeriesIndex`), so
the series adds little to a load. A release made before the series (or
with ``series.enabled: false``, or under ``dp``) still loads; its areas answer that there is
no series in this release.

Each point carries a plain sentence (:func:`reading`): what the record says against the
model, only where the observed / expected interval excludes 1, and why a recorded count is
not shown (withheld, or its period has not ended).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from governance.contracts.levels import Level
from governance.contracts.release_schema import (
    SERIES,
    SERIES_COLUMNS,
    ReleaseError,
    ReleaseManifest,
)

__all__ = [
    "NO_SERIES",
    "AreaTrend",
    "SeriesIndex",
    "TrendFigure",
    "load_series",
    "no_series_body",
    "reading",
]

NO_SERIES = "no series in this release"
_BAD_COLUMNS = "release {rid}: {path}: columns {found} differ from the series contract {expected}"
_SMALL = (
    "release {rid}: {path}: {n} published recorded count(s) below min_count {min_count}: the "
    "series is not protected as the release's rules require"
)

Status = Literal["published", "withheld", "area_withheld", "period_not_ended"]


class TrendFigure(BaseModel):
    """One as-of date of one area: the champion's figures and the recorded count beside them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of_date: str = Field(description="The young people scored are those known at this date.")
    period_end: str = Field(
        description="The expected and recorded counts cover the months from as_of_date up to "
        "(not including) this date."
    )
    suppressed: bool = Field(description="The area's figures are withheld at this date.")
    population: int | None = Field(description="Young people known to services (protected).")
    expected: float | None = Field(description="Expected number involved in the period.")
    rate_per_1000: float | None
    mean_risk: float | None
    risk_low: float | None = Field(description="95% interval of the mean risk (low).")
    risk_high: float | None
    observed: int | None = Field(
        description="Young people recorded as involved in the period (a hospital attendance "
        "for an assault or sharp-object injury, or charged or cautioned by the police for "
        "violence, weapons or robbery); protected like every count; null when withheld or "
        "when the period has not ended."
    )
    observed_status: Status
    observed_ratio: float | None = Field(description="observed / expected.")
    ratio_low: float | None = Field(description="Exact Poisson interval of the ratio (low).")
    ratio_high: float | None
    comparison: Literal["higher", "similar", "lower"] | None = Field(
        description="The record against the model: higher or lower only when the ratio's "
        "interval excludes 1."
    )
    reading: str = Field(description="The same, in a sentence.")


class AreaTrend(BaseModel):
    """``GET /v1/areas/{code}/trend``: the area at every as-of date, scored by one model."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "release_id": "20261208T000000Z-0123456789",
                    "code": "E09000002",
                    "level": "borough",
                    "name": "Barking and Dagenham",
                    "available": True,
                    "note": "Every as-of date scored by the model of this release.",
                    "model_version": "3",
                    "points": [],
                }
            ]
        },
    )

    release_id: str
    code: str
    level: Level
    name: str
    available: bool = Field(description="False: the release carries no series.")
    note: str
    model_version: str
    points: list[TrendFigure]


def reading(p: Mapping[str, Any], min_count: int) -> str:
    """A plain sentence for one point: the record against the model, or why it is not shown."""
    status = p["observed_status"]
    if status == "area_withheld":
        return "This area's figures are withheld at this date to protect the young people in it."
    if status == "period_not_ended":
        return (
            f"Recorded counts are not shown: the period this covers (to {p['period_end']}) had "
            "not ended when the data were taken."
        )
    if status == "withheld":
        return (
            "The recorded count is withheld to protect the young people it counts: too few to "
            f"show safely (the threshold is {min_count})."
        )
    if p["comparison"] not in ("higher", "lower", "similar"):
        return (
            f"No comparison: the published expected number is 0 (it is rounded), so no ratio "
            f"can be taken ({int(p['observed'])} recorded)."
        )
    counts = (
        f"{int(p['observed'])} recorded against {p['expected']:g} expected (recorded ÷ "
        f"expected {p['observed_ratio']:.2f}, 95% interval {p['ratio_low']:.2f} to "
        f"{p['ratio_high']:.2f})"
    )
    if p["comparison"] == "similar":
        return f"The record and the model agree within their uncertainty: {counts}."
    return f"The record is {p['comparison']} than the model expects: {counts}."


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass(frozen=True)
class SeriesIndex:
    """A release's series as loaded: the table sorted by area, and where each area's rows are.

    Loading only reads, checks and sorts the file (a London-sized release's series is some
    40,000 rows: serialising every area's answer up front would more than double the load);
    :meth:`body` makes one area's answer when it is asked for, from its few rows.
    """

    release_id: str
    model_version: str
    note: str
    min_count: int
    table: pa.Table
    spans: Mapping[str, tuple[int, int]]  # code -> (first row, rows)
    names: Mapping[str, tuple[str, str]]  # code -> (level, name)

    def body(self, code: str) -> bytes | None:
        """``AreaTrend`` JSON of one area, or None if the series does not hold it."""
        span = self.spans.get(code)
        if span is None or code not in self.names:
            return None
        points = []
        for row in self.table.slice(*span).to_pylist():
            row = {k: _clean(v) for k, v in row.items()}
            for count in ("population", "observed"):
                row[count] = None if row[count] is None else int(row[count])
            row.pop("code")
            row.pop("level")
            points.append(TrendFigure(**row, reading=reading(row, self.min_count)))
        level, name = self.names[code]
        return (
            AreaTrend(
                release_id=self.release_id,
                code=code,
                level=level,  # type: ignore[arg-type]
                name=name,
                available=True,
                note=self.note,
                model_version=self.model_version,
                points=points,
            )
            .model_dump_json()
            .encode("utf-8")
        )


def load_series(
    manifest: ReleaseManifest,
    directory: Path,
    names: Mapping[str, tuple[str, str]],
    min_count: int,
) -> SeriesIndex | None:
    """The release's series, checked; None when the release carries none.

    ``names`` gives each served area's ``(level, name)``. Call only after the release's files
    were verified (the series file is one of them).

    Raises
    ------
    ReleaseError
        If the file's columns are not the contract's, or it publishes a recorded count below
        ``min_count``.
    """
    path = Path(directory) / SERIES
    if manifest.series is None or SERIES not in manifest.files:
        return None
    table = pq.read_table(path)
    if tuple(table.column_names) != SERIES_COLUMNS:
        raise ReleaseError(
            _BAD_COLUMNS.format(
                rid=manifest.release_id,
                path=path,
                found=table.column_names,
                expected=list(SERIES_COLUMNS),
            )
        )
    observed = table.column("observed")
    # a published count under the threshold is what protection exists to stop
    small = pc.sum(pc.and_(pc.greater(observed, 0), pc.less(observed, min_count))).as_py()
    if small:
        raise ReleaseError(
            _SMALL.format(rid=manifest.release_id, path=path, n=small, min_count=min_count)
        )
    table = table.sort_by([("code", "ascending"), ("as_of_date", "ascending")])
    codes = table.column("code").to_pylist()
    spans: dict[str, tuple[int, int]] = {}
    for i, code in enumerate(codes):
        first, rows = spans.get(code, (i, 0))
        spans[code] = (first, rows + 1)
    note = (
        f"Every as-of date scored by the model of this release (version "
        f"{manifest.model_version}); recorded counts cover the {manifest.series.label_months} "
        "months after each date and are shown only for periods that had ended. The model "
        "learnt from the records of the periods that had ended, so the two should agree "
        "there; where they do not, the model is off for that area and period."
    )
    return SeriesIndex(
        release_id=manifest.release_id,
        model_version=manifest.model_version,
        note=note,
        min_count=min_count,
        table=table,
        spans=MappingProxyType(spans),
        names=MappingProxyType(dict(names)),
    )


def no_series_body(manifest: ReleaseManifest, code: str, level: str, name: str) -> bytes:
    """The answer for an area of a release without a series."""
    return (
        AreaTrend(
            release_id=manifest.release_id,
            code=code,
            level=level,  # type: ignore[arg-type]
            name=name,
            available=False,
            note=NO_SERIES,
            model_version=manifest.model_version,
            points=[],
        )
        .model_dump_json()
        .encode("utf-8")
    )
