"""axe-core over every page in real Chromium: no serious or critical violation (issue 18).

axe-core is Deque's accessibility engine (the rules behind Lighthouse's and many
auditors' checks, WCAG 2.x A and AA). Its script ships inside the ``axe-playwright-python``
wheel (``axe.min.js``, locked in requirements.lock): nothing is fetched at test time. Each
page a person can reach is opened as they would reach it (signed in, by role), axe runs in
the page, and any violation of impact ``serious`` or ``critical`` fails the test, listed
with its rule, help text and the elements it found. Minor and moderate findings are printed,
not failed on. The server, the London-shaped city and Chromium are those of
``test_pages_browser`` (its fixtures, imported).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.serving import test_pages_browser as _browser
from tests.serving.board_world import BoardWorld
from tests.serving.test_pages_browser import SHOTS, shot, sign_in

# the server, city and Chromium of test_pages_browser: its fixtures, by name
world = _browser.world
base_url = _browser.base_url
playwright = _browser.playwright
browser = _browser.browser
page = _browser.page

FAILING = frozenset({"serious", "critical"})
_AXE = Axe()
_OPTIONS = {
    "resultTypes": ["violations"],
    # a frame is checked as its own page (the report): axe would wait on a sandboxed frame
    "iframes": False,
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
}


def violations(tab: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now."""
    results = _AXE.run(tab, options=_OPTIONS)
    found: list[dict[str, Any]] = results.response["violations"]
    return found


def _only_known(violation: dict[str, Any], known: tuple[tuple[str, str], ...]) -> bool:
    targets = [" ".join(map(str, n.get("target", []))) for n in violation.get("nodes", [])]
    return any(
        violation["id"] == rule and targets and all(selector in t for t in targets)
        for rule, selector in known
    )


def _describe(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        targets = [" ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])[:4]]
        lines.append(f"{v['impact']}: {v['id']} ({v['help']}) at {targets}")
    return "\n".join(lines)


def check(tab: Page, where: str, known: tuple[tuple[str, str], ...] = ()) -> list[dict[str, Any]]:
    """Fail on serious or critical violations at ``where``; return (and record) the others.

    The minor and moderate ones go to ``axe-minor.jsonl`` beside the screenshots. ``known``
    lists ``(rule, selector)`` pairs of third-party markup this project cannot change: a
    violation of that rule whose every element's target contains that selector is left out.
    """
    found = [v for v in violations(tab) if not _only_known(v, known)]
    bad = [v for v in found if v.get("impact") in FAILING]
    assert not bad, f"axe on {where}:\n{_describe(bad)}"
    others = [v for v in found if v.get("impact") not in FAILING]
    if others:
        SHOTS.mkdir(parents=True, exist_ok=True)
        with (SHOTS / "axe-minor.jsonl").open("a") as out:
            for v in others:
                out.write(json.dumps({"page": where, "impact": v["impact"], "id": v["id"]}) + "\n")
    return others


def test_axe_finds_a_serious_violation_where_there_is_one(page: Page) -> None:
    """The check can fail: an image without text and an unlabelled field are serious/critical."""
    page.set_content(
        '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
        '<h1>t</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text">'
        "</main></body></html>"
    )
    ids = {v["id"] for v in violations(page) if v.get("impact") in FAILING}
    assert {"image-alt", "label"} <= ids


def test_the_sign_in_and_signed_out_pages_pass_axe(page: Page, world: BoardWorld) -> None:
    page.goto("/signin")
    check(page, "/signin")
    sign_in(page, world.tokens["planner"])
    expect(page).to_have_url(re.compile(r".*/planner$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Your API key")).to_be_visible()
    check(page, "the page after signing out")


def test_the_planner_pages_pass_axe(page: Page, world: BoardWorld) -> None:
    sign_in(page, world.tokens["planner"])
    expect(page).to_have_url(re.compile(r".*/planner$"))
    paths = [
        "/planner",
        "/planner?level=ward",
        "/planner?level=lsoa&sort=-mean_risk",
        "/planner?level=ward&q=Camden",
        "/planner/map",
    ]
    for path in paths:
        page.goto(path)
        check(page, path)
    # an area page of each level, reached from the listings
    page.goto("/planner?level=lsoa")
    lsoa = page.locator("table.areas tbody th.area-name a").first.get_attribute("href")
    assert lsoa is not None
    for path in (lsoa, "/planner/areas/city"):
        page.goto(path)
        check(page, path)
    page.goto("/planner")
    page.locator("table.areas tbody th.area-name a").first.click()
    page.locator("table.areas tbody tr").first.get_by_role("link", name="trend").click()
    check(page, page.url)
    page.goto("/planner/areas/Camdn")  # the error page, with its suggestions
    check(page, "the unknown-area page")
    shot(page, "error-unknown-area", docs=False)


def test_the_board_pages_pass_axe(page: Page, world: BoardWorld) -> None:
    sign_in(page, world.tokens["board"])
    expect(page).to_have_url(re.compile(r".*/board$"))
    for path in (
        "/board",
        f"/board/versions/{world.candidate}",
        "/board/audit-log",
        "/board/audit-log?requests=true",
        "/planner/areas/NOPE",  # the error page a board member may reach
    ):
        page.goto(path)
        check(page, path)


def test_the_report_shown_to_the_board_passes_axe(
    browser: Browser, base_url: str, world: BoardWorld
) -> None:
    """The report page (in the version page's frame, and alone for printing).

    Its CSP sandboxes it with no script at all, under which axe's promise never settles, so
    this one context lets the test's own script run (``bypass_csp``): the page is the same.
    The report here is the test world's stand-in, with the real template's ``lang``.
    """
    context = browser.new_context(base_url=base_url, bypass_csp=True)
    try:
        tab = context.new_page()
        sign_in(tab, world.tokens["board"])
        expect(tab).to_have_url(re.compile(r".*/board$"))
        tab.goto(f"/board/versions/{world.candidate}/report")
        check(tab, "the report")
    finally:
        context.close()


#: Swagger UI draws each operation's summary as a button holding the copy-path button:
#: nested controls in its own bundle (fastapi-offline's swagger-ui-bundle.js), not ours
SWAGGER_SUMMARY = (("nested-interactive", ".opblock-summary-control"),)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_pass_axe(page: Page, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    check(page, path, known=SWAGGER_SUMMARY if path == "/docs" else ())


def test_axe_runs_from_the_installed_wheel_not_a_network(browser: Browser, base_url: str) -> None:
    """Every request of an axe run stays on this server: the script comes from the wheel."""
    context = browser.new_context(base_url=base_url)
    outside: list[str] = []
    context.on("request", lambda r: None if r.url.startswith(base_url) else outside.append(r.url))
    try:
        page = context.new_page()
        page.goto("/signin")
        violations(page)
    finally:
        context.close()
    assert outside == []


def test_chart_labels_are_drawn_whole_inside_the_chart(page: Page, world: BoardWorld) -> None:
    """In Chromium's own layout: no bar label starts left of its chart (issue 18)."""
    sign_in(page, world.tokens["planner"])
    expect(page).to_have_url(re.compile(r".*/planner$"))
    for path in ("/planner", "/planner?level=ward", "/planner?level=lsoa"):
        page.goto(path)
        labels = page.locator("svg.chart text.bar-label")
        expect(labels.first).to_be_visible()
        lefts = labels.evaluate_all("nodes => nodes.map(n => n.getBBox().x)")
        assert lefts and min(lefts) >= 0, (path, lefts)
