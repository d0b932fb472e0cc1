"""The audit log: a hash chain that names the first entry an edit, deletion or reordering broke."""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from governance.board.audit_log import GENESIS_HASH, AuditLog, AuditLogError, VerifyResult
from governance.contracts.errors import VruError

FIELDS = {"seq", "at", "event", "actor", "details", "prev", "hash"}
T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def _log(tmp_path: Path, n: int = 5) -> AuditLog:
    log = AuditLog(tmp_path / "audit" / "audit.jsonl")
    for i in range(n):
        log.append(
            "model.registered",
            {"model": "vru-risk", "version": str(i), "rows_scored": 100 * i},
            actor="cli:train",
            at=T0 + timedelta(minutes=i),
        )
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text(encoding="utf-8").splitlines()


def _write_lines(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


# -- the chain ----------------------------------------------------------------------------


def test_round_trip_builds_a_valid_chain(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    entries = log.entries()
    assert [e["seq"] for e in entries] == [0, 1, 2, 3, 4]
    assert entries[0]["prev"] == GENESIS_HASH == "0" * 64
    for before, after in itertools.pairwise(entries):
        assert after["prev"] == before["hash"]
    for entry in entries:
        assert entry["hash"] == _hash(entry)
    assert entries[3]["details"] == {"model": "vru-risk", "version": "3", "rows_scored": 300}
    assert log.verify() == VerifyResult(ok=True, entries=5, first_bad=None, problem=None)


def test_each_line_is_the_canonical_json_of_its_entry(tmp_path: Path) -> None:
    log = _log(tmp_path, 2)
    for line, entry in zip(_lines(log), log.entries(), strict=True):
        assert line == _canonical(entry)


def test_entries_have_exactly_the_documented_fields(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    written = log.append("review.decision", {"decision": "approve"}, actor="board:a.khan", at=T0)
    assert set(written) == FIELDS
    assert written == log.entries()[0]
    assert written["seq"] == 0
    assert written["at"] == "2024-05-01T09:30:00+00:00"
    assert written["event"] == "review.decision"
    assert written["actor"] == "board:a.khan"
    assert written["details"] == {"decision": "approve"}


def test_times_are_stored_in_utc(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    paris = timezone(timedelta(hours=2))
    entry = log.append("x", {}, actor="a", at=datetime(2024, 5, 1, 11, 30, tzinfo=paris))
    assert entry["at"] == "2024-05-01T09:30:00+00:00"
    now = log.append("x", {}, actor="a")
    assert datetime.fromisoformat(now["at"]).utcoffset() == timedelta(0)


def test_parent_directory_is_created_and_no_temp_files_are_left(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    assert log.path.is_file()
    assert sorted(p.name for p in log.path.parent.iterdir()) == ["audit.jsonl", "audit.jsonl.lock"]


def test_missing_or_empty_log_verifies_with_no_entries(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "nowhere" / "audit.jsonl")
    assert log.verify() == VerifyResult(ok=True, entries=0)
    assert log.entries() == []
    log.path.parent.mkdir()
    log.path.write_text("")
    assert log.verify() == VerifyResult(ok=True, entries=0)


def test_details_are_copied_not_referenced(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    details: dict[str, Any] = {"gates": ["auc", "calibration"]}
    log.append("gates.passed", details, actor="cli:promote")
    details["gates"].append("tampered")
    assert log.entries()[0]["details"] == {"gates": ["auc", "calibration"]}
    assert log.verify().ok


# -- verify names the first broken entry ------------------------------------------------------


def test_an_edited_entry_is_named(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    lines = _lines(log)
    lines[2] = lines[2].replace('"rows_scored":200', '"rows_scored":20')
    _write_lines(log, lines)
    result = log.verify()
    assert result == VerifyResult(
        ok=False,
        entries=5,
        first_bad=2,
        problem="entry 2: hash does not match its content",
        problems=("entry 2: hash does not match its content",),
    )


def test_a_deleted_middle_entry_is_found(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    lines = _lines(log)
    del lines[2]
    _write_lines(log, lines)
    result = log.verify()
    assert not result.ok
    assert result.entries == 4
    assert result.first_bad == 2
    assert result.problem == "entry 2: seq is 3, expected 2 (an entry is missing or out of order)"


def test_a_deleted_entry_with_renumbered_seqs_breaks_the_prev_link(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    entries = log.entries()
    del entries[2]
    for i, entry in enumerate(entries):  # the attacker renumbers and re-hashes each entry
        entry["seq"] = i
        entry["hash"] = _hash(entry)
    _write_lines(log, [_canonical(e) for e in entries])
    result = log.verify()
    assert result.first_bad == 2
    assert result.problem == (
        "entry 2: prev does not match entry 1's hash (an entry was removed, reordered or altered)"
    )


def test_reordered_entries_are_found(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    lines = _lines(log)
    lines[1], lines[3] = lines[3], lines[1]
    _write_lines(log, lines)
    result = log.verify()
    assert not result.ok
    assert result.first_bad == 1
    assert result.problem == "entry 1: seq is 3, expected 1 (an entry is missing or out of order)"


def test_a_truncated_final_line_is_found(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    data = log.path.read_bytes()
    log.path.write_bytes(data[: len(data) - 20])  # a crash mid-write under another scheme
    assert log.verify() == VerifyResult(
        ok=False,
        entries=5,
        first_bad=4,
        problem="line 4: not valid JSON",
        problems=("line 4: not valid JSON",),
    )


def test_an_invalid_json_line_is_found(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    lines = _lines(log)
    lines[1] = "{not json"
    _write_lines(log, lines)
    assert log.verify() == VerifyResult(
        ok=False,
        entries=5,
        first_bad=1,
        problem="line 1: not valid JSON",
        problems=("line 1: not valid JSON",),
    )
    with pytest.raises(AuditLogError, match=r"audit\.jsonl: line 1: not valid JSON"):
        log.entries()


def test_a_line_that_is_not_an_object_or_lacks_fields_is_found(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    lines = _lines(log)
    _write_lines(log, [lines[0], "[1, 2]", lines[2]])
    assert log.verify().problem == "line 1: expected a JSON object, got list"
    entry = json.loads(lines[1])
    del entry["actor"]
    _write_lines(log, [lines[0], _canonical(entry), lines[2]])
    result = log.verify()
    assert result.first_bad == 1
    assert result.problem is not None
    assert result.problem.startswith("entry 1: fields are ['at', 'details', 'event', 'hash'")


def test_a_rehashed_edit_is_found_at_the_next_entry(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    entries = log.entries()
    entries[2]["details"]["rows_scored"] = 0
    entries[2]["hash"] = _hash(entries[2])  # the attacker recomputes the edited entry's hash
    _write_lines(log, [_canonical(e) for e in entries])
    result = log.verify()
    assert result.first_bad == 3
    assert result.problem == (
        "entry 3: prev does not match entry 2's hash (an entry was removed, reordered or altered)"
    )


def test_a_replaced_first_entry_is_found(tmp_path: Path) -> None:
    log = _log(tmp_path, 2)
    entries = log.entries()
    entries[0]["prev"] = "f" * 64
    entries[0]["hash"] = _hash(entries[0])
    _write_lines(log, [_canonical(e) for e in entries])
    result = log.verify()
    assert result.first_bad == 0
    assert result.problem == "entry 0: prev is not 64 zeros (the first entry must start the chain)"


# -- appends refuse rather than build on damage --------------------------------------------------


def test_append_refuses_a_corrupted_tail_and_changes_nothing(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    lines = _lines(log)
    lines[2] = lines[2].replace('"cli:train"', '"cli:evil"')
    _write_lines(log, lines)
    before = log.path.read_bytes()
    with pytest.raises(AuditLogError) as err:
        log.append("x", {}, actor="a")
    assert isinstance(err.value, VruError)
    assert str(err.value) == (
        f"{log.path}: refusing to append, the last entry (line 2) is damaged: entry 2: hash "
        "does not match its content. Run verify() and restore the log from a backup before "
        "appending"
    )
    assert log.path.read_bytes() == before


def test_append_refuses_a_truncated_tail(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    data = log.path.read_bytes()
    log.path.write_bytes(data[:-10])
    with pytest.raises(AuditLogError, match=r"last entry \(line 2\) is damaged: line 2: not valid"):
        log.append("x", {}, actor="a")
    assert log.path.read_bytes() == data[:-10]


def test_append_continues_a_log_without_a_final_newline(tmp_path: Path) -> None:
    log = _log(tmp_path, 2)
    log.path.write_bytes(log.path.read_bytes().rstrip(b"\n"))
    log.append("x", {}, actor="a")
    assert log.verify() == VerifyResult(ok=True, entries=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event": ""}, "'event' must be a non-empty string, got ''"),
        ({"actor": "  "}, "'actor' must be a non-empty string, got '  '"),
        ({"at": datetime(2024, 5, 1)}, "'at' must be a timezone-aware datetime, got naive"),
        ({"details": {"x": object()}}, "'details' must be a JSON object"),
        ({"details": {"auc": float("nan")}}, "'details' must be a JSON object"),
        ({"details": {1: "x"}}, "'details' must be a JSON object with string keys"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_written(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    log = _log(tmp_path, 1)
    before = log.path.read_bytes()
    args: dict[str, Any] = {"event": "x", "details": {}, "actor": "a", **kwargs}
    with pytest.raises(AuditLogError, match=message):
        log.append(args.pop("event"), args.pop("details"), **args)
    assert log.path.read_bytes() == before


def test_a_failed_rename_leaves_the_old_log_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path, 2)
    before = log.path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        log.append("x", {}, actor="a")
    monkeypatch.undo()
    assert log.path.read_bytes() == before
    assert not list(log.path.parent.glob("*.tmp"))
    assert log.verify().ok


def test_a_new_log_is_not_world_readable_and_keeps_its_mode(tmp_path: Path) -> None:
    log = _log(tmp_path, 1)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o640
    log.path.chmod(0o600)
    log.append("x", {}, actor="a")
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600


# -- two processes at once -------------------------------------------------------------------------


def _append_many(path: str, worker: int, n: int, start: Any) -> None:
    start.wait()
    log = AuditLog(Path(path))
    for i in range(n):
        log.append("test.concurrent", {"worker": worker, "i": i}, actor=f"worker-{worker}")


def test_concurrent_appends_from_two_processes_keep_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_append_many, args=(str(path), w, 50, start)) for w in (0, 1)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in workers] == [0, 0]
    log = AuditLog(path)
    assert log.verify() == VerifyResult(ok=True, entries=100)
    entries = log.entries()
    assert [e["seq"] for e in entries] == list(range(100))
    for worker in (0, 1):
        mine = [e["details"]["i"] for e in entries if e["details"]["worker"] == worker]
        assert mine == list(range(50))


# -- many entries at once (the API's request audit) --------------------------------------------


def _batch(n: int, start: int = 0) -> list[tuple[str, dict[str, Any], str, datetime | None]]:
    return [
        (
            "api.request",
            {
                "key_id": "k1",
                "route": "/v1/areas/{code}",
                "params": {"code": f"E{i:03}"},
                "ms": 0.5,
            },
            "api:k1",
            T0 + timedelta(seconds=i),
        )
        for i in range(start, start + n)
    ]


def test_append_many_writes_what_append_would_have(tmp_path: Path) -> None:
    one_by_one = AuditLog(tmp_path / "a" / "audit.jsonl")
    batched = AuditLog(tmp_path / "b" / "audit.jsonl")
    events = _batch(5)
    for event, details, actor, at in events:
        one_by_one.append(event, details, actor=actor, at=at)
    hashes = batched.append_many(events)
    assert batched.path.read_bytes() == one_by_one.path.read_bytes()
    assert one_by_one.entries() == batched.entries()
    assert hashes == [e["hash"] for e in batched.entries()]
    assert batched.verify() == VerifyResult(ok=True, entries=5)
    for line, entry in zip(_lines(batched), batched.entries(), strict=True):
        assert line == _canonical(entry)
        assert entry["hash"] == _hash(entry)


def test_append_many_continues_a_chain_and_mixes_with_append(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    log.append_many(_batch(4))
    log.append("review.decision", {"decision": "approve"}, actor="board:a.khan", at=T0)
    log.append_many(_batch(2, start=4))
    assert log.verify() == VerifyResult(ok=True, entries=10)
    assert [e["seq"] for e in log.entries()] == list(range(10))
    assert [e["event"] for e in log.entries()][2:5] == [
        "model.registered",
        "api.request",
        "api.request",
    ]


def test_append_many_reads_only_the_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append_many(_batch(3000))  # about 600 kB: far more than the tail read
    reads: list[int] = []
    real_pread = os.pread

    def counting_pread(fd: int, n: int, offset: int) -> bytes:
        reads.append(n)
        return real_pread(fd, n, offset)

    monkeypatch.setattr(os, "pread", counting_pread)
    monkeypatch.setattr(AuditLog, "_read", lambda self: pytest.fail("read the whole log"))
    log.append_many(_batch(1, start=3000))
    monkeypatch.undo()
    assert sum(reads) <= 8192
    assert log.verify() == VerifyResult(ok=True, entries=3001)


def test_append_many_with_a_long_last_line_and_no_final_newline(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("x", {"note": "n" * 20_000}, actor="a", at=T0)  # longer than one tail chunk
    log.path.write_bytes(log.path.read_bytes().rstrip(b"\n"))
    log.append_many(_batch(2))
    assert log.verify() == VerifyResult(ok=True, entries=3)


def test_append_many_of_nothing_writes_nothing(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    assert log.append_many([]) == []
    assert not log.path.exists()


def test_append_many_times_default_to_now_in_utc(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    paris = timezone(timedelta(hours=2))
    log.append_many(
        [("x", {}, "a", None), ("y", {}, "a", datetime(2024, 5, 1, 11, 30, tzinfo=paris))]
    )
    first, second = log.entries()
    assert datetime.fromisoformat(first["at"]).utcoffset() == timedelta(0)
    assert second["at"] == "2024-05-01T09:30:00+00:00"


def test_append_many_refuses_a_bad_entry_and_writes_none_of_the_batch(tmp_path: Path) -> None:
    log = _log(tmp_path, 1)
    before = log.path.read_bytes()
    events = [*_batch(2), ("x", {"auc": float("nan")}, "a", T0)]
    with pytest.raises(AuditLogError, match="'details' must be a JSON object"):
        log.append_many(events)
    with pytest.raises(AuditLogError, match="'at' must be a timezone-aware datetime, got naive"):
        log.append_many([("x", {}, "a", datetime(2024, 5, 1))])
    with pytest.raises(AuditLogError, match="'actor' must be a non-empty string"):
        log.append_many([("x", {}, " ", T0)])
    assert log.path.read_bytes() == before


def test_append_many_refuses_a_damaged_tail_naming_its_line(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    lines = _lines(log)
    lines[2] = lines[2].replace('"cli:train"', '"cli:evil"')
    _write_lines(log, lines)
    before = log.path.read_bytes()
    with pytest.raises(AuditLogError, match=r"the last entry \(line 2\) is damaged: entry 2: hash"):
        log.append_many(_batch(2))
    assert log.path.read_bytes() == before


def test_append_many_cuts_back_a_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path, 2)
    before = log.path.read_bytes()
    real_write = os.write

    def half_then_full_disk(fd: int, data: Any) -> int:
        monkeypatch.setattr(
            os, "write", lambda fd, data: (_ for _ in ()).throw(OSError("disk full"))
        )
        return real_write(fd, bytes(data)[: len(data) // 2])

    monkeypatch.setattr(os, "write", half_then_full_disk)
    with pytest.raises(OSError, match="disk full"):
        log.append_many(_batch(3))
    monkeypatch.undo()
    assert log.path.read_bytes() == before
    assert log.verify().ok
    log.append_many(_batch(1))
    assert log.verify() == VerifyResult(ok=True, entries=3)


def test_a_new_log_from_append_many_is_not_world_readable(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "new" / "audit.jsonl")
    log.append_many(_batch(1))
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o640
    assert sorted(p.name for p in log.path.parent.iterdir()) == ["audit.jsonl", "audit.jsonl.lock"]


def _append_batches(path: str, worker: int, batches: int, start: Any) -> None:
    start.wait()
    log = AuditLog(Path(path))
    for b in range(batches):
        if b % 5 == 0:
            log.append("test.single", {"worker": worker, "b": b}, actor=f"worker-{worker}")
        log.append_many(
            [
                ("test.batch", {"worker": worker, "b": b, "i": i}, f"w{worker}", None)
                for i in range(10)
            ]
        )


def test_concurrent_batches_and_appends_from_two_processes_keep_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_append_batches, args=(str(path), w, 20, start)) for w in (0, 1)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in workers] == [0, 0]
    log = AuditLog(path)
    assert log.verify() == VerifyResult(ok=True, entries=2 * (20 * 10 + 4))
    for worker in (0, 1):
        mine = [
            (e["details"]["b"], e["details"]["i"])
            for e in log.entries()
            if e["event"] == "test.batch" and e["details"]["worker"] == worker
        ]
        assert mine == [(b, i) for b in range(20) for i in range(10)]
