"""The pages in a real browser: Playwright drives headless Chromium against uvicorn.

The server runs in a thread on a free port with a London-shaped city (two releases) and a
model registry holding an audited candidate. Chromium is the distribution's
(``scripts/ensure-chromium.sh``, run by ``make test``; ``CHROMIUM`` names another binary).
Each test saves a screenshot of every page it visits to ``tests/artifacts/screenshots/``
(git-ignored; ``VRU_SCREENSHOTS`` names another directory). With
``VRU_UPDATE_DOCS_SCREENSHOTS=1`` a small copy of each (the top of the page, 128 colours)
also goes to ``docs/screenshots/`` for the README.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from serving.app import create_app
from tests.serving.board_world import BoardWorld, make_board_world

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path(os.environ.get("VRU_SCREENSHOTS", ROOT / "tests" / "artifacts" / "screenshots"))
DOCS = ROOT / "docs" / "screenshots"
EOD = "equalized_odds_difference"
DOCS_HEIGHT = 1300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> BoardWorld:
    return make_board_world(tmp_path_factory.mktemp("browser"), london=True)


@pytest.fixture(scope="module")
def base_url(world: BoardWorld) -> Iterator[str]:
    """The real server (uvicorn, the app's lifespan, the gate) in a thread."""
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


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"no Chromium at {CHROMIUM}: run scripts/ensure-chromium.sh"
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    yield page
    context.close()


def shot(page: Page, name: str, *, docs: bool = True) -> None:
    """Save a full-page screenshot as a test artifact (and for the README if asked)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    if docs and os.environ.get("VRU_UPDATE_DOCS_SCREENSHOTS"):
        from PIL import Image

        with Image.open(path) as image:
            top = image.crop((0, 0, image.width, min(image.height, DOCS_HEIGHT)))
            small = top.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
            DOCS.mkdir(parents=True, exist_ok=True)
            small.save(DOCS / f"{name}.png", optimize=True)


def sign_in(page: Page, token: str, *, screenshot: str | None = None) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r".*/signin"))
    if screenshot:
        shot(page, screenshot)
    page.get_by_label("Your API key").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_a_board_member_reviews_and_approves_a_candidate(page: Page, world: BoardWorld) -> None:
    sign_in(page, world.tokens["board"], screenshot="signin")
    expect(page).to_have_url(re.compile(r".*/board$"))
    row = page.get_by_role("row").filter(has_text=f"Version {world.candidate}")
    expect(row.get_by_text("candidate", exact=True)).to_be_visible()
    shot(page, "board-versions")

    row.get_by_role("link", name="Review").click()
    report = page.frame_locator("iframe.report")
    expect(report.get_by_role("heading", name="report")).to_be_visible()
    expect(page.get_by_role("rowheader", name="maximum equalized odds difference")).to_be_visible()
    shot(page, "board-version")

    page.get_by_label("Approve").check()
    page.get_by_label(f"Waive {EOD}").check()
    # no free-text reviewer: the decision names the roster member whose key signs it
    expect(page.get_by_label("Reviewer")).to_have_count(0)
    expect(page.get_by_text("The reviewer recorded is the board roster's name")).to_be_visible()
    page.get_by_label("Reasons").fill("Gap explained by small groups; drivers plausible.")
    page.get_by_label("Key file").set_input_files(
        files=[
            {
                "name": "board.pem",
                "mimeType": "text/plain",
                "buffer": world.private_key_pem.encode(),
            }
        ]
    )
    page.get_by_role("button", name="Sign and record the decision").click()

    expect(page.get_by_role("status")).to_contain_text("Decision recorded.")
    expect(page.locator("#status")).to_have_text("approved")
    history = page.locator("table.decisions")
    expect(history).to_contain_text("Gap explained by small groups")
    expect(history).to_contain_text(EOD)
    page.goto(page.url.split("#")[0])  # from the top (the redirect scrolled to the history)
    expect(page.get_by_role("status")).to_contain_text("Decision recorded.")
    expect(
        page.frame_locator("iframe.report").get_by_role("heading", name="report")
    ).to_be_visible()
    shot(page, "board-decided")

    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("#verification")).to_contain_text("Chain intact")
    entry = page.get_by_role("row").filter(has_text="review.decision")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("board:board")  # the signing member (a roster of one)
    shot(page, "board-audit-log")

    page.get_by_role("link", name="Model versions").click()
    expect(
        page.get_by_role("row")
        .filter(has_text=f"Version {world.candidate}")
        .get_by_text("approved", exact=True)
    ).to_be_visible()


def test_a_planner_sorts_drills_down_and_takes_the_figures_away(
    page: Page, world: BoardWorld
) -> None:
    sign_in(page, world.tokens["planner"])
    expect(page).to_have_url(re.compile(r".*/planner$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Police BCUs in the city")

    page.get_by_role("columnheader", name="Mean risk").get_by_role("link").click()
    expect(page.get_by_role("columnheader", name="Mean risk")).to_have_attribute(
        "aria-sort", "descending"
    )
    risks = [
        float(t.rstrip("%"))
        for t in page.locator("table.areas tbody tr td:nth-child(3)").all_inner_texts()
    ]
    assert risks == sorted(risks, reverse=True) and len(risks) == 13
    shot(page, "planner-areas")

    # from a BCU to its wards: the BCU, then the level below it
    page.get_by_role("link", name="Central North", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Boroughs in Central North")
    page.get_by_label("Level").select_option("ward")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Wards in Central North")
    wards = page.locator("table.areas tbody th.area-name a").all_inner_texts()
    assert set(wards) == {"Camden North", "Camden South", "Islington North", "Islington South"}

    page.get_by_role("link", name="Camden North", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("LSOAs in Camden North")
    hidden = page.locator("table.areas tbody td.suppressed")
    expect(hidden).to_have_count(2)
    expect(hidden.first).to_contain_text("suppressed")
    shot(page, "planner-suppressed")

    with page.expect_download() as caught:
        page.get_by_role("link", name="Download these figures (CSV)").click()
    download = caught.value
    assert download.suggested_filename == "vru-lsoa-X05000013-r1.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert [r["status"] for r in rows] == ["suppressed", "suppressed"]
    assert all(r["mean_risk"] == "" and r["population"] == "" for r in rows)

    page.locator("nav.crumbs").get_by_role("link", name="Camden (borough)").click()
    page.get_by_role("row").filter(has_text="Camden South").get_by_role(
        "link", name="trend"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Camden South")
    expect(page.locator("svg.chart circle")).to_have_count(2)  # two releases
    shot(page, "planner-area")

    page.get_by_role("link", name="Borough map").click()
    tiles = page.locator("svg.chart a[aria-label]")
    expect(tiles).to_have_count(33)
    shot(page, "planner-map")
    page.locator('svg.chart a[aria-label^="Newham:"]').click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Wards in Newham")


def test_a_planner_cannot_reach_a_board_page(page: Page, world: BoardWorld) -> None:
    sign_in(page, world.tokens["planner"])
    expect(page.get_by_role("link", name="Model versions")).to_have_count(0)
    response = page.goto(f"/board/versions/{world.candidate}")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_contain_text("for the board role")
    shot(page, "error-forbidden")


def test_a_form_posted_without_its_csrf_token_is_refused(page: Page, world: BoardWorld) -> None:
    sign_in(page, world.tokens["planner"])
    page.locator("form.signout input[name=csrf_token]").evaluate("field => field.remove()")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_contain_text("did not come from this site")
    page.goto("/planner")
    expect(page.get_by_role("heading", level=1)).to_have_text("Police BCUs in the city")


def test_the_pages_can_be_used_from_the_keyboard(page: Page, world: BoardWorld) -> None:
    page.goto("/signin")
    expect(page.get_by_label("Your API key")).to_be_focused()
    page.keyboard.type(world.tokens["planner"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Police BCUs in the city")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    for _ in range(60):  # through the controls and the chart to the first area of the table
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('th.area-name') !== null"):
            break
    else:
        pytest.fail("the table's first area cannot be reached with the Tab key")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Boroughs in")


def test_the_report_prints_to_pdf_and_pages_print_without_navigation(
    page: Page, world: BoardWorld
) -> None:
    sign_in(page, world.tokens["board"])
    page.goto(f"/board/versions/{world.candidate}")
    page.emulate_media(media="print")
    expect(page.locator("header.site nav")).to_be_hidden()
    expect(page.locator("form.decision")).to_be_hidden()
    expect(page.get_by_role("heading", name="Gates")).to_be_visible()
    page.goto(f"/board/versions/{world.candidate}/report")
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "board-report.pdf").write_bytes(pdf)


@pytest.mark.parametrize(
    "viewport", [{"width": 820, "height": 1180}, {"width": 1024, "height": 768}]
)
def test_pages_fit_a_tablet_without_sideways_scrolling(
    browser: Browser, base_url: str, world: BoardWorld, viewport: dict[str, int]
) -> None:
    context = browser.new_context(base_url=base_url, viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        sign_in(page, world.tokens["board"])
        for path in (
            "/planner?level=ward",
            "/planner/map",
            "/board",
            f"/board/versions/{world.candidate}",
        ):
            page.goto(path)
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= viewport["width"], (path, wide)
        shot(page, f"tablet-{viewport['width']}", docs=False)
    finally:
        context.close()


def test_the_api_docs_render_offline_under_their_csp(page: Page, base_url: str) -> None:
    """Swagger UI and ReDoc come from this server and run under the CSP (issue 15)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on(
        "request",
        lambda r: (
            None if r.url.startswith((base_url, "data:", "blob:")) else problems.append(r.url)
        ),
    )
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("planners' API")
    shot(page, "api-docs-swagger", docs=False)
    page.goto("/redoc")
    expect(page.locator("h1").first).to_contain_text("planners' API")
    shot(page, "api-docs-redoc", docs=False)
    # ReDoc's footer asks for its maker's logo from their CDN: the CSP blocks it, so no
    # request leaves this origin; nothing else may fail
    logo = ("Loading the image 'https://cdn.redoc.ly/", "https://cdn.redoc.ly/redoc/logo-mini.svg")
    assert [p for p in problems if not p.startswith(logo)] == [], problems
