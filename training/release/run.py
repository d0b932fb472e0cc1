"""``vru release``: area figures of the current population from the approved champion model.

The order of work is the privacy argument, and :func:`run_release` does it in six named steps:

1. **verify** (:func:`verify_champion`): the ``champion`` version's signed board approval is
   verified end to end (:func:`governance.board.approval.verify_serving_version`), the
   model's files included (each must hash to what the signed decision names); anything
   else is refused before a byte is read or written. The files are hashed once more as the
   model is loaded for scoring, so a file rewritten between the two is refused too;
2. **score** (:func:`score_population`): the cohort at the latest as-of date is read (model
   inputs, LSOA and factor flags only: no identifier, no label) and scored, with exact SHAP
   contributions (:mod:`.score`); per-person values are summed to LSOAs and go no further (in
   this process, or on Spark in each partition with ``engine: spark``: :mod:`.distributed`);
3. **aggregate** (:func:`aggregate_to_areas`): every area's figures at every level are made
   from those sums, by the same code for both engines (:mod:`.aggregate`);
4. **protect** (:func:`protect_areas`): statistical disclosure control
   (:mod:`governance.disclosure`) runs on the area table; rank, decile, band, drivers and change are
   derived from what it publishes;
4c. **series** (:func:`back_score`): every as-of date of the features table scored by the
   champion and put through steps 3, 4 and 4b with the same rules, beside the recorded counts
   (:mod:`.series`); skipped when ``series.enabled`` is false or the method is ``dp``;
5. **publish** (:func:`.publish.publish_release`): only then is anything written:
   ``areas.parquet`` and ``manifest.json`` in a staging directory that is renamed to
   ``<releases_dir>/<release_id>/``;
6. **record** (:func:`record_release`): the release is logged as an artifact of the version's
   run (``release/<release_id>/``) and in the audit log (``release.created``), and ``CURRENT``
   is moved to it last, so a server never sees a release that is not fully recorded.

Configuration is loaded by the caller: :func:`run_release` takes the release, governance and
disclosure configs as objects (:func:`load_disclosure` reads the rules the release config
names).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board.approval import Approval, verify_serving_version
from governance.board.audit_log import AuditLog
from governance.board.registry import Registry
from governance.contracts.config import config_hash
from governance.contracts.errors import ConfigError, ExtractError
from governance.contracts.layout import DataLayout
from governance.contracts.release_schema import (
    AREAS,
    MANIFEST,
    SERIES,
    ReleaseAttack,
    ReleaseError,
    ReleaseManifest,
    ReleasePrivacy,
    ReleaseUtility,
    current_release_id,
    set_current_release,
)
from governance.contracts.settings import GovernanceConfig
from governance.contracts.signing import SignatureError, load_private_key
from governance.disclosure import (
    DisclosureConfig,
    apply_disclosure_control,
    check_no_individuals,
    load_disclosure_config,
    without_negative_zeros,
)
from governance.disclosure_attacks import attack_release
from governance.disclosure_utility import disclosure_utility
from training.release.aggregate import (
    area_table,
    areas_from_sums,
    band_by_interval,
    change_against,
    combine_sums,
    factor_present,
    lsoa_sums,
    name_top_drivers,
    order_columns,
    rank_and_decile,
    risk_from_published,
)
from training.release.cellkey_release import check_seed, release_cell_keys
from training.release.config import ReleaseConfig
from training.release.distributed import spark_lsoa_sums
from training.release.dp_release import check_release_budget, dp_risk_inputs, release_privacy
from training.release.publish import (
    ReleaseContents,
    model_card_summary,
    publish_release,
    release_methods,
)
from training.release.score import ScoringStats, score_cohort
from training.release.series import SeriesResult, build_series
from training.spark import SparkConfig

__all__ = [
    "AreaFigures",
    "LsoaSums",
    "ProtectedAreas",
    "ReleaseResult",
    "aggregate_to_areas",
    "back_score",
    "load_disclosure",
    "load_release_key",
    "protect_areas",
    "record_release",
    "run_release",
    "score_population",
    "verify_champion",
]

logger = logging.getLogger("training.release")

RELEASE_ARTIFACT_DIR = "release"
#: unpublished figures replaced by ones made from the protected table after disclosure control
_MADE_AFTER_PROTECTION = ("mean_risk", "risk_low", "risk_high")
#: inputs of those, never published
_AGGREGATION_INPUTS = ("shrinkage_weight", "within_variance")
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
_NO_RELEASE_KEY = (
    "release_key: environment production needs the operator's release key to sign the "
    "manifest (no server serves an unsigned release); make one with `vru keys release-init` "
    "and name it in configs/release.yaml (release_key) or with --release-key"
)
_DEMO_APPROVAL = (
    "refused: {name} version {version} was approved by {reviewer!r}, a demo approval; "
    "it may be released only with environment: demo"
)

Say = Callable[[str], None]

_ATTACKED = (
    "disclosure: the protected table does not survive the release's attacks, so nothing was "
    "published: {attacks}. Strengthen the disclosure rules, or have the limit changed"
)
#: the config key that limits each attack
_LIMIT_KEYS = {
    "hierarchy_exact": "max_exact_share",
    "hierarchy_narrowed": "max_narrowed_share",
    "precision_gain": "max_precision_gain",
    "zero_detection": "max_zero_auc",
}


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
    #: what disclosure control cost the figures, measured against the unprotected table; the
    #: manifest's ``utility`` except under ``dp``, where it stays in memory (for benchmarks):
    #: errors against the truth are figures of the data outside the privacy loss
    measured_utility: ReleaseUtility | None = None


@dataclass(frozen=True)
class LsoaSums:
    """Step 2's result: the cohort summed to LSOAs (nothing about a person), and its sources."""

    as_of: str  # the latest as-of date of the features table: the current population
    features_config_hash: str
    features_sha256: str
    geography: pd.DataFrame
    by_lsoa: pd.DataFrame  # one row per LSOA: :func:`.aggregate.sum_columns`
    factor_inputs: dict[str, list[str]]  # each factor's model inputs, in release order
    stats: ScoringStats
    #: the champion as loaded (files hash-checked), for the series to score earlier dates with
    model: Any = field(default=None, repr=False, compare=False)

    @property
    def factors(self) -> list[str]:
        """The factors, in release order."""
        return list(self.factor_inputs)


