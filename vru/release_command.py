"""``vru release``: the command, registered on an app by :func:`register`.

:mod:`vru.cli` calls ``register(app)``; a test may build an app of its own the same way. The
shared helpers of the CLI (logging, the error contract, the step display, the tracking
default, the shared options) come from :mod:`vru.console`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vru.console import (
    DataOpt,
    GovernanceOpt,
    QuietOpt,
    config_option,
    default_config,
    default_tracking,
    engine_option,
    err,
    governance_config,
    pipeline_config,
    refuse,
    stage,
    steps,
)

if TYPE_CHECKING:
    from governance.contracts.release_schema import ReleaseUtility
    from training.release.config import ReleaseConfig
    from training.release.run import ReleaseResult

__all__ = ["DEFAULT_RELEASE_CONFIG", "register", "release_command"]

DEFAULT_RELEASE_CONFIG = Path("configs/release.yaml")


def register(app: typer.Typer) -> None:
    """Add ``vru release`` to ``app``."""
    app.command("release")(release_command)


def release_command(
    data: DataOpt = None,
    config: Annotated[Path | None, config_option("Release", DEFAULT_RELEASE_CONFIG)] = None,
    governance: GovernanceOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Registered model (default: from the config).")
    ] = None,
    releases_dir: Annotated[
        Path | None,
        typer.Option("--releases-dir", help="Where releases go (default: from the config)."),
    ] = None,
    engine: Annotated[
        str | None,
        engine_option(
            "Where the cohort is scored: duckdb or spark (default: the config's engine); "
            "Spark runs as the pipeline config's spark: section says."
        ),
    ] = None,
    release_key: Annotated[
        Path | None,
        typer.Option(
            "--release-key",
            help="The operator's release private key, which signs the manifest "
            "(`vru keys release-init`; default: the config's release_key).",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Release area-level risk figures of the current population from the champion model.

    Refused (exit 1), with every missing condition listed, unless 'champion' points at a
    version the board approved, by a signature that verifies, for its current audit report.
    Scores the young people at the latest as-of date, sums risk, risk-factor prevalence and
    SHAP contributions to LSOAs, wards, boroughs, BCUs and the city, applies disclosure
    control, scores every earlier as-of date the same way beside the recorded counts (the
    series), and writes <releases_dir>/<release_id>/ (areas.parquet, series.parquet,
    manifest.json: the files' SHA-256 and the disclosure rules, signed with the release
    key), logs it
    with the model version and in the audit log, and points CURRENT at it.
    """
    with stage(quiet):
        path = default_config(config, DEFAULT_RELEASE_CONFIG)
        cfg = _release_config(path, model, releases_dir, engine, release_key)
        from training.release.run import load_disclosure, run_release

        disclosure = load_disclosure(cfg)
        gov = governance_config(governance)
        pipeline = pipeline_config(None, {})
        data_dir = data or pipeline.data_dir
        if cfg.engine == "spark":  # the JVM starts while the approval is checked
            from training.spark import start_spark_session

            start_spark_session(pipeline.spark)
        default_tracking()
        from governance.board.approval import ApprovalError
        from governance.board.registry import Registry

        try:
            with steps(quiet) as step:
                result = run_release(
                    cfg,
                    data_dir,
                    registry=Registry(),
                    governance=gov,
                    disclosure=disclosure,
                    config_path=path,
                    actor="cli:release",
                    progress=step,
                    spark=pipeline.spark,
                )
        except ApprovalError as error:
            refuse(f"[red]{error}[/]")
        if not quiet:
            _print_release(result)


def _release_config(
    path: Path | None,
    model: str | None,
    releases_dir: Path | None,
    engine: str | None,
    release_key: Path | None,
) -> ReleaseConfig:
    """The release config from its file, with the command line's flags over it."""
    from governance.contracts.config import load_config
    from training.release.config import ReleaseConfig

    overrides = {
        "model_name": model,
        "releases_dir": None if releases_dir is None else str(releases_dir),
        "engine": engine,
        "release_key": None if release_key is None else str(release_key),
    }
    return load_config(path, ReleaseConfig, overrides)


def _print_release(result: ReleaseResult) -> None:
    """What was released, how it was scored, and where it went."""
    m, s = result.manifest, result.stats
    suppressed = result.areas - result.published
    err.print(
        f"[bold]release {m.release_id}[/] of {m.model_name} version {m.model_version} "
        f"({m.environment}), population as of {m.as_of_date}: {result.areas:,} areas, "
        f"{result.published:,} published, {suppressed:,} suppressed",
        highlight=False,
    )
    err.print(
        f"  scored {s.rows:,} young people on {m.engine}: "
        f"{s.identical_rows:,} distinct input rows, "
        f"{s.patterns:,} distinct model paths explained ({s.dedup}); "
        f"exact SHAP {s.shap_seconds:.1f} s"
        + (" (summed over Spark's tasks)" if m.engine == "spark" else ""),
        highlight=False,
    )
    if m.utility is not None:
        err.print(f"  {utility_line(m.utility)}", highlight=False)
    if m.privacy is not None:
        p = m.privacy
        err.print(
            f"  differential privacy: epsilon {p.epsilon:g} this release, {p.total_epsilon:g} "
            f"over {p.earlier_releases + 1} release(s) of the {p.max_total_epsilon:g} allowed "
            f"(disclosure.dp.max_total_epsilon)",
            highlight=False,
        )
    previous = m.previous_release_id or "none"
    err.print(
        f"  {result.directory}/ (CURRENT; previous {previous}), logged to MLflow "
        f"under release/{m.release_id}/ and to the audit log",
        highlight=False,
    )


def utility_line(utility: ReleaseUtility) -> str:
    """The manifest's utility figures in one line: what disclosure control cost the figures."""

    def share(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    def rho(value: float | None) -> str:
        return "n/a (ranks tied)" if value is None else f"{value:.3f}"

    return (
        f"utility: {share(utility.areas_published_share)} of areas and "
        f"{share(utility.factor_cells_published_share)} of factor counts published; "
        f"population off by {utility.population_mae} on average (at most "
        f"{utility.population_max_error}); rank agreement with the unprotected mean risk "
        f"(Spearman) wards {rho(utility.spearman_ward)}, boroughs "
        f"{rho(utility.spearman_borough)}; {share(utility.fewer_than_share)} of published "
        f'areas show "fewer than N"'
    )
