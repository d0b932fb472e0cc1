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
from governance.contracts.errors import ExtractError, VruError
from governance.contracts.layout import SOURCES, DataLayout
from training.config import PipelineConfig
from training.extracts import read_extract
from training.features.build import build_features
from training.generate import generate_city
from training.linkage.report import summary_lines
from training.model.config import ModelConfig
from training.tracking import log_to_active_run

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
    quiet: QuietOpt = False,
) -> None:
    """Link the agencies' extracts into one person spine, and report linkage quality."""
    with _stage(quiet):
        cfg = _pipeline_config(config, {"seed": seed, "link.threshold": threshold})
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
def features(config: ConfigOpt = None, data: DataOpt = None, quiet: QuietOpt = False) -> None:
    """Build cohorts, features and labels at each as-of date from the linked spine."""
    with _stage(quiet):
        cfg = _pipeline_config(config, {})
        data_dir = data or cfg.data_dir
        result = build_features(cfg.features, data_dir)
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


@app.command()
def audit(
    table: Annotated[
        Path, typer.Option("--table", help="A scored table (CSV or Parquet) to audit.")
    ],
    label: Annotated[str, typer.Option(help="Column with the observed outcome (0/1).")],
    score: Annotated[str, typer.Option(help="Column with the tool's score.")],
    sensitive: Annotated[
        str, typer.Option(help="Comma-separated group columns, e.g. sex,ethnicity.")
    ],
    threshold: Annotated[
        float | None, typer.Option(help="A positive prediction is score >= this.")
    ] = None,
    top_fraction: Annotated[
        float | None, typer.Option(help="Or: the top fraction of scores is positive.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default: audit-<table name>/).")
    ] = None,
    min_group_size: Annotated[
        int, typer.Option(help="Smaller groups are flagged, not judged.")
    ] = 30,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for the intervals.")] = 500,
    seed: SeedOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Audit any scored table for fairness by group (an existing tool's scores, say).

    Writes audit.json with, per sensitive column and their intersection, each group's count,
    base rate, selection rate, TPR, FPR, FNR, precision and ROC AUC, differences and ratios
    against the largest group, and bootstrap intervals. Only aggregates; never a row.
    """
    with _stage(quiet):
        from governance.fairness import audit_scored_table
        from training.storage import write_json_atomic

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
            seed=seed if seed is not None else 0,
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


keys_app = typer.Typer(help="The ethics board's signing keys.", no_args_is_help=True)
audit_log_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_log_app, name="audit-log")
DEFAULT_GOVERNANCE_CONFIG = Path("configs/governance.yaml")


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
        from governance.signing import generate_keypair

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
        from governance.audit_log import AuditLog
        from governance.config import GovernanceConfig

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


def _default_tracking() -> None:
    """The embedded SQLite store in the working directory unless MLFLOW_TRACKING_URI is set."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = DEFAULT_TRACKING_URI


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
