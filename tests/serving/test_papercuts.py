"""Papercuts a planner found (issue 18), through the API and the pages (no browser).

The city ranked among itself, a lowercase code or an area's name answered with a bare 404,
a body that is not JSON named ``'[0]'``, aggregate figures six decimals long beside areas
published to three, "1 wards" and "a lsoa". Each test here failed before its fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from governance.disclosure import DisclosureConfig
from serving.area_lookup import find_area, suggest_areas
from serving.published_precision import figure_decimals, round_outward
from tests.serving.conftest import World
from tests.serving.pages_helpers import HTTPS, sign_in

PROBLEM = "application/problem+json"


@pytest.fixture
def planner(app: FastAPI, world: World) -> Iterator[TestClient]:
    """A browser signed in with the planner key."""
    with TestClient(app, base_url=HTTPS) as client:
        assert sign_in(client, world.tokens["planner"]).status_code == 303
        yield client


def _decimals(value: float) -> int:
    """How many decimals ``value`` is written with (``0.034`` -> 3)."""
    text = repr(float(value))
    return 0 if "e" in text or "." not in text else len(text.split(".")[1].rstrip("0"))


# -- the city is not ranked among its areas --------------------------------------------------


def test_the_city_has_no_rank_or_decile(client: TestClient, world: World) -> None:
    """The release factory ranks the city 1 of 1 (as releases did): the API does not say so."""
    area = client.get("/v1/areas/city", headers=world.headers()).json()["area"]
    assert area["level"] == "city"
    assert area["rank"] is None and area["decile"] is None
    assert client.get("/v1/areas/B1", headers=world.headers()).json()["area"]["rank"] is not None


def test_the_city_page_shows_no_rank(planner: TestClient) -> None:
    page = planner.get("/planner/areas/city")
    assert page.status_code == 200
    assert "Rank (decile)" not in page.text
    assert "Rank (decile)" in planner.get("/planner/areas/B1").text


# -- codes in any case, names, and suggestions -----------------------------------------------


@pytest.mark.parametrize(("typed", "code"), [("w1", "W1"), ("bcu-n", "BCU-N"), ("CITY", "city")])
def test_a_code_in_any_case_finds_its_area(
    client: TestClient, world: World, typed: str, code: str
) -> None:
    response = client.get(f"/v1/areas/{typed}", headers=world.headers())
    assert response.status_code == 200, response.text
    assert response.json()["area"]["code"] == code
    history = client.get(f"/v1/areas/{typed}/history", headers=world.headers())
    assert history.status_code == 200 and history.json()["code"] == code


@pytest.mark.parametrize("typed", ["Camden", "camden", "  CAMDEN ", "Brent%20Cross"])
def test_an_areas_unique_name_finds_it(client: TestClient, world: World, typed: str) -> None:
    response = client.get(f"/v1/areas/{typed}", headers=world.headers())
    assert response.status_code == 200, response.text
    assert response.json()["area"]["name"] in ("Camden", "Brent Cross")


def test_a_listing_under_a_lowercase_parent_lists_its_areas(
    client: TestClient, world: World
) -> None:
    body = client.get("/v1/areas?parent=b3", headers=world.headers()).json()
    assert body["parent"] == "B3" and body["level"] == "ward" and body["total"] == 2


def test_an_unknown_code_suggests_the_areas_it_may_mean(client: TestClient, world: World) -> None:
    response = client.get("/v1/areas/Camdn", headers=world.headers())
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("/unknown-area")
    assert body["suggestions"][0] == {"code": "B3", "name": "Camden", "level": "borough"}
    assert "Did you mean: Camden (borough B3)" in body["detail"]
    assert body["invalid_params"] == [
        {"name": "code", "reason": "no area has this code or name", "allowed": ["B3"]}
    ]


def test_a_name_of_nothing_alike_suggests_nothing(client: TestClient, world: World) -> None:
    body = client.get("/v1/areas/E99999999", headers=world.headers()).json()
    assert body["detail"] == "No area with code 'E99999999' in release r1."
    assert "suggestions" not in body


def test_the_area_page_accepts_any_case_and_suggests_on_a_miss(planner: TestClient) -> None:
    moved = planner.get("/planner/areas/w1", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/planner/areas/W1"
    named = planner.get("/planner/areas/camden", follow_redirects=False)
    assert named.headers["location"] == "/planner/areas/B3"
    missed = planner.get("/planner/areas/Camdn")
    assert missed.status_code == 404
    assert "Did you mean" in missed.text
    assert '<a href="/planner/areas/B3">Camden (borough B3)</a>' in missed.text
    listed = planner.get("/planner?parent=b3")
    assert listed.status_code == 200 and "Wards in Camden" in listed.text


def test_find_area_refuses_a_name_two_areas_share() -> None:
    from serving.releases import _area
    from tests.serving.release_factory import area_rows

    areas = {str(r["code"]): _area(r, [], None) for r in area_rows()}
    twin = areas["W2"].model_copy(update={"name": "Abbey"})  # W1 is Abbey too
    both = {**areas, "W2": twin}
    assert find_area(both, "abbey") is None
    assert {s.code for s in suggest_areas(both, "abbey")} >= {"W1", "W2"}
    assert find_area(areas, "abbey") == "W1"
    assert find_area(areas, "") is None and suggest_areas(areas, "  ") == []


# -- a body that is not JSON -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"{not json", "application/json"),
        (b"L01,L02", "application/json"),
        (b"", "application/json"),
    ],
)
def test_a_body_that_is_not_json_is_named_and_explained(
    client: TestClient, world: World, content: bytes, kind: str
) -> None:
    response = client.post(
        "/v1/aggregate", content=content, headers={**world.headers(), "content-type": kind}
    )
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM
    body = response.json()
    assert "[0]" not in body["detail"]
    assert "request body" in body["detail"] and "JSON" in body["detail"]
    assert '{"codes": [' in body["detail"]  # what was expected, by example
    assert [p["name"] for p in body["invalid_params"]] == ["body"]


def test_a_json_body_of_the_wrong_shape_says_what_was_expected(
    client: TestClient, world: World
) -> None:
    response = client.post("/v1/aggregate", json=["L01", "L02"], headers=world.headers())
    assert response.status_code == 400
    body = response.json()
    assert [p["name"] for p in body["invalid_params"]] == ["body"]
    assert '{"codes": [' in body["detail"]


# -- aggregate figures as precise as the published ones --------------------------------------


def test_aggregate_figures_carry_the_published_decimals(client: TestClient, world: World) -> None:
    codes = ["L01", "L02", "L06"]
    body = client.post("/v1/aggregate", json={"codes": codes}, headers=world.headers()).json()
    places = figure_decimals(DisclosureConfig(method="threshold"), body["population"])
    assert places.risk == 3 and places.contribution == 2
    for name in ("mean_risk", "risk_low", "risk_high"):
        assert _decimals(body[name]) <= places.risk, (name, body[name])
    for factor in body["factors"]:
        if factor["prevalence"] is not None:
            assert _decimals(factor["prevalence"]) <= places.prevalence, factor
        if factor["contribution"] is not None:
            assert _decimals(factor["contribution"]) <= places.contribution, factor
    assert _decimals(body["rate_per_1000"]) <= 1
    # still the combination: the mean within half a step, the interval around it
    areas = [client.get(f"/v1/areas/{c}", headers=world.headers()).json()["area"] for c in codes]
    exact = sum(a["population"] * a["mean_risk"] for a in areas) / body["population"]
    assert body["mean_risk"] == pytest.approx(exact, abs=0.0005 + 1e-12)
    assert body["risk_low"] <= body["mean_risk"] <= body["risk_high"]


def test_a_small_combination_gets_fewer_decimals() -> None:
    """As the release does: a mean of few young people is published coarser."""
    rules = DisclosureConfig(method="threshold")
    assert figure_decimals(rules, 40).risk == 2
    assert figure_decimals(rules, 5000).risk == 3
    with pytest.raises(ValueError, match="population must be a finite number"):
        figure_decimals(rules, -1)
    assert round_outward(0.0341, 3, math.floor) == 0.034
    assert round_outward(0.0341, 3, math.ceil) == 0.035
    assert round_outward(0.03, 3, math.ceil) == 0.03  # on the step: not moved


# -- plurals and articles --------------------------------------------------------------------


def test_one_area_is_counted_in_the_singular(planner: TestClient) -> None:
    one = planner.get("/planner?level=ward&q=Abbey").text
    summary = re.search(r'<p id="table-summary">([^<]*)', one)
    assert summary is not None and summary.group(1).startswith("1 ward ")
    many = planner.get("/planner?level=ward").text
    assert '<p id="table-summary">6 wards' in many


def test_an_lsoa_is_an_lsoa(planner: TestClient) -> None:
    page = planner.get("/planner/areas/L02").text
    assert '<p class="lead">An LSOA' in page and "the LSOAs around it" in page
    assert "LSOAs" in page and "LSOAs" not in page.replace("LSOAs", "")  # never "LSOAss"
    ward = planner.get("/planner/areas/W1").text
    assert '<p class="lead">A ward' in ward and "the wards around it" in ward


def test_an_api_error_names_the_level_with_its_article(client: TestClient, world: World) -> None:
    body = client.get("/v1/areas?parent=L02", headers=world.headers()).json()
    assert "is an LSOA" in body["detail"]
    body = client.get("/v1/areas?parent=W1&level=borough", headers=world.headers()).json()
    assert "(a ward)" in body["detail"]


def test_a_json_body_sent_as_text_says_how_it_was_sent(client: TestClient, world: World) -> None:
    response = client.post(
        "/v1/aggregate",
        content=b'{"codes": ["L01"]}',
        headers={**world.headers(), "content-type": "text/plain"},
    )
    assert response.status_code == 400
    assert "was sent as text/plain" in response.json()["detail"]


def test_the_map_page_counts_and_names_levels_in_words(planner: TestClient) -> None:
    one = planner.get("/planner/map/borough?parent=BCU-S").text  # South holds one borough
    assert "The map's figures as a table: 1 borough" in one
    assert "1 boroughs" not in one
    refused = planner.get("/planner/map/ward?parent=L01")
    assert refused.status_code == 400 and "is an LSOA" in refused.text
