"""Benchmark how long the server takes to verify and load a London-sized release.

Issue 15's target: with every check on, verifying a London-sized release at load takes at
most 2 seconds. What one load does here is what the server does at start-up and on every
release change (:meth:`serving.releases.ReleaseLibrary.load`): read and validate the manifest;
verify the board's signed approval against the roster; verify the operator's signature over
the manifest; hash every data file against its signed SHA-256; check the signed disclosure
rules against the server's floor; re-run :func:`governance.disclosure.check_no_individuals`
on the table; build the catalogue the routes answer from.

The release is the one ``bench_serve.py`` serves (4,835 LSOAs, 625 wards, 33 boroughs,
12 BCUs and the city; 11 factors), written once; each of ``--repeats`` loads (default 7) is a
fresh library in this process, timed with ``time.perf_counter``. Reported: every load's
seconds, the median and the worst, and whether the worst is within the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _measure import Json, clean_up, log, publish, report_head
from bench_serve import BENCH_DIR, write_release

from serving.releases import ReleaseLibrary

TARGET_S = 2.0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="Loads to time.")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory.")
    return parser.parse_args(argv)


def _time_loads(releases: Path, board_b64: str, release_b64: str, repeats: int) -> list[float]:
    """Seconds of each full load (verification and catalogue) by a fresh library."""
    seconds = []
    for i in range(repeats):
        start = time.perf_counter()
        catalog = ReleaseLibrary(releases, board_b64, release_key_b64=release_b64).load()
        seconds.append(round(time.perf_counter() - start, 3))
        log(f"load {i + 1}/{repeats}: {seconds[-1]} s ({catalog.release_id})")
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Write the release, time its loads; print the JSON report and write it under ``--out``."""
    args = _parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vru-bench-load-"))
    log("writing a London-sized release with a signed approval and manifest")
    board_b64, release_b64 = write_release(work / "releases", work / "board")
    seconds = _time_loads(work / "releases", board_b64, release_b64, args.repeats)
    report: Json = {
        **report_head("release_load"),
        "areas": "4835 LSOAs, 625 wards, 33 boroughs, 12 BCUs, the city; 11 factors",
        "load_seconds": seconds,
        "median_s": round(statistics.median(seconds), 3),
        "max_s": max(seconds),
        "target_max_s": TARGET_S,
        "met": max(seconds) <= TARGET_S,
    }
    publish(args.out, "release-load", report)
    clean_up(work, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
