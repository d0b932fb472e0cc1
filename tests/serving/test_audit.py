"""Every request is audited, off the request path, and no record is lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from fastapi.testclient import TestClient

from governance.board.audit_log import AuditLog, VerifyResult
from serving.app import create_app
from serving.audit import RequestAudit
from tests.serving.conftest import World


def _records(audit: RequestAudit, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record(
            "k1", "planner", "GET", "/v1/areas/{code}", {"code": f"E{i}"}, 200, 0.4, time.time()
        )


def _codes(log: AuditLog) -> list[str]:
    return [e["details"]["params"]["code"] for e in log.entries() if e["event"] == "api.request"]


def test_records_are_written_in_batches_in_order_and_flushed_on_close(tmp_path: Path) -> None:
    audit = RequestAudit(tmp_path / "audit.jsonl", flush_seconds=0.05, max_batch=7)
    audit.start()
    _records(audit, 30)
    deadline = time.monotonic() + 10
    while audit.written < 30 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert audit.written == 30  # by the background writer, before any close
    _records(audit, 20, start=30)
    assert audit.close()
    log = AuditLog(tmp_path / "audit.jsonl")
    assert log.verify() == VerifyResult(ok=True, entries=50)
    assert _codes(log) == [f"E{i}" for i in range(50)]
    entry = log.entries()[0]
    assert (entry["event"], entry["actor"]) == ("api.request", "api:k1")
    assert entry["details"] == {
        "key_id": "k1",
        "role": "planner",
        "method": "GET",
        "route": "/v1/areas/{code}",
        "params": {"code": "E0"},
        "status": 200,
        "ms": 0.4,
    }
    assert audit.writer_pid is None  # the writer process has stopped


def test_a_failing_log_keeps_the_records_until_it_can_be_written(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("x", {}, actor="a")
    good = path.read_bytes()
    path.write_bytes(good[:-10])  # a damaged last entry: appends are refused
    audit = RequestAudit(path, flush_seconds=60)
    audit.start()
    _records(audit, 5)
    assert not audit.flush()
    assert not audit.healthy
    assert "damaged" in str(audit.last_error)
    assert audit.backlog == 5
    _records(audit, 3, start=5)
    path.write_bytes(good)  # the operator restores the log
    assert audit.close()
    assert audit.healthy and audit.backlog == 0
    assert log.verify() == VerifyResult(ok=True, entries=9)
    assert _codes(log) == [f"E{i}" for i in range(8)]


def test_a_killed_writer_is_replaced_and_nothing_is_lost(tmp_path: Path) -> None:
    audit = RequestAudit(tmp_path / "audit.jsonl", flush_seconds=60)
    audit.start()
    _records(audit, 4)
    assert audit.flush()
    first = audit.writer_pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert audit._process is not None
    audit._process.wait(10)
    _records(audit, 4, start=4)
    flushed = audit.flush() or audit.flush()  # the first try finds the writer dead
    assert flushed
    assert audit.writer_pid not in (None, first)
    assert audit.close()
    log = AuditLog(tmp_path / "audit.jsonl")
    assert log.verify().ok
    assert _codes(log) == [f"E{i}" for i in range(8)]


def test_every_request_is_audited_with_key_route_parameters_and_status(fresh: World) -> None:
    with TestClient(create_app(fresh.config)) as client:
        client.get("/v1/areas/W1", headers=fresh.headers())
        client.get("/v1/areas?level=ward&parent=B1&sort=-rank", headers=fresh.headers())
        client.get("/v1/areas/W1?secret=xyz", headers=fresh.headers())
        client.get("/v1/areas/NOPE", headers=fresh.headers())
        client.post("/v1/aggregate", json={"codes": ["L01", "L02"]}, headers=fresh.headers())
        client.get("/v1/areas/W1")  # no key
        client.get("/v1/areas/W1", headers={"Authorization": "Bearer vru_0123456789ab_guess"})
        client.get("/metrics", headers=fresh.headers("board"))
        client.get("/healthz")  # a probe: not audited
    log = AuditLog(fresh.audit_log)
    assert log.verify().ok
    entries = [e for e in log.entries() if e["event"] == "api.request"]
    seen = [
        (
            e["details"]["key_id"],
            e["details"]["route"],
            e["details"]["params"],
            e["details"]["status"],
        )
        for e in entries
    ]
    planner, board = fresh.key_ids["planner"], fresh.key_ids["board"]
    assert seen == [
        (planner, "/v1/areas/{code}", {"code": "W1"}, 200),
        (planner, "/v1/areas", {"level": "ward", "parent": "B1", "sort": "-rank"}, 200),
        (planner, "/v1/areas/{code}", {"code": "W1", "other_query_names": ["secret"]}, 400),
        (planner, "/v1/areas/{code}", {"code": "NOPE"}, 404),
        (planner, "/v1/aggregate", {"codes": ["L01", "L02"]}, 200),
        (board, "/metrics", {}, 403),
    ]
    # the requests without a valid key: counted, one entry for the window (issue 15)
    refused = [e for e in log.entries() if e["event"] == "api.refused"]
    assert [(e["actor"], e["details"]["route"], e["details"]["status"]) for e in refused] == [
        ("api:anonymous", "/v1/areas/{code}", 401)
    ]
    assert refused[0]["details"]["count"] == 2
    text = fresh.audit_log.read_text()
    for token in fresh.tokens.values():
        assert token not in text and token.split("_", 2)[2] not in text
    assert "xyz" not in text and "guess" not in text


def test_the_writer_signs_a_checkpoint_per_batch_and_refuses_a_cut_log(tmp_path: Path) -> None:
    from governance.contracts.settings import GovernanceConfig
    from governance.contracts.signing import generate_keypair

    public = generate_keypair(tmp_path / "keys" / "log.pem", tmp_path / "keys" / "log.pub")
    governance = GovernanceConfig(
        audit_log_key=tmp_path / "keys" / "log.pem",
        audit_log_public_key_b64=public,
        audit_log_anchor_dir=tmp_path / "anchors",
    )
    path = tmp_path / "requests.jsonl"
    audit = RequestAudit(path, flush_seconds=60, max_batch=4, governance=governance)
    audit.start()
    _records(audit, 10)
    assert audit.flush()
    log = AuditLog(path, anchor_path=tmp_path / "anchors" / "requests.jsonl.anchor")
    result = log.verify(public)
    assert result.ok and result.checkpoint is not None and result.checkpoint.count == 10

    lines = path.read_text().splitlines()
    path.write_text("".join(line + "\n" for line in lines[:7]))  # the last batch cut
    _records(audit, 2, start=10)
    assert not audit.flush()  # the writer will not sign over the cut: records kept, not ready
    assert "truncated" in str(audit.last_error) and audit.backlog == 2
    assert "truncated" in str(log.verify(public).problem)
    path.write_text("".join(line + "\n" for line in lines))  # restored from the backup
    assert audit.close()
    assert log.verify(public).ok and _codes(log) == [f"E{i}" for i in range(12)]


def test_an_unreadable_log_key_fails_every_batch_with_the_reason(tmp_path: Path) -> None:
    from governance.contracts.settings import GovernanceConfig

    governance = GovernanceConfig(audit_log_key=tmp_path / "missing.pem")
    audit = RequestAudit(tmp_path / "requests.jsonl", flush_seconds=60, governance=governance)
    audit.start()
    _records(audit, 3)
    assert not audit.flush()
    assert "missing.pem: private key file not found" in str(audit.last_error)
    assert audit.backlog == 3
    audit.close()
