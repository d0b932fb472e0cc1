"""Attacks on the audit log's refusals: each asserts the whole message, naming the log.

A refusal that no longer names the file, the field or the reason leaves an operator unable
to act on it; ``make mutation`` (mutation/modules.toml) changes each of these lines and the
tests below notice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board import audit_log as audit_log_module
from governance.board.audit_log import GENESIS_HASH, AuditLog, AuditLogError

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: as naive as no tzinfo at all."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    made = AuditLog(tmp_path / "logs" / "audit.jsonl")
    made.append("model.registered", {"version": "1"}, actor="cli:train", at=T0)
    return made


@pytest.fixture
def local_time_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local time is 5:30 ahead of UTC."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _refused(log: AuditLog, *args: Any, **kwargs: Any) -> str:
    before = log.path.read_bytes()
    with pytest.raises(AuditLogError) as refused:
        log.append(*args, **kwargs)
    assert log.path.read_bytes() == before
    return str(refused.value)


@pytest.mark.parametrize(("field", "value"), [("event", ""), ("actor", "  "), ("actor", 3)])
def test_an_empty_event_or_actor_is_refused_naming_the_log(
    log: AuditLog, field: str, value: object
) -> None:
    args: dict[str, Any] = {"event": "x", "actor": "a", field: value}
    message = _refused(log, args.pop("event"), {}, **args)
    assert message == f"{log.path}: '{field}' must be a non-empty string, got {value!r}"


def test_a_naive_time_is_refused_naming_the_log_and_the_time(log: AuditLog) -> None:
    message = _refused(log, "x", {}, actor="a", at=datetime(2024, 5, 1, 9, 30))
    assert message == (
        f"{log.path}: 'at' must be a timezone-aware datetime, got naive 2024-05-01T09:30:00"
    )


def test_a_time_whose_zone_has_no_offset_is_refused(log: AuditLog) -> None:
    """``tzinfo`` set but no offset: still naive (``or``, not ``and``, in the check)."""
    at = datetime(2024, 5, 1, 9, 30, tzinfo=_NoOffset())
    assert "'at' must be a timezone-aware datetime, got naive" in _refused(
        log, "x", {}, actor="a", at=at
    )
    with pytest.raises(AuditLogError, match="'at' must be a timezone-aware datetime"):
        log.append_many([("x", {}, "a", at)])


def test_details_that_are_not_an_object_are_refused_naming_the_log(log: AuditLog) -> None:
    message = _refused(log, "x", ["not", "an", "object"], actor="a")  # type: ignore[arg-type]
    assert message == (
        f"{log.path}: 'details' must be a JSON object with string keys and finite numbers "
        "(got list)"
    )


def test_details_with_nan_are_refused_naming_the_log_and_the_reason(log: AuditLog) -> None:
    message = _refused(log, "x", {"auc": float("nan")}, actor="a")
    assert message == (
        f"{log.path}: 'details' must be a JSON object with string keys and finite numbers "
        "(Out of range float values are not JSON compliant)"
    )


def test_times_are_stored_in_utc_whatever_the_local_zone(
    tmp_path: Path, local_time_not_utc: None
) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    plus_two = timezone(timedelta(hours=2))
    entry = log.append("x", {}, actor="a", at=datetime(2024, 5, 1, 11, 30, tzinfo=plus_two))
    assert entry["at"] == "2024-05-01T09:30:00+00:00"
    log.append_many([("y", {}, "a", datetime(2024, 5, 1, 11, 30, tzinfo=plus_two))])
    assert [e["at"] for e in log.entries()] == ["2024-05-01T09:30:00+00:00"] * 2


def test_a_log_deep_in_new_directories_is_created(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a" / "b" / "c" / "audit.jsonl")
    assert log.append("x", {}, actor="a")["prev"] == GENESIS_HASH
    many = AuditLog(tmp_path / "d" / "e" / "audit.jsonl")
    assert len(many.append_many([("x", {}, "a", None)])) == 1
    assert log.verify().ok and many.verify().ok


def test_the_new_log_is_written_beside_the_old_then_renamed(
    log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename is atomic only within one directory (a temp file elsewhere may not be)."""
    renamed: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        renamed.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(audit_log_module.os, "replace", spy)
    log.append("x", {}, actor="a")
    assert [(src.parent, dst) for src, dst in renamed] == [(log.path.parent, log.path)]


def test_a_one_byte_damaged_log_is_refused_by_append_many(tmp_path: Path) -> None:
    """The shortest damaged log: its one byte is the last line, and is not an entry."""
    log = AuditLog(tmp_path / "audit.jsonl")
    log.path.write_bytes(b"x")
    with pytest.raises(AuditLogError, match=r"the last entry \(line 0\) is damaged"):
        log.append_many([("x", {}, "a", None)])
    assert log.path.read_bytes() == b"x"


