"""A release made with the cell-key method is served: the server's load check, run under the
release's signed rules, accepts its perturbed (not rounded) counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from governance.cellkey import record_keys
from governance.contracts.release_schema import ReleaseError
from governance.disclosure import DisclosureConfig
from serving.app import create_app
from serving.config import DisclosureFloor
from serving.releases import ReleaseLibrary
from tests.serving.conftest import World, make_world
from tests.serving.release_factory import make_board, release_key, write_release
from tests.serving.test_aggregate_honest import _rows
from tests.training.test_release_leaks import FACTORS, generated_city, unprotected
from training.release.cellkey_release import area_cell_keys, lsoa_key_sums
from training.release.config import ReleaseConfig
from training.release.run import AreaFigures, protect_areas

RULES = DisclosureConfig(method="cellkey", cellkey={"seed": "served-test-seed"})


def cellkey_table() -> pd.DataFrame:
    """The generated city of the leak tests, released under the cell-key method."""
    city = generated_city()
    people = city.people.assign(person_key=[f"P{i:08d}" for i in range(len(city.people))])
    figures = AreaFigures(table=unprotected(city))
    keys = record_keys(people["person_key"], "2024-04-01", RULES.cellkey.seed_bytes())
    present = people[[f"has_{f}" for f in FACTORS]].to_numpy(bool)
    by_lsoa = lsoa_key_sums(city.geography, people["lsoa_code"], keys, present, FACTORS)
    cell_keys = area_cell_keys(figures.table, city.geography, by_lsoa)
    config = ReleaseConfig(releases_dir=Path("/nonexistent/releases"))
    return protect_areas(config, figures, list(FACTORS), RULES, cell_keys=cell_keys).table


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, World]]:
    world = make_world(tmp_path_factory.mktemp("cellkey"))
    table = cellkey_table()
    assert (table["population"].dropna().astype(int) % 5 != 0).any()
    write_release(
        world.root / "releases",
        world.board,
        release_id="ck1",
        rows=_rows(table),
        disclosure=RULES,
    )
    with TestClient(create_app(world.config), base_url="https://testserver") as client:
        yield client, world


def test_a_cellkey_release_is_loaded_and_served(served: tuple[TestClient, World]) -> None:
    client, _ = served
    assert client.get("/readyz").json()["release_id"] == "ck1"


def test_the_same_table_signed_as_a_threshold_release_is_refused(tmp_path: Path) -> None:
    """Its counts are not multiples of 5: under threshold rules the server refuses it."""
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    rows = _rows(cellkey_table())
    for release_id, rules in (("ck", RULES), ("threshold", DisclosureConfig(method="threshold"))):
        write_release(releases, board, release_id=release_id, rows=rows, disclosure=rules)
        loading = ReleaseLibrary(
            releases, board.public_key_b64, release_key_b64=release_key().public_key_b64
        )
        if rules.method == "cellkey":
            loading.load()
            continue
        with pytest.raises(ReleaseError, match="not multiples of rounding_base 5"):
            loading.load()


@pytest.mark.parametrize(
    ("weakened", "message"),
    [
        ({"max_perturbation": 2, "small_count_variance": 1.0}, "cellkey.max_perturbation 2 < 3"),
        ({"variance": 0.25, "small_count_variance": 0.5}, "cellkey.variance 0.25 < 1.0"),
        ({"small_count_variance": 0.5}, "cellkey.small_count_variance 0.5 < 1.5"),
        ({"expected_noise": 0.0}, "cellkey.expected_noise 0.0 < 0.5"),
    ],
)
def test_a_cellkey_release_with_a_weak_ptable_is_refused_by_the_floor(
    tmp_path: Path, weakened: dict[str, float], message: str
) -> None:
    """The attacker's operator signs a release whose perturbation barely perturbs: refused,
    and the refusal speaks of the ptable, not of a rounding base the method does not use."""
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    weak = DisclosureConfig(method="cellkey", cellkey={"seed": "served-test-seed", **weakened})
    write_release(releases, board, release_id="weak", rows=_rows(cellkey_table()), disclosure=weak)
    loading = ReleaseLibrary(
        releases, board.public_key_b64, release_key_b64=release_key().public_key_b64
    )
    with pytest.raises(ReleaseError, match="weaker than this server's floor") as refused:
        loading.load()
    assert message in str(refused.value)
    assert "rounding_base" not in str(refused.value)


def test_a_method_the_floor_does_not_list_is_refused(tmp_path: Path) -> None:
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    write_release(releases, board, release_id="ck", rows=_rows(cellkey_table()), disclosure=RULES)
    floor = DisclosureFloor(methods=("threshold",))
    loading = ReleaseLibrary(
        releases,
        board.public_key_b64,
        release_key_b64=release_key().public_key_b64,
        floor=floor,
    )
    with pytest.raises(ReleaseError, match="method cellkey is not one this server accepts"):
        loading.load()
