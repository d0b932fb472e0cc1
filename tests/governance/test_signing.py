"""Board decisions signed with Ed25519: any change after signing, or another key, is refused."""

from __future__ import annotations

import base64
import dataclasses
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from governance.contracts.errors import VruError
from governance.contracts.signing import (
    Decision,
    SignatureError,
    artifact_differences,
    artifacts_digest,
    generate_keypair,
    load_private_key,
    load_public_key_b64,
    sign_decision,
    verify_decision,
)

REPORT = "ab" * 32
OTHER_REPORT = "cd" * 32
FILES = {"artifacts/calibrated_model.pkl": "01" * 32, "MLmodel": "02" * 32}


def _decision(**changes: Any) -> Decision:
    base = Decision(
        model="vru-risk",
        version="3",
        report_sha256=REPORT,
        decision="approve",
        reviewer="a.khan",
        reasons="Disparities within the configured bounds; drivers are plausible.",
        decided_at="2024-05-01T09:30:00+00:00",
        waived_gates=("drift",),
        model_artifacts=FILES,
        model_artifacts_sha256=artifacts_digest(FILES),
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, str]:
    private, public = tmp_path / "keys" / "board.pem", tmp_path / "keys" / "board.pub.pem"
    return private, public, generate_keypair(private, public)


# -- key files -------------------------------------------------------------------------------------


def test_keypair_files_formats_and_modes(keys: tuple[Path, Path, str]) -> None:
    private_path, public_path, public_b64 = keys
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(public_path.stat().st_mode) == 0o644
    assert private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    public_pem = serialization.load_pem_public_key(public_path.read_bytes())
    assert isinstance(public_pem, Ed25519PublicKey)
    raw = public_pem.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base64.b64decode(public_b64) == raw
    assert len(public_b64) == 44
    private = load_private_key(private_path)
    assert private.public_key().public_bytes_raw() == raw
    assert sorted(p.name for p in private_path.parent.iterdir()) == ["board.pem", "board.pub.pem"]


@pytest.mark.parametrize("existing", ["private", "public"])
def test_existing_key_files_are_not_overwritten(tmp_path: Path, existing: str) -> None:
    private, public = tmp_path / "board.pem", tmp_path / "board.pub.pem"
    target = private if existing == "private" else public
    target.write_text("precious")
    with pytest.raises(SignatureError) as err:
        generate_keypair(private, public)
    assert str(err.value) == (
        f"{target}: {existing} key file already exists; pass overwrite=True to replace it"
    )
    assert target.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_overwrite_replaces_both_files_with_a_new_key(keys: tuple[Path, Path, str]) -> None:
    private, public, first = keys
    second = generate_keypair(private, public, overwrite=True)
    assert second != first
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    signature = sign_decision(_decision(), load_private_key(private))
    verify_decision(_decision(), signature, second)


def test_the_same_path_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="the private and public key paths must differ"):
        generate_keypair(tmp_path / "k.pem", tmp_path / "k.pem")


def test_a_missing_private_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SignatureError) as err:
        load_private_key(tmp_path / "absent.pem")
    assert str(err.value) == f"{tmp_path / 'absent.pem'}: private key file not found"


def test_a_private_key_of_another_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x25519.pem"
    path.write_bytes(
        X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SignatureError) as err:
        load_private_key(path)
    assert (
        str(err.value) == f"{path}: holds a X25519PrivateKey key, expected an Ed25519 private key"
    )


def test_an_encrypted_private_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "encrypted.pem"
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret-pass"),
        )
    )
    with pytest.raises(SignatureError, match="the private key is encrypted") as err:
        load_private_key(path)
    assert "secret-pass" not in str(err.value)


def test_a_file_that_is_not_a_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SignatureError) as err:
        load_private_key(path)
    assert str(err.value) == (
        f"{path}: not a PEM private key (expected an unencrypted PKCS8 Ed25519 key)"
    )


# -- public keys from configuration ---------------------------------------------------------------


def test_bad_base64_public_key_is_explained() -> None:
    with pytest.raises(SignatureError) as err:
        load_public_key_b64("not base64 at all!")
    assert isinstance(err.value, VruError)
    assert isinstance(err.value, ValueError)
    assert str(err.value) == (
        "public_key_b64: not valid base64 (18 characters given), expected the base64 of a "
        "32-byte raw Ed25519 public key (44 characters)"
    )


def test_a_public_key_of_the_wrong_length_is_explained() -> None:
    with pytest.raises(SignatureError) as err:
        load_public_key_b64(base64.b64encode(b"x" * 16).decode())
    assert str(err.value).startswith("public_key_b64: decodes to 16 bytes, expected the base64")


def test_a_pem_block_given_as_public_key_is_refused_without_echoing_it(
    keys: tuple[Path, Path, str],
) -> None:
    private_path, _, _ = keys
    private_pem = private_path.read_text()
    with pytest.raises(SignatureError, match="got a PEM block, expected the base64") as err:
        load_public_key_b64(private_pem)
    body = "".join(private_pem.splitlines()[1:-1])
    assert body not in str(err.value)


def test_public_key_whitespace_is_tolerated(keys: tuple[Path, Path, str]) -> None:
    _, _, public_b64 = keys
    assert isinstance(load_public_key_b64(f"  {public_b64}\n"), Ed25519PublicKey)


