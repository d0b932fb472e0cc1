"""A release's manifest attacked directly (found by mutation testing, `make mutation`).

What the server checks before serving a release, one attack each: the approval it carries
is another version's, another report's, a rejection, names no model files, is short of the
quorum, has lapsed or was revoked; the manifest is unsigned, signed with another key,
carries a malformed signature or is of an older schema; a data file was changed, removed,
or added beside the signed ones. Manifests are built in memory and written to temporary
directories: no model is trained.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.contracts.release_schema import (
    ApprovalRecord,
    ReleaseError,
    ReleaseManifest,
    file_sha256,
    manifest_payload,
    read_manifest,
    release_file_hashes,
    sign_manifest,
    verify_manifest,
    verify_release_files,
    verify_release_signature,
)
from governance.contracts.roster import BoardMember, BoardSettings
from governance.contracts.signing import Decision, artifacts_digest, sign_decision

REPORT = "ab" * 32
FILES = {"MLmodel": "02" * 32}
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEYS = {m: Ed25519PrivateKey.generate() for m in ("alice", "bob", "carol", "board")}
RELEASE_KEY = Ed25519PrivateKey.generate()


def _public(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _roster(quorum: int = 2) -> BoardSettings:
    members = tuple(
        BoardMember(id=m, name=m.title(), public_key_b64=_public(KEYS[m]))
        for m in ("alice", "bob", "carol")
    )
    return BoardSettings(members=members, quorum=quorum)


def _record(member: str = "alice", **changes: Any) -> ApprovalRecord:
    fields: dict[str, Any] = {
        "model": "vru-risk",
        "version": "3",
        "report_sha256": REPORT,
        "decision": "approve",
        "reviewer": member.title(),
        "reasons": "Gaps within limits.",
        "decided_at": "2026-02-01T09:00:00+00:00",
        "model_artifacts": FILES,
        "model_artifacts_sha256": artifacts_digest(FILES),
        "member": member,
        "valid_until": "2026-12-31",
    }
    fields.update(changes)
    decision = Decision(**fields)
    as_json = json.loads(json.dumps(decision.__dict__))
    return ApprovalRecord(decision=as_json, signature=sign_decision(decision, KEYS[member]))


def _manifest(*records: ApprovalRecord, **changes: Any) -> ReleaseManifest:
    fields: dict[str, Any] = {
        "release_id": "r1",
        "created": "2026-03-01T00:00:00+00:00",
        "model_name": "vru-risk",
        "model_version": "3",
        "report_sha256": REPORT,
        "approval": records or (_record("alice"), _record("bob")),
        "as_of_date": "2026-02-28",
        "factors": ["speeding"],
    }
    return ReleaseManifest(**{**fields, **changes})


def _refusal(manifest: ReleaseManifest, board: Any = None, **kw: Any) -> str:
    with pytest.raises(ReleaseError) as caught:
        verify_manifest(manifest, _roster() if board is None else board, now=NOW, **kw)
    return str(caught.value)


# -- the board's approval carried by the release ---------------------------------------------


def test_a_quorum_of_current_approvals_verifies_and_gives_the_earliest_review_date() -> None:
    manifest = _manifest(_record("alice"), _record("bob", valid_until="2026-06-30"))
    assert verify_manifest(manifest, _roster(), now=NOW) == "2026-06-30"


def test_a_bare_board_key_is_a_roster_of_one() -> None:
    manifest = _manifest(_record("board"))
    assert verify_manifest(manifest, _public(KEYS["board"]), now=NOW) == "2026-12-31"


@pytest.mark.parametrize("board", ["", "missing"])
def test_a_server_without_a_board_refuses(board: str) -> None:
    with pytest.raises(ReleaseError) as caught:
        verify_manifest(_manifest(), None if board == "missing" else board, now=NOW)
    assert str(caught.value) == "release r1: no board public key configured to verify it"


def test_a_malformed_carried_decision_is_refused_saying_why() -> None:
    good = _record("alice")
    bad = ApprovalRecord(decision={**good.decision, "decision": "maybe"}, signature=good.signature)
    assert _refusal(_manifest(bad, _record("bob"))) == (
        "release r1: approval does not verify: Decision: 'decision' must be 'approve' or "
        "'reject', got 'maybe'"
    )
    unknown = ApprovalRecord(decision={**good.decision, "extra": 1}, signature=good.signature)
    assert _refusal(_manifest(unknown)).startswith("release r1: approval does not verify: ")


def test_a_signed_rejection_is_refused() -> None:
    problems = _refusal(_manifest(_record("alice"), _record("bob", decision="reject")))
    assert problems.startswith("release r1: the signed decision is a rejection; ")
    assert "Bob rejected this version" in problems


def test_an_approval_of_another_version_is_refused() -> None:
    records = (_record("alice", version="2"), _record("bob", version="2"))
    assert _refusal(_manifest(*records)) == (
        "release r1: the approval is for vru-risk version 2, the release is from vru-risk version 3"
    )


def test_an_approval_of_another_model_is_refused() -> None:
    records = (_record("alice", model="other"), _record("bob", model="other"))
    assert _refusal(_manifest(*records)).startswith(
        "release r1: the approval is for other version 3, the release is from vru-risk"
    )


def test_an_approval_given_for_another_report_is_refused_once() -> None:
    other = "cd" * 32
    records = (_record("alice", report_sha256=other), _record("bob", report_sha256=other))
    assert _refusal(_manifest(*records)) == "release r1: the approval was given for another report"


def test_an_approval_that_names_no_model_files_is_refused() -> None:
    unbound = {"model_artifacts": {}, "model_artifacts_sha256": ""}
    records = (_record("alice", **unbound), _record("bob"))
    assert _refusal(_manifest(*records)) == (
        "release r1: the approval names no model files (model_artifacts is empty): it does not "
        "bind the model the release was computed with"
    )


def test_one_approval_when_the_quorum_is_two_is_refused() -> None:
    assert _refusal(_manifest(_record("alice"))) == (
        "release r1: 2 of 3 board members must approve, have 1: alice"
    )


def test_the_same_member_carried_twice_counts_once() -> None:
    again = _record("alice", decided_at="2026-02-02T09:00:00+00:00")
    assert _refusal(_manifest(_record("alice"), again)) == (
        "release r1: 2 of 3 board members must approve, have 1: alice"
    )


def test_a_lapsed_approval_is_refused_at_the_given_time_and_by_default_now() -> None:
    manifest = _manifest(_record("alice"), _record("bob", valid_until="2026-02-15"))
    assert "the approval lapsed on 2026-02-15 (review date of Bob)" in _refusal(manifest)
    with pytest.raises(ReleaseError, match="the approval lapsed on 2026-02-15"):
        verify_manifest(manifest, _roster())  # today is after 2026
    future = _manifest(_record("alice", valid_until="2999-01-01"), _record("bob"))
    assert verify_manifest(future, _roster(quorum=1)) == "2026-12-31"


def test_a_revoked_approval_is_refused() -> None:
    revoked = [("2026-02-10T00:00:00+00:00", "carol", "agreement withdrawn")]
    assert _refusal(_manifest(), revoked=revoked).startswith(
        "release r1: the approval was revoked by Carol at 2026-02-10T00:00:00+00:00 "
        "(agreement withdrawn)"
    )


# -- the manifest and its signature ----------------------------------------------------------


def _write(directory: Path, manifest: ReleaseManifest, data: bytes = b"areas") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "areas.parquet").write_bytes(data)
    files = {"areas.parquet": hashlib.sha256(data).hexdigest()}
    signed = sign_manifest(manifest.model_copy(update={"files": files}), RELEASE_KEY)
    (directory / "manifest.json").write_text(signed.model_dump_json())
    return directory


def test_a_written_manifest_reads_back_and_verifies(tmp_path: Path) -> None:
    directory = _write(tmp_path / "r1", _manifest())
    manifest = read_manifest(directory)
    verify_release_signature(manifest, _public(RELEASE_KEY), directory)
    verify_release_files(manifest, directory)
    assert manifest.files == release_file_hashes(directory)


def test_a_missing_or_unreadable_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError) as caught:
        read_manifest(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'manifest.json'}: no release manifest here"
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(ReleaseError, match=r"manifest\.json: not a valid release manifest: "):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 3}))
    with pytest.raises(ReleaseError, match=r"manifest\.json: not a valid release manifest: .+"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("version", [1, 2])
def test_a_manifest_of_an_older_schema_is_refused_naming_it(tmp_path: Path, version: int) -> None:
    directory = _write(tmp_path / "r1", _manifest())
    raw = json.loads((directory / "manifest.json").read_text())
    (directory / "manifest.json").write_text(json.dumps({**raw, "schema_version": version}))
    with pytest.raises(ReleaseError) as caught:
        read_manifest(directory)
    assert str(caught.value) == (
        f"{directory / 'manifest.json'}: manifest schema_version {version} predates approvals "
        "by the board's roster (member keys, quorum, review dates): make the release again "
        "with `vru release`"
    )


def test_a_server_without_a_release_key_refuses(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError) as caught:
        verify_release_signature(_manifest(), None, tmp_path)
    assert str(caught.value).startswith(
        "release r1: no release public key configured to verify it (serving config: "
        "release_public_key_b64"
    )


def test_an_unsigned_manifest_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError) as caught:
        verify_release_signature(_manifest(), _public(RELEASE_KEY), tmp_path)
    assert str(caught.value) == (
        f"release r1: {tmp_path / 'manifest.json'}: the manifest is not signed by a release "
        "key (schema_version 3); make the release again with `vru release --release-key`"
    )


def test_a_bad_release_key_in_the_config_is_named(tmp_path: Path) -> None:
    signed = sign_manifest(_manifest(), RELEASE_KEY)
    with pytest.raises(ReleaseError) as caught:
        verify_release_signature(signed, "YWJj", tmp_path)
    assert str(caught.value).startswith("release r1: release_public_key_b64: decodes to 3 bytes")


@pytest.mark.parametrize("signature", ["not base64!", base64.b64encode(b"x" * 63).decode()])
def test_a_malformed_signature_is_refused(tmp_path: Path, signature: str) -> None:
    manifest = _manifest().model_copy(update={"signature": signature})
    with pytest.raises(ReleaseError) as caught:
        verify_release_signature(manifest, _public(RELEASE_KEY), tmp_path)
    assert str(caught.value) == (
        f"release r1: {tmp_path / 'manifest.json'}: field 'signature' is not a base64 "
        "Ed25519 signature"
    )


def test_a_field_changed_after_signing_or_another_key_is_refused(tmp_path: Path) -> None:
    signed = sign_manifest(_manifest(), RELEASE_KEY)
    message = (
        f"release r1: {tmp_path / 'manifest.json'}: the manifest's signature does not verify "
        "with the configured release key"
    )
    weaker = signed.model_copy(update={"disclosure": {"min_count": 1}})
    for manifest, key in ((weaker, RELEASE_KEY), (signed, KEYS["alice"])):
        with pytest.raises(ReleaseError) as caught:
            verify_release_signature(manifest, _public(key), tmp_path)
        assert str(caught.value).startswith(message)


def test_the_payload_is_canonical_utf8_json_of_all_but_the_signature() -> None:
    manifest = _manifest(methods={"note": "Écarts ≤ 5"})
    payload = manifest_payload(manifest.model_copy(update={"signature": "x"}))
    assert payload == manifest_payload(manifest)
    assert "signature" not in json.loads(payload)
    assert "Écarts ≤ 5".encode() in payload
    assert payload == json.dumps(
        json.loads(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


# -- the data files --------------------------------------------------------------------------


def test_a_changed_data_file_is_refused_naming_both_hashes(tmp_path: Path) -> None:
    directory = _write(tmp_path / "r1", _manifest())
    manifest = read_manifest(directory)
    (directory / "areas.parquet").write_bytes(b"edited")
    with pytest.raises(ReleaseError) as caught:
        verify_release_files(manifest, directory)
    assert str(caught.value) == (
        f"release r1: {directory / 'areas.parquet'}: SHA-256 "
        f"{hashlib.sha256(b'edited').hexdigest()} differs from the signed manifest's "
        f"{hashlib.sha256(b'areas').hexdigest()}: the file was changed after the release was "
        "signed"
    )


def test_a_missing_data_file_or_one_outside_the_release_is_refused(tmp_path: Path) -> None:
    directory = _write(tmp_path / "r1", _manifest())
    manifest = read_manifest(directory)
    (directory / "areas.parquet").unlink()
    with pytest.raises(ReleaseError) as caught:
        verify_release_files(manifest, directory)
    assert str(caught.value) == (
        f"release r1: {directory / 'areas.parquet'}: listed in the signed manifest but missing"
    )
    (tmp_path / "outside.parquet").write_bytes(b"areas")
    sha = hashlib.sha256(b"areas").hexdigest()
    escaping = manifest.model_copy(
        update={"files": {"areas.parquet": sha, "../outside.parquet": sha}}
    )
    (directory / "areas.parquet").write_bytes(b"areas")
    with pytest.raises(ReleaseError, match="listed in the signed manifest but missing"):
        verify_release_files(escaping, directory)


def test_a_manifest_listing_no_areas_file_is_refused(tmp_path: Path) -> None:
    directory = _write(tmp_path / "r1", _manifest())
    manifest = read_manifest(directory).model_copy(update={"files": {}})
    with pytest.raises(ReleaseError) as caught:
        verify_release_files(manifest, directory)
    assert str(caught.value) == (
        f"release r1: {directory / 'manifest.json'}: field 'files' lists no data file; "
        "areas.parquet must be listed"
    )


def test_a_file_beside_the_signed_ones_is_refused_naming_it(tmp_path: Path) -> None:
    directory = _write(tmp_path / "r1", _manifest())
    (directory / "zz-extra.parquet").write_bytes(b"rows")
    with pytest.raises(ReleaseError) as caught:
        verify_release_files(read_manifest(directory), directory)
    assert str(caught.value) == (
        f"release r1: {directory / 'zz-extra.parquet'}: a file not listed in the signed "
        "manifest's 'files'"
    )


def test_a_large_file_is_hashed_whole(tmp_path: Path) -> None:
    data = bytes(range(256)) * (5 * 4096 + 7)  # about 5 MiB, not a whole number of chunks
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_the_release_file_hashes_leave_out_the_manifest_and_directories(tmp_path: Path) -> None:
    directory = _write(tmp_path / "r1", _manifest())
    (directory / "sub").mkdir()
    (directory / "b.txt").write_bytes(b"b")
    assert release_file_hashes(directory) == {
        "areas.parquet": hashlib.sha256(b"areas").hexdigest(),
        "b.txt": hashlib.sha256(b"b").hexdigest(),
    }


def test_a_signature_with_stray_characters_is_malformed_not_skipped(tmp_path: Path) -> None:
    signed = sign_manifest(_manifest(), RELEASE_KEY)
    assert signed.signature is not None
    padded = signed.model_copy(update={"signature": "!" + signed.signature})
    with pytest.raises(ReleaseError, match="field 'signature' is not a base64 Ed25519"):
        verify_release_signature(padded, _public(RELEASE_KEY), tmp_path)


def test_lapse_is_judged_on_the_utc_date_whatever_the_servers_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    today = datetime.now(UTC)
    if today.hour >= 12:  # UTC+14 is already tomorrow: an approval due today still holds
        zone, until, lapsed = "Etc/GMT-14", today.date(), False
    else:  # UTC-12 is still yesterday: an approval due yesterday has lapsed
        zone, until, lapsed = "Etc/GMT+12", today.date() - timedelta(days=1), True
    manifest = _manifest(_record("alice", valid_until=until.isoformat()), _record("bob"))
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        if lapsed:
            with pytest.raises(ReleaseError, match="the approval lapsed on"):
                verify_manifest(manifest, _roster())
        else:
            assert verify_manifest(manifest, _roster()) == until.isoformat()
    finally:
        monkeypatch.undo()
        time.tzset()
