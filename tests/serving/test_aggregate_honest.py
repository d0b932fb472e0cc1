"""The API serving a generated release with many small areas: no false 0, no negative zero.

The release is the one of :mod:`tests.training.test_release_leaks` (made by the release's own
steps from a city of 72 LSOAs of 2 to 160 young people), signed and served as is. Issue 16:
``POST /v1/aggregate`` over areas whose rounded expected counts are all 0 answered
``expected: 0.0``, and a JSON ``-0.0`` told a withheld zero count from a non-zero one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.serving.conftest import World, make_world
from tests.serving.release_factory import write_release
from tests.training.test_release_leaks import generated_city, release_of


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table's rows with nulls as None (what a parquet reader gives)."""
    return [
        {
            k: (None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v)
            for k, v in row.items()
        }
        for row in table.astype(object).to_dict(orient="records")
    ]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return release_of(generated_city())


@contextmanager
def serving_release(root: Path, table: pd.DataFrame) -> Iterator[tuple[TestClient, World]]:
    """A server whose one release, ``g1``, is ``table`` as the release wrote it."""
    world = make_world(root)
    write_release(world.root / "releases", world.board, release_id="g1", rows=_rows(table))
    with TestClient(create_app(world.config), base_url="https://testserver") as client:
        assert client.get("/readyz").json()["release_id"] == "g1"
        yield client, world


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, table: pd.DataFrame
) -> Iterator[tuple[TestClient, World]]:
    with serving_release(tmp_path_factory.mktemp("generated"), table) as both:
        yield both


def negative_zeros(text: str) -> list[str]:
    """Every JSON number in ``text`` that parses to -0.0, by its path."""
    found: list[str] = []

    def walk(value: object, path: str) -> None:
        if isinstance(value, float) and value == 0 and math.copysign(1.0, value) < 0:
            found.append(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(json.loads(text), "$")
    return found


def _zero_lsoas(table: pd.DataFrame, n: int) -> list[str]:
    rows = table[(table["level"] == "lsoa") & ~table["suppressed"] & (table["expected"] == 0)]
    assert len(rows) >= n
    return [str(c) for c in rows["code"][:n]]


def test_no_answer_holds_a_negative_zero(
    served: tuple[TestClient, World], table: pd.DataFrame
) -> None:
    client, world = served
    texts = [
        client.get(f"/v1/areas?level={level}&limit=500", headers=world.headers()).text
        for level in ("lsoa", "ward", "borough", "bcu", "city")
    ]
    published = table.loc[~table["suppressed"] & (table["level"] == "lsoa"), "code"]
    for i in range(0, 12, 3):
        codes = [str(c) for c in published.iloc[i : i + 3]]
        texts.append(
            client.post("/v1/aggregate", json={"codes": codes}, headers=world.headers()).text
        )
    assert [p for text in texts for p in negative_zeros(text)] == []


def test_aggregating_areas_whose_rounded_expected_is_zero_is_not_a_false_zero(
    served: tuple[TestClient, World], table: pd.DataFrame
) -> None:
    """Each area's expected lies within 2.5 of its published 0; the sum within 2.5 per area."""
    client, world = served
    codes = _zero_lsoas(table, 4)
    response = client.post("/v1/aggregate", json={"codes": codes}, headers=world.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expected"] > 0, body
    assert body["expected_low"] == 0.0 and body["expected_high"] == 4 * 2.5
    assert body["expected_low"] <= body["expected"] <= body["expected_high"]
    population = body["population"]
    assert body["rate_per_1000"] == pytest.approx(1000 * body["expected"] / population, abs=0.051)


def test_the_aggregate_interval_contains_its_mean(
    served: tuple[TestClient, World], table: pd.DataFrame
) -> None:
    client, world = served
    published = [
        str(c) for c in table.loc[~table["suppressed"] & (table["level"] == "lsoa"), "code"]
    ]
    for i in range(0, 30, 5):
        body = client.post(
            "/v1/aggregate", json={"codes": published[i : i + 5]}, headers=world.headers()
        ).json()
        assert body["risk_low"] < body["mean_risk"] < body["risk_high"], body
        assert body["expected_low"] <= body["expected"] <= body["expected_high"], body


def test_an_area_whose_expected_rounds_to_zero_says_fewer_than(
    served: tuple[TestClient, World], table: pd.DataFrame
) -> None:
    client, world = served
    code = _zero_lsoas(table, 1)[0]
    area = client.get(f"/v1/areas/{code}", headers=world.headers()).json()["area"]
    assert area["expected"] == 0.0 and area["expected_fewer_than"] == 2.5
    shown = table.loc[~table["suppressed"] & (table["expected"] > 0), "code"].iloc[0]
    other = client.get(f"/v1/areas/{shown}", headers=world.headers()).json()["area"]
    assert other["expected_fewer_than"] is None


def test_the_area_page_says_fewer_than_instead_of_zero(
    served: tuple[TestClient, World], table: pd.DataFrame, tmp_path: Path
) -> None:
    from tests.serving.pages_helpers import sign_in

    client, world = served
    code = _zero_lsoas(table, 1)[0]
    sign_in(client, world.tokens["planner"])
    page = client.get(f"/planner/areas/{code}").text
    assert "fewer than 2.5" in page


def test_two_neighbourhoods_that_differ_by_one_area_teach_only_its_published_figures(
    served: tuple[TestClient, World], table: pd.DataFrame
) -> None:
    """The differencing attacker: combine a set of LSOAs, then the same set and one more.

    The aggregate is made from published figures only (disclosure control runs in the
    release, never in the API), so what the difference gives is the added area's published
    population and its published expected's range, never a finer figure; a suppressed area
    cannot be added at all."""
    client, world = served
    lsoas = table[(table["level"] == "lsoa") & ~table["suppressed"]].set_index("code")
    codes = [str(c) for c in lsoas.index]
    rng = np.random.default_rng(5)
    for _ in range(25):
        chosen = [str(c) for c in rng.choice(codes, size=5, replace=False)]
        base, added = chosen[:4], chosen[4]
        answers = [
            client.post("/v1/aggregate", json={"codes": c}, headers=world.headers()).json()
            for c in (base, [*base, added])
        ]
        area = lsoas.loc[added]
        assert answers[1]["population"] - answers[0]["population"] == area["population"]
        # the bounds of the sum move by exactly the added area's published range
        low = answers[1]["expected_low"] - answers[0]["expected_low"]
        high = answers[1]["expected_high"] - answers[0]["expected_high"]
        published = float(area["expected"])
        assert low == pytest.approx(max(published - 2.5, 0.0), abs=0.11)
        assert high == pytest.approx(published + 2.5, abs=0.11)
    suppressed = table[(table["level"] == "lsoa") & table["suppressed"]]["code"].iloc[0]
    refused = client.post(
        "/v1/aggregate", json={"codes": [*codes[:3], str(suppressed)]}, headers=world.headers()
    )
    assert refused.status_code == 422 and str(suppressed) in refused.text
