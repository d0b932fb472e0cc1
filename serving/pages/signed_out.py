"""Signed-out sessions, shared by every worker through one SQLite file.

A session cookie stays valid until it expires, so signing out has to be remembered: otherwise
a copy of the cookie would still work. The server may run several worker processes and any of
them may receive the copy, so the memory is a small SQLite table (session id, expiry) that
every worker reads, beside the key file by default. A row is dropped once its session would
have expired anyway, so the table holds at most the sign-outs of one session lifetime.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path

__all__ = ["SignedOut"]

_FILE_MODE = 0o600
_BUSY_TIMEOUT_S = 10.0


class SignedOut:
    """The ids of sessions signed out before they expired.

    Parameters
    ----------
    path
        The SQLite file, created (mode 600) if missing; every worker must use the same one.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # private before SQLite writes to it
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE))
        # one connection per store; page handlers may run on several threads, hence the lock
        self._con = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        with self._lock:
            self._con.execute("PRAGMA journal_mode=WAL")  # readers never wait for a sign-out
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS signed_out (sid TEXT PRIMARY KEY, expires REAL)"
            )

    def add(self, sid: str, expires: float) -> None:
        """Remember ``sid`` until ``expires`` (seconds since the epoch); forget expired ones."""
        with self._lock:
            self._con.execute("DELETE FROM signed_out WHERE expires < ?", (time.time(),))
            self._con.execute("INSERT OR REPLACE INTO signed_out VALUES (?, ?)", (sid, expires))

    def __contains__(self, sid: object) -> bool:
        if not isinstance(sid, str):
            return False
        with self._lock:
            row = self._con.execute("SELECT 1 FROM signed_out WHERE sid = ?", (sid,)).fetchone()
        return row is not None
