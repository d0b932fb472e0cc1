"""The release's utility figures, as the operator and the board read them from the server.

``GET /v1/releases/{id}`` returns the verified manifest, ``utility`` included; a release
made before the field existed is served without it, and a manifest whose signed utility
figures were edited is refused at load like any other changed field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.contracts.release_schema import (
    ReleaseAttack,
    ReleaseError,
    ReleaseUtility,
    read_manifest,
)
from tests.serving.release_factory import make_board, resign, write_release
from tests.serving.test_releases import _admin_client, library

UTILITY = ReleaseUtility(
    areas=8,
    areas_published=6,
    areas_published_share=0.75,
    published_share_by_level={"lsoa": 0.5, "ward": 1.0, "city": 1.0},
    factor_cells=16,
    factor_cells_published_share=0.5,
    population_mae=1.2,
    population_max_error=2.0,
    expected_mae=1.1,
    expected_max_error=2.4,
    count_mae=1.0,
    count_max_error=2.0,
    spearman_ward=0.9,
    spearman_borough=None,
    wards_ranked=2,
    boroughs_ranked=1,
    fewer_than_areas=1,
    fewer_than_share=0.1667,
)


def test_the_release_api_returns_the_utility_figures(tmp_path: Path) -> None:
    board = make_board(tmp_path / "board")
    write_release(tmp_path / "releases", board, release_id="old", make_current=False)
    write_release(tmp_path / "releases", board, release_id="r1")
    resign(tmp_path / "releases" / "r1", utility=UTILITY)
    client, headers = _admin_client(tmp_path, board)
    with client:
        detail = client.get("/v1/releases/r1", headers=headers).json()
        assert detail["manifest"]["utility"] == UTILITY.model_dump(mode="json")
        # a release made before utility figures were recorded is still served, without them
        old = client.get("/v1/releases/old", headers=headers).json()
        assert old["verified"] is True and old["manifest"]["utility"] is None


def test_utility_figures_edited_after_signing_are_refused_at_load(tmp_path: Path) -> None:
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    write_release(releases, board, release_id="r1")
    resign(releases / "r1", utility=UTILITY)
    path = releases / "r1" / "manifest.json"
    better = read_manifest(releases / "r1").model_copy(
        update={"utility": UTILITY.model_copy(update={"spearman_ward": 0.99})}
    )
    path.write_text(better.model_dump_json())
    with pytest.raises(ReleaseError, match="signature does not verify"):
        library(releases, board).load()


ATTACKS = (
    ReleaseAttack(
        name="zero_detection",
        description="how well a figure published beside a withheld count tells 0 from more",
        success=0.5,
        chance=0.5,
        limit=0.7,
        cells=40,
        judged=True,
        passed=True,
    ),
)


def test_the_attacks_a_release_survived_are_served_and_signed(tmp_path: Path) -> None:
    """An operator who edits the recorded attacks (to hide a failed one) is refused at load."""
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    write_release(releases, board, release_id="r1")
    resign(releases / "r1", attacks=ATTACKS)
    client, headers = _admin_client(tmp_path, board)
    with client:
        detail = client.get("/v1/releases/r1", headers=headers).json()
        assert detail["manifest"]["attacks"] == [a.model_dump(mode="json") for a in ATTACKS]
    path = releases / "r1" / "manifest.json"
    hidden = read_manifest(releases / "r1").model_copy(update={"attacks": None})
    path.write_text(hidden.model_dump_json())
    with pytest.raises(ReleaseError, match="signature does not verify"):
        library(releases, board).load()
