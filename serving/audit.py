"""The request audit: one audit-log entry per API request, written off the request path.

A request only appends a tuple to an in-memory queue (:meth:`RequestAudit.record`, a
``deque.append``: no lock, no I/O). Every ``flush_seconds`` a background thread takes what is
queued, in batches, and hands each batch to a writer *process*, which turns the records into
entries and appends them to the hash-chained audit log with one
:meth:`governance.board.audit_log.AuditLog.append_many` (one lock, one write, one fsync per batch),
then answers whether the batch is written. The writer is ``python -m serving.audit``
started with a pipe each way (not a fork of the threaded server, and it imports nothing of
the server's ``__main__``).

Why a process: turning a record into a hash-chained entry costs about 9 µs of Python
(measured: serialising, hashing, formatting). At the thousands of requests a second the hot
route serves, that is a large share of one interpreter, and a thread of the server would hold
the interpreter lock while the event loop waits for it. In a process of its own that work runs
beside the server; the server only pickles each batch (under 1 µs a record). The writer runs
at a lower priority (nice 10): where cores are short, requests are answered first and the
audit catches up (nothing is dropped meanwhile; the records wait in the server's memory).

Nothing is lost: a batch leaves memory only once the writer says it is written. If a write
fails (a full disk, a damaged log) the batch is kept, the failure counted and logged, and it
is sent again at the next flush, in order, before anything newer; if the writer process dies
another is started and the batch sent to it (so a batch the dead writer had written but not
confirmed can appear twice: a duplicate, never a gap). :meth:`RequestAudit.close` (at shutdown)
writes what is left, then stops the writer.

Fail closed: while writes fail, or once the records waiting reach ``max_backlog``, the audit
is :attr:`~RequestAudit.closed`; the gate then answers 503 on every audited route and
``/readyz`` says not ready, so nothing is served unaudited and the backlog stays bounded.
It opens again after a successful write with the backlog under the bound.

Refusals without a valid key (401, 429) and the 503s while closed are not records of their
own: :meth:`RequestAudit.tally` counts them per route and status, and every
``tally_seconds`` the counts become one ``event="api.refused"`` entry each (``details``
``{route, status, count, window_seconds}``), so a flood of anonymous requests costs a few
entries, not one per request.

An entry is ``event="api.request"``, ``actor="api:<key id>"`` (``api:anonymous`` when no valid
key was given) and ``details`` ``{key_id, role, method, route, params, status, ms}``: the route
template (``/v1/areas/{code}``), the path and query parameters the API defines (others only by
name), never a token or a header.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from governance.board.audit_log import AuditEvent, AuditLog, anchor_path_for
from governance.contracts.settings import GovernanceConfig
from governance.contracts.signing import load_private_key

__all__ = ["AUDIT_EVENT", "REFUSED_EVENT", "RequestAudit"]

AUDIT_EVENT = "api.request"
REFUSED_EVENT = "api.refused"
"""An aggregate entry: refusals of one route and status counted over a window."""
_TALLY = "*"
"""The method field of a record that is a tally of refusals (its params hold the count)."""
_log = logging.getLogger("serving")
_STOP = b""
_JOIN_SECONDS = 30.0
_WRITER_NICENESS = 10

# (unix time, key id or None, role or None, method, route, params, status, milliseconds)
_Record = tuple[float, str | None, str | None, str, str, dict[str, Any] | str, int, float]


class RequestAudit:
    """A queue of request records, the thread that flushes it and the process that writes.

    Parameters
    ----------
    path
        The audit log (see :class:`governance.board.audit_log.AuditLog`).
    flush_seconds
        How long records may wait in memory before they are sent to be written.
    max_batch
        At most this many records per batch (one append, one fsync).
    governance
        The governance config, for the logs' key (``audit_log_key``) and anchor directory:
        with a key, the writer process ends every batch with a signed checkpoint. Only the
        writer process reads the key.
    max_backlog
        Records waiting to be written past which the audit is :attr:`closed`.
    tally_seconds
        How long refusals are counted (:meth:`tally`) before one aggregate record is queued.

    Attributes
    ----------
    closed
        True while the audited routes must not be served: the last write failed, or the
        backlog reached ``max_backlog``. A plain attribute, so the gate's check is one load;
        it opens again when a write succeeds with the backlog under the bound.
    """

    def __init__(
        self,
        path: Path,
        *,
        flush_seconds: float = 0.5,
        max_batch: int = 2000,
        governance: GovernanceConfig | None = None,
        max_backlog: int = 200_000,
        tally_seconds: float = 60.0,
    ) -> None:
        self.path = Path(path)
        self._key_path = None if governance is None else governance.audit_log_key
        self._anchor_path = (
            self.path.with_name(self.path.name + ".anchor")
            if governance is None
            else anchor_path_for(self.path, governance)
        )
        self.flush_seconds = flush_seconds
        self.max_batch = max_batch
        self.max_backlog = max_backlog
        self.tally_seconds = tally_seconds
        self.written = 0
        self.failures = 0
        self.last_error: str | None = None
        self.closed = False
        self._tallies: dict[tuple[str, int], list[float]] = {}  # (route, status) -> [n, first]
        self._tally_started = time.time()
        self._queue: collections.deque[_Record] = collections.deque()
        self._pending: list[_Record] = []  # taken from the queue, not yet confirmed written
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._send_conn: Connection | None = None
        self._recv_conn: Connection | None = None

    # -- the request side ------------------------------------------------------------------

    def record(
        self,
        key_id: str | None,
        role: str | None,
        method: str,
        route: str,
        params: dict[str, Any] | str,
        status: int,
        ms: float,
        at: float,
    ) -> None:
        """Queue one request's record (O(1), no I/O); ``at`` is seconds since the epoch.

        ``params`` is a dict of the request's parameters, or just a string for the one
        parameter of ``/v1/areas/{code}``: the hot route's record is then a tuple of atoms,
        which the garbage collector does not keep scanning while it waits to be written.
        """
        queue = self._queue
        queue.append((at, key_id, role, method, route, params, status, ms))
        if len(queue) >= self.max_backlog:
            self.closed = True

    def tally(self, route: str, status: int, at: float) -> None:
        """Count one refusal without a valid key (or while closed): no record of its own.

        Every ``tally_seconds`` the counts become one ``api.refused`` record per route and
        status (:meth:`_drain_tallies`), so a flood of refusals costs a few entries.
        """
        found = self._tallies.get((route, status))
        if found is None:
            self._tallies[(route, status)] = [1.0, at]
        else:
            found[0] += 1.0

    @property
    def backlog(self) -> int:
        """Records not yet written."""
        return len(self._queue) + len(self._pending)

    @property
    def healthy(self) -> bool:
        """False while the audited routes are closed (a failed write, or a full backlog)."""
        return not self.closed

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id, if it runs."""
        return None if self._process is None else self._process.pid

    # -- the writer ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer process and the flushing thread (once)."""
        if self._thread is None:
            self._spawn()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="vru-request-audit", daemon=True)
            self._thread.start()

    def close(self) -> bool:
        """Write everything still queued, then stop; False (and logged) if some is unwritten."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        done = (
            self.flush(all_tallies=True) or self.flush()
        )  # a second try, with a new writer if it died
        if not done:
            _log.error("audit: %d request record(s) could not be written at shutdown", self.backlog)
        self._stop_writer()
        return done

    def _drain_tallies(self, now: float, *, force: bool = False) -> None:
        """Queue the counted refusals as aggregate records once their window has passed."""
        if not self._tallies or (not force and now - self._tally_started < self.tally_seconds):
            return
        tallies, self._tallies = self._tallies, {}
        window = round(now - self._tally_started, 3)
        self._tally_started = now
        for (route, status), (count, first) in sorted(tallies.items()):
            params = {"count": int(count), "window_seconds": window}
            self._queue.append((first, None, None, _TALLY, route, params, status, 0.0))

    def flush(self, *, all_tallies: bool = False) -> bool:
        """Send everything queued to be written now; False if a write failed (records kept).

        Refusals counted for longer than ``tally_seconds`` (all of them if ``all_tallies``)
        are queued first as aggregate records. The audit is :attr:`closed` after a failed
        write, and open again after a successful one with the backlog under its bound.
        """
        self._drain_tallies(time.time(), force=all_tallies)
        ok = self._flush()
        self.closed = not ok or self.backlog >= self.max_backlog
        return ok

    def _flush(self) -> bool:
        with self._flush_lock:
            while True:
                if not self._pending:
                    take = min(len(self._queue), self.max_batch)
                    self._pending = [self._queue.popleft() for _ in range(take)]
                if not self._pending:
                    return True
                try:
                    ok, problem = self._write(self._pending)
                except (EOFError, OSError) as err:  # the writer died: a new one gets the batch
                    ok, problem = False, f"audit writer process stopped ({type(err).__name__})"
                    self._stop_writer()
                if not ok:
                    self.failures += 1
                    self.last_error = problem
                    _log.error("audit: %d record(s) not written: %s", len(self._pending), problem)
                    return False
                self.written += len(self._pending)
                self._pending = []
                self.last_error = None

    def _write(self, records: list[_Record]) -> tuple[bool, str]:
        if self._send_conn is None or self._recv_conn is None:
            self._spawn()
        assert self._send_conn is not None and self._recv_conn is not None
        self._send_conn.send_bytes(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL))
        ok, problem = self._recv_conn.recv()  # blocks, without the interpreter lock, until written
        return bool(ok), str(problem)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def _spawn(self) -> None:
        """Start ``python -m serving.audit`` with a pipe each way (no fork of the server)."""
        from_parent, to_child = os.pipe()  # (read end, write end)
        from_child, to_parent = os.pipe()
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "serving.audit",
                    str(from_parent),
                    str(to_parent),
                    str(self.path),
                    str(self._anchor_path),
                    "" if self._key_path is None else str(self._key_path),
                ],
                pass_fds=(from_parent, to_parent),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            for fd in (to_child, from_parent, from_child, to_parent):
                os.close(fd)
            raise
        os.close(from_parent)
        os.close(to_parent)
        self._process = process
        self._send_conn = Connection(to_child, readable=False)
        self._recv_conn = Connection(from_child, writable=False)

    def _stop_writer(self) -> None:
        send, recv, process = self._send_conn, self._recv_conn, self._process
        self._send_conn, self._recv_conn, self._process = None, None, None
        if send is not None:
            with contextlib.suppress(OSError):
                send.send_bytes(_STOP)
            send.close()
        if recv is not None:
            recv.close()
        if process is not None:
            try:
                process.wait(_JOIN_SECONDS)
            except subprocess.TimeoutExpired:  # pragma: no cover - a writer stuck on the lock
                process.kill()
                process.wait()


def _writer_main(read_fd: int, write_fd: int, path: str, anchor: str, key: str) -> None:
    """The writer process: append each batch it receives; answer ``(ok, problem)``.

    ``key`` is the logs' private key file (empty: no checkpoints); a key that cannot be
    read fails every batch, with the reason, so the server reports it and keeps the records.
    """
    # Ctrl-C or SIGTERM to the server's process group must not stop the writer before the
    # server's last flush: it stops when told to, or when the server's end of the pipe closes
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # background work: when cores are short, requests go first and the audit catches up
    os.nice(_WRITER_NICENESS)
    recv = Connection(read_fd, writable=False)
    send = Connection(write_fd, readable=False)
    try:
        signing_key = load_private_key(Path(key)) if key else None
        log: AuditLog | Exception = AuditLog(
            Path(path), signing_key=signing_key, anchor_path=Path(anchor)
        )
    except Exception as err:  # answered for each batch below
        log = err
    while True:
        try:
            data = recv.recv_bytes()
        except EOFError:
            return
        if data == _STOP:
            return
        records: list[_Record] = pickle.loads(data)  # from our own parent only
        try:
            if isinstance(log, Exception):
                raise log
            log.append_many([_entry(r) for r in records])
        except Exception as err:  # reported to the server, which keeps the batch and retries
            send.send((False, f"{type(err).__name__}: {err}"))
        else:
            send.send((True, ""))


def _entry(record: _Record) -> AuditEvent:
    at, key_id, role, method, route, params, status, ms = record
    if method == _TALLY:  # refusals counted over a window: route, status and how many
        assert isinstance(params, dict)
        details = {"route": route, "status": status, **params}
        return REFUSED_EVENT, details, "api:anonymous", datetime.fromtimestamp(at, UTC)
    details = {
        "key_id": key_id,
        "role": role,
        "method": method,
        "route": route,
        "params": {"code": params} if isinstance(params, str) else params,
        "status": status,
        "ms": round(ms, 2),
    }
    actor = f"api:{key_id}" if key_id else "api:anonymous"
    return AUDIT_EVENT, details, actor, datetime.fromtimestamp(at, UTC)


if __name__ == "__main__":
    _writer_main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6])
