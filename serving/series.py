"""The back-scored series as served: ``GET /v1/areas/{code}/trend`` and the area page's trend.

A release's ``series.parquet`` (``governance.contracts.release_schema.SERIES``) is read once,
when the release is loaded, after the release's files were verified against the signed
manifest (a changed or missing series file refuses the whole release there). Each area's
points become one JSON body, as every hot route's do. A release made before the series (or
with ``series.enabled: false``, or under ``dp``) still loads; its areas answer that there is
no series in this release.

Each point carries a plain sentence (:func:`reading`): what the record says against the
model, only where the observed / expected interval excludes 1, and why a recorded count is
not shown (withheld, or its period has not ended).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from governance.contracts.levels import Level
from governance.contracts.release_schema import (
    SERIES,
    SERIES_COLUMNS,
    ReleaseError,
    ReleaseManifest,
)

__all__ = ["NO_SERIES", "AreaTrend", "TrendFigure", "no_series_body", "reading", "trend_bodies"]

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
            f"The recorded count is withheld to protect the young people it counts (fewer than "
            f"{min_count}, or it could be worked out from others)."
        )
    counts = (
        f"{int(p['observed'])} recorded against {p['expected']:g} expected (recorded ÷ "
        f"expected {p['observed_ratio']:.2f}, 95% interval {p['ratio_low']:.2f} to "
        f"{p['ratio_high']:.2f})"
    )
    if p["comparison"] == "higher":
        return f"The record is higher than the model expects: {counts}."
    if p["comparison"] == "lower":
        return f"The record is lower than the model expects: {counts}."
    if p["comparison"] == "similar":
        return f"The record and the model agree within their uncertainty: {counts}."
    return f"No comparison: nothing was expected here ({int(p['observed'])} recorded)."


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def trend_bodies(
    manifest: ReleaseManifest,
    directory: Path,
    names: Mapping[str, tuple[str, str]],
    min_count: int,
) -> dict[str, bytes]:
    """Each area's ``AreaTrend`` JSON, by code; empty when the release carries no series.

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
        return {}
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
    rows = table.to_pylist()
    small = [
        r for r in rows if r["observed"] is not None and 0 < r["observed"] < min_count
    ]  # a published count under the threshold is what protection exists to stop
    if small:
        raise ReleaseError(
            _SMALL.format(rid=manifest.release_id, path=path, n=len(small), min_count=min_count)
        )
    points: dict[str, list[TrendFigure]] = {}
    for row in sorted(rows, key=lambda r: (r["code"], r["as_of_date"])):
        row = {k: _clean(v) for k, v in row.items()}
        for count in ("population", "observed"):
            row[count] = None if row[count] is None else int(row[count])
        code = row.pop("code")
        row.pop("level")
        points.setdefault(code, []).append(TrendFigure(**row, reading=reading(row, min_count)))
    note = (
        f"Every as-of date scored by the model of this release (version "
        f"{manifest.model_version}); recorded counts cover the {manifest.series.label_months} "
        "months after each date and are shown only for periods that had ended."
    )
    return {
        code: AreaTrend(
            release_id=manifest.release_id,
            code=code,
            level=names[code][0],  # type: ignore[arg-type]
            name=names[code][1],
            available=True,
            note=note,
            model_version=manifest.model_version,
            points=p,
        )
        .model_dump_json()
        .encode("utf-8")
        for code, p in points.items()
        if code in names
    }


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
