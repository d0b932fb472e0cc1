"""Governance settings (``configs/governance.yaml``): gates, the board's public key, the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Gates", "GovernanceConfig"]


class Gates(BaseModel):
    """Limits a model version must meet before it may be promoted (or a board waiver)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_test_roc_auc: float = Field(default=0.70, ge=0.5, le=1.0)
    max_expected_calibration_error: float = Field(default=0.02, gt=0.0, le=1.0)
    max_equalized_odds_difference: float = Field(
        default=0.10,
        gt=0.0,
        le=1.0,
        description="Largest gap in TPR or FPR between groups large enough to judge.",
    )
    min_group_size: int = Field(
        default=30, ge=1, description="Smaller groups are flagged, not judged."
    )


class GovernanceConfig(BaseModel):
    """``configs/governance.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_version: Literal[1] = 1
    gates: Gates = Gates()
    board_public_key_b64: str | None = Field(
        None, description="The ethics board's Ed25519 public key (`vru keys board-init` prints it)."
    )
    audit_log: Path = Field(
        Path("governance-log/audit-log.jsonl"),
        description="The append-only, hash-chained audit log.",
    )
