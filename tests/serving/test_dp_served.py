"""A release made with the DP option is served: the server's load check, under the release's
signed rules (``method: dp``), accepts its noised counts, and ``GET /v1/releases/{id}``
shows the board its signed privacy loss and the running total."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from governance.contracts.release_schema import ReleaseError, ReleasePrivacy, read_manifest
from governance.disclosure import DisclosureConfig
from serving.app import create_app
from serving.releases import ReleaseLibrary
from tests.serving.conftest import World, make_world
from tests.serving.pages_helpers import sign_in
from tests.serving.release_factory import make_board, release_key, resign, write_release
from tests.serving.test_aggregate_honest import _rows
from tests.training.test_release_leaks import FACTORS, generated_city, unprotected
from training.release.config import ReleaseConfig
from training.release.run import AreaFigures, protect_areas

RULES = DisclosureConfig(method="dp")


def dp_release() -> tuple[pd.DataFrame, ReleasePrivacy]:
    """The generated city of the leak tests, released under the DP option."""
    figures = AreaFigures(table=unprotected(generated_city()))
    config = ReleaseConfig(releases_dir=Path("/nonexistent/releases"))
    protected = protect_areas(config, figures, list(FACTORS), RULES)
    assert protected.privacy is not None
    return protected.table, protected.privacy


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, World]]:
    world = make_world(tmp_path_factory.mktemp("dp"))
    table, privacy = dp_release()
    releases = world.root / "releases"
    write_release(releases, world.board, release_id="dp1", rows=_rows(table), disclosure=RULES)
    resign(releases / "dp1", privacy=privacy)
    with TestClient(create_app(world.config), base_url="https://testserver") as client:
        yield client, world


def test_a_dp_release_is_loaded_and_served(served: tuple[TestClient, World]) -> None:
    client, world = served
    assert client.get("/readyz").json()["release_id"] == "dp1"
    areas = client.get("/v1/areas?level=ward", headers=world.headers())
    assert areas.status_code == 200, areas.text


def test_the_board_sees_the_signed_privacy_loss(served: tuple[TestClient, World]) -> None:
    client, world = served
    detail = client.get("/v1/releases/dp1", headers=world.headers("board")).json()
    privacy = detail["manifest"]["privacy"]
    assert privacy["epsilon"] == pytest.approx(1.0)
    assert privacy["total_epsilon"] == pytest.approx(1.0)
    assert privacy["max_total_epsilon"] == 10.0
    assert detail["manifest"]["disclosure"]["method"] == "dp"


def test_the_planner_pages_say_the_figures_are_noised_and_the_loss(
    served: tuple[TestClient, World],
) -> None:
    client, world = served
    sign_in(client, world.tokens["board"])
    page = client.get("/planner").text
    assert "Differential privacy: this release's privacy loss is ε = 1.00" in page
    assert "all releases so far ε = 1.00 of the 10.00 allowed" in page


def test_a_dp_release_spending_more_than_the_floor_allows_is_refused(tmp_path: Path) -> None:
    """An operator who signs a release at epsilon 5 (five times the floor's) is refused."""
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    loose = DisclosureConfig(method="dp", dp={"epsilon": 5.0, "max_total_epsilon": 50.0})
    table, _ = dp_release()
    write_release(releases, board, release_id="loose", rows=_rows(table), disclosure=loose)
    loading = ReleaseLibrary(
        releases, board.public_key_b64, release_key_b64=release_key().public_key_b64
    )
    with pytest.raises(ReleaseError, match="weaker than this server's floor") as refused:
        loading.load()
    assert "dp.epsilon 5.0 > 1.0" in str(refused.value)
    assert "dp.max_total_epsilon 50.0 > 10.0" in str(refused.value)
    assert "rounding_base" not in str(refused.value)


@pytest.mark.parametrize("hidden", ["lowered", "removed"])
def test_a_privacy_loss_edited_after_signing_is_refused(tmp_path: Path, hidden: str) -> None:
    """An operator who understates the budget spent (or drops it) after signing is refused."""
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    table, privacy = dp_release()
    write_release(releases, board, release_id="dp1", rows=_rows(table), disclosure=RULES)
    resign(releases / "dp1", privacy=privacy)
    manifest = read_manifest(releases / "dp1")
    edited = privacy.model_copy(update={"total_epsilon": 0.0}) if hidden == "lowered" else None
    path = releases / "dp1" / "manifest.json"
    path.write_text(manifest.model_copy(update={"privacy": edited}).model_dump_json())
    loading = ReleaseLibrary(
        releases, board.public_key_b64, release_key_b64=release_key().public_key_b64
    )
    with pytest.raises(ReleaseError, match="signature does not verify"):
        loading.load()
