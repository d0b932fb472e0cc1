"""An append-only, tamper-evident audit log, one JSON object per line (JSON Lines).

Every governance event (a board decision, a promotion, a release, a key rotation) is one
entry::

    {"seq": 0, "at": "2024-05-01T09:30:00+00:00", "event": "review.decision",
     "actor": "board:a.khan", "details": {...}, "prev": "000...0", "hash": "9f2c..."}

``hash`` is the SHA-256 of the entry's canonical JSON without ``hash``; ``prev`` is the
``hash`` of the entry before it (64 zeros for the first). Canonical JSON is
``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` in UTF-8.
Editing, removing or reordering an entry therefore breaks the chain at that entry or the
next one, and :meth:`AuditLog.verify` names where. A chain cannot show that entries were cut
from the *end*: to detect that, record the hash of the latest entry somewhere else (the
entry returned by :meth:`AuditLog.append` carries it), e.g. as a tag on the model version.

What goes in the log
--------------------
Callers log counts, ids of model versions and runs, report and release hashes, reviewers'
names and reasons, never rows: no individual-level prediction, feature or identifier is ever
put in ``details``. This module adds nothing to an entry beyond the fields above.

How an append is made safe
--------------------------
An append takes an exclusive :func:`fcntl.flock` on a sidecar lock file (``<log>.lock``),
so two processes (or threads) appending at once are serialised. It reads the log, refuses to
continue if the last entry is damaged (its own hash must match its content), writes the
whole new content to a temporary file in the same directory, fsyncs it, moves it into place
with :func:`os.replace` and fsyncs the directory.

We rewrite rather than append with ``O_APPEND`` because a rename is atomic: a crash at any
point leaves either the old log or the new one, never a torn last line that would block
every later append until someone repairs the file by hand, and a reader never sees half an
entry. The cost is one read and one write of the whole log per append, which is fine for a
log of governance events (thousands of entries, not millions). The lock lives in a sidecar
file because the rename replaces the log's inode, so a lock on the log itself would not
exclude a writer that opened the new file.

Many entries at once
--------------------
The API audits every request, far too many entries for a rewrite each.
:meth:`AuditLog.append_many` writes a batch under the same lock without rewriting: it reads
only the last line (backwards from the end of the file) for the previous ``seq`` and
``hash``, appends every entry of the batch with one ``O_APPEND`` write and one fsync, so its
cost does not grow with the log. If the write fails (a full disk, say) the file is cut back
to its old length before the error is raised. What a rename would have prevented is a torn
last line after a crash in the middle of that write: :meth:`AuditLog.verify` names it and
appends refuse to build on it, and because the batch was never acknowledged, the fix is to
cut the file after the last complete line (``head -n <entries>``), which loses nothing that
was reported written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from governance.contracts.errors import VruError

__all__ = ["GENESIS_HASH", "AuditEvent", "AuditLog", "AuditLogError", "VerifyResult"]

GENESIS_HASH = "0" * 64
"""The ``prev`` of the first entry."""

_FIELDS = ("seq", "at", "event", "actor", "details", "prev", "hash")
_NEW_LOG_MODE = 0o640
_TAIL_CHUNK = 8192

# the canonical form (see the module docstring), as a reusable encoder; strings alone are
# encoded with the same C function that it uses for them
_CANONICAL = json.JSONEncoder(
    allow_nan=False, sort_keys=True, separators=(",", ":"), ensure_ascii=False
)
_json_string: Callable[[str], str] = json.encoder.encode_basestring

AuditEvent = tuple[str, dict[str, Any], str, datetime | None]
"""One entry for :meth:`AuditLog.append_many`: ``(event, details, actor, at)``."""

_NOT_TEXT = "{path}: '{field}' must be a non-empty string, got {value!r}"
_NAIVE_TIME = "{path}: 'at' must be a timezone-aware datetime, got naive {value}"
_BAD_DETAILS = "{path}: 'details' must be a JSON object with string keys and finite numbers ({err})"
_BAD_TAIL = (
    "{path}: refusing to append, the last entry (line {line}) is damaged: {problem}. "
    "Run verify() and restore the log from a backup before appending"
)
_UNREADABLE = "{path}: {problem}; cannot read the log"

_P_NOT_JSON = "line {line}: not valid JSON"
_P_NOT_OBJECT = "line {line}: expected a JSON object, got {kind}"
_P_FIELDS = "entry {line}: fields are {got}, expected {expected}"
_P_HASH = "entry {line}: hash does not match its content"
_P_SEQ = "entry {line}: seq is {seq}, expected {line} (an entry is missing or out of order)"
_P_FIRST_PREV = "entry 0: prev is not {zeros} zeros (the first entry must start the chain)"
_P_PREV = (
    "entry {line}: prev does not match entry {before}'s hash "
    "(an entry was removed, reordered or altered)"
)


class AuditLogError(VruError, ValueError):
    """The audit log cannot be read or appended to, or an entry is not allowed."""


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :meth:`AuditLog.verify`.

    Attributes
    ----------
    ok
        True if every line is an intact entry and the chain is unbroken.
    entries
        The number of lines in the log (entries, whether good or bad).
    first_bad
        The 0-based line number of the first problem (also the entry's expected ``seq``),
        or None.
    problem
        What is wrong there, e.g. ``"entry 3: hash does not match its content"``, or None.
    """

    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str | None = None


