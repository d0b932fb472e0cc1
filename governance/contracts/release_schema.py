"""The release contract: what ``vru release`` writes and ``vru serve`` reads.

A release is a directory ``<releases>/<release_id>/`` holding

- ``areas.parquet``: one row per area at every level (``lsoa``, ``ward``, ``borough``,
  ``bcu``, ``city``), already through statistical disclosure control (:mod:`governance.disclosure`);
  its columns are :data:`AREA_COLUMNS` plus, for each risk factor ``F`` in the manifest,
  ``count_F``, ``count_F_suppressed``, ``prevalence_F`` and ``contrib_F``;
- ``series.parquet`` (optional): the champion's back-scored figures at every as-of date of
  the features table beside the recorded counts, :data:`SERIES_COLUMNS`, protected by the
  same disclosure control (:class:`ReleaseSeries` in the manifest);
- ``manifest.json``: :class:`ReleaseManifest`, including the board's signed approval of the
  model version, which the server verifies again before serving.

The manifest is signed (``signature``) with the operator's **release key**, an Ed25519 key
made by ``vru keys release-init``: the private half is given to ``vru release``, the public
half is in the serving config (``release_public_key_b64``), which the server trusts. The
signature covers the canonical JSON of every other field of the manifest
(:func:`manifest_payload`): the SHA-256 of each data file (``files``), the disclosure rules
the table was made with (``disclosure``), the board's approval record, everything. So an
edited ``areas.parquet`` no longer matches its signed hash, and weaker disclosure rules
cannot be written into a manifest after signing.

Why an operator key and not the board's: the board approves *models* (a signed decision on
one version's audit report); releases are made nightly from an approved model, by an
operator, without a board meeting. A release key can be rotated (a new pair, the new public
half in the serving config) without involving the board, and a stolen release key cannot
approve a model: every release still carries, and is refused without, the board's approval.

``<releases>/CURRENT`` names the release to serve (written by a rename, so a reader sees the
old name or the new one, never half of either). Nothing in a release is about a person.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from governance.contracts.errors import VruError
from governance.contracts.levels import LEVELS, Level
from governance.contracts.roster import BoardSettings, SignedDecision, quorum_problems
from governance.contracts.signing import (
    Decision,
    SignatureError,
    load_public_key_b64,
)

__all__ = [
    "AREA_COLUMNS",
    "BANDS",
    "CURRENT_POINTER",
    "SERIES",
    "SERIES_COLUMNS",
    "ApprovalRecord",
    "Band",
    "ReleaseAttack",
    "ReleaseError",
    "ReleaseManifest",
    "ReleasePrivacy",
    "ReleaseSeries",
    "ReleaseUtility",
    "current_release_id",
    "factor_columns",
    "file_sha256",
    "manifest_payload",
    "read_manifest",
    "release_file_hashes",
    "set_current_release",
    "sign_manifest",
    "verify_manifest",
    "verify_release_files",
    "verify_release_signature",
]

CURRENT_POINTER = "CURRENT"
MANIFEST = "manifest.json"
AREAS = "areas.parquet"
#: the back-scored series beside the release's own table (optional: older releases lack it)
SERIES = "series.parquet"
SCHEMA_VERSION: Literal[3] = 3
_HASH_CHUNK = 1 << 20
_SIGNATURE_BYTES = 64
_UNSIGNED = (
    "release {rid}: {path}: the manifest is not signed by a release key (schema_version "
    "{version}); make the release again with `vru release --release-key`"
)
_NO_RELEASE_KEY = (
    "release {rid}: no release public key configured to verify it "
    "(serving config: release_public_key_b64, from `vru keys release-init`)"
)
_BAD_SIGNATURE = (
    "release {rid}: {path}: the manifest's signature does not verify with the configured "
    "release key: a field was changed after signing (file hashes, disclosure rules, approval, "
    "...), or it was signed with another key"
)
_MALFORMED_SIGNATURE = "release {rid}: {path}: field 'signature' is not a base64 Ed25519 signature"
_OLD_SCHEMA = (
    "{path}: manifest schema_version {version} predates approvals by the board's roster "
    "(member keys, quorum, review dates): make the release again with `vru release`"
)
_NO_FILES = "release {rid}: {path}: field 'files' lists no data file; {areas} must be listed"
_MISSING_FILE = "release {rid}: {path}: listed in the signed manifest but missing"
_CHANGED_FILE = (
    "release {rid}: {path}: SHA-256 {actual} differs from the signed manifest's {expected}: "
    "the file was changed after the release was signed"
)
_UNLISTED_FILE = "release {rid}: {path}: a file not listed in the signed manifest's 'files'"

# every published figure is rounded or null; `suppressed` rows keep only their identity
AREA_COLUMNS: tuple[str, ...] = (
    "level",
    "code",
    "name",
    "parent_code",
    "suppressed",
    "suppression_reason",
    "population",  # cohort count, rounded to the disclosure base
    "expected",  # expected number of young people involved, rounded
    "rate_per_1000",
    "mean_risk",  # after shrinkage toward the parent (LSOA, ward); raw beside it
    "mean_risk_raw",
    "risk_low",
    "risk_high",
    "rank",  # 1 = highest mean risk among published areas of the same level
    "decile",  # 1 = highest-risk tenth of published areas of the same level
    "band",  # the interval against the level's median mean risk: one of BANDS
    "change_mean_risk",  # against the previous release; null if none or not comparable
    "top_drivers",  # comma-separated factor names, largest mean contribution first
)

#: ``series.parquet``: one row per area, level and as-of date of the features table; every
#: figure made by the release's own disclosure control for that date (see
#: ``training.release.series``). ``observed`` is the recorded count of young people involved
#: in the period, null when withheld or when the period has not ended (``observed_status``).
SERIES_COLUMNS: tuple[str, ...] = (
    "level",
    "code",
    "as_of_date",
    "period_end",  # the day after the last day of the months the expected count covers
    "suppressed",
    "population",
    "expected",
    "rate_per_1000",
    "mean_risk",
    "risk_low",
    "risk_high",
    "observed",
    "observed_status",  # published | withheld | area_withheld | period_not_ended
    "observed_ratio",  # observed / expected
    "ratio_low",  # exact Poisson interval of the observed count, divided by expected
    "ratio_high",
    "comparison",  # higher | similar | lower (the ratio's interval against 1), or null
)

Band = Literal["higher", "similar", "lower"]
"""``band`` values, highest first: the area's interval of the mean risk lies wholly above the
median mean risk of its level's published areas, contains it, or lies wholly below it."""
BANDS: tuple[str, ...] = get_args(Band)


