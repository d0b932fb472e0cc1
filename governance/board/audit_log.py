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
from the *end*, nor a log rewritten and re-chained: the signed checkpoints below do.

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

Signed checkpoints: what the chain alone cannot show
----------------------------------------------------
A chain shows an edited line, not a log cut short at the end, nor one rewritten from some
entry on with the chain recomputed (anyone who can write the file can compute SHA-256). A
writer given the log's Ed25519 key (``audit_log_key`` in the governance config; see
:meth:`AuditLog.from_config`) therefore ends every :meth:`AuditLog.append` and every batch of
:meth:`AuditLog.append_many` with a signed checkpoint ``(log, seq, hash, count, at)`` of the
last entry, in an anchor file apart from the log (:mod:`governance.board.log_anchor`). Before
it writes, it checks the log still reaches the anchored entry with the anchored hash, so it
never signs over a truncated or re-chained log (it refuses, naming which).
:meth:`AuditLog.verify`, given the public key, then reports: entries missing below the
anchor (truncation), another hash at the anchored entry (re-chaining), an anchor that does
not verify (forged), a missing anchor, and entries after the anchor that no checkpoint
covers (added without the key). It also checks every signature embedded in an entry (the
board's, on ``review.decision`` entries). Not detected: entries after the last checkpoint can
be cut (the batch being written when a writer stopped), anyone holding the log key can forge
everything (keep it apart from the log), and a log cut back to an older genuine checkpoint
with that older anchor put back (keep the printed ``seq`` and ``hash`` elsewhere). Only the
latest checkpoint is kept: through the chain, the anchored hash covers every entry before
it, so checkpoints every N entries within a batch would add nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board.log_anchor import AnchorError, Checkpoint, read_anchor, write_anchor
from governance.contracts.errors import VruError
from governance.contracts.revocation import Revocation
from governance.contracts.roster import BoardSettings
from governance.contracts.signing import (
    Decision,
    SignatureError,
    load_private_key,
    verify_decision,
    verify_payload,
)

if TYPE_CHECKING:
    from governance.contracts.settings import GovernanceConfig

__all__ = [
    "GENESIS_HASH",
    "AuditEvent",
    "AuditLog",
    "AuditLogError",
    "VerifyResult",
    "anchor_path_for",
]

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
_P_TRUNCATED = (
    "truncated: the signed checkpoint covers {count} entries (up to seq {seq}), the log has "
    "{entries}; entries {entries}..{seq} were removed"
)
_P_RECHAINED = (
    "entry {seq}: hash differs from the signed checkpoint's (the log was rewritten at or "
    "before entry {seq} and the chain recomputed)"
)
_P_UNCOVERED = (
    "entries {first}..{last}: after the last signed checkpoint (seq {seq}), covered by no "
    "signature (added without the log key, or a writer stopped before its checkpoint)"
)
_P_NO_ANCHOR = "{path}: no signed checkpoint for a log of {entries} entries (the anchor is missing)"
_P_SIGNATURE = "entry {line}: its embedded signature does not verify: {err}"
#: where a ``review.revocation`` entry keeps the member's signature of the revocation
_REVOCATION_SIGNATURE = "revocation_signature"
_WRITE_REFUSED = "{path}: refusing to append and sign a checkpoint over it: {problem}"


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
        What is wrong there, e.g. ``"entry 3: hash does not match its content"``, or None
        (the first of ``problems``).
    problems
        Every problem found: the chain's first, each embedded signature that does not
        verify, and the checkpoint's (truncation, re-chaining, a forged or missing anchor,
        entries it does not cover); one line each.
    checkpoint
        The signed checkpoint that verified, if a public key was given.
    signed_entries
        How many intact entries carry an embedded signature (checked only with the board's
        key).
    """

    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str | None = None
    problems: tuple[str, ...] = ()
    checkpoint: Checkpoint | None = None
    signed_entries: int = dataclasses.field(default=0, compare=False)


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
    signing_key
        The log's private key: each append then ends with a signed checkpoint, after
        checking the log against the previous one. None: no checkpoints (verify can still
        check them with the public key; see :meth:`from_config`).
    anchor_path
        Where the checkpoint goes; ``<log>.anchor`` by default.

    Examples
    --------
    >>> log = AuditLog(tmp / "audit.jsonl")  # doctest: +SKIP
    >>> log.append("review.decision", {"model": "vru-risk", "version": "3",
    ...            "decision": "approve"}, actor="board:a.khan")  # doctest: +SKIP
    >>> log.verify().ok  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        path: Path,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        anchor_path: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.signing_key = signing_key
        self._anchor_path = None if anchor_path is None else Path(anchor_path)

    @classmethod
    def from_config(cls, config: GovernanceConfig, path: Path | None = None) -> AuditLog:
        """The log as the governance config sets it up: its key and where its anchor goes.

        Parameters
        ----------
        config
            The governance config: ``audit_log`` (the default ``path``), ``audit_log_key``
            (the log's private key; no checkpoints without it) and ``audit_log_anchor_dir``.
        path
            Another log written with the same key (the API's request log).

        Raises
        ------
        SignatureError
            If the key file is missing or not an Ed25519 private key.
        """
        target = Path(path) if path is not None else config.audit_log
        key = None if config.audit_log_key is None else load_private_key(config.audit_log_key)
        return cls(target, signing_key=key, anchor_path=anchor_path_for(target, config))

    @property
    def anchor_path(self) -> Path:
        """The anchor file with the latest signed checkpoint (``<log>.anchor`` by default)."""
        if self._anchor_path is not None:
            return self._anchor_path
        return self.path.with_name(self.path.name + ".anchor")

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
            self._guard_anchor(seq - 1, prev)
            if data and not data.endswith(b"\n"):
                data += b"\n"
            self._replace(data + _canonical_json(entry).encode("utf-8") + b"\n")
            self._checkpoint(seq, entry["hash"])
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
                self._guard_anchor(seq - 1, prev)
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
            self._checkpoint(seq - 1, prev)
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

    def verify(
        self,
        public_key_b64: str | None = None,
        *,
        board_public_key_b64: str | BoardSettings | None = None,
    ) -> VerifyResult:
        """Check the chain, every embedded signature and, given the log's key, the checkpoint.

        Each line must be a JSON object with exactly the entry fields, whose ``hash``
        matches its content, whose ``seq`` is its 0-based line number and whose ``prev`` is
        the previous entry's ``hash`` (the first break is reported). Every entry whose
        ``details`` carry a ``signature`` (a board decision) must verify with the board's
        key, when it is given. With ``public_key_b64`` (``audit_log_public_key_b64``) the anchor must hold a
        checkpoint signed with that key, the log must reach its ``seq`` with the anchored
        hash there, and no entry may follow it. A missing or empty log is valid with 0
        entries (and no anchor).

        Parameters
        ----------
        public_key_b64
            The log's public key; without it the checkpoint is not checked, so truncation
            and re-chaining go unseen.
        board_public_key_b64
            The board's public key, or its roster (each decision is checked with the key of
            the member it names), for the signatures in ``review.decision`` entries;
            without it they are counted (``signed_entries``), not checked.

        Returns
        -------
        VerifyResult
            ``ok`` with the number of entries, or every problem found, one line each.
        """
        lines = _split_lines(self._read())
        hashes, first_bad, problems = _chain(lines)
        signed = 0
        for line, raw in enumerate(lines[: len(hashes)]):
            parsed = _parse_line(raw, line)
            if isinstance(parsed, dict) and _signed_details(parsed):
                signed += 1
                problem = _signature_problem(parsed, line, board_public_key_b64)
                if problem is not None:
                    problems.append(problem)
        checkpoint = None
        if public_key_b64 is not None:
            checkpoint, found = self._anchor_problems(public_key_b64, hashes, len(lines))
            problems += found
        return VerifyResult(
            ok=not problems,
            entries=len(lines),
            first_bad=first_bad,
            problem=problems[0] if problems else None,
            problems=tuple(problems),
            checkpoint=checkpoint,
            signed_entries=signed,
        )

    def _anchor_problems(
        self, public_key_b64: str, hashes: list[str], entries: int
    ) -> tuple[Checkpoint | None, list[str]]:
        """What is wrong between the log and its signed checkpoint (``hashes``: intact entries)."""
        try:
            checkpoint = read_anchor(self.anchor_path, public_key_b64, self.path.name)
        except AnchorError as err:
            if entries == 0 and not self.anchor_path.exists():
                return None, []
            if not self.anchor_path.exists():
                return None, [_P_NO_ANCHOR.format(path=self.anchor_path, entries=entries)]
            return None, [str(err)]
        if checkpoint.seq >= entries:
            return checkpoint, [
                _P_TRUNCATED.format(count=checkpoint.count, seq=checkpoint.seq, entries=entries)
            ]
        problems = []
        if checkpoint.seq < len(hashes) and hashes[checkpoint.seq] != checkpoint.hash:
            problems.append(_P_RECHAINED.format(seq=checkpoint.seq))
        if checkpoint.seq < entries - 1:
            problems.append(
                _P_UNCOVERED.format(first=checkpoint.seq + 1, last=entries - 1, seq=checkpoint.seq)
            )
        return checkpoint, problems

    def _guard_anchor(self, last_seq: int, last_hash: str) -> None:
        """Before a keyed write: the log must still reach its anchored entry, with its hash.

        ``last_seq`` and ``last_hash`` describe the log's last entry (``-1`` when empty).
        The anchor is read and verified with the writer's own key, so a forged anchor cannot
        make the writer sign over a truncated log. Usually the anchored entry *is* the last
        one; otherwise (entries added without the key) the log is read to find it.

        Raises
        ------
        AuditLogError
            If the anchor is missing for a non-empty log, does not verify, or the log is
            truncated or re-chained below it. Nothing is written then.
        """
        if self.signing_key is None:
            return
        if last_seq < 0 and not self.anchor_path.exists():
            return
        try:
            checkpoint = read_anchor(
                self.anchor_path, self.signing_key.public_key(), self.path.name
            )
        except AnchorError as err:
            raise AuditLogError(_WRITE_REFUSED.format(path=self.path, problem=err)) from None
        problem = None
        if checkpoint.seq > last_seq:
            problem = _P_TRUNCATED.format(
                count=checkpoint.count, seq=checkpoint.seq, entries=last_seq + 1
            )
        elif checkpoint.seq == last_seq:
            if checkpoint.hash != last_hash:
                problem = _P_RECHAINED.format(seq=checkpoint.seq)
        else:
            hashes, _, _ = _chain(_split_lines(self._read()))
            if checkpoint.seq >= len(hashes) or hashes[checkpoint.seq] != checkpoint.hash:
                problem = _P_RECHAINED.format(seq=checkpoint.seq)
        if problem is not None:
            raise AuditLogError(_WRITE_REFUSED.format(path=self.path, problem=problem))

    def _checkpoint(self, seq: int, digest: str) -> None:
        """Sign and write the checkpoint of the last entry (``seq``, ``digest``), if keyed."""
        if self.signing_key is None:
            return
        checkpoint = Checkpoint(
            log=self.path.name,
            seq=seq,
            hash=digest,
            count=seq + 1,
            at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        write_anchor(self.anchor_path, checkpoint, self.signing_key)

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


def anchor_path_for(log: Path, config: GovernanceConfig) -> Path:
    """Where the checkpoint of ``log`` goes: ``<audit_log_anchor_dir>/<log name>.anchor``.

    Beside the log (``<log>.anchor``) when no directory is configured.
    """
    directory = config.audit_log_anchor_dir
    return (directory if directory is not None else Path(log).parent) / (Path(log).name + ".anchor")


def _chain(lines: list[bytes]) -> tuple[list[str], int | None, list[str]]:
    """The hashes of the intact entries before the first break, that line and its problem."""
    hashes: list[str] = []
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
                hashes.append(prev)
        if problem is not None:
            return hashes, line, [problem]
    return hashes, None, []


def _member_key(board: str | BoardSettings, member_id: str, what: str = "decision") -> str:
    """The key a member's signature must verify with: the board's one key, or the member's."""
    if isinstance(board, str):
        return board
    member = board.member(member_id)
    if member is None:
        raise SignatureError(f"the {what} names {member_id!r}, who is not on the roster")
    return member.public_key_b64


def _signed_details(entry: dict[str, Any]) -> bool:
    details = entry.get("details")
    return isinstance(details, dict) and (
        "signature" in details or _REVOCATION_SIGNATURE in details
    )


def _revocation_problem(
    entry: dict[str, Any], line: int, board_key: str | BoardSettings
) -> str | None:
    """Whether the member's signature in a ``review.revocation`` entry verifies for it."""
    details = dict(entry["details"])
    signature = details.pop(_REVOCATION_SIGNATURE)
    try:
        revocation = Revocation.from_fields(details)
        key = _member_key(board_key, revocation.member, "revocation")
        verify_payload(revocation.payload(), signature, key)
    except SignatureError as err:
        return _P_SIGNATURE.format(line=line, err=err)
    return None


def _signature_problem(
    entry: dict[str, Any], line: int, board_key: str | BoardSettings | None
) -> str | None:
    """Whether the board's signature embedded in an entry verifies for the decision beside it.

    The entry's ``details`` are the signed :class:`Decision`'s fields plus ``signature``
    (as :func:`governance.board.review.record_review` writes them).
    """
    if board_key is None:
        return None
    if _REVOCATION_SIGNATURE in entry["details"]:
        return _revocation_problem(entry, line, board_key)
    details = dict(entry["details"])
    signature = details.pop("signature")
    try:
        if isinstance(details.get("waived_gates"), list):
            details["waived_gates"] = tuple(details["waived_gates"])
        decision = Decision(**details)
        verify_decision(decision, signature, _member_key(board_key, decision.member))
    except (SignatureError, TypeError) as err:
        return _P_SIGNATURE.format(
            line=line,
            err=err
            if isinstance(err, SignatureError)
            else f"the details of {entry.get('event')!r} are not a board decision's fields",
        )
    return None


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
