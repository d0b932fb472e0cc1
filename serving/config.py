"""Serving settings (``configs/serving.yaml``): where releases and keys are, limits, the server.

Defaults live here; the YAML holds overrides. ``vru serve`` loads the file with
:func:`load_serving_config`, and the app factory reads it again in each uvicorn worker from the
path in the ``VRU_SERVING_CONFIG`` environment variable (:func:`get_settings`), so no setting is
read at import time.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from governance.contracts.config import load_config
from governance.contracts.settings import GovernanceConfig

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_SERVING_CONFIG",
    "DEFAULT_TRACKING_URI",
    "AnonymousLimit",
    "CellKeyFloor",
    "DisclosureFloor",
    "DpFloor",
    "Pages",
    "RateLimit",
    "ServingConfig",
    "get_settings",
    "load_serving_config",
]

DEFAULT_SERVING_CONFIG = Path("configs/serving.yaml")
CONFIG_ENV = "VRU_SERVING_CONFIG"
"""The environment variable naming the serving YAML for the app factory (set by ``vru serve``)."""
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""The tracking store when neither the config nor ``MLFLOW_TRACKING_URI`` names one (as the CLI)."""


class RateLimit(BaseModel):
    """A token bucket per API key, in each server process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int = Field(
        default=600, ge=1, description="Sustained requests per minute allowed to one key."
    )
    burst: int = Field(
        default=60, ge=1, description="Requests one key may make at once above the sustained rate."
    )


class AnonymousLimit(BaseModel):
    """Requests without a valid key: a token bucket per client address, audited in aggregate.

    A refused request (401, or 429 past this limit) is not written to the audit log one by
    one: the gate counts them, and the audit writes one ``api.refused`` entry per route and
    status every ``audit_window_seconds``, with the count, so a flood cannot fill the log.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int = Field(
        default=30, ge=1, description="Sustained refusals per minute for one client address."
    )
    burst: int = Field(
        default=20, ge=1, description="Requests one address may make at once without a key."
    )
    max_addresses: int = Field(
        default=100_000,
        ge=100,
        description="Client addresses tracked at once; idle ones are dropped past this.",
    )
    audit_window_seconds: float = Field(
        default=60.0,
        gt=0.0,
        le=3600.0,
        description="How long refusals are counted before one aggregate entry is written.",
    )


