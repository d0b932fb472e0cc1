"""Releases as the server holds them: verified, parsed and serialised once, then swapped whole.

:class:`ReleaseLibrary` reads ``<releases>/CURRENT`` and serves a release only when all of
these hold (:meth:`ReleaseLibrary.verified_manifest`, :meth:`ReleaseLibrary.verified_rows`):
the board's approval in the manifest verifies against the board's public key
(:func:`governance.contracts.release_schema.verify_manifest`); the manifest is signed by the
operator's release key the serving config trusts (``release_public_key_b64``); every data file
has the SHA-256 the signed manifest gives, and no unlisted file is there; the signed
disclosure rules are at least as strict as the configured floor (``disclosure_floor``); and
the table, re-checked with :func:`governance.disclosure.check_no_individuals` under those
rules, shows nothing about a young person. A release that fails any of them is refused with a
:class:`ReleaseError` naming the file, field or rule, and the server goes on serving what it
served. It then reads ``areas.parquet`` with pyarrow, and builds a :class:`Catalog`: an immutable snapshot that
holds, already as JSON bytes, everything the read routes return: each area's response, each
listing (level, and parent or ancestor) in every sort order, each area's history across the
verified releases in the directory, and the release listing. A request does no serialisation,
only lookups and, for a page of a listing, one join of pre-made items.

:class:`ReleaseHolder` keeps the snapshot being served. Loading happens aside (in a worker
thread) and the swap is one reference assignment, so a request sees the old snapshot or the
new one, never a mix, and none waits for a load.

Nothing here reads individual-level data: a release holds area figures only, after
disclosure control (which ran in ``vru release``; here it is only checked again).
"""

from __future__ import annotations

import gc
import json
import logging
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from governance.board.revocation_log import logged_revocations
from governance.contracts.release_schema import (
    AREA_COLUMNS,
    AREAS,
    BANDS,
    MANIFEST,
    ReleaseError,
    ReleaseManifest,
    current_release_id,
    factor_columns,
    read_manifest,
    verify_manifest,
    verify_release_files,
    verify_release_signature,
)
from governance.contracts.revocation import (
    Revocation,
    read_revocation_files,
    verified_revocations,
)
from governance.contracts.roster import BoardSettings
from governance.disclosure import DisclosureConfig, DisclosureError, check_no_individuals
from serving.comparisons import compare_areas
from serving.config import DisclosureFloor
from serving.schemas import (
    SORT_FIELDS,
    AreaFactor,
    AreaHistory,
    AreaPublic,
    HistoryPoint,
    ReleaseDetail,
    ReleaseList,
    ReleaseSummary,
)
from serving.series import SeriesIndex, load_series

__all__ = [
    "LAPSED_HEADER",
    "Catalog",
    "LoadedRelease",
    "ReleaseHolder",
    "ReleaseLibrary",
    "expected_bounds",
    "fewer_than",
    "manifest_rules",
    "parse_sort",
    "sort_value",
]

_log = logging.getLogger("serving")
_RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_NO_CURRENT = "{dir}: no CURRENT pointer; run `vru release` first"
_BAD_ID = "{dir}/CURRENT names {rid!r}, which is not a release id"
_MISSING_COLUMNS = "{path}: missing column(s) {missing} of the release contract"
_BAD_ROW = "release {rid}: area {code!r} has a bad value in '{field}': {msg}"
_ID_MISMATCH = "{dir}: the manifest's release_id is {rid!r}, not the directory's name"
_NO_RULES = "release {rid}: {path}: field 'disclosure' is empty; the signed rules are needed"
_BAD_RULES = "release {rid}: {path}: field 'disclosure' is not valid disclosure rules: {msg}"
_BELOW_FLOOR = (
    "release {rid}: {path}: the signed disclosure rules are weaker than this server's floor "
    "(disclosure_floor): {problems}"
)
_NONE_APPROVED = "no approved release is being served"
_NO_HALF_WIDTH = (
    "release {rid}: a dp release's manifest must give privacy.half_width['expected'] for "
    "level(s) {levels}: the noise interval of its expected numbers"
)
#: the Warning header (RFC 7234, code 299: a persistent warning) while an approval has lapsed
LAPSED_HEADER = '299 - "approval lapsed on {date}; board review overdue"'
_NOT_SAFE = "release {rid}: {path}: fails the disclosure check under its signed rules: {msg}"