def _refused_batch(log: AuditLog, event: Any, details: Any, actor: Any, at: Any) -> str:
    before = log.path.read_bytes()
    with pytest.raises(AuditLogError) as refused:
        log.append_many([("ok", {}, "a", None), (event, details, actor, at)])
    assert log.path.read_bytes() == before  # nothing of the batch is written
    return str(refused.value)


@pytest.mark.parametrize(("field", "value"), [("event", ""), ("actor", "  "), ("actor", None)])
def test_append_many_refuses_an_empty_event_or_actor_naming_the_log(
    log: AuditLog, field: str, value: object
) -> None:
    args: dict[str, Any] = {"event": "x", "details": {}, "actor": "a", "at": None, field: value}
    assert _refused_batch(log, **args) == (
        f"{log.path}: '{field}' must be a non-empty string, got {value!r}"
    )


def test_append_many_refuses_a_naive_time_naming_it(log: AuditLog) -> None:
    assert _refused_batch(log, "x", {}, "a", datetime(2024, 5, 1, 9, 30)) == (
        f"{log.path}: 'at' must be a timezone-aware datetime, got naive 2024-05-01T09:30:00"
    )


def test_append_many_refuses_a_time_that_is_not_a_datetime(log: AuditLog) -> None:
    assert _refused_batch(log, "x", {}, "a", "2024-05-01") == (
        f"{log.path}: 'at' must be a timezone-aware datetime, got naive '2024-05-01'"
    )


@pytest.mark.parametrize(
    ("details", "why"),
    [
        (["a"], "got list"),
        ({1: "x"}, "got dict"),
        ({"auc": float("inf")}, "Out of range float values are not JSON compliant"),
    ],
)
def test_append_many_refuses_bad_details_naming_the_log_and_why(
    log: AuditLog, details: object, why: str
) -> None:
    assert _refused_batch(log, "x", details, "a", None) == (
        f"{log.path}: 'details' must be a JSON object with string keys and finite numbers ({why})"
    )


def test_append_refuses_details_with_a_key_that_is_not_text(log: AuditLog) -> None:
    assert _refused(log, "x", {1: "x"}, actor="a").endswith("finite numbers (got dict)")


@pytest.mark.parametrize(
    ("content", "last"),
    [
        (b"", b""),
        (b"x", b"x"),
        (b"\n", b"\n"),
        (b"a\nb", b"b"),
        (b"a\nb\n", b"b\n"),
        (b"\nb\n", b"b\n"),
        (b"\nbc", b"bc"),
        (b"first\n" + b"y" * 20_000 + b"\n", b"y" * 20_000 + b"\n"),  # longer than a chunk
        (b"z" * 20_000, b"z" * 20_000),  # one line, no newline: read to the start
    ],
)
def test_the_tail_read_returns_exactly_the_last_line(
    tmp_path: Path, content: bytes, last: bytes
) -> None:
    """append_many reads only the tail: what it reads must be the whole last line, no more."""
    path = tmp_path / "log"
    path.write_bytes(content)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert audit_log_module._last_line(fd, len(content)) == last
    finally:
        os.close(fd)


def test_a_new_log_from_append_many_is_group_readable_whatever_the_umask(tmp_path: Path) -> None:
    """The new file's mode is set, not left to the umask (which may take more away)."""
    previous = os.umask(0o077)
    try:
        log = AuditLog(tmp_path / "audit.jsonl")
        log.append_many([("x", {}, "a", None)])
    finally:
        os.umask(previous)
    assert log.path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("seq", [-1, True, "0"])
def test_a_last_entry_with_a_bad_seq_is_refused_even_when_rehashed(
    tmp_path: Path, seq: object
) -> None:
    """An attacker rewrites the last entry's seq and recomputes its hash: no append follows it."""
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = log.append("x", {}, actor="a", at=T0)
    entry["seq"] = seq
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    entry["hash"] = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    log.path.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    message = _refused(log, "y", {}, actor="a")
    assert message.startswith(f"{log.path}: refusing to append, the last entry (line 0) is damaged")
    assert message.endswith(
        f"damaged: entry 0: seq is {seq}, expected 0 (an entry is missing or out of order). "
        "Run verify() and restore the log from a backup before appending"
    )