# -- signing and verifying ---------------------------------------------------------------------------


def test_sign_then_verify(keys: tuple[Path, Path, str]) -> None:
    private_path, _, public_b64 = keys
    signature = sign_decision(_decision(), load_private_key(private_path))
    assert len(base64.b64decode(signature)) == 64
    verify_decision(_decision(), signature, public_b64)  # no error


def test_the_payload_is_canonical_json_of_every_field() -> None:
    payload = json.loads(_decision().payload())
    assert payload == {
        "model": "vru-risk",
        "version": "3",
        "report_sha256": REPORT,
        "decision": "approve",
        "reviewer": "a.khan",
        "reasons": "Disparities within the configured bounds; drivers are plausible.",
        "decided_at": "2024-05-01T09:30:00+00:00",
        "waived_gates": ["drift"],
        "model_artifacts": dict(sorted(FILES.items())),
        "model_artifacts_sha256": artifacts_digest(FILES),
    }
    assert list(_decision().model_artifacts) == ["MLmodel", "artifacts/calibrated_model.pkl"]
    assert _decision().payload() == json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


@pytest.mark.parametrize(
    "changes",
    [
        {"report_sha256": OTHER_REPORT},
        {"version": "4"},
        {"model": "other-model"},
        {"decision": "reject"},
        {"decided_at": "2024-05-02T09:30:00+00:00"},
        {"reviewer": "someone.else"},
        {"reasons": "Approved without reading."},
        {"waived_gates": ("drift", "fairness")},
        {"waived_gates": ()},
        {
            "model_artifacts": {**FILES, "MLmodel": "03" * 32},
            "model_artifacts_sha256": artifacts_digest({**FILES, "MLmodel": "03" * 32}),
        },
        {"model_artifacts": {}, "model_artifacts_sha256": ""},
    ],
    ids=lambda c: next(iter(c)),
)
def test_a_changed_decision_does_not_verify(
    keys: tuple[Path, Path, str], changes: dict[str, Any]
) -> None:
    private_path, _, public_b64 = keys
    signature = sign_decision(_decision(), load_private_key(private_path))
    changed = _decision(**changes)
    with pytest.raises(SignatureError) as err:
        verify_decision(changed, signature, public_b64)
    assert str(err.value).startswith(
        f"signature does not verify for model {changed.model!r} version {changed.version!r} "
        f"({changed.decision}, report hash {changed.report_sha256})"
    )


def test_another_keypair_does_not_verify(tmp_path: Path, keys: tuple[Path, Path, str]) -> None:
    private_path, _, _ = keys
    other_b64 = generate_keypair(tmp_path / "other.pem", tmp_path / "other.pub.pem")
    signature = sign_decision(_decision(), load_private_key(private_path))
    with pytest.raises(SignatureError, match="signature does not verify for model 'vru-risk'"):
        verify_decision(_decision(), signature, other_b64)


def test_a_malformed_signature_is_explained(keys: tuple[Path, Path, str]) -> None:
    _, _, public_b64 = keys
    with pytest.raises(SignatureError, match=r"^signature: not valid base64 \(5 characters"):
        verify_decision(_decision(), "%%%%%", public_b64)
    with pytest.raises(SignatureError, match=r"^signature: decodes to 3 bytes, expected"):
        verify_decision(_decision(), "YWJj", public_b64)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"decision": "maybe"}, "'decision' must be 'approve' or 'reject', got 'maybe'"),
        ({"report_sha256": "ABC"}, "'report_sha256' must be 64 lower-case hex characters"),
        ({"decided_at": "2024-05-01T09:30:00"}, "'decided_at' must be an ISO-8601 time in UTC"),
        ({"decided_at": "2024-05-01T11:30:00+02:00"}, "'decided_at' must be an ISO-8601 time"),
        ({"reviewer": ""}, "'reviewer' must be a non-empty string, got ''"),
        ({"waived_gates": ["drift"]}, "'waived_gates' must be a tuple of gate names"),
    ],
)
def test_a_malformed_decision_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        _decision(**changes)


# -- the model's files -------------------------------------------------------------------------


def test_a_decision_naming_no_files_signs_what_it_signed_before() -> None:
    """Old decisions keep verifying as what they are; approval refuses them for binding nothing."""
    old = _decision(model_artifacts={}, model_artifacts_sha256="")
    assert "model_artifacts" not in json.loads(old.payload())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_artifacts": {"/etc/passwd": "01" * 32}}, "'/etc/passwd' does not"),
        ({"model_artifacts": {"../x.pkl": "01" * 32}}, "'../x.pkl' does not"),
        ({"model_artifacts": {"MLmodel": "not a hash"}}, "'MLmodel' does not"),
        ({"model_artifacts_sha256": "00" * 32}, "but the artifacts listed digest to"),
        ({"model_artifacts_sha256": ""}, "but the artifacts listed digest to"),
    ],
)
def test_malformed_model_files_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        _decision(**changes)


def test_artifact_differences_name_each_file() -> None:
    actual = {"MLmodel": "09" * 32, "extra.pkl": "01" * 32}
    assert artifact_differences(FILES, actual) == [
        "changed: MLmodel",
        "added: extra.pkl",
        "missing: artifacts/calibrated_model.pkl",
    ]
    assert artifact_differences(FILES, dict(FILES)) == []