@dataclass(frozen=True)
class AreaFigures:
    """Step 3's result: every area's figures at every level, before disclosure control."""

    table: pd.DataFrame


@dataclass(frozen=True)
class ProtectedAreas:
    """Step 4's result: the table to publish, checked to reveal no individual."""

    table: pd.DataFrame
    suppression: dict[str, int]  # cells suppressed, by rule
    previous_id: str | None  # the release ``CURRENT`` named, compared against for change
    privacy: ReleasePrivacy | None = None  # method dp: the loss and the running total


class _Clock:
    """Seconds taken by each step, in the order they ran (for the audit log and the result)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, name: str) -> None:
        """Record the time since the last lap under ``name``."""
        self.timings[name] = round(time.perf_counter() - self._start, 3)
        self._start = time.perf_counter()


def run_release(
    config: ReleaseConfig,
    data_dir: Path,
    *,
    registry: Registry,
    governance: GovernanceConfig,
    disclosure: DisclosureConfig,
    config_path: Path | None = None,
    actor: str = "cli:release",
    progress: Say | None = None,
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
    disclosure
        The disclosure rules, loaded by the caller (:func:`load_disclosure`).
    config_path, actor
        Where ``config`` came from, for error messages; who released, for the audit log.
    progress
        Called with the name of each step as it starts.
    now
        The release's creation time (UTC now by default).
    spark
        How Spark runs when ``config.engine`` is ``spark`` (its defaults when not given).

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
    clock = _Clock()
    say("verifying the champion's signed approval")  # 1. verify
    approval = verify_champion(config, registry, governance, now=now)
    signer = load_release_key(config)
    rules = disclosure
    check_seed(rules, config.environment)  # the cell-key method's secret, before any work
    check_release_budget(rules, config.releases_dir)  # method dp: the budget, before any work
    clock.lap("verify")
    label = str(config_path) if config_path else "<defaults>"
    sums = score_population(  # 2. score, up to the LSOA sums
        config, data_dir, registry, approval, label=label, clock=clock, say=say, spark=spark
    )
    say("aggregating to areas at every level")  # 3. aggregate
    figures = aggregate_to_areas(config, sums)
    clock.lap("aggregate")
    say("statistical disclosure control")  # 4. protect
    keys = _cell_keys(config, data_dir, sums, figures, rules)
    protected = protect_areas(config, figures, sums.factors, rules, cell_keys=keys)
    clock.lap("disclosure")
    say("trying the protected table against the attacks")  # 4b. attack, before any write
    attacks = attack_protected(figures, protected, sums.factors, rules)
    clock.lap("attacks")
    series = back_score(config, data_dir, registry, approval, sums, rules, say)  # 4c. series
    clock.lap("series")
    if series is not None:  # where the series' time went, beside the steps' (audit log)
        clock.timings.update({f"series_{k}": v for k, v in series.timings.items()})
    say("writing the release")  # 5. publish
    created = (now or datetime.now(UTC)).astimezone(UTC)
    contents = _contents(config, approval, sums, figures, protected, rules, registry, attacks)
    if series is not None:
        contents = replace(contents, series=series.table, series_manifest=series.manifest)
    directory = publish_release(config, contents, created, signer)
    clock.lap("write")
    say("recording the release")  # 6. record
    manifest = record_release(
        config,
        directory,
        contents,
        sums.stats,
        governance=governance,
        registry=registry,
        actor=actor,
        timings=clock.timings,
    )
    clock.lap("record")
    measured = contents.utility
    if measured is None:  # dp: measured, never written
        measured = disclosure_utility(figures.table, protected.table, sums.factors)
    return _finished(directory, manifest, contents, sums.stats, clock.timings, measured)


def _finished(
    directory: Path,
    manifest: ReleaseManifest,
    contents: ReleaseContents,
    stats: ScoringStats,
    timings: dict[str, float],
    measured: ReleaseUtility | None = None,
) -> ReleaseResult:
    """Log the release's counts and say where it went and what it took."""
    info = contents.approval.info
    logger.info(
        "release %s: %d areas, %d published, from %s version %s",
        directory.name,
        len(contents.table),
        contents.published,
        info.name,
        info.version,
    )
    return ReleaseResult(
        release_id=directory.name,
        directory=directory,
        manifest=manifest,
        areas=len(contents.table),
        published=contents.published,
        stats=stats,
        timings=timings,
        measured_utility=measured,
    )