_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_HISTORY_COLUMNS = (
    "code",
    "level",
    "name",
    "suppressed",
    "population",
    "mean_risk",
    "risk_low",
    "risk_high",
    "rate_per_1000",
    "rank",
    "decile",
)


def parse_sort(sort: str) -> tuple[str, bool]:
    """``"-mean_risk"`` -> ``("mean_risk", True)`` (descending)."""
    return (sort[1:], True) if sort.startswith("-") else (sort, False)


def _clean(value: Any) -> Any:
    """Parquet nulls and NaN both become None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _area(row: Mapping[str, Any], factors: Sequence[str], bound: float | None) -> AreaPublic:
    """An area's published figures; ``bound`` is how far its true expected may lie from it.

    A published expected of 0 says "fewer than" the bound, rounded up to one decimal
    (:func:`fewer_than`).
    """
    figures: list[AreaFactor] = []
    for factor in factors:
        count, hidden, prevalence, contrib = factor_columns(factor)
        figures.append(
            AreaFactor(
                factor=factor,
                count=_clean(row[count]),
                count_suppressed=bool(row[hidden]) if row[hidden] is not None else True,
                prevalence=_clean(row[prevalence]),
                contribution=_clean(row[contrib]),
            )
        )
    drivers = row["top_drivers"]
    return AreaPublic(
        level=row["level"],
        code=str(row["code"]),
        name=str(row["name"]),
        parent_code=row["parent_code"],
        suppressed=bool(row["suppressed"]),
        suppression_reason=row["suppression_reason"],
        population=_clean(row["population"]),
        expected=_clean(row["expected"]),
        expected_fewer_than=(
            fewer_than(bound) if _clean(row["expected"]) == 0 and bound is not None else None
        ),
        rate_per_1000=_clean(row["rate_per_1000"]),
        mean_risk=_clean(row["mean_risk"]),
        mean_risk_raw=_clean(row["mean_risk_raw"]),
        risk_low=_clean(row["risk_low"]),
        risk_high=_clean(row["risk_high"]),
        # the city is the one area of its level: not ranked (older releases gave it rank 1)
        rank=None if row["level"] == "city" else _clean(row["rank"]),
        decile=None if row["level"] == "city" else _clean(row["decile"]),
        band=row["band"],
        change_mean_risk=_clean(row["change_mean_risk"]),
        top_drivers=[d for d in (drivers or "").split(",") if d],
        factors=figures,
    )


def with_comparisons(
    areas: Mapping[str, AreaPublic], bounds: Mapping[str, float]
) -> dict[str, AreaPublic]:
    """Each area with its comparison against its parent and the city (:mod:`serving.comparisons`)."""
    city = next((code for code, a in areas.items() if a.level == "city"), None)
    compared = compare_areas(areas, bounds, city)
    return {code: a.model_copy(update={"comparison": compared[code]}) for code, a in areas.items()}


def _read_table(directory: Path) -> pa.Table:
    path = directory / AREAS
    if not path.is_file():
        raise ReleaseError(f"{path}: the release has no areas table")
    return pq.read_table(path)


def _rows(table: pa.Table, path: Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ReleaseError(_MISSING_COLUMNS.format(path=path, missing=missing))
    rows: list[dict[str, Any]] = table.select(list(columns)).to_pylist()
    return rows


def _with_method(disclosure: Mapping[str, Any]) -> dict[str, Any]:
    """Signed rules without ``method`` predate the cell-key default: they were threshold rules."""
    return {"method": "threshold", **disclosure}


def manifest_rules(manifest: ReleaseManifest) -> DisclosureConfig:
    """The (verified) manifest's signed disclosure rules; ``threshold`` where none are signed."""
    if not manifest.disclosure:
        return DisclosureConfig(method="threshold")
    return DisclosureConfig.model_validate(_with_method(manifest.disclosure))


def fewer_than(bound: float) -> float:
    """What a published expected of 0 says: fewer than the bound, up to one decimal."""
    return math.ceil(round(bound * 10.0, 6)) / 10.0 + 0.0


