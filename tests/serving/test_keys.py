"""API keys: shown once, stored hashed, found by id, revoked for good; and their commands."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from governance.board.audit_log import AuditLog
from serving.keys import ApiKeyError, KeyStore, create_key, list_keys, read_keys, revoke_key
from vru.serving_commands import register


def test_a_key_is_stored_as_the_hash_of_its_secret(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keys.json"
    key, token = create_key(path, role="planner", name="Hackney VRU")
    assert token.startswith(f"vru_{key.key_id}_")
    secret = token.split("_", 2)[2]
    assert len(secret) >= 43  # 32 random bytes
    text = path.read_text()
    assert secret not in text and token not in text
    assert json.loads(text)["keys"][0]["sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["keys.json", "keys.json.lock"]
    assert read_keys(path) == {key.key_id: key}


def test_lookup_finds_active_keys_only(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    planner, planner_token = create_key(path, role="planner", name="p")
    _, admin_token = create_key(path, role="admin", name="a")
    store = KeyStore(path, check_seconds=0)
    assert store.lookup(planner_token) == planner
    assert store.lookup(admin_token).role == "admin"  # type: ignore[union-attr]
    assert store.lookup(planner_token[:-1] + ("A" if planner_token[-1] != "A" else "B")) is None
    assert store.lookup("vru_nothex______x") is None
    assert store.lookup("not a token") is None
    revoke_key(path, planner.key_id)
    assert store.lookup(planner_token) is None  # the cache is emptied when the file changes
    assert store.lookup(admin_token) is not None


def test_a_damaged_key_file_fails_at_start_and_is_survived_later(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _, token = create_key(path, role="planner", name="p")
    store = KeyStore(path, check_seconds=0)
    path.write_text("{broken")
    assert store.lookup(token) is not None  # the keys read before are kept
    with pytest.raises(ApiKeyError, match=r"keys.json: not a valid key file"):
        KeyStore(path)


@pytest.mark.parametrize(
    ("role", "name", "message"),
    [
        (
            "owner",
            "x",
            "role 'owner' is not allowed; allowed roles are ['planner', 'board', 'admin']",
        ),
        ("planner", "  ", "name must be 1 to 100 printable characters"),
    ],
)
def test_bad_roles_and_names_are_refused(
    tmp_path: Path, role: str, name: str, message: str
) -> None:
    with pytest.raises(ApiKeyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        create_key(tmp_path / "keys.json", role=role, name=name)
    assert not (tmp_path / "keys.json").exists()


def test_revoking_an_unknown_or_revoked_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key, _ = create_key(path, role="board", name="b")
    with pytest.raises(ApiKeyError, match="no key with id 'abcdef123456'"):
        revoke_key(path, "abcdef123456")
    revoked = revoke_key(path, key.key_id)
    assert revoked.revoked is not None and not revoked.active
    with pytest.raises(ApiKeyError, match=f"key {key.key_id} was already revoked"):
        revoke_key(path, key.key_id)
    assert list_keys(path) == [revoked]


# -- the commands ----------------------------------------------------------------------------


def _cli() -> typer.Typer:
    app = typer.Typer()
    keys_app = typer.Typer()

    @keys_app.command("board-init")
    def board_init() -> None:  # stands in for vru.cli's own keys command
        """Another keys command."""

    app.add_typer(keys_app, name="keys")
    register(app, keys_app)
    return app


def _config(tmp_path: Path) -> Path:
    (tmp_path / "governance.yaml").write_text(
        yaml.safe_dump({"audit_log": str(tmp_path / "audit.jsonl")})
    )
    path = tmp_path / "serving.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "keys_file": str(tmp_path / "keys.json"),
                "governance_config": str(tmp_path / "governance.yaml"),
            }
        )
    )
    return path


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    app, config = _cli(), _config(tmp_path)
    created = runner.invoke(
        app, ["keys", "create", "--role", "planner", "--name", "Hackney VRU", "-c", str(config)]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("vru_") and token.count("\n") == 0
    key_id = token.split("_")[1]
    listed = runner.invoke(app, ["keys", "list", "-c", str(config)])
    assert listed.exit_code == 0
    assert key_id in listed.stdout and "planner" in listed.stdout and "active" in listed.stdout
    assert token.split("_", 2)[2] not in listed.output
    assert read_keys(tmp_path / "keys.json")[key_id].sha256 not in listed.output
    revoked = runner.invoke(app, ["keys", "revoke", key_id, "-c", str(config)])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in runner.invoke(app, ["keys", "list", "-c", str(config)]).stdout
    again = runner.invoke(app, ["keys", "revoke", key_id, "-c", str(config)])
    assert again.exit_code == 2
    assert f"key {key_id} was already revoked" in again.output
    log = AuditLog(tmp_path / "audit.jsonl")
    assert log.verify().ok
    assert [(e["event"], e["details"]["key_id"]) for e in log.entries()] == [
        ("api_key.created", key_id),
        ("api_key.revoked", key_id),
    ]
    assert token.split("_", 2)[2] not in (tmp_path / "audit.jsonl").read_text()


def test_keys_create_with_a_bad_role_exits_2_naming_the_roles(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _cli(), ["keys", "create", "--role", "root", "--name", "x", "-c", str(_config(tmp_path))]
    )
    assert result.exit_code == 2
    assert "role 'root' is not allowed" in result.output


def test_serve_with_a_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "serving.yaml"
    config.write_text("rate_limit:\n  requests_per_minute: 0\nworkerz: 2\n")
    result = CliRunner().invoke(_cli(), ["serve", "-c", str(config)])
    assert result.exit_code == 2
    assert "rate_limit.requests_per_minute" in result.output
    assert "workerz" in result.output
