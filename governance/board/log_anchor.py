"""Signed checkpoints of an audit log, kept in an anchor file apart from the log.

A hash chain (:mod:`governance.board.audit_log`) shows an *edited* line, but not a log cut
short at the end, nor one rewritten from some entry on with the chain recomputed: anyone who
can write the file can compute SHA-256. A checkpoint closes both gaps. It says "entry ``seq``
of the log ``log`` had hash ``hash`` (``count`` entries) at ``at``", signed with the log's
Ed25519 key, which only the log's writers hold. It lives in a separate anchor file,
rewritten atomically (temporary file, fsync, rename, fsync of the directory) after every
append, so:

- a log cut below the anchored entry no longer reaches ``seq``: *truncation*;
- a log rewritten at or before ``seq`` and re-chained has another hash at ``seq``:
  *re-chaining*;
- an anchor edited or made without the key does not verify with the public key in the
  governance config: a *forged anchor*.

What a checkpoint does not show: entries after the last checkpoint can be cut without trace
(writers checkpoint at the end of every append and every batch, so that window is the batch
being written when the process stopped); an attacker holding the log key can forge
everything, so the key must live apart from the log (another user, another disk); and a log
cut back to an *older* genuine checkpoint, with that older anchor file put back, verifies.
Copy the anchor's ``seq`` and ``hash`` off the machine (they are printed by
``vru audit-log verify``) to detect that last one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from governance.contracts.errors import VruError
from governance.contracts.signing import load_public_key_b64

__all__ = ["AnchorError", "Checkpoint", "read_anchor", "write_anchor"]

_ANCHOR_MODE = 0o640
_FIELDS = ("at", "count", "hash", "log", "seq", "signature")

_MISSING = "{path}: no signed checkpoint (anchor file missing)"
_MALFORMED = "{path}: the anchor is not a checkpoint ({problem})"
_FORGED = (
    "{path}: the checkpoint's signature does not verify with the log's public key "
    "(the anchor was edited, forged without the key, or signed with another key)"
)
_OTHER_LOG = "{path}: the checkpoint is for the log {named!r}, not {log!r}"


class AnchorError(VruError, ValueError):
    """An anchor file is missing, malformed, for another log, or its signature is not valid."""


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint says about a log; :meth:`payload` is what is signed.

    Attributes
    ----------
    log
        The log's file name (so an anchor cannot be moved to another log signed by the
        same key).
    seq
        The ``seq`` of the last entry covered (``count - 1``).
    hash
        That entry's ``hash``; through the chain it covers every entry before it.
    count
        The number of entries covered.
    at
        When the checkpoint was made, ISO-8601 in UTC.
    """

    log: str
    seq: int
    hash: str
    count: int
    at: str

    def payload(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces) of every field, UTF-8."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")


def write_anchor(path: Path, checkpoint: Checkpoint, key: Ed25519PrivateKey) -> None:
    """Sign ``checkpoint`` and replace the anchor file with it, atomically and durably.

    A crash leaves the old anchor or the new one, never half of one.
    """
    signature = base64.b64encode(key.sign(checkpoint.payload())).decode("ascii")
    body = {**asdict(checkpoint), "signature": signature}
    content = (json.dumps(body, sort_keys=True) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), _ANCHOR_MODE)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_anchor(path: Path, public_key: Ed25519PublicKey | str, log_name: str) -> Checkpoint:
    """The checkpoint in ``path``, once its signature verifies and it names this log.

    Parameters
    ----------
    path
        The anchor file.
    public_key
        The log's public key, or the base64 of its 32 raw bytes (``audit_log_public_key_b64``).
    log_name
        The file name of the log it must be for.

    Raises
    ------
    AnchorError
        If the file is missing or malformed, names another log, or its signature does not
        verify (the message names the file, never key material).
    """
    key = (
        load_public_key_b64(public_key, field="audit_log_public_key_b64")
        if isinstance(public_key, str)
        else public_key
    )
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise AnchorError(_MISSING.format(path=path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AnchorError(_MALFORMED.format(path=path, problem="not JSON")) from None
    checkpoint, signature = _parse(path, raw)
    try:
        key.verify(signature, checkpoint.payload())
    except InvalidSignature:
        raise AnchorError(_FORGED.format(path=path)) from None
    if checkpoint.log != log_name:
        raise AnchorError(_OTHER_LOG.format(path=path, named=checkpoint.log, log=log_name))
    return checkpoint


def _parse(path: Path, raw: object) -> tuple[Checkpoint, bytes]:
    """The checkpoint and signature bytes of a parsed anchor; every field's type checked."""
    if not isinstance(raw, dict) or sorted(raw) != list(_FIELDS):
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise AnchorError(_MALFORMED.format(path=path, problem=f"fields {got}"))
    kinds = {"at": str, "count": int, "hash": str, "log": str, "seq": int, "signature": str}
    for field, kind in kinds.items():
        if not isinstance(raw[field], kind) or isinstance(raw[field], bool):
            raise AnchorError(
                _MALFORMED.format(path=path, problem=f"'{field}' is not {kind.__name__}")
            )
    try:
        signature = base64.b64decode(raw["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise AnchorError(_MALFORMED.format(path=path, problem="signature not base64")) from None
    fields = {k: raw[k] for k in _FIELDS if k != "signature"}
    return Checkpoint(**fields), signature
