"""Benchmark the DuckDB and Spark engines of `vru link` and `vru features` on the same data.

A city is generated once (not part of the comparison). Each engine then links it and builds its
features, each step in its own process: `vru link --engine ...` on its own copy of the city,
and `vru features --engine ...` on the same (DuckDB's) spine, so that the feature tables can be
compared. Spark runs in local mode with the pipeline's defaults (`local[*]`): it exists for
clusters, and this tells what it costs on one machine.

Spark's work happens in a JVM that PySpark starts as a child; the step's launcher stops the
session and waits for that JVM, so that its CPU time and memory count in the step's figures.
The report also says whether the engines agreed: the same spine up to cluster labels, and the
same feature table. With the default linkage settings Splink samples pairs for u and EM by a
hash that differs between its backends, so the two models differ slightly and so may a few
clusters; the report gives each engine's persons and quality against the truth
(tests/training/test_spark_engine.py turns sampling off and checks equality).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path

from _measure import VRU_LAUNCHER, Json, log, machine, measure, write_result

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BIN = Path(sys.executable).parent
ENGINES = ("duckdb", "spark")
TARGETS = {"spark_over_duckdb_max": 3.0}


def _partition(path: Path) -> set[frozenset[tuple[str, str]]]:
    import pandas as pd

    spine = pd.read_parquet(path)
    groups = spine.groupby("person_key")[["source", "record_id"]]
    return {frozenset(zip(g["source"], g["record_id"], strict=True)) for _, g in groups}


def _same_features(a: Path, b: Path) -> bool:
    import numpy as np
    import pyarrow.parquet as pq

    ta, tb = pq.read_table(a), pq.read_table(b)
    if ta.schema.names != tb.schema.names or [f.type for f in ta.schema] != [
        f.type for f in tb.schema
    ]:
        return False
    keys = ["person_key", "as_of_date"]
    fa = ta.to_pandas().sort_values(keys, ignore_index=True)
    fb = tb.to_pandas().sort_values(keys, ignore_index=True)
    for column in fa.columns:
        x, y = fa[column], fb[column]
        if not (x.isna() == y.isna()).all():
            return False
        x, y = x[x.notna()], y[y.notna()]
        same = np.allclose(x, y, rtol=0, atol=1e-9) if x.dtype.kind == "f" else (x == y).all()
        if not same:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON report and write it under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20180919)
    parser.add_argument("--data", type=Path, help="a generated city to reuse (default: generate)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vru-bench-engines-"))
    launcher = work / "launch.py"
    launcher.write_text(VRU_LAUNCHER)
    steps: Json = {}

    def vru(*cmd: str) -> Json:
        result = measure([sys.executable, str(launcher), *cmd], ROOT)
        log(
            f"  wall {result['wall_s']} s, cpu {result['cpu_s']} s, peak {result['peak_rss_mb']} MiB"
        )
        return result

    city = args.data
    if city is None:
        city = work / "city"
        log(f"generating {args.persons:,} persons (not part of the comparison)")
        steps["generate"] = measure(
            [str(BIN / "vru"), "generate", "-q", "--data", str(city), "-n", str(args.persons),
             "--seed", str(args.seed)],
            ROOT,
        )  # fmt: skip
    for engine in ENGINES:
        data = work / engine
        shutil.copytree(city, data, ignore=shutil.ignore_patterns("linked", "features"))
        log(f"vru link --engine {engine}")
        steps[f"link_{engine}"] = vru(
            "link", "-q", "--data", str(data), "--seed", str(args.seed), "--engine", engine
        )
    shared = work / "duckdb"  # both engines build features from the same spine
    tables = {}
    for engine in ENGINES:
        log(f"vru features --engine {engine}")
        steps[f"features_{engine}"] = vru(
            "features", "-q", "--data", str(shared), "--engine", engine
        )
        tables[engine] = work / f"features-{engine}.parquet"
        if (shared / "features/features.parquet").is_file():
            shutil.move(shared / "features/features.parquet", tables[engine])

    ok = all(s["exit_code"] == 0 for s in steps.values())
    report: Json = {
        "benchmark": "engines",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "persons": args.persons,
        "seed": args.seed,
        "spark": "local mode, the pipeline's spark: defaults",
        "steps": steps,
        "targets": TARGETS,
    }
    if ok:
        reports = {e: json.loads((work / e / "linked/report.json").read_text()) for e in ENGINES}
        report["link_stage_timings_s"] = {e: r["timings_s"] for e, r in reports.items()}
        report["link_results"] = {
            e: {
                "persons": r["persons"],
                "scored_pairs_kept": r["scored_pairs_kept"],
                **{k: r["quality"]["overall"].get(k) for k in ("precision", "recall", "f1")},
            }
            for e, r in reports.items()
        }
        report["ratios"] = {
            stage: round(steps[f"{stage}_spark"]["wall_s"] / steps[f"{stage}_duckdb"]["wall_s"], 2)
            for stage in ("link", "features")
        }
        report["target_met"] = {
            stage: ratio <= TARGETS["spark_over_duckdb_max"]
            for stage, ratio in report["ratios"].items()
        }
        report["equal"] = {
            "spine_up_to_labels": _partition(work / "duckdb/linked/spine.parquet")
            == _partition(work / "spark/linked/spine.parquet"),
            "persons": reports["duckdb"]["persons"] == reports["spark"]["persons"],
            "features": _same_features(tables["duckdb"], tables["spark"]),
        }
    print(json.dumps(report, indent=2))
    log(f"wrote {write_result(args.out, f'engines-{args.persons}', report)}")
    if args.keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
