"""The planners' API through its front door: figures, listings, trends, neighbourhoods, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from governance.contracts.levels import LEVELS
from governance.contracts.release_schema import set_current_release
from serving.app import create_app
from serving.schemas import (
    SORTS,
    AggregateResponse,
    AreaHistory,
    AreaList,
    AreaResponse,
    ReleaseDetail,
    ReleaseList,
)
from tests.serving.conftest import World
from tests.serving.release_factory import FACTORS, SUPPRESSION_REASON, make_board, write_release

PROBLEM = "application/problem+json"


def _problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == status
    return body  # type: ignore[no-any-return]


# -- one area -----------------------------------------------------------------------------


def test_an_area_has_its_figures_drivers_prevalence_release_and_model(
    client: TestClient, world: World
) -> None:
    response = client.get("/v1/areas/W1", headers=world.headers())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = AreaResponse.model_validate_json(response.content)
    assert (body.release_id, body.model_name, body.model_version) == ("r1", "vru-risk", "3")
    assert body.as_of_date == "2024-04-01"
    area = body.area
    assert (area.level, area.code, area.name, area.parent_code) == ("ward", "W1", "Abbey", "B1")
    assert not area.suppressed
    assert area.population == 205  # 120 + 85, rounded to 5
    assert area.risk_low is not None and area.mean_risk is not None and area.risk_high is not None
    assert area.risk_low < area.mean_risk < area.risk_high
    assert area.rank is not None and area.decile is not None
    assert area.top_drivers == ["domestic_abuse", "persistent_absence"]
    assert [f.factor for f in area.factors] == list(FACTORS)
    assert all(f.prevalence is not None and not f.count_suppressed for f in area.factors)


def test_a_suppressed_area_says_so_and_publishes_nothing(client: TestClient, world: World) -> None:
    area = client.get("/v1/areas/L04", headers=world.headers()).json()["area"]
    assert area["suppressed"] is True
    assert area["suppression_reason"] == SUPPRESSION_REASON
    figures = {k: v for k, v in area.items() if k not in ("level", "code", "name", "parent_code")}
    assert {k for k, v in figures.items() if v not in (None, [], True)} == {
        "suppression_reason",
        "factors",
        "comparison",
    }
    # the comparison names its comparators' published figures and nothing of this area's
    comparison = area["comparison"]
    assert (comparison["rate_low"], comparison["rate_high"]) == (None, None)
    for against in (comparison["parent"], comparison["city"]):
        assert (against["verdict"], against["reason"]) == ("not compared", "withheld")
    assert all(
        f["count"] is None and f["prevalence"] is None and f["contribution"] is None
        for f in area["factors"]
    )
    assert all(f["count_suppressed"] for f in area["factors"])


def test_one_hidden_prevalence_leaves_the_others_published(
    client: TestClient, world: World
) -> None:
    factors = {
        f["factor"]: f
        for f in client.get("/v1/areas/L01", headers=world.headers()).json()["area"]["factors"]
    }
    assert factors["child_in_need"]["count_suppressed"] is True
    assert factors["child_in_need"]["prevalence"] is None
    assert factors["persistent_absence"]["prevalence"] is not None


def test_an_unknown_area_is_a_404_that_says_so(client: TestClient, world: World) -> None:
    body = _problem(client.get("/v1/areas/E99999999", headers=world.headers()), 404)
    assert body["detail"] == "No area with code 'E99999999' in release r1."
    assert body["type"].endswith("/unknown-area")  # type: ignore[union-attr]


def test_the_fast_path_sends_the_bytes_fastapi_documents(client: TestClient, world: World) -> None:
    fast = client.get("/v1/areas/L02", headers=world.headers())
    bare = create_app(world.config)
    bare.front = None  # type: ignore[attr-defined]  # FastAPI alone: its documented route
    documented = TestClient(bare).get("/v1/areas/L02")
    assert documented.status_code == fast.status_code == 200
    assert fast.content == documented.content
    assert fast.headers["content-type"] == documented.headers["content-type"]


# -- listings -----------------------------------------------------------------------------


def _codes(client: TestClient, world: World, query: str) -> list[str]:
    response = client.get(f"/v1/areas?{query}", headers=world.headers())
    assert response.status_code == 200, response.text
    return [item.code for item in AreaList.model_validate_json(response.content).items]


def test_every_borough_with_intervals_and_drivers(client: TestClient, world: World) -> None:
    body = AreaList.model_validate_json(
        client.get("/v1/areas?level=borough", headers=world.headers()).content
    )
    assert (body.level, body.parent, body.sort, body.total) == ("borough", None, "rank", 3)
    assert sorted(a.code for a in body.items) == ["B1", "B2", "B3"]
    assert [a.rank for a in body.items] == [1, 2, 3]
    assert all(a.risk_low is not None and a.top_drivers for a in body.items)


def test_drill_down_from_a_bcu_to_its_lsoas(client: TestClient, world: World) -> None:
    assert sorted(_codes(client, world, "")) == ["BCU-N", "BCU-S"]  # the level below the city
    assert sorted(_codes(client, world, "parent=BCU-N")) == ["B1", "B2"]  # the level below
    assert sorted(_codes(client, world, "parent=B1&level=ward")) == ["W1", "W2"]
    lsoas = _codes(client, world, "parent=BCU-N&level=lsoa")
    assert sorted(lsoas) == [f"L0{i}" for i in range(1, 10)]


def test_suppressed_areas_come_last_in_either_direction(client: TestClient, world: World) -> None:
    for sort in ("rank", "-rank", "mean_risk", "-mean_risk"):
        codes = _codes(client, world, f"parent=W2&sort={sort}")
        assert codes[-2:] == ["L04", "L05"], sort
    assert _codes(client, world, "parent=W6&sort=code") == ["L12", "L13", "L14"]
    assert _codes(client, world, "parent=W6&sort=-code") == ["L14", "L13", "L12"]
    populations = [
        a.population
        for a in AreaList.model_validate_json(
            client.get("/v1/areas?level=lsoa&sort=-population", headers=world.headers()).content
        ).items
        if a.population is not None
    ]
    assert populations == sorted(populations, reverse=True)


def test_pages_join_up(client: TestClient, world: World) -> None:
    everything = _codes(client, world, "level=lsoa&sort=code")
    pages = [
        _codes(client, world, f"level=lsoa&sort=code&limit=5&offset={o}") for o in (0, 5, 10, 15)
    ]
    assert [c for page in pages for c in page] == everything
    assert pages[-1] == []


@pytest.mark.parametrize(
    ("query", "name", "allowed"),
    [
        ("level=street", "level", list(LEVELS)),
        ("level=ward&sort=worst", "sort", list(SORTS)),
        ("level=ward&limit=0", "limit", ["1..1000"]),
        ("level=ward&limit=many", "limit", ["1..1000"]),
        ("level=ward&offset=-1", "offset", ["0 or more"]),
        ("parent=W1&level=bcu", "level", ["lsoa"]),
    ],
)
def test_bad_listing_parameters_are_named_with_the_allowed_values(
    client: TestClient, world: World, query: str, name: str, allowed: list[str]
) -> None:
    body = _problem(client.get(f"/v1/areas?{query}", headers=world.headers()), 400)
    params = body["invalid_params"]
    assert isinstance(params, list)
    assert params[0]["name"] == name
    assert params[0]["allowed"] == allowed
    assert name in str(body["detail"]) or "level" in str(body["detail"])


def test_unknown_query_parameters_are_refused_naming_the_known_ones(
    client: TestClient, world: World
) -> None:
    body = _problem(client.get("/v1/areas?level=ward&levle=lsoa", headers=world.headers()), 400)
    assert body["detail"] == "Unknown query parameter(s) 'levle' for /v1/areas."
    assert body["invalid_params"] == [
        {
            "name": "levle",
            "reason": "unknown query parameter",
            "allowed": ["level", "limit", "offset", "parent", "sort"],
        }
    ]
    body = _problem(client.get("/v1/areas/W1?format=csv", headers=world.headers()), 400)
    assert body["invalid_params"][0]["allowed"] == []  # type: ignore[index]


def test_a_listing_under_an_unknown_parent_is_a_404(client: TestClient, world: World) -> None:
    body = _problem(client.get("/v1/areas?parent=NOPE", headers=world.headers()), 404)
    assert body["detail"] == "No area with code 'NOPE' in release r1."


# -- trends across releases ----------------------------------------------------------------


def test_history_across_verified_releases_oldest_first(fresh: World) -> None:
    from datetime import timedelta

    from tests.serving.release_factory import T0

    write_release(
        fresh.root / "releases",
        fresh.board,
        release_id="r2",
        created=T0 + timedelta(days=30),
        as_of="2024-05-01",
        shift=0.005,
        previous="r1",
    )
    other = make_board(fresh.root / "other-board")  # not the board in the config
    write_release(
        fresh.root / "releases",
        other,
        release_id="r0",
        created=T0 - timedelta(days=30),
        as_of="2024-03-01",
        make_current=False,
    )
    with TestClient(create_app(fresh.config)) as client:
        history = AreaHistory.model_validate_json(
            client.get("/v1/areas/W3/history", headers=fresh.headers()).content
        )
        releases = ReleaseList.model_validate_json(
            client.get("/v1/releases", headers=fresh.headers()).content
        )
    assert (history.code, history.level, history.name) == ("W3", "ward", "Birch")
    assert [p.release_id for p in history.points] == ["r1", "r2"]  # r0 does not verify
    assert [p.as_of_date for p in history.points] == ["2024-04-01", "2024-05-01"]
    first, second = history.points
    assert first.mean_risk is not None and second.mean_risk is not None
    assert second.mean_risk > first.mean_risk
    assert [r.release_id for r in releases.releases] == ["r2", "r1"]
    assert releases.current_release_id == "r2"
    assert [r.current for r in releases.releases] == [True, False]


def test_history_of_an_unknown_area_is_a_404(client: TestClient, world: World) -> None:
    _problem(client.get("/v1/areas/ZZZ/history", headers=world.headers()), 404)


# -- neighbourhoods -------------------------------------------------------------------------


def test_aggregate_is_the_population_weighted_combination(client: TestClient, world: World) -> None:
    codes = ["L01", "L02", "L06"]
    response = client.post("/v1/aggregate", json={"codes": codes}, headers=world.headers())
    assert response.status_code == 200, response.text
    combined = AggregateResponse.model_validate_json(response.content)
    areas = [client.get(f"/v1/areas/{c}", headers=world.headers()).json()["area"] for c in codes]
    population = sum(a["population"] for a in areas)
    assert combined.population == population
    # to the published decimals (3 here): the mean within half a step, the bounds outward
    for name, step in (("mean_risk", 0.0005), ("risk_low", 0.001), ("risk_high", 0.001)):
        expected = sum(a["population"] * a[name] for a in areas) / population
        assert getattr(combined, name) == pytest.approx(expected, abs=step + 1e-9), name
    assert combined.risk_low <= combined.mean_risk <= combined.risk_high
    # the rounded expected numbers bound the total: each within half a base (2.5) of its own
    published = [a["expected"] for a in areas]
    assert combined.expected_low == sum(max(e - 2.5, 0) for e in published)
    assert combined.expected_high == sum(e + 2.5 for e in published)
    # the expected number is made from the unrounded combined mean
    estimate = sum(a["population"] * a["mean_risk"] for a in areas)
    assert combined.expected == pytest.approx(
        min(max(estimate, combined.expected_low), combined.expected_high), abs=0.051
    )
    assert combined.rate_per_1000 == pytest.approx(1000 * combined.expected / population, abs=0.051)
    assert combined.codes == codes
    factors = {f.factor: f for f in combined.factors}
    assert factors["child_in_need"].prevalence is None  # hidden in L01

    def prevalence(area: dict[str, object], factor: str) -> float:
        return next(f["prevalence"] for f in area["factors"] if f["factor"] == factor)

    share = sum(a["population"] * prevalence(a, "persistent_absence") for a in areas) / population
    assert factors["persistent_absence"].prevalence == pytest.approx(share, abs=0.0005 + 1e-9)


@pytest.mark.parametrize(
    ("codes", "status", "named"),
    [
        (["L01", "NOPE", "ALSO"], 404, ["codes[1]", "codes[2]"]),
        (["L01", "L04", "L05"], 422, ["codes[1]", "codes[2]"]),
        (["W1", "L01"], 400, ["codes[1]"]),
        (["L01", "L02", "L01"], 400, ["codes"]),
        ([], 400, ["codes"]),
    ],
)
def test_aggregate_refuses_naming_the_codes(
    client: TestClient, world: World, codes: list[str], status: int, named: list[str]
) -> None:
    body = _problem(
        client.post("/v1/aggregate", json={"codes": codes}, headers=world.headers()), status
    )
    params = body["invalid_params"]
    assert isinstance(params, list)
    assert [p["name"] for p in params] == named
    for name in named:
        if name != "codes":
            assert codes[int(name[6:-1])] in str(body["detail"])


def test_aggregate_of_malformed_json_is_a_400(client: TestClient, world: World) -> None:
    response = client.post(
        "/v1/aggregate",
        content=b"{not json",
        headers={**world.headers(), "content-type": "application/json"},
    )
    _problem(response, 400)


# -- releases -----------------------------------------------------------------------------


def test_a_release_shows_its_signed_approval_and_model_card(
    client: TestClient, world: World
) -> None:
    detail = ReleaseDetail.model_validate_json(
        client.get("/v1/releases/r1", headers=world.headers("board")).content
    )
    on_disk = json.loads((world.root / "releases" / "r1" / "manifest.json").read_text())
    assert detail.verified and detail.current
    assert detail.manifest.approval[0].signature == on_disk["approval"][0]["signature"]
    assert detail.model_card_summary["test_roc_auc"] == 0.78
    _problem(client.get("/v1/releases/r9", headers=world.headers()), 404)


# -- keys, roles and limits ---------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer vru_0123456789ab_wrong"}, {"Authorization": "Basic abc"}],
)
def test_no_valid_key_is_a_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/areas/W1", headers=headers)
    body = _problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "vru keys create" in str(body["detail"]) or "not valid" in str(body["detail"])


def test_roles(client: TestClient, world: World) -> None:
    for role in ("planner", "board", "admin"):
        assert client.get("/v1/areas/W1", headers=world.headers(role)).status_code == 200
    for role in ("planner", "board"):
        body = _problem(client.post("/v1/admin/reload", headers=world.headers(role)), 403)
        assert (
            body["detail"]
            == f"/v1/admin/reload needs the admin role; this key has the {role} role."
        )
        _problem(client.get("/metrics", headers=world.headers(role)), 403)
    reload = client.post("/v1/admin/reload", headers=world.headers("admin"))
    assert reload.json() == {"release_id": "r1", "previous_release_id": "r1", "changed": False}


def test_a_revoked_key_is_a_401_without_a_restart(fresh: World) -> None:
    from serving.keys import revoke_key

    with TestClient(create_app(fresh.config)) as client:
        assert client.get("/v1/areas/W1", headers=fresh.headers()).status_code == 200
        revoke_key(fresh.config.keys_file, fresh.key_ids["planner"])
        _problem(client.get("/v1/areas/W1", headers=fresh.headers()), 401)
        assert client.get("/v1/areas/W1", headers=fresh.headers("board")).status_code == 200


def test_over_the_rate_limit_is_a_429_with_retry_after(tmp_path: Path) -> None:
    from serving.config import RateLimit
    from tests.serving.conftest import make_world

    world = make_world(tmp_path, rate_limit=RateLimit(requests_per_minute=6, burst=3))
    with TestClient(create_app(world.config)) as client:
        statuses = [
            client.get("/v1/areas/W1", headers=world.headers()).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/v1/areas/W1", headers=world.headers())
        body = _problem(limited, 429)
        assert limited.headers["retry-after"] == "10"  # one token per 10 s at 6 a minute
        assert world.key_ids["planner"] in str(body["detail"])
        assert client.get("/v1/areas/W1", headers=world.headers("board")).status_code == 200


# -- errors, probes and metrics -------------------------------------------------------------


def test_unknown_routes_and_methods_are_problems(client: TestClient, world: World) -> None:
    _problem(client.get("/v2/areas", headers=world.headers()), 404)
    body = _problem(client.put("/v1/areas/W1", headers=world.headers()), 405)
    assert "PUT" in str(body["detail"])


def test_probes_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "release_id": "r1"}


def test_not_ready_without_a_verified_release(tmp_path: Path) -> None:
    from tests.serving.conftest import make_world

    world = make_world(tmp_path)
    (world.root / "releases" / "CURRENT").unlink()
    with TestClient(create_app(world.config)) as client:
        body = _problem(client.get("/readyz"), 503)
        assert "no CURRENT pointer" not in str(body["detail"])  # in the server log only
        assert "server log" in str(body["detail"])
        _problem(client.get("/v1/areas/W1", headers=world.headers()), 503)
        _problem(client.get("/v1/areas?level=ward", headers=world.headers()), 503)
        assert client.get("/healthz").status_code == 200
        set_current_release(world.root / "releases", "r1")
        assert client.post("/v1/admin/reload", headers=world.headers("admin")).json() == {
            "release_id": "r1",
            "previous_release_id": None,
            "changed": True,
        }
        assert client.get("/readyz").status_code == 200


def test_metrics_for_prometheus(client: TestClient, world: World) -> None:
    client.get("/v1/areas/W1", headers=world.headers())
    response = client.get("/metrics", headers=world.headers("admin"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'vru_api_requests_total{method="GET",route="/v1/areas/{code}",status="200"}' in text
    assert 'vru_api_release_info{model_version="3",release_id="r1"} 1.0' in text
    assert "vru_api_request_duration_seconds_bucket" in text
    assert "vru_api_ready 1.0" in text
