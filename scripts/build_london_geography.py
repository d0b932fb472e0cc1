"""Build the London reference geography shipped in ``governance/geography/data/``.

Run by hand when the sources change (not by tests or CI; the outputs are committed)::

    python scripts/build_london_geography.py /work/shared/data/london governance/geography/data

Needs shapely (>= 2.1, for ``coverage_simplify``) and pyproj, which are build-time only
(``pip install '.[geo-build]'``); the product reads the outputs with json and pandas.

What it writes, from the public files described in the sources' README:

* ``london_lsoa.csv``: one row per 2011 LSOA (4,835): LSOA → MSOA → ward (Dec 2019, best fit)
  → borough → police BCU, IMD 2019 rank and decile, ONS mid-2019 population (all ages, 0-15,
  16-29).
* ``lsoa.geojson``, ``msoa.geojson``, ``ward.geojson``, ``borough.geojson``,
  ``bcu.geojson`` (the Metropolitan Police BCUs and the City of London): boundaries in
  WGS84 (RFC 7946: lon/lat, exterior rings anticlockwise), coordinates to 5 decimals (about
  1 m). Wards, MSOAs, boroughs and BCUs are dissolved from the LSOAs before simplifying, and every
  level is simplified as one coverage, so neighbours keep sharing their edges (no gaps or
  overlaps appear between areas).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

#: Douglas-Peucker-like tolerance of the coverage simplification, in metres (BNG), per level.
TOLERANCE_M = {"lsoa": 80.0, "msoa": 80.0, "ward": 80.0, "borough": 120.0, "bcu": 120.0}
#: Gaps between source LSOAs narrower than this (metres) are closed when cleaning.
GAP_WIDTH_M = 20.0
DECIMALS = 5
IMD_RANK = "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)"
IMD_DECILE = "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)"
CITY_POLICE = ("COLP", "City of London Police")


def build_lookup(src: Path) -> pd.DataFrame:
    """One row per LSOA with its parents, BCU, IMD 2019 and mid-2019 population."""
    read = lambda name: pd.read_csv(src / name, dtype=str, keep_default_na=False)  # noqa: E731
    lookup = read("lsoa11_ward19_lad19_london.csv")
    bounds = read("boundaries_lsoa11_london_bng.csv")
    bcu = read("borough_to_police_bcu_london.csv")
    imd = read("imd2019_lsoa11_london_ranks_deciles.csv")
    pop = read("population_mid2019_lsoa11_london.csv")
    bcu.loc[bcu["bcu_code"] == "", ["bcu_code", "bcu_name"]] = list(CITY_POLICE)
    out = pd.DataFrame(
        {
            "lsoa_code": lookup["LSOA11CD"],
            "lsoa_name": lookup["LSOA11NM"],
            "ward_code": lookup["WD19CD"],
            "ward_name": lookup["WD19NM"],
            "borough_code": lookup["LAD19CD"],
            "borough_name": lookup["LAD19NM"],
        }
    )
    msoa = bounds.set_index("LSOA11CD")[["MSOA11CD", "MSOA11NM"]]
    out["msoa_code"] = out["lsoa_code"].map(msoa["MSOA11CD"])
    out["msoa_name"] = out["lsoa_code"].map(msoa["MSOA11NM"])
    bcu = bcu.set_index("LAD19CD")
    out["bcu_code"] = out["borough_code"].map(bcu["bcu_code"])
    out["bcu_name"] = out["borough_code"].map(bcu["bcu_name"])
    imd = imd.set_index("LSOA code (2011)")
    out["imd_rank"] = out["lsoa_code"].map(imd[IMD_RANK]).astype(int)
    out["imd_decile"] = out["lsoa_code"].map(imd[IMD_DECILE]).astype(int)
    pop = pop.set_index("LSOA11CD")
    out["population_all_ages"] = out["lsoa_code"].map(pop["Persons_All-Ages"]).astype(int)
    out["population_0_15"] = out["lsoa_code"].map(pop["Persons_0-15"]).astype(int)
    out["population_16_29"] = out["lsoa_code"].map(pop["Persons_16-29"]).astype(int)
    if out.isna().any().any():
        missing = out.columns[out.isna().any()].tolist()
        raise SystemExit(f"LSOAs without a value in {missing}")
    columns = [
        "lsoa_code", "lsoa_name", "msoa_code", "msoa_name", "ward_code", "ward_name",
        "borough_code", "borough_name", "bcu_code", "bcu_name", "imd_rank", "imd_decile",
        "population_all_ages", "population_0_15", "population_16_29",
    ]  # fmt: skip
    return out.loc[:, columns].sort_values("lsoa_code", ignore_index=True)


def lsoa_polygons(src: Path, codes: pd.Series) -> np.ndarray:
    """The LSOA polygons in BNG metres, in the order of ``codes``, as one clean coverage.

    The source polygons were simplified one by one, so neighbours' edges do not quite match;
    ``coverage_clean`` snaps them together (its automatic snapping distance) and gives each
    sliver gap narrower than :data:`GAP_WIDTH_M` to a neighbour, so that every later step
    (dissolving, simplifying) keeps shared edges shared and wards have no pinholes.
    """
    bounds = pd.read_csv(src / "boundaries_lsoa11_london_bng.csv", dtype=str)
    geoms = shapely.from_wkt(bounds.set_index("LSOA11CD").loc[codes, "geometry"].to_numpy())
    geoms = np.array([_polygonal(g) for g in shapely.make_valid(geoms)], dtype=object)
    clean = shapely.coverage_clean(shapely.orient_polygons(geoms), gap_width=GAP_WIDTH_M)
    ratio = shapely.area(clean) / shapely.area(geoms)
    if not shapely.coverage_is_valid(clean) or ratio.min() < 0.9 or ratio.max() > 1.1:
        raise SystemExit(f"cleaning moved an LSOA too far (area ratio {ratio.min():.3f}..)")
    return clean


def _to_wgs84(geom: shapely.Geometry, transformer: Transformer) -> shapely.Geometry:
    def move(xy: np.ndarray) -> np.ndarray:
        lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, move)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Only the polygon parts (a repair may leave stray lines or points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def features(
    codes: list[str], names: list[str], geoms: np.ndarray, extra: list[dict[str, str]], level: str
) -> dict:
    """A FeatureCollection: simplified as one coverage, to WGS84, right-hand rule."""
    simple = shapely.coverage_simplify(geoms, TOLERANCE_M[level])
    transformer = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    out = []
    for code, name, geom, props in zip(codes, names, simple, extra, strict=True):
        # round every vertex to 5 decimals (a shared vertex stays shared); the few polygons
        # that rounding makes invalid (a ring touching itself) are snapped to the grid by
        # GEOS instead, which may leave their edges up to about a metre off a neighbour's
        wgs84 = _to_wgs84(geom, transformer)
        geom = shapely.transform(wgs84, lambda xy: np.round(xy, DECIMALS))
        if not geom.is_valid:
            geom = _polygonal(shapely.set_precision(wgs84, 10.0**-DECIMALS))
        geom = shapely.orient_polygons(geom, exterior_cw=False)
        geom = shapely.transform(geom, lambda xy: np.round(xy, DECIMALS))
        if geom.is_empty or not geom.is_valid:
            raise SystemExit(f"{level} {code}: empty or invalid after simplification")
        out.append(
            {
                "type": "Feature",
                "id": code,
                "properties": {"code": code, "name": name, **props},
                "geometry": json.loads(shapely.to_geojson(geom)),
            }
        )
    return {"type": "FeatureCollection", "features": out}


def dissolve(
    lookup: pd.DataFrame, geoms: np.ndarray, level: str
) -> tuple[list, list, np.ndarray, list]:
    """The areas of ``level`` as unions of their LSOAs (exact, before any simplification)."""
    parents = {
        "msoa": ["borough_code"],
        "ward": ["borough_code"],
        "borough": ["bcu_code"],
        "bcu": [],
    }[level]
    codes, names, unions, extra = [], [], [], []
    for code, rows in lookup.groupby(f"{level}_code", sort=True).groups.items():
        first = lookup.loc[rows[0]]
        codes.append(code)
        names.append(first[f"{level}_name"])
        unions.append(shapely.coverage_union_all(geoms[np.asarray(rows)]))
        extra.append({p.removesuffix("_code"): first[p] for p in parents})
    return codes, names, np.array([_polygonal(g) for g in unions], dtype=object), extra


def main(argv: list[str] | None = None) -> int:
    """Build every file and say how big each boundary file came out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="the shared London data directory")
    parser.add_argument("target", type=Path, help="governance/geography/data")
    args = parser.parse_args(argv)
    lookup = build_lookup(args.source)
    args.target.mkdir(parents=True, exist_ok=True)
    lookup.to_csv(args.target / "london_lsoa.csv", index=False, lineterminator="\n")
    geoms = lsoa_polygons(args.source, lookup["lsoa_code"])
    levels = {
        "lsoa": (
            lookup["lsoa_code"].tolist(),
            lookup["lsoa_name"].tolist(),
            geoms,
            [{"borough": b} for b in lookup["borough_code"]],
        ),
        **{level: dissolve(lookup, geoms, level) for level in ("msoa", "ward", "borough", "bcu")},
    }
    for level, (codes, names, polys, extra) in levels.items():
        collection = features(codes, names, polys, extra, level)
        path = args.target / f"{level}.geojson"
        path.write_text(json.dumps(collection, separators=(",", ":"), ensure_ascii=False) + "\n")
        sys.stdout.write(f"{path}: {len(codes)} features, {path.stat().st_size / 1e6:.2f} MB\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
