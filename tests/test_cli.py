"""The `vru` command: exit codes, one-line errors, and nothing written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from vru.cli import app

runner = CliRunner()


def test_generate_writes_a_city_and_reports_it(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["generate", "--data", str(tmp_path), "--persons", "300", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["persons"] == 300 and manifest["seed"] == 3
    assert "extracts/health.parquet" in result.output


def test_bad_value_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--data", str(tmp_path / "d"), "--persons", "5"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "'generate.persons' Input should be greater than or equal to 100 (got 5)" in lines[0]
    assert not (tmp_path / "d").exists()


def test_bad_config_file_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("generate:\n  noise:\n    stale_postcode: -0.1\n")
    result = runner.invoke(app, ["generate", "--config", str(cfg), "--data", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert f"{cfg}: 'generate.noise.stale_postcode'" in result.output


def test_validate_reports_a_malformed_extract(tmp_path: Path) -> None:
    assert (
        runner.invoke(app, ["generate", "--data", str(tmp_path), "-n", "300", "-q"]).exit_code == 0
    )
    ok = runner.invoke(app, ["validate", "--data", str(tmp_path)])
    assert ok.exit_code == 0 and "schema OK" in ok.output
    path = tmp_path / "extracts" / "education.parquet"
    frame = pd.read_parquet(path)
    frame.loc[2, "gender"] = "X"
    frame.to_parquet(path)
    bad = runner.invoke(app, ["validate", "--data", str(tmp_path)])
    assert bad.exit_code == 2
    assert (
        "education.parquet: column 'gender' failed 'isin" in bad.output and "rows [2]" in bad.output
    )


def test_the_installed_command_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vru", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "generate" in done.stdout


def _scored(tmp_path: Path) -> Path:
    import numpy as np

    rng = np.random.default_rng(4)
    n = 2_000
    sex = rng.choice(["F", "M"], n)
    y = rng.random(n) < np.where(sex == "M", 0.2, 0.1)
    frame = pd.DataFrame(
        {
            "outcome": y.astype(int),
            "risk": rng.random(n) + 0.3 * y,
            "sex": sex,
            "area": rng.choice(["A", "B", "C"], n),
            "age_band": rng.choice(["10-13", "14-17"], n),
        }
    )
    path = tmp_path / "tool_scores.csv"
    frame.to_csv(path, index=False)
    return path


def test_audit_any_scored_table(tmp_path: Path) -> None:
    path = _scored(tmp_path)
    out = tmp_path / "out"
    args = [
        "audit",
        "--table",
        str(path),
        "--label",
        "outcome",
        "--score",
        "risk",
        "--sensitive",
        "sex,area,age_band",
        "--top-fraction",
        "0.1",
        "--out",
        str(out),
        "--permutations",
        "200",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    audit = json.loads((out / "audit.json").read_text())
    assert audit["rows"] == 2_000
    assert set(audit["by"]) == {
        "sex",
        "area",
        "age_band",
        "sex × area",
        "sex × age_band",
        "area × age_band",
        "sex × area × age_band",
    }
    female = audit["by"]["sex"]["F"]
    assert {
        "count",
        "base_rate",
        "selection_rate",
        "tpr",
        "fpr",
        "fnr",
        "precision",
        "roc_auc",
    } <= set(female)
    assert "equalized odds difference" in result.output
    assert "permutation p = " in result.output
    assert audit["summary"]["sex"]["equalized_odds_p_value"] is not None
    assert max(len(v) for v in _lists(audit)) <= 2


def _lists(obj: object) -> list[list[object]]:
    found: list[list[object]] = []
    if isinstance(obj, dict):
        for value in obj.values():
            found += _lists(value)
    elif isinstance(obj, list):
        found.append(obj)
        for value in obj:
            found += _lists(value)
    return found


def test_audit_names_a_missing_column(tmp_path: Path) -> None:
    path = _scored(tmp_path)
    args = [
        "audit",
        "--table",
        str(path),
        "--label",
        "outcome",
        "--score",
        "score",
        "--sensitive",
        "sex",
        "--threshold",
        "0.5",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    message = " ".join(result.output.split())  # rich wraps long lines
    assert (
        "Column 'score' (score) is not in the table; its columns are ['outcome', 'risk', 'sex', 'area', 'age_band']"
        in message
    )


def test_board_keys_and_audit_log_verification(tmp_path: Path) -> None:
    from governance.board.audit_log import AuditLog
    from governance.contracts.signing import (
        Decision,
        load_private_key,
        sign_decision,
        verify_decision,
    )

    made = runner.invoke(
        app,
        [
            "keys",
            "board-init",
            "--private-key",
            str(tmp_path / "board.pem"),
            "--public-key",
            str(tmp_path / "board.pub"),
        ],
    )
    assert made.exit_code == 0, made.output
    public_b64 = made.output.splitlines()[0].strip()
    decision = Decision(
        model="vru-risk",
        version="3",
        report_sha256="a" * 64,
        decision="approve",
        reviewer="Board chair",
        reasons="Gates pass.",
        decided_at="2026-11-25T10:00:00+00:00",
    )
    verify_decision(
        decision, sign_decision(decision, load_private_key(tmp_path / "board.pem")), public_b64
    )
    again = runner.invoke(
        app,
        [
            "keys",
            "board-init",
            "--private-key",
            str(tmp_path / "board.pem"),
            "--public-key",
            str(tmp_path / "board.pub"),
        ],
    )
    assert again.exit_code == 2 and "board.pem" in again.output  # never overwritten by accident

    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(3):
        log.append("review", {"version": str(i)}, actor="board")
    ok = runner.invoke(app, ["audit-log", "verify", "--log", str(log.path)])
    assert ok.exit_code == 0 and "3 entries, chain intact" in " ".join(ok.output.split())
    lines = log.path.read_text().splitlines()
    lines[1] = lines[1].replace('"version":"1"', '"version":"9"')
    log.path.write_text("\n".join(lines) + "\n")
    bad = runner.invoke(app, ["audit-log", "verify", "--log", str(log.path)])
    assert (
        bad.exit_code == 1
        and "tampered" in bad.output
        and "entry 1" in " ".join(bad.output.split())
    )
