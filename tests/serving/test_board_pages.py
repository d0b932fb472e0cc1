"""The board's pages against a real MLflow registry: versions, report, signed decisions, log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from governance.board.approval import approval_problems, decision_tags
from governance.board.audit_log import AuditLog
from governance.contracts.signing import generate_keypair
from serving.app import create_app
from tests.governance.test_approval import NAME
from tests.serving.board_world import BoardWorld, copy_board_world, make_board_world
from tests.serving.pages_helpers import HTTPS, csrf_of, sign_in

EOD = "equalized_odds_difference"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BoardWorld:
    """The module's world, built once and never changed: each test gets a copy."""
    return make_board_world(tmp_path_factory.mktemp("board"))


@pytest.fixture
def world(built: BoardWorld, tmp_path: Path) -> BoardWorld:
    """A copy of the module's world (a candidate not yet decided on), this test's own."""
    return copy_board_world(built, tmp_path / "world")


@pytest.fixture
def board(world: BoardWorld) -> Iterator[TestClient]:
    with TestClient(create_app(world.config), base_url=HTTPS) as client:
        assert sign_in(client, world.tokens["board"]).headers["location"] == "/board"
        yield client


def _decide(client: TestClient, version: str, **fields: object) -> object:
    page = client.get(f"/board/versions/{version}")
    data = {"csrf_token": csrf_of(page.text), **fields}
    return client.post(f"/board/versions/{version}/decision", data=data, follow_redirects=False)


def _decisions(world: BoardWorld) -> list[dict[str, object]]:
    return [e for e in world.audit_log.entries() if e["event"] == "review.decision"]


def test_versions_are_listed_with_status_gates_and_date(
    board: TestClient, world: BoardWorld
) -> None:
    page = board.get("/board").text
    assert f"Model versions of {NAME}" in page
    assert f'href="/board/versions/{world.candidate}"' in page
    assert '<span class="badge status-candidate">candidate</span>' in page
    assert '<span class="badge status-not-audited">not audited</span>' in page
    assert f'<span class="badge fail">failed</span> {EOD}' in page
    assert " UTC</td>" in page  # the registration date


def test_a_version_page_shows_gates_the_report_and_the_form(
    board: TestClient, world: BoardWorld
) -> None:
    page = board.get(f"/board/versions/{world.candidate}").text
    assert "maximum equalized odds difference" in page and ">failed</span>" in page
    assert f'<iframe class="report" src="/board/versions/{world.candidate}/report"' in page
    assert 'sandbox=""' in page
    assert f'name="waive" value="{EOD}"' in page
    assert 'name="key_file" type="file"' in page and 'name="key_text"' in page
    assert 'name="reviewer"' not in page  # the reviewer is the signing member's roster name
    assert "the board roster's name for the member whose key signs" in page
    report = board.get(f"/board/versions/{world.candidate}/report")
    assert report.status_code == 200 and "<h1>report</h1>" in report.text
    assert report.headers["content-security-policy"].startswith("sandbox;")
    unaudited = board.get(f"/board/versions/{world.unaudited}")
    assert "has not been audited" in unaudited.text and "Sign and record" not in unaudited.text
    assert board.get(f"/board/versions/{world.unaudited}/report").status_code == 404
    missing = board.get("/board/versions/99")
    assert missing.status_code == 404 and "has no version 99" in missing.text
    assert board.get("/board/versions/abc").status_code == 400


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"decision": "approve", "reasons": ""}, "give the reasons"),
        ({"decision": "maybe", "reasons": "x"}, "choose approve or reject"),
        (
            {"decision": "approve", "reviewer": "A", "reasons": "x", "key_text": "garbage-key"},
            "not a PEM private key",
        ),
        ({"decision": "approve", "reviewer": "A", "reasons": "x"}, "No signing key was given"),
        (
            {"decision": "approve", "reviewer": "A", "reasons": "x", "waive": "no_such_gate"},
            "no gate named &#39;no_such_gate&#39;",
        ),
    ],
)
def test_a_bad_decision_form_records_nothing_and_says_why(
    board: TestClient, world: BoardWorld, fields: dict[str, str], says: str
) -> None:
    if "key_text" not in fields and "waive" in fields:
        fields = {**fields, "key_text": world.private_key_pem}
    before = world.audit_log.path.read_bytes() if world.audit_log.path.exists() else b""
    refused = _decide(board, world.candidate, **fields)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    text = refused.text  # type: ignore[attr-defined]
    assert "Nothing was recorded" in text and says in text
    assert "garbage-key" not in text and "PRIVATE KEY-----\n" not in text
    tags = world.registry.registry.version(NAME, world.candidate).tags
    assert decision_tags("board")[0] not in tags
    after = world.audit_log.path.read_bytes() if world.audit_log.path.exists() else b""
    assert [line for line in after.splitlines() if b"review.decision" in line] == [
        line for line in before.splitlines() if b"review.decision" in line
    ]


