"""Attacks on the log anchor (the signed checkpoint kept apart from the log).

Each test tampers with the anchor file one way and asserts the refusal and its whole
message (``make mutation`` changes each line of governance/board/log_anchor.py).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board import log_anchor as log_anchor_module
from governance.board.log_anchor import AnchorError, Checkpoint, read_anchor, write_anchor
from governance.contracts.signing import SignatureError

POINT = Checkpoint(
    log="audit.jsonl", seq=4, hash="ab" * 32, count=5, at="2024-05-01T09:30:00+00:00"
)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def anchor(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    path = tmp_path / "anchors" / "audit.jsonl.anchor"
    write_anchor(path, POINT, key)
    return path


def _b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _refusal(path: Path, key: Ed25519PrivateKey, log: str = "audit.jsonl") -> str:
    with pytest.raises(AnchorError) as refused:
        read_anchor(path, key.public_key(), log)
    return str(refused.value)


def _rewrite(path: Path, **changes: Any) -> None:
    body = json.loads(path.read_text(encoding="utf-8"))
    body.update(changes)
    path.write_text(json.dumps(body), encoding="utf-8")


def test_a_written_anchor_reads_back_with_either_form_of_the_key(
    anchor: Path, key: Ed25519PrivateKey
) -> None:
    assert read_anchor(anchor, key.public_key(), "audit.jsonl") == POINT
    assert read_anchor(anchor, _b64(key), "audit.jsonl") == POINT
    body = json.loads(anchor.read_text(encoding="utf-8"))
    assert sorted(body) == ["at", "count", "hash", "log", "seq", "signature"]
    assert anchor.read_text(encoding="utf-8").endswith("}\n")


def test_the_payload_is_canonical_json_of_every_field() -> None:
    point = Checkpoint(log="journal-é.jsonl", seq=0, hash="h", count=1, at="t")
    assert point.payload() == (
        '{"at":"t","count":1,"hash":"h","log":"journal-é.jsonl","seq":0}'.encode()
    )


def test_a_missing_anchor_is_named(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "none.anchor"
    assert _refusal(path, key) == f"{path}: no signed checkpoint (anchor file missing)"


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b""])
def test_an_anchor_that_is_not_json_is_refused(
    anchor: Path, key: Ed25519PrivateKey, content: bytes
) -> None:
    anchor.write_bytes(content)
    assert _refusal(anchor, key) == f"{anchor}: the anchor is not a checkpoint (not JSON)"


def test_an_anchor_that_is_not_an_object_is_refused(anchor: Path, key: Ed25519PrivateKey) -> None:
    anchor.write_text("[1, 2]", encoding="utf-8")
    assert _refusal(anchor, key) == f"{anchor}: the anchor is not a checkpoint (fields list)"


@pytest.mark.parametrize(("drop", "add"), [("count", None), (None, "extra")])
def test_an_anchor_with_other_fields_is_refused(
    anchor: Path, key: Ed25519PrivateKey, drop: str | None, add: str | None
) -> None:
    body = json.loads(anchor.read_text(encoding="utf-8"))
    if drop:
        del body[drop]
    if add:
        body[add] = 1
    anchor.write_text(json.dumps(body), encoding="utf-8")
    assert _refusal(anchor, key) == (
        f"{anchor}: the anchor is not a checkpoint (fields {sorted(body)})"
    )


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("at", 1, "str"),
        ("count", "5", "int"),
        ("count", True, "int"),
        ("hash", None, "str"),
        ("log", ["audit.jsonl"], "str"),
        ("seq", 4.0, "int"),
        ("seq", False, "int"),
        ("signature", 7, "str"),
    ],
)
def test_an_anchor_field_of_the_wrong_type_is_named(
    anchor: Path, key: Ed25519PrivateKey, field: str, value: object, kind: str
) -> None:
    _rewrite(anchor, **{field: value})
    assert _refusal(anchor, key) == (
        f"{anchor}: the anchor is not a checkpoint ('{field}' is not {kind})"
    )


@pytest.mark.parametrize("signature", ["not base64!", "abc"])
def test_a_signature_that_is_not_base64_is_refused(
    anchor: Path, key: Ed25519PrivateKey, signature: str
) -> None:
    _rewrite(anchor, signature=signature)
    assert _refusal(anchor, key) == (
        f"{anchor}: the anchor is not a checkpoint (signature not base64)"
    )


FORGED = (
    "{path}: the checkpoint's signature does not verify with the log's public key "
    "(the anchor was edited, forged without the key, or signed with another key)"
)


@pytest.mark.parametrize(
    "changes", [{"seq": 2}, {"count": 3}, {"hash": "cd" * 32}, {"at": "2030-01-01"}]
)
def test_an_edited_checkpoint_is_refused_as_forged(
    anchor: Path, key: Ed25519PrivateKey, changes: dict[str, Any]
) -> None:
    """The attack that hides a truncation: lower the checkpoint's seq, keep the signature."""
    _rewrite(anchor, **changes)
    assert _refusal(anchor, key) == FORGED.format(path=anchor)


