"""The planners' boundary maps and the browser's downloads, on the factory's city."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.geometry import OGL_ATTRIBUTION, Boundaries
from tests.serving.conftest import World, make_world
from tests.serving.pages_helpers import HTTPS, sign_in
from tests.serving.test_downloads import provider


@pytest.fixture(scope="module")
def shaped(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, FastAPI]:
    world = make_world(tmp_path_factory.mktemp("maps"))
    app = create_app(world.config)
    app.state.boundaries = Boundaries(provider)  # squares for LSOAs (not L14) and wards
    return world, app


@pytest.fixture
def browser(shaped: tuple[World, FastAPI]) -> Iterator[TestClient]:
    world, app = shaped
    with TestClient(app, base_url=HTTPS) as client:
        assert sign_in(client, world.tokens["planner"]).status_code == 303
        yield client


def svg_of(page: str) -> ET.Element:
    found = re.search(r"<svg .*?</svg>", page, re.S)
    assert found is not None, "no map on the page"
    return ET.fromstring(found.group(0))


def test_the_lsoa_map_links_each_drawn_area_and_lists_the_one_without_a_boundary(
    browser: TestClient,
) -> None:
    response = browser.get("/planner/map/lsoa")
    assert response.status_code == 200
    page = response.text
    links = svg_of(page).findall(".//{http://www.w3.org/2000/svg}a")
    assert len(links) == 13  # 14 LSOAs, L14 has no boundary
    assert all(a.get("href", "").startswith("/planner/areas/L") for a in links)
    withheld = [a for a in links if "withheld by disclosure control" in (a.get("aria-label") or "")]
    assert len(withheld) == 2  # the factory's suppressed pair
    assert "Not on the map (no boundary for their codes):" in page
    assert OGL_ATTRIBUTION in page.replace("&#39;", "'")
    assert 'href="/planner/download/areas.geojson?level=lsoa"' in page
    # the text alternative: every LSOA in the table, the withheld ones said so
    assert len(re.findall(r'<th scope="row"><a href="/planner/areas/L', page)) == 14
    assert page.count(">withheld <span") == 2


def test_a_map_within_a_borough_draws_only_its_wards(browser: TestClient) -> None:
    page = browser.get("/planner/map/ward?parent=B1").text
    hrefs = [a.get("href", "") for a in svg_of(page).iter("{http://www.w3.org/2000/svg}a")]
    assert sorted(hrefs) == ["/planner/areas/W1", "/planner/areas/W2"]
    assert "in Ashby" in page


def test_a_level_without_boundaries_shows_the_table_and_says_why(browser: TestClient) -> None:
    page = browser.get("/planner/map/borough").text
    assert 'class="chart choropleth"' not in page
    assert "No map: there are no boundaries for these boroughs" in page
    assert page.count('<th scope="row"><a href="/planner/areas/B') == 3


def test_a_generated_city_says_its_codes_have_no_boundaries(
    shaped: tuple[World, FastAPI],
) -> None:
    world, _ = shaped
    app = create_app(world.config)  # the default adapter: London's shapes, none for these codes
    with TestClient(app, base_url=HTTPS) as client:
        sign_in(client, world.tokens["planner"])
        page = client.get("/planner/map/ward").text
    assert "No map:" in page and "The table below gives their figures." in page


def test_a_bad_parent_or_level_is_a_page_error(browser: TestClient) -> None:
    assert browser.get("/planner/map/ward?parent=NOPE").status_code == 404
    wrong = browser.get("/planner/map/ward?parent=L01")
    assert wrong.status_code == 400 and "it holds no wards" in wrong.text
    assert browser.get("/planner/map/bcu").status_code in (400, 404, 422)


def test_the_browser_downloads_send_the_same_bytes_as_the_api(
    shaped: tuple[World, FastAPI], browser: TestClient
) -> None:
    world, app = shaped
    pairs: list[tuple[str, str]] = [
        ("/planner/download/areas.geojson?level=ward", "/v1/areas.geojson?level=ward"),
        ("/planner/download/areas.csv?level=lsoa", "/v1/areas.csv?level=lsoa"),
        ("/planner/download/areas-metadata.csv?level=lsoa", "/v1/areas.csv/metadata?level=lsoa"),
    ]
    with TestClient(app, base_url=HTTPS) as api:
        for page_url, api_url in pairs:
            from_page = browser.get(page_url)
            from_api = api.get(api_url, headers=world.headers())
            assert from_page.status_code == from_api.status_code == 200
            assert from_page.content == from_api.content, page_url
            assert "attachment" in from_page.headers["content-disposition"]


def test_the_planner_page_links_the_map_and_downloads(browser: TestClient) -> None:
    page = browser.get("/planner?parent=B1").text
    assert 'href="/planner/map/ward?parent=B1"' in page
    assert 'href="/planner/download/areas-metadata.csv?level=ward"' in page


def test_the_pages_need_a_session(shaped: tuple[World, FastAPI]) -> None:
    _, app = shaped
    with TestClient(app, base_url=HTTPS) as anonymous:
        for url in ("/planner/map/ward", "/planner/download/areas.csv?level=ward"):
            response = anonymous.get(url, follow_redirects=False)
            assert response.status_code in (303, 401), url