def expected_bounds(
    manifest: ReleaseManifest, rows: Sequence[Mapping[str, Any]]
) -> list[float | None]:
    """How far each row's true expected may lie from its published one (None: not published).

    :meth:`governance.disclosure.DisclosureConfig.expected_error_bound` under the signed
    rules: half the rounding base (threshold), the cell-key perturbation's hard bound
    (cellkey), or the level's 95% noise half-width of the signed ``privacy`` (dp).
    """
    rules = manifest_rules(manifest)
    shown = [
        i
        for i, row in enumerate(rows)
        if _clean(row.get("expected")) is not None and _clean(row.get("population")) is not None
    ]
    bounds: list[float | None] = [None] * len(rows)
    if not shown:
        return bounds
    half_width = None
    if rules.method == "dp":
        by_level = manifest.privacy.half_width.get("expected", {}) if manifest.privacy else {}
        missing = sorted({str(rows[i]["level"]) for i in shown} - set(by_level))
        if missing:
            raise ReleaseError(_NO_HALF_WIDTH.format(rid=manifest.release_id, levels=missing))
        half_width = [float(by_level[rows[i]["level"]]) for i in shown]
    values = rules.expected_error_bound(
        [float(rows[i]["expected"]) for i in shown],
        [float(rows[i]["population"]) for i in shown],
        dp_half_width=half_width,
    )
    for i, value in zip(shown, values, strict=True):
        bounds[i] = float(value)
    return bounds


def signed_rules(manifest: ReleaseManifest, directory: Path) -> DisclosureConfig:
    """The disclosure rules the signed manifest says the table was made with.

    Rules signed before ``method`` existed are read as ``threshold`` (what they were).
    """
    path = directory / MANIFEST
    if not manifest.disclosure:
        raise ReleaseError(_NO_RULES.format(rid=manifest.release_id, path=path))
    try:
        return DisclosureConfig.model_validate(_with_method(manifest.disclosure))
    except ValidationError as err:
        first = err.errors()[0]
        msg = f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        raise ReleaseError(_BAD_RULES.format(rid=manifest.release_id, path=path, msg=msg)) from None


def check_floor(
    rules: DisclosureConfig, floor: DisclosureFloor, release_id: str, directory: Path
) -> None:
    """Refuse rules weaker than the floor, naming each rule and both values.

    Each method is judged by the rules it applies: a cell-key release by its perturbation
    table, a dp release by its privacy loss, never by a rounding base it does not use.
    """
    if rules.method not in floor.methods:
        problems = [
            f"method {rules.method} is not one this server accepts "
            f"(disclosure_floor.methods: {', '.join(floor.methods)})"
        ]
    else:
        problems = [
            f"{name} {got} < {least}"
            for name, got, least in _floor_rules(rules, floor)
            if got < least
        ]
        if rules.method == "dp":
            problems += [
                f"dp.{name} {got} > {most}"
                for name, got, most in (
                    ("epsilon", rules.dp.epsilon, floor.dp.epsilon),
                    ("max_total_epsilon", rules.dp.max_total_epsilon, floor.dp.max_total_epsilon),
                )
                if got > most
            ]
    if floor.zeros_disclosive and not rules.zeros_disclosive:
        problems.append("zeros_disclosive false, the floor requires true")
    if problems:
        raise ReleaseError(
            _BELOW_FLOOR.format(
                rid=release_id, path=directory / MANIFEST, problems="; ".join(problems)
            )
        )


def _floor_rules(rules: DisclosureConfig, floor: DisclosureFloor) -> list[tuple[str, float, float]]:
    """(rule, the release's value, the floor's) for every rule the release's method applies."""
    shared = [
        (name, getattr(rules, name), getattr(floor, name))
        for name in ("min_count", "differencing_margin")
    ]
    if rules.method == "dp":  # not rounded; bounded by epsilon, judged by the caller
        return [("min_count", rules.min_count, floor.min_count)]
    if rules.method == "cellkey":
        return shared + [
            (f"cellkey.{name}", getattr(rules.cellkey, name), getattr(floor.cellkey, name))
            for name in ("max_perturbation", "variance", "small_count_variance", "expected_noise")
        ]
    return [*shared, ("rounding_base", rules.rounding_base, floor.rounding_base)]


def sort_value(area: AreaPublic, field_name: str) -> Any:
    """What ``field_name`` sorts ``area`` by: the field, except ``rank``, which is by band first.

    ``rank`` gives ``(band, rank)`` with the band's position in :data:`BANDS` (``higher``
    first), so that an area is listed above another of its level in a higher band whatever
    their exact ranks: no ordering within the noise. A band missing beside a rank sorts after
    the known ones.
    """
    value = getattr(area, field_name)
    if field_name != "rank" or value is None:
        return value
    band = BANDS.index(area.band) if area.band in BANDS else len(BANDS)
    return (band, value)


