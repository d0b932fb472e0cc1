"""What every ``vru`` command shares: the console, logging, the error contract, the options.

Each command module (:mod:`vru.data_commands`, :mod:`vru.model_commands`,
:mod:`vru.board_commands`, :mod:`vru.serving_commands`, :mod:`vru.release_command`) imports
from here and from the libraries, never from :mod:`vru.cli`, which only assembles the app.

- Output: results a script reads go to stdout with ``typer.echo``; messages for the person
  at the terminal go to stderr through :data:`err`, so piping a command's stdout stays clean.
- Logging: :func:`stage` configures the project's loggers (and the libraries' we drive),
  never the root logger.
- Errors: a :class:`~governance.contracts.errors.VruError` a user can cause ends, in
  :func:`stage`, with one line on stderr and exit code 2; a refusal (an unapproved
  promotion or release, a tampered log) ends through :func:`refuse` with exit code 1.
- Options: each option that several commands take is defined once below, so it is spelled
  one way everywhere: ``--data``, ``--config/-c`` (the command's own config),
  ``--governance-config/-g``, ``--model``, ``--seed``, ``--engine``, ``--quiet/-q``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from governance.contracts.config import load_config
from governance.contracts.errors import VruError
from training.config import PipelineConfig

if TYPE_CHECKING:
    from governance.contracts.settings import GovernanceConfig

__all__ = [
    "DEFAULT_GOVERNANCE_CONFIG",
    "DEFAULT_MODEL_NAME",
    "DEFAULT_PIPELINE_CONFIG",
    "DEFAULT_TRACKING_URI",
    "DataOpt",
    "GovernanceOpt",
    "ModelOpt",
    "PipelineConfigOpt",
    "QuietOpt",
    "SeedOpt",
    "config_option",
    "default_config",
    "default_tracking",
    "engine_option",
    "err",
    "governance_config",
    "pipeline_config",
    "progress",
    "refuse",
    "stage",
    "steps",
]

err = Console(stderr=True)
"""Messages for the person at the terminal (stderr); stdout is left to results."""

_LOGGERS = ("vru", "training", "governance", "serving")
_LIBRARY_LOGGERS = ("splink",)

DEFAULT_PIPELINE_CONFIG = Path("configs/pipeline.yaml")
DEFAULT_GOVERNANCE_CONFIG = Path("configs/governance.yaml")
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_MODEL_NAME = "vru-risk"


# -- the shared options ----------------------------------------------------------------------


def config_option(kind: str, default: Path) -> Any:
    """``--config/-c``: the command's own YAML, ``default`` when present.

    One spelling for every command; only the kind of config in the help differs.
    """
    return typer.Option("--config", "-c", help=f"{kind} YAML (default: {default} if present).")


def engine_option(help: str) -> Any:
    """``--engine``: where a stage's SQL or scoring runs (duckdb or spark); ``help`` says which."""
    return typer.Option("--engine", help=help)


PipelineConfigOpt = Annotated[Path | None, config_option("Pipeline", DEFAULT_PIPELINE_CONFIG)]
DataOpt = Annotated[Path | None, typer.Option("--data", help="Data directory (default: data/).")]
GovernanceOpt = Annotated[
    Path | None,
    typer.Option(
        "--governance-config",
        "-g",
        help=f"Governance YAML (default: {DEFAULT_GOVERNANCE_CONFIG}).",
    ),
]
ModelOpt = Annotated[str, typer.Option("--model", help="Registered model name.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for every random step.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]


# -- configs and tracking --------------------------------------------------------------------


def default_config(path: Path | None, default: Path) -> Path | None:
    """The config file to read: ``path`` if given, else ``default`` if it exists, else none.

    None means the config model's own defaults (they live only in the model).
    """
    if path is None and default.is_file():
        return default
    return path


def pipeline_config(path: Path | None, overrides: dict[str, Any]) -> PipelineConfig:
    """The pipeline config (``configs/pipeline.yaml`` by default) with command-line overrides."""
    return load_config(default_config(path, DEFAULT_PIPELINE_CONFIG), PipelineConfig, overrides)


def governance_config(path: Path | None) -> GovernanceConfig:
    """The governance config (``configs/governance.yaml`` by default)."""
    from governance.contracts.settings import GovernanceConfig

    return load_config(default_config(path, DEFAULT_GOVERNANCE_CONFIG), GovernanceConfig)


def default_tracking() -> None:
    """The embedded SQLite store in the working directory unless MLFLOW_TRACKING_URI is set."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = DEFAULT_TRACKING_URI
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


# -- running a command -----------------------------------------------------------------------


@contextmanager
def stage(quiet: bool) -> Iterator[None]:
    """Logging for one command, and the one-line error contract (exit code 2)."""
    handler = RichHandler(console=err, show_path=False, markup=False)
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
    except VruError as error:
        err.print(f"[red]error:[/] {error}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


def refuse(message: str) -> NoReturn:
    """Print ``message`` (rich markup) on stderr and exit 1: the command was refused.

    For refusals the user cannot fix by correcting the command line: an unapproved version,
    a tampered audit log. Input errors go through :func:`stage` instead (exit 2).
    """
    err.print(message, highlight=False)
    raise typer.Exit(1) from None


@contextmanager
def steps(quiet: bool) -> Iterator[Callable[[str], None]]:
    """Name each step of a long command as it starts."""
    if quiet:
        yield lambda step: None
        return
    with err.status("starting") as status:

        def step(name: str) -> None:
            status.update(name)
            logging.getLogger("vru").info("%s", name)

        yield step


@contextmanager
def progress(quiet: bool, label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on a terminal, fed ``advance(done, total)``; nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
