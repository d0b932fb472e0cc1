"""The ``vru`` command: one subcommand per pipeline stage.

Each command loads its config, calls a pure function of the package that owns the stage, and
reports. Only this module configures logging, and only the project's loggers, never the root.
Errors a user can cause end with one clear line on stderr and exit code 2.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from governance.contracts.config import load_config
from governance.contracts.errors import ConfigError, ExtractError, VruError
from governance.contracts.layout import SOURCES, DataLayout
from training.config import PipelineConfig
from training.extracts import read_extract
from training.features.build import build_features
from training.generate import generate_city
from training.linkage.report import summary_lines
from training.model.config import ModelConfig
from training.tracking import log_to_active_run
from vru import serving_commands
from vru.release_command import register as register_release

# splink, lightgbm and mlflow load in the commands that use them: `vru --help` and `vru
# generate` start quickly

app = typer.Typer(
    name="vru",
    help="vru-risk: linked multi-agency data, audited risk models, area-level releases only.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_err = Console(stderr=True)
_LOGGERS = ("vru", "training", "governance", "serving")
_LIBRARY_LOGGERS = ("splink",)
DEFAULT_CONFIG = Path("configs/pipeline.yaml")
DEFAULT_MODEL_CONFIG = Path("configs/model.yaml")
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_GOVERNANCE_CONFIG = Path("configs/governance.yaml")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Pipeline YAML (default: configs/pipeline.yaml if present)."
    ),
]
DataOpt = Annotated[Path | None, typer.Option("--data", help="Data directory (default: data/).")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for every random step.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]


@app.command()
def generate(
    config: ConfigOpt = None,
    data: DataOpt = None,
    seed: SeedOpt = None,
    persons: Annotated[
        int | None, typer.Option("--persons", "-n", help="Children and young people to generate.")
    ] = None,
    validate: Annotated[
        bool, typer.Option(help="Check every extract against its schema while writing.")
    ] = True,
    quiet: QuietOpt = False,
) -> None:
    """Generate a synthetic city: geography, agency extracts and (apart) the ground truth."""
    with _stage(quiet):
        cfg = _pipeline_config(config, {"seed": seed, "generate.persons": persons})
        data_dir = data or cfg.data_dir
        with _progress(quiet, "Generating people") as advance:
            result = generate_city(cfg, data_dir, validate=validate, progress=advance)
        files: dict[str, Any] = result.manifest["files"]  # type: ignore[assignment]
        log_to_active_run(
            stage="generate",
            params={"seed": cfg.seed, "persons": result.manifest["persons"]},
            metrics={f"rows.{name}": meta["rows"] for name, meta in files.items()},
            artifacts=[DataLayout(data_dir).manifest],
        )
        if not quiet:
            _err.print(f"[bold]Generated[/] {result.manifest['persons']:,} people in {data_dir}/")
            for name, meta in files.items():
                _err.print(f"  {name:<32} {meta['rows']:>12,} rows")


@app.command()
def link(
    config: ConfigOpt = None,
    data: DataOpt = None,
    seed: SeedOpt = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Match probability at or above which records are one person."),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="Where Splink runs: duckdb or spark (default: link.engine)."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Link the agencies' extracts into one person spine, and report linkage quality."""
    with _stage(quiet):
        cfg = _pipeline_config(
            config, {"seed": seed, "link.threshold": threshold, "link.engine": engine}
        )
        data_dir = data or cfg.data_dir
        with _progress(quiet, "Linking") as advance:
            advance(0, 1)
            from training.linkage.stage import run_link

            result = run_link(cfg, data_dir)
            advance(1, 1)
        report = result.report
        quality = report["quality"]
        overall = quality.get("overall", {}) if quality.get("available") else {}
        log_to_active_run(
            stage="link",
            params={"seed": cfg.seed, "threshold": cfg.link.threshold},
            metrics={
                "records": report["records"],
                "persons": report["persons"],
                **{
                    f"pairwise_{k}": overall[k]
                    for k in ("precision", "recall", "f1")
                    if overall.get(k) is not None
                },
            },
            artifacts=[
                result.directory / "report.json",
                *(result.directory / "charts" / c for c in report["charts"]),
            ],
        )
        if not quiet:
            for line in summary_lines(report):
                _err.print(line, highlight=False)
            _err.print(f"spine, report and charts in {result.directory}/")


