"""Benchmark every planner page, map and download on a London-sized release: p50/p95, warm.

Issue 18's target: for a London-sized release (4,835 LSOAs), every page, map, GeoJSON and CSV
response within 300 ms at the 95th percentile on this machine, a single planner, warm server.

What runs: the release ``bench_serve.py`` serves (4,835 LSOAs, 625 wards, 33 boroughs,
12 BCUs, the city; 11 factors; about 3% of LSOAs withheld), and boundaries made up for its
codes (:func:`boundaries`: every borough a rectangle on London's extent, its wards a grid
inside it, their LSOAs a grid inside each ward; each outline with as many vertices as a
simplified ONS boundary has: 32 per LSOA and ward, 120 per borough). The real app
(``serving.app:create_app``) runs under uvicorn (one worker, uvloop, httptools) in a child
process, with those boundaries on ``app.state.boundaries`` (:func:`bench_app`). One client,
one request at a time over loopback (a single planner): the API routes with a planner key,
the map pages with a signed-in session. Each endpoint is asked once cold (the body or map
is built and kept) and then ``--requests`` times (default 40); each request is timed from
sending to the last byte read. Reported per endpoint: the cold time, p50 and p95 of the
warm ones, the body's size as sent, and whether p95 is within the target. The LSOA GeoJSON
is asked for twice: as is, and gzipped (``Accept-Encoding: gzip``).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from itertools import pairwise
from pathlib import Path
from typing import Any

from _measure import Json, clean_up, log, publish, report_head
from bench_serve import BENCH_DIR, SIZES, _configure, server

TARGET_P95_MS = 300.0
WEST, EAST, SOUTH, NORTH = -0.51, 0.33, 51.28, 51.69
ENDPOINTS = (
    ("api", "/v1/areas.geojson?level=lsoa"),
    ("api", "/v1/areas.geojson?level=ward"),
    ("api", "/v1/areas.geojson?level=borough"),
    ("api-gzip", "/v1/areas.geojson?level=lsoa"),
    ("api", "/v1/areas.csv?level=lsoa"),
    ("api", "/v1/areas.csv?level=ward"),
    ("api", "/v1/areas.csv/metadata?level=lsoa"),
    ("page", "/planner/map/lsoa"),
    ("page", "/planner/map/ward"),
    ("page", "/planner/map/borough"),
    ("page", "/planner/map/lsoa?parent=E09000000"),
    # every other planner page, and the API's own area routes, on the same release
    ("page", "/planner"),
    ("page", "/planner?level=borough"),
    ("page", "/planner?level=ward"),
    ("page", "/planner?level=lsoa"),
    ("page", "/planner?level=lsoa&parent=E05000000"),
    ("page", "/planner/areas/city"),
    ("page", "/planner/areas/E09000000"),
    ("page", "/planner/areas/E05000000"),
    ("page", "/planner/areas/E01000000"),
    ("page", "/planner/map"),
    ("page", "/planner/areas.csv?level=lsoa"),
    ("page", "/planner/download/areas.geojson?level=lsoa"),
    ("api", "/v1/areas?level=lsoa"),
    ("api", "/v1/areas/E01000000"),
    ("api", "/v1/areas/E01000000/history"),
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# -- boundaries for the release's codes ----------------------------------------------------


def _outline(west: float, south: float, east: float, north: float, per_edge: int) -> list[Any]:
    """A closed counter-clockwise rectangle with ``per_edge`` points on each edge."""
    ring: list[list[float]] = []
    corners = [(west, south), (east, south), (east, north), (west, north), (west, south)]
    for (x0, y0), (x1, y1) in pairwise(corners):
        for k in range(per_edge):
            t = k / per_edge
            ring.append([round(x0 + (x1 - x0) * t, 6), round(y0 + (y1 - y0) * t, 6)])
    ring.append(ring[0])
    return [ring]


def _grid(
    box: tuple[float, float, float, float], n: int
) -> list[tuple[float, float, float, float]]:
    """``n`` cells of ``box`` in a near-square grid, row by row."""
    west, south, east, north = box
    cols = max(1, round(n**0.5))
    rows = -(-n // cols)
    w, h = (east - west) / cols, (north - south) / rows
    return [
        (
            west + (i % cols) * w,
            south + (i // cols) * h,
            west + (i % cols + 1) * w,
            south + (i // cols + 1) * h,
        )
        for i in range(n)
    ]


def boundaries() -> dict[str, Json]:
    """FeatureCollections of the bench release's boroughs, wards and LSOAs, by level."""
    boxes: dict[str, dict[str, tuple[float, float, float, float]]] = {
        "borough": {},
        "ward": {},
        "lsoa": {},
    }
    children: dict[str, dict[int, list[int]]] = {"ward": {}, "lsoa": {}}
    for j in range(SIZES["ward"]):
        children["ward"].setdefault(j % SIZES["borough"], []).append(j)
    for i in range(SIZES["lsoa"]):
        children["lsoa"].setdefault(i % SIZES["ward"], []).append(i)
    for b, box in enumerate(_grid((WEST, SOUTH, EAST, NORTH), SIZES["borough"])):
        boxes["borough"][f"E09{b:06d}"] = box
        wards = children["ward"].get(b, [])
        for w, wbox in zip(wards, _grid(box, len(wards)), strict=True):
            boxes["ward"][f"E05{w:06d}"] = wbox
            lsoas = children["lsoa"].get(w, [])
            for i, lbox in zip(lsoas, _grid(wbox, len(lsoas)), strict=True):
                boxes["lsoa"][f"E01{i:06d}"] = lbox
    per_edge = {"borough": 30, "ward": 8, "lsoa": 8}
    return {
        level: {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"code": code, "name": code},
                    "geometry": {"type": "Polygon", "coordinates": _outline(*box, per_edge[level])},
                }
                for code, box in by_code.items()
            ],
        }
        for level, by_code in boxes.items()
    }


