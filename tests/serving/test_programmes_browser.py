"""The programme pages in a real browser (Playwright, headless Chromium, uvicorn in a thread).

Reuses the browser, server and sign-in of tests/serving/test_pages_browser.py on a world of its
own (a release and the signed demo-like programme of tests/serving/programme_factory.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.serving.conftest import World, make_world
from tests.serving.test_pages_browser import (  # noqa: F401  (fixtures, used by name)
    base_url,
    browser,
    page,
    playwright,
    shot,
    sign_in,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("programme-browser"))


def test_a_planner_reads_a_programme_s_estimate_chart_table_and_checks(
    page: Page,  # noqa: F811  (the fixture imported above)
    world: World,
) -> None:
    sign_in(page, world.tokens["planner"])
    page.get_by_role("link", name="Programmes").click()
    expect(page).to_have_url(re.compile(r".*/planner/programmes$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Did a programme work?")
    row = page.get_by_role("row").filter(has_text="youth-workers")
    expect(row).to_contain_text("fell by about 20% (95% interval 8% to 31%)")
    shot(page, "planner-programmes")

    row.get_by_role("link", name="youth-workers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Did “youth-workers” work?")
    expect(page.locator("p.lead")).to_contain_text(
        "Recorded violence in the wards reached fell by about 20% (95% interval 8% to 31%)"
    )
    chart = page.get_by_role("img", name=re.compile("difference in recorded outcomes"))
    expect(chart).to_be_visible()
    expect(chart.locator("circle")).to_have_count(6)
    expect(chart.locator("path.whisker")).to_have_count(6)
    table = page.get_by_role("table", name=re.compile("figures as a table"))
    expect(table.locator("tbody tr")).to_have_count(6)
    expect(table.get_by_role("rowheader", name="+1")).to_be_visible()
    expect(page.get_by_role("heading", name="The checks")).to_be_visible()
    expect(page.get_by_text("Parallel trends")).to_be_visible()
    shot(page, "planner-programme")