def load_release_key(config: ReleaseConfig) -> Ed25519PrivateKey | None:
    """The release key that signs the manifest (read before any work).

    Without one the manifest is unsigned, and no server serves it: allowed in a demo (with a
    warning, to try the pipeline without keys), refused in production, where an unsigned
    release would only fail later, at the server.

    Raises
    ------
    ReleaseError
        If a key is named but cannot be read (missing, not an Ed25519 PEM key), or none is
        named in production.
    """
    if config.release_key is None and config.environment == "production":
        raise ReleaseError(_NO_RELEASE_KEY)
    if config.release_key is None:
        logger.warning(
            "no release_key: the manifest will be unsigned and no server will serve it "
            "(make one with `vru keys release-init`)"
        )
        return None
    try:
        return load_private_key(config.release_key)
    except SignatureError as err:
        raise ReleaseError(f"release_key: {err}") from None


def load_disclosure(config: ReleaseConfig) -> DisclosureConfig:
    """The disclosure rules the release config names; the defaults when its default file is absent."""
    path = config.disclosure_config
    if not path.is_file() and path == DEFAULT_DISCLOSURE_CONFIG:
        return DisclosureConfig()
    return load_disclosure_config(path)


def verify_champion(
    config: ReleaseConfig,
    registry: Registry,
    governance: GovernanceConfig,
    *,
    now: datetime | None = None,
) -> Approval:
    """Step 1: the champion's verified approval, or a refusal before anything is read.

    The approval is judged against the governance config's board roster and quorum, at
    ``now`` (the release's time): one that has lapsed since promotion is refused.

    Raises
    ------
    ConfigError
        If the release and governance configs name different environments.
    governance.board.approval.ApprovalError
        If the approval is missing or does not verify.
    ReleaseError
        If a demo approval would be released outside a demo environment.
    """
    if config.environment != governance.environment:
        raise ConfigError(
            _ENVIRONMENTS.format(release=config.environment, governance=governance.environment)
        )
    approval = verify_serving_version(
        registry,
        config.model_name,
        governance.board_roster(),
        now=now,
        revocations_dir=governance.revocations_dir,
    )
    demo = [r for r in approval.reviewers if r.upper().startswith("DEMO")]
    if config.environment != "demo" and demo:
        raise ReleaseError(
            _DEMO_APPROVAL.format(
                name=approval.info.name, version=approval.info.version, reviewer=demo[0]
            )
        )
    return approval


