"""A board member's signed revocation of an approval, and where the server finds it.

One member's revocation withdraws the board's approval of a model version (safety first: a
member who finds a problem after approving need not wait for a quorum to stop the model
being served). It withdraws every decision on that version made before it (``revoked_at``);
the board can approve the version again afterwards, by quorum, with new decisions.

A revocation is signed with the member's own key over :meth:`Revocation.payload` (model,
version, the report hash the approval was for, member, reasons, time) and recorded three
ways: on the model version (tags ``board_revocation/<member>`` and
``board_revocation_signature/<member>``), in the audit log, and as a signed JSON file in the
revocations directory (``revocations_dir`` in the governance config) that the server reads
on its periodic release check. A revocation whose signature does not verify with a roster
member's key is ignored, and reported.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.contracts.roster import BoardSettings
from governance.contracts.signing import (
    SignatureError,
    check_signed_fields,
    is_utc_iso,
    verify_payload,
)

__all__ = [
    "Revocation",
    "SignedRevocation",
    "read_revocation_files",
    "revocation_file_name",
    "sign_revocation",
    "verified_revocations",
    "write_revocation_file",
]

_MEMBER_ID = re.compile(r"[a-z0-9_-]+")
_BAD_FIELD = "Revocation: '{field}' must be {expected}, got {value!r}"
_NOT_A_MEMBER = (
    "a revocation of {model} version {version} names {member!r}, who is not on the roster; ignored"
)
_FORGED = (
    "a revocation of {model} version {version} by {member!r} does not verify with the "
    "member's key; ignored"
)
_UNREADABLE = "{path}: not a signed revocation ({err}); ignored"


@dataclass(frozen=True)
class Revocation:
    """One member's withdrawal of the board's approval of a model version, as signed."""

    model: str
    version: str
    report_sha256: str
    member: str
    reasons: str
    revoked_at: str

    def __post_init__(self) -> None:
        check_signed_fields(self, ("model", "version", "reasons"), self.report_sha256)
        if not isinstance(self.member, str) or not _MEMBER_ID.fullmatch(self.member):
            raise SignatureError(
                _BAD_FIELD.format(field="member", expected="a roster id", value=self.member)
            )
        if not is_utc_iso(self.revoked_at):
            raise SignatureError(
                _BAD_FIELD.format(
                    field="revoked_at", expected="an ISO-8601 time in UTC", value=self.revoked_at
                )
            )

    def payload(self) -> bytes:
        """The signed message: canonical JSON of every field, tagged as a revocation."""
        fields = {"kind": "revocation", **asdict(self)}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_fields(cls, fields: Any) -> Revocation:
        """Parse the fields as stored; malformed fields raise :class:`SignatureError`."""
        if not isinstance(fields, dict):
            raise SignatureError("Revocation: expected an object of fields")
        try:
            return cls(**fields)
        except TypeError as err:
            raise SignatureError(f"Revocation: {err}") from None


@dataclass(frozen=True)
class SignedRevocation:
    """A revocation and its signature (base64)."""

    revocation: Revocation
    signature: str


def sign_revocation(revocation: Revocation, private_key: Ed25519PrivateKey) -> str:
    """The member's signature (base64) of ``revocation.payload()``."""
    return base64.b64encode(private_key.sign(revocation.payload())).decode("ascii")


def verified_revocations(
    revocations: Sequence[SignedRevocation], roster: BoardSettings
) -> tuple[list[Revocation], list[str]]:
    """The revocations signed by the roster member each names; the others, in words.

    Returns
    -------
    tuple
        The verified revocations, and one line per ignored one (not a member, forged).
    """
    valid: list[Revocation] = []
    ignored: list[str] = []
    for signed in revocations:
        r = signed.revocation
        member = roster.member(r.member)
        words = {"model": r.model, "version": r.version, "member": r.member}
        if member is None:
            ignored.append(_NOT_A_MEMBER.format(**words))
            continue
        try:
            verify_payload(r.payload(), signed.signature, member.public_key_b64)
        except SignatureError:
            ignored.append(_FORGED.format(**words))
            continue
        valid.append(r)
    return valid, ignored


def revocation_file_name(model: str, version: str, member: str) -> str:
    """``<model>--v<version>--<member>.json``: one file per member and version."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", model)
    return f"{safe}--v{re.sub(r'[^A-Za-z0-9._-]', '_', version)}--{member}.json"


def write_revocation_file(directory: Path, signed: SignedRevocation) -> Path:
    """Write the signed revocation to ``directory`` atomically (temporary file, rename)."""
    r = signed.revocation
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / revocation_file_name(r.model, r.version, r.member)
    body = json.dumps({"revocation": asdict(r), "signature": signed.signature}, indent=2)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_revocation_files(
    directory: Path | None, model: str, version: str
) -> tuple[list[SignedRevocation], list[str]]:
    """The revocation files for ``model`` ``version`` in ``directory`` (not yet verified).

    A file that cannot be parsed is reported and ignored; a missing directory holds none.
    """
    found: list[SignedRevocation] = []
    problems: list[str] = []
    if directory is None or not Path(directory).is_dir():
        return found, problems
    for path in sorted(Path(directory).glob("*.json")):
        try:
            raw = json.loads(path.read_text())
            revocation = Revocation.from_fields(raw.get("revocation"))
            signature = raw.get("signature")
            if not isinstance(signature, str):
                raise SignatureError("no signature")
        except (OSError, ValueError, AttributeError, SignatureError) as err:
            problems.append(_UNREADABLE.format(path=path, err=err))
            continue
        if (revocation.model, revocation.version) == (model, version):
            found.append(SignedRevocation(revocation, signature))
    return found, problems
