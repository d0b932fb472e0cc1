"""`vru review` and `vru promote` as the board and data scientists use them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from governance.board.registry import CHAMPION
from tests.governance.test_approval import NAME, PLACEHOLDER_CARD, Board, log_card
from vru.cli import app

runner = CliRunner()


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Board, Path]:
    board = Board(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    config = tmp_path / "governance.yaml"
    config.write_text(
        yaml.safe_dump(
            {"board_public_key_b64": board.public, "audit_log": str(tmp_path / "log.jsonl")}
        )
    )
    return board, config


def test_review_then_promote(setup: tuple[Board, Path]) -> None:
    board, config = setup
    version = board.new_version(gates_pass=False)
    refused = runner.invoke(app, ["promote", "--version", version, "-g", str(config)])
    assert refused.exit_code == 1
    assert "no board decision" in refused.output
    assert "gate" not in refused.output  # nothing to waive before a decision exists

    review = [
        "review", "--version", version, "--decision", "approve",
        "--reason", "Gap explained by small numbers", "--signing-key", str(board.key),
        "-g", str(config),
    ]  # fmt: skip
    done = runner.invoke(app, review)
    assert done.exit_code == 0, done.output
    refused = runner.invoke(app, ["promote", "--version", version, "-g", str(config)])
    assert refused.exit_code == 1
    assert "not waived by the board: equalized_odds_difference" in refused.output

    done = runner.invoke(app, [*review, "--waive", "equalized_odds_difference"])
    assert done.exit_code == 0, done.output
    assert "waived: equalized_odds_difference" in done.output
    log_card(board, version, PLACEHOLDER_CARD)  # the config says environment: production
    refused = runner.invoke(app, ["promote", "--version", version, "-g", str(config)])
    assert refused.exit_code == 1
    assert "placeholder in: Data protection impact assessment (DPIA)" in " ".join(
        refused.output.split()
    )
    log_card(board, version, [("Equality impact assessment", "Status: completed")])
    promoted = runner.invoke(app, ["promote", "--version", version, "-g", str(config)])
    assert promoted.exit_code == 0, promoted.output
    assert board.registry.alias_version(NAME, CHAMPION) == version

    listed = runner.invoke(app, ["review", "--list", "-g", str(config)])
    assert listed.exit_code == 0 and "approve" in listed.output and "valid" in listed.output
    verified = runner.invoke(app, ["audit-log", "verify", "-g", str(config)])
    text = " ".join(verified.output.split())
    assert verified.exit_code == 0 and "3 entries, chain intact" in text


def test_review_needs_its_options_and_demo_needs_a_demo_environment(
    setup: tuple[Board, Path],
) -> None:
    board, config = setup
    version = board.new_version()
    missing = runner.invoke(app, ["review", "--version", version, "-g", str(config)])
    assert missing.exit_code == 2
    assert "--decision, --reason, --signing-key" in missing.output
    demo = [
        "review", "--demo", "--version", version, "--signing-key", str(board.key),
        "-g", str(config),
    ]  # fmt: skip
    refused = runner.invoke(app, demo)
    assert refused.exit_code == 2 and "environment: demo" in refused.output
    config.write_text(config.read_text() + "environment: demo\n")
    unlabelled = runner.invoke(app, demo)  # the legacy member's roster name is 'board'
    assert unlabelled.exit_code == 2
    assert "roster name does not start with DEMO" in " ".join(unlabelled.output.split())
    settings = yaml.safe_load(config.read_text())
    member = {
        "id": "demo-1",
        "name": "DEMO member",
        "public_key_b64": settings.pop("board_public_key_b64"),
    }
    config.write_text(yaml.safe_dump({**settings, "board": {"members": [member]}}))
    done = runner.invoke(app, demo)
    assert done.exit_code == 0, done.output
    assert "DEMO" in done.output


def test_review_revoke_withdraws_the_approval(setup: tuple[Board, Path], tmp_path: Path) -> None:
    board, config = setup
    settings = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**settings, "revocations_dir": str(tmp_path / "rev")}))
    version = board.new_version()
    board.review(version)
    log_card(board, version, [("Equality impact assessment", "Status: completed")])
    assert runner.invoke(app, ["promote", "--version", version, "-g", str(config)]).exit_code == 0
    revoke = ["review", "--revoke", "--version", version, "-g", str(config)]
    missing = runner.invoke(app, revoke)
    assert missing.exit_code == 2 and "needs --reason, --signing-key" in missing.output
    revoke += ["--reason", "Agreement withdrawn", "--signing-key", str(board.key)]
    done = runner.invoke(app, revoke)
    assert done.exit_code == 0, done.output
    assert len(list((tmp_path / "rev").glob("*.json"))) == 1
    refused = runner.invoke(app, ["promote", "--version", version, "-g", str(config)])
    assert refused.exit_code == 1
    assert "the approval was revoked by board" in " ".join(refused.output.split())
    verified = runner.invoke(app, ["audit-log", "verify", "-g", str(config)])
    assert verified.exit_code == 0, verified.output