def score_population(
    config: ReleaseConfig,
    data_dir: Path,
    registry: Registry,
    approval: Approval,
    *,
    label: str,
    clock: _Clock,
    say: Say,
    spark: SparkConfig | None,
) -> LsoaSums:
    """Step 2: load the champion, read the current population, score it and sum it to LSOAs.

    ``label`` names the release config in error messages; ``clock`` gets the laps
    ``load_model``, ``read`` and ``score_and_shap`` (the same on both engines).
    """
    info = approval.info
    say(f"loading {info.name} version {info.version}")
    # the files are hashed again as they are loaded: the very bytes the board signed
    model = registry.load_model(info, expected_files=approval.files)
    columns = list(model.columns)
    try:
        factor_inputs = config.factor_inputs(columns)
    except ValueError as err:
        raise ConfigError(_BAD_FACTOR_INPUTS.format(path=label, err=err)) from None
    clock.lap("load_model")

    say("reading the current population")
    layout = DataLayout(data_dir)
    manifest, as_of = _features_manifest(layout, data_dir)
    flags = sorted({c for f in config.factors for c in f.present_when})
    present_when = {f.name: list(f.present_when) for f in config.factors}
    geography = pd.read_parquet(layout.geography)
    if config.engine == "spark":
        path, wanted = _cohort_columns(layout, columns, flags, label)
        clock.lap("read")
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
        by_lsoa = combine_sums(geography, partials, list(factor_inputs))
    else:
        cohort = _read_cohort(layout, as_of, columns, flags, label)
        clock.lap("read")
        by_lsoa, stats = _sums_in_process(
            config, model, cohort, geography, factor_inputs, present_when, info.version, say
        )
    clock.lap("score_and_shap")
    return LsoaSums(
        as_of=as_of,
        features_config_hash=str(manifest.get("config_hash", "")),
        features_sha256=str(manifest.get("sha256", "")),
        geography=geography,
        by_lsoa=by_lsoa,
        factor_inputs=factor_inputs,
        stats=stats,
        model=model,
    )


def _sums_in_process(
    config: ReleaseConfig,
    model: Any,
    cohort: pd.DataFrame,
    geography: pd.DataFrame,
    factor_inputs: dict[str, list[str]],
    present_when: dict[str, list[str]],
    version: str,
    say: Say,
) -> tuple[pd.DataFrame, ScoringStats]:
    """Score ``cohort`` here and sum it to LSOAs; the per-person values end with this call."""
    scored = score_cohort(
        model, cohort, factor_inputs, dedup=config.shap.dedup, version=version, progress=say
    )
    by_lsoa = lsoa_sums(
        geography,
        cohort["lsoa_code"].astype(str).to_numpy(),
        scored.risk,
        factor_present(cohort, present_when),
        scored.contributions,
        list(factor_inputs),
    )
    return by_lsoa, scored.stats


def aggregate_to_areas(config: ReleaseConfig, sums: LsoaSums) -> AreaFigures:
    """Step 3: every area's figures at every level, from the LSOA sums (pure)."""
    areas = area_table(sums.geography, city_code=config.city_code, city_name=config.city_name)
    table = areas_from_sums(
        areas,
        sums.geography,
        sums.by_lsoa,
        sums.factors,
        shrink_levels=config.shrinkage.levels,
        interval_level=config.interval.level,
    )
    return AreaFigures(table=table)


