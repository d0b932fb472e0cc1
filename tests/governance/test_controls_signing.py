"""Board signatures attacked directly (found by mutation testing, `make mutation`).

The holes mutation testing found in the signing tests: a decision's member and review date
were never checked (a decision naming no roster id, or a malformed or missing review date,
would have been signed and counted), a non-string time or gate was accepted, an empty file
path accepted as a model file, the raw-payload check used for revocations had no test at
all, and the refusals' messages (which name the field, the file and what was expected) were
not asserted. Each test asserts the refusal and its message.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import governance.contracts.signing as signing
from governance.contracts.signing import (
    Decision,
    SignatureError,
    artifacts_digest,
    generate_keypair,
    load_private_key,
    load_public_key_b64,
    sign_decision,
    verify_decision,
    verify_payload,
)

REPORT = "ab" * 32
FILES = {"MLmodel": "02" * 32, "artifacts/model.pkl": "01" * 32}
SIGNATURE_EXPECTED = "the base64 of a 64-byte Ed25519 signature (88 characters)"


def _decision(**changes: Any) -> Decision:
    fields: dict[str, Any] = {
        "model": "vru-risk",
        "version": "3",
        "report_sha256": REPORT,
        "decision": "approve",
        "reviewer": "Alice",
        "reasons": "Gaps within limits.",
        "decided_at": "2026-02-01T09:00:00+00:00",
        "model_artifacts": FILES,
        "model_artifacts_sha256": artifacts_digest(FILES),
        "member": "alice",
        "valid_until": "2026-12-31",
    }
    return Decision(**{**fields, **changes})


def _public(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _refused(message: str, **changes: Any) -> None:
    with pytest.raises(SignatureError) as caught:
        _decision(**changes)
    assert str(caught.value) == message


# -- member and review date ------------------------------------------------------------------


def test_a_decision_with_member_and_review_date_is_valid_and_signs_both() -> None:
    decision = _decision()
    key = Ed25519PrivateKey.generate()
    signature = sign_decision(decision, key)
    verify_decision(decision, signature, _public(key))
    assert b'"member":"alice"' in decision.payload()
    assert b'"valid_until":"2026-12-31"' in decision.payload()


@pytest.mark.parametrize("member", ["Alice", "alice smith", "../bob"])
def test_a_member_that_is_not_a_roster_id_is_refused(member: str) -> None:
    _refused(f"Decision: 'member' must be a roster id, got {member!r}", member=member)


def test_a_member_that_is_not_text_is_refused() -> None:
    _refused("Decision: 'member' must be a roster id, got 7", member=7)


@pytest.mark.parametrize("until", ["31/12/2026", "2026-12-31T00:00:00", "20261231", "2026-13-01"])
def test_a_review_date_that_is_not_an_iso_date_is_refused(until: str) -> None:
    _refused(
        f"Decision: 'valid_until' must be an ISO date, e.g. '2025-05-01', got {until!r}",
        valid_until=until,
    )


def test_a_review_date_that_is_not_text_is_refused() -> None:
    _refused(
        "Decision: 'valid_until' must be an ISO date, e.g. '2025-05-01', got None",
        valid_until=None,
    )


@pytest.mark.parametrize(
    ("member", "until"), [("alice", ""), ("", "2026-12-31")], ids=["no date", "no member"]
)
def test_a_member_without_a_review_date_or_the_reverse_is_refused(member: str, until: str) -> None:
    _refused(
        "Decision: 'member and valid_until' must be both given or both empty, "
        f"got {(member, until)!r}",
        member=member,
        valid_until=until,
    )


def test_a_decision_signed_before_the_roster_verifies_without_the_two_fields() -> None:
    old = _decision(member="", valid_until="")
    assert b"member" not in old.payload()
    assert b"valid_until" not in old.payload()


# -- other fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "shown"), [(5, "5"), ("yesterday", "'yesterday'"), ("2026-02-01", "'2026-02-01'")]
)
def test_a_decision_time_that_is_not_a_utc_time_is_refused(when: object, shown: str) -> None:
    _refused(
        "Decision: 'decided_at' must be an ISO-8601 time in UTC, e.g. "
        f"'2024-05-01T09:30:00+00:00', got {shown}",
        decided_at=when,
    )


def test_a_report_hash_in_upper_case_is_refused_showing_it() -> None:
    _refused(
        f"Decision: 'report_sha256' must be 64 lower-case hex characters, got {'AB' * 32!r}",
        report_sha256="AB" * 32,
    )


@pytest.mark.parametrize("gates", [(5,), ("",), ["drift"]])
def test_waived_gates_must_be_a_tuple_of_names(gates: object) -> None:
    _refused(
        f"Decision: 'waived_gates' must be a tuple of gate names, got {gates!r}",
        waived_gates=gates,
    )


@pytest.mark.parametrize("path", ["", "/etc/passwd", "a/../b"])
def test_a_model_file_path_that_is_empty_or_escapes_is_refused(path: str) -> None:
    files = {path: "01" * 32}
    with pytest.raises(SignatureError) as caught:
        _decision(model_artifacts=files, model_artifacts_sha256=artifacts_digest(files))
    assert str(caught.value) == (
        "Decision: 'model_artifacts' must map relative file paths to 64 lower-case hex "
        f"characters; {path!r} does not"
    )


def test_model_files_that_are_not_a_mapping_are_refused_naming_them() -> None:
    _refused(
        "Decision: 'model_artifacts' must map relative file paths to 64 lower-case hex "
        "characters; ['MLmodel'] does not",
        model_artifacts=["MLmodel"],
    )


def test_a_wrong_digest_of_the_model_files_is_refused_naming_both() -> None:
    _refused(
        f"Decision: 'model_artifacts_sha256' is {'00' * 32!r}, but the artifacts listed digest "
        f"to {artifacts_digest(FILES)}",
        model_artifacts_sha256="00" * 32,
    )


def test_the_payload_keeps_non_ascii_reasons_as_utf8() -> None:
    decision = _decision(reasons="Écarts ≤ 0.05")
    assert "Écarts ≤ 0.05".encode() in decision.payload()


# -- signatures ------------------------------------------------------------------------------


def test_a_signature_that_is_not_text_is_refused_saying_what_was_expected() -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(SignatureError) as caught:
        verify_decision(_decision(), 5, _public(key))  # type: ignore[arg-type]
    assert (
        str(caught.value) == f"signature: not valid base64 (got int), expected {SIGNATURE_EXPECTED}"
    )


def test_a_signature_that_is_not_base64_names_its_length_only() -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(SignatureError) as caught:
        verify_decision(_decision(), "#secret#", _public(key))
    assert str(caught.value) == (
        f"signature: not valid base64 (8 characters given), expected {SIGNATURE_EXPECTED}"
    )


def test_a_truncated_signature_is_refused_with_its_length() -> None:
    key = Ed25519PrivateKey.generate()
    short = base64.b64encode(b"x" * 10).decode()
    with pytest.raises(SignatureError) as caught:
        verify_decision(_decision(), short, _public(key))
    assert str(caught.value) == f"signature: decodes to 10 bytes, expected {SIGNATURE_EXPECTED}"


def test_verify_payload_accepts_the_signers_signature_of_exactly_that_payload() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signature = base64.b64encode(key.sign(b"payload")).decode()
    verify_payload(b"payload", signature, _public(key))
    for payload, public in ((b"payload!", _public(key)), (b"payload", _public(other))):
        with pytest.raises(SignatureError) as caught:
            verify_payload(payload, signature, public)
        assert str(caught.value) == "signature does not verify with the key given"


def test_verify_payload_refuses_malformed_keys_and_signatures_saying_why() -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(SignatureError, match="public_key_b64: decodes to 3 bytes"):
        verify_payload(b"p", "x" * 88, "YWJj")
    with pytest.raises(SignatureError) as caught:
        verify_payload(b"p", "#", _public(key))
    assert str(caught.value) == (
        f"signature: not valid base64 (1 characters given), expected {SIGNATURE_EXPECTED}"
    )
    with pytest.raises(SignatureError) as caught:
        verify_payload(b"p", base64.b64encode(b"y" * 63).decode(), _public(key))
    assert str(caught.value) == f"signature: decodes to 63 bytes, expected {SIGNATURE_EXPECTED}"


def test_a_pem_block_given_as_public_key_names_the_field() -> None:
    with pytest.raises(SignatureError) as caught:
        load_public_key_b64("-----BEGIN PUBLIC KEY-----", field="board.members[].public_key_b64")
    assert str(caught.value).startswith("board.members[].public_key_b64: got a PEM block")


# -- key files -------------------------------------------------------------------------------


def test_key_files_are_written_in_new_nested_directories(tmp_path: Path) -> None:
    private, public = tmp_path / "a" / "b" / "k.pem", tmp_path / "c" / "d" / "k.pub"
    generate_keypair(private, public)
    assert private.is_file()
    assert public.is_file()


def test_the_same_path_twice_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    with pytest.raises(SignatureError) as caught:
        generate_keypair(path, path)
    assert str(caught.value) == f"{path}: the private and public key paths must differ"


def test_an_encrypted_private_key_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "enc.pem"
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(SignatureError) as caught:
        load_private_key(path)
    assert str(caught.value) == (
        f"{path}: the private key is encrypted; expected an unencrypted PKCS8 Ed25519 key"
    )


def test_key_files_go_through_a_hidden_temporary_file_beside_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked: list[tuple[Path, Path]] = []
    real_link = os.link

    def link(source: str, target: Path) -> None:
        linked.append((Path(source), Path(target)))
        real_link(source, target)

    monkeypatch.setattr(signing.os, "link", link)
    private, public = tmp_path / "keys" / "k.pem", tmp_path / "keys" / "k.pub"
    generate_keypair(private, public)
    assert [t for _, t in linked] == [private, public]
    for source, target in linked:
        assert source.parent == target.parent  # same directory: the link is atomic
        assert source.name.startswith(f".{target.name}.")
        assert source.name.endswith(".tmp")
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["k.pem", "k.pub"]


@pytest.mark.parametrize("racing", ["private", "public"])
def test_a_key_file_made_by_another_writer_meanwhile_is_not_clobbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, racing: str
) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    target = private if racing == "private" else public
    real_link = os.link

    def link(source: str, destination: Path) -> None:
        if Path(destination) == target:
            target.write_text("the other writer's key")
        real_link(source, destination)

    monkeypatch.setattr(signing.os, "link", link)
    with pytest.raises(SignatureError) as caught:
        generate_keypair(private, public)
    assert str(caught.value) == (
        f"{target}: {racing} key file already exists; pass overwrite=True to replace it"
    )
    assert target.read_text() == "the other writer's key"
    # no private key is left without its public half, and no temporary file is left
    remaining = sorted(p.name for p in tmp_path.iterdir())
    assert remaining == [target.name]


def test_a_changed_member_breaks_the_signature() -> None:
    key = Ed25519PrivateKey.generate()
    decision = _decision()
    signature = sign_decision(decision, key)
    with pytest.raises(SignatureError, match="signature does not verify"):
        verify_decision(dataclasses.replace(decision, member="bob"), signature, _public(key))
