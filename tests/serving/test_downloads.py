"""GeoJSON and CSV downloads from /v1 with a key: the published figures, with their metadata."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from geojson_pydantic import FeatureCollection

from serving.app import create_app
from serving.downloads import DownloadCache, accepts_gzip, csv_columns
from serving.geometry import OGL_ATTRIBUTION, Boundaries
from tests.serving.conftest import World, make_world
from tests.serving.release_factory import FACTORS, resign


def square(i: int, size: float = 0.01) -> dict[str, Any]:
    lon, lat = -0.2 + i * size, 51.5
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def provider(level: str) -> dict[str, Any] | None:
    """Squares for the factory's LSOAs (all but L14) and wards; no borough shapes."""
    codes = {"lsoa": [f"L{i:02d}" for i in range(1, 14)], "ward": [f"W{i}" for i in range(1, 7)]}
    features = [
        {"type": "Feature", "properties": {"code": c, "name": c}, "geometry": square(i)}
        for i, c in enumerate(codes.get(level, []))
    ]
    return {"type": "FeatureCollection", "features": features} if features else None


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, TestClient]]:
    world = make_world(tmp_path_factory.mktemp("downloads"))
    app = create_app(world.config)
    app.state.boundaries = Boundaries(provider)
    with TestClient(app, base_url="https://testserver") as client:
        yield world, client


def spec_problems(document: dict[str, Any]) -> list[str]:
    """What RFC 7946 requires that geojson-pydantic does not check: WGS84 ranges, no ``crs``,
    the right-hand rule (exterior rings counter-clockwise, holes clockwise)."""
    problems = ["crs member (section 4)"] if "crs" in document else []
    for feature in document["features"]:
        geometry = feature["geometry"]
        if geometry is None:
            continue
        polygons = (
            [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        )
        for polygon in polygons:
            for i, ring in enumerate(polygon):
                area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
                if (area <= 0) if i == 0 else (area >= 0):
                    problems.append(f"{feature['id']}: ring {i} breaks the right-hand rule")
                if not all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in ring):
                    problems.append(f"{feature['id']}: a position outside WGS84")
    return problems


def listing(client: TestClient, world: World, level: str) -> list[dict[str, Any]]:
    response = client.get(
        "/v1/areas", params={"level": level, "sort": "code", "limit": 1000}, headers=world.headers()
    )
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_the_geojson_is_valid_rfc7946_with_exactly_the_published_figures(
    geo: tuple[World, TestClient],
) -> None:
    world, client = geo
    response = client.get("/v1/areas.geojson?level=lsoa", headers=world.headers())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert 'filename="vru-lsoa-r1.geojson"' in response.headers["content-disposition"]
    document = response.json()
    FeatureCollection.model_validate(document)  # the spec's rules: types, closed rings, positions
    assert spec_problems(document) == []
    expected = listing(client, world, "lsoa")
    assert [f["properties"] for f in document["features"]] == expected
    assert [f["id"] for f in document["features"]] == [a["code"] for a in expected]
    withheld = [f for f in document["features"] if f["properties"]["suppressed"]]
    assert withheld and all(f["properties"]["mean_risk"] is None for f in withheld)
    by_code = {f["id"]: f["geometry"] for f in document["features"]}
    assert by_code["L14"] is None and by_code["L01"]["type"] == "Polygon"


def test_the_geojson_metadata_names_release_environment_disclosure_licence_and_columns(
    geo: tuple[World, TestClient],
) -> None:
    world, client = geo
    meta = client.get("/v1/areas.geojson?level=ward", headers=world.headers()).json()["metadata"]
    assert meta["release_id"] == "r1" and meta["as_of_date"] == "2024-04-01"
    assert meta["model_version"] == "3" and meta["environment"] == "PRODUCTION"
    assert meta["level"] == "ward" and meta["areas"] == 6 and meta["areas_with_boundary"] == 6
    assert meta["disclosure_note"].startswith("Counts are rounded to a multiple of 5;")
    assert "fewer than 10 young people are withheld" in meta["disclosure_note"]
    assert meta["geography"] == OGL_ATTRIBUTION
    defined = {c["name"] for c in meta["columns"]}
    first = client.get("/v1/areas.geojson?level=ward", headers=world.headers()).json()
    assert set(first["features"][0]["properties"]) <= defined
    assert all(c["definition"] for c in meta["columns"])


def test_a_level_without_boundaries_has_null_geometries_and_says_why(
    geo: tuple[World, TestClient],
) -> None:
    world, client = geo
    document = client.get("/v1/areas.geojson?level=borough", headers=world.headers()).json()
    FeatureCollection.model_validate(document)
    assert [f["geometry"] for f in document["features"]] == [None, None, None]
    assert document["metadata"]["geography"].startswith("No boundaries")


