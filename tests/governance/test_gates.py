"""Gates: pass, fail, and a figure that was not measured fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.audit.gates import evaluate_gates
from governance.contracts.config import load_config
from governance.contracts.errors import ConfigError
from governance.contracts.settings import Gates, GovernanceConfig


def test_each_gate_reports_value_limit_and_verdict() -> None:
    results = {
        r.figure: r
        for r in evaluate_gates(
            Gates(), {"test_roc_auc": 0.81, "test_ece": 0.05, "equalized_odds_difference": 0.1}
        )
    }
    assert results["test_roc_auc"].passed and results["test_roc_auc"].limit == 0.70
    assert not results["test_ece"].passed and results["test_ece"].value == 0.05
    assert results["equalized_odds_difference"].passed  # at the limit passes
    assert results["test_ece"].direction == "at most"


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_an_unmeasured_figure_fails(missing: float | None) -> None:
    results = evaluate_gates(
        Gates(), {"test_roc_auc": 0.9, "test_ece": 0.01, "equalized_odds_difference": missing}
    )
    eod = results[-1]
    assert not eod.passed and eod.note == "not measured" and eod.value is None


def test_shipped_governance_config_is_valid() -> None:
    config = load_config(Path("configs/governance.yaml"), GovernanceConfig)
    assert config.gates.min_group_size == 30 and config.board_public_key_b64 is None


def test_a_bad_gate_is_named(tmp_path: Path) -> None:
    path = tmp_path / "governance.yaml"
    path.write_text("gates:\n  min_test_roc_auc: 0.3\n")
    with pytest.raises(
        ConfigError,
        match=r"'gates.min_test_roc_auc' Input should be greater than or equal to 0.5 \(got 0.3\)",
    ):
        load_config(path, GovernanceConfig)
