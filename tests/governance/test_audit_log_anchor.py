"""Signed checkpoints: an attacker who can write the log (not the key) is caught.

Each attack here passed the chain-only ``verify`` ("chain intact") before checkpoints.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board.audit_log import AuditLog, AuditLogError
from governance.board.log_anchor import Checkpoint, write_anchor
from governance.contracts.settings import GovernanceConfig
from governance.contracts.signing import Decision, sign_decision

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def _b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _log(tmp_path: Path, key: Ed25519PrivateKey, n: int = 6) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl", signing_key=key)
    for i in range(n):
        log.append("model.registered", {"version": str(i)}, actor="cli:train", at=T0)
    return log


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _rechain(log: AuditLog, entries: list[dict[str, Any]], start: int) -> None:
    """What an attacker without the key does: recompute every hash from ``start`` on."""
    prev = entries[start - 1]["hash"] if start else "0" * 64
    for entry in entries[start:]:
        entry["prev"] = prev
        body = {k: v for k, v in entry.items() if k != "hash"}
        entry["hash"] = prev = hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()
    log.path.write_text("".join(_canonical(e) + "\n" for e in entries), encoding="utf-8")


def _cut(log: AuditLog, k: int) -> None:
    lines = log.path.read_text(encoding="utf-8").splitlines()
    log.path.write_text("".join(line + "\n" for line in lines[:-k]), encoding="utf-8")


def test_the_happy_path_verifies_with_a_checkpoint_on_every_append(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    log = _log(tmp_path, key, 3)
    log.append_many([("api.request", {"status": 200}, "api:k", T0)] * 4)
    result = log.verify(_b64(key))
    assert result.ok and result.problems == () and result.entries == 7
    assert result.checkpoint is not None
    assert (result.checkpoint.seq, result.checkpoint.count) == (6, 7)
    assert result.checkpoint.hash == log.entries()[-1]["hash"]
    assert log.anchor_path == tmp_path / "audit.jsonl.anchor"


def test_cutting_the_last_entries_is_named_as_truncation(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    log = _log(tmp_path, key, 6)
    _cut(log, 2)
    assert log.verify().ok  # the chain alone cannot see it
    result = log.verify(_b64(key))
    assert not result.ok
    assert result.problems == (
        "truncated: the signed checkpoint covers 6 entries (up to seq 5), the log has 4; "
        "entries 4..5 were removed",
    )
    # the writer will not sign over the cut log either (that would hide the cut)
    with pytest.raises(AuditLogError, match=r"refusing to append .* truncated"):
        log.append_many([("api.request", {}, "api:k", T0)])
    with pytest.raises(AuditLogError, match=r"refusing to append .* truncated"):
        log.append("x", {}, actor="t")


def test_a_rewritten_and_rechained_entry_is_found(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    log = _log(tmp_path, key, 6)
    entries = log.entries()
    entries[2]["details"] = {"version": "99"}
    _rechain(log, entries, 2)
    assert log.verify().ok  # "chain intact"
    result = log.verify(_b64(key))
    assert result.problems == (
        "entry 5: hash differs from the signed checkpoint's (the log was rewritten at or "
        "before entry 5 and the chain recomputed)",
    )
    with pytest.raises(AuditLogError, match="entry 5: hash differs from the signed checkpoint"):
        log.append_many([("api.request", {}, "api:k", T0)])


def test_rechaining_and_appending_is_found_and_never_signed_over(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    log = _log(tmp_path, key, 4)
    entries = log.entries()
    entries[1]["actor"] = "someone else"
    entries.append({**entries[-1], "seq": 4})
    _rechain(log, entries, 1)
    result = log.verify(_b64(key))
    assert [p.split(":")[0] for p in result.problems] == ["entry 3", "entries 4..4"]
    with pytest.raises(AuditLogError, match="entry 3: hash differs"):
        log.append("x", {}, actor="t")


def test_an_anchor_forged_without_the_key_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    log = _log(tmp_path, key, 6)
    _cut(log, 2)
    last = log.entries()[-1]
    forged = Checkpoint(log="audit.jsonl", seq=3, hash=last["hash"], count=4, at="2024-05-01")
    write_anchor(log.anchor_path, forged, Ed25519PrivateKey.generate())
    result = log.verify(_b64(key))
    assert result.problems == (
        f"{log.anchor_path}: the checkpoint's signature does not verify with the log's public "
        "key (the anchor was edited, forged without the key, or signed with another key)",
    )
    with pytest.raises(AuditLogError, match="signature does not verify"):
        log.append("x", {}, actor="t")
    # editing the genuine anchor's figures breaks its signature the same way
    log = _log(tmp_path / "b", key, 6)
    anchor = json.loads(log.anchor_path.read_text())
    log.anchor_path.write_text(json.dumps({**anchor, "seq": 3, "count": 4}))
    assert "signature does not verify" in str(log.verify(_b64(key)).problem)


def test_a_deleted_or_misplaced_anchor_is_named(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    log = _log(tmp_path, key, 3)
    other = AuditLog(tmp_path / "requests.jsonl", signing_key=key)
    other.append_many([("api.request", {}, "api:k", T0)] * 3)
    other.anchor_path.replace(log.anchor_path)  # a genuine anchor, of another log
    assert log.verify(_b64(key)).problems == (
        f"{log.anchor_path}: the checkpoint is for the log 'requests.jsonl', not 'audit.jsonl'",
    )
    log.anchor_path.unlink()
    assert log.verify(_b64(key)).problems == (
        f"{log.anchor_path}: no signed checkpoint for a log of 3 entries (the anchor is missing)",
    )
    with pytest.raises(AuditLogError, match="anchor file missing"):
        log.append("x", {}, actor="t")


def test_entries_added_without_the_key_are_not_covered(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    log = _log(tmp_path, key, 3)
    AuditLog(log.path).append_many([("api.request", {}, "api:k", T0)] * 2)
    assert log.verify(_b64(key)).problems == (
        "entries 3..4: after the last signed checkpoint (seq 2), covered by no signature "
        "(added without the log key, or a writer stopped before its checkpoint)",
    )


def _decision_log(tmp_path: Path, key: Ed25519PrivateKey, board: Ed25519PrivateKey) -> AuditLog:
    decision = Decision(
        model="vru-risk",
        version="3",
        report_sha256="a" * 64,
        decision="approve",
        reviewer="A. Khan",
        reasons="fine",
        decided_at="2024-05-01T09:30:00+00:00",
        waived_gates=("ece",),
    )
    details = {
        **asdict(decision),
        "waived_gates": ["ece"],
        "signature": sign_decision(decision, board),
    }
    log = _log(tmp_path, key, 1)
    log.append("review.decision", details, actor="board:A. Khan", at=T0 + timedelta(minutes=1))
    return log


def test_embedded_board_signatures_are_checked(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    board = Ed25519PrivateKey.generate()
    log = _decision_log(tmp_path, key, board)
    assert log.verify(_b64(key), board_public_key_b64=_b64(board)).ok
    entries = log.entries()
    signature = entries[1]["details"]["signature"]
    entries[1]["details"]["signature"] = (
        signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    )
    _rechain(log, entries, 1)
    write_anchor(  # even with the log key, a board signature cannot be forged
        log.anchor_path,
        Checkpoint(log="audit.jsonl", seq=1, hash=log.entries()[1]["hash"], count=2, at="t"),
        key,
    )
    result = log.verify(_b64(key), board_public_key_b64=_b64(board))
    assert len(result.problems) == 1
    assert result.problem is not None
    assert result.problem.startswith("entry 1: its embedded signature does not verify: ")
    assert "model 'vru-risk' version '3'" in result.problem
    # the decision changed and the signature kept: refused the same way
    entries[1]["details"]["signature"] = signature
    entries[1]["details"]["decision"] = "reject"
    _rechain(log, entries, 1)
    assert "embedded signature does not verify" in str(
        log.verify(board_public_key_b64=_b64(board)).problem
    )
    unchecked = log.verify()  # without the board's key: counted, not checked
    assert unchecked.ok and unchecked.signed_entries == 1


def test_from_config_reads_the_key_and_the_anchor_directory(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "log.key").write_bytes(pem)
    config = GovernanceConfig(
        audit_log=tmp_path / "logs" / "audit.jsonl",
        audit_log_key=tmp_path / "log.key",
        audit_log_public_key_b64=_b64(key),
        audit_log_anchor_dir=tmp_path / "anchors",
    )
    log = AuditLog.from_config(config)
    log.append("x", {}, actor="t")
    requests = AuditLog.from_config(config, tmp_path / "logs" / "requests.jsonl")
    requests.append_many([("api.request", {}, "api:k", T0)])
    assert sorted(p.name for p in (tmp_path / "anchors").iterdir()) == [
        "audit.jsonl.anchor",
        "requests.jsonl.anchor",
    ]
    assert log.verify(config.audit_log_public_key_b64).ok
    assert requests.verify(config.audit_log_public_key_b64).ok


def test_the_cli_makes_the_key_and_verify_reports_each_problem(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vru.cli import app

    runner = CliRunner()
    made = runner.invoke(
        app,
        ["keys", "log-init", "--private-key", str(tmp_path / "log.pem"),
         "--public-key", str(tmp_path / "log.pub")],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    public = made.output.splitlines()[0]
    assert (tmp_path / "log.pem").stat().st_mode & 0o777 == 0o600
    config = tmp_path / "governance.yaml"
    config.write_text(
        json.dumps(
            {
                "audit_log": str(tmp_path / "audit.jsonl"),
                "audit_log_key": str(tmp_path / "log.pem"),
                "audit_log_public_key_b64": public,
            }
        )
    )
    log = AuditLog.from_config(GovernanceConfig.model_validate_json(config.read_text()))
    for i in range(5):
        log.append("model.registered", {"version": str(i)}, actor="cli:train", at=T0)
    ok = runner.invoke(app, ["audit-log", "verify", "-g", str(config)])
    text = " ".join(ok.output.split())
    assert ok.exit_code == 0 and "5 entries, chain intact, signed checkpoint at seq 4" in text

    _cut(log, 1)
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join([*lines[:1], lines[1].replace('"1"', '"7"'), *lines[2:]]) + "\n")
    bad = runner.invoke(app, ["audit-log", "verify", "-g", str(config)])
    assert bad.exit_code == 1
    out = bad.output
    assert "tampered" in out and "2 problem(s)" in out
    assert "\n  entry 1: hash does not match its content\n" in out
    assert "\n  truncated: the signed checkpoint covers 5 entries" in out

    unsigned = json.loads(config.read_text())
    del unsigned["audit_log_public_key_b64"]
    config.write_text(json.dumps(unsigned))
    log.path.write_text("\n".join(lines) + "\n")
    warned = runner.invoke(app, ["audit-log", "verify", "-g", str(config)])
    assert warned.exit_code == 0
    assert "no audit_log_public_key_b64 configured" in " ".join(warned.output.split())
