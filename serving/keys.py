"""API keys: roles, a hashed key file, and the lookup the server makes on every request.

A key is given to its holder once, as a token ``vru_<key_id>_<secret>``: ``key_id`` is 12
hex characters that name the key (in the audit log, ``vru keys list`` and revocation) and
``secret`` is 32 random bytes (256 bits) in URL-safe base64. The key file keeps, per key, its
id, name, role, creation and revocation times and the SHA-256 of the secret, never the secret.

Why a plain SHA-256 and not a password hash (bcrypt, scrypt, Argon2): those are slow on
purpose so that a stolen file of *guessable* passwords cannot be searched quickly. A secret
here is 256 bits from :func:`secrets.token_urlsafe`: no dictionary holds it and no search
of 2**256 candidates is possible whatever the hash costs, so a slow hash would add
milliseconds to every request and no protection. The hash is compared with
:func:`hmac.compare_digest` (constant time), and the key is found by its id, so no lookup
depends on the secret.

The file is JSON, written to a temporary file and renamed into place (mode ``0o600``) under
an exclusive lock on a sidecar ``<file>.lock``, so two ``vru keys`` commands cannot lose each
other's changes and the server never reads half a file. The server re-reads it when it
changes (checked every ``keys_check_seconds``), so a revoked key stops working without a
restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from governance.contracts.errors import VruError

__all__ = [
    "ROLES",
    "ApiKey",
    "ApiKeyError",
    "KeyStore",
    "Role",
    "create_key",
    "list_keys",
    "read_keys",
    "revoke_key",
]

Role = Literal["planner", "board", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
TOKEN_PREFIX = "vru_"
_KEY_ID = re.compile(r"[0-9a-f]{12}")
_FILE_MODE = 0o600
_FILE_VERSION = 1
_log = logging.getLogger("serving")

_BAD_ROLE = "role {role!r} is not allowed; allowed roles are {roles}"
_BAD_NAME = "name must be 1 to 100 printable characters, got {name!r}"
_UNKNOWN_KEY = "{path}: no key with id {key_id!r}; `vru keys list` shows the ids"
_ALREADY_REVOKED = "{path}: key {key_id} was already revoked at {at}"
_BAD_FILE = "{path}: not a valid key file ({problem}); restore it from a backup"


class ApiKeyError(VruError, ValueError):
    """A key file, key id, role or name is not valid."""


@dataclass(frozen=True)
class ApiKey:
    """One key as stored (no secret): who holds it, what it may do, whether it is revoked."""

    key_id: str
    name: str
    role: Role
    sha256: str
    created: str
    revoked: str | None = None

    @property
    def active(self) -> bool:
        """False once revoked."""
        return self.revoked is None

    def public(self) -> dict[str, Any]:
        """Everything but the hash, for listings."""
        return {k: v for k, v in asdict(self).items() if k != "sha256"}


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed token, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    key_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not secret or not _KEY_ID.fullmatch(key_id):
        return None
    return key_id, secret


def read_keys(path: Path) -> dict[str, ApiKey]:
    """The keys in ``path`` by id; an absent file holds none.

    Raises
    ------
    ApiKeyError
        If the file is not a key file.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise ApiKeyError(_BAD_FILE.format(path=path, problem=type(err).__name__)) from None
    if not isinstance(raw, dict) or raw.get("version") != _FILE_VERSION:
        raise ApiKeyError(_BAD_FILE.format(path=path, problem=f"expected version {_FILE_VERSION}"))
    keys: dict[str, ApiKey] = {}
    for item in raw.get("keys", []):
        try:
            key = ApiKey(**item)
        except TypeError:
            raise ApiKeyError(
                _BAD_FILE.format(path=path, problem="a key has wrong fields")
            ) from None
        if key.role not in ROLES or not _KEY_ID.fullmatch(key.key_id):
            raise ApiKeyError(_BAD_FILE.format(path=path, problem=f"key {key.key_id!r} is invalid"))
        keys[key.key_id] = key
    return keys


def list_keys(path: Path) -> list[ApiKey]:
    """Every key, active or revoked, oldest first."""
    return sorted(read_keys(path).values(), key=lambda k: (k.created, k.key_id))