def bench_app() -> Any:
    """The real app, with the boundaries in ``BENCH_BOUNDARIES`` (uvicorn ``--factory``)."""
    from serving.app import create_app
    from serving.geometry import Boundaries

    shapes = json.loads(Path(os.environ["BENCH_BOUNDARIES"]).read_text())
    app = create_app()
    app.state.boundaries = Boundaries(shapes.get)
    return app


# -- the client: one planner ---------------------------------------------------------------


def _opener(base: str, token: str) -> urllib.request.OpenerDirector:
    """A browser signed in with ``token`` (the session cookie kept)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(base + "/signin") as response:
        found = _CSRF.search(response.read().decode())
    assert found is not None, "no CSRF token on the sign-in page"
    form = urllib.parse.urlencode({"csrf_token": found.group(1), "api_key": token, "next": ""})
    with opener.open(base + "/signin", data=form.encode()) as response:
        response.read()
    return opener


def _timed(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request
) -> tuple[float, int]:
    """Milliseconds from sending ``request`` to its last byte, and the body's size."""
    start = time.perf_counter()
    with opener.open(request) as response:
        if response.status != 200:
            raise RuntimeError(f"{request.full_url}: HTTP {response.status}")
        size = len(response.read())
    return (time.perf_counter() - start) * 1000, size


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(base: str, token: str, requests: int) -> list[Json]:
    """Each endpoint: cold once, then ``requests`` warm, one at a time."""
    browser = _opener(base, token)
    api = urllib.request.build_opener()
    results = []
    for kind, path in ENDPOINTS:
        headers = {"Authorization": f"Bearer {token}"} if kind.startswith("api") else {}
        if kind == "api-gzip":
            headers["Accept-Encoding"] = "gzip"  # the body as sent, compressed
        opener = api if kind.startswith("api") else browser
        cold, size = _timed(opener, urllib.request.Request(base + path, headers=headers))
        warm = [
            _timed(opener, urllib.request.Request(base + path, headers=headers))[0]
            for _ in range(requests)
        ]
        p50, p95 = statistics.median(warm), _percentile(warm, 0.95)
        log(f"{path}: cold {cold:.0f} ms, p50 {p50:.1f} ms, p95 {p95:.1f} ms, {size:,} bytes")
        results.append(
            {
                "endpoint": f"GET {path}" + (" (gzip)" if kind == "api-gzip" else ""),
                "bytes": size,
                "cold_ms": round(cold, 1),
                "p50_ms": round(p50, 1),
                "p95_ms": round(p95, 1),
                "max_ms": round(max(warm), 1),
                "requests": requests,
                "within_target": p95 <= TARGET_P95_MS,
            }
        )
    return results


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="Warm requests per endpoint.")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write the release and boundaries, serve them, time each endpoint; print the JSON."""
    args = _parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vru-bench-maps-"))
    _, token, env = _configure(work)
    governance = work / "governance.yaml"  # a demo server: its session cookie is not Secure
    governance.write_text(json.dumps({**json.loads(governance.read_text()), "environment": "demo"}))
    shapes = work / "boundaries.json"
    shapes.write_text(json.dumps(boundaries()))
    env["BENCH_BOUNDARIES"] = str(shapes)
    with server("bench_maps:bench_app", 1, env, "/healthz") as base:
        results = measure(base, token, args.requests)
    report: Json = {
        **report_head("maps"),
        "release": {**SIZES, "note": "bench_serve.py's release; boundaries made up for its codes"},
        "target_p95_ms": TARGET_P95_MS,
        "endpoints": results,
        "all_within_target": all(r["within_target"] for r in results),
    }
    publish(args.out, "maps", report)
    clean_up(work, keep=args.keep)
    return 0 if report["all_within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
