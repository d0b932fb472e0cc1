"""The choropleth renderer and the boundary adapter, on tiny polygons built in code."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from serving.geometry import OGL_ATTRIBUTION, Boundaries, BoundaryError, level_shapes, rewound
from serving.pages.maps import PALETTE, MapArea, choropleth, class_breaks, project

SVG = "{http://www.w3.org/2000/svg}"


def square(lon: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    """A closed square ring as a GeoJSON Polygon (counter-clockwise, RFC 7946)."""
    ring = [
        [lon, lat],
        [lon + size, lat],
        [lon + size, lat + size],
        [lon, lat + size],
        [lon, lat],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def areas() -> list[MapArea]:
    return [
        MapArea("A1", "Low & <Quiet>", 0.01, "/planner/areas/A1", square(-0.10, 51.50)),
        MapArea("A2", 'Mid "Town"', 0.02, "/planner/areas/A2", square(-0.09, 51.50)),
        MapArea("A3", "High", 0.05, "/planner/areas/A3", square(-0.08, 51.50)),
        MapArea("A4", "Hidden", None, "/planner/areas/A4", square(-0.10, 51.51), withheld=True),
        MapArea("A5", "Nowhere", 0.03, "/planner/areas/A5", None),
    ]


def test_the_map_is_valid_svg_with_a_link_title_and_colour_per_drawn_area() -> None:
    result = choropleth(areas(), title="Wards by mean risk", ident="wards")
    assert result.svg is not None
    root = ET.fromstring(str(result.svg))  # well-formed XML: names are escaped
    links = root.findall(f".//{SVG}a")
    assert [a.get("href") for a in links] == [f"/planner/areas/A{i}" for i in range(1, 5)]
    labels = [a.get("aria-label") for a in links]
    assert labels[0] == "Low & <Quiet>: mean risk 1%"
    assert labels[1] == 'Mid "Town": mean risk 2%'
    assert labels[3] == "Hidden: withheld by disclosure control"
    assert [a.find(f"{SVG}title").text for a in links] == labels  # type: ignore[union-attr]
    fills = [a.find(f"{SVG}path").get("fill") for a in links]  # type: ignore[union-attr]
    assert fills[3] == "url(#wards-hatch)"
    assert fills[0] == PALETTE[0] and fills[2] == PALETTE[-1]  # lightest lowest, darkest highest
    assert root.get("role") == "group" and root.get("aria-labelledby") == "wards-title"
    assert "<Quiet>" not in str(result.svg) and "&lt;Quiet&gt;" in str(result.svg)


def test_an_area_without_a_boundary_is_listed_not_drawn_and_the_summary_says_so() -> None:
    result = choropleth(areas(), title="t")
    assert result.unmapped == ("Nowhere",)
    assert "/planner/areas/A5" not in str(result.svg)
    root = ET.fromstring(str(result.svg))
    desc = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert desc.startswith("4 of 5 areas drawn, coloured by mean risk in 4 classes")
    assert 'Highest: High (5%); Nowhere (3%); Mid "Town" (2%).' in desc
    assert "1 withheld by disclosure control (hatched)." in desc
    assert "1 without a boundary" in desc


def test_the_legend_gives_each_class_its_range_and_the_hatching() -> None:
    result = choropleth(areas(), title="t")
    assert [(c.low, c.high) for c in result.classes] == [
        (0.01, 0.01),
        (0.02, 0.02),
        (0.03, 0.03),
        (0.05, 0.05),
    ]
    text = " ".join(t.text or "" for t in ET.fromstring(str(result.svg)).iter(f"{SVG}text"))
    assert "lighter is lower, darker is higher" in text
    assert "withheld" in text and "1%" in text and "5%" in text


def test_no_area_with_a_boundary_gives_no_map() -> None:
    result = choropleth([MapArea("X1", "Gen", 0.02, "/x", None)], title="t")
    assert result.svg is None and result.unmapped == ("Gen",)


def test_class_breaks_are_quantiles_and_never_leave_an_empty_class() -> None:
    assert class_breaks([0.5] * 7) == []
    assert class_breaks([1.0, 2.0, 3.0]) == [1.0, 2.0]
    breaks = class_breaks([float(v) for v in range(1, 101)])
    assert len(breaks) == 4 and breaks == sorted(breaks)
    with pytest.raises(ValueError, match="classes: expected 1 or more, got 0"):
        class_breaks([1.0], 0)


def test_the_projection_keeps_proportions_at_the_latitude_and_puts_north_up() -> None:
    to_xy, height = project([square(-0.1, 51.5, size=0.1)], width=216)
    x0, y_south = to_xy(-0.1, 51.5)
    x1, y_north = to_xy(0.0, 51.6)
    assert y_north < y_south  # north up
    width_px, height_px = x1 - x0, y_south - y_north
    # a degree of longitude is cos(latitude) of a degree of latitude
    assert width_px / height_px == pytest.approx(0.6225, abs=0.01)
    assert height == pytest.approx(height_px + 16, abs=1e-6)


def test_holes_and_multipolygons_are_drawn_as_evenodd_subpaths() -> None:
    outer = square(0, 51, 0.1)["coordinates"][0]
    hole = square(0.03, 51.03, 0.02)["coordinates"][0]
    multi = {
        "type": "MultiPolygon",
        "coordinates": [[outer, hole], [square(0.2, 51)["coordinates"][0]]],
    }
    result = choropleth([MapArea("M", "Multi", 0.1, "/m", multi)], title="t")
    d = re.search(r' d="([^"]+)"', str(result.svg))
    assert d is not None and d.group(1).count("M") == 3 and d.group(1).count("Z") == 3


def collection(*features: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **extra}


def feature(code: Any, geometry: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code, "name": "n"}, "geometry": geometry}


def test_the_adapter_reads_shapes_by_code_once_per_level() -> None:
    calls: list[str] = []

    def provider(level: str) -> dict[str, Any] | None:
        calls.append(level)
        return collection(feature("E01", square(0, 51)), feature("E02", None))

    boundaries = Boundaries(provider)
    shapes = boundaries.level("lsoa")
    assert list(shapes.geometries) == ["E01"] and shapes.attribution == OGL_ATTRIBUTION
    assert boundaries.level("lsoa") is shapes and calls == ["lsoa"]
    assert len(boundaries.level("bcu")) == 0 and calls == ["lsoa"]  # BCUs are not mapped


def test_the_adapter_refuses_a_collection_naming_the_feature_and_field() -> None:
    with pytest.raises(BoundaryError, match="expected a GeoJSON FeatureCollection"):
        level_shapes({"type": "Feature"}, "ward")
    with pytest.raises(BoundaryError, match=r"feature 1: expected a string 'properties.code'"):
        level_shapes(collection(feature("E01", None), feature(7, None)), "ward")
    with pytest.raises(BoundaryError, match=r"feature 0 \(E01\): expected 'geometry'"):
        level_shapes(collection(feature("E01", {"type": "Point", "coordinates": [0, 0]})), "ward")
    named = level_shapes(collection(attribution="Own licence"), "ward")
    assert named.attribution == "Own licence"


def test_rings_are_rewound_to_the_right_hand_rule() -> None:
    ccw = square(0, 51)["coordinates"][0]
    cw = list(reversed(ccw))
    hole_ccw = square(0.002, 51.002, 0.005)["coordinates"][0]
    shapes = level_shapes(
        collection(
            feature("E01", {"type": "Polygon", "coordinates": [cw, hole_ccw]}),
            feature("E02", {"type": "MultiPolygon", "coordinates": [[ccw]]}),
        ),
        "lsoa",
    )
    fixed = shapes.geometries["E01"]["coordinates"]
    assert fixed[0] == ccw and fixed[1] == list(reversed(hole_ccw))
    assert shapes.geometries["E02"]["coordinates"] == [[ccw]]  # already right: kept as it was
    assert rewound(shapes.geometries["E01"]) is shapes.geometries["E01"]