def test_another_key_than_the_boards_is_refused(
    board: TestClient, world: BoardWorld, tmp_path: Path
) -> None:
    generate_keypair(tmp_path / "other.pem", tmp_path / "other.pub")
    refused = _decide(
        board,
        world.candidate,
        decision="approve",
        reviewer="A. Khan",
        reasons="ok",
        key_text=(tmp_path / "other.pem").read_text(),
    )
    assert refused.status_code == 400  # type: ignore[attr-defined]
    text = refused.text  # type: ignore[attr-defined]
    assert "is not the key of any member of the board&#39;s roster (members: board)" in text
    assert _decisions(world) == []


def test_a_decision_without_the_csrf_token_is_refused(board: TestClient, world: BoardWorld) -> None:
    refused = board.post(
        f"/board/versions/{world.candidate}/decision",
        data={"decision": "approve", "reviewer": "A", "reasons": "x"},
        files={"key_file": ("board.pem", world.private_key_pem.encode(), "text/plain")},
    )
    assert refused.status_code == 403 and "nothing was recorded" in refused.text
    assert _decisions(world) == []


def test_an_approval_with_the_key_file_is_signed_recorded_and_shown(
    board: TestClient, world: BoardWorld
) -> None:
    page = board.get(f"/board/versions/{world.candidate}")
    done = board.post(
        f"/board/versions/{world.candidate}/decision",
        data={
            "csrf_token": csrf_of(page.text),
            "decision": "approve",
            "reviewer": "A. Khan (chair)",
            "reasons": "Gap explained by small numbers; drivers plausible.",
            "waive": EOD,
        },
        files={"key_file": ("board.pem", world.private_key_pem.encode(), "text/plain")},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/board/versions/{world.candidate}?recorded=true#history"
    shown = board.get(done.headers["location"]).text
    assert "Decision recorded." in shown
    assert '<span class="badge status-approved" id="status">approved</span>' in shown
    assert "Gap explained by small numbers" in shown
    info = world.registry.registry.version(NAME, world.candidate)
    problems, _ = approval_problems(world.registry.registry, info, world.registry.public)
    assert problems == []  # exactly what `vru review` records: promotion may go ahead
    (entry,) = _decisions(world)
    assert entry["actor"] == "board:board"  # the member whose key signed (the one-key roster)
    assert entry["details"]["waived_gates"] == [EOD]
    log = board.get("/board/audit-log").text
    assert "Chain intact:" in log and "review.decision" in log
    assert "api.request" not in log.split("<tbody>")[1]  # requests hidden unless asked
    assert "api.request" in board.get("/board/audit-log?requests=true").text
    listing = board.get("/board").text
    assert "approve by board" in listing
    text = world.audit_log.path.read_text()
    assert "PRIVATE KEY" not in text


def test_a_tampered_audit_log_is_shown_as_broken(world: BoardWorld) -> None:
    world.audit_log.append("audit.report", {"model": NAME, "version": "1"}, actor="test")
    world.audit_log.append("model.promote", {"model": NAME, "version": "1"}, actor="test")
    lines = world.audit_log.path.read_text().splitlines()
    lines[0] = lines[0].replace('"version":"1"', '"version":"2"')
    world.audit_log.path.write_text("\n".join(lines) + "\n")
    with TestClient(create_app(world.config), base_url=HTTPS) as client:
        sign_in(client, world.tokens["board"])
        page = client.get("/board/audit-log").text
    assert "Chain broken at entry 0:" in page and "hash does not match" in page


def test_a_log_cut_below_its_signed_checkpoint_is_shown_as_not_verifying(
    world: BoardWorld,
) -> None:
    import yaml

    from governance.contracts.signing import generate_keypair

    public = generate_keypair(world.root / "log.pem", world.root / "log.pub")
    path = world.config.governance_config
    settings = {
        **yaml.safe_load(path.read_text()),
        "audit_log_key": str(world.root / "log.pem"),
        "audit_log_public_key_b64": public,
    }
    path.write_text(yaml.safe_dump(settings))
    log = AuditLog.from_config(world.config.governance())
    log.append("audit.report", {"model": NAME, "version": "1"}, actor="test")
    log.append("model.promote", {"model": NAME, "version": "1"}, actor="test")
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(lines[:-1]) + "\n")  # the promotion cut from the end
    with TestClient(create_app(world.config), base_url=HTTPS) as client:
        sign_in(client, world.tokens["board"])
        page = client.get("/board/audit-log").text
    assert "The log does not verify:" in page and "truncated: the signed checkpoint" in page


