"""``vru audit`` for a registered version: gather its inputs, audit it, record the result.

Reads what training logged (the model, its run's metrics, parameters, ``splits.json`` and
``features/definitions.json``), the test and validation rows from the features table the
model was trained on (refusing a table whose hash differs), and the champion's own audit
for comparison. Writes ``report.html`` and ``audit.json`` to an output directory (staged,
then renamed into place) and as artifacts of the version's run, tags the version with the
report's SHA-256 and the gate verdict, and appends an entry to the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from governance.audit.cohort_drift import Cohort
from governance.audit.model_audit import (
    AuditOutcome,
    ChampionAudit,
    ModelAuditInputs,
    Progress,
    run_model_audit,
)
from governance.audit.model_card import ModelCardConfig
from governance.audit.training_artifacts import ROLLING_ARTIFACT, TRAINING_REFERENCE
from governance.board.approval import REPORT_TAG
from governance.board.audit_log import AuditLog
from governance.board.registry import CANDIDATE, CHAMPION, ModelVersionInfo, Registry, RegistryError
from governance.contracts.audit_document import AuditDocument
from governance.contracts.errors import AuditInputError, ExtractError
from governance.contracts.layout import DataLayout
from governance.contracts.settings import GovernanceConfig
from governance.contracts.signing import artifacts_digest

__all__ = ["AuditRecord", "audit_version", "load_cohort", "load_refit_rows", "load_split_rows"]

TruthSection = Callable[[pd.DataFrame], dict[str, Any]]
AreaTruthSection = Callable[[pd.DataFrame, list[str]], dict[str, Any]]
_BAD_CHAMPION_AUDIT = (
    "{name} version {version} (the champion): its audit/audit.json is not an audit document "
    "this version can read ({count} problem(s)); audit the champion again"
)
_NO_FEATURES = "{path}: no features table; run `vru features --data {data}` first"
_OTHER_DATA = (
    "{path}: this features table (sha256 {have}) is not the one {name} version {version} was "
    "trained on ({want}); audit it with the data it was trained on"
)


@dataclass(frozen=True)
class AuditRecord:
    """What an audit produced and where it went."""

    info: ModelVersionInfo
    outcome: AuditOutcome
    directory: Path


def load_split_rows(
    data_dir: Path, info: ModelVersionInfo, splits: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The test and validation rows the version is judged on, and the features manifest."""
    features_dir = DataLayout(data_dir).features_dir
    manifest_path = features_dir / "manifest.json"
    if not manifest_path.is_file():
        raise ExtractError(_NO_FEATURES.format(path=features_dir, data=data_dir))
    manifest = json.loads(manifest_path.read_text())
    want = info.tags.get("features_sha256") or info.run_tags.get("features_sha256")
    if want and manifest.get("sha256") != want:
        raise ExtractError(
            _OTHER_DATA.format(
                path=features_dir,
                have=manifest.get("sha256"),
                name=info.name,
                version=info.version,
                want=want,
            )
        )
    frame = pd.read_parquet(features_dir / "features.parquet")
    as_of = pd.to_datetime(frame["as_of_date"]).dt.date.astype(str)
    test = frame[as_of == str(splits["test"])].reset_index(drop=True)
    validation = frame[as_of == str(splits["validation"])].reset_index(drop=True)
    return test, validation, manifest


def load_refit_rows(data_dir: Path, record: dict[str, Any] | None) -> pd.DataFrame | None:
    """The features table's rows at the refit's as-of dates (None without a refit).

    The audit rebuilds from them the young people held out of the served model.
    """
    if record is None:
        return None
    path = DataLayout(data_dir).features_dir / "features.parquet"
    dates = [dt.date.fromisoformat(str(d)) for d in record["as_of_dates"]]
    return pd.read_parquet(path, filters=[("as_of_date", "in", dates)])


def load_cohort(data_dir: Path, manifest: dict[str, Any]) -> Cohort | None:
    """The rows the release would score: the features table's latest as-of date.

    ``vru release`` chooses its cohort the same way. None if the manifest lists no date. The
    audit compares these rows' distribution with the champion's training data, nothing else.
    """
    dates = sorted(manifest.get("per_as_of_date") or manifest.get("as_of_dates") or [])
    if not dates:
        return None
    path = DataLayout(data_dir).features_dir / "features.parquet"
    rows = pd.read_parquet(
        path, filters=[("as_of_date", "=", dt.date.fromisoformat(str(dates[-1])))]
    )
    return Cohort(str(dates[-1]), rows) if len(rows) else None


