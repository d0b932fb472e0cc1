"""Step 5 of ``vru release``: write the release atomically, with its manifest.

``areas.parquet`` and ``manifest.json`` are written into a staging directory beside the
releases and renamed to ``<releases_dir>/<release_id>/`` in one step, so a reader sees a whole
release or none. The release id is the creation time and a hash of the table, the time and
the model version. The manifest says where every figure came from: the approval, the config
hashes, the suppression counts, the methods (:data:`.aggregate.METHODS`) and a summary of the
model's audit, the SHA-256 of every data file and the disclosure rules the table was made
with; it is signed with the operator's release key (``release_key``), so the server can refuse
a release whose files or rules were changed afterwards (see
:mod:`governance.contracts.release_schema` for why a release key and not the board's).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board.approval import Approval
from governance.board.registry import ModelVersionInfo, Registry, RegistryError
from governance.contracts.audit_document import AuditDocument
from governance.contracts.release_schema import (
    AREAS,
    MANIFEST,
    SERIES,
    ApprovalRecord,
    ReleaseAttack,
    ReleaseError,
    ReleaseManifest,
    ReleasePrivacy,
    ReleaseSeries,
    ReleaseUtility,
    release_file_hashes,
    sign_manifest,
)
from training.release.aggregate import METHODS
from training.release.config import ReleaseConfig

__all__ = [
    "AUDIT_JSON",
    "ReleaseContents",
    "model_card_summary",
    "publish_release",
    "release_manifest",
    "release_methods",
]

AUDIT_JSON = "audit/audit.json"

_EXISTS = "{path}: a release with this id already exists"


@dataclass(frozen=True)
class ReleaseContents:
    """Everything a release's two files hold, gathered by the steps before (no I/O)."""

    table: pd.DataFrame  # the disclosure-controlled area table, as published
    approval: Approval
    as_of: str
    previous_id: str | None
    hashes: dict[str, str]
    suppression: dict[str, int]
    methods: dict[str, str]
    card: dict[str, Any]
    disclosure: dict[str, Any]  # the DisclosureConfig the table was made with, as JSON
    utility: ReleaseUtility | None = None  # what disclosure control cost the figures
    attacks: tuple[ReleaseAttack, ...] | None = None  # the attacks it survived
    privacy: ReleasePrivacy | None = None  # method dp: the privacy loss and its running total
    series: pd.DataFrame | None = None  # the back-scored series (training.release.series)
    series_manifest: ReleaseSeries | None = None

    @property
    def published(self) -> int:
        """Areas whose figures are published (not suppressed)."""
        return int((~self.table["suppressed"].astype(bool)).sum())


def publish_release(
    config: ReleaseConfig,
    contents: ReleaseContents,
    created: datetime,
    signer: Ed25519PrivateKey | None = None,
) -> Path:
    """Stage ``areas.parquet`` and ``manifest.json``, then rename into place; the directory.

    The manifest records the SHA-256 of every staged data file and is signed with ``signer``
    (the release key); without one it is written unsigned, which no server serves.

    Raises
    ------
    ReleaseError
        If a release with the same id is already there; nothing is left behind then.
    """
    root = config.releases_dir
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        areas_path = stage / AREAS
        pq.write_table(
            pa.Table.from_pandas(contents.table, preserve_index=False),
            areas_path,
            compression="zstd",
        )
        if contents.series is not None:
            pq.write_table(
                pa.Table.from_pandas(contents.series, preserve_index=False),
                stage / SERIES,
                compression="zstd",
            )
        release_id = _release_id(areas_path, created, contents.approval.info)
        manifest = release_manifest(config, contents, release_id=release_id, created=created)
        manifest = manifest.model_copy(update={"files": release_file_hashes(stage)})
        if signer is not None:
            manifest = sign_manifest(manifest, signer)
        (stage / MANIFEST).write_text(
            json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
        )
        for path in stage.iterdir():
            path.chmod(0o644)
        stage.chmod(0o755)
        target = root / release_id
        if target.exists():
            raise ReleaseError(_EXISTS.format(path=target))
        os.rename(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return target


def _release_id(areas: Path, created: datetime, info: ModelVersionInfo) -> str:
    """The creation time and a hash of the table, the time and the model version."""
    digest = hashlib.sha256(areas.read_bytes())
    digest.update(created.isoformat().encode())
    digest.update(f"{info.name}/{info.version}".encode())
    return f"{created:%Y%m%dT%H%M%S}Z-{digest.hexdigest()[:10]}"


def release_manifest(
    config: ReleaseConfig, contents: ReleaseContents, *, release_id: str, created: datetime
) -> ReleaseManifest:
    """The manifest of a release (pure)."""
    approval = contents.approval
    return ReleaseManifest(
        release_id=release_id,
        created=created.isoformat(timespec="seconds"),
        environment=config.environment,
        model_name=approval.info.name,
        model_version=approval.info.version,
        report_sha256=approval.report_sha256,
        approval=tuple(
            ApprovalRecord(
                decision={**asdict(s.decision), "waived_gates": list(s.decision.waived_gates)},
                signature=s.signature,
            )
            for s in approval.decisions
        ),
        as_of_date=contents.as_of,
        previous_release_id=contents.previous_id,
        factors=[f.name for f in config.factors],
        config_hashes=contents.hashes,
        suppression=contents.suppression,
        methods=contents.methods,
        model_card_summary=contents.card,
        rows=len(contents.table),
        engine=config.engine,
        disclosure=contents.disclosure,
        utility=contents.utility,
        attacks=contents.attacks,
        privacy=contents.privacy,
        series=contents.series_manifest,
    )


def release_methods(config: ReleaseConfig, factor_inputs: dict[str, list[str]]) -> dict[str, str]:
    """How each figure was made, for the manifest (text only)."""
    methods = dict(METHODS)
    methods["interval_level"] = f"{config.interval.level:g}"
    methods["shrinkage_levels"] = ",".join(config.shrinkage.levels) or "none"
    methods["shap_dedup"] = config.shap.dedup
    for factor in config.factors:
        inputs = factor_inputs[factor.name]
        methods[f"factor.{factor.name}"] = (
            f"{factor.label}; present when any of {', '.join(factor.present_when)} > 0; "
            f"contribution from {', '.join(inputs) if inputs else 'no model input (0)'}"
        )
    return methods


def model_card_summary(registry: Registry, info: ModelVersionInfo) -> dict[str, Any]:
    """A few headline fields of the version's audit (``audit/audit.json``), if it has one."""
    try:
        audit = AuditDocument.model_validate(registry.read_json_artifact(info, AUDIT_JSON))
    except (RegistryError, ValueError):  # none, or not an audit this version can read
        return {}
    performance = audit.performance
    summary: dict[str, Any] = {
        "model": info.name,
        "version": info.version,
        "audited": audit.created,
        "gates_passed": audit.gates_passed,
        "test_date": audit.data.test_date,
        "test_rows": audit.data.rows,
        "test_prevalence": audit.data.prevalence,
        "test_roc_auc": performance.get("test_roc_auc"),
        "test_pr_auc": performance.get("test_pr_auc"),
        "test_ece": performance.get("test_ece"),
        "failed_gates": [g.figure for g in audit.gates if not g.passed],
    }
    if audit.model_card is not None:
        summary["model_card"] = {
            k: v
            for k, v in audit.model_card.model_dump().items()
            if isinstance(v, str | int | float | bool) and len(str(v)) <= 500
        }
    return {k: v for k, v in summary.items() if v is not None}