class ReleaseError(VruError, ValueError):
    """A release is missing, malformed, or not backed by a verified board approval."""


def _all_levels() -> list[Level]:
    return list(LEVELS)


class ApprovalRecord(BaseModel):
    """One board member's signed decision, as carried by a release."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: dict[str, Any]
    signature: str

    def as_decision(self) -> Decision:
        """The signed :class:`Decision`."""
        fields = dict(self.decision)
        fields["waived_gates"] = tuple(fields.get("waived_gates", ()))
        return Decision(**fields)


class ReleaseUtility(BaseModel):
    """What disclosure control cost the figures: the published table against the unprotected one.

    Made by :func:`governance.disclosure_utility.disclosure_utility` when the release is made,
    from both tables, and signed with the rest of the manifest. Only aggregates over many
    areas: no area code and no area's own figure, so the object itself reveals nothing about
    an area. Errors are pooled over every level's published areas (a per-level error of the
    one city row would be that row's own error); shares are of all areas (or cells) of the
    table. Null where there is nothing to measure (no published area, fewer than two areas of
    a level to rank, or ranks that do not vary).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    areas: int = Field(ge=0, description="Areas in the table, every level.")
    areas_published: int = Field(ge=0, description="Areas whose figures are published.")
    areas_published_share: float | None = Field(ge=0, le=1)
    published_share_by_level: dict[Level, float] = Field(
        description="Share of each level's areas that are published."
    )
    factor_cells: int = Field(ge=0, description="Factor counts in the table (areas x factors).")
    factor_cells_published_share: float | None = Field(ge=0, le=1)
    population_mae: float | None = Field(description="Mean |published - true| population.")
    population_max_error: float | None
    expected_mae: float | None = Field(description="Mean |published - true| expected number.")
    expected_max_error: float | None
    count_mae: float | None = Field(description="Mean |published - true| of factor counts.")
    count_max_error: float | None
    spearman_ward: float | None = Field(
        description="Spearman rank agreement of published and unprotected mean risk, wards."
    )
    spearman_borough: float | None
    wards_ranked: int = Field(ge=0, description="Wards with a published mean risk.")
    boroughs_ranked: int = Field(ge=0)
    fewer_than_areas: int = Field(
        ge=0, description='Published areas whose expected is 0, shown as "fewer than N".'
    )
    fewer_than_share: float | None = Field(ge=0, le=1, description="Of published areas.")