def audit_version(
    registry: Registry,
    config: GovernanceConfig,
    card: ModelCardConfig,
    data_dir: Path,
    *,
    name: str,
    version: str | None,
    out: Path | None,
    seed: int,
    truth: Callable[[dict[str, Any]], TruthSection | None] | None = None,
    linkage: dict[str, Any] | None = None,
    progress: Progress | None = None,
    area_truth: Callable[[dict[str, Any]], AreaTruthSection | None] | None = None,
) -> AuditRecord:
    """Audit ``name`` (``version``, or the ``candidate``) and record the report everywhere.

    ``truth`` is given the features manifest and returns the ground-truth section's function
    (or None); evaluation code provides it, so governance never reads the ground truth.
    ``area_truth`` likewise gives the area-level audit its true outcomes by area.
    """
    info = registry.version(name, version, alias=CANDIDATE)
    splits = registry.read_json_artifact(info, "splits.json")
    definitions = registry.read_json_artifact(info, "features/definitions.json")
    test, validation, manifest = load_split_rows(data_dir, info, splits)
    models = registry.load_version_models(info)
    inputs = ModelAuditInputs(
        info=info,
        model=models.evaluated,
        served=models.served,
        refit_record=models.refit,
        labelled=load_refit_rows(data_dir, models.refit),
        model_artifacts_sha256=artifacts_digest(models.files),
        test=test,
        validation=validation,
        features=definitions["features"],
        splits=splits,
        top_fraction=float(json.loads(info.params.get("model.top_k_percent", "5"))) / 100,
        card=card,
        champion=_champion(registry, name, info.version),
        truth=truth(manifest) if truth is not None else None,
        area_truth=area_truth(manifest) if area_truth is not None else None,
        linkage=linkage or {"available": False, "reason": "No linkage report was given."},
        cohort=load_cohort(data_dir, manifest),
        rolling_origins=_logged_or_none(registry, info, ROLLING_ARTIFACT),
    )
    outcome = run_model_audit(inputs, config, seed=seed, progress=progress)
    directory = out or Path("audit-reports") / f"{name}-v{info.version}"
    files = {"report.html": outcome.html.encode("utf-8"), "audit.json": outcome.audit_json()}
    _write_directory(directory, files)
    registry.log_artifacts(info, files)
    failed = [g.figure for g in outcome.audit.gates if not g.passed]
    registry.set_tags(
        name,
        info.version,
        {
            REPORT_TAG: outcome.sha256,
            "audit_gates_passed": str(outcome.audit.gates_passed).lower(),
            "audit_failed_gates": ",".join(failed) or "none",
        },
    )
    AuditLog.from_config(config).append(
        "audit.report",
        {
            "model": name,
            "version": info.version,
            "report_sha256": outcome.sha256,
            "gates_passed": outcome.audit.gates_passed,
            "failed_gates": failed,
            "test_rows": outcome.audit.data.rows,
        },
        actor="cli:audit",
    )
    return AuditRecord(info, outcome, directory)


def _logged_or_none(registry: Registry, info: ModelVersionInfo, path: str) -> Any:
    """A JSON artifact of the version's run, or None if the run did not log it."""
    try:
        return registry.read_json_artifact(info, path)
    except RegistryError:
        return None


def _champion(registry: Registry, name: str, candidate: str) -> ChampionAudit | None:
    version = registry.alias_version(name, CHAMPION)
    if version is None or version == candidate:
        return None
    info = registry.version(name, version)
    try:
        audit = registry.read_artifact(info, "audit/audit.json")
    except RegistryError:
        return None
    try:
        document = AuditDocument.from_json(audit)
    except ValidationError as err:
        raise AuditInputError(
            _BAD_CHAMPION_AUDIT.format(name=name, version=version, count=err.error_count())
        ) from err
    # None when trained before the reference was kept: the section says so
    reference = _logged_or_none(registry, info, TRAINING_REFERENCE)
    # the champion's evaluated model: its refit has learnt from the candidate's test rows
    model = registry.load_version_models(info).evaluated
    return ChampionAudit(version, info.tags.get(REPORT_TAG), document, reference, model)


def _write_directory(directory: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a fresh directory beside ``directory``, then swap it in."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    stage.chmod(0o755)  # mkdtemp makes it private; the report is for the board to read
    try:
        for name, content in files.items():
            (stage / name).write_bytes(content)
        if directory.exists():
            old = directory.with_name(f".{directory.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(stage, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, directory)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