def _canonical_json(obj: Any) -> str:
    """The canonical JSON text of ``obj``: sorted keys, no spaces, UTF-8 characters kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(_canonical_json(body).encode("utf-8")).hexdigest()


def _parse_line(raw: bytes, line: int) -> dict[str, Any] | str:
    """Parse one line into an entry, or return the problem with it."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _P_NOT_JSON.format(line=line)
    if not isinstance(obj, dict):
        return _P_NOT_OBJECT.format(line=line, kind=type(obj).__name__)
    return obj


def _entry_problem(entry: dict[str, Any], line: int) -> str | None:
    """Check one entry on its own: exactly the right fields and a hash matching its content."""
    if sorted(entry) != sorted(_FIELDS):
        return _P_FIELDS.format(line=line, got=sorted(entry), expected=sorted(_FIELDS))
    return None if entry["hash"] == _entry_hash(entry) else _P_HASH.format(line=line)


def _split_lines(data: bytes) -> list[bytes]:
    """The log's lines; a missing newline after the last line is tolerated."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


class AuditLog:
    """An append-only, hash-chained JSON Lines log of governance events.

    Parameters
    ----------
    path
        The log file. It and its parent directory are created by the first append.

    Examples
    --------
    >>> log = AuditLog(tmp / "audit.jsonl")  # doctest: +SKIP
    >>> log.append("review.decision", {"model": "vru-risk", "version": "3",
    ...            "decision": "approve"}, actor="board:a.khan")  # doctest: +SKIP
    >>> log.verify().ok  # doctest: +SKIP
    True
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def lock_path(self) -> Path:
        """The sidecar file that appends lock (``<log>.lock``)."""
        return self.path.with_name(self.path.name + ".lock")

    def append(
        self,
        event: str,
        details: dict[str, Any],
        *,
        actor: str,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Append one entry, atomically and under an exclusive lock.

        Parameters
        ----------
        event
            What happened, e.g. ``"review.decision"``.
        details
            A JSON object of counts, ids and hashes; never individual-level rows.
        actor
            Who did it, e.g. a reviewer's name or ``"cli:promote"``.
        at
            When (timezone-aware); now by default. Stored as ISO-8601 in UTC.

        Returns
        -------
        dict
            The entry as written, including ``seq``, ``prev`` and ``hash``.

        Raises
        ------
        AuditLogError
            If an argument is not allowed, or the last entry of the log is damaged (nothing is
            written then).
        """
        for field, value in (("event", event), ("actor", actor)):
            if not isinstance(value, str) or not value.strip():
                raise AuditLogError(_NOT_TEXT.format(path=self.path, field=field, value=value))
        when = datetime.now(UTC) if at is None else at
        if when.tzinfo is None or when.utcoffset() is None:
            raise AuditLogError(_NAIVE_TIME.format(path=self.path, value=when.isoformat()))
        body = {
            "at": when.astimezone(UTC).isoformat(),
            "event": event,
            "actor": actor,
            "details": self._clean_details(details),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            data = self._read()
            seq, prev = self._next_link(data)
            entry: dict[str, Any] = {"seq": seq, **body, "prev": prev}
            entry["hash"] = _entry_hash(entry)
            if data and not data.endswith(b"\n"):
                data += b"\n"
            self._replace(data + _canonical_json(entry).encode("utf-8") + b"\n")
        return entry

    def append_many(self, events: Sequence[AuditEvent]) -> list[str]:
        """Append several entries under one lock, with one write and one fsync.

        Each entry is exactly what :meth:`append` would have written in turn; only the way it
        reaches the disk differs (see "Many entries at once" above): the log is not re-read or
        rewritten, so a batch costs the same whatever the log's length.

        Parameters
        ----------
        events
            ``(event, details, actor, at)`` tuples, in order; ``at`` may be None for now.

        Returns
        -------
        list of str
            The ``hash`` of each entry written, in order (the last one anchors the chain; read
            the entries back with :meth:`entries`). Nothing is parsed back, which keeps a
            batch cheap.

        Raises
        ------
        AuditLogError
            If any argument is not allowed, or the last entry of the log is damaged. Nothing is
            written then: every entry is checked before the first is written.
        """
        now = datetime.now(UTC)
        prepared = [
            self._prepare(event, details, actor, now if at is None else at)
            for event, details, actor, at in events
        ]
        if not prepared:
            return []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, _NEW_LOG_MODE)
            try:
                if created:
                    os.fchmod(fd, _NEW_LOG_MODE)
                size = os.fstat(fd).st_size
                last = _last_line(fd, size)
                seq, prev = self._next_link_from_tail(last)
                written: list[str] = []
                lines: list[str] = []
                for head in prepared:
                    line, digest = _chained_line(head, seq=seq, prev=prev)
                    lines.append(line)
                    written.append(digest)
                    seq, prev = seq + 1, digest
                payload = ("\n".join(lines) + "\n").encode("utf-8")
                if size and not last.endswith(b"\n"):
                    payload = b"\n" + payload
                _write_all(fd, payload, size)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.path.parent)
        return written

    def entries(self) -> list[dict[str, Any]]:
        """All entries in order, as parsed; use :meth:`verify` to check them.

        Raises
        ------
        AuditLogError
            If a line is not a JSON object.
        """
        out: list[dict[str, Any]] = []
        for line, raw in enumerate(_split_lines(self._read())):
            parsed = _parse_line(raw, line)
            if isinstance(parsed, str):
                raise AuditLogError(_UNREADABLE.format(path=self.path, problem=parsed))
            out.append(parsed)
        return out

    def verify(self) -> VerifyResult:
        """Check every entry and the chain between them; stop at the first problem.

        Each line must be a JSON object with exactly the entry fields, whose ``hash``
        matches its content, whose ``seq`` is its 0-based line number and whose ``prev`` is
        the previous entry's ``hash``. A missing or empty log is valid with 0 entries.

        Returns
        -------
        VerifyResult
            ``ok`` with the number of entries, or the first bad line and what is wrong there.
        """
        lines = _split_lines(self._read())
        prev = GENESIS_HASH
        for line, raw in enumerate(lines):
            parsed = _parse_line(raw, line)
            problem = parsed if isinstance(parsed, str) else _entry_problem(parsed, line)
            if problem is None and isinstance(parsed, dict):
                if parsed["seq"] != line or isinstance(parsed["seq"], bool):
                    problem = _P_SEQ.format(line=line, seq=parsed["seq"])
                elif parsed["prev"] != prev:
                    problem = (
                        _P_FIRST_PREV.format(zeros=len(GENESIS_HASH))
                        if line == 0
                        else _P_PREV.format(line=line, before=line - 1)
                    )
                else:
                    prev = parsed["hash"]
            if problem is not None:
                return VerifyResult(ok=False, entries=len(lines), first_bad=line, problem=problem)
        return VerifyResult(ok=True, entries=len(lines))

    # -- helpers ---------------------------------------------------------------------------

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def _clean_details(self, details: dict[str, Any]) -> dict[str, Any]:
        """A JSON round trip of ``details``: what is hashed is exactly what is read back."""
        if not isinstance(details, dict) or not all(isinstance(k, str) for k in details):
            raise AuditLogError(
                _BAD_DETAILS.format(path=self.path, err=f"got {type(details).__name__}")
            )
        try:
            cleaned: dict[str, Any] = json.loads(json.dumps(details, allow_nan=False))
        except (TypeError, ValueError) as err:  # an unserialisable value, NaN or infinity
            raise AuditLogError(_BAD_DETAILS.format(path=self.path, err=err)) from None
        return cleaned

    def _prepare(self, event: str, details: dict[str, Any], actor: str, at: datetime) -> str:
        """Check one entry's arguments; the canonical JSON of its fields before ``hash``.

        Canonical JSON sorts keys, so an entry reads ``actor, at, details, event, hash, prev,
        seq``: this is the text up to ``event``'s value (``{"actor":...,"event":"..."``), and
        :func:`_chained_line` adds the rest once the entry's place in the chain is known. One
        encoding of ``details`` both checks it (finite numbers, string keys, JSON values) and
        gives the text that is hashed, which is what a reader parses back, as with
        :meth:`append`'s round trip.
        """
        for field, value in (("event", event), ("actor", actor)):
            if not isinstance(value, str) or not value.strip():
                raise AuditLogError(_NOT_TEXT.format(path=self.path, field=field, value=value))
        if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
            shown = at.isoformat() if isinstance(at, datetime) else repr(at)
            raise AuditLogError(_NAIVE_TIME.format(path=self.path, value=shown))
        if not isinstance(details, dict) or not all(isinstance(k, str) for k in details):
            raise AuditLogError(
                _BAD_DETAILS.format(path=self.path, err=f"got {type(details).__name__}")
            )
        try:
            details_json = _CANONICAL.encode(details)
        except (TypeError, ValueError) as err:  # an unserialisable value, NaN or infinity
            raise AuditLogError(_BAD_DETAILS.format(path=self.path, err=err)) from None
        return (
            '{"actor":'
            + _json_string(actor)
            + ',"at":'
            + _json_string(at.astimezone(UTC).isoformat())
            + ',"details":'
            + details_json
            + ',"event":'
            + _json_string(event)
        )

    def _next_link_from_tail(self, last: bytes) -> tuple[int, str]:
        """:meth:`_next_link` from the last line alone; a damaged one is named by its number."""
        try:
            return self._next_link(last)
        except AuditLogError:
            return self._next_link(self._read())  # raises, naming the line of the whole log

    def _next_link(self, data: bytes) -> tuple[int, str]:
        """The ``seq`` and ``prev`` of the next entry, after checking the last one."""
        lines = _split_lines(data)
        if not lines:
            return 0, GENESIS_HASH
        line = len(lines) - 1
        parsed = _parse_line(lines[-1], line)
        problem = parsed if isinstance(parsed, str) else _entry_problem(parsed, line)
        if problem is None and isinstance(parsed, dict):
            seq = parsed["seq"]
            if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0:
                return seq + 1, str(parsed["hash"])
            problem = _P_SEQ.format(line=line, seq=seq)
        raise AuditLogError(_BAD_TAIL.format(path=self.path, line=line, problem=problem))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, _NEW_LOG_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _replace(self, content: bytes) -> None:
        """Write ``content`` to a temporary file, fsync it, and rename it over the log."""
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            mode = _NEW_LOG_MODE
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.path.parent)


def _chained_line(head: str, *, seq: int, prev: str) -> tuple[str, str]:
    """The canonical JSON line of an entry and its hash, from :meth:`AuditLog._prepare`'s text.

    The hashed form is the entry without ``hash``, so both are assembled from the same
    already-canonical pieces rather than by serialising the entry twice.
    """
    tail = f',"prev":"{prev}","seq":{seq}}}'
    digest = hashlib.sha256((head + tail).encode("utf-8")).hexdigest()
    return f'{head},"hash":"{digest}"{tail}', digest


def _last_line(fd: int, size: int) -> bytes:
    """The last line of the open file (with its newline, if any), read from the end."""
    if size == 0:
        return b""
    end = size
    data = b""
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        data = os.pread(fd, end - start, start) + data
        end = start
        # a newline before the last line's own final byte marks where the last line starts
        cut = data.rfind(b"\n", 0, len(data) - 1)
        if cut >= 0:
            return data[cut + 1 :]
    return data


def _write_all(fd: int, payload: bytes, size: int) -> None:
    """Append ``payload`` and fsync; on failure cut the file back to ``size`` and re-raise."""
    try:
        view = memoryview(payload)
        while view:
            done = os.write(fd, view)
            view = view[done:]
        os.fsync(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
            os.fsync(fd)
        raise


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
