"""Area boundaries for the maps and the GeoJSON download: one small adapter, read once per level.

The boundaries come from the geography package (``governance.geography.boundaries(level)``:
a GeoJSON FeatureCollection in WGS84 whose features carry ``properties.code``, the ONS code,
and ``properties.name``). Until that package is installed, and for a city it has no shapes
for (a generated city, codes starting ``X``), a level simply has no geometry: the map page
then says so and shows the table only, and the GeoJSON features carry ``geometry: null``
(RFC 7946 section 3.2: an unlocated feature).

:class:`Boundaries` is what the app holds (``app.state.boundaries``): a provider (any
``level -> FeatureCollection or None``, so tests and the bench hand it shapes built in code),
each level's shapes checked and kept after the first read. Only the shapes' outlines and
names are read: nothing in a boundary file is about a person.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import Any

__all__ = [
    "MAPPED_LEVELS",
    "OGL_ATTRIBUTION",
    "Boundaries",
    "BoundaryError",
    "BoundaryProvider",
    "LevelShapes",
    "geography_provider",
    "level_shapes",
    "rewound",
]

MAPPED_LEVELS: tuple[str, ...] = ("lsoa", "ward", "borough")
"""Levels drawn as maps (the geography package also knows ``msoa``; BCUs have no shapes)."""
OGL_ATTRIBUTION = (
    "Boundaries: Office for National Statistics, licensed under the Open Government Licence "
    "v3.0. Contains OS data © Crown copyright and database right. Source: ONS Open Geography "
    "Portal (simplified)."
)
"""Said with every map and download that carries boundaries, unless the boundaries name their own."""

BoundaryProvider = Callable[[str], Mapping[str, Any] | None]
"""``level -> GeoJSON FeatureCollection`` (WGS84), or None where the level has no shapes."""

_GEOMETRY_TYPES = frozenset({"Polygon", "MultiPolygon"})


class BoundaryError(ValueError):
    """A boundary FeatureCollection that is not what the maps read; names the field."""


@dataclass(frozen=True)
class LevelShapes:
    """One level's shapes: GeoJSON geometry by area code, and the attribution to show."""

    geometries: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    attribution: str = OGL_ATTRIBUTION

    def __len__(self) -> int:
        return len(self.geometries)


def geography_provider(level: str) -> Mapping[str, Any] | None:
    """The geography package's boundaries of ``level``, or None where there are none.

    Imported by name when first asked, so the server runs (table only) where the package is
    not installed.
    """
    try:
        geography = importlib.import_module("governance.geography")
    except ImportError:
        return None
    loader = getattr(geography, "boundaries", None)
    if loader is None:
        return None
    try:
        collection: Mapping[str, Any] | None = loader(level)
    except (KeyError, LookupError, FileNotFoundError, ValueError):
        return None
    attribution = getattr(geography, "ATTRIBUTION", None)
    if collection is not None and "attribution" not in collection and isinstance(attribution, str):
        collection = {**collection, "attribution": attribution}  # the package's own line
    return collection


def level_shapes(collection: Mapping[str, Any] | None, level: str) -> LevelShapes:
    """The shapes of a FeatureCollection, by ``properties.code``; checked, never guessed.

    Raises
    ------
    BoundaryError
        If it is not a FeatureCollection, a feature has no string ``properties.code``, or a
        geometry is not a Polygon or MultiPolygon with coordinates; the message names the
        level, the feature's index and the field.
    """
    if collection is None:
        return LevelShapes()
    if collection.get("type") != "FeatureCollection" or not isinstance(
        collection.get("features"), list
    ):
        raise BoundaryError(
            f"boundaries of level '{level}': expected a GeoJSON FeatureCollection with a "
            "'features' list"
        )
    geometries: dict[str, Mapping[str, Any]] = {}
    for i, feature in enumerate(collection["features"]):
        props = feature.get("properties") if isinstance(feature, Mapping) else None
        code = props.get("code") if isinstance(props, Mapping) else None
        if not isinstance(code, str) or not code:
            raise BoundaryError(
                f"boundaries of level '{level}': feature {i}: expected a string "
                "'properties.code' (the ONS code)"
            )
        geometry = feature.get("geometry")
        if geometry is None:
            continue
        if (
            not isinstance(geometry, Mapping)
            or geometry.get("type") not in _GEOMETRY_TYPES
            or not isinstance(geometry.get("coordinates"), list)
        ):
            raise BoundaryError(
                f"boundaries of level '{level}': feature {i} ({code}): expected 'geometry' "
                "to be a Polygon or MultiPolygon with 'coordinates'"
            )
        geometries[code] = rewound(geometry)
    attribution = collection.get("attribution")
    return LevelShapes(
        MappingProxyType(geometries),
        attribution if isinstance(attribution, str) and attribution else OGL_ATTRIBUTION,
    )


def _signed_area(ring: list[Any]) -> float:
    """Twice the ring's signed area in degrees (shoelace): positive when counter-clockwise."""
    return sum(
        float(x0) * float(y1) - float(x1) * float(y0)
        for (x0, y0, *_), (x1, y1, *_) in pairwise(ring)
    )


def _rewind_polygon(polygon: list[Any]) -> list[Any]:
    """The polygon with its exterior ring counter-clockwise and its holes clockwise."""
    out = []
    for i, ring in enumerate(polygon):
        area = _signed_area(ring)
        wrong = area < 0 if i == 0 else area > 0
        out.append(list(reversed(ring)) if wrong else ring)
    return out


def rewound(geometry: Mapping[str, Any]) -> Mapping[str, Any]:
    """The geometry with RFC 7946's right-hand rule (section 3.1.6), which GIS tools expect.

    Exterior rings counter-clockwise, holes clockwise; a geometry that follows it already is
    returned as it is.
    """
    coords = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        fixed: list[Any] = _rewind_polygon(coords)
    else:
        fixed = [_rewind_polygon(polygon) for polygon in coords]
    if fixed == coords:
        return geometry
    return {**geometry, "coordinates": fixed}


class Boundaries:
    """Each mapped level's shapes, read from ``provider`` the first time a level is asked for."""

    def __init__(self, provider: BoundaryProvider = geography_provider) -> None:
        self.provider = provider
        self._levels: dict[str, LevelShapes] = {}
        self._lock = threading.Lock()

    def level(self, level: str) -> LevelShapes:
        """The shapes of ``level`` (none for a level that is not mapped)."""
        shapes = self._levels.get(level)
        if shapes is not None:
            return shapes
        with self._lock:
            if level not in self._levels:
                collection = self.provider(level) if level in MAPPED_LEVELS else None
                self._levels[level] = level_shapes(collection, level)
            return self._levels[level]