def test_a_server_held_key_signs_when_configured(world: BoardWorld) -> None:
    from serving.config import Pages

    config = world.config.model_copy(update={"pages": Pages(board_signing_key=world.registry.key)})
    with TestClient(create_app(config), base_url=HTTPS) as client:
        sign_in(client, world.tokens["board"])
        page = client.get(f"/board/versions/{world.candidate}").text
        assert "The server holds the board" in page and 'name="key_file"' not in page
        done = _decide(
            client, world.candidate, decision="reject", reviewer="B. Osei", reasons="Too unfair."
        )
        assert done.status_code == 303  # type: ignore[attr-defined]
        listing = client.get("/board").text
    assert '<span class="badge status-rejected">rejected</span>' in listing
    assert [e["details"]["decision"] for e in _decisions(world)] == ["reject"]


def test_a_model_not_registered_yet_lists_no_version(world: BoardWorld) -> None:
    from serving.config import Pages

    config = world.config.model_copy(update={"pages": Pages(model_name="not-yet")})
    with TestClient(create_app(config), base_url=HTTPS) as client:
        sign_in(client, world.tokens["board"])
        page = client.get("/board")
    assert page.status_code == 200
    assert "No version of not-yet is registered yet" in page.text


def test_promotions_show_as_champion_and_retired(board: TestClient, world: BoardWorld) -> None:
    from governance.board.approval import promote
    from tests.serving.board_world import audit_version

    registry = world.registry.registry

    def promote_version(version: str) -> None:
        info = registry.version(NAME, version)
        promote(registry, world.audit_log, info, world.registry.public, actor="test")

    approved = _decide(
        board,
        world.candidate,
        decision="approve",
        reviewer="A. Khan (chair)",
        reasons="Gap explained by small numbers.",
        waive=EOD,
        key_text=world.private_key_pem,
    )
    assert approved.status_code == 303  # type: ignore[attr-defined]
    promote_version(world.candidate)
    audit_version(world.registry, world.unaudited)
    done = _decide(
        board,
        world.unaudited,
        decision="approve",
        reviewer="A. Khan (chair)",
        reasons="Within limits once waived.",
        waive=EOD,
        key_text=world.private_key_pem,
    )
    assert done.status_code == 303  # type: ignore[attr-defined]
    promote_version(world.unaudited)
    listing = board.get("/board").text
    assert '<span class="badge status-champion">champion</span>' in listing
    assert '<span class="badge status-retired">retired</span>' in listing
