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
(tests/training/test_spark_engine.py turns sampling off and checks equality). A third link
step scores with DuckDB's trained model on Spark (`--model`, no training on Spark): its time
against DuckDB's whole link (`ratios.link_scoring`), and whether its spine is DuckDB's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from _measure import (
    Json,
    clean_up,
    log,
    measure,
    publish,
    report_head,
    wall_ratio,
    write_launcher,
)

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


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: the city's size and seed (or one to reuse), output, ``--keep``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20180919)
    parser.add_argument("--data", type=Path, help="a generated city to reuse (default: generate)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    return parser.parse_args(argv)


def _run_vru(launcher: Path, *cmd: str) -> Json:
    """Measure one `vru` command through the launcher (so Spark's JVM counts) and log it."""
    result = measure([sys.executable, str(launcher), *cmd], ROOT)
    log(f"  wall {result['wall_s']} s, cpu {result['cpu_s']} s, peak {result['peak_rss_mb']} MiB")
    return result


def _generate(city: Path, persons: int, seed: int) -> Json:
    """Generate the city both engines work on; measured, but not part of the comparison."""
    log(f"generating {persons:,} persons (not part of the comparison)")
    return measure(
        [str(BIN / "vru"), "generate", "-q", "--data", str(city), "-n", str(persons),
         "--seed", str(seed)],
        ROOT,
    )  # fmt: skip


def _link_each(work: Path, city: Path, launcher: Path, seed: int) -> Json:
    """Link a copy of the city with each engine (``<work>/<engine>``); each step's figures."""
    steps: Json = {}
    for engine in ENGINES:
        data = work / engine
        shutil.copytree(city, data, ignore=shutil.ignore_patterns("linked", "features"))
        log(f"vru link --engine {engine}")
        steps[f"link_{engine}"] = _run_vru(
            launcher, "link", "-q", "--data", str(data), "--seed", str(seed), "--engine", engine
        )
    # Spark scoring with DuckDB's trained model (link.model): the way to run Spark in earnest
    model = work / "duckdb-model.json"
    shutil.copy(work / "duckdb/linked/model.json", model)
    data = work / "spark-scoring"
    shutil.copytree(city, data, ignore=shutil.ignore_patterns("linked", "features"))
    log("vru link --engine spark --model <DuckDB's model>")
    steps["link_spark_scoring"] = _run_vru(
        launcher, "link", "-q", "--data", str(data), "--seed", str(seed), "--engine", "spark",
        "--model", str(model),
    )  # fmt: skip
    return steps


def _features_each(work: Path, launcher: Path) -> tuple[Json, dict[str, Path]]:
    """Build features with each engine from DuckDB's spine; each step's figures and table.

    Both engines read the same spine, so that their feature tables can be compared; each
    table is moved aside (``<work>/features-<engine>.parquet``) before the next build.
    """
    shared = work / "duckdb"
    steps: Json = {}
    tables = {}
    for engine in ENGINES:
        log(f"vru features --engine {engine}")
        steps[f"features_{engine}"] = _run_vru(
            launcher, "features", "-q", "--data", str(shared), "--engine", engine
        )
        tables[engine] = work / f"features-{engine}.parquet"
        if (shared / "features/features.parquet").is_file():
            shutil.move(shared / "features/features.parquet", tables[engine])
    return steps, tables


def _comparison(work: Path, steps: Json, tables: dict[str, Path]) -> Json:
    """What the engines' runs say side by side: stage timings, link results, ratios, equality."""
    reports = {e: json.loads((work / e / "linked/report.json").read_text()) for e in ENGINES}
    ratios = {
        stage: wall_ratio(steps[f"{stage}_spark"], steps[f"{stage}_duckdb"])
        for stage in ("link", "features")
    }
    ratios["link_scoring"] = wall_ratio(steps["link_spark_scoring"], steps["link_duckdb"])
    scoring = json.loads((work / "spark-scoring/linked/report.json").read_text())
    return {
        "link_stage_timings_s": {
            **{e: r["timings_s"] for e, r in reports.items()},
            "spark_scoring": scoring["timings_s"],
        },
        "link_results": {
            e: {
                "persons": r["persons"],
                "scored_pairs_kept": r["scored_pairs_kept"],
                **{k: r["quality"]["overall"].get(k) for k in ("precision", "recall", "f1")},
            }
            for e, r in reports.items()
        },
        "ratios": ratios,
        "target_met": {
            stage: ratio <= TARGETS["spark_over_duckdb_max"] for stage, ratio in ratios.items()
        },
        "equal": {
            "spine_up_to_labels": _partition(work / "duckdb/linked/spine.parquet")
            == _partition(work / "spark/linked/spine.parquet"),
            "persons": reports["duckdb"]["persons"] == reports["spark"]["persons"],
            "spine_spark_scoring_up_to_labels": _partition(work / "duckdb/linked/spine.parquet")
            == _partition(work / "spark-scoring/linked/spine.parquet"),
            "features": _same_features(tables["duckdb"], tables["spark"]),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON report and write it under ``--out``."""
    args = _parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vru-bench-engines-"))
    launcher = write_launcher(work / "launch.py")
    steps: Json = {}
    city = args.data
    if city is None:
        city = work / "city"
        steps["generate"] = _generate(city, args.persons, args.seed)
    steps.update(_link_each(work, city, launcher, args.seed))
    feature_steps, tables = _features_each(work, launcher)
    steps.update(feature_steps)

    ok = all(s["exit_code"] == 0 for s in steps.values())
    report: Json = {
        **report_head("engines"),
        "persons": args.persons,
        "seed": args.seed,
        "spark": "local mode, the pipeline's spark: defaults",
        "steps": steps,
        "targets": TARGETS,
    }
    if ok:
        report.update(_comparison(work, steps, tables))
    publish(args.out, f"engines-{args.persons}", report)
    clean_up(work, keep=args.keep)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
