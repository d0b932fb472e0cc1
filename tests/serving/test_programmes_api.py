"""Programme evaluations served to planners: API, verification at load, pages, chart, words."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from governance.board.audit_log import AuditLog
from governance.contracts.programme_schema import (
    PROGRAMME_MANIFEST,
    PROGRAMME_RESULT,
    PublishedEventPoint,
    verify_programme_publication,
)
from serving.app import create_app
from serving.pages.programme_chart import event_study_chart
from serving.programmes import headline_sentence
from tests.serving.conftest import World
from tests.serving.pages_helpers import HTTPS, sign_in
from tests.serving.programme_factory import estimate, programme_result, write_programme
from tests.serving.release_factory import release_key

SENTENCE = (
    "Recorded violence in the wards reached fell by about 20% (95% interval 8% to 31%) "
    "compared with what similar wards suggest."
)


def _only(world: World) -> Path:
    (directory,) = (world.root / "programmes").iterdir()
    return directory


def test_the_listing_gives_each_programme_with_its_estimate_in_words(
    client: TestClient, world: World
) -> None:
    body = client.get("/v1/programmes", headers=world.headers()).json()
    (p,) = body["programmes"]
    assert p["name"] == "youth-workers" and p["treated_wards"] == 62
    assert p["start_dates"] == ["2021-04-01"]
    assert (p["headline"]["effect"], p["headline"]["low"], p["headline"]["high"]) == (
        -0.2,
        -0.31,
        -0.08,
    )
    assert p["verdict"] == SENTENCE


def test_one_programme_gives_estimates_checks_event_study_and_assumptions(
    client: TestClient, world: World
) -> None:
    body = client.get("/v1/programmes/youth-workers", headers=world.headers()).json()
    assert [e["estimator"] for e in body["estimates"]] == ["poisson_imputation", "naive"]
    assert [e["estimator"] for e in body["placebos"]] == ["false_start", "untreated_areas"]
    assert [p["years_from_start"] for p in body["event_study"]] == [-3, -2, -1, 0, 1, 2]
    assert all(p["low"] <= p["estimate"] <= p["high"] for p in body["event_study"])
    assert body["assumptions"][0]["name"] == "Parallel trends"
    assert body["recorded_before"] == 420 and body["withheld_event_points"] == 1


def test_unknown_or_badly_named_programmes_and_missing_keys_are_refused(
    client: TestClient, world: World
) -> None:
    missing = client.get("/v1/programmes/mentoring", headers=world.headers())
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v1/programmes/..%2Fetc", headers=world.headers()).status_code in (400, 404)
    assert client.get("/v1/programmes").status_code == 401
    assert client.get("/v1/programmes/youth-workers").status_code == 401


def test_programme_requests_are_audited_like_area_requests(fresh: World) -> None:
    with TestClient(create_app(fresh.config)) as client:
        client.get("/v1/programmes", headers=fresh.headers())
        client.get("/v1/programmes/youth-workers", headers=fresh.headers("board"))
    entries = [e for e in AuditLog(fresh.audit_log).entries() if e["event"] == "api.request"]
    assert [(e["details"]["route"], e["details"]["status"]) for e in entries] == [
        ("/v1/programmes", 200),
        ("/v1/programmes/{name}", 200),
    ]


# -- the attacker: a publication changed after signing is refused ---------------------------


def _served(world: World) -> tuple[int, list[str]]:
    with TestClient(create_app(world.config)) as client:
        detail = client.get("/v1/programmes/youth-workers", headers=world.headers())
        listing = client.get("/v1/programmes", headers=world.headers()).json()
    return detail.status_code, [p["name"] for p in listing["programmes"]]


def test_a_number_edited_after_signing_is_refused(fresh: World) -> None:
    assert _served(fresh) == (200, ["youth-workers"])
    path = _only(fresh) / PROGRAMME_RESULT
    data = json.loads(path.read_text())
    data["estimates"][0]["effect"] = -0.5  # a better story than the evaluation found
    path.write_text(json.dumps(data))
    assert _served(fresh) == (404, [])
    app = create_app(fresh.config)
    app.state.programmes.served()
    assert "SHA-256" in app.state.programmes.refused["youth-workers"]
    assert "-0.5" not in app.state.programmes.refused["youth-workers"]  # no figure in errors


def test_an_edit_whose_new_hash_is_written_into_the_manifest_fails_the_signature(
    fresh: World,
) -> None:
    directory = _only(fresh)
    data = json.loads((directory / PROGRAMME_RESULT).read_text())
    data["estimates"][0]["high"] = -0.25
    (directory / PROGRAMME_RESULT).write_text(json.dumps(data))
    manifest = json.loads((directory / PROGRAMME_MANIFEST).read_text())
    from governance.contracts.release_schema import file_sha256

    manifest["files"][PROGRAMME_RESULT] = file_sha256(directory / PROGRAMME_RESULT)
    (directory / PROGRAMME_MANIFEST).write_text(json.dumps(manifest))
    assert _served(fresh) == (404, [])


def test_weaker_rules_written_after_signing_and_unlisted_files_are_refused(fresh: World) -> None:
    directory = _only(fresh)
    manifest = json.loads((directory / PROGRAMME_MANIFEST).read_text())
    manifest["disclosure"]["min_count"] = 1
    (directory / PROGRAMME_MANIFEST).write_text(json.dumps(manifest))
    assert _served(fresh) == (404, [])
    other = write_programme(
        fresh.root / "more", release_key().private_key_path, programme_result("mentoring")
    )
    (other / "notes.csv").write_text("ward,count\n")
    try:
        verify_programme_publication(other, fresh.config.release_public_key_b64)
    except ValueError as err:
        assert "notes.csv" in str(err) and "not listed" in str(err)
    else:
        raise AssertionError("an unlisted file was accepted")


def test_signed_counts_that_break_the_rules_and_rules_below_the_floor_are_refused(
    tmp_path: Path, fresh: World
) -> None:
    key = release_key()
    small = write_programme(
        tmp_path / "a", key.private_key_path, programme_result(recorded_after=7)
    )
    try:
        verify_programme_publication(small, key.public_key_b64)
    except ValueError as err:
        assert "recorded_after" in str(err) and "disclosure" in str(err)
    else:
        raise AssertionError("a count below min_count was accepted")
    rules = {"method": "threshold", "min_count": 5, "rounding_base": 5}
    write_programme(
        fresh.root / "programmes",
        key.private_key_path,
        created="2026-12-09T00:00:00+00:00",
        rules=rules,
    )
    assert _served(fresh) == (404, [])  # the newest is below the floor; no older stands in


def test_the_newest_publication_of_a_programme_is_served(fresh: World) -> None:
    newer = programme_result(estimates=[estimate("poisson_imputation", 0.05, -0.1, 0.2)])
    write_programme(
        fresh.root / "programmes",
        release_key().private_key_path,
        newer,
        created="2026-12-09T00:00:00+00:00",
    )
    with TestClient(create_app(fresh.config)) as client:
        body = client.get("/v1/programmes/youth-workers", headers=fresh.headers()).json()
    assert body["headline"]["effect"] == 0.05
    assert "cannot tell this from no change" in body["verdict"]


# -- words and chart ------------------------------------------------------------------------


def test_the_sentence_reads_a_fall_a_rise_no_change_and_no_estimate() -> None:
    assert headline_sentence(estimate("m", -0.2, -0.31, -0.08)) == SENTENCE
    assert "rose by about 12% (95% interval 3% to 22%)" in headline_sentence(
        estimate("m", 0.12, 0.03, 0.22)
    )
    assert headline_sentence(estimate("m", -0.05, -0.15, 0.06)).endswith(
        "changed by about -5% (95% interval -15% to +6%) compared with what similar wards "
        "suggest; the data cannot tell this from no change."
    )
    none = estimate("m", 0.0, 0.0, 0.0).model_copy(update={"effect": None, "note": "too few"})
    assert "could not be estimated (too few)" in headline_sentence(none)


def test_the_event_study_chart_draws_each_year_with_its_interval_bar() -> None:
    points = [
        PublishedEventPoint(years_from_start=k, estimate=e, low=e - 0.5, high=e + 0.5)
        for k, e in ((-2, 0.1), (-1, 0.0), (0, -0.8), (1, -1.2))
    ]
    svg = str(event_study_chart(points, title="Chart"))
    assert svg.count("<circle") == 4 and svg.count('class="whisker"') == 4
    assert 'role="img"' in svg and "<script" not in svg and "start</text>" in svg
    assert "year +1: -1.2 per 1,000 (95% interval -1.7 to -0.7)" in svg
    empty = str(event_study_chart([], title="None"))
    assert "No years to show." in empty and "<circle" not in empty


def test_the_pages_show_the_sentence_chart_table_checks_and_assumptions(
    client: TestClient, world: World
) -> None:
    assert sign_in(client, world.tokens["planner"]).status_code == 303
    listing = client.get("/planner/programmes").text
    assert SENTENCE in listing and 'href="/planner/programmes/youth-workers"' in listing
    page = client.get("/planner/programmes/youth-workers").text
    assert SENTENCE in page
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in page
    assert "The chart&#39;s figures as a table" in page or "The chart's figures as a table" in page
    assert re.search(r"<th scope=\"row\">\+1</th>", page)
    assert "False start date (2 years early)" in page and "Parallel trends" in page
    assert 'href="/planner/programmes" aria-current="page"' in page  # the nav link
    assert client.get("/planner/programmes/mentoring").status_code == 404


def test_the_pages_need_a_session(world: World) -> None:
    with TestClient(create_app(world.config), base_url=HTTPS) as anonymous:
        response = anonymous.get("/planner/programmes", follow_redirects=False)
    assert response.status_code in (302, 303) and "/signin" in response.headers["location"]


def test_a_file_edited_while_the_server_runs_is_checked_again_before_it_is_served(
    fresh: World,
) -> None:
    with TestClient(create_app(fresh.config)) as client:
        url = "/v1/programmes/youth-workers"
        assert client.get(url, headers=fresh.headers()).status_code == 200
        path = _only(fresh) / PROGRAMME_RESULT
        path.write_text(path.read_text().replace('"treated_wards": 62', '"treated_wards": 9'))
        assert client.get(url, headers=fresh.headers()).status_code == 404
        assert client.get("/v1/programmes", headers=fresh.headers()).json()["programmes"] == []
