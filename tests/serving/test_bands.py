"""Bands served: no ranking within the noise, in the API, the pages and the CSV.

The release is the generated one of :mod:`tests.training.test_release_leaks` (72 LSOAs of 2 to
160 young people, made by the release's own steps), signed and served as is. Orders are
recomputed here from the published columns: sorting by rank is by band first (``higher``,
``similar``, ``lower``), then by the exact rank, suppressed areas last.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from governance.contracts.release_schema import ReleaseError
from serving.app import create_app
from serving.releases import ReleaseLibrary
from tests.serving.conftest import World, make_world
from tests.serving.pages_helpers import HTTPS, sign_in
from tests.serving.release_factory import (
    area_rows,
    make_board,
    rank_published,
    release_key,
    resign,
    write_release,
)
from tests.serving.test_aggregate_honest import _rows, serving_release
from tests.training.test_release_leaks import generated_city, release_of

ORDER = {"higher": 0, "similar": 1, "lower": 2}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return release_of(generated_city())


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, table: pd.DataFrame
) -> Iterator[tuple[TestClient, World]]:
    with serving_release(tmp_path_factory.mktemp("bands"), table) as both:
        yield both


def _listing(client: TestClient, world: World, query: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/areas?{query}&limit=500", headers=world.headers())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def expected_order(table: pd.DataFrame, level: str, descending: bool) -> list[str]:
    """Codes by (band, rank, code), published first; ``descending`` reverses the figures."""
    rows = table[table["level"] == level]
    shown = [r for r in rows.to_dict("records") if not r["suppressed"]]
    sign = -1 if descending else 1
    shown.sort(key=lambda r: (sign * ORDER[r["band"]], sign * int(r["rank"]), r["code"]))
    hidden = sorted(str(r["code"]) for r in rows.to_dict("records") if r["suppressed"])
    return [str(r["code"]) for r in shown] + hidden


@pytest.mark.parametrize("level", ["lsoa", "ward", "borough", "bcu"])
def test_sorting_by_rank_is_by_band_then_rank(
    served: tuple[TestClient, World], table: pd.DataFrame, level: str
) -> None:
    client, world = served
    for sort, descending in (("rank", False), ("-rank", True)):
        items = _listing(client, world, f"level={level}&sort={sort}")
        assert [i["code"] for i in items] == expected_order(table, level, descending), sort
    bands = {str(r["code"]): r["band"] for r in _rows(table[table["level"] == level])}
    assert {i["code"]: i["band"] for i in items} == bands


def test_a_smaller_less_certain_lsoa_is_not_listed_above_a_larger_one(tmp_path: Path) -> None:
    """The issue's finding, through the API and the planner page: a small LSOA (L12, 50 young
    people) whose rounded mean looks highest, with an interval reaching the level's median,
    is listed below a larger one (L06, 200) whose interval lies wholly above it."""
    rows = area_rows()
    figures = {"L12": (0.07, 0.0, 0.15), "L06": (0.065, 0.06, 0.07)}
    for row in rows:
        if row["code"] in figures:
            row["mean_risk"], row["risk_low"], row["risk_high"] = figures[row["code"]]
    rank_published(rows, key=lambda r: (-r["mean_risk"], r["code"]))
    world = make_world(tmp_path)
    write_release(world.root / "releases", world.board, release_id="r2", rows=rows)
    with TestClient(create_app(world.config), base_url=HTTPS) as client:
        assert client.get("/readyz").json()["release_id"] == "r2"
        items = _listing(client, world, "level=lsoa&sort=rank")
        by_code = {i["code"]: i for i in items}
        assert (by_code["L12"]["rank"], by_code["L06"]["rank"]) == (1, 2)  # the exact ranks
        assert (by_code["L12"]["band"], by_code["L06"]["band"]) == ("similar", "higher")
        api = [i["code"] for i in items]
        assert api.index("L06") < api.index("L12")
        assert sign_in(client, world.tokens["planner"]).status_code == 303
        html = client.get("/planner?level=lsoa&sort=rank").text
        page = re.findall(r'<span class="code">([^<]+)</span></th>', html)
        assert page.index("L06") < page.index("L12")


def test_the_planner_table_shows_the_band_not_the_exact_rank(
    served: tuple[TestClient, World], table: pd.DataFrame
) -> None:
    client, world = served
    assert sign_in(client, world.tokens["planner"]).status_code == 303
    html = client.get("/planner?level=ward").text
    assert '<th scope="col" aria-sort="ascending" title="' in html and ">Band" in html
    cells = re.findall(r'<td class="band">([^<]+)</td>', html)
    wards = table[(table["level"] == "ward") & ~table["suppressed"]]
    assert sorted(cells) == sorted(wards["band"])
    code = str(wards["code"].iloc[0])
    area = client.get(f"/planner/areas/{code}").text
    band = str(wards["band"].iloc[0])
    assert f"<dd>{band} than the median ward" in area or (
        band == "similar" and "<dd>similar to the median ward" in area
    )


def _csv_rows(client: TestClient, world: World, query: str) -> dict[str, dict[str, str]]:
    assert sign_in(client, world.tokens["planner"]).status_code == 303
    text = client.get(f"/planner/areas.csv?{query}").text
    return {r["code"]: r for r in csv.DictReader(io.StringIO(text))}


def test_the_csv_has_the_band(served: tuple[TestClient, World], table: pd.DataFrame) -> None:
    client, world = served
    rows = _csv_rows(client, world, "level=lsoa")
    published = table[(table["level"] == "lsoa") & ~table["suppressed"]]
    for code, band in zip(published["code"], published["band"], strict=True):
        assert rows[str(code)]["band"] == band
    assert all(r["band"] == "" for r in rows.values() if r["status"] == "suppressed")


def test_the_csv_says_fewer_than_where_the_page_does(
    served: tuple[TestClient, World], table: pd.DataFrame
) -> None:
    """The page shows "fewer than 2.5" where the published expected is 0; so does the CSV."""
    client, world = served
    rows = _csv_rows(client, world, "level=lsoa")
    page = client.get("/planner?level=lsoa").text
    published = table[(table["level"] == "lsoa") & ~table["suppressed"]]
    zeros = published.loc[published["expected"] == 0, "code"].astype(str)
    assert len(zeros) >= 3
    assert page.count(">fewer than 2.5</td>") == len(zeros)
    for code in zeros:
        assert rows[code]["expected"] == "fewer than 2.5", rows[code]
    others = published.loc[published["expected"] > 0]
    for code, expected in zip(others["code"], others["expected"], strict=True):
        assert float(rows[str(code)]["expected"]) == expected


def test_a_release_with_an_unknown_band_is_refused_naming_it(tmp_path: Path) -> None:
    board, releases = make_board(tmp_path / "board"), tmp_path / "releases"
    write_release(releases, board, release_id="r1")
    path = releases / "r1" / "areas.parquet"
    data = pq.read_table(path)
    bands = data.column("band").to_pylist()
    first = next(i for i, b in enumerate(bands) if b is not None)
    bands[first] = "top"
    index = data.column_names.index("band")
    pq.write_table(data.set_column(index, "band", pa.array(bands, pa.string())), path)
    resign(releases / "r1")
    library = ReleaseLibrary(
        releases, board.public_key_b64, release_key_b64=release_key().public_key_b64
    )
    with pytest.raises(ReleaseError, match=r"has a bad value in 'band'"):
        library.load()
