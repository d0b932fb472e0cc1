"""The data stages: ``vru generate``, ``vru link``, ``vru features`` and ``vru validate``.

Each loads the pipeline config, calls the function of ``training`` that owns the stage, logs
the run to the active MLflow run (if any) and reports on stderr. splink loads in ``link``
only, so ``vru --help`` and ``vru generate`` start quickly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from governance.contracts.layout import SOURCES, DataLayout
from training.extracts import read_extract
from training.features.build import run_features
from training.generate.run import run_generate
from training.linkage.report import summary_lines
from training.tracking import log_to_active_run
from vru.console import (
    DataOpt,
    PipelineConfigOpt,
    QuietOpt,
    SeedOpt,
    engine_option,
    err,
    pipeline_config,
    progress,
    stage,
)

__all__ = ["features", "generate", "link", "validate_extracts"]


def generate(
    config: PipelineConfigOpt = None,
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
    with stage(quiet):
        cfg = pipeline_config(config, {"seed": seed, "generate.persons": persons})
        data_dir = data or cfg.data_dir
        with progress(quiet, "Generating people") as advance:
            result = run_generate(cfg, data_dir, validate=validate, progress=advance)
        files: dict[str, Any] = result.manifest["files"]  # type: ignore[assignment]
        log_to_active_run(
            stage="generate",
            params={"seed": cfg.seed, "persons": result.manifest["persons"]},
            metrics={f"rows.{name}": meta["rows"] for name, meta in files.items()},
            artifacts=[DataLayout(data_dir).manifest],
        )
        if not quiet:
            err.print(f"[bold]Generated[/] {result.manifest['persons']:,} people in {data_dir}/")
            for name, meta in files.items():
                err.print(f"  {name:<32} {meta['rows']:>12,} rows")


def link(
    config: PipelineConfigOpt = None,
    data: DataOpt = None,
    seed: SeedOpt = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Match probability at or above which records are one person."),
    ] = None,
    engine: Annotated[
        str | None, engine_option("Where Splink runs: duckdb or spark (default: link.engine).")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            metavar="<path>",
            help="A trained model (a previous run's linked/model.json): score with it, "
            "no training (default: link.model).",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Link the agencies' extracts into one person spine, and report linkage quality."""
    with stage(quiet):
        cfg = pipeline_config(
            config,
            {
                "seed": seed,
                "link.threshold": threshold,
                "link.engine": engine,
                "link.model": str(model.resolve()) if model else None,
            },
        )
        data_dir = data or cfg.data_dir
        with progress(quiet, "Linking") as advance:
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
                err.print(line, highlight=False)
            err.print(f"spine, report and charts in {result.directory}/")


def features(
    config: PipelineConfigOpt = None,
    data: DataOpt = None,
    engine: Annotated[
        str | None,
        engine_option("Where the SQL runs: duckdb or spark (default: features.engine)."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Build cohorts, features and labels at each as-of date from the linked spine."""
    with stage(quiet):
        cfg = pipeline_config(config, {"features.engine": engine})
        data_dir = data or cfg.data_dir
        result = run_features(cfg.features, data_dir, spark=cfg.spark)
        log_to_active_run(
            stage="features",
            params={"outcome": cfg.features.outcome},
            metrics={"rows": result.manifest["rows"], "features": len(result.manifest["features"])},
            artifacts=[result.path.parent / "manifest.json"],
        )
        if not quiet:
            for date, counts in result.manifest["per_as_of_date"].items():
                err.print(
                    f"{date}: {counts['rows']:,} young people, {counts['positives']:,} with the outcome"
                    f"{'' if counts['label_complete'] else ' (label window not complete)'}",
                    highlight=False,
                )
            err.print(f"features and manifest in {result.path.parent}/")


def validate_extracts(data: DataOpt = None, quiet: QuietOpt = False) -> None:
    """Check each extract in DIR/extracts/ against its schema (names file, column and rows)."""
    with stage(quiet):
        layout = DataLayout(data or Path("data"))
        for source in SOURCES:
            frame = read_extract(layout.extract(source), source)
            if not quiet:
                err.print(f"{layout.extract(source)}: {len(frame):,} rows, schema OK")