class ReleaseAttack(BaseModel):
    """One attack the release was tried against before it was published, and how it fared.

    Made by :func:`governance.disclosure_attacks.attack_release` from the unprotected and the
    published tables; aggregates only (a share, an AUC, a count of cells), signed with the
    rest of the manifest. ``success`` is measured against ``chance`` and judged against
    ``limit`` (``disclosure.attacks``) when at least ``disclosure.attacks.min_cells`` cells
    could be attacked.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    success: float | None
    chance: float
    limit: float
    cells: int = Field(ge=0)
    judged: bool
    passed: bool


class ReleasePrivacy(BaseModel):
    """The privacy loss of a release under ``disclosure.method: dp`` (``governance.dp``); signed.

    Pure epsilon-differential privacy against one young person added or removed. Every figure
    here is a function of the configuration and the geography, never of the data.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    library: str = Field(description="The DP library and version that drew the noise.")
    mechanism: str = Field(description="What was noised, with which mechanism, once.")
    neighbours: str = Field(description="What the guarantee protects: one young person.")
    epsilon: float = Field(ge=0, description="This release's loss (sum over its measures).")
    epsilon_by_measure: dict[str, float] = Field(
        description="population, expected and each count_F: the loss each spent."
    )
    scale_by_measure: dict[str, float] = Field(description="Each measure's noise scale.")
    total_epsilon: float = Field(
        ge=0, description="This release's loss plus every earlier dp release's in the directory."
    )
    earlier_releases: int = Field(ge=0, description="Earlier dp releases counted in the total.")
    max_total_epsilon: float = Field(gt=0, description="The cap the total was checked against.")
    interval_level: float = Field(gt=0, lt=1)
    half_width: dict[str, dict[Level, float]] = Field(
        description=(
            "Per measure and level, the largest half-width of the noise interval among the "
            "level's areas: the published figure +/- this holds the truth at interval_level."
        )
    )
    expected_abs_error: dict[str, dict[Level, float]] = Field(
        description="Per measure and level, the mean |noise| of the level's largest area."
    )
    seeded: bool = Field(
        default=False, description="False: OpenDP draws from OS randomness; no seed exists."
    )


class ReleaseSeries(BaseModel):
    """What ``series.parquet`` holds and the attacks each of its dates survived; signed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of_dates: tuple[str, ...] = Field(min_length=1, description="Every date, oldest first.")
    label_months: int = Field(ge=1, description="Months after each date the figures cover.")
    observed: str = Field(description="What the observed count counts, in words.")
    observed_complete: tuple[str, ...] = Field(
        description="Dates whose period had ended by the data's end: only these show observed."
    )
    interval_level: float = Field(gt=0, lt=1, description="Of the observed/expected interval.")
    attacks: dict[str, tuple[ReleaseAttack, ...]] | None = Field(
        None, description="Per as-of date, the release's attacks on that date's table."
    )


class ReleaseManifest(BaseModel):
    """``manifest.json`` of a release."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: 3: signed, approval by the board's roster. 1 (unsigned) and 2 (one board key) are
    #: refused when read (:func:`read_manifest`): make the release again.
    schema_version: Literal[3] = SCHEMA_VERSION
    release_id: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    created: str
    environment: str = "production"
    model_name: str
    model_version: str
    report_sha256: str
    #: every counted member's signed decision (at least the board's quorum)
    approval: tuple[ApprovalRecord, ...] = Field(min_length=1)
    as_of_date: str
    previous_release_id: str | None = None
    factors: list[str]
    levels: list[Level] = Field(default_factory=_all_levels)
    config_hashes: dict[str, str] = {}
    suppression: dict[str, int] = {}
    methods: dict[str, str] = {}
    model_card_summary: dict[str, Any] = {}
    rows: int = 0
    #: where the cohort was scored; both engines give the same figures. Releases made before
    #: the field existed were all scored in process, which is what "duckdb" names.
    engine: Literal["duckdb", "spark"] = "duckdb"
    #: data file name -> SHA-256 (lower-case hex) of its bytes; signed.
    files: dict[str, str] = {}
    #: the disclosure rules the table was made with (``governance.disclosure.DisclosureConfig``
    #: as JSON); signed, checked against the server's floor and re-applied at load.
    disclosure: dict[str, Any] = {}
    #: what disclosure control cost the figures (:class:`ReleaseUtility`); signed. Null in
    #: releases made before it was recorded, and then left out of :func:`manifest_payload`,
    #: so their signatures still verify.
    utility: ReleaseUtility | None = None
    #: the attacks the release survived before publishing (:class:`ReleaseAttack`); signed.
    #: Null in releases made before they were run, and then left out of the signed message.
    attacks: tuple[ReleaseAttack, ...] | None = None
    #: the privacy loss of a ``dp`` release (:class:`ReleasePrivacy`); signed. Null otherwise,
    #: and then left out of :func:`manifest_payload` like ``utility``.
    privacy: ReleasePrivacy | None = None
    #: the back-scored series (``series.parquet``, :class:`ReleaseSeries`); signed. Null in
    #: releases without one, and then left out of the signed message like ``utility``.
    series: ReleaseSeries | None = None
    #: Ed25519 signature (base64) by the release key of :func:`manifest_payload`.
    signature: str | None = None