class Pages(BaseModel):
    """The web pages for the ethics board and planners (:mod:`serving.pages`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_hours: float = Field(
        default=8.0, gt=0.0, le=24.0 * 30, description="How long a sign-in lasts at most."
    )
    idle_minutes: float = Field(
        default=30.0,
        gt=0.0,
        description="A session unused this long ends (sign in again).",
    )
    refresh_seconds: float = Field(
        default=60.0,
        ge=0.0,
        description="A page renews the session's idle clock (a new cookie) at most this often.",
    )
    session_secret_file: Path | None = Field(
        default=None,
        description="The secret that signs session cookies, created (mode 600) when missing; "
        "None: session.secret beside the key file. Every worker must read the same file.",
    )
    signed_out_file: Path | None = Field(
        default=None,
        description="SQLite file of the sessions signed out before they expired; None: "
        "signed-out.sqlite beside the key file. Every worker must use the same file.",
    )
    board_signing_key: Path | None = Field(
        default=None,
        description="The board's private key, held by the server to sign the board's "
        "decisions. None (the default): the page asks the board member for the key each time.",
    )
    model_name: str = Field(default="vru-risk", min_length=1, description="The registered model.")
    borough_grid: Path | None = Field(
        default=None,
        description="YAML mapping borough code to [row, column] of the tile map; None: "
        "London's 33 boroughs (a computed grid for codes it does not hold).",
    )

    def secret_path(self, keys_file: Path) -> Path:
        """Where the session secret is (``session.secret`` beside the key file by default)."""
        return self.session_secret_file or Path(keys_file).parent / "session.secret"

    def signed_out_path(self, keys_file: Path) -> Path:
        """Where signed-out sessions are kept (``signed-out.sqlite`` beside the key file)."""
        return self.signed_out_file or Path(keys_file).parent / "signed-out.sqlite"


class CellKeyFloor(BaseModel):
    """The least perturbation a cell-key release may have used (each the ``cellkey.*`` rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_perturbation: int = Field(default=3, ge=1, description="The least D allowed.")
    variance: float = Field(default=1.0, ge=0.0, description="The least V allowed.")
    small_count_variance: float = Field(
        default=1.5, ge=0.0, description="The least variance of small counts allowed."
    )
    expected_noise: float = Field(
        default=0.5, ge=0.0, description="The least noise on expected allowed (young people)."
    )


class DpFloor(BaseModel):
    """The most privacy loss a dp release may have been made with (each the ``dp.*`` rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epsilon: float = Field(default=1.0, gt=0.0, description="The largest epsilon per release.")
    max_total_epsilon: float = Field(
        default=10.0, gt=0.0, description="The largest budget cap over releases allowed."
    )


class DisclosureFloor(BaseModel):
    """The weakest disclosure rules a release may have been made with and still be served.

    A release's signed rules (``manifest.disclosure``) must be at least this strict, or the
    server refuses it: a release made with ``min_count: 1`` is never served, however well
    signed. Each method is judged by the rules it uses: ``rounding_base`` for ``threshold``,
    the perturbation table's ``cellkey.*`` parameters for ``cellkey``, the privacy loss
    ``dp.*`` for ``dp``. The defaults are the disclosure defaults (threshold 10, base 5; the
    cell-key method's D 3, V 1; epsilon 1 a release, a cap of 10 over releases).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    methods: tuple[str, ...] = Field(
        default=("threshold", "cellkey", "dp"),
        min_length=1,
        description="The disclosure methods a served release may have been made with.",
    )
    min_count: int = Field(default=10, ge=1, description="The least min_count allowed.")
    rounding_base: int = Field(
        default=5, ge=1, description="The least rounding_base allowed (method threshold)."
    )
    zeros_disclosive: bool = Field(
        default=True, description="True: a release must treat zero counts as disclosive."
    )
    differencing_margin: float = Field(
        default=0.1, ge=0.0, le=1.0, description="The least differencing_margin allowed."
    )
    cellkey: CellKeyFloor = Field(
        default_factory=CellKeyFloor,
        description="The least perturbation allowed (method cellkey).",
    )
    dp: DpFloor = Field(
        default_factory=DpFloor, description="The most privacy loss allowed (method dp)."
    )


class ServingConfig(BaseModel):
    """``configs/serving.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_version: Literal[1] = 1
    releases_dir: Path = Field(
        Path("releases"), description="Releases and the CURRENT pointer (written by vru release)."
    )
    programmes_dir: Path = Field(
        Path("programmes"),
        description="Published programme evaluations (written by vru evaluate --publish), each "
        "signed with the release key and verified before it is served.",
    )
    keys_file: Path = Field(
        Path("serving-keys/keys.json"),
        description="API keys, stored hashed (vru keys create|revoke|list).",
    )
    governance_config: Path | None = Field(
        Path("configs/governance.yaml"),
        description="Governance YAML: the board's public key and the audit log. "
        "None: governance defaults.",
    )
    audit_log: Path | None = Field(
        None, description="Where request audit entries go; None: the governance audit log."
    )
    release_public_key_b64: str | None = Field(
        None,
        description="The operator's release public key (`vru keys release-init` prints it); "
        "a release whose manifest it does not verify is never served. None: none is served.",
    )
    disclosure_floor: DisclosureFloor = DisclosureFloor()
    audit_flush_seconds: float = Field(
        default=0.5,
        gt=0.0,
        le=60.0,
        description="How often the background writer appends queued audit entries.",
    )
    audit_max_backlog: int = Field(
        default=200_000,
        ge=1,
        description="Audit records waiting to be written past which the audited routes answer "
        "503 (fail closed) until the writer catches up.",
    )
    rate_limit: RateLimit = RateLimit()
    anonymous: AnonymousLimit = AnonymousLimit()
    reload_poll_seconds: float = Field(
        default=30.0,
        ge=0.0,
        description="How often CURRENT is checked for a new release; 0 turns the poll off.",
    )
    keys_check_seconds: float = Field(
        default=2.0,
        ge=0.0,
        description="How often the key file is checked for created or revoked keys "
        "(0: on every request).",
    )
    max_page_size: int = Field(default=1000, ge=1, le=10_000)
    tracking_uri: str | None = Field(
        default=None,
        description="The MLflow tracking store of the model registry (board pages only); None: "
        "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory.",
    )
    pages: Pages = Pages()
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    def governance(self) -> GovernanceConfig:
        """The governance settings this server uses (board key, audit log)."""
        path = self.governance_config
        if path is not None and not path.is_file() and path == Path("configs/governance.yaml"):
            path = None  # the default file is optional, as for the other commands
        return load_config(path, GovernanceConfig)

    def registry_uri(self) -> str:
        """The tracking URI the board pages read the model registry from."""
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI

    def audit_log_path(self, governance: GovernanceConfig) -> Path:
        """Where request audit entries are appended."""
        return self.audit_log if self.audit_log is not None else governance.audit_log


def load_serving_config(
    path: Path | str | None, overrides: dict[str, object] | None = None
) -> ServingConfig:
    """Read the serving YAML (``None``: the default file if present, else the defaults)."""
    if path is None and DEFAULT_SERVING_CONFIG.is_file():
        path = DEFAULT_SERVING_CONFIG
    return load_config(path, ServingConfig, dict(overrides or {}))


@functools.cache
def get_settings() -> ServingConfig:
    """The serving settings named by ``VRU_SERVING_CONFIG`` (or the default file), read once."""
    return load_serving_config(os.environ.get(CONFIG_ENV) or None)
