"""``vru release``: area figures of the current population from the approved champion model.

The order of work is the privacy argument:

1. the ``champion`` version's signed board approval is verified end to end
   (:func:`governance.board.approval.verify_serving_version`); anything else is refused before a
   byte is read or written;
2. the cohort at the latest as-of date is read (model inputs, LSOA and factor flags only: no
   identifier, no label) and scored, with exact SHAP contributions (:mod:`.score`);
3. per-person values are summed to LSOAs and go no further (in this process, or on Spark in
   each partition with ``engine: spark``: :mod:`.distributed`); every area's figures at every
   level are made from those sums, by the same code for both engines (:mod:`.aggregate`);
4. statistical disclosure control (:mod:`governance.disclosure`) runs on the area table;
   rank, decile, drivers and change are derived from what it publishes;
5. only then is anything written: ``areas.parquet`` and ``manifest.json`` in a staging
   directory that is renamed to ``<releases_dir>/<release_id>/``; the release is logged as
   an artifact of the version's run (``release/<release_id>/``) and in the audit log
   (``release.created``), and ``CURRENT`` is moved to it last, so a server never sees a
   release that is not fully recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from governance.board.approval import Approval, verify_serving_version
from governance.board.audit_log import AuditLog
from governance.board.registry import ModelVersionInfo, Registry, RegistryError
from governance.contracts.config import config_hash
from governance.contracts.errors import ConfigError, ExtractError
from governance.contracts.layout import DataLayout
from governance.contracts.release_schema import (
    AREAS,
    MANIFEST,
    ApprovalRecord,
    ReleaseError,
    ReleaseManifest,
    current_release_id,
    set_current_release,
)
from governance.contracts.settings import GovernanceConfig
from governance.disclosure import (
    DisclosureConfig,
    apply_disclosure_control,
    check_no_individuals,
    load_disclosure_config,
)
from training.release.aggregate import (
    METHODS,
    area_table,
    areas_from_sums,
    change_against,
    combine_sums,
    factor_present,
    lsoa_sums,
    name_top_drivers,
    order_columns,
    rank_and_decile,
)
from training.release.config import ReleaseConfig
from training.release.distributed import spark_lsoa_sums
from training.release.score import ScoringStats, score_cohort
from training.spark import SparkConfig

__all__ = ["ReleaseResult", "release"]

logger = logging.getLogger("training.release")

AUDIT_JSON = "audit/audit.json"
RELEASE_ARTIFACT_DIR = "release"
DEFAULT_DISCLOSURE_CONFIG = Path("configs/disclosure.yaml")

_NO_FEATURES = "{path}: no features; run `vru features --data {data}` first"
_NO_COHORT = "{path}: no young people at the latest as-of date {date}"
_NO_FACTOR_COLUMNS = (
    "{path} (release config): factor flag column(s) {missing} are not in the features table "
    "{features}; choose from its columns or rebuild the features"
)
_BAD_FACTOR_INPUTS = "{path} (release config): {err}"
_ENVIRONMENTS = (
    "the release config says environment {release!r} but the governance config says "
    "{governance!r}; they must agree"
)
_DEMO_APPROVAL = (
    "refused: {name} version {version} was approved by {reviewer!r}, a demo approval; "
    "it may be released only with environment: demo"
)
_EXISTS = "{path}: a release with this id already exists"


@dataclass(frozen=True)
class ReleaseResult:
    """Where the release went and what it took."""

    release_id: str
    directory: Path
    manifest: ReleaseManifest
    areas: int
    published: int
    stats: ScoringStats
    timings: dict[str, float] = field(default_factory=dict)


def release(
    config: ReleaseConfig,
    data_dir: Path,
    *,
    registry: Registry,
    governance: GovernanceConfig,
    config_path: Path | None = None,
    actor: str = "cli:release",
    progress: Callable[[str], None] | None = None,
    now: datetime | None = None,
    spark: SparkConfig | None = None,
) -> ReleaseResult:
    """Score the current population with the approved champion and write a release.

    Parameters
    ----------
    config
        The release configuration.
    data_dir
        The data directory holding ``features/`` and ``geography.parquet``.
    registry, governance
        The model registry and the governance settings (board public key, audit log).
    config_path
        Where ``config`` came from, for error messages.
    actor
        Who released, for the audit log.
    progress
        Called with the name of each step as it starts.
    now
        The release's creation time (UTC now by default).
    spark
        How Spark runs when ``config.engine`` is ``spark`` (the pipeline's ``spark:``
        section; its defaults when not given).

    Raises
    ------
    governance.board.approval.ApprovalError
        If ``champion`` is missing or its approval does not verify or match its report;
        nothing is read or written then.
    ReleaseError, ConfigError, ExtractError
        On a demo approval outside a demo environment, bad configuration or missing data;
        nothing is written then.
    """
    say = progress or (lambda _: None)
    label = str(config_path) if config_path else "<defaults>"
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    say("verifying the champion's signed approval")
    if config.environment != governance.environment:
        raise ConfigError(
            _ENVIRONMENTS.format(release=config.environment, governance=governance.environment)
        )
    approval = verify_serving_version(registry, config.model_name, governance.board_public_key_b64)
    info = approval.info
    if config.environment != "demo" and approval.decision.reviewer.upper().startswith("DEMO"):
        raise ReleaseError(
            _DEMO_APPROVAL.format(
                name=info.name, version=info.version, reviewer=approval.decision.reviewer
            )
        )
    disclosure = _disclosure_config(config.disclosure_config)
    lap("verify")

    say(f"loading {info.name} version {info.version}")
    model = registry.load_model(info)
    columns = list(model.columns)
    try:
        factor_inputs = config.factor_inputs(columns)
    except ValueError as err:
        raise ConfigError(_BAD_FACTOR_INPUTS.format(path=label, err=err)) from None
    lap("load_model")

    say("reading the current population")
    layout = DataLayout(data_dir)
    manifest, as_of = _features_manifest(layout, data_dir)
    flags = sorted({c for f in config.factors for c in f.present_when})
    present_when = {f.name: list(f.present_when) for f in config.factors}
    factors = list(factor_inputs)
    geography = pd.read_parquet(layout.geography)
    if config.engine == "spark":
        path, wanted = _cohort_columns(layout, columns, flags, label)
        lap("read")
        partials, stats = spark_lsoa_sums(
            spark or SparkConfig(),
            path,
            as_of,
            model,
            wanted,
            factor_inputs,
            present_when,
            dedup=config.shap.dedup,
            version=info.version,
            progress=say,
        )
        if stats.rows == 0:
            raise ExtractError(_NO_COHORT.format(path=path, date=as_of))
        by_lsoa = combine_sums(geography, partials, factors)
        lap("score_and_shap")
    else:
        cohort = _read_cohort(layout, as_of, columns, flags, label)
        lap("read")
        scored = score_cohort(
            model,
            cohort,
            factor_inputs,
            dedup=config.shap.dedup,
            version=info.version,
            progress=say,
        )
        stats = scored.stats
        by_lsoa = lsoa_sums(
            geography,
            cohort["lsoa_code"].astype(str).to_numpy(),
            scored.risk,
            factor_present(cohort, present_when),
            scored.contributions,
            factors,
        )
        del cohort, scored
        lap("score_and_shap")  # as on Spark: up to the LSOA sums

    say("aggregating to areas at every level")
    areas = area_table(geography, city_code=config.city_code, city_name=config.city_name)
    figures = areas_from_sums(
        areas,
        geography,
        by_lsoa,
        factors,
        shrink_levels=config.shrinkage.levels,
        interval_level=config.interval.level,
    )
    lap("aggregate")

    say("statistical disclosure control")
    controlled = apply_disclosure_control(figures.drop(columns="shrinkage_weight"), disclosure)
    previous_id = current_release_id(config.releases_dir) if config.releases_dir.is_dir() else None
    previous = _previous_table(config.releases_dir, previous_id)
    table = rank_and_decile(controlled.table)
    table = name_top_drivers(table, factors, config.top_drivers)
    table = change_against(table, previous)
    table = order_columns(table, factors)
    check_no_individuals(table, disclosure)  # again, on exactly what will be written
    lap("disclosure")

    say("writing the release")
    created = (now or datetime.now(UTC)).astimezone(UTC)
    published = int((~table["suppressed"].astype(bool)).sum())
    result = _write(
        config,
        table,
        created=created,
        approval=approval,
        as_of=as_of,
        previous_id=previous_id,
        hashes={
            "release_config": config_hash(config),
            "disclosure_config": config_hash(disclosure),
            "features_config": str(manifest.get("config_hash", "")),
            "features_table": str(manifest.get("sha256", "")),
        },
        suppression={str(k): int(v) for k, v in controlled.counts.items()},
        methods=_methods(config, factor_inputs),
        card=_model_card_summary(registry, info),
    )
    lap("write")

    say("recording the release")
    try:
        files = {AREAS: (result / AREAS).read_bytes(), MANIFEST: (result / MANIFEST).read_bytes()}
        registry.log_artifacts(info, files, artifact_path=f"{RELEASE_ARTIFACT_DIR}/{result.name}")
        manifest_model = ReleaseManifest.model_validate_json(files[MANIFEST])
        AuditLog(governance.audit_log).append(
            "release.created",
            {
                "release_id": result.name,
                "model": info.name,
                "version": info.version,
                "report_sha256": approval.report_sha256,
                "environment": config.environment,
                "as_of_date": as_of,
                "previous_release_id": previous_id,
                "areas": len(table),
                "published": published,
                "suppression": manifest_model.suppression,
                "areas_sha256": hashlib.sha256(files[AREAS]).hexdigest(),
                "manifest_sha256": hashlib.sha256(files[MANIFEST]).hexdigest(),
                "engine": config.engine,
                "scoring": stats.as_dict(),
                "timings": timings,
            },
            actor=actor,
        )
        set_current_release(config.releases_dir, result.name)
    except BaseException:
        shutil.rmtree(result, ignore_errors=True)
        raise
    lap("record")
    logger.info(
        "release %s: %d areas, %d published, from %s version %s",
        result.name,
        len(table),
        published,
        info.name,
        info.version,
    )
    return ReleaseResult(
        release_id=result.name,
        directory=result,
        manifest=manifest_model,
        areas=len(table),
        published=published,
        stats=stats,
        timings=timings,
    )


def _disclosure_config(path: Path) -> DisclosureConfig:
    """The disclosure rules; the defaults when the default file is absent."""
    if not path.is_file() and path == DEFAULT_DISCLOSURE_CONFIG:
        return DisclosureConfig()
    return load_disclosure_config(path)


def _features_manifest(layout: DataLayout, data_dir: Path) -> tuple[dict[str, Any], str]:
    """The features manifest and its latest as-of date (the current population)."""
    path = layout.features_dir / "manifest.json"
    if not path.is_file():
        raise ExtractError(_NO_FEATURES.format(path=layout.features_dir, data=data_dir))
    manifest: dict[str, Any] = json.loads(path.read_text())
    dates = sorted(manifest.get("per_as_of_date") or manifest.get("as_of_dates") or [])
    if not dates:
        raise ExtractError(f"{path}: lists no as-of dates")
    return manifest, str(dates[-1])


def _read_cohort(
    layout: DataLayout, as_of: str, inputs: list[str], flags: list[str], label: str
) -> pd.DataFrame:
    """The cohort at ``as_of``: LSOA, model inputs and factor flags; never ids or labels."""
    path, wanted = _cohort_columns(layout, inputs, flags, label)
    table = pq.read_table(
        path, columns=wanted, filters=[("as_of_date", "=", dt.date.fromisoformat(as_of))]
    )
    cohort: pd.DataFrame = table.to_pandas()
    if cohort.empty:
        raise ExtractError(_NO_COHORT.format(path=path, date=as_of))
    return cohort


def _cohort_columns(
    layout: DataLayout, inputs: list[str], flags: list[str], label: str
) -> tuple[Path, list[str]]:
    """The features table and the columns the release reads from it, checked to be there."""
    path = layout.features_dir / "features.parquet"
    if not path.is_file():
        raise ExtractError(_NO_FEATURES.format(path=layout.features_dir, data=layout.root))
    available = set(pq.read_schema(path).names)
    missing_flags = [c for c in flags if c not in available]
    if missing_flags:
        raise ConfigError(
            _NO_FACTOR_COLUMNS.format(path=label, missing=missing_flags, features=path)
        )
    missing = [c for c in inputs if c not in available]
    if missing:
        raise ExtractError(
            f"{path}: the model's input column(s) {missing} are not in the features table"
        )
    return path, list(dict.fromkeys(["lsoa_code", *inputs, *flags]))


def _previous_table(releases_dir: Path, previous_id: str | None) -> pd.DataFrame | None:
    """The published table of the release ``CURRENT`` names, if any."""
    if previous_id is None:
        return None
    path = releases_dir / previous_id / AREAS
    if not path.is_file():
        raise ReleaseError(f"{path}: CURRENT names release {previous_id}, which has no areas table")
    return pd.read_parquet(path, columns=["level", "code", "mean_risk"])


def _write(
    config: ReleaseConfig,
    table: pd.DataFrame,
    *,
    created: datetime,
    approval: Approval,
    as_of: str,
    previous_id: str | None,
    hashes: dict[str, str],
    suppression: dict[str, int],
    methods: dict[str, str],
    card: dict[str, Any],
) -> Path:
    """Stage ``areas.parquet`` and ``manifest.json``, then rename into place; the directory."""
    root = config.releases_dir
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        areas_path = stage / AREAS
        pq.write_table(
            pa.Table.from_pandas(table, preserve_index=False), areas_path, compression="zstd"
        )
        digest = hashlib.sha256(areas_path.read_bytes())
        digest.update(created.isoformat().encode())
        digest.update(f"{approval.info.name}/{approval.info.version}".encode())
        release_id = f"{created:%Y%m%dT%H%M%S}Z-{digest.hexdigest()[:10]}"
        decision = approval.decision
        manifest = ReleaseManifest(
            release_id=release_id,
            created=created.isoformat(timespec="seconds"),
            environment=config.environment,
            model_name=approval.info.name,
            model_version=approval.info.version,
            report_sha256=approval.report_sha256,
            approval=ApprovalRecord(
                decision={**asdict(decision), "waived_gates": list(decision.waived_gates)},
                signature=approval.signature,
            ),
            as_of_date=as_of,
            previous_release_id=previous_id,
            factors=[f.name for f in config.factors],
            config_hashes=hashes,
            suppression=suppression,
            methods=methods,
            model_card_summary=card,
            rows=len(table),
            engine=config.engine,
        )
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


def _methods(config: ReleaseConfig, factor_inputs: dict[str, list[str]]) -> dict[str, str]:
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


def _model_card_summary(registry: Registry, info: ModelVersionInfo) -> dict[str, Any]:
    """A few headline fields of the version's audit (``audit/audit.json``), if it has one."""
    try:
        audit = registry.read_json_artifact(info, AUDIT_JSON)
    except (RegistryError, ValueError):
        return {}
    if not isinstance(audit, dict):
        return {}
    data = audit.get("data") or {}
    performance = audit.get("performance") or {}
    summary: dict[str, Any] = {
        "model": info.name,
        "version": info.version,
        "audited": audit.get("created"),
        "gates_passed": audit.get("gates_passed"),
        "test_date": data.get("test_date"),
        "test_rows": data.get("rows"),
        "test_prevalence": data.get("prevalence"),
        "test_roc_auc": performance.get("test_roc_auc"),
        "test_pr_auc": performance.get("test_pr_auc"),
        "test_ece": performance.get("test_ece"),
        "failed_gates": [g.get("figure") for g in audit.get("gates", []) if not g.get("passed")],
    }
    card = audit.get("model_card")
    if isinstance(card, dict):
        summary["model_card"] = {
            k: v
            for k, v in card.items()
            if isinstance(v, str | int | float | bool) and len(str(v)) <= 500
        }
    return {k: v for k, v in summary.items() if v is not None}
