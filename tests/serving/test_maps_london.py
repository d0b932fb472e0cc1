"""The maps and GeoJSON on London's real boundaries (the geography package's)."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from geojson_pydantic import FeatureCollection

from governance.geography import ATTRIBUTION, london_lookup
from serving.app import create_app
from serving.geometry import Boundaries
from serving.keys import create_key
from serving.pages.maps import MapArea, choropleth
from tests.serving.city import london_rows
from tests.serving.pages_helpers import HTTPS, sign_in
from tests.serving.release_factory import (
    _sized_row,
    make_board,
    rank_published,
    serving_config,
    write_release,
)
from tests.serving.test_downloads import spec_problems

SVG = "{http://www.w3.org/2000/svg}"


def test_the_default_adapter_reads_londons_boundaries_with_their_attribution() -> None:
    boundaries = Boundaries()
    assert len(boundaries.level("borough")) == 33
    assert len(boundaries.level("lsoa")) == 4835
    assert boundaries.level("borough").attribution == ATTRIBUTION
    assert len(boundaries.level("bcu")) == 0


def test_every_london_lsoa_is_drawn_as_a_link_in_well_formed_svg_quickly() -> None:
    shapes = Boundaries().level("lsoa")
    areas = [
        MapArea(code, code, 0.01 + (i % 50) / 1000, f"/planner/areas/{code}", geometry)
        for i, (code, geometry) in enumerate(sorted(shapes.geometries.items()))
    ]
    start = time.perf_counter()
    drawn = choropleth(areas, title="London's LSOAs")
    seconds = time.perf_counter() - start
    root = ET.fromstring(str(drawn.svg))
    assert len(root.findall(f".//{SVG}a")) == 4835 and drawn.unmapped == ()
    assert seconds < 5.0  # built once per release and level, then kept
    width, height = (float(v) for v in root.get("viewBox", "").split()[2:])
    assert 0.6 < (height - 64) / width < 0.8  # London is wider than tall, about 0.7


@pytest.fixture(scope="module")
def london(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """The browser tests' London city (real borough codes, generated wards and LSOAs)."""
    root: Path = tmp_path_factory.mktemp("london-maps")
    board = make_board(root / "board")
    write_release(root / "releases", board, release_id="r1", rows=london_rows())
    config = serving_config(root, board)
    _, token = create_key(config.keys_file, role="planner", name="maps")
    with TestClient(create_app(config), base_url=HTTPS) as client:
        yield client, token


def test_the_borough_geojson_carries_londons_shapes_and_passes_the_spec(
    london: tuple[TestClient, str],
) -> None:
    client, token = london
    document = client.get(
        "/v1/areas.geojson?level=borough", headers={"Authorization": f"Bearer {token}"}
    ).json()
    FeatureCollection.model_validate(document)
    assert spec_problems(document) == []
    assert len(document["features"]) == 33
    assert all(f["geometry"] is not None for f in document["features"])
    assert document["metadata"]["geography"] == ATTRIBUTION


def test_the_borough_map_draws_london_and_generated_wards_say_why_not(
    london: tuple[TestClient, str],
) -> None:
    client, token = london
    sign_in(client, token)
    page = client.get("/planner/map/borough").text
    found = re.search(r"<svg .*?</svg>", page, re.S)
    assert found is not None
    links = ET.fromstring(found.group(0)).findall(f".//{SVG}a")
    assert len(links) == 33
    assert any(a.get("aria-label", "").startswith("Camden: mean risk") for a in links)
    wards = client.get("/planner/map/ward").text
    assert "No map: this release's areas belong to a generated city" in wards


def camden_rows() -> list[dict[str, Any]]:
    """A release of Camden on London's real codes: its LSOAs, wards, the borough, a BCU."""
    lookup = london_lookup()
    camden = lookup[lookup["borough_code"] == "E09000007"]
    pairs = zip(camden["lsoa_code"].astype(str), camden["ward_code"].astype(str), strict=True)
    rows = [_sized_row("lsoa", lsoa, ward, 150 + 7 * i) for i, (lsoa, ward) in enumerate(pairs)]
    rows += [
        _sized_row("ward", code, "E09000007", 900) for code in sorted(set(camden["ward_code"]))
    ]
    rows.append(_sized_row("borough", "E09000007", "BCU-CN", 20_000))
    rows.append(_sized_row("bcu", "BCU-CN", "city", 40_000))
    rows.append(_sized_row("city", "city", None, 100_000))
    for row in rows:
        row["name"] = {"E09000007": "Camden"}.get(row["code"], row["code"])
    rank_published(rows, key=lambda r: (-r["mean_risk"], r["code"]))
    return rows


def test_every_level_of_a_release_on_londons_codes_is_mapped(tmp_path: Path) -> None:
    board = make_board(tmp_path / "board")
    rows = camden_rows()
    write_release(tmp_path / "releases", board, release_id="camden", rows=rows)
    config = serving_config(tmp_path, board)
    _, token = create_key(config.keys_file, role="planner", name="maps")
    counts = {lv: sum(1 for r in rows if r["level"] == lv) for lv in ("lsoa", "ward")}
    with TestClient(create_app(config), base_url=HTTPS) as client:
        sign_in(client, token)
        for level, parent, expected in (
            ("lsoa", "E09000007", counts["lsoa"]),
            ("ward", "E09000007", counts["ward"]),
            ("borough", "BCU-CN", 1),
        ):
            page = client.get(f"/planner/map/{level}?parent={parent}").text
            found = re.search(r"<svg .*?</svg>", page, re.S)
            assert found is not None, level
            assert len(ET.fromstring(found.group(0)).findall(f".//{SVG}a")) == expected, level
            assert "Not on the map" not in page, level
        document = client.get(
            "/v1/areas.geojson?level=lsoa", headers={"Authorization": f"Bearer {token}"}
        ).json()
    FeatureCollection.model_validate(document)
    assert spec_problems(document) == []
    assert all(f["geometry"] is not None for f in document["features"])
    assert document["metadata"]["areas_with_boundary"] == counts["lsoa"] > 100