def factor_columns(factor: str) -> tuple[str, str, str, str]:
    """The per-factor columns of ``areas.parquet``."""
    return (
        f"count_{factor}",
        f"count_{factor}_suppressed",
        f"prevalence_{factor}",
        f"contrib_{factor}",
    )


def read_manifest(release_dir: Path) -> ReleaseManifest:
    """Parse and validate ``manifest.json``; the error names the file and the field."""
    path = Path(release_dir) / MANIFEST
    if not path.is_file():
        raise ReleaseError(f"{path}: no release manifest here")
    try:
        raw = json.loads(path.read_text())
    except ValueError as err:
        raise ReleaseError(f"{path}: not a valid release manifest: {err}") from None
    old = _old_schema(raw, path)
    if old is not None:
        raise ReleaseError(old)
    try:
        return ReleaseManifest.model_validate(raw)
    except (ValueError, ValidationError) as err:
        raise ReleaseError(f"{path}: not a valid release manifest: {err}") from None


def _old_schema(raw: object, path: Path) -> str | None:
    """The refusal for a manifest older than the roster's (schema_version 1 or 2), if it is."""
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version in (1, 2):
        return _OLD_SCHEMA.format(path=path, version=version)
    return None


def verify_manifest(
    manifest: ReleaseManifest,
    board: BoardSettings | str | None,
    *,
    now: datetime | None = None,
    revoked: Sequence[tuple[str, str, str]] = (),
) -> str:
    """Refuse a release whose approval is not the board's, by quorum, of its model and report.

    Every decision the manifest carries must be an approval of this model, version and
    report that names the model's files; at least ``quorum`` distinct roster members' must
    verify with their own keys; and none may have lapsed at ``now``.

    Parameters
    ----------
    board
        The server's roster (``GovernanceConfig.board_roster()``); a bare key is a roster
        of one.
    now
        When to judge lapse (the server passes its clock less the grace period).
    revoked
        ``(revoked_at, member, reasons)`` of each verified revocation of the version
        (:func:`governance.contracts.revocation.verified_revocations`): decisions made
        before one are withdrawn.

    Returns
    -------
    str
        The approval's review date: the earliest ``valid_until`` of the counted decisions.

    Raises
    ------
    ReleaseError
        Naming the release and every problem found.
    """
    rid = manifest.release_id
    roster = BoardSettings.single(board) if isinstance(board, str) and board else board
    if not isinstance(roster, BoardSettings):
        raise ReleaseError(f"release {rid}: no board public key configured to verify it")
    signed: list[SignedDecision] = []
    problems: list[str] = []
    for record in manifest.approval:
        try:
            decision = record.as_decision()
        except (SignatureError, TypeError) as err:
            raise ReleaseError(f"release {rid}: approval does not verify: {err}") from None
        problems += _record_problems(manifest, decision)
        signed.append(SignedDecision(decision, record.signature))
    found, counted = quorum_problems(signed, roster, now or datetime.now(UTC), revoked)
    problems += found
    if problems or not counted:
        raise ReleaseError(f"release {rid}: " + "; ".join(dict.fromkeys(problems)))
    return min(s.decision.valid_until for s in counted)


def _record_problems(manifest: ReleaseManifest, decision: Decision) -> list[str]:
    """Whether one carried decision approves this release's model version, report and files."""
    problems = []
    if decision.decision != "approve":
        problems.append("the signed decision is a rejection")
    if (decision.model, decision.version) != (manifest.model_name, manifest.model_version):
        problems.append(
            f"the approval is for {decision.model} version {decision.version}, the release is "
            f"from {manifest.model_name} version {manifest.model_version}"
        )
    if decision.report_sha256 != manifest.report_sha256:
        problems.append("the approval was given for another report")
    if not decision.model_artifacts:
        problems.append(
            "the approval names no model files (model_artifacts is empty): it does not bind "
            "the model the release was computed with"
        )
    return problems