def test_an_anchor_signed_with_another_key_is_refused(anchor: Path) -> None:
    other = Ed25519PrivateKey.generate()
    assert _refusal(anchor, other) == FORGED.format(path=anchor)


def test_an_anchor_moved_to_another_log_is_refused(anchor: Path, key: Ed25519PrivateKey) -> None:
    assert _refusal(anchor, key, log="requests.jsonl") == (
        f"{anchor}: the checkpoint is for the log 'audit.jsonl', not 'requests.jsonl'"
    )


def test_the_anchor_is_group_readable_whatever_the_umask(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    previous = os.umask(0o077)
    try:
        path = tmp_path / "a" / "b" / "log.anchor"  # new directories too
        write_anchor(path, POINT, key)
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640


def test_the_anchor_is_written_beside_itself_then_renamed(
    anchor: Path, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        renamed.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(log_anchor_module.os, "replace", spy)
    write_anchor(anchor, POINT, key)
    assert [(src.parent, dst) for src, dst in renamed] == [(anchor.parent, anchor)]
    assert not list(anchor.parent.glob("*.tmp"))


def test_a_failed_rename_keeps_the_old_anchor_and_leaves_no_temp_file(
    anchor: Path, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = anchor.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(log_anchor_module.os, "replace", crash)
    later = Checkpoint(log="audit.jsonl", seq=9, hash="ef" * 32, count=10, at="t")
    with pytest.raises(OSError, match="disk full"):
        write_anchor(anchor, later, key)
    assert anchor.read_bytes() == before
    assert sorted(p.name for p in anchor.parent.iterdir()) == [anchor.name]


def test_a_signature_with_stray_characters_is_refused_not_cleaned(
    anchor: Path, key: Ed25519PrivateKey
) -> None:
    """Strict base64: a lenient decoder would drop the junk and accept the signature."""
    body = json.loads(anchor.read_text(encoding="utf-8"))
    _rewrite(anchor, signature=body["signature"][:10] + "!*" + body["signature"][10:])
    assert _refusal(anchor, key) == (
        f"{anchor}: the anchor is not a checkpoint (signature not base64)"
    )


def test_a_bad_public_key_is_named_as_the_log_key(anchor: Path) -> None:
    with pytest.raises(SignatureError, match="audit_log_public_key_b64") as refused:
        read_anchor(anchor, "not-a-key", "audit.jsonl")
    assert str(refused.value).startswith("audit_log_public_key_b64")


def test_the_anchor_file_lists_its_fields_in_order(anchor: Path) -> None:
    text = anchor.read_text(encoding="utf-8")
    assert list(json.loads(text)) == ["at", "count", "hash", "log", "seq", "signature"]
