"""Downloads of a level's areas for GIS and spreadsheets, each with its metadata sheet.

* GeoJSON (RFC 7946): one Feature per area of the level, whose ``properties`` are the very
  bytes ``GET /v1/areas`` lists for that area (the published figures, withheld the same way),
  whose ``geometry`` is the area's boundary (WGS84) or null where there is none (a generated
  city), and a top-level ``metadata`` member (a foreign member, section 6.1).
* CSV: the same figures, one row per area, factors flattened to three columns each; a
  withheld figure is an empty cell. Its metadata sheet is a companion CSV (``name, kind,
  description``) rather than a zip: Fingertips and the London Datastore ship data as a plain
  CSV beside a separate metadata file, and a plain CSV opens directly in a spreadsheet, R or
  QGIS and can be read from its URL by a script; the CSV response links to its sheet
  (``Link: <...>; rel="describedby"``, as W3C CSV on the Web does).

The metadata (:func:`metadata`) holds the release id, as-of date, model version, the
environment label (DEMO for a demo release, from the signed manifest), the disclosure note
(from the signed disclosure rules), the geography's attribution and licence, and a definition
of every column. Nothing here is about a person: only published area figures and boundaries.

Bodies are built once per (release, level) and kept (:class:`DownloadCache`) until the
release served changes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from governance.contracts.release_schema import ReleaseManifest
from serving.comparisons import said
from serving.geometry import Boundaries, LevelShapes
from serving.releases import LoadedRelease, manifest_rules
from serving.schemas import AreaPublic

__all__ = [
    "BASE_COLUMNS",
    "DownloadCache",
    "accepts_gzip",
    "areas_csv",
    "areas_geojson",
    "column_definitions",
    "csv_body",
    "csv_columns",
    "disclosure_note",
    "encoded",
    "environment_label",
    "geojson_body",
    "metadata",
    "metadata_csv",
    "metadata_csv_body",
]

BASE_COLUMNS: tuple[str, ...] = (
    "level",
    "code",
    "name",
    "parent_code",
    "suppressed",
    "suppression_reason",
    "population",
    "expected",
    "expected_fewer_than",
    "rate_per_1000",
    "mean_risk",
    "mean_risk_raw",
    "risk_low",
    "risk_high",
    "rank",
    "decile",
    "band",
    "change_mean_risk",
    "top_drivers",
)
"""The CSV's columns before the factors' (each an :class:`~serving.schemas.AreaPublic` field)."""
COMPARISON_COLUMNS: tuple[str, ...] = ("against_parent", "against_city")
"""The area against its parent and the city (``AreaPublic.comparison``), after the base columns."""

_DEFINITIONS: dict[str, str] = {
    # for fields whose schema description is missing or says too little on its own
    "level": "The area's level: lsoa, ward, borough, bcu (police Basic Command Unit) or city.",
    "code": "The area's code (ONS code for LSOAs, wards and boroughs of the real geography).",
    "name": "The area's name.",
    "parent_code": "The code of the area it lies within (its ward, borough, BCU or the city).",
    "suppressed": "true: the area's figures are withheld by disclosure control (cells empty).",
    "suppression_reason": "Why the area is withheld, in words; empty if published.",
    "rate_per_1000": "Expected number involved in serious violence per 1,000 young people.",
    "change_mean_risk": "The area's mean risk minus its mean risk in the previous release "
    "(empty where either was withheld or there is no previous release).",
    "top_drivers": "Risk factors raising the area's risk most, largest first (CSV: separated "
    "by spaces).",
    "against_parent": "The area against the area it lies in: higher, similar or lower, decided "
    "by the 95% interval of its rate per 1,000 (with the reason where not compared); empty for "
    "the city. In the GeoJSON: comparison.parent.",
    "against_city": "The area against the whole city, decided the same way; empty for the city. "
    "In the GeoJSON: comparison.city.",
    "comparison": "The area against its parent area and the city (verdict, comparator, its "
    "value, the rule), as /v1/areas gives it.",
    "factors": "Per risk factor: young people with it (count, rounded or perturbed; null if "
    "withheld), its prevalence (share of the area's young people) and contribution (mean "
    "SHAP contribution to the risk, log-odds).",
}
_LEVEL_WORDS = {"lsoa": "LSOA", "bcu": "police BCU"}
_FACTOR_PARTS = (
    ("count", "Young people in the area with {f} (rounded or perturbed); empty if withheld."),
    ("prevalence", "Share of the area's young people with {f} (0 to 1); empty if withheld."),
    ("contribution", "Mean SHAP contribution of {f} to the area's risk (log-odds)."),
)


def environment_label(manifest: ReleaseManifest) -> str:
    """The release's environment in capitals (``DEMO``, ``PRODUCTION``), from its manifest."""
    return manifest.environment.upper()