def _sort_key(area: AreaPublic, field_name: str, descending: bool) -> tuple[Any, ...]:
    """Published areas first in the order asked, suppressed or null ones after, then by code."""
    value = sort_value(area, field_name)
    if value is None:
        return (1, 0, area.code)
    if isinstance(value, str):
        return (0, value, area.code) if not descending else (0, _Reversed(value), area.code)
    if isinstance(value, tuple):
        return (0, tuple(-v for v in value) if descending else value, area.code)
    return (0, -value if descending else value, area.code)


def _ranks(areas: list[AreaPublic]) -> dict[str, dict[str, int]]:
    """Each sort's position of every area (``rank`` and ``-rank``, ...), over all areas.

    :func:`_sort_key` orders areas totally (ties end on the unique code), so a group's areas
    sorted by these positions are in the same order as sorted by the key itself: each area's
    key is computed once per sort instead of once per group it belongs to.
    """
    ranks: dict[str, dict[str, int]] = {}
    for name in SORT_FIELDS:
        for descending in (False, True):
            ordered = sorted(areas, key=lambda a: _sort_key(a, name, descending))
            ranks[f"-{name}" if descending else name] = {a.code: i for i, a in enumerate(ordered)}
    return ranks


@dataclass(frozen=True)
class _Reversed:
    """Orders strings backwards."""

    text: str

    def __lt__(self, other: _Reversed) -> bool:
        return self.text > other.text


@dataclass(frozen=True)
class LoadedRelease:
    """One release, parsed and serialised.

    Attributes
    ----------
    manifest
        Its verified manifest.
    areas
        Each area's published figures, by code.
    area_body
        The body of ``GET /v1/areas/{code}``, by code.
    listings
        ``(level, parent)`` to ``sort`` to the areas' JSON items in that order; ``parent`` is
        None (the whole level) or the code of any area above the level.
    ancestors
        Each area's chain of parents, nearest first.
    expected_bound
        How far each published area's true expected may lie from its published one, by code
        (:func:`expected_bounds`): what ``POST /v1/aggregate`` sums.
    """

    manifest: ReleaseManifest
    areas: Mapping[str, AreaPublic]
    area_body: Mapping[str, bytes]
    listings: Mapping[tuple[str, str | None], Mapping[str, tuple[bytes, ...]]]
    ancestors: Mapping[str, tuple[str, ...]]
    list_prefix: bytes
    expected_bound: Mapping[str, float] = field(default_factory=dict)
    #: the back-scored series (:mod:`serving.series`); None when the release carries none
    series: SeriesIndex | None = None

    @property
    def release_id(self) -> str:
        """The release's id."""
        return self.manifest.release_id


@dataclass(frozen=True)
class Catalog:
    """What the server serves: the current release and the verified releases beside it."""

    current: LoadedRelease
    manifests: Mapping[str, ReleaseManifest]
    history_body: Mapping[str, bytes]
    releases_body: bytes
    release_body: Mapping[str, bytes]

    @property
    def release_id(self) -> str:
        """The id of the release being served."""
        return self.current.release_id


