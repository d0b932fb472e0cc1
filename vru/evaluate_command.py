"""``vru evaluate --programme NAME``: did a prevention programme work? Registered by :func:`register`.

The work is :func:`training.evaluation.programme_evaluate.run_evaluate`; this module reads the
options and configs, and prints the answer.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from vru.console import (
    DataOpt,
    PipelineConfigOpt,
    QuietOpt,
    SeedOpt,
    default_config,
    default_tracking,
    err,
    pipeline_config,
    stage,
)

__all__ = ["DEFAULT_DISCLOSURE_CONFIG", "evaluate", "register"]

DEFAULT_DISCLOSURE_CONFIG = Path("configs/disclosure.yaml")


def register(app: typer.Typer) -> None:
    """Add ``vru evaluate`` to ``app``."""
    app.command("evaluate")(evaluate)


def evaluate(
    programme: Annotated[
        str, typer.Option("--programme", help="The programme's name in generate.programmes.")
    ],
    config: PipelineConfigOpt = None,
    data: DataOpt = None,
    disclosure: Annotated[
        Path | None,
        typer.Option(
            "--disclosure",
            help="Disclosure rules YAML (default: configs/disclosure.yaml if present).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where the report goes (default: evaluations/<programme>/)."),
    ] = None,
    placebos: Annotated[
        int, typer.Option("--placebos", help="Placebo fits behind each interval (at least 9).")
    ] = 39,
    selection_buffer: Annotated[
        int,
        typer.Option(
            "--selection-buffer",
            help="Years just before each start left out of the main estimate's fit "
            "(wards chosen after a bad year regress to the mean).",
        ),
    ] = 1,
    seed: SeedOpt = None,
    track: Annotated[bool, typer.Option(help="Log the evaluation as an MLflow run.")] = True,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Also publish the aggregate result, signed with the release key, where the "
            "planners' API reads it (--programmes-dir).",
        ),
    ] = False,
    programmes_dir: Annotated[
        Path,
        typer.Option(
            "--programmes-dir", help="Where published results go (serving.yaml programmes_dir)."
        ),
    ] = Path("programmes"),
    release_key: Annotated[
        Path | None,
        typer.Option(
            "--release-key",
            help="The operator's release private key (`vru keys release-init`); needed by "
            "--publish.",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Estimate a programme's effect on recorded serious violence in its wards, with checks.

    Writes result.json, report.md, report.html and event_study.png (area level only, under
    the disclosure rules) and logs them to the MLflow experiment 'vru-programmes'. With
    --publish, also writes the result, signed with the release key, for the planners' API
    and pages (a deliberate step: an exploratory evaluation is not shown to planners).
    """
    from governance.contracts.signing import load_private_key
    from governance.disclosure import load_disclosure_config
    from training.evaluation.programme_evaluate import run_evaluate

    with stage(quiet):
        signer = None
        if publish:
            if release_key is None:
                raise typer.BadParameter(
                    "--publish needs --release-key: an unsigned result is never served",
                    param_hint="--release-key",
                )
            signer = load_private_key(release_key)  # read before any work
        cfg = pipeline_config(config, {})
        rules = load_disclosure_config(default_config(disclosure, DEFAULT_DISCLOSURE_CONFIG))
        if track:
            default_tracking()
        result = run_evaluate(
            cfg,
            data or cfg.data_dir,
            programme,
            out_dir=out or Path("evaluations") / programme,
            disclosure=rules,
            placebos=placebos,
            seed=seed,
            selection_buffer=selection_buffer,
            track=track,
        )
        published = None
        if signer is not None:
            from datetime import UTC, datetime

            from training.evaluation.programme_publish import publish_programme

            published = publish_programme(
                result,
                programmes_dir,
                signer=signer,
                disclosure=rules,
                created=datetime.now(UTC).replace(microsecond=0),
            )
        if not quiet:
            err.print(f"[bold]Programme[/] {programme}: {result.treated_wards} wards treated")
            for e in [*result.estimates, *result.placebos]:
                shown = (
                    f"{_pct(e.effect)} (95% {_pct(e.low)} to {_pct(e.high)})"
                    if math.isfinite(e.effect)
                    else f"not estimable ({e.note})"
                )
                err.print(f"  {e.estimator:<20} {shown}")
            err.print(f"  report: {result.out_dir / 'report.html'}")
            if published is not None:
                err.print(f"  published for planners: {published}")


def _pct(value: float) -> str:
    return f"{100 * value:+.1f}%" if math.isfinite(value) else "not estimable"