def test_the_csv_holds_the_json_figures_and_links_its_metadata_sheet(
    geo: tuple[World, TestClient],
) -> None:
    world, client = geo
    response = client.get("/v1/areas.csv?level=lsoa", headers=world.headers())
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["link"] == (
        '</v1/areas.csv/metadata?level=lsoa>; rel="describedby"; type="text/csv"'
    )
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == csv_columns(FACTORS)
    for row, area in zip(rows, listing(client, world, "lsoa"), strict=True):
        assert row["code"] == area["code"]
        assert row["suppressed"] == json.dumps(area["suppressed"])
        for name in ("population", "expected", "mean_risk", "risk_low", "rank", "rate_per_1000"):
            assert row[name] == ("" if area[name] is None else str(area[name])), name
        factor = area["factors"][0]
        assert row[f"{FACTORS[0]}_count"] == (
            "" if factor["count"] is None else str(factor["count"])
        )
    assert any(r["suppressed"] == "true" and r["mean_risk"] == "" for r in rows)


def test_the_metadata_sheet_defines_every_csv_column_and_the_release(
    geo: tuple[World, TestClient],
) -> None:
    world, client = geo
    response = client.get("/v1/areas.csv/metadata?level=ward", headers=world.headers())
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    about = {r["name"]: r["description"] for r in rows if r["kind"] == "about"}
    columns = {r["name"]: r["description"] for r in rows if r["kind"] == "column"}
    assert about["release_id"] == "r1" and about["environment"] == "PRODUCTION"
    assert about["model_version"] == "3" and about["source"] == "/v1/areas.csv?level=ward"
    assert "withheld" in about["disclosure_note"]
    assert set(csv_columns(FACTORS)) <= set(columns)
    assert all(columns.values())


def test_a_demo_release_is_labelled_demo(tmp_path: Any) -> None:
    world = make_world(tmp_path)
    manifest = world.root / "releases" / "r1" / "manifest.json"
    resign(manifest.parent, environment="demo")
    with TestClient(create_app(world.config), base_url="https://testserver") as client:
        meta = client.get("/v1/areas.geojson?level=bcu", headers=world.headers()).json()
    assert meta["metadata"]["environment"] == "DEMO"
    assert meta["metadata"]["geography"].startswith("No boundaries")  # BCUs have no shapes


@pytest.mark.parametrize("path", ["/v1/areas.geojson", "/v1/areas.csv", "/v1/areas.csv/metadata"])
def test_downloads_need_a_key_and_a_valid_level(geo: tuple[World, TestClient], path: str) -> None:
    world, client = geo
    assert client.get(f"{path}?level=ward").status_code == 401
    bad = client.get(f"{path}?level=street", headers=world.headers())
    assert bad.status_code == 400
    assert bad.json()["invalid_params"][0]["name"] == "level"
    missing = client.get(path, headers=world.headers())
    assert missing.status_code == 400


def test_the_cache_builds_once_per_release_and_level() -> None:
    cache, built = DownloadCache(), []

    def build(tag: str) -> bytes:
        built.append(tag)
        return tag.encode()

    assert cache.get("r1", ("csv", "ward"), lambda: build("a")) == b"a"
    assert cache.get("r1", ("csv", "ward"), lambda: build("b")) == b"a"
    assert cache.get("r2", ("csv", "ward"), lambda: build("c")) == b"c"
    assert built == ["a", "c"]


def test_the_documented_examples_of_the_downloads_answer_200(geo: tuple[World, TestClient]) -> None:
    world, client = geo
    document = client.get("/openapi.json").json()
    for path in ("/v1/areas.geojson", "/v1/areas.csv", "/v1/areas.csv/metadata"):
        operation = document["paths"][path]["get"]
        assert operation["security"] == [{"bearer": []}]
        (level,) = operation["parameters"]
        assert level["name"] == "level" and level["schema"]["examples"] == ["ward"]
        for example in level["examples"].values():
            params = {"level": example["value"]}
            response = client.get(path, params=params, headers=world.headers())
            assert response.status_code == 200, (path, params)
            documented = operation["responses"]["200"]["content"]
            assert response.headers["content-type"].split(";")[0] in documented, path
        assert {"400", "401", "429", "503"} <= set(operation["responses"])


def test_the_spec_check_fails_on_a_clockwise_exterior_and_a_crs_member() -> None:
    ring = square(0)["coordinates"][0]
    bad = {
        "type": "FeatureCollection",
        "crs": {"type": "name"},
        "features": [
            {
                "type": "Feature",
                "id": "A",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [ring[::-1]]},
            }
        ],
    }
    assert spec_problems(bad) == ["crs member (section 4)", "A: ring 0 breaks the right-hand rule"]


def test_a_client_that_accepts_gzip_gets_the_same_body_compressed(
    geo: tuple[World, TestClient],
) -> None:
    world, client = geo
    url = "/v1/areas.geojson?level=lsoa"
    plain = client.get(url, headers={**world.headers(), "accept-encoding": "identity"})
    packed = client.get(url, headers={**world.headers(), "accept-encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == plain.headers["vary"] == "accept-encoding"
    assert packed.content == plain.content  # the client decodes it: the same document
    assert int(packed.headers["content-length"]) < len(plain.content)


def test_accept_encoding_is_read_as_the_http_spec_says() -> None:
    assert accepts_gzip("gzip, deflate, br")
    assert accepts_gzip("br;q=1.0, *;q=0.5")
    assert not accepts_gzip("")
    assert not accepts_gzip("identity")
    assert not accepts_gzip("gzip;q=0, deflate")