def _build_release(manifest: ReleaseManifest, rows: list[dict[str, Any]]) -> LoadedRelease:
    factors = list(manifest.factors)
    areas: dict[str, AreaPublic] = {}
    bounds = expected_bounds(manifest, rows)
    expected_bound: dict[str, float] = {}
    for row, bound in zip(rows, bounds, strict=True):
        if bound is not None:
            expected_bound[str(row["code"])] = bound
        try:
            areas[str(row["code"])] = _area(row, factors, bound)
        except ValidationError as err:
            first = err.errors()[0]
            raise ReleaseError(
                _BAD_ROW.format(
                    rid=manifest.release_id,
                    code=row.get("code"),
                    field=".".join(map(str, first["loc"])),
                    msg=first["msg"],
                )
            ) from None
    areas = with_comparisons(areas, expected_bound)
    envelope = {
        "release_id": manifest.release_id,
        "model_name": manifest.model_name,
        "model_version": manifest.model_version,
        "as_of_date": manifest.as_of_date,
    }
    head = _JSON.encode(envelope)[:-1].encode("utf-8")  # '{"release_id":...' without the '}'
    items = {code: area.model_dump_json().encode("utf-8") for code, area in areas.items()}
    body = {code: head + b',"area":' + item + b"}" for code, item in items.items()}

    ancestors: dict[str, tuple[str, ...]] = {}
    for code in areas:
        chain: list[str] = []
        parent = areas[code].parent_code
        while parent is not None and parent in areas and parent not in chain:
            chain.append(parent)
            parent = areas[parent].parent_code
        ancestors[code] = tuple(chain)

    groups: dict[tuple[str, str | None], list[AreaPublic]] = {}
    for code, area in areas.items():
        groups.setdefault((area.level, None), []).append(area)
        for above in ancestors[code]:
            groups.setdefault((area.level, above), []).append(area)
    ranks = _ranks(list(areas.values()))
    listings: dict[tuple[str, str | None], Mapping[str, tuple[bytes, ...]]] = {}
    for key, members in groups.items():
        codes = [a.code for a in members]
        orders: dict[str, tuple[bytes, ...]] = {}
        for sort, rank in ranks.items():
            orders[sort] = tuple(items[c] for c in sorted(codes, key=rank.__getitem__))
        listings[key] = MappingProxyType(orders)
    return LoadedRelease(
        manifest=manifest,
        areas=MappingProxyType(areas),
        area_body=MappingProxyType(body),
        listings=MappingProxyType(listings),
        ancestors=MappingProxyType(ancestors),
        list_prefix=head,
        expected_bound=MappingProxyType(expected_bound),
    )


@dataclass
class _HistoryRows:
    manifest: ReleaseManifest
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