def manifest_payload(manifest: ReleaseManifest) -> bytes:
    """The signed message: canonical JSON (sorted keys, no spaces) of all but ``signature``.

    A null ``utility``, ``attacks`` or ``privacy`` is left out, as it was before the field
    existed: releases signed then still verify, and removing a signed one changes the message.
    """
    optional = ("utility", "attacks", "privacy", "series")
    unset = {name for name in optional if getattr(manifest, name) is None}
    fields = manifest.model_dump(mode="json", exclude={"signature", *unset})
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def sign_manifest(manifest: ReleaseManifest, private_key: Ed25519PrivateKey) -> ReleaseManifest:
    """The manifest with ``signature`` set: the release key's signature of the rest."""
    unsigned = manifest.model_copy(update={"signature": None})
    signature = private_key.sign(manifest_payload(unsigned))
    return unsigned.model_copy(update={"signature": base64.b64encode(signature).decode("ascii")})


def file_sha256(path: Path) -> str:
    """SHA-256 (lower-case hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def release_file_hashes(release_dir: Path) -> dict[str, str]:
    """Every data file of a release directory (all but ``manifest.json``) and its SHA-256."""
    return {
        p.name: file_sha256(p)
        for p in sorted(Path(release_dir).iterdir())
        if p.is_file() and p.name != MANIFEST
    }


def verify_release_signature(
    manifest: ReleaseManifest, public_key_b64: str | None, release_dir: Path
) -> None:
    """Refuse a manifest not signed, as it is now, by the release key the server trusts.

    Raises
    ------
    ReleaseError
        If no release key is configured, the manifest is unsigned (made before signing) or
        its signature does not verify (a field changed after signing, or another key).
    """
    rid, path = manifest.release_id, Path(release_dir) / MANIFEST
    if not public_key_b64:
        raise ReleaseError(_NO_RELEASE_KEY.format(rid=rid))
    if manifest.signature is None:
        raise ReleaseError(_UNSIGNED.format(rid=rid, path=path, version=manifest.schema_version))
    try:
        key = load_public_key_b64(public_key_b64, field="release_public_key_b64")
        signature = base64.b64decode(manifest.signature, validate=True)
    except SignatureError as err:
        raise ReleaseError(f"release {rid}: {err}") from None
    except (binascii.Error, ValueError):
        raise ReleaseError(_MALFORMED_SIGNATURE.format(rid=rid, path=path)) from None
    if len(signature) != _SIGNATURE_BYTES:
        raise ReleaseError(_MALFORMED_SIGNATURE.format(rid=rid, path=path))
    try:
        key.verify(signature, manifest_payload(manifest))
    except InvalidSignature:
        raise ReleaseError(_BAD_SIGNATURE.format(rid=rid, path=path)) from None


def verify_release_files(manifest: ReleaseManifest, release_dir: Path) -> None:
    """Refuse a release whose files are not exactly the signed ones, byte for byte.

    Every file the manifest lists must be there with its SHA-256, ``areas.parquet`` must be
    listed, and no other file may sit beside them (a reader might take it for release data).

    Raises
    ------
    ReleaseError
        Naming the file and what was expected.
    """
    rid, directory = manifest.release_id, Path(release_dir)
    if AREAS not in manifest.files:
        raise ReleaseError(_NO_FILES.format(rid=rid, path=directory / MANIFEST, areas=AREAS))
    for name, expected in sorted(manifest.files.items()):
        path = directory / name
        if Path(name).name != name or not path.is_file():
            raise ReleaseError(_MISSING_FILE.format(rid=rid, path=path))
        actual = file_sha256(path)
        if actual != expected:
            raise ReleaseError(
                _CHANGED_FILE.format(rid=rid, path=path, actual=actual, expected=expected)
            )
    for path in sorted(directory.iterdir()):
        if path.name != MANIFEST and path.name not in manifest.files:
            raise ReleaseError(_UNLISTED_FILE.format(rid=rid, path=path))


def current_release_id(releases_dir: Path) -> str | None:
    """The release named by ``CURRENT``, or None."""
    pointer = Path(releases_dir) / CURRENT_POINTER
    return pointer.read_text().strip() or None if pointer.is_file() else None


def set_current_release(releases_dir: Path, release_id: str) -> None:
    """Point ``CURRENT`` at ``release_id`` atomically (temporary file, then rename)."""
    if not (Path(releases_dir) / release_id / MANIFEST).is_file():
        raise ReleaseError(f"{releases_dir}/{release_id}: no such release")
    fd, tmp = tempfile.mkstemp(prefix=".CURRENT-", dir=releases_dir)
    with os.fdopen(fd, "w") as fh:
        fh.write(release_id + "\n")
    os.replace(tmp, Path(releases_dir) / CURRENT_POINTER)
