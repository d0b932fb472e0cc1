"""Ed25519 signatures on the ethics board's decisions.

A board decision (approve or reject one model version, for the exact report hash the board
read) is signed with one board member's private key; promotion verifies it against that
member's public key on the roster in configuration (:mod:`governance.contracts.roster`)
before moving the serving alias. The signed message, :meth:`Decision.payload`, covers every
field: model name, version, report hash, decision, time, reviewer, reasons, waived gates,
the member and the review date (``valid_until``), and the SHA-256 of every file of the
version's logged model (``model_artifacts``, with one digest over them). So a signature cannot be
replayed for another version or another report, no field can be changed after signing, and
a model file rewritten after the review no longer matches what the board signed.

Keys are files: the private key as unencrypted PEM PKCS8 (mode ``0o600``, readable only by
its owner), the public key as PEM SubjectPublicKeyInfo, and in configuration as the base64
of its 32 raw bytes. No error message ever contains key material.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from governance.contracts.errors import VruError

__all__ = [
    "Decision",
    "SignatureError",
    "artifact_differences",
    "artifacts_digest",
    "check_signed_fields",
    "generate_keypair",
    "is_utc_iso",
    "load_private_key",
    "load_public_key_b64",
    "sign_decision",
    "verify_decision",
    "verify_payload",
]

_PRIVATE_MODE = 0o600
_PUBLIC_MODE = 0o644
_RAW_KEY_BYTES = 32
_SIGNATURE_BYTES = 64
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MEMBER_ID = re.compile(r"[a-z0-9_-]+")

_EXISTS = "{path}: {what} key file already exists; pass overwrite=True to replace it"
_SAME_PATH = "{path}: the private and public key paths must differ"
_NO_FILE = "{path}: private key file not found"
_NOT_PEM = "{path}: not a PEM private key (expected an unencrypted PKCS8 Ed25519 key)"
_ENCRYPTED = "{path}: the private key is encrypted; expected an unencrypted PKCS8 Ed25519 key"
_WRONG_TYPE = "{path}: holds a {kind} key, expected an Ed25519 private key"
_PEM_GIVEN = (
    "{field}: got a PEM block, expected the base64 of the 32 raw bytes of an Ed25519 "
    "public key (the value that generate_keypair returns)"
)
_NOT_B64 = "{field}: not valid base64 ({given}), expected {expected}"
_B64_LENGTH = "{field}: decodes to {n} bytes, expected {expected}"
_PUBLIC_EXPECTED = "the base64 of a 32-byte raw Ed25519 public key (44 characters)"
_SIGNATURE_EXPECTED = "the base64 of a 64-byte Ed25519 signature (88 characters)"
_DOES_NOT_VERIFY = (
    "signature does not verify for model {model!r} version {version!r} "
    "({decision}, report hash {report}): the decision was changed after signing "
    "(report hash, version, decision, time, reviewer, reasons, waivers or model files), the "
    "signature belongs to another decision, or it was made with another key"
)
_BAD_RECORD_FIELD = "{kind}: '{field}' must be {expected}, got {value!r}"
_BAD_FIELD = "Decision: '{field}' must be {expected}, got {value!r}"
_BAD_ARTIFACTS = (
    "Decision: 'model_artifacts' must map relative file paths to 64 lower-case hex "
    "characters; {path!r} does not"
)
_BAD_ARTIFACTS_DIGEST = (
    "Decision: 'model_artifacts_sha256' is {given!r}, but the artifacts listed digest to {actual}"
)


class SignatureError(VruError, ValueError):
    """A key, a signature or a signed decision is missing, malformed or does not verify."""


class _NotVerified(SignatureError):
    """Well-formed key and signature, but the signature is not of this payload with this key."""


@dataclass(frozen=True)
class Decision:
    """The ethics board's decision on one model version, as it is signed.

    Parameters
    ----------
    model
        Registered model name, e.g. ``"vru-risk"``.
    version
        Model version, e.g. ``"3"``.
    report_sha256
        SHA-256 (lower-case hex) of the audit report the board read.
    decision
        ``"approve"`` or ``"reject"``.
    reviewer
        Who decided.
    reasons
        Why, in the reviewer's words.
    decided_at
        When, as ISO-8601 in UTC (e.g. ``"2024-05-01T09:30:00+00:00"``).
    waived_gates
        Names of promotion gates the board chose to waive for this version.
    model_artifacts
        The SHA-256 of every file of the version's logged model (``MLmodel``, pickles,
        environment files, code), by path relative to the model's root, sorted. Empty only
        in decisions signed before decisions named them; such a decision binds no model and
        cannot promote (:mod:`governance.board.approval` refuses it).
    model_artifacts_sha256
        :func:`artifacts_digest` of ``model_artifacts``, one value to quote and compare.
    member
        The roster id of the board member whose key signs this decision
        (:mod:`governance.contracts.roster`); ``reviewer`` is that member's roster name.
    valid_until
        The review date (ISO date, UTC): an approval lapses after it. Empty (with
        ``member``) only in decisions signed before decisions lapsed; those count for nothing.

    Raises
    ------
    SignatureError
        If a field is empty or not in its expected form.
    """

    model: str
    version: str
    report_sha256: str
    decision: Literal["approve", "reject"]
    reviewer: str
    reasons: str
    decided_at: str
    waived_gates: tuple[str, ...] = ()
    model_artifacts: dict[str, str] = dataclass_field(default_factory=dict)
    model_artifacts_sha256: str = ""
    member: str = ""
    valid_until: str = ""

    def __post_init__(self) -> None:
        check_signed_fields(self, ("model", "version", "reviewer", "reasons"), self.report_sha256)
        if self.decision not in ("approve", "reject"):
            raise SignatureError(
                _BAD_FIELD.format(
                    field="decision", expected="'approve' or 'reject'", value=self.decision
                )
            )
        if not is_utc_iso(self.decided_at):
            raise SignatureError(
                _BAD_FIELD.format(
                    field="decided_at",
                    expected="an ISO-8601 time in UTC, e.g. '2024-05-01T09:30:00+00:00'",
                    value=self.decided_at,
                )
            )
        if not isinstance(self.waived_gates, tuple) or not all(
            isinstance(gate, str) and gate for gate in self.waived_gates
        ):
            raise SignatureError(
                _BAD_FIELD.format(
                    field="waived_gates",
                    expected="a tuple of gate names",
                    value=self.waived_gates,
                )
            )
        self._check_artifacts()
        self._check_member()

    def _check_member(self) -> None:
        """A roster id and an ISO date, or both empty (a decision signed before either)."""
        if not isinstance(self.member, str) or (
            self.member and not _MEMBER_ID.fullmatch(self.member)
        ):
            raise SignatureError(
                _BAD_FIELD.format(field="member", expected="a roster id", value=self.member)
            )
        if not isinstance(self.valid_until, str) or (
            self.valid_until and not _is_iso_date(self.valid_until)
        ):
            raise SignatureError(
                _BAD_FIELD.format(
                    field="valid_until",
                    expected="an ISO date, e.g. '2025-05-01'",
                    value=self.valid_until,
                )
            )
        if bool(self.member) != bool(self.valid_until):
            raise SignatureError(
                _BAD_FIELD.format(
                    field="member and valid_until",
                    expected="both given or both empty",
                    value=(self.member, self.valid_until),
                )
            )

    def _check_artifacts(self) -> None:
        """Paths relative and hashes hex; the digest the one of the mapping; stored sorted."""
        if not isinstance(self.model_artifacts, Mapping):
            raise SignatureError(_BAD_ARTIFACTS.format(path=self.model_artifacts))
        for path, digest in self.model_artifacts.items():
            if (
                not isinstance(path, str)
                or not path
                or path.startswith("/")
                or ".." in path.split("/")
                or not isinstance(digest, str)
                or not _SHA256_HEX.fullmatch(digest)
            ):
                raise SignatureError(_BAD_ARTIFACTS.format(path=path))
        object.__setattr__(self, "model_artifacts", dict(sorted(self.model_artifacts.items())))
        expected = artifacts_digest(self.model_artifacts) if self.model_artifacts else ""
        if self.model_artifacts_sha256 != expected:
            raise SignatureError(
                _BAD_ARTIFACTS_DIGEST.format(given=self.model_artifacts_sha256, actual=expected)
            )

    def payload(self) -> bytes:
        """The signed message: canonical JSON (sorted keys, no spaces) of every field, UTF-8.

        A decision that names no model artifacts (signed before decisions did) leaves the two
        artifact fields out, so its old signature still verifies; it is refused elsewhere for
        binding no model, not mistaken for a forgery. Likewise one without ``member`` and
        ``valid_until`` (signed before the roster), refused for having no review date.
        """
        fields = asdict(self)
        if not self.model_artifacts:
            del fields["model_artifacts"], fields["model_artifacts_sha256"]
        if not self.member:
            del fields["member"], fields["valid_until"]
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")


def check_signed_fields(record: object, texts: Sequence[str], digest: object) -> None:
    """Refuse a signed record with an empty text field or a report hash that is not hex.

    ``digest`` is the record's ``report_sha256``: 64 lower-case hex characters. Shared by every record the board signs (decisions, revocations); the message names the
    record's type, the field and what was expected.

    Raises
    ------
    SignatureError
        On the first field that is not as expected.
    """
    kind = type(record).__name__
    for field in texts:
        value = getattr(record, field)
        if not isinstance(value, str) or not value.strip():
            raise SignatureError(
                _BAD_RECORD_FIELD.format(
                    kind=kind, field=field, expected="a non-empty string", value=value
                )
            )
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise SignatureError(
            _BAD_RECORD_FIELD.format(
                kind=kind,
                field="report_sha256",
                expected="64 lower-case hex characters",
                value=digest,
            )
        )


def artifacts_digest(artifacts: Mapping[str, str]) -> str:
    """One SHA-256 over a ``path -> sha256`` mapping: of its canonical JSON, keys sorted."""
    text = json.dumps(dict(sorted(artifacts.items())), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def artifact_differences(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    """Each file that is not as signed: ``changed: p``, ``added: p`` or ``missing: p``, sorted.

    Parameters
    ----------
    expected
        The mapping the board signed (``Decision.model_artifacts``).
    actual
        The mapping of the files as they are now.
    """
    found = [
        f"changed: {p}" for p in sorted(expected.keys() & actual.keys()) if expected[p] != actual[p]
    ]
    found += [f"added: {p}" for p in sorted(actual.keys() - expected.keys())]
    found += [f"missing: {p}" for p in sorted(expected.keys() - actual.keys())]
    return found


def generate_keypair(private_path: Path, public_path: Path, *, overwrite: bool = False) -> str:
    """Create a new Ed25519 key pair and write it to two PEM files.

    Parameters
    ----------
    private_path
        Where to write the private key (PEM PKCS8, unencrypted, mode ``0o600``).
    public_path
        Where to write the public key (PEM SubjectPublicKeyInfo, mode ``0o644``).
    overwrite
        Replace existing key files. Off by default: losing the private key makes every
        decision signed with it unverifiable against a new key.

    Returns
    -------
    str
        The public key as base64 of its 32 raw bytes, for configuration (``public_key_b64``).

    Raises
    ------
    SignatureError
        If a key file exists and ``overwrite`` is false (nothing is written then), or both
        paths are the same.
    """
    private_path, public_path = Path(private_path), Path(public_path)
    if private_path.resolve() == public_path.resolve():
        raise SignatureError(_SAME_PATH.format(path=private_path))
    if not overwrite:
        for path, what in ((private_path, "private"), (public_path, "public")):
            if path.exists():
                raise SignatureError(_EXISTS.format(path=path, what=what))
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_atomic(private_path, private_pem, _PRIVATE_MODE, overwrite=overwrite, what="private")
    try:
        _write_atomic(public_path, public_pem, _PUBLIC_MODE, overwrite=overwrite, what="public")
    except BaseException:
        if not overwrite:  # leave no private key without its public half
            private_path.unlink()
        raise
    return _public_b64(public)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an unencrypted PEM PKCS8 Ed25519 private key.

    Raises
    ------
    SignatureError
        If the file is missing, not a PEM private key, encrypted, or of another key type.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SignatureError(_NO_FILE.format(path=path)) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SignatureError(_ENCRYPTED.format(path=path)) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SignatureError(_NOT_PEM.format(path=path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(_WRONG_TYPE.format(path=path, kind=type(key).__name__))
    return key


def load_public_key_b64(text: str, *, field: str = "public_key_b64") -> Ed25519PublicKey:
    """Read an Ed25519 public key from the base64 of its 32 raw bytes.

    Parameters
    ----------
    text
        The base64 text, as returned by :func:`generate_keypair`.
    field
        The configuration key it came from, named in error messages.

    Raises
    ------
    SignatureError
        If the text is a PEM block, not base64, or not 32 bytes long.
    """
    if isinstance(text, str) and "-----BEGIN" in text:
        raise SignatureError(_PEM_GIVEN.format(field=field))
    raw = _b64decode(text, field=field, expected=_PUBLIC_EXPECTED)
    if len(raw) != _RAW_KEY_BYTES:
        raise SignatureError(_B64_LENGTH.format(field=field, n=len(raw), expected=_PUBLIC_EXPECTED))
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_decision(decision: Decision, private_key: Ed25519PrivateKey) -> str:
    """Sign ``decision.payload()``; returns the signature as base64 (88 characters)."""
    return base64.b64encode(private_key.sign(decision.payload())).decode("ascii")


def verify_decision(decision: Decision, signature_b64: str, public_key_b64: str) -> None:
    """Check that ``signature_b64`` is the board's signature of exactly this decision.

    Parameters
    ----------
    decision
        The decision as recorded (on the model version or in the audit log).
    signature_b64
        Its signature, from :func:`sign_decision`.
    public_key_b64
        The board's public key from configuration.

    Raises
    ------
    SignatureError
        If the key or signature is malformed, or the signature does not verify: any field
        changed since signing (e.g. another report hash or version, so a replayed
        signature), or a different key.
    """
    try:
        verify_payload(decision.payload(), signature_b64, public_key_b64)
    except _NotVerified:
        raise SignatureError(
            _DOES_NOT_VERIFY.format(
                model=decision.model,
                version=decision.version,
                decision=decision.decision,
                report=decision.report_sha256,
            )
        ) from None


def verify_payload(payload: bytes, signature_b64: str, public_key_b64: str) -> None:
    """Check an Ed25519 signature (base64) of ``payload`` with a key from configuration.

    Raises
    ------
    SignatureError
        If the key or signature is malformed, or the signature does not verify.
    """
    public_key = load_public_key_b64(public_key_b64)
    signature = _b64decode(signature_b64, field="signature", expected=_SIGNATURE_EXPECTED)
    if len(signature) != _SIGNATURE_BYTES:
        raise SignatureError(
            _B64_LENGTH.format(field="signature", n=len(signature), expected=_SIGNATURE_EXPECTED)
        )
    try:
        public_key.verify(signature, payload)
    except InvalidSignature:
        raise _NotVerified("signature does not verify with the key given") from None


# -- helpers -------------------------------------------------------------------------------


def _public_b64(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _b64decode(text: str, *, field: str, expected: str) -> bytes:
    """Strict base64 (no stray characters); the message gives the length, never the text."""
    if not isinstance(text, str):
        given = f"got {type(text).__name__}"
        raise SignatureError(_NOT_B64.format(field=field, given=given, expected=expected))
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        given = f"{len(text.strip())} characters given"
        raise SignatureError(_NOT_B64.format(field=field, given=given, expected=expected)) from None


def is_utc_iso(text: object) -> bool:
    """Whether ``text`` is an ISO-8601 time with a UTC offset of zero."""
    if not isinstance(text, str):
        return False
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return False
    return when.utcoffset() == timedelta(0)


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == len("YYYY-MM-DD")


def _write_atomic(path: Path, content: bytes, mode: int, *, overwrite: bool, what: str) -> None:
    """Write through a temporary file in the same directory, then rename (or link) it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # before any byte of the key is written
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:  # a hard link never replaces: another writer cannot be clobbered
                os.link(tmp, path)
            except FileExistsError:
                raise SignatureError(_EXISTS.format(path=path, what=what)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