def test_the_tail_read_of_several_short_lines_is_the_last_one(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a\nb\nc\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert audit_log_module._last_line(fd, 6) == b"c\n"
    finally:
        os.close(fd)


def _keyed(tmp_path: Path, n: int) -> tuple[AuditLog, str]:
    key = Ed25519PrivateKey.generate()
    log = AuditLog(tmp_path / "audit.jsonl", signing_key=key)
    for i in range(n):
        log.append("model.registered", {"version": str(i)}, actor="cli:train", at=T0)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return log, base64.b64encode(raw).decode("ascii")


def test_an_empty_log_needs_no_anchor_but_one_entry_does(tmp_path: Path) -> None:
    log, public = _keyed(tmp_path, 0)
    assert log.verify(public).ok
    log.path.write_text("")
    assert log.verify(public).ok
    log.append("x", {}, actor="a")
    log.anchor_path.unlink()
    assert log.verify(public).problems == (
        f"{log.anchor_path}: no signed checkpoint for a log of 1 entries (the anchor is missing)",
    )


def test_a_bad_anchor_beside_an_empty_log_is_reported(tmp_path: Path) -> None:
    """Emptying the log and leaving a damaged anchor must not pass as a fresh log."""
    log, public = _keyed(tmp_path, 2)
    log.path.write_text("")
    log.anchor_path.write_text("{}")
    result = log.verify(public)
    assert not result.ok
    assert result.problems == (f"{log.anchor_path}: the anchor is not a checkpoint (fields [])",)


def test_an_edited_anchored_entry_is_reported_not_crashed_on(tmp_path: Path) -> None:
    """The last entry, the one the checkpoint names, is edited: the chain names it."""
    log, public = _keyed(tmp_path, 3)
    lines = log.path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace('"2"', '"99"')
    log.path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    result = log.verify(public)
    assert result.first_bad == 2
    assert result.problems == ("entry 2: hash does not match its content",)


def test_a_signature_beside_fields_that_are_no_decision_is_named(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("review.decision", {"signature": "c2ln", "colour": "red"}, actor="board:x")
    board = Ed25519PrivateKey.generate().public_key()
    raw = board.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    result = log.verify(board_public_key_b64=base64.b64encode(raw).decode("ascii"))
    assert result.signed_entries == 1
    assert result.problems == (
        "entry 0: its embedded signature does not verify: the details of 'review.decision' "
        "are not a board decision's fields",
    )


REFUSED = "{path}: refusing to append and sign a checkpoint over it: {problem}"


def test_a_keyed_append_to_a_cut_log_is_refused_with_the_whole_story(tmp_path: Path) -> None:
    log, _ = _keyed(tmp_path, 6)
    lines = log.path.read_text(encoding="utf-8").splitlines()
    log.path.write_text("".join(line + "\n" for line in lines[:4]), encoding="utf-8")
    assert _refused(log, "x", {}, actor="a") == REFUSED.format(
        path=log.path,
        problem="truncated: the signed checkpoint covers 6 entries (up to seq 5), the log has 4; "
        "entries 4..5 were removed",
    )


def test_a_keyed_append_without_the_anchor_is_refused(tmp_path: Path) -> None:
    """One entry, anchor deleted: signing a fresh checkpoint would hide what was removed."""
    log, _ = _keyed(tmp_path, 1)
    log.anchor_path.unlink()
    assert _refused(log, "x", {}, actor="a") == REFUSED.format(
        path=log.path, problem=f"{log.anchor_path}: no signed checkpoint (anchor file missing)"
    )


def test_a_keyed_append_after_unkeyed_entries_finds_the_anchored_one(tmp_path: Path) -> None:
    """Entries added without the key sit after the checkpoint: the writer goes on from them."""
    log, public = _keyed(tmp_path, 3)
    AuditLog(log.path).append("added.without.key", {}, actor="b")
    log.append("x", {}, actor="a")
    result = log.verify(public)
    assert result.ok and result.entries == 5
    assert result.checkpoint is not None and result.checkpoint.seq == 4


def test_a_keyed_append_refuses_an_edited_anchored_entry_behind_later_ones(
    tmp_path: Path,
) -> None:
    log, _ = _keyed(tmp_path, 3)
    AuditLog(log.path).append("added.without.key", {}, actor="b")
    lines = log.path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace('"2"', '"99"')
    log.path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    assert _refused(log, "x", {}, actor="a") == REFUSED.format(
        path=log.path,
        problem="entry 2: hash differs from the signed checkpoint's (the log was rewritten at or "
        "before entry 2 and the chain recomputed)",
    )


def test_checkpoints_are_dated_in_utc(tmp_path: Path, local_time_not_utc: None) -> None:
    log, public = _keyed(tmp_path, 1)
    result = log.verify(public)
    assert result.checkpoint is not None and result.checkpoint.at.endswith("+00:00")


def test_non_ascii_text_is_kept_as_written_and_hashed_alike(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("x", {"name": "Zoë"}, actor="a")
    log.append_many([("y", {"name": "Zoë"}, "a", None)])
    assert log.path.read_text(encoding="utf-8").count('"Zoë"') == 2
    assert log.verify().ok


def test_a_line_with_other_fields_is_named_with_the_expected_ones(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.path.write_text('{"seq": 0}\n', encoding="utf-8")
    assert log.verify().problems == (
        "entry 0: fields are ['seq'], expected "
        "['actor', 'at', 'details', 'event', 'hash', 'prev', 'seq']",
    )


def test_every_signed_entry_is_counted(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for _ in range(2):
        log.append("review.decision", {"signature": "c2ln"}, actor="board:x")
    assert log.verify().signed_entries == 2
