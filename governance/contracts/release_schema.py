"""The release contract: what ``vru release`` writes and ``vru serve`` reads.

A release is a directory ``<releases>/<release_id>/`` holding

- ``areas.parquet``: one row per area at every level (``lsoa``, ``ward``, ``borough``,
  ``bcu``, ``city``), already through statistical disclosure control (:mod:`governance.disclosure`);
  its columns are :data:`AREA_COLUMNS` plus, for each risk factor ``F`` in the manifest,
  ``count_F``, ``count_F_suppressed``, ``prevalence_F`` and ``contrib_F``;
- ``manifest.json``: :class:`ReleaseManifest`, including the board's signed approval of the
  model version, which the server verifies again before serving.

``<releases>/CURRENT`` names the release to serve (written by a rename, so a reader sees the
old name or the new one, never half of either). Nothing in a release is about a person.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from governance.contracts.errors import VruError
from governance.contracts.levels import LEVELS, Level
from governance.contracts.signing import Decision, SignatureError, verify_decision

__all__ = [
    "AREA_COLUMNS",
    "CURRENT_POINTER",
    "ApprovalRecord",
    "ReleaseError",
    "ReleaseManifest",
    "current_release_id",
    "factor_columns",
    "read_manifest",
    "set_current_release",
    "verify_manifest",
]

CURRENT_POINTER = "CURRENT"
MANIFEST = "manifest.json"
AREAS = "areas.parquet"
SCHEMA_VERSION = 1

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
    "change_mean_risk",  # against the previous release; null if none or not comparable
    "top_drivers",  # comma-separated factor names, largest mean contribution first
)


class ReleaseError(VruError, ValueError):
    """A release is missing, malformed, or not backed by a verified board approval."""


def _all_levels() -> list[Level]:
    return list(LEVELS)


class ApprovalRecord(BaseModel):
    """The board's signed decision, as carried by a release."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: dict[str, Any]
    signature: str

    def as_decision(self) -> Decision:
        """The signed :class:`Decision`."""
        fields = dict(self.decision)
        fields["waived_gates"] = tuple(fields.get("waived_gates", ()))
        return Decision(**fields)


class ReleaseManifest(BaseModel):
    """``manifest.json`` of a release."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    release_id: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    created: str
    environment: str = "production"
    model_name: str
    model_version: str
    report_sha256: str
    approval: ApprovalRecord
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
        return ReleaseManifest.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as err:
        raise ReleaseError(f"{path}: not a valid release manifest: {err}") from None


def verify_manifest(manifest: ReleaseManifest, public_key_b64: str | None) -> None:
    """Refuse a release whose approval is not the board's signature of its model and report."""
    if not public_key_b64:
        raise ReleaseError(
            f"release {manifest.release_id}: no board public key configured to verify it"
        )
    try:
        decision = manifest.approval.as_decision()
        verify_decision(decision, manifest.approval.signature, public_key_b64)
    except (SignatureError, TypeError) as err:
        raise ReleaseError(
            f"release {manifest.release_id}: approval does not verify: {err}"
        ) from None
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
    if problems:
        raise ReleaseError(f"release {manifest.release_id}: " + "; ".join(problems))


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