def _cell_keys(
    config: ReleaseConfig,
    data_dir: Path,
    sums: LsoaSums,
    figures: AreaFigures,
    rules: DisclosureConfig,
) -> pd.DataFrame | None:
    """Every area's cell keys when the method is ``cellkey`` (:mod:`.cellkey_release`)."""
    if rules.method != "cellkey":
        return None
    return release_cell_keys(
        DataLayout(data_dir).features_dir / "features.parquet",
        sums.as_of,
        sums.geography,
        figures.table,
        {f.name: list(f.present_when) for f in config.factors},
        rules.cellkey,
    )


def protect_areas(
    config: ReleaseConfig,
    figures: AreaFigures,
    factors: list[str],
    disclosure: DisclosureConfig,
    *,
    cell_keys: pd.DataFrame | None = None,
) -> ProtectedAreas:
    """Step 4: disclosure control, then what is derived from the controlled figures.

    ``cell_keys`` (method ``cellkey`` only) are the areas' cell keys
    (:func:`.cellkey_release.release_cell_keys`).

    The mean risk and its interval (:func:`.aggregate.risk_from_published`), rank, decile,
    band, top drivers and change against the current release are made from what disclosure
    control publishes, never from the unpublished figures, and the finished table is
    checked again.
    """
    unpublished = figures.table
    variance = unpublished.groupby("level", sort=False)["within_variance"].first().to_dict()
    controlled = apply_disclosure_control(
        unpublished.drop(columns=[*_MADE_AFTER_PROTECTION, *_AGGREGATION_INPUTS]),
        disclosure,
        cell_keys=cell_keys,
    )
    previous_id = current_release_id(config.releases_dir) if config.releases_dir.is_dir() else None
    previous = _previous_table(config.releases_dir, previous_id)
    within = {str(k): float(v) for k, v in variance.items()}
    noise = None
    privacy = None
    if controlled.noised is not None:  # method dp: nothing unprotected enters the intervals
        within, noise = dp_risk_inputs(controlled.table, controlled.noised)
        privacy = release_privacy(
            controlled.table, controlled.noised, disclosure, config.releases_dir
        )
    table = risk_from_published(
        controlled.table,
        within,
        disclosure,
        shrink_levels=config.shrinkage.levels,
        interval_level=config.interval.level,
        noise_variance=noise,
    )
    table = band_by_interval(rank_and_decile(table))
    table = name_top_drivers(table, factors, config.top_drivers)
    table = change_against(table, previous)
    table = without_negative_zeros(order_columns(table, factors))
    check_no_individuals(table, disclosure)  # again, on exactly what will be written
    return ProtectedAreas(
        table=table,
        suppression={str(k): int(v) for k, v in controlled.counts.items()},
        previous_id=previous_id,
        privacy=privacy,
    )


def attack_protected(
    figures: AreaFigures,
    protected: ProtectedAreas,
    factors: list[str],
    rules: DisclosureConfig,
) -> tuple[ReleaseAttack, ...] | None:
    """Step 4b: the protected table against every attack; refuse it if one succeeds too well.

    Returns the results for the manifest (None when ``disclosure.attacks.enabled`` is
    false).

    Raises
    ------
    ReleaseError
        Naming each attack beyond its limit, its success, chance and the config key; nothing
        has been written then.
    """
    if not rules.attacks.enabled:
        return None
    results = attack_release(
        figures.table,
        protected.table,
        factors=factors,
        method=rules.method,
        min_count=rules.min_count,
        margin=rules.published_bounds,
        hierarchy=rules.hierarchy,
        limits=rules.attacks,
    )
    failed = [r for r in results if not r.passed]
    if failed:
        raise ReleaseError(
            _ATTACKED.format(
                attacks="; ".join(
                    f"{r.name}: {r.success} against chance {r.chance} over {r.cells} cells, "
                    f"limit {r.limit} (disclosure.attacks.{_LIMIT_KEYS[r.name]})"
                    for r in failed
                )
            )
        )
    return tuple(ReleaseAttack.model_validate(asdict(r)) for r in results)


