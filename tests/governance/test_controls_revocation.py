"""A member's signed revocation attacked directly (found by mutation testing, `make mutation`).

A revocation withdraws the board's approval, so the attacks go both ways: one forged or
signed by an outsider must be ignored (and reported), one signed by a member must not be
lost (a file the server cannot find, a field it cannot parse, another version's file taken
for this one's). Pure functions and temporary files: no registry.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.contracts.revocation import (
    Revocation,
    SignedRevocation,
    read_revocation_files,
    revocation_file_name,
    sign_revocation,
    verified_revocations,
    write_revocation_file,
)
from governance.contracts.roster import BoardMember, BoardSettings
from governance.contracts.signing import SignatureError

REPORT = "ab" * 32
KEYS = {m: Ed25519PrivateKey.generate() for m in ("alice", "bob", "mallory")}
FIELDS: dict[str, Any] = {
    "model": "vru-risk",
    "version": "3",
    "report_sha256": REPORT,
    "member": "alice",
    "reasons": "A data-sharing agreement was withdrawn.",
    "revoked_at": "2026-03-02T12:00:00+00:00",
}


def _public(member: str) -> str:
    raw = (
        KEYS[member]
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode("ascii")


def _roster() -> BoardSettings:
    members = tuple(
        BoardMember(id=m, name=m.title(), public_key_b64=_public(m)) for m in ("alice", "bob")
    )
    return BoardSettings(members=members, quorum=2)


def _signed(key: str = "alice", **changes: Any) -> SignedRevocation:
    revocation = Revocation(**{**FIELDS, **changes})
    return SignedRevocation(revocation, sign_revocation(revocation, KEYS[key]))


# -- the signed fields -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": " "}, "'model' must be a non-empty string, got ' '"),
        ({"version": ""}, "'version' must be a non-empty string, got ''"),
        ({"reasons": None}, "'reasons' must be a non-empty string, got None"),
        ({"report_sha256": "AB" * 32}, "'report_sha256' must be 64 (lower-case )?hex characters"),
        ({"report_sha256": 7}, "'report_sha256' must be 64 (lower-case )?hex characters, got 7$"),
        ({"member": "Alice Smith"}, "'member' must be a roster id, got 'Alice Smith'"),
        ({"member": None}, "'member' must be a roster id, got None"),
        ({"revoked_at": "2026-03-02T12:00:00+01:00"}, "'revoked_at' must be an ISO-8601 time"),
        ({"revoked_at": "2026-03-02T12:00:00"}, "'revoked_at' must be an ISO-8601 time in UTC"),
        ({"revoked_at": "yesterday"}, "'revoked_at' must be an ISO-8601 time in UTC"),
        ({"revoked_at": 5}, "'revoked_at' must be an ISO-8601 time in UTC, got 5"),
    ],
)
def test_a_malformed_revocation_is_refused_naming_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(SignatureError) as caught:
        Revocation(**{**FIELDS, **changes})
    assert str(caught.value).startswith("Revocation: ")
    assert re.search(message, str(caught.value))


def test_the_payload_is_canonical_json_of_every_field_tagged_as_a_revocation() -> None:
    payload = Revocation(**FIELDS).payload()
    expected = {"kind": "revocation", **FIELDS}
    assert payload == json.dumps(expected, sort_keys=True, separators=(",", ":")).encode()


def test_from_fields_refuses_what_is_not_an_object_or_has_unknown_fields() -> None:
    assert Revocation.from_fields(dict(FIELDS)) == Revocation(**FIELDS)
    with pytest.raises(SignatureError) as caught:
        Revocation.from_fields([FIELDS])
    assert str(caught.value) == "Revocation: expected an object of fields"
    with pytest.raises(SignatureError, match=r"Revocation: .*unexpected keyword argument 'x'"):
        Revocation.from_fields({**FIELDS, "x": 1})


# -- who may revoke --------------------------------------------------------------------------


def test_a_members_revocation_verifies_and_the_others_are_named_and_ignored() -> None:
    good = _signed()
    outsider = _signed("mallory", member="mallory")
    forged = _signed("mallory")
    valid, ignored = verified_revocations([good, outsider, forged], _roster())
    assert valid == [good.revocation]
    assert ignored == [
        "a revocation of vru-risk version 3 names 'mallory', who is not on the roster; ignored",
        "a revocation of vru-risk version 3 by 'alice' does not verify with the member's key; "
        "ignored",
    ]


def test_a_revocation_changed_after_signing_or_signed_by_another_member_is_forged() -> None:
    good = _signed()
    edited = SignedRevocation(dataclasses.replace(good.revocation, version="4"), good.signature)
    by_bob = _signed("bob")
    valid, ignored = verified_revocations([edited, by_bob], _roster())
    assert valid == []
    assert ignored[0] == (
        "a revocation of vru-risk version 4 by 'alice' does not verify with the member's key; "
        "ignored"
    )
    assert "by 'alice' does not verify" in ignored[1]


# -- the revocations directory ---------------------------------------------------------------


def test_file_names_are_one_per_member_and_version_and_stay_in_the_directory() -> None:
    assert revocation_file_name("vru-risk", "3", "alice") == "vru-risk--v3--alice.json"
    assert revocation_file_name("../x y", "1/2", "bob") == ".._x_y--v1_2--bob.json"
    assert revocation_file_name("VRU.Risk_2", "3", "alice") == "VRU.Risk_2--v3--alice.json"
    assert revocation_file_name("vru", "2Ab", "alice") == "vru--v2Ab--alice.json"


def test_a_written_revocation_is_read_back_for_its_version_only(tmp_path: Path) -> None:
    directory = tmp_path / "revocations" / "nested"
    mine = _signed()
    path = write_revocation_file(directory, mine)
    write_revocation_file(directory, _signed(version="4"))
    assert path == directory / "vru-risk--v3--alice.json"
    assert sorted(p.name for p in directory.iterdir()) == [
        "vru-risk--v3--alice.json",
        "vru-risk--v4--alice.json",
    ]
    body = json.loads(path.read_text())
    assert body == {"revocation": FIELDS, "signature": mine.signature}
    found, problems = read_revocation_files(directory, "vru-risk", "3")
    assert (found, problems) == ([mine], [])
    assert read_revocation_files(directory, "other", "3") == ([], [])


def test_a_revocation_file_is_written_whole_through_a_hidden_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server reads ``*.json``: it must never see a half-written revocation."""
    import governance.contracts.revocation as module

    renamed: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def replace(source: str, target: Path) -> None:
        renamed.append((Path(source), Path(target)))
        assert not Path(source).match("*.json")
        real_replace(source, target)

    monkeypatch.setattr(module.os, "replace", replace)
    signed = _signed()
    path = write_revocation_file(tmp_path, signed)
    ((source, target),) = renamed
    assert target == path
    assert source.parent == path.parent  # same directory: the rename is atomic
    assert source.name.startswith(f".{path.name}.")
    assert source.name.endswith(".tmp")
    body = {"revocation": FIELDS, "signature": signed.signature}
    assert path.read_text() == json.dumps(body, indent=2) + "\n"  # readable by a person
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("moved", [False, True], ids=["temporary file left", "already gone"])
def test_a_failed_write_leaves_no_temporary_file_and_raises_its_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moved: bool
) -> None:
    import governance.contracts.revocation as module

    boom = OSError("disk full")

    def replace(source: str, target: Path) -> None:
        if moved:
            Path(source).unlink()
        raise boom

    monkeypatch.setattr(module.os, "replace", replace)
    with pytest.raises(OSError) as caught:
        write_revocation_file(tmp_path, _signed())
    assert caught.value is boom
    assert list(tmp_path.iterdir()) == []


