"""``vru serve`` and ``vru keys create|revoke|list``, registered by :func:`register`.

:mod:`vru.cli` calls ``register(app, keys_app)``; a test may build an app of its own the same
way. The CLI's shared helpers (logging, the one-line error contract, the shared options) come
from :mod:`vru.console`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from governance.contracts.errors import ConfigError
from serving.config import CONFIG_ENV, DEFAULT_SERVING_CONFIG, ServingConfig, load_serving_config
from vru.console import QuietOpt, config_option, default_config, err, stage

if TYPE_CHECKING:
    from governance.board.audit_log import AuditLog

__all__ = ["create_command", "list_command", "register", "revoke_command", "serve_command"]

ServingConfigOpt = Annotated[Path | None, config_option("Serving", DEFAULT_SERVING_CONFIG)]
_NO_FAST_LOOP = (
    "uvicorn[standard] is not fully installed (missing {missing}); `vru serve` needs uvloop "
    "and httptools (run `make install`)"
)


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    """Add ``vru serve`` to ``app`` and ``create``, ``revoke``, ``list`` to ``keys_app``."""
    app.command("serve")(serve_command)
    keys_app.command("create")(create_command)
    keys_app.command("revoke")(revoke_command)
    keys_app.command("list")(list_command)


def serve_command(
    config: ServingConfigOpt = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: config).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: config).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="uvicorn worker processes (default: config).")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Serve the planners' API: verified area-level releases only, with keys and an audit.

    Reads the release CURRENT names in the releases directory, verifies its board approval
    with the public key in the governance config, and serves it with uvicorn (uvloop,
    httptools). Not ready (/readyz 503) until a verified release is loaded; a new one is
    picked up by the poll of CURRENT or by POST /v1/admin/reload.
    """
    with stage(quiet):
        import uvicorn

        missing = [m for m in ("uvloop", "httptools") if importlib.util.find_spec(m) is None]
        if missing:
            raise ConfigError(_NO_FAST_LOOP.format(missing=", ".join(missing)))
        path = default_config(config, DEFAULT_SERVING_CONFIG)
        cfg = load_serving_config(path, {"host": host, "port": port, "workers": workers})
        governance = cfg.governance()  # a bad governance file fails here, not in a worker
        if governance.board_roster() is None:
            err.print(
                "[yellow]warning:[/] no board (roster) in the governance config: no "
                "release can be verified, the server will not be ready",
                highlight=False,
            )
        if path is not None:
            os.environ[CONFIG_ENV] = str(Path(path).resolve())  # read again by each worker
        else:
            os.environ.pop(CONFIG_ENV, None)
        if not quiet:
            err.print(
                f"serving releases from {cfg.releases_dir}/ on http://{cfg.host}:{cfg.port} "
                f"({cfg.workers} worker{'s' if cfg.workers > 1 else ''}); keys "
                f"{cfg.keys_file}; audit log {cfg.audit_log_path(governance)}; docs at /docs",
                highlight=False,
            )
        uvicorn.run(
            "serving.app:create_app",
            factory=True,
            host=cfg.host,
            port=cfg.port,
            workers=cfg.workers,
            loop="uvloop",
            http="httptools",
            access_log=False,  # every request is in the audit log instead
            log_level="warning" if quiet else "info",
        )


def create_command(
    role: Annotated[str, typer.Option(help="planner, board or admin.")],
    name: Annotated[str, typer.Option(help="Who or what holds the key, e.g. 'Hackney VRU'.")],
    config: ServingConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Create an API key and print its token once (only its hash is stored)."""
    with stage(quiet):
        from serving.keys import create_key

        cfg, audit_log = _serving(config)
        key, token = create_key(cfg.keys_file, role=role, name=name)
        audit_log.append(
            "api_key.created",
            {"key_id": key.key_id, "role": key.role, "name": key.name},
            actor="cli:keys",
        )
        typer.echo(token)
        if not quiet:
            err.print(
                f"key {key.key_id} ({key.role}, {key.name}) added to {cfg.keys_file}. The token "
                "above is shown once and stored nowhere: hand it over now.",
                highlight=False,
            )


def revoke_command(
    key_id: Annotated[str, typer.Argument(help="The key's id (`vru keys list`).")],
    config: ServingConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Revoke an API key: from the server's next key check on, its requests get 401."""
    with stage(quiet):
        from serving.keys import revoke_key

        cfg, audit_log = _serving(config)
        key = revoke_key(cfg.keys_file, key_id)
        audit_log.append(
            "api_key.revoked",
            {"key_id": key.key_id, "role": key.role, "name": key.name},
            actor="cli:keys",
        )
        if not quiet:
            err.print(
                f"key {key.key_id} ({key.role}, {key.name}) revoked; running servers refuse "
                f"it within keys_check_seconds ({cfg.keys_check_seconds:g} s)",
                highlight=False,
            )


def list_command(config: ServingConfigOpt = None, quiet: QuietOpt = False) -> None:
    """List API keys: id, role, name, created, revoked (never a secret or its hash)."""
    with stage(quiet):
        from serving.keys import list_keys

        cfg, _ = _serving(config)
        keys = list_keys(cfg.keys_file)
        if not keys and not quiet:
            err.print(f"{cfg.keys_file}: no keys", highlight=False)
        for key in keys:
            state = f"revoked {key.revoked}" if key.revoked else "active"
            typer.echo(f"{key.key_id}  {key.role:<7}  {key.created}  {state:<10}  {key.name}")


def _serving(config: Path | None) -> tuple[ServingConfig, AuditLog]:
    """The serving config and the audit log it writes to (with the logs' key, if configured)."""
    from governance.board.audit_log import AuditLog

    cfg = load_serving_config(default_config(config, DEFAULT_SERVING_CONFIG))
    governance = cfg.governance()
    return cfg, AuditLog.from_config(governance, cfg.audit_log_path(governance))
