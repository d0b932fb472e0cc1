"""The web pages through the app: sign-in, sessions, CSRF, roles, planner pages and CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from governance.board.audit_log import AuditLog
from serving.app import create_app
from serving.keys import revoke_key
from serving.pages.charts import Bar, TrendPoint, bar_chart, nice_ticks, trend_chart
from serving.pages.planner import CSV_COLUMNS
from serving.pages.tiles import grid_positions, load_grid
from tests.serving.conftest import World
from tests.serving.pages_helpers import HTTPS, csrf_of, sign_in
from tests.serving.release_factory import SUPPRESSION_REASON

HTML = "text/html; charset=utf-8"


@pytest.fixture
def planner(app: FastAPI, world: World) -> Iterator[TestClient]:
    """A browser signed in with the planner key."""
    with TestClient(app, base_url=HTTPS) as client:
        assert sign_in(client, world.tokens["planner"]).status_code == 303
        yield client


def _rows(html: str) -> list[str]:
    """Area codes of the table's rows, in order."""
    return re.findall(r'<span class="code">([^<]+)</span></th>', html)


# -- signing in and out --------------------------------------------------------------------


def test_pages_need_a_sign_in_and_come_back_after_it(app: FastAPI, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:
        for path in ("/planner", "/planner/map", "/board", "/planner/areas/W1"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/signin?next=")
        assert client.get("/", follow_redirects=False).headers["location"] == "/signin"
        done = sign_in(client, world.tokens["planner"], next_page="/planner?level=ward")
        assert done.status_code == 303
        assert done.headers["location"] == "/planner?level=ward"
        page = client.get("/planner?level=ward")
        assert page.status_code == 200 and page.headers["content-type"] == HTML
        assert "Wards in the city" in page.text and "test planner" in page.text
        assert client.get("/", follow_redirects=False).headers["location"] == "/planner"


@pytest.mark.parametrize(
    "target", ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "planner"]
)
def test_sign_in_never_sends_you_to_another_site(app: FastAPI, world: World, target: str) -> None:
    with TestClient(app, base_url=HTTPS) as client:
        done = sign_in(client, world.tokens["planner"], next_page=target)
        assert done.headers["location"] == "/planner"


def test_the_session_cookie_is_httponly_strict_and_holds_no_key(app: FastAPI, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:
        done = sign_in(client, world.tokens["board"])
        assert done.headers["location"] == "/board"
        cookie = done.headers["set-cookie"]
        assert cookie.startswith("vru_session=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Secure" in cookie  # environment: production (test_hardening tries demo)
        secret = world.tokens["board"].split("_", 2)[2]  # vru_<key id>_<secret>
        assert len(secret) > 40 and secret not in cookie


def test_signing_in_replaces_the_anonymous_session(app: FastAPI, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:
        before = csrf_of(client.get("/signin").text)
        sign_in(client, world.tokens["planner"])
        after = csrf_of(client.get("/planner").text)
        assert before != after


def test_a_wrong_key_is_refused_on_the_form_and_signs_nothing_in(
    app: FastAPI, world: World
) -> None:
    with TestClient(app, base_url=HTTPS) as client:
        refused = sign_in(client, "vru_000000000000_not-a-secret")
        assert refused.status_code == 401
        assert "That key was not accepted" in refused.text
        assert "not-a-secret" not in refused.text
        assert client.get("/planner", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_a_form_without_the_right_csrf_token_is_refused(
    app: FastAPI, world: World, token: str | None
) -> None:
    with TestClient(app, base_url=HTTPS) as client:
        client.get("/signin")
        data = {"api_key": world.tokens["planner"]}
        if token is not None:
            data["csrf_token"] = token
        refused = client.post("/signin", data=data, follow_redirects=False)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == HTML
        assert "did not come from this site" in refused.text
        assert client.get("/planner", follow_redirects=False).status_code == 303


def test_a_form_without_a_session_cookie_is_refused(app: FastAPI, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:
        token = csrf_of(client.get("/signin").text)
        client.cookies.clear()
        refused = client.post(
            "/signin", data={"csrf_token": token, "api_key": world.tokens["planner"]}
        )
        assert refused.status_code == 403


def test_sign_out_ends_the_session_even_for_a_copied_cookie(app: FastAPI, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:
        sign_in(client, world.tokens["planner"])
        copied = client.cookies.get("vru_session")
        page = client.get("/planner")
        assert client.post("/signout", data={}).status_code == 403  # no CSRF token
        done = client.post(
            "/signout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
        )
        assert done.status_code == 303 and done.headers["location"] == "/signin"
        assert 'vru_session=""' in done.headers["set-cookie"]
        assert client.get("/planner", follow_redirects=False).status_code == 303
        client.cookies.set("vru_session", copied or "")
        assert client.get("/planner", follow_redirects=False).status_code == 303


def test_signing_out_on_one_worker_ends_the_session_on_the_others(fresh: World) -> None:
    # two workers of one server: two apps from the same config, sharing only its files
    with (
        TestClient(create_app(fresh.config), base_url=HTTPS) as one,
        TestClient(create_app(fresh.config), base_url=HTTPS) as two,
    ):
        sign_in(one, fresh.tokens["planner"])
        two.cookies.set("vru_session", one.cookies.get("vru_session") or "")
        assert two.get("/planner", follow_redirects=False).status_code == 200
        page = one.get("/planner")
        one.post("/signout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
        assert two.get("/planner", follow_redirects=False).status_code == 303
    signed_out = fresh.config.pages.signed_out_path(fresh.config.keys_file)
    assert signed_out.stat().st_mode & 0o077 == 0  # readable by the server's user only


def test_a_revoked_key_ends_its_sessions(fresh: World) -> None:
    with TestClient(create_app(fresh.config), base_url=HTTPS) as client:
        sign_in(client, fresh.tokens["planner"])
        assert client.get("/planner").status_code == 200
        revoke_key(fresh.config.keys_file, fresh.key_ids["planner"])
        assert client.get("/planner", follow_redirects=False).status_code == 303


def test_a_planner_cannot_reach_the_board_pages(planner: TestClient) -> None:
    for path in ("/board", "/board/audit-log", "/board/versions/1", "/board/versions/1/report"):
        refused = planner.get(path)
        assert refused.status_code == 403, path
        assert "for the board role" in refused.text
        assert "planner key" in refused.text
    page = planner.get("/planner")
    refused = planner.post(
        "/board/versions/1/decision",
        data={"csrf_token": csrf_of(page.text), "decision": "approve"},
    )
    assert refused.status_code == 403
    assert 'href="/board"' not in page.text  # no board links for a planner


def test_pages_are_audited_under_the_session_key(fresh: World) -> None:
    with TestClient(create_app(fresh.config), base_url=HTTPS) as client:
        sign_in(client, fresh.tokens["planner"])
        client.get("/planner?level=ward&q=Abbey")
        client.get("/static/style.css")
    entries = [e for e in AuditLog(fresh.audit_log).entries() if e["event"] == "api.request"]
    routes = [(e["details"]["route"], e["details"]["key_id"]) for e in entries]
    assert ("/planner", fresh.key_ids["planner"]) in routes
    assert ("/signin", fresh.key_ids["planner"]) in routes  # the successful sign-in
    assert not any(r.startswith("/static") for r, _ in routes)
    listing = next(e for e in entries if e["details"]["route"] == "/planner")
    assert listing["details"]["params"] == {"level": "ward", "other_query_names": ["q"]}
    text = fresh.audit_log.read_text()
    assert fresh.tokens["planner"] not in text and "csrf" not in text


def test_the_api_is_unchanged_beside_the_pages(client: TestClient, world: World) -> None:
    assert client.get("/v1/areas/W1", headers=world.headers()).status_code == 200
    refused = client.get("/v1/areas/W1")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    bad = client.get("/v1/areas?level=street", headers=world.headers())
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if not p.startswith(("/v1/", "/healthz", "/readyz", "/metrics"))]


def test_pages_send_their_security_headers_and_css_needs_no_sign_in(
    planner: TestClient, client: TestClient
) -> None:
    page = planner.get("/planner")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    css = client.get("/static/style.css")
    assert css.status_code == 200 and "@media print" in css.text


# -- the planner's pages ------------------------------------------------------------------


def test_the_planner_drills_down_from_a_bcu_to_its_wards(planner: TestClient) -> None:
    bcus = planner.get("/planner").text
    assert set(_rows(bcus)) == {"BCU-N", "BCU-S"}
    boroughs = planner.get("/planner?parent=BCU-N").text
    assert "Boroughs in North" in boroughs and set(_rows(boroughs)) == {"B1", "B2"}
    assert 'href="/planner?parent=B1"' in boroughs
    wards = planner.get("/planner?parent=B1").text
    assert "Wards in Ashby" in wards and set(_rows(wards)) == {"W1", "W2"}
    assert 'aria-current="location">Ashby' in wards  # the breadcrumb ends at the parent
    every_ward = planner.get("/planner?level=ward&parent=BCU-N").text
    assert set(_rows(every_ward)) == {"W1", "W2", "W3", "W4"}


def test_the_table_sorts_filters_and_shows_suppressed_areas_as_suppressed(
    planner: TestClient,
) -> None:
    lsoas = planner.get("/planner?level=lsoa&parent=W2").text
    assert _rows(lsoas) == ["L03", "L04", "L05"]  # suppressed last
    assert lsoas.count(">suppressed <span") == 2
    assert SUPPRESSION_REASON in lsoas
    by_risk = _rows(planner.get("/planner?level=lsoa&sort=-mean_risk").text)
    by_rank = _rows(planner.get("/planner?level=lsoa&sort=rank").text)
    assert by_risk == by_rank and by_risk[-2:] == ["L04", "L05"]
    by_name = _rows(planner.get("/planner?level=lsoa&sort=-name&published=true").text)
    assert by_name[0] == "L14" and "L04" not in by_name
    assert _rows(planner.get("/planner?level=lsoa&q=birch").text) == ["L06", "L07"]
    assert 'aria-sort="descending"' in planner.get("/planner?sort=-mean_risk").text


def test_bad_choices_are_error_pages_that_say_what_to_do(planner: TestClient) -> None:
    for path, status, says in [
        (
            "/planner?level=street",
            400,
            "value of level in the address is not one this page accepts",
        ),
        ("/planner/areas.csv?sort=risk", 400, "value of sort in the address"),
        ("/planner?parent=NOPE", 404, "no area with code &#39;NOPE&#39;"),
        ("/planner?parent=L01", 400, "no areas lie within it"),
        ("/planner?colour=red", 400, "Unknown query parameter"),
        ("/planner/areas/NOPE", 404, "Choose the area from the lists"),
        ("/planner/nowhere", 404, "There is no page at /planner/nowhere"),
    ]:
        response = planner.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == HTML
        assert says in response.text, path
        assert "What to do:" in response.text


def test_a_level_above_the_parent_is_listed_where_it_lies_and_says_so(
    planner: TestClient,
) -> None:
    bcus = planner.get("/planner?level=bcu&parent=B1").text
    assert "Police BCUs do not lie within Ashby (B1), so those in the whole city" in bcus
    assert set(_rows(bcus)) == {"BCU-N", "BCU-S"}
    boroughs = planner.get("/planner?level=borough&parent=W3").text
    assert "so those in North are listed" in boroughs and set(_rows(boroughs)) == {"B1", "B2"}
    lsoas = planner.get("/planner?level=lsoa&parent=L01").text  # an LSOA holds no LSOAs
    assert "so those in Abbey are listed" in lsoas and set(_rows(lsoas)) == {"L01", "L02"}


def test_the_csv_holds_the_visible_published_figures_only(planner: TestClient) -> None:
    response = planner.get("/planner/areas.csv?level=lsoa&parent=W2")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="vru-lsoa-W2-r1.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["code"] for r in rows] == ["L03", "L04", "L05"]
    published, *hidden = rows
    assert published["status"] == "published" and float(published["mean_risk"]) > 0
    assert published["population"] == "140" and published["release_id"] == "r1"
    figures = CSV_COLUMNS[5:16]
    for row in hidden:
        assert row["status"] == "suppressed"
        assert all(row[c] == "" for c in figures)
    filtered = planner.get("/planner/areas.csv?level=lsoa&q=birch&sort=-name").text
    assert [r["code"] for r in csv.DictReader(io.StringIO(filtered))] == ["L07", "L06"]


def test_an_area_page_has_its_figures_drivers_factors_and_trend(planner: TestClient) -> None:
    page = planner.get("/planner/areas/W1").text
    assert "Abbey" in page and "domestic abuse, persistent absence" in page
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in page
    assert "Mean risk of Abbey in each release" in page
    hidden = planner.get("/planner/areas/L04").text
    assert "withheld by disclosure control" in hidden and "Mean risk</dt>" not in hidden
    factor = planner.get("/planner/areas/L01").text  # one factor's count hidden alone
    assert '<span class="suppressed">suppressed</span>' in factor


def test_the_map_has_one_tile_per_borough_linking_to_its_wards(planner: TestClient) -> None:
    page = planner.get("/planner/map").text
    tiles = re.findall(r'<a href="(/planner\?parent=B\d)" aria-label="([^"]+)"', page)
    assert sorted(href for href, _ in tiles) == [
        "/planner?parent=B1",
        "/planner?parent=B2",
        "/planner?parent=B3",
    ]
    assert all("risk decile" in label for _, label in tiles)
    assert "computed grid" in page  # not London's codes


# -- charts and the grid --------------------------------------------------------------------


def test_the_london_grid_places_33_boroughs_on_distinct_tiles() -> None:
    grid = load_grid()
    assert len(grid.places) == 33 and len(set(grid.places.values())) == 33
    assert all(code.startswith("E090000") for code in grid.places)
    assert len(set(grid.labels.values())) == 33  # every tile's label differs
    london = [(code, code) for code in grid.places]
    assert grid_positions(london, grid) == grid.places
    other = grid_positions([("B2", "Brent Cross"), ("B1", "Ashby"), ("B3", "Camden")], grid)
    assert other == {"B1": (0, 0), "B2": (0, 1), "B3": (1, 0)}


def test_a_bad_grid_file_is_refused_naming_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text("A: [0, 0]\nB: [0, 0]\n")
    with pytest.raises(ValueError, match="share a tile"):
        load_grid(path)
    path.write_text("A: [0]\n")
    with pytest.raises(ValueError, match=r"got A: \[0\]"):
        load_grid(path)


def test_charts_have_titles_axes_units_and_marks() -> None:
    assert nice_ticks(0.047) == [0.0, 0.01, 0.02, 0.03, 0.04, 0.05]
    assert nice_ticks(0.0) == [0.0, 1.0]
    svg = bar_chart(
        [Bar("A <b>", 0.04, 0.03, 0.05, "/x"), Bar("B", 0.02, None, None, "/y")], title="Top"
    )
    assert '<title id="bars-t">Top</title>' in svg and "A &lt;b&gt;: 4%" in svg
    assert svg.count('class="whisker"') == 1 and "(%)" in svg
    trend = trend_chart(
        [
            TrendPoint("2023-04-01", 0.02, 0.01, 0.03),
            TrendPoint("2024-04-01", None, None, None),
            TrendPoint("2025-04-01", 0.03, 0.02, 0.04),
        ],
        title="Trend",
    )
    assert "suppressed" in trend and trend.count("<circle") == 2
    assert 'class="trend-line"' not in trend  # no line across a suppressed release


def _contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_meet_wcag_aa_contrast() -> None:
    css = (Path(__file__).parents[2] / "serving" / "pages" / "static" / "style.css").read_text()
    var = dict(re.findall(r"--([a-z-]+): (#[0-9a-f]{6})", css))
    fills = {int(d): c for d, c in re.findall(r"svg \.d(\d+) \{ fill: (#[0-9a-f]{6}); \}", css)}
    assert sorted(fills) == list(range(1, 11))
    light = re.search(r"(svg text\.d1(?:, svg text\.d\d+)*) \{ fill: (#[0-9a-f]{6}); \}", css)
    assert light is not None
    on_dark = {int(d) for d in re.findall(r"text\.d(\d+)", light.group(1))}
    for decile, fill in fills.items():
        text = light.group(2) if decile in on_dark else var["ink"]
        assert _contrast(fill, text) >= 4.5, (decile, fill, text)
    pairs = [
        (var["ink"], var["bg"]),
        (var["muted"], var["panel"]),
        (var["accent"], var["bg"]),
        (var["accent-ink"], var["accent"]),
        (var["pass"], var["pass-bg"]),
        (var["fail"], var["fail-bg"]),
        (var["flag"], var["flag-bg"]),
    ]
    assert all(_contrast(a, b) >= 4.5 for a, b in pairs), pairs
