"""The shipped London geography: complete, nested, and valid GeoJSON (RFC 7946)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

from governance.geography import (
    BOUNDARY_LEVELS,
    LOOKUP_COLUMNS,
    boundaries,
    boundaries_bytes,
    london_lookup,
)

# Greater London lies within these (lon, lat) bounds, with a little margin.
LON = (-0.52, 0.34)
LAT = (51.28, 51.70)
CODE_PATTERN = {
    "lsoa": r"E01\d{6}",
    "msoa": r"E02\d{6}",
    "ward": r"E05\d{6}",
    "borough": r"E09\d{6}",
    "bcu": r"[A-Z]{2}|COLP",
}


def _polygons(geometry: dict[str, Any]) -> Iterator[list[list[list[float]]]]:
    assert geometry["type"] in ("Polygon", "MultiPolygon"), geometry["type"]
    if geometry["type"] == "Polygon":
        yield geometry["coordinates"]
    else:
        yield from geometry["coordinates"]


def _signed_area(ring: list[list[float]]) -> float:
    """Shoelace area: positive for an anticlockwise ring in lon/lat."""
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairwise(ring))


def test_lookup_holds_every_london_lsoa_nested_in_wards_and_boroughs() -> None:
    geo = london_lookup()
    assert tuple(geo.columns) == LOOKUP_COLUMNS
    assert len(geo) == 4835 and geo["lsoa_code"].is_unique
    assert geo["borough_code"].nunique() == 33
    assert geo["ward_code"].nunique() == 637
    assert geo["msoa_code"].nunique() == 983
    assert set(geo["bcu_code"]) - {"COLP"} == {
        "AW", "AS", "CE", "CN", "EA", "NA", "NE", "NW", "SE", "SN", "SW", "WA",
    }  # fmt: skip
    for child, parent in [("lsoa", "msoa"), ("msoa", "borough"), ("ward", "borough")]:
        assert geo.groupby(f"{child}_code")[f"{parent}_code"].nunique().max() == 1, child
    # wards hold several LSOAs, so a ward is never just its borough or its LSOA
    assert geo.groupby("ward_code").size().median() >= 6
    assert not geo.isna().any().any()


def test_lookup_carries_imd_2019_and_mid_2019_population() -> None:
    geo = london_lookup()
    deciles = Counter(geo["imd_decile"])
    assert deciles == {
        1: 107, 2: 688, 3: 811, 4: 661, 5: 559, 6: 532, 7: 438, 8: 413, 9: 407, 10: 219,
    }  # fmt: skip
    assert geo["imd_rank"].between(1, 32_844).all()
    assert geo["population_all_ages"].sum() == 8_961_989
    assert (geo["population_0_15"] + geo["population_16_29"] <= geo["population_all_ages"]).all()


def test_lookup_is_a_fresh_copy() -> None:
    geo = london_lookup()
    geo.loc[0, "lsoa_name"] = "changed"
    assert london_lookup().loc[0, "lsoa_name"] != "changed"


@pytest.mark.parametrize("level", BOUNDARY_LEVELS)
def test_every_area_of_the_lookup_has_exactly_one_boundary(level: str) -> None:
    geo = london_lookup()
    collection = boundaries(level)  # type: ignore[arg-type]
    assert collection["type"] == "FeatureCollection"
    ids = [f["id"] for f in collection["features"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(geo[f"{level}_code"])
    names = geo.drop_duplicates(f"{level}_code").set_index(f"{level}_code")[f"{level}_name"]
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert feature["properties"]["code"] == feature["id"]
        assert feature["properties"]["name"] == names[feature["id"]]
        assert re.fullmatch(CODE_PATTERN[level], feature["id"]), feature["id"]


@pytest.mark.parametrize("level", BOUNDARY_LEVELS)
def test_boundaries_are_rfc7946_polygons_in_london(level: str) -> None:
    """Closed linear rings of 4+ positions, lon/lat in London, exterior anticlockwise (RFC
    7946 §3.1.6 right-hand rule), holes clockwise, at most 5 decimals, no 'crs' member."""
    collection = boundaries(level)  # type: ignore[arg-type]
    assert "crs" not in collection
    for feature in collection["features"]:
        for polygon in _polygons(feature["geometry"]):
            for i, ring in enumerate(polygon):
                assert len(ring) >= 4 and ring[0] == ring[-1], feature["id"]
                for lon, lat in ring:
                    assert LON[0] < lon < LON[1] and LAT[0] < lat < LAT[1], feature["id"]
                    assert round(lon, 5) == lon and round(lat, 5) == lat, feature["id"]
                area = _signed_area(ring)
                assert (area > 0) if i == 0 else (area < 0), (feature["id"], i)


def _areas(level: str) -> dict[str, float]:
    """Each feature's area in (degree-scaled) squared units: holes subtract."""
    out = {}
    for feature in boundaries(level)["features"]:  # type: ignore[arg-type]
        out[feature["id"]] = sum(
            _signed_area(ring) for polygon in _polygons(feature["geometry"]) for ring in polygon
        )
    return out


@pytest.mark.parametrize("level", ["msoa", "ward", "borough", "bcu"])
def test_dissolved_areas_cover_their_lsoas(level: str) -> None:
    """Each MSOA, ward, borough and BCU covers the area of its LSOAs (simplification aside)."""
    geo = london_lookup()
    lsoa = _areas("lsoa")
    parent = _areas(level)
    summed = geo.assign(area=geo["lsoa_code"].map(lsoa)).groupby(f"{level}_code")["area"].sum()
    ratio = summed / summed.index.map(parent)
    assert ratio.between(0.9, 1.1).all(), ratio[~ratio.between(0.9, 1.1)].index.tolist()
    assert abs(sum(lsoa.values()) / sum(parent.values()) - 1) < 0.01


def test_boundaries_reject_an_unknown_level_by_name() -> None:
    with pytest.raises(ValueError, match=r"level must be one of \['lsoa', 'msoa', 'ward'"):
        boundaries_bytes("city")  # type: ignore[arg-type]


def test_parents_named_in_the_boundaries_match_the_lookup() -> None:
    geo = london_lookup()
    for level in ("lsoa", "msoa", "ward"):
        parent = geo.drop_duplicates(f"{level}_code").set_index(f"{level}_code")["borough_code"]
        for feature in boundaries(level)["features"]:  # type: ignore[arg-type]
            assert feature["properties"]["borough"] == parent[feature["id"]], feature["id"]
    bcu = geo.drop_duplicates("borough_code").set_index("borough_code")["bcu_code"]
    for feature in boundaries("borough")["features"]:
        assert feature["properties"]["bcu"] == bcu[feature["id"]]


def test_boundaries_are_fresh_dicts() -> None:
    boundaries("borough")["features"].clear()
    assert len(boundaries("borough")["features"]) == 33
