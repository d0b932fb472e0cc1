"""Gates: pass, fail, and a figure that was not measured fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.audit.calibration import expected_calibration_error
from governance.audit.gates import evaluate_gates, gate_figures
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
    eod = {r.figure: r for r in results}["equalized_odds_difference"]
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


def _judged(logged: dict[str, float | None], recomputed: dict[str, float | None]) -> dict:
    figures = gate_figures(logged, recomputed, [0.05, None, 0.08])
    return {r.figure: r for r in evaluate_gates(Gates(), figures)}


def test_gates_judge_the_audits_figures_not_what_the_run_logged() -> None:
    """The attack: log a flattering ROC AUC and ECE to the run; the gates must not believe it."""
    forged = {"test_roc_auc": 0.93, "test_ece": 0.001}
    recomputed = {"test_roc_auc": 0.65, "test_ece": 0.03}
    judged = _judged(forged, recomputed)
    assert judged["test_roc_auc"].value == 0.65 and not judged["test_roc_auc"].passed
    assert judged["test_ece"].value == 0.03 and not judged["test_ece"].passed
    agree = judged["logged_figure_difference"]
    assert not agree.passed and agree.value == pytest.approx(0.28)
    assert judged["equalized_odds_difference"].value == 0.08  # the worst dimension


def test_logged_figures_that_agree_pass_and_a_missing_one_fails() -> None:
    same = {"test_roc_auc": 0.81, "test_ece": 0.004}
    assert _judged(same, same)["logged_figure_difference"].passed
    unlogged = _judged({"test_roc_auc": 0.81}, same)["logged_figure_difference"]
    assert not unlogged.passed and unlogged.note == "not measured"


def test_the_agreement_gate_passes_at_its_limit_and_fails_past_it() -> None:
    gates = Gates(max_logged_difference=0.25)  # differences exact in binary
    recomputed = {"test_roc_auc": 0.75, "test_ece": 0.5}

    def agree(auc: float) -> bool:
        figures = gate_figures({"test_roc_auc": auc, "test_ece": 0.5}, recomputed, [])
        return {r.figure: r for r in evaluate_gates(gates, figures)}[
            "logged_figure_difference"
        ].passed

    assert agree(0.5) and agree(1.0)  # 0.25 either way: at the limit
    assert not agree(0.375 + 0.0625)  # 0.3125 away


def test_ece_takes_absolute_gaps_over_equal_count_parts() -> None:
    # two parts of two rows: predicted 0.1 (observed 0.0) and 0.4 (observed 0.5)
    y = [0, 0, 1, 0]
    p = [0.1, 0.1, 0.4, 0.4]
    # (2 * |0.0 - 0.1| + 2 * |0.5 - 0.4|) / 4 = 0.1: signed gaps would cancel to 0
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.1)
    assert expected_calibration_error([0, 1], [0.0, 1.0], bins=2) == 0.0
