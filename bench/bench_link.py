"""Benchmark `vru link`: time, CPU and peak memory at each size, and linkage quality.

For each size a city is generated (`vru generate`, timed too) and then linked (`vru link`),
each in its own process, so that peak memory belongs to that stage alone. Quality comes from
the linkage report (pairwise precision, recall and F1 against the generator's truth, and the
gap in recall between ethnic groups).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

from _measure import Json, log, machine, measure, write_result

BENCH_DIR = Path(__file__).resolve().parent
VRU = str(Path(sys.executable).parent / "vru")
TARGETS = {
    "wall_s_1m_max": 900.0,
    "peak_rss_mb_1m_max": 12288.0,
    "precision_min": 0.98,
    "recall_min": 0.95,
}


def bench_size(persons: int, seed: int, workdir: Path, keep: bool, reuse: bool = False) -> Json:
    """Generate and link one city; return the measurements and the report's figures.

    With ``reuse``, a city already generated in ``workdir`` (an earlier ``--keep``) is linked
    again instead of generated anew; its generation is then not measured.
    """
    data = workdir / f"city-{persons}"
    generate: Json | None = None
    if reuse and (data / "manifest.json").is_file():
        log(f"reusing the generated city of {persons:,} persons in {data}")
    else:
        log(f"generating {persons:,} persons")
        generate = measure(
            [VRU, "generate", "-q", "--data", str(data), "-n", str(persons), "--seed", str(seed)],
            BENCH_DIR.parent,
        )
    log(f"linking {persons:,} persons")
    link = measure([VRU, "link", "-q", "--data", str(data), "--seed", str(seed)], BENCH_DIR.parent)
    run: Json = {"persons": persons, "generate": generate, "link": link}
    if link["exit_code"] == 0:
        report = json.loads((data / "linked/report.json").read_text())
        overall = report["quality"]["overall"]
        recall = {g: v["recall"] for g, v in report["quality"]["by_group"]["ethnicity"].items()}
        run.update(
            records=report["records"],
            profiles=sum(report["profiles_per_source"].values()),
            persons_linked=report["persons"],
            scored_pairs_kept=report["scored_pairs_kept"],
            stage_timings_s=report["timings_s"],
            peak_rss_mb_after_stage=report.get("peak_rss_mb_after"),
            precision=overall["precision"],
            recall=overall["recall"],
            f1=overall["f1"],
            recall_by_ethnicity=recall,
            recall_gap_ethnicity=max(recall.values()) - min(recall.values()),
        )
        log(
            f"{persons:,}: link wall {link['wall_s']} s, peak {link['peak_rss_mb']} MiB, "
            f"precision {overall['precision']:.4f}, recall {overall['recall']:.4f}"
        )
    if not keep:
        shutil.rmtree(data, ignore_errors=True)
    return run


def growth_exponents(by_size: dict[int, Json]) -> Json:
    """Exponents k in cost ∝ persons^k between the smallest and largest sizes linked.

    For link's wall time, CPU time and peak memory, and for each step's time in the report.
    """
    small, large = by_size[min(by_size)], by_size[max(by_size)]
    scale = math.log(large["persons"] / small["persons"])

    def k(a: float, b: float) -> float | None:
        return round(math.log(b / a) / scale, 2) if a > 0 and b > 0 else None

    steps = small.get("stage_timings_s", {}).keys() & large.get("stage_timings_s", {}).keys()
    return {
        "between": [small["persons"], large["persons"]],
        **{m: k(small["link"][m], large["link"][m]) for m in ("wall_s", "cpu_s", "peak_rss_mb")},
        "steps": {
            s: k(small["stage_timings_s"][s], large["stage_timings_s"][s]) for s in sorted(steps)
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON report and write it under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=20180919)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--workdir", type=Path, help="where cities go (default: a /tmp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    parser.add_argument(
        "--reuse", action="store_true", help="link cities kept in --workdir instead of generating"
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vru-bench-link-"))
    runs = [bench_size(n, args.seed, workdir, args.keep, args.reuse) for n in args.sizes]
    by_size = {r["persons"]: r for r in runs if r["link"]["exit_code"] == 0}
    report: Json = {
        "benchmark": "link",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "seed": args.seed,
        "runs": runs,
        "targets": TARGETS,
    }
    if 100_000 in by_size and 1_000_000 in by_size:
        small, large = by_size[100_000]["link"], by_size[1_000_000]["link"]
        report["growth_1m_over_100k"] = {
            "wall": round(large["wall_s"] / small["wall_s"], 2),
            "cpu": round(large["cpu_s"] / small["cpu_s"], 2),
            "peak_rss": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
        }
        big = by_size[1_000_000]
        report["targets_met"] = (
            big["link"]["wall_s"] <= TARGETS["wall_s_1m_max"]
            and big["link"]["peak_rss_mb"] <= TARGETS["peak_rss_mb_1m_max"]
            and big["precision"] >= TARGETS["precision_min"]
            and big["recall"] >= TARGETS["recall_min"]
        )
    if len(by_size) >= 2:
        report["growth_exponents"] = growth_exponents(by_size)
    print(json.dumps(report, indent=2))
    log(f"wrote {write_result(args.out, 'link', report)}")
    return 0 if all(r["link"]["exit_code"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