def disclosure_note(manifest: ReleaseManifest) -> str:
    """What disclosure control did to the figures, in words, from the signed rules."""
    rules = manifest_rules(manifest)
    withheld = (
        f"Areas with fewer than {rules.min_count} young people are withheld (suppressed) and "
        "publish no figures; withheld figures are empty, never estimated."
    )
    if rules.method == "cellkey":
        moved = (
            "Counts are moved slightly to protect privacy by the ONS cell-key method (a count "
            f"by at most {rules.cellkey.max_perturbation}; the same group of young people "
            "always by the same amount)."
        )
    elif rules.method == "dp":
        moved = (
            "Counts include random noise (differential privacy, epsilon "
            f"{rules.dp.epsilon} per release)."
        )
    else:
        moved = (
            f"Counts are rounded to a multiple of {rules.rounding_base}; a neighbouring area "
            "may be withheld too so that a withheld one cannot be worked out by subtraction."
        )
    return f"{moved} {withheld} Mean risks carry at most {rules.risk_decimals} decimals."


def csv_columns(factors: Sequence[str]) -> list[str]:
    """The CSV's header: :data:`BASE_COLUMNS`, then count, prevalence, contribution per factor."""
    return [
        *BASE_COLUMNS,
        *COMPARISON_COLUMNS,
        *(f"{f}_{part}" for f in factors for part, _ in _FACTOR_PARTS),
    ]


def column_definitions(factors: Sequence[str]) -> list[dict[str, str]]:
    """Every CSV column and GeoJSON property, with its definition (the schema's where it has one)."""
    fields = AreaPublic.model_fields
    out = []
    for name in BASE_COLUMNS:
        described = fields[name].description
        out.append({"name": name, "definition": _DEFINITIONS.get(name) or described or name})
    for name in (*COMPARISON_COLUMNS, "comparison", "factors"):
        out.append({"name": name, "definition": _DEFINITIONS[name]})
    for factor in factors:
        for part, text in _FACTOR_PARTS:
            out.append({"name": f"{factor}_{part}", "definition": text.format(f=factor)})
    return out


def metadata(
    release: LoadedRelease, level: str, shapes: LevelShapes, *, source: str
) -> dict[str, Any]:
    """The metadata sheet of a level's download (see the module's notes)."""
    m = release.manifest
    members = [a for a in release.areas.values() if a.level == level]
    mapped = sum(1 for a in members if a.code in shapes.geometries)
    return {
        "title": f"Young people's risk of serious violence by {_LEVEL_WORDS.get(level, level)}: "
        "published area figures",
        "release_id": m.release_id,
        "as_of_date": m.as_of_date,
        "created": m.created,
        "model_name": m.model_name,
        "model_version": m.model_version,
        "environment": environment_label(m),
        "level": level,
        "areas": len(members),
        "areas_withheld": sum(1 for a in members if a.suppressed),
        "areas_with_boundary": mapped,
        "disclosure_note": disclosure_note(m),
        "geography": (
            shapes.attribution
            if mapped
            else "No boundaries: the areas of this release have no published shapes "
            "(a generated city, or a level without boundaries)."
        ),
        "source": source,
        "columns": column_definitions(m.factors),
    }


def areas_geojson(
    release: LoadedRelease, level: str, shapes: LevelShapes, meta: Mapping[str, Any]
) -> bytes:
    """A FeatureCollection of the level's areas, in code order; properties as ``/v1/areas``."""
    items = release.listings.get((level, None), {}).get("code", ())
    features = []
    for item in items:
        area = _code_of(item)
        geometry = shapes.geometries.get(area)
        features.append(
            b'{"type":"Feature","id":'
            + json.dumps(area).encode()
            + b',"geometry":'
            + (b"null" if geometry is None else _compact(geometry))
            + b',"properties":'
            + item
            + b"}"
        )
    return (
        b'{"type":"FeatureCollection","metadata":'
        + _compact(meta)
        + b',"features":['
        + b",".join(features)
        + b"]}"
    )


