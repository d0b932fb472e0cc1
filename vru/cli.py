"""The ``vru`` command: one subcommand per pipeline stage, assembled here.

This module only builds the Typer app (``vru.cli:app``, the script entry point) from the
command modules, in the order ``vru --help`` lists them:

- :mod:`vru.data_commands`: ``generate``, ``link``, ``features``, ``validate``;
- :mod:`vru.model_commands`: ``train``, ``compare``, ``audit``;
- :mod:`vru.board_commands`: ``review``, ``promote``, ``keys board-init``, ``audit-log verify``;
- :mod:`vru.serving_commands`: ``serve``, ``keys create|revoke|list``;
- :mod:`vru.release_command`: ``release``;
- :mod:`vru.evaluate_command`: ``evaluate --programme NAME``.

What they share (console, logging, the error contract, the options) is in :mod:`vru.console`.
splink, lightgbm and mlflow load in the commands that use them: ``vru --help`` and
``vru generate`` start quickly.
"""

from __future__ import annotations

import typer

from vru import (
    board_commands,
    data_commands,
    evaluate_command,
    model_commands,
    release_command,
    serving_commands,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="vru",
    help="vru-risk: linked multi-agency data, audited risk models, area-level releases only.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="The signing keys (board, audit logs, API).", no_args_is_help=True)
audit_log_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)

app.command("generate")(data_commands.generate)
app.command("link")(data_commands.link)
app.command("features")(data_commands.features)
app.command("train")(model_commands.train)
app.command("compare")(model_commands.compare)
app.command("audit")(model_commands.audit)
app.command("review")(board_commands.review)
app.command("promote")(board_commands.promote)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_log_app, name="audit-log")
serving_commands.register(app, keys_app)  # serve; keys create, revoke, list
release_command.register(app)  # release
evaluate_command.register(app)  # evaluate --programme NAME
app.command("validate")(data_commands.validate_extracts)
keys_app.command("board-init")(board_commands.board_init)
keys_app.command("log-init")(board_commands.log_init)
keys_app.command("release-init")(board_commands.release_init)
audit_log_app.command("verify")(board_commands.audit_log_verify)


def main() -> None:
    """Entry point for ``python -m vru``."""
    app()