class ReleaseLibrary:
    """Reads and verifies releases from a directory; remembers what it has read.

    Parameters
    ----------
    releases_dir
        The directory ``vru release`` writes to (with ``CURRENT``).
    public_key_b64
        The board's roster (``GovernanceConfig.board_roster()``; a bare public key is a
        roster of one): a release whose approval is not the quorum's, verified with the
        members' keys, is never served; nor one whose approval lapsed more than the roster's
        ``grace_days`` ago.
    release_key_b64
        The operator's release public key; a release whose manifest it does not verify is
        never served (None: no release is).
    floor
        The weakest disclosure rules a release may be made with (default: the defaults).
    revocations_dir
        Where the board's signed revocations are (the governance config's
        ``revocations_dir``): a release whose model version a roster member revoked is not
        served; a revocation not signed by the member it names is ignored and logged.
    revocation_log
        The governance audit log (the governance config's ``audit_log``), where every
        revocation is also recorded: read too, so deleting a revocation's file is not enough
        to have a revoked release served again.
    """

    def __init__(
        self,
        releases_dir: Path,
        public_key_b64: BoardSettings | str | None,
        *,
        release_key_b64: str | None = None,
        floor: DisclosureFloor | None = None,
        revocations_dir: Path | None = None,
        revocation_log: Path | None = None,
    ) -> None:
        self.releases_dir = Path(releases_dir)
        self.board = (
            BoardSettings.single(public_key_b64)
            if isinstance(public_key_b64, str) and public_key_b64
            else public_key_b64 or None
        )
        self.release_key_b64 = release_key_b64
        self.revocations_dir = revocations_dir
        self.revocation_log = revocation_log
        self.floor = floor or DisclosureFloor()
        self._history: dict[str, _HistoryRows] = {}
        self._refused: dict[str, str] = {}

    def current_id(self) -> str:
        """The release ``CURRENT`` names.

        Raises
        ------
        ReleaseError
            If there is no pointer or it does not name a release id.
        """
        rid = current_release_id(self.releases_dir)
        if rid is None:
            raise ReleaseError(_NO_CURRENT.format(dir=self.releases_dir))
        if not _RELEASE_ID.fullmatch(rid):
            raise ReleaseError(_BAD_ID.format(dir=self.releases_dir, rid=rid))
        return rid

    def approval_lapsed_on(
        self, manifest: ReleaseManifest, now: datetime | None = None
    ) -> str | None:
        """Check the release's approval at ``now``: the review date if it has passed, else None.

        A lapsed approval is still served for the roster's ``grace_days`` after its review
        date (the caller warns); after that, and if a roster member revoked the version, it is
        refused.

        Raises
        ------
        ReleaseError
            If the approval is not the board's quorum, was revoked, or lapsed beyond grace.
        """
        moment = now or datetime.now(UTC)
        found, unreadable = read_revocation_files(
            self.revocations_dir, manifest.model_name, manifest.model_version
        )
        logged, unread = logged_revocations(
            self.revocation_log, manifest.model_name, manifest.model_version
        )
        found, unreadable = found + logged, unreadable + unread
        revoked: list[Revocation] = []
        if isinstance(self.board, BoardSettings):
            revoked, ignored = verified_revocations(found, self.board)
            for line in unreadable + ignored:
                _log.warning("release %s: %s", manifest.release_id, line)
        until = verify_manifest(
            manifest,
            self.board,
            now=self._lapse_clock(moment),
            revoked=[(r.revoked_at, r.member, r.reasons) for r in revoked],
        )
        return until if moment.date() > date.fromisoformat(until) else None

    def verified_manifest(self, release_id: str, now: datetime | None = None) -> ReleaseManifest:
        """Read and verify one release's manifest and the files it signs.

        Raises
        ------
        ReleaseError
            If it is missing, malformed or for another id; its approval does not verify
            with the board's key; it is unsigned or its signature does not verify with the
            release key; a data file differs from its signed SHA-256 (or is not listed); or
            its signed disclosure rules are weaker than the floor.
        """
        directory = self.releases_dir / release_id
        manifest = read_manifest(directory)
        if manifest.release_id != release_id:
            raise ReleaseError(_ID_MISMATCH.format(dir=directory, rid=manifest.release_id))
        self.approval_lapsed_on(manifest, now)
        verify_release_signature(manifest, self.release_key_b64, directory)
        verify_release_files(manifest, directory)
        check_floor(signed_rules(manifest, directory), self.floor, release_id, directory)
        return manifest

    def _lapse_clock(self, now: datetime | None = None) -> datetime:
        """The time an approval's lapse is judged at: now less the roster's grace period."""
        grace = self.board.grace_days if isinstance(self.board, BoardSettings) else 0
        return (now or datetime.now(UTC)) - timedelta(days=grace)

    def verified_rows(
        self, manifest: ReleaseManifest, columns: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The rows of a verified release's table, after its disclosure check passes again.

        Raises
        ------
        ReleaseError
            If a column is missing, or :func:`check_no_individuals` refuses the table under
            the manifest's signed rules (its message names the column and areas).
        """
        directory = self.releases_dir / manifest.release_id
        table = _read_table(directory)
        try:
            check_no_individuals(table.to_pandas(), signed_rules(manifest, directory))
        except DisclosureError as err:
            raise ReleaseError(
                _NOT_SAFE.format(rid=manifest.release_id, path=directory / AREAS, msg=err)
            ) from None
        return _rows(table, directory / AREAS, columns)

    def load(self, release_id: str | None = None, now: datetime | None = None) -> Catalog:
        """Build the snapshot serving ``release_id`` (default: the one ``CURRENT`` names).

        Raises
        ------
        ReleaseError
            If that release is missing, malformed or not verified (see
            :meth:`verified_manifest` and :meth:`verified_rows`). Other releases in the
            directory that do not verify are left out of the history (and logged).
        """
        rid = release_id or self.current_id()
        manifest = self.verified_manifest(rid, now)
        columns = [*AREA_COLUMNS, *(c for f in manifest.factors for c in factor_columns(f))]
        rows = self.verified_rows(manifest, columns)
        current = _build_release(manifest, rows)
        directory = self.releases_dir / rid
        names = {code: (a.level, a.name) for code, a in current.areas.items()}
        min_count = signed_rules(manifest, directory).min_count
        current = replace(current, series=load_series(manifest, directory, names, min_count))
        self._history[rid] = _HistoryRows(
            manifest, {str(r["code"]): {c: r[c] for c in _HISTORY_COLUMNS} for r in rows}
        )
        self._scan_others(rid)
        return self._catalog(current)

    def forget(self, release_id: str, reason: str) -> None:
        """Leave a release out of the history from now on (its approval no longer holds)."""
        self._history.pop(release_id, None)
        self._refused[release_id] = reason

    def release_ids_newest_first(self) -> list[tuple[str, str]]:
        """``(release_id, created)`` of every release directory with a readable manifest."""
        found = []
        if self.releases_dir.is_dir():
            for directory in self.releases_dir.iterdir():
                if not directory.is_dir() or not _RELEASE_ID.fullmatch(directory.name):
                    continue
                try:
                    found.append((directory.name, read_manifest(directory).created))
                except ReleaseError:
                    continue
        return sorted(found, key=lambda pair: pair[1], reverse=True)

    def _scan_others(self, current: str) -> None:
        """Read the history columns of every other verified release not read before."""
        if not self.releases_dir.is_dir():
            return
        for directory in sorted(self.releases_dir.iterdir()):
            rid = directory.name
            if (
                rid == current
                or rid in self._history
                or rid in self._refused
                or not directory.is_dir()
                or not _RELEASE_ID.fullmatch(rid)
                or rid.startswith(".")
            ):
                continue
            try:
                manifest = self.verified_manifest(rid)
                rows = self.verified_rows(manifest, _HISTORY_COLUMNS)
            except ReleaseError as err:
                self._refused[rid] = str(err)
                _log.warning("release %s left out of the history: %s", rid, err)
                continue
            self._history[rid] = _HistoryRows(manifest, {str(r["code"]): r for r in rows})

    def _catalog(self, current: LoadedRelease) -> Catalog:
        ordered = sorted(
            self._history.values(), key=lambda h: (h.manifest.as_of_date, h.manifest.created)
        )
        points: dict[str, list[HistoryPoint]] = {}
        for h in ordered:
            m = h.manifest
            for code, row in h.rows.items():
                points.setdefault(code, []).append(
                    HistoryPoint(
                        release_id=m.release_id,
                        created=m.created,
                        as_of_date=m.as_of_date,
                        model_version=m.model_version,
                        suppressed=bool(row["suppressed"]),
                        population=_clean(row["population"]),
                        mean_risk=_clean(row["mean_risk"]),
                        risk_low=_clean(row["risk_low"]),
                        risk_high=_clean(row["risk_high"]),
                        rate_per_1000=_clean(row["rate_per_1000"]),
                        rank=_clean(row["rank"]),
                        decile=_clean(row["decile"]),
                    )
                )
        latest: dict[str, dict[str, Any]] = {}
        for h in ordered:  # the newest release's name and level of each code win
            latest.update(h.rows)
        latest.update({c: {"level": a.level, "name": a.name} for c, a in current.areas.items()})
        history = {
            code: AreaHistory(
                code=code, level=latest[code]["level"], name=str(latest[code]["name"]), points=p
            )
            .model_dump_json()
            .encode("utf-8")
            for code, p in points.items()
        }
        manifests = {h.manifest.release_id: h.manifest for h in ordered}
        newest_first = sorted(ordered, key=lambda h: h.manifest.created, reverse=True)
        listing = ReleaseList(
            current_release_id=current.release_id,
            releases=[
                ReleaseSummary(
                    release_id=h.manifest.release_id,
                    created=h.manifest.created,
                    environment=h.manifest.environment,
                    model_name=h.manifest.model_name,
                    model_version=h.manifest.model_version,
                    as_of_date=h.manifest.as_of_date,
                    previous_release_id=h.manifest.previous_release_id,
                    current=h.manifest.release_id == current.release_id,
                    areas=len(h.rows),
                )
                for h in newest_first
            ],
        )
        details = {
            rid: ReleaseDetail(
                release_id=rid,
                current=rid == current.release_id,
                verified=True,
                manifest=m,
                model_card_summary=m.model_card_summary,
            )
            .model_dump_json()
            .encode("utf-8")
            for rid, m in manifests.items()
        }
        return Catalog(
            current=current,
            manifests=MappingProxyType(manifests),
            history_body=MappingProxyType(history),
            releases_body=listing.model_dump_json().encode("utf-8"),
            release_body=MappingProxyType(details),
        )


class ReleaseHolder:
    """The snapshot being served, and the one way to replace it.

    ``catalog`` is read without a lock (one attribute read); :meth:`reload` builds a new
    snapshot, then assigns it. Reloads are serialised by a lock so that two at once (the
    poll and an admin request) do not both load.

    Each reload (the periodic poll included) also checks again that the board's approval of
    what is served still holds at that time: a release whose version a roster member has
    revoked, or whose approval lapsed more than ``grace_days`` ago, stops being served; the
    server then serves the newest earlier release whose approval holds, or none (data routes
    answer 503 with a generic body; the reason is in the server log). While an approval has
    lapsed but is within grace, :attr:`lapsed_on` holds its review date, for the warning.
    """

    def __init__(self, library: ReleaseLibrary) -> None:
        self.library = library
        self.catalog: Catalog | None = None
        self.last_error: str | None = None
        #: response headers every API answer carries now: the lapse warning, or none
        self.warning_headers: tuple[tuple[bytes, bytes], ...] = ()
        self._lapsed_on: str | None = None
        self._lock = threading.Lock()

    @property
    def lapsed_on(self) -> str | None:
        """The review date of the served release's approval, if it has passed (within grace)."""
        return self._lapsed_on

    @lapsed_on.setter
    def lapsed_on(self, value: str | None) -> None:
        self._lapsed_on = value
        self.warning_headers = (
            () if value is None else ((b"warning", LAPSED_HEADER.format(date=value).encode()),)
        )

    def reload(
        self, *, force: bool = False, now: datetime | None = None
    ) -> tuple[Catalog, str | None]:
        """Load what ``CURRENT`` names if it is not being served (or ``force``); swap it in.

        Parameters
        ----------
        now
            The time approvals are judged at (tests fix it; default the clock).

        Returns
        -------
        (Catalog, str or None)
            The snapshot now served and the id of the one it replaced (None if none was
            replaced).

        Raises
        ------
        ReleaseError
            If the named release cannot be served (the old snapshot stays, if its approval
            still holds), or the one served was refused at this check.
        """
        with self._lock:
            before = self.catalog
            rid: str | None = None
            try:
                rid = self.library.current_id()
                if before is not None and before.release_id == rid and not force:
                    self._recheck(now)
                    return self._served(before), None
                catalog = self.library.load(rid, now)
            except ReleaseError as err:
                self.last_error = str(err)
                self._recheck(now, failed=rid)
                raise
            self._swap(catalog, now)
            return catalog, None if before is None else before.release_id

    def _served(self, before: Catalog) -> Catalog:
        """What is served after a re-check; refuse if it changed (the caller logs why)."""
        if self.catalog is before:
            return before
        raise ReleaseError(self.last_error or _NONE_APPROVED)

    def _swap(self, catalog: Catalog, now: datetime | None) -> None:
        """Serve ``catalog`` (one reference assignment) and note whether its approval lapsed."""
        self.lapsed_on = self.library.approval_lapsed_on(catalog.current.manifest, now)
        self.catalog = catalog  # the swap: one reference assignment
        # A snapshot is hundreds of thousands of long-lived objects; a full collection
        # walking them took ~120 ms for a London-sized release, a pause of every request
        # in flight. Freezing moves what exists now out of the collector's generations
        # (reference counting still frees a replaced snapshot).
        gc.freeze()
        self.last_error = None
        _log.info("serving release %s (%d areas)", catalog.release_id, len(catalog.current.areas))

    def _recheck(self, now: datetime | None, failed: str | None = None) -> None:
        """Check the served release's approval again; on refusal fall back to an earlier one.

        With nothing served (``failed`` is the release ``CURRENT`` names that was refused),
        the newest release older than it whose approval holds is served instead, if any.
        """
        served = self.catalog
        if served is not None:
            try:
                self.lapsed_on = self.library.approval_lapsed_on(served.current.manifest, now)
                return
            except ReleaseError as err:
                reason = f"release {served.release_id} is no longer served: {err}"
                _log.warning("%s", reason)
                self.library.forget(served.release_id, reason)
                self.catalog, self.lapsed_on = None, None
                self._fall_back(served.current.manifest.created, now, reason)
                return
        if failed is not None:
            self._fall_back(None, now, self.last_error or _NONE_APPROVED, skip=failed)

    def _fall_back(
        self, before: str | None, now: datetime | None, reason: str, skip: str | None = None
    ) -> None:
        """Serve the newest release created before ``before`` whose approval holds, or none."""
        for rid, created in self.library.release_ids_newest_first():
            if rid == skip or (before is not None and created >= before):
                continue
            try:
                catalog = self.library.load(rid, now)
            except ReleaseError as err:
                _log.warning("release %s cannot stand in: %s", rid, err)
                continue
            self._swap(catalog, now)
            self.last_error = f"{reason}; serving the earlier release {rid}"
            return
        self.last_error = f"{reason}; {_NONE_APPROVED}"
        _log.warning("%s", self.last_error)