@app.command()
def features(
    config: ConfigOpt = None,
    data: DataOpt = None,
    engine: Annotated[
        str | None,
        typer.Option(help="Where the SQL runs: duckdb or spark (default: features.engine)."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Build cohorts, features and labels at each as-of date from the linked spine."""
    with _stage(quiet):
        cfg = _pipeline_config(config, {"features.engine": engine})
        data_dir = data or cfg.data_dir
        result = build_features(cfg.features, data_dir, spark=cfg.spark)
        log_to_active_run(
            stage="features",
            params={"outcome": cfg.features.outcome},
            metrics={"rows": result.manifest["rows"], "features": len(result.manifest["features"])},
            artifacts=[result.path.parent / "manifest.json"],
        )
        if not quiet:
            for date, counts in result.manifest["per_as_of_date"].items():
                _err.print(
                    f"{date}: {counts['rows']:,} young people, {counts['positives']:,} with the outcome"
                    f"{'' if counts['label_complete'] else ' (label window not complete)'}",
                    highlight=False,
                )
            _err.print(f"features and manifest in {result.path.parent}/")


@app.command()
def train(
    config: ConfigOpt = None,
    model_config: Annotated[
        Path | None,
        typer.Option("--model-config", "-m", help="Model YAML (default: configs/model.yaml)."),
    ] = None,
    data: DataOpt = None,
    seed: SeedOpt = None,
    tune: Annotated[
        int | None, typer.Option("--tune", help="Optuna trials before the final fit.")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Train LightGBM and the baseline on earlier as-of dates; register the candidate model."""
    with _stage(quiet):
        cfg = _pipeline_config(config, {"seed": seed})
        path = model_config or (DEFAULT_MODEL_CONFIG if DEFAULT_MODEL_CONFIG.is_file() else None)
        model_cfg = load_config(path, ModelConfig, {"tune.trials": tune})
        _default_tracking()
        from training.model.train import CANDIDATE, train_model

        result = train_model(cfg, model_cfg, data or cfg.data_dir)
        if not quiet:
            m = result.metrics
            _err.print(
                f"registered {result.model_name} version {result.version} as '{CANDIDATE}' "
                f"(run {result.run_id})",
                highlight=False,
            )
            _err.print(
                f"test ROC AUC {m['test_roc_auc']:.3f} (baseline {m['baseline_test_roc_auc']:.3f}), "
                f"PR AUC {m['test_pr_auc']:.3f} (baseline {m['baseline_test_pr_auc']:.3f}), "
                f"ECE {m['test_ece']:.4f}, recall in the top {model_cfg.top_k_percent:g}% "
                f"{m['test_recall_at_top_k']:.3f}",
                highlight=False,
            )


ModelOpt = Annotated[str, typer.Option("--model", help="Registered model name.")]
GovConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--governance-config", "-g", help="Governance YAML (default: configs/governance.yaml)."
    ),
]
DEFAULT_MODEL_NAME = "vru-risk"
DEFAULT_MODEL_CARD = Path("configs/model_card.yaml")


@app.command()
def audit(
    model: ModelOpt = DEFAULT_MODEL_NAME,
    version: Annotated[
        str | None, typer.Option(help="Model version or alias (default: the 'candidate' alias).")
    ] = None,
    data: DataOpt = None,
    governance_config: GovConfigOpt = None,
    model_card: Annotated[
        Path | None, typer.Option(help="Model card YAML (default: configs/model_card.yaml).")
    ] = None,
    table: Annotated[
        Path | None,
        typer.Option("--table", help="Instead: audit a scored table (CSV or Parquet)."),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="--table: column with the observed outcome (0/1).")
    ] = None,
    score: Annotated[
        str | None, typer.Option(help="--table: column with the tool's score.")
    ] = None,
    sensitive: Annotated[
        str | None, typer.Option(help="--table: comma-separated group columns, e.g. sex,ethnicity.")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="--table: a positive prediction is score >= this.")
    ] = None,
    top_fraction: Annotated[
        float | None, typer.Option(help="--table: or the top fraction of scores is positive.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output directory (default: audit-reports/<model>-v<version>/, or "
            "audit-<table name>/ for --table)."
        ),
    ] = None,
    min_group_size: Annotated[
        int | None, typer.Option(help="Smaller groups are flagged, not judged (default: gates).")
    ] = None,
    bootstrap: Annotated[
        int | None, typer.Option(help="Bootstrap replicates for the intervals (default: config).")
    ] = None,
    seed: SeedOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Audit a model version for the ethics board: one HTML report and audit.json.

    Fairness by sex, ethnicity, deprivation and their intersection (at the model's top k%,
    across thresholds, calibration per group, bootstrap intervals), recorded versus true
    outcomes and linkage quality where known, mitigation options, SHAP explanations, a proxy
    check, drift against the champion, the gates and the model card. The report's SHA-256 is
    tagged on the version; the board reviews exactly that report.

    With --table: the fairness sections for any scored table (an existing tool's scores).
    """
    with _stage(quiet):
        gov = _governance_config(governance_config)
        if table is not None:
            _audit_table(
                table,
                label=label,
                score=score,
                sensitive=sensitive,
                threshold=threshold,
                top_fraction=top_fraction,
                out=out,
                min_group_size=min_group_size or gov.gates.min_group_size,
                withhold_below=gov.audit.withhold_below,
                bootstrap=bootstrap or gov.audit.bootstrap,
                seed=seed if seed is not None else 0,
                quiet=quiet,
            )
            return
        cfg = _pipeline_config(None, {"seed": seed})
        data_dir = data or cfg.data_dir
        if bootstrap is not None or min_group_size is not None:
            gov = gov.model_copy(
                update={
                    "audit": gov.audit.model_copy(
                        update={"bootstrap": bootstrap or gov.audit.bootstrap}
                    ),
                    "gates": gov.gates.model_copy(
                        update={"min_group_size": min_group_size or gov.gates.min_group_size}
                    ),
                }
            )
        _default_tracking()
        from governance.audit.model_card import load_model_card
        from governance.audit.version import audit_version
        from governance.board.registry import Registry
        from training.evaluation.recording import linkage_by_group, truth_comparison

        card_path = model_card or DEFAULT_MODEL_CARD

        def truth(manifest: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
            label_cfg = manifest["label"]
            return lambda rows: truth_comparison(
                data_dir,
                rows,
                label_months=int(label_cfg["months"]),
                outcome=label_cfg["outcome"],
                group_columns=list(gov.audit.sensitive),
                min_group_size=gov.gates.min_group_size,
            )

        with _steps(quiet) as step:
            record = audit_version(
                Registry(),
                gov,
                load_model_card(card_path),
                data_dir,
                name=model,
                version=version,
                out=out,
                seed=cfg.seed,
                truth=truth,
                linkage=linkage_by_group(data_dir),
                progress=step,
            )
        if not quiet:
            result = record.outcome.audit
            for gate in result["gates"]:
                value = "not measured" if gate["value"] is None else f"{gate['value']:.4f}"
                mark = "[green]pass[/]" if gate["passed"] else "[red]FAIL[/]"
                _err.print(
                    f"{mark}  {gate['name']}: {value} ({gate['direction']} {gate['limit']:g})"
                )
            _err.print(
                f"audited {model} version {record.info.version} on {result['data']['rows']:,} "
                f"test rows; report {record.directory / 'report.html'} "
                f"(sha256 {record.outcome.sha256[:12]}…), also logged to MLflow",
                highlight=False,
            )


def _audit_table(
    table: Path,
    *,
    label: str | None,
    score: str | None,
    sensitive: str | None,
    threshold: float | None,
    top_fraction: float | None,
    out: Path | None,
    min_group_size: int,
    withhold_below: int,
    bootstrap: int,
    seed: int,
    quiet: bool,
) -> None:
    """The fairness sections for a scored table; writes audit.json."""
    from governance.audit.fairness import audit_scored_table
    from training.storage import write_json_atomic

    missing = [
        f"--{n}" for n, v in (("label", label), ("score", score), ("sensitive", sensitive)) if not v
    ]
    if missing:
        raise ConfigError(f"--table needs {', '.join(missing)} (the columns to audit)")
    assert label is not None and score is not None and sensitive is not None
    frame = _read_table(table)
    result = audit_scored_table(
        frame,
        label=label,
        score=score,
        sensitive=[c.strip() for c in sensitive.split(",") if c.strip()],
        threshold=threshold,
        top_fraction=top_fraction,
        min_group_size=min_group_size,
        n_boot=bootstrap,
        seed=seed,
        withhold_below=withhold_below,
    )
    result["table"] = {"path": str(table), "label": label, "score": score}
    directory = out or Path(f"audit-{table.stem}")
    directory.mkdir(parents=True, exist_ok=True)
    write_json_atomic(directory / "audit.json", result)
    if not quiet:
        for dimension, summary in result["summary"].items():
            eod = summary["equalized_odds_difference"]
            small = [g for g, v in result["by"][dimension].items() if v["too_small"]]
            _err.print(
                f"{dimension}: reference {summary['reference']}, equalized odds difference "
                f"{'n/a' if eod is None else f'{eod:.3f}'}"
                + (f"; too small to judge: {', '.join(small)}" if small else ""),
                highlight=False,
            )
        _err.print(f"audit of {result['rows']:,} rows in {directory / 'audit.json'}")


@app.command()
def review(
    model: ModelOpt = DEFAULT_MODEL_NAME,
    version: Annotated[str | None, typer.Option(help="The version decided on.")] = None,
    decision: Annotated[str | None, typer.Option(help="approve or reject.")] = None,
    reviewer: Annotated[str | None, typer.Option(help="Who decides (recorded and signed).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why, in the reviewer's words.")] = None,
    signing_key: Annotated[
        Path | None, typer.Option(help="The board's private key (from `vru keys board-init`).")
    ] = None,
    waive: Annotated[
        list[str] | None,
        typer.Option(help="A failed gate the board accepts, by figure name (repeatable)."),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="Show versions awaiting review and past decisions.")
    ] = False,
    demo: Annotated[
        bool,
        typer.Option(
            help="A labelled demo approval (every failed gate waived); only with environment: demo."
        ),
    ] = False,
    governance_config: GovConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Record the ethics board's signed decision on the report a version was audited with."""
    with _stage(quiet):
        gov = _governance_config(governance_config)
        _default_tracking()
        from governance.board.audit_log import AuditLog
        from governance.board.registry import Registry
        from governance.board.review import record_review, review_status

        registry = Registry()
        if list_:
            _print_reviews(model, review_status(registry, model, gov.board_public_key_b64))
            return
        if demo:
            if gov.environment != "demo":
                raise ConfigError(
                    "--demo: allowed only when the governance config says environment: demo "
                    f"(it says {gov.environment!r})"
                )
            decision, reviewer = "approve", DEMO_REVIEWER
            reason = (
                "Demo approval of a model of generated data; not a decision of an ethics board."
            )
            waive = _failed_gates(registry, model, version)
        needed = {
            "--version": version,
            "--decision": decision,
            "--reviewer": reviewer,
            "--reason": reason,
            "--signing-key": signing_key,
        }
        missing = [k for k, v in needed.items() if not v]
        if missing:
            raise ConfigError(f"vru review needs {', '.join(missing)} (or --list)")
        if decision not in ("approve", "reject"):
            raise ConfigError(f"--decision: expected 'approve' or 'reject', got {decision!r}")
        assert version and reviewer and reason and signing_key
        info = registry.version(model, version)
        signed, _ = record_review(
            registry,
            AuditLog(gov.audit_log),
            info,
            decision=decision,  # type: ignore[arg-type]
            reviewer=reviewer,
            reasons=reason,
            signing_key=signing_key,
            public_key_b64=gov.board_public_key_b64,
            waive=tuple(waive or ()),
        )
        if not quiet:
            _err.print(
                f"recorded: {signed.decision} {model} version {signed.version} by {signed.reviewer} at "
                f"{signed.decided_at}, for report {signed.report_sha256[:12]}…"
                + (f"; waived: {', '.join(signed.waived_gates)}" if signed.waived_gates else ""),
                highlight=False,
            )


@app.command()
def promote(
    model: ModelOpt = DEFAULT_MODEL_NAME,
    version: Annotated[str, typer.Option(help="The version to serve.")] = "",
    governance_config: GovConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Move 'champion' to a version the board approved for its current report; logged.

    Refused (exit 1), with every missing condition listed, unless the version was audited,
    passed every gate or had it waived, and carries the board's approval of that very report
    with a signature that verifies against the configured public key. Rolling back to an
    earlier approved version works the same way.
    """
    with _stage(quiet):
        if not version:
            raise ConfigError("vru promote needs --version")
        gov = _governance_config(governance_config)
        _default_tracking()
        from governance.board.approval import ApprovalError
        from governance.board.approval import promote as promote_version
        from governance.board.audit_log import AuditLog
        from governance.board.registry import Registry

        registry = Registry()
        info = registry.version(model, version)
        try:
            approval = promote_version(
                registry,
                AuditLog(gov.audit_log),
                info,
                gov.board_public_key_b64,
                actor="cli:promote",
            )
        except ApprovalError as err:
            _err.print(f"[red]{err}[/]", highlight=False)
            raise typer.Exit(1) from None
        if not quiet:
            _err.print(
                f"{model} version {approval.info.version} is now 'champion' (approved by "
                f"{approval.decision.reviewer} at {approval.decision.decided_at})",
                highlight=False,
            )


DEMO_REVIEWER = "DEMO (not an ethics board)"


def _failed_gates(registry: Any, model: str, version: str | None) -> list[str]:
    from governance.board.approval import REPORT_ARTIFACT
    from governance.board.verdict import read_verdict

    info = registry.version(model, version)
    verdict = read_verdict(registry.read_artifact(info, REPORT_ARTIFACT).decode("utf-8"))
    return [g["figure"] for g in verdict["gates"] if not g["passed"]]


def _print_reviews(model: str, rows: list[dict[str, Any]]) -> None:
    """One line per version, newest first."""
    if not rows:
        typer.echo(f"{model}: no versions")
    for row in rows:
        aliases = f" [{', '.join(row['aliases'])}]" if row["aliases"] else ""
        gates = {"true": "gates pass", "false": "gates FAIL"}.get(str(row["gates_passed"]), "")
        if row["decision"]:
            decided = (
                f"{row['decision']} by {row['reviewer']} at {row['decided_at']}, "
                f"signature {row['signature']}"
                + ("" if row["decision_is_for_current_report"] else " (for an earlier report)")
            )
        else:
            decided = "no decision"
        state = "AWAITING REVIEW" if row["awaiting_review"] else ""
        audited = "audited" if row["audited"] else "not audited"
        parts = [f"{model} v{row['version']}{aliases}", audited, gates, decided, state]
        typer.echo("  ".join(p for p in parts if p))


keys_app = typer.Typer(help="The ethics board's signing keys.", no_args_is_help=True)
audit_log_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_log_app, name="audit-log")
serving_commands.register(app, keys_app)
register_release(app)


@keys_app.command("board-init")
def board_init(
    private_key: Annotated[
        Path,
        typer.Option(
            help="Where the board's private key goes (keep it off this machine's shared disks)."
        ),
    ],
    public_key: Annotated[Path, typer.Option(help="Where the public key (PEM) goes.")],
    force: Annotated[bool, typer.Option(help="Overwrite existing key files.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Create the board's Ed25519 key pair; print the public key for configs/governance.yaml."""
    with _stage(quiet):
        from governance.contracts.signing import generate_keypair

        public_b64 = generate_keypair(private_key, public_key, overwrite=force)
        typer.echo(public_b64)
        if not quiet:
            _err.print(
                f"private key: {private_key} (mode 600); public key: {public_key}\n"
                "put the line above in configs/governance.yaml as board_public_key_b64",
                highlight=False,
            )


@audit_log_app.command("verify")
def audit_log_verify(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Governance YAML (default: configs/governance.yaml)."),
    ] = None,
    log: Annotated[
        Path | None, typer.Option(help="The audit log (default: from the config).")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Check the hash chain; name the first altered or missing entry (exit 1 if any)."""
    with _stage(quiet):
        from governance.board.audit_log import AuditLog
        from governance.contracts.settings import GovernanceConfig

        path = config or (
            DEFAULT_GOVERNANCE_CONFIG if DEFAULT_GOVERNANCE_CONFIG.is_file() else None
        )
        target = log or load_config(path, GovernanceConfig).audit_log
        result = AuditLog(target).verify()
        if result.ok:
            if not quiet:
                _err.print(f"{target}: {result.entries} entries, chain intact", highlight=False)
            return
        _err.print(f"[red]{target}: tampered[/] — {result.problem}", highlight=False)
        raise typer.Exit(1)


@app.command("validate")
def validate_extracts(data: DataOpt = None, quiet: QuietOpt = False) -> None:
    """Check each extract in DIR/extracts/ against its schema (names file, column and rows)."""
    with _stage(quiet):
        layout = DataLayout(data or Path("data"))
        for source in SOURCES:
            frame = read_extract(layout.extract(source), source)
            if not quiet:
                _err.print(f"{layout.extract(source)}: {len(frame):,} rows, schema OK")


def _read_table(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise ExtractError(f"{path}: table not found")
    try:
        return pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError) as err:
        raise ExtractError(
            f"{path}: cannot be read as {'Parquet' if path.suffix.lower() == '.parquet' else 'CSV'} ({err.__class__.__name__})"
        ) from None


def _governance_config(path: Path | None) -> Any:
    from governance.contracts.settings import GovernanceConfig

    if path is None and DEFAULT_GOVERNANCE_CONFIG.is_file():
        path = DEFAULT_GOVERNANCE_CONFIG
    return load_config(path, GovernanceConfig)


@contextmanager
def _steps(quiet: bool) -> Iterator[Callable[[str], None]]:
    """Name each step of a long command as it starts."""
    if quiet:
        yield lambda step: None
        return
    with _err.status("starting") as status:

        def step(name: str) -> None:
            status.update(name)
            logging.getLogger("vru").info("%s", name)

        yield step


def _default_tracking() -> None:
    """The embedded SQLite store in the working directory unless MLFLOW_TRACKING_URI is set."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = DEFAULT_TRACKING_URI
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _pipeline_config(path: Path | None, overrides: dict[str, Any]) -> PipelineConfig:
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    return load_config(path, PipelineConfig, overrides)


@contextmanager
def _stage(quiet: bool) -> Iterator[None]:
    """Logging for one command, and the one-line error contract."""
    handler = RichHandler(console=_err, show_path=False, markup=False)
    for name in _LOGGERS:
        log = logging.getLogger(name)
        log.handlers = [handler]
        log.setLevel(logging.WARNING if quiet else logging.INFO)
        log.propagate = False
    # libraries we drive: their warnings through the same handler, their chatter off
    for name in _LIBRARY_LOGGERS:
        log = logging.getLogger(name)
        log.handlers = [handler]
        log.setLevel(logging.ERROR if quiet else logging.WARNING)
        log.propagate = False
    try:
        yield
    except VruError as err:
        _err.print(f"[red]error:[/] {err}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


@contextmanager
def _progress(quiet: bool, label: str) -> Iterator[Callable[[int, int], None]]:
    if quiet or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def main() -> None:
    """Entry point for ``python -m vru``."""
    app()
