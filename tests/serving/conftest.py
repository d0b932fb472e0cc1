"""Fixtures of the serving tests: a signed release, keys of each role, an app and a client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.config import ServingConfig
from serving.keys import create_key
from tests.serving.release_factory import Board, make_board, serving_config, write_release


@dataclass
class World:
    """A releases directory with release ``r1`` served, a board, keys and a config."""

    root: Path
    board: Board
    config: ServingConfig
    tokens: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str = "planner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    @property
    def audit_log(self) -> Path:
        return self.root / "audit" / "audit-log.jsonl"


def make_world(root: Path, **overrides: Any) -> World:
    board = make_board(root / "board")
    write_release(root / "releases", board, release_id="r1")
    config = serving_config(root, board, **overrides)
    world = World(root=root, board=board, config=config)
    for role in ("planner", "board", "admin"):
        key, token = create_key(config.keys_file, role=role, name=f"test {role}")
        world.tokens[role], world.key_ids[role] = token, key.key_id
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("serving"))


@pytest.fixture(scope="module")
def app(world: World) -> FastAPI:
    return create_app(world.config)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client


@pytest.fixture
def fresh(tmp_path: Path) -> World:
    """A world of its own, for tests that change keys, releases or limits."""
    return make_world(tmp_path)
