"""Comparisons as a planner meets them: in the API's areas, the areas table and the area page.

A release built in code where one LSOA's published rate is far above its ward's and the
city's: it reads "higher" everywhere it is shown, in words (the badge's text), not colour
alone; a withheld LSOA reads "not compared: withheld".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.schemas import AreaList, AreaResponse
from tests.serving.conftest import World, make_world
from tests.serving.pages_helpers import HTTPS, sign_in
from tests.serving.release_factory import area_rows, set_published_means, write_release

HIGH = "L06"  # Birch 001, 200 young people


def _rows_with_a_high_lsoa() -> list[dict[str, object]]:
    rows = area_rows()
    for row in rows:
        if row["code"] == HIGH:
            row["expected"] = 60.0  # 300 per 1,000 against a city near 40
            set_published_means(row)
    return rows


@pytest.fixture(scope="module")
def high_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root: Path = tmp_path_factory.mktemp("comparisons")
    world = make_world(root)
    write_release(root / "releases", world.board, release_id="r2", rows=_rows_with_a_high_lsoa())
    return world


@pytest.fixture(scope="module")
def client(high_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(high_world.config), base_url=HTTPS) as test_client:
        yield test_client


def test_the_api_says_higher_for_the_high_lsoa_against_its_ward_and_the_city(
    client: TestClient, high_world: World
) -> None:
    body = AreaResponse.model_validate(
        client.get(f"/v1/areas/{HIGH}", headers=high_world.headers()).json()
    )
    comparison = body.area.comparison
    assert comparison is not None and comparison.parent is not None and comparison.city
    assert (comparison.parent.comparator_code, comparison.parent.verdict) == ("W3", "higher")
    assert (comparison.city.comparator_code, comparison.city.verdict) == ("city", "higher")
    assert comparison.rate_low is not None and comparison.parent.comparator_value is not None
    assert comparison.rate_low > comparison.parent.comparator_value


def test_every_listed_area_carries_its_comparison(client: TestClient, high_world: World) -> None:
    listing = AreaList.model_validate(
        client.get("/v1/areas?level=lsoa&limit=100", headers=high_world.headers()).json()
    )
    verdicts = {a.code: a.comparison for a in listing.items}
    assert all(c is not None and c.city is not None for c in verdicts.values())
    assert {c.city.verdict for c in verdicts.values() if c and c.city} >= {
        "higher",
        "not compared",
    }
    city = client.get("/v1/areas/city", headers=high_world.headers()).json()["area"]
    assert city["comparison"]["parent"] is None and city["comparison"]["city"] is None


def test_the_area_page_says_it_in_a_sentence_with_a_badge_of_text(
    client: TestClient, high_world: World
) -> None:
    assert sign_in(client, high_world.tokens["planner"]).status_code == 303
    page = client.get(f"/planner/areas/{HIGH}").text
    assert "<h2>How it compares</h2>" in page
    assert "Against the ward it lies in (Birch" in page
    assert '<span class="badge cmp cmp-higher">higher</span>' in page
    assert "(95% interval), wholly above it." in page
    withheld = client.get("/planner/areas/L04").text
    assert '<span class="badge cmp cmp-not-compared">not compared: withheld</span>' in withheld


def test_the_areas_table_shows_the_badges(client: TestClient, high_world: World) -> None:
    assert sign_in(client, high_world.tokens["planner"]).status_code == 303
    page = client.get("/planner?level=lsoa&parent=W3").text
    assert "Against parent, city" in page
    assert page.count('<span class="badge cmp cmp-higher">higher</span>') == 2  # ward and city


def test_an_area_whose_parent_is_the_city_says_it_once_and_the_city_says_nothing(
    client: TestClient, high_world: World
) -> None:
    assert sign_in(client, high_world.tokens["planner"]).status_code == 303
    bcu = client.get("/planner/areas/BCU-N")
    assert bcu.status_code == 200
    assert "Against the city it lies in (Testville" in bcu.text
    assert "Against the whole city" not in bcu.text  # the city is its parent: said once
    borough = client.get("/planner/areas/B1").text
    assert "Against the police BCU it lies in (North" in borough
    assert "Against the whole city (Testville" in borough
    city = client.get("/planner/areas/city")
    assert city.status_code == 200 and "How it compares" not in city.text


def test_the_csv_carries_the_verdicts_in_words(client: TestClient, high_world: World) -> None:
    assert sign_in(client, high_world.tokens["planner"]).status_code == 303
    body = client.get("/planner/areas.csv?level=lsoa").text
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(body))}
    assert (rows[HIGH]["against_parent"], rows[HIGH]["against_city"]) == ("higher", "higher")
    assert rows["L04"]["against_parent"] == "not compared: withheld"
