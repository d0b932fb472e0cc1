"""The area page's back-scored series in a real browser (Playwright, headless Chromium).

The release is tests/serving/test_series_served.py's: three as-of dates, the city's record
far above the model. The page must draw the chart (a named image, one point per date), the
table with the same figures and the sentence, with no script, and fit a tablet.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect

from serving.app import create_app
from tests.serving.conftest import World, make_world
from tests.serving.test_accessibility_browser import check
from tests.serving.test_pages_browser import (
    DOCS,
    _free_port,
    browser,
    playwright,
    shot,
    sign_in,
)
from tests.serving.test_series_served import DATES, add_series

__all__ = ["browser", "playwright"]  # the browser fixtures, shared with test_pages_browser


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    world = make_world(tmp_path_factory.mktemp("series-browser"))
    rows = pq.read_table(world.root / "releases" / "r1" / "areas.parquet").to_pylist()
    city = next(r for r in rows if r["level"] == "city")
    add_series(world, {city["code"]: float(round(city["expected"] * 3))})
    return world


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(world.config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def _docs_shot(page: Page) -> None:
    """The series section alone, small (128 colours), for the README."""
    from PIL import Image

    path = DOCS / "planner-area-series.png"
    DOCS.mkdir(parents=True, exist_ok=True)
    page.locator("section.series").screenshot(path=path)
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)


def _city_code(world: World) -> str:
    rows = pq.read_table(world.root / "releases" / "r1" / "areas.parquet").to_pylist()
    return str(next(r for r in rows if r["level"] == "city")["code"])


@pytest.mark.parametrize("width", [1280, 768])
def test_the_area_page_shows_the_series_chart_table_and_sentence(
    browser: Browser, base_url: str, world: World, width: int
) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": 900})
    page: Page = context.new_page()
    try:
        sign_in(page, world.tokens["planner"])
        page.goto(f"/planner/areas/{_city_code(world)}")
        chart = page.get_by_role("img", name="at each as-of date", exact=False)
        expect(chart).to_have_count(1)
        expect(chart.locator("circle")).to_have_count(len(DATES))
        table = page.get_by_role("table", name="recorded number beside the expected", exact=False)
        expect(table.locator("tbody tr")).to_have_count(len(DATES))
        expect(table).to_contain_text("not yet")
        readings = page.locator("ul.series-readings li")
        expect(readings).to_have_count(len(DATES))
        expect(readings.first).to_contain_text("The record is higher than the model expects")
        assert page.locator("script").count() == 0
        check(page, f"area page with a series at {width} px")  # axe: no serious or critical
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, wide
        shot(page, f"planner-area-series-{width}", docs=False)
        if width == 1280 and os.environ.get("VRU_UPDATE_DOCS_SCREENSHOTS"):
            _docs_shot(page)
    finally:
        context.close()


def test_the_chart_reads_without_sight(browser: Browser, base_url: str, world: World) -> None:
    """The chart's text alternative names each date's figure (its <desc>)."""
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    try:
        sign_in(page, world.tokens["planner"])
        page.goto(f"/planner/areas/{_city_code(world)}")
        desc = page.locator("desc#series-d").text_content() or ""
        assert all(d in desc for d, _ in DATES), desc
    finally:
        context.close()
