"""London's public reference geography, shipped with the product (Open Government Licence).

Read-only package data built by ``scripts/build_london_geography.py`` from ONS and MHCLG
files (sources and attribution in ``data/README.md``):

* :func:`london_lookup`: the 4,835 LSOAs (2011) of London with their MSOA, ward (Dec 2019,
  best fit), borough and Metropolitan Police BCU, IMD 2019 rank and decile, and the ONS
  mid-2019 population (all ages, 0-15, 16-29).
* :func:`boundaries`: simplified boundaries of one level as a GeoJSON FeatureCollection in
  WGS84 (RFC 7946: lon/lat, exterior rings anticlockwise); each feature's ``id`` and
  ``properties.code`` are the area's code (ONS codes; for BCUs the Met's two-letter code, or
  ``COLP``) and ``properties.name`` its name; ``properties.borough`` (LSOA, MSOA, ward) and
  ``properties.bcu`` (borough) name the parent. MSOA, ward, borough and BCU shapes are
  unions of their LSOAs.

Pure pandas and json: no geometry library at run time, so training and serving may both
import it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, get_args

import pandas as pd

__all__ = [
    "ATTRIBUTION",
    "BOUNDARY_LEVELS",
    "LOOKUP_COLUMNS",
    "BoundaryLevel",
    "boundaries",
    "boundaries_bytes",
    "london_lookup",
]

BoundaryLevel = Literal["lsoa", "msoa", "ward", "borough", "bcu"]
BOUNDARY_LEVELS: tuple[BoundaryLevel, ...] = get_args(BoundaryLevel)

#: The lookup's columns, in order; codes and names are strings, the rest integers.
LOOKUP_COLUMNS: tuple[str, ...] = (
    "lsoa_code",
    "lsoa_name",
    "msoa_code",
    "msoa_name",
    "ward_code",
    "ward_name",
    "borough_code",
    "borough_name",
    "bcu_code",
    "bcu_name",
    "imd_rank",
    "imd_decile",
    "population_all_ages",
    "population_0_15",
    "population_16_29",
)
_INTEGER_COLUMNS = (
    "imd_rank",
    "imd_decile",
    "population_all_ages",
    "population_0_15",
    "population_16_29",
)

#: The line to print wherever these data are shown or shipped.
ATTRIBUTION = (
    "Contains public sector information licensed under the Open Government Licence v3.0: "
    "ONS (LSOA, MSOA, ward and borough lookups and boundaries; mid-2019 population "
    "estimates), MHCLG (English Indices of Deprivation 2019). Contains OS data © Crown "
    "copyright and database right 2022."
)

_PACKAGE = "governance.geography"


def london_lookup() -> pd.DataFrame:
    """One row per London LSOA (2011), sorted by LSOA code; a fresh copy on every call."""
    return _lookup().copy()


def boundaries(level: BoundaryLevel) -> dict[str, Any]:
    """The boundaries of ``level`` as a GeoJSON FeatureCollection (a fresh dict per call).

    Raises ``ValueError`` naming the allowed levels for any other ``level``.
    """
    return json.loads(boundaries_bytes(level))  # type: ignore[no-any-return]


def boundaries_bytes(level: BoundaryLevel) -> bytes:
    """The same FeatureCollection as UTF-8 JSON bytes, read once and kept (for serving)."""
    if level not in BOUNDARY_LEVELS:
        raise ValueError(f"level must be one of {list(BOUNDARY_LEVELS)}, got {level!r}")
    return _read_bytes(f"{level}.geojson")


@lru_cache(maxsize=1)
def _lookup() -> pd.DataFrame:
    with resources.files(_PACKAGE).joinpath("data/london_lsoa.csv").open(encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return frame.astype(dict.fromkeys(_INTEGER_COLUMNS, "int64")).loc[:, list(LOOKUP_COLUMNS)]


@lru_cache(maxsize=len(BOUNDARY_LEVELS))
def _read_bytes(name: str) -> bytes:
    return resources.files(_PACKAGE).joinpath(f"data/{name}").read_bytes()