def back_score(
    config: ReleaseConfig,
    data_dir: Path,
    registry: Registry,
    approval: Approval,
    sums: LsoaSums,
    rules: DisclosureConfig,
    say: Say,
) -> SeriesResult | None:
    """Step 4c: the back-scored series (:mod:`.series`), or None when it is not made.

    Each date is protected by :func:`protect_areas` and attacked by :func:`attack_protected`,
    with the release's rules, and scored by the champion step 2 loaded (its files
    hash-checked then; loaded again, and checked again, only if step 2 did not keep it).
    Not made under ``dp`` (every date would spend privacy budget) or with
    ``series.enabled: false``.
    """
    if not config.series.enabled:
        return None
    if rules.method == "dp":
        logger.warning("series: not made under disclosure method dp (budget per date)")
        return None
    say("back-scoring every as-of date (the series)")
    model = sums.model or registry.load_model(approval.info, expected_files=approval.files)
    return build_series(
        config,
        data_dir,
        model=model,
        version=approval.info.version,
        geography=sums.geography,
        present_when={f.name: list(f.present_when) for f in config.factors},
        latest_by_lsoa=sums.by_lsoa,
        latest=sums.as_of,
        rules=rules,
        protect=protect_areas,
        attack=attack_protected,
        say=say,
    )


def _contents(
    config: ReleaseConfig,
    approval: Approval,
    sums: LsoaSums,
    figures: AreaFigures,
    protected: ProtectedAreas,
    disclosure: DisclosureConfig,
    registry: Registry,
    attacks: tuple[ReleaseAttack, ...] | None = None,
) -> ReleaseContents:
    """What the release's files will hold: the table and the manifest's provenance.

    The manifest's utility figures compare the published table with ``figures``, the
    unprotected one (:func:`governance.disclosure_utility.disclosure_utility`: aggregates
    only, nothing about one area).
    """
    return ReleaseContents(
        table=protected.table,
        approval=approval,
        as_of=sums.as_of,
        previous_id=protected.previous_id,
        hashes={
            "release_config": config_hash(config),
            "disclosure_config": config_hash(disclosure),
            "features_config": sums.features_config_hash,
            "features_table": sums.features_sha256,
        },
        suppression=protected.suppression,
        methods=release_methods(config, sums.factor_inputs),
        card=model_card_summary(registry, approval.info),
        disclosure=disclosure.model_dump(mode="json"),
        # under dp, measured errors against the unprotected table would be figures of the
        # data outside the privacy loss: the manifest's privacy object gives the noise's
        # expected errors instead, and bench/ measures the real ones without publishing them
        utility=(
            None
            if protected.privacy is not None
            else disclosure_utility(figures.table, protected.table, sums.factors)
        ),
        privacy=protected.privacy,
        attacks=attacks,
    )


def record_release(
    config: ReleaseConfig,
    directory: Path,
    contents: ReleaseContents,
    stats: ScoringStats,
    *,
    governance: GovernanceConfig,
    registry: Registry,
    actor: str,
    timings: dict[str, float],
) -> ReleaseManifest:
    """Step 6: log the release with the model version and in the audit log; move ``CURRENT``.

    ``CURRENT`` moves last. If any of this fails the release directory is removed, so a
    release is either fully recorded or gone.
    """
    info = contents.approval.info
    try:
        files = {
            AREAS: (directory / AREAS).read_bytes(),
            MANIFEST: (directory / MANIFEST).read_bytes(),
        }
        if (directory / SERIES).is_file():
            files[SERIES] = (directory / SERIES).read_bytes()
        registry.log_artifacts(
            info, files, artifact_path=f"{RELEASE_ARTIFACT_DIR}/{directory.name}"
        )
        manifest = ReleaseManifest.model_validate_json(files[MANIFEST])
        AuditLog.from_config(governance).append(
            "release.created",
            {
                "release_id": directory.name,
                "model": info.name,
                "version": info.version,
                "report_sha256": contents.approval.report_sha256,
                "environment": config.environment,
                "as_of_date": contents.as_of,
                "previous_release_id": contents.previous_id,
                "areas": len(contents.table),
                "published": contents.published,
                "suppression": manifest.suppression,
                "areas_sha256": hashlib.sha256(files[AREAS]).hexdigest(),
                "manifest_sha256": hashlib.sha256(files[MANIFEST]).hexdigest(),
                "signed": manifest.signature is not None,
                "engine": config.engine,
                "scoring": stats.as_dict(),
                "timings": timings,
            },
            actor=actor,
        )
        set_current_release(config.releases_dir, directory.name)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return manifest


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