def _code_of(item: bytes) -> str:
    """The ``code`` of a pre-serialised area item."""
    code: str = json.loads(item)["code"]
    return code


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _cell(value: object) -> object:
    """A CSV cell: empty for null, lower-case booleans as in JSON, formula-like text quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def areas_csv(release: LoadedRelease, level: str) -> bytes:
    """The level's areas in code order, as published, one row each (UTF-8 with a BOM for Excel)."""
    factors = list(release.manifest.factors)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_columns(factors))
    members = sorted((a for a in release.areas.values() if a.level == level), key=_by_code)
    for area in members:
        row: list[object] = [getattr(area, name) for name in BASE_COLUMNS[:-1]]
        row.append(" ".join(area.top_drivers))
        comparison = area.comparison
        row += [
            said(comparison.parent if comparison else None),
            said(comparison.city if comparison else None),
        ]
        by_factor = {f.factor: f for f in area.factors}
        for factor in factors:
            figure = by_factor.get(factor)
            row += (
                [None, None, None]
                if figure is None
                else [figure.count, figure.prevalence, figure.contribution]
            )
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _by_code(area: AreaPublic) -> str:
    return area.code


def metadata_csv(meta: Mapping[str, Any]) -> bytes:
    """The metadata sheet as CSV: ``name, kind, description``; kind ``about`` or ``column``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["name", "kind", "description"])
    for key, value in meta.items():
        if key != "columns":
            writer.writerow([key, "about", _cell(value)])
    for column in meta["columns"]:
        writer.writerow([column["name"], "column", column["definition"]])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


_T = TypeVar("_T")


class DownloadCache:
    """Bodies (and maps) built once per (release, key), dropped when the release served changes.

    A key is (kind, level) or, for a map, (kind, level and parent): bounded by the release's
    areas, and all dropped together when another release is served.
    """

    def __init__(self) -> None:
        self._release: str | None = None
        self._bodies: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, release_id: str, key: tuple[str, str], build: Callable[[], _T]) -> _T:
        """The body for ``key`` in ``release_id``, built by ``build`` the first time."""
        with self._lock:
            if self._release != release_id:
                self._release, self._bodies = release_id, {}
            body: _T | None = self._bodies.get(key)
        if body is None:
            body = build()
            with self._lock:
                if self._release == release_id:
                    self._bodies[key] = body
        return body


def geojson_body(
    release: LoadedRelease, level: str, boundaries: Boundaries, cache: DownloadCache
) -> bytes:
    """``GET /v1/areas.geojson``'s body for ``level`` (built once per release)."""

    def build() -> bytes:
        shapes = boundaries.level(level)
        meta = metadata(release, level, shapes, source=f"/v1/areas.geojson?level={level}")
        return areas_geojson(release, level, shapes, meta)

    return cache.get(release.release_id, ("geojson", level), build)


def csv_body(release: LoadedRelease, level: str, cache: DownloadCache) -> bytes:
    """``GET /v1/areas.csv``'s body for ``level`` (built once per release)."""
    return cache.get(release.release_id, ("csv", level), lambda: areas_csv(release, level))


def metadata_csv_body(
    release: LoadedRelease, level: str, boundaries: Boundaries, cache: DownloadCache
) -> bytes:
    """``GET /v1/areas.csv/metadata``'s body for ``level`` (built once per release)."""

    def build() -> bytes:
        shapes = boundaries.level(level)
        return metadata_csv(metadata(release, level, shapes, source=f"/v1/areas.csv?level={level}"))

    return cache.get(release.release_id, ("csv-metadata", level), build)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip (``gzip`` or ``*``, not at q=0)."""
    for part in accept_encoding.lower().split(","):
        token, _, params = part.strip().partition(";")
        if token.strip() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False


def encoded(
    release_id: str,
    key: tuple[str, str],
    body: bytes,
    accept_encoding: str,
    cache: DownloadCache,
) -> tuple[bytes, dict[str, str]]:
    """``body`` gzipped (kept beside it) if the client accepts gzip; the headers to send.

    An LSOA GeoJSON is about 10 MB of JSON, a few MB gzipped: worth it for a download, and
    compressed once per release, not per request.
    """
    if not accepts_gzip(accept_encoding):
        return body, {"vary": "accept-encoding"}
    packed = cache.get(
        release_id, (key[0] + ".gz", key[1]), lambda: gzip.compress(body, 6, mtime=0)
    )
    return packed, {"content-encoding": "gzip", "vary": "accept-encoding"}
