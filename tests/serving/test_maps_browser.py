"""The boundary map in a real browser (Playwright, Chromium): reached and opened by keyboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

from geojson_pydantic import FeatureCollection
from playwright.sync_api import Page, expect

from tests.serving import test_pages_browser as pages
from tests.serving.board_world import BoardWorld
from tests.serving.test_pages_browser import shot, sign_in

# the browser tests' fixtures: a London-shaped city served by uvicorn, headless Chromium
world, base_url, playwright = pages.world, pages.base_url, pages.playwright
browser, page = pages.browser, pages.page


def test_a_planner_tabs_to_a_borough_on_the_map_and_opens_it(page: Page, world: BoardWorld) -> None:
    sign_in(page, world.tokens["planner"])
    page.goto("/planner/map/borough")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Mean risk of the boroughs in the city"
    )
    areas = page.locator("svg.choropleth a")
    expect(areas).to_have_count(33)
    shot(page, "planner-boundary-map")
    label = ""
    for _ in range(80):  # Tab through the page's links until one of the map's areas has focus
        page.keyboard.press("Tab")
        label = page.evaluate(
            "() => document.activeElement.closest('svg.choropleth') ? "
            "document.activeElement.getAttribute('aria-label') : ''"
        )
        if label:
            break
    assert re.fullmatch(r".+: (mean risk \d+(\.\d+)?%|withheld by disclosure control)", label)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r".*/planner/areas/E09\d{6}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(label.split(":")[0])


def test_a_planner_downloads_the_geojson_from_the_map_page(page: Page, world: BoardWorld) -> None:
    sign_in(page, world.tokens["planner"])
    page.goto("/planner/map/borough")
    with page.expect_download() as info:
        page.get_by_role("link", name="GeoJSON").first.click()
    download = info.value
    assert download.suggested_filename.endswith(".geojson")
    document = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    FeatureCollection.model_validate(document)
    assert len(document["features"]) == 33
    assert document["metadata"]["environment"] in ("DEMO", "PRODUCTION")
