"""The back-scored series served: the trend route, the area page, and the file's refusals.

A release is made in code (tests/serving/release_factory.py) and given a ``series.parquet``
as ``vru release`` writes one (three as-of dates; the latest's period not ended), signed into
its manifest; the server must serve it, refuse it when changed or unprotected, and answer
"no series" for a release without one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from governance.contracts.release_schema import (
    SERIES,
    SERIES_COLUMNS,
    ReleaseError,
    ReleaseSeries,
)
from serving.app import create_app
from serving.releases import ReleaseLibrary
from tests.serving.conftest import World, make_world
from tests.serving.pages_helpers import sign_in
from tests.serving.release_factory import release_key, resign

DATES = (("2022-04-01", "2024-04-01"), ("2023-04-01", "2025-04-01"), ("2024-04-01", "2026-04-01"))


def _point(row: dict[str, Any], as_of: str, end: str, observed: float | None) -> dict[str, Any]:
    latest = as_of == DATES[-1][0]
    shown = not row["suppressed"] and not latest and observed is not None
    status = (
        "area_withheld"
        if row["suppressed"]
        else "period_not_ended"
        if latest
        else "published"
        if observed is not None
        else "withheld"
    )
    ratio = low = high = comparison = None
    if shown and row["expected"]:
        from training.release.series import observed_against_expected

        ratio, low, high, comparison = observed_against_expected(observed, row["expected"], 0.95)
    return {
        "level": row["level"],
        "code": row["code"],
        "as_of_date": as_of,
        "period_end": end,
        "suppressed": row["suppressed"],
        "population": row["population"],
        "expected": row["expected"],
        "rate_per_1000": row["rate_per_1000"],
        "mean_risk": row["mean_risk"],
        "risk_low": row["risk_low"],
        "risk_high": row["risk_high"],
        "observed": observed if shown else None,
        "observed_status": status,
        "observed_ratio": ratio,
        "ratio_low": low,
        "ratio_high": high,
        "comparison": comparison,
    }


def add_series(world: World, observed: dict[str, float]) -> None:
    """Write r1's series (each area's figures at three dates) and sign it into the manifest."""
    directory = world.root / "releases" / "r1"
    rows = pq.read_table(directory / "areas.parquet").to_pylist()
    points = [_point(r, as_of, end, observed.get(r["code"])) for as_of, end in DATES for r in rows]
    table = pa.Table.from_pylist(points).select(list(SERIES_COLUMNS))
    pq.write_table(table, directory / SERIES)
    resign(
        directory,
        series=ReleaseSeries(
            as_of_dates=tuple(d for d, _ in DATES),
            label_months=24,
            observed="recorded",
            observed_complete=tuple(d for d, _ in DATES[:-1]),
            interval_level=0.95,
        ),
    )


@pytest.fixture
def served(tmp_path: Path) -> World:
    world = make_world(tmp_path)
    rows = pq.read_table(world.root / "releases" / "r1" / "areas.parquet").to_pylist()
    city = next(r for r in rows if r["level"] == "city")
    self_ = {city["code"]: float(round(city["expected"] * 3))}  # far above: "higher"
    add_series(world, self_)
    return world


def _city(world: World) -> dict[str, Any]:
    rows = pq.read_table(world.root / "releases" / "r1" / "areas.parquet").to_pylist()
    return next(r for r in rows if r["level"] == "city")


def test_the_trend_gives_each_date_and_says_where_the_record_disagrees(served: World) -> None:
    city = _city(served)
    with TestClient(create_app(served.config), base_url="https://testserver") as client:
        answer = client.get(f"/v1/areas/{city['code']}/trend", headers=served.headers())
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["available"] is True
        assert [p["as_of_date"] for p in body["points"]] == [d for d, _ in DATES]
        first, _, latest = body["points"]
        assert first["comparison"] == "higher" and first["ratio_low"] > 1
        assert first["reading"].startswith("The record is higher than the model expects")
        assert latest["observed"] is None and latest["observed_status"] == "period_not_ended"
        assert "had not ended" in latest["reading"]
        # an area with no recorded count published: withheld, and no comparison made
        ward = next(
            c
            for c, a in client.app.state.holder.catalog.current.areas.items()  # type: ignore[attr-defined]
            if a.level == "ward" and not a.suppressed
        )
        point = client.get(f"/v1/areas/{ward}/trend", headers=served.headers()).json()["points"][0]
        assert point["observed_status"] == "withheld" and point["comparison"] is None
        assert "withheld to protect" in point["reading"]
        lower = client.get(f"/v1/areas/{ward.lower()}/trend", headers=served.headers())
        assert lower.status_code == 200 and lower.json()["code"] == ward  # any case, as /v1/areas
        assert client.get("/v1/areas/NOPE/trend", headers=served.headers()).status_code == 404
        assert client.get(f"/v1/areas/{city['code']}/trend").status_code == 401


def test_a_release_without_a_series_says_so(fresh: World) -> None:
    city = _city(fresh)
    with TestClient(create_app(fresh.config), base_url="https://testserver") as client:
        body = client.get(f"/v1/areas/{city['code']}/trend", headers=fresh.headers()).json()
    assert body["available"] is False and body["note"] == "no series in this release"
    assert body["points"] == []


def _library(world: World) -> ReleaseLibrary:
    return ReleaseLibrary(
        world.root / "releases",
        world.board.public_key_b64,
        release_key_b64=release_key().public_key_b64,
    )


def test_a_tampered_series_file_is_refused_at_load(served: World) -> None:
    _library(served).load()  # as signed: loads
    path = served.root / "releases" / "r1" / SERIES
    table = pq.read_table(path)
    status = table.column("observed_status").to_pylist()
    observed = table.column("observed").to_pylist()
    i = status.index("withheld")
    observed[i] = 3.0  # a withheld count written in after signing
    index = table.column_names.index("observed")
    pq.write_table(table.set_column(index, "observed", pa.array(observed, pa.float64())), path)
    with pytest.raises(ReleaseError, match=r"series\.parquet: SHA-256 .* differs from the signed"):
        _library(served).load()


def test_a_signed_series_showing_a_small_count_is_refused(served: World) -> None:
    """Even signed by the release key: a recorded count under min_count is not served."""
    path = served.root / "releases" / "r1" / SERIES
    table = pq.read_table(path)
    observed = table.column("observed").to_pylist()
    i = table.column("observed_status").to_pylist().index("withheld")
    observed[i] = 3.0
    index = table.column_names.index("observed")
    pq.write_table(table.set_column(index, "observed", pa.array(observed, pa.float64())), path)
    resign(served.root / "releases" / "r1")
    with pytest.raises(ReleaseError, match=r"1 published recorded count\(s\) below min_count 10"):
        _library(served).load()


def test_the_area_page_draws_the_series_and_its_table(served: World) -> None:
    city = _city(served)
    with TestClient(create_app(served.config), base_url="https://testserver") as client:
        sign_in(client, served.tokens["planner"])
        page = client.get(f"/planner/areas/{city['code']}")
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert html.count('id="series"') == 1 and "<svg" in html and "<script" not in html
    title = html[html.index("<title>") : html.index("</title>")]
    assert "series" not in title and "<h2" not in title  # the page's title is the area's name
    assert "at each as-of date, scored by this release" in html
    assert "The record is higher than the model expects" in html
    assert "not yet" in html  # the latest period's count, not shown


def test_each_reading_says_what_the_figures_allow() -> None:
    from serving.series import reading

    base = {"period_end": "2026-04-01", "expected": 10.0}
    shown = {**base, "observed_status": "published", "observed": 30}
    assert reading(
        {
            **shown,
            "comparison": "higher",
            "observed_ratio": 3.0,
            "ratio_low": 2.02,
            "ratio_high": 4.28,
        },
        10,
    ).startswith("The record is higher than the model expects: 30 recorded against 10 expected")
    assert reading(
        {
            **shown,
            "comparison": "lower",
            "observed_ratio": 0.3,
            "ratio_low": 0.2,
            "ratio_high": 0.6,
        },
        10,
    ).startswith("The record is lower than the model expects")
    assert reading(
        {
            **shown,
            "comparison": "similar",
            "observed_ratio": 1.0,
            "ratio_low": 0.6,
            "ratio_high": 1.5,
        },
        10,
    ).startswith("The record and the model agree within their uncertainty")
    assert "published expected number is 0" in reading(
        {**shown, "expected": 0.0, "comparison": None}, 10
    )
    assert "threshold is 10" in reading({**base, "observed_status": "withheld"}, 10)
    assert "had not ended" in reading({**base, "observed_status": "period_not_ended"}, 10)
    assert "withheld at this date" in reading({**base, "observed_status": "area_withheld"}, 10)