def create_key(path: Path, *, role: str, name: str) -> tuple[ApiKey, str]:
    """Add a key; returns it and its token, which is shown once and stored nowhere.

    Raises
    ------
    ApiKeyError
        If the role or name is not allowed, or the file is damaged.
    """
    if role not in ROLES:
        raise ApiKeyError(_BAD_ROLE.format(role=role, roles=list(ROLES)))
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100 or not name.isprintable():
        raise ApiKeyError(_BAD_NAME.format(name=name))
    with _locked(path):
        keys = read_keys(path)
        key_id = secrets.token_hex(6)
        while key_id in keys:  # pragma: no cover - 48 random bits
            key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=key_id,
            name=name.strip(),
            role=role,  # type: ignore[arg-type]  # checked against ROLES above
            sha256=_hash_secret(secret),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        keys[key_id] = key
        _write(path, keys)
    return key, f"{TOKEN_PREFIX}{key_id}_{secret}"


def revoke_key(path: Path, key_id: str) -> ApiKey:
    """Mark a key revoked (it stays listed); every later request with it is a 401.

    Raises
    ------
    ApiKeyError
        If there is no such key or it is already revoked.
    """
    with _locked(path):
        keys = read_keys(path)
        key = keys.get(key_id)
        if key is None:
            raise ApiKeyError(_UNKNOWN_KEY.format(path=path, key_id=key_id))
        if key.revoked is not None:
            raise ApiKeyError(_ALREADY_REVOKED.format(path=path, key_id=key_id, at=key.revoked))
        revoked = ApiKey(**{**asdict(key), "revoked": datetime.now(UTC).isoformat()})
        keys[key_id] = revoked
        _write(path, keys)
    return revoked


class KeyStore:
    """The server's view of the key file: token to key, cached, refreshed when the file changes.

    A token that verified once is remembered (token to key), so a request costs one dict
    lookup; the cache holds only tokens of keys in the file and is emptied whenever the file
    changes, so a revoked key fails from the next check on.

    Parameters
    ----------
    path
        The key file.
    check_seconds
        At most how often the file's modification is checked (0: every lookup).
    """

    def __init__(self, path: Path, *, check_seconds: float = 2.0) -> None:
        self.path = Path(path)
        self.check_seconds = check_seconds
        self._keys: dict[str, ApiKey] = {}
        self._cache: dict[str, ApiKey] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._next_check = 0.0
        self.refresh(strict=True)

    def refresh(self, *, strict: bool = False) -> None:
        """Re-read the key file if it changed since the last read.

        A damaged file raises :class:`ApiKeyError` when ``strict`` (at start-up); later, the
        keys read before are kept and the error is logged, so requests go on being checked.
        """
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            try:
                keys = read_keys(self.path) if stamp is not None else {}
            except ApiKeyError as err:  # keep the keys read last; an operator must fix the file
                if strict:
                    raise
                _log.error("%s; keeping the %d key(s) read before", err, len(self._keys))
                return
            self._keys, self._cache, self._stamp = keys, {}, stamp

    def lookup(self, token: str) -> ApiKey | None:
        """The active key a token belongs to, or None (unknown, malformed, wrong or revoked)."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.check_seconds
            self.refresh()
        key = self._cache.get(token)
        if key is not None:
            return key
        parts = split_token(token)
        if parts is None:
            return None
        key = self._keys.get(parts[0])
        if key is None or not key.active:
            return None
        if not hmac.compare_digest(key.sha256, _hash_secret(parts[1])):
            return None
        self._cache[token] = key
        return key

    def active(self, key_id: str) -> ApiKey | None:
        """The key with this id if it is still active (a signed-in page session's check).

        A session cookie holds the key's id, never its token; this is how a revoked key ends
        the sessions it opened, from the next check of the file on.
        """
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.check_seconds
            self.refresh()
        key = self._keys.get(key_id)
        return key if key is not None and key.active else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write(path: Path, keys: dict[str, ApiKey]) -> None:
    """Write the key file through a temporary file (mode 600), fsync, rename."""
    content = {"version": _FILE_VERSION, "keys": [asdict(k) for k in keys.values()]}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), _FILE_MODE)
            handle.write(json.dumps(content, indent=2, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
