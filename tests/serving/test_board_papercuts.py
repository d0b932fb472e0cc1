"""The board's pages, papercuts of issue 18: aliases and headline figures, readable log details."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.governance.test_approval import NAME
from tests.serving.board_world import BoardWorld, copy_board_world, make_board_world
from tests.serving.pages_helpers import HTTPS, sign_in

AUDIT = {
    "calibration": {
        "check": {"confidence": 0.95, "overall": {"ratio": 1.04, "low": 0.95, "high": 1.14}}
    }
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BoardWorld:
    return make_board_world(tmp_path_factory.mktemp("board-cuts"))


@pytest.fixture
def world(built: BoardWorld, tmp_path: Path) -> BoardWorld:
    return copy_board_world(built, tmp_path / "world")


@pytest.fixture
def board(world: BoardWorld) -> Iterator[TestClient]:
    with TestClient(create_app(world.config), base_url=HTTPS) as client:
        assert sign_in(client, world.tokens["board"]).headers["location"] == "/board"
        yield client


def _row(page: str, version: str) -> str:
    found = re.search(
        rf"<tr>\s*<th scope=\"row\"><a href=\"/board/versions/{version}\">.*?</tr>", page, re.S
    )
    assert found is not None, f"no row for version {version}"
    return found.group(0)


def test_the_versions_list_shows_aliases_and_a_headline_figure(
    board: TestClient, world: BoardWorld
) -> None:
    registry = world.registry.registry
    registry.set_alias(NAME, "candidate", world.candidate)
    info = registry.version(NAME, world.candidate)
    registry.client.log_metric(info.run_id, "test_roc_auc", 0.78123)
    registry.log_artifacts(info, {"audit.json": json.dumps(AUDIT).encode()})

    page = board.get("/board").text
    row = _row(page, world.candidate)
    assert '<span class="badge alias">@candidate</span>' in row
    assert "ROC AUC 0.781 · O/E 1.04 (95% 0.95–1.14)" in row
    other = _row(page, world.unaudited)
    assert "@candidate" not in other and "not logged" in other


def test_the_audit_log_shows_details_as_words(board: TestClient, world: BoardWorld) -> None:
    world.audit_log.append(
        "release.publish",
        {
            "release_id": "r2",
            "approval": {"version": "3", "expires": None},
            "suppressed": {"lsoa": 2},
            "dry_run": False,
        },
        actor="cli:release",
    )
    page = board.get("/board/audit-log").text
    body = page.split("<tbody>")[1]
    assert "{'" not in body and "None" not in body and "False" not in body
    assert "<dt>approval › version</dt><dd>3</dd>" in body
    assert "<dt>approval › expires</dt><dd>—</dd>" in body
    assert "<dt>suppressed › lsoa</dt><dd>2</dd>" in body
    assert "<dt>dry run</dt><dd>no</dd>" in body