def test_a_second_revocation_by_the_same_member_replaces_the_first(tmp_path: Path) -> None:
    write_revocation_file(tmp_path, _signed(reasons="first"))
    write_revocation_file(tmp_path, _signed(reasons="second"))
    found, _ = read_revocation_files(tmp_path, "vru-risk", "3")
    assert [s.revocation.reasons for s in found] == ["second"]
    assert [p.name for p in tmp_path.iterdir()] == ["vru-risk--v3--alice.json"]


def test_no_directory_holds_no_revocations(tmp_path: Path) -> None:
    assert read_revocation_files(None, "vru-risk", "3") == ([], [])
    assert read_revocation_files(tmp_path / "absent", "vru-risk", "3") == ([], [])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "Expecting property name"),
        ("[1, 2]", "'list' object has no attribute 'get'"),
        (json.dumps({"revocation": FIELDS}), "(no signature)"),
        (json.dumps({"revocation": FIELDS, "signature": 5}), "(no signature)"),
        (json.dumps({"revocation": "x", "signature": "s"}), "expected an object of fields"),
        (json.dumps({"revocation": {**FIELDS, "member": "A"}, "signature": "s"}), "'member'"),
    ],
)
def test_an_unreadable_revocation_file_is_reported_and_the_others_still_read(
    tmp_path: Path, body: str, reason: str
) -> None:
    good = _signed()
    write_revocation_file(tmp_path, good)
    bad = tmp_path / "a-bad.json"
    bad.write_text(body)
    found, problems = read_revocation_files(tmp_path, "vru-risk", "3")
    assert found == [good]
    assert len(problems) == 1
    assert problems[0].startswith(f"{bad}: not a signed revocation (")
    assert reason in problems[0]
    assert problems[0].endswith("); ignored")
