"""Benchmark `vru release`: score the current population, exact SHAP, areas, disclosure.

Set-up (timed, not part of the target): generate, link and build features for a city of
``--persons`` (or reuse ``--data``), train a model into a fresh SQLite tracking store, and
approve and promote it in-process with a throwaway board key (a benchmark approval, not a
board decision). Then `vru release` runs in its own process (wall time, CPU, peak memory);
its audit-log entry gives the rows scored, the distinct rows and model paths explained and
the SHAP seconds. Finally a sample of the cohort is explained row by row with one LightGBM
``pred_contrib`` call (no deduplication of any kind) to project what brute force would take.

``--engine spark`` scores on Spark in local mode (``vru release --engine spark``), and
``--engine both`` releases the same data with the same model on each engine, in turn, and
reports their wall times, the ratio and whether their figures agree (the same published
areas, rounded counts, ranks and drivers; float figures within 1e-9 relative). Spark's JVM
is a child of the release process, which stops it and waits for it, so its CPU time and
memory count in the figures.

``--disclosure both`` releases the same data with the same model under each disclosure
method in turn (``threshold``: suppression and rounding; ``cellkey``: the ONS cell-key
perturbation, which also reads the cohort's person keys and sums their record keys), and
reports the ratio of their wall times.

Targets: 1M persons in at most 600 s, SHAP included; Spark within 3x of DuckDB; the cell-key
release within 1.2x of the threshold release on the same city.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
import time
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
NAME = "vru-risk"
TARGETS = {"wall_s_max": 600.0, "spark_over_duckdb_max": 3.0, "cellkey_over_threshold_max": 1.2}
BRUTE_FORCE_SAMPLE = 5_000
ENGINES = ("duckdb", "spark")
METHODS = ("threshold", "cellkey")
#: the benchmark's own secret for the cell-key method (a production release refuses the demo's)
_BENCH_CELLKEY_SEED = "bench-release-cell-key-seed"
#: figures from float sums, compared within a tolerance between engines
_FLOAT_FIGURES = (
    "expected",
    "rate_per_1000",
    "mean_risk",
    "mean_risk_raw",
    "risk_low",
    "risk_high",
)


def _approve(tracking: Path) -> tuple[str, str]:
    """Approve and promote the candidate with a throwaway key; the public key and version."""
    from governance.board.approval import REPORT_TAG, promote
    from governance.board.audit_log import AuditLog
    from governance.board.registry import CANDIDATE, Registry
    from governance.board.review import record_review
    from governance.board.verdict import embed_verdict
    from governance.contracts.signing import artifacts_digest, generate_keypair

    registry = Registry(f"sqlite:///{tracking / 'mlflow.db'}")
    info = registry.version(NAME, alias=CANDIDATE)
    html = embed_verdict(
        "<html><body><h1>Benchmark stand-in report (not an audit)</h1></body></html>",
        {
            "model": NAME,
            "version": info.version,
            "gates": [],
            "gates_passed": True,
            "model_artifacts_sha256": artifacts_digest(registry.model_files(info)),
        },
    )
    registry.log_artifacts(info, {"report.html": html.encode()})
    registry.set_tags(NAME, info.version, {REPORT_TAG: hashlib.sha256(html.encode()).hexdigest()})
    public = generate_keypair(tracking / "bench-board.pem", tracking / "bench-board.pub")
    audit_log = AuditLog(tracking / "audit-log.jsonl")
    record_review(
        registry,
        audit_log,
        registry.version(NAME, info.version),
        decision="approve",
        reasons="Throwaway approval to time vru release (not an ethics board).",
        signing_key=tracking / "bench-board.pem",
        board=public,
    )
    promote(registry, audit_log, registry.version(NAME, info.version), public, actor="bench")
    return public, info.version


def _brute_force(tracking: Path, data: Path, as_of: str) -> Json:
    """Seconds per row of one ``pred_contrib`` call on a sample: no deduplication at all."""
    import pyarrow.parquet as pq

    from governance.audit.explain import shap_values
    from governance.board.registry import CHAMPION, Registry

    registry = Registry(f"sqlite:///{tracking / 'mlflow.db'}")
    model = registry.load_model(registry.version(NAME, alias=CHAMPION))
    columns = list(model.columns)
    table = pq.read_table(
        data / "features/features.parquet",
        columns=columns,
        filters=[("as_of_date", "=", dt.date.fromisoformat(as_of))],
    )
    sample = table.slice(0, BRUTE_FORCE_SAMPLE).to_pandas()[columns].astype(float)
    timings = {}
    for strategy in ("single_call", "per_tree"):
        started = time.perf_counter()
        shap_values(model.scorer, sample, strategy=strategy)
        timings[strategy] = time.perf_counter() - started
    return {
        "rows": len(sample),
        "trees": model.scorer.num_trees(),
        "single_call_s": round(timings["single_call"], 2),
        "single_call_rows_per_s": round(len(sample) / timings["single_call"], 1),
        "per_tree_s": round(timings["per_tree"], 2),
        "per_tree_rows_per_s": round(len(sample) / timings["per_tree"], 1),
    }


def _same_figures(a: Path, b: Path) -> bool:
    """Whether two releases' area tables agree (exact, floats within 1e-9 relative)."""
    import numpy as np
    import pandas as pd

    x, y = pd.read_parquet(a / "areas.parquet"), pd.read_parquet(b / "areas.parquet")
    if list(x.columns) != list(y.columns):
        return False
    floats = [c for c in x.columns if c in _FLOAT_FIGURES or c.startswith("contrib_")]
    exact = [c for c in x.columns if c not in floats]
    fx, fy = x[floats].to_numpy(np.float64), y[floats].to_numpy(np.float64)
    return bool(
        x[exact].equals(y[exact]) and np.allclose(fx, fy, rtol=1e-9, atol=1e-12, equal_nan=True)
    )


def _identical_tables(a: Path, b: Path) -> bool:
    """Whether two releases' area tables are the same, value for value (after rounding)."""
    import pandas as pd

    return bool(pd.read_parquet(a / "areas.parquet").equals(pd.read_parquet(b / "areas.parquet")))


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: the city's size (or one to reuse), where things go, the engine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument(
        "--data", type=Path, help="a city with features to reuse (default: build one)"
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--workdir", type=Path, help="where the city and store go (default /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--engine",
        choices=[*ENGINES, "both"],
        default="duckdb",
        help="where the release scores: duckdb, spark, or both in turn (default: duckdb)",
    )
    parser.add_argument(
        "--disclosure",
        choices=[*METHODS, "both"],
        default="threshold",
        help="the disclosure method: threshold, cellkey, or both in turn (default: threshold)",
    )
    args = parser.parse_args(argv)
    if args.engine == "both" and args.disclosure == "both":
        parser.error("--engine both and --disclosure both: compare one thing at a time")
    return args


def _build_city(data: Path, persons: int, *, generate: bool) -> Json:
    """Set-up: generate and link the city if asked, and build its features if missing."""
    vru = str(BIN / "vru")
    setup: Json = {}
    if generate:
        log(f"set-up: generating, linking and building features for {persons:,} persons")
        setup["generate"] = measure(
            [vru, "generate", "-q", "--data", str(data), "-n", str(persons)], ROOT
        )
        setup["link"] = measure([vru, "link", "-q", "--data", str(data)], ROOT)
    if not (data / "features/manifest.json").is_file():
        setup["features"] = measure([vru, "features", "-q", "--data", str(data)], ROOT)
    return setup


def _train(tracking: Path, data: Path) -> Json:
    """Set-up: train a model into a fresh SQLite store at ``tracking`` (made here).

    The store's address goes into this process's environment too, where the approval and
    the release processes find it.
    """
    tracking.mkdir()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tracking / 'mlflow.db'}"
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    log("set-up: vru train (fresh SQLite store)")
    model_config = str(ROOT / "configs/model.yaml")
    return measure(
        [str(BIN / "vru"), "train", "-q", "--data", str(data), "-m", model_config], tracking
    )


def _governance_config(work: Path, tracking: Path, public: str) -> Path:
    """Write the governance config naming the throwaway board key and the audit log."""
    governance = work / "governance.yaml"
    governance.write_text(
        f"board_public_key_b64: {public}\naudit_log: {tracking / 'audit-log.jsonl'}\n"
    )
    return governance


def _release_each(
    work: Path, data: Path, tracking: Path, governance: Path, variants: list[tuple[str, str]]
) -> Json:
    """Run `vru release` once per (engine, method), each in its own process; each run's figures.

    Each run writes to its own ``<work>/releases-<name>``, so the runs can be compared; all
    are signed with one throwaway release key, as production requires. A run is named by its
    engine, or by its disclosure method when the methods are compared.
    """
    from governance.contracts.signing import generate_keypair

    script = write_launcher(work / "release.py")
    key = work / "bench-release.pem"  # a production release is signed by the operator's key
    generate_keypair(key, work / "bench-release.pub")
    methods = {method for _, method in variants}
    runs: Json = {}
    for engine, method in variants:
        name = method if len(methods) > 1 else engine
        rules = work / f"disclosure-{method}.yaml"
        rules.write_text(f"method: {method}\ncellkey:\n  seed: {_BENCH_CELLKEY_SEED}\n")
        config = work / f"release-{name}.yaml"
        config.write_text(
            f"releases_dir: {work / f'releases-{name}'}\nengine: {engine}\n"
            f"release_key: {key}\ndisclosure_config: {rules}\n"
        )
        log(f"vru release --engine {engine}, disclosure {method} (its own process)")
        runs[name] = measure(
            [sys.executable, str(script), "release", "-q", "--data", str(data),
             "-c", str(config), "-g", str(governance)],
            tracking,
        )  # fmt: skip
        log(f"  wall {runs[name]['wall_s']} s, cpu {runs[name]['cpu_s']} s")
    return runs


def _releases_created(tracking: Path, count: int) -> list[Json]:
    """The audit log's first ``count`` ``release.created`` entries: one per engine's release."""
    entries = [json.loads(line) for line in (tracking / "audit-log.jsonl").read_text().splitlines()]
    return [e for e in entries if e["event"] == "release.created"][:count]


def _engine_comparison(work: Path, engines: list[str], runs: Json, created: list[Json]) -> Json:
    """With both engines: their runs and, if both released, details, ratio and agreement."""
    comparison: Json = {"engines": runs}
    if all(r["exit_code"] == 0 for r in runs.values()) and len(created) == len(engines):
        comparison["engine_details"] = {
            e["details"]["engine"]: {
                "scoring": e["details"]["scoring"],
                "timings": e["details"]["timings"],
            }
            for e in created
        }
        comparison["spark_over_duckdb"] = wall_ratio(runs["spark"], runs["duckdb"])
        dirs = [
            work / f"releases-{e}" / c["details"]["release_id"]
            for e, c in zip(engines, created, strict=True)
        ]
        comparison["same_figures"] = _same_figures(*dirs)
        comparison["identical_tables"] = _identical_tables(*dirs)
    return comparison


def _method_comparison(runs: Json, created: list[Json]) -> Json:
    """With both methods: their runs, release timings and the cell-key over threshold ratio."""
    comparison: Json = {"methods": runs}
    if all(r["exit_code"] == 0 for r in runs.values()) and len(created) == len(METHODS):
        comparison["method_timings"] = {
            method: entry["details"]["timings"]
            for method, entry in zip(METHODS, created, strict=True)
        }
        comparison["cellkey_over_threshold"] = wall_ratio(runs["cellkey"], runs["threshold"])
    return comparison


def _release_summary(details: Json, wall_s: float, tracking: Path, data: Path) -> Json:
    """The first release's figures, and what brute-force SHAP on its rows would have cost."""
    scoring = details["scoring"]
    log("brute-force SHAP on a sample, for the projection")
    brute = _brute_force(tracking, data, details["as_of_date"])
    projected = scoring["rows"] / brute["single_call_rows_per_s"]
    return {
        "release_id": details["release_id"],
        "areas": details["areas"],
        "published": details["published"],
        "suppression": details["suppression"],
        "scoring": scoring,
        "timings": details["timings"],
        "brute_force_sample": brute,
        "shap_brute_force_projected_s": round(projected, 1),
        "shap_saved_s": round(projected - scoring["shap_seconds"], 1),
        "met": {"wall_s": wall_s <= TARGETS["wall_s_max"]},
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON report and write it under ``--out``."""
    args = _parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vru-bench-release-", dir=args.workdir))
    data = (args.data or work / "city").resolve()
    setup = _build_city(data, args.persons, generate=args.data is None)
    tracking = work / "mlruns"
    setup["train"] = _train(tracking, data)
    if any(s["exit_code"] != 0 for s in setup.values()):
        log(f"set-up failed: {setup}")
        return 1
    log("set-up: approve and promote with a throwaway board key")
    public, version = _approve(tracking)
    governance = _governance_config(work, tracking, public)
    engines = list(ENGINES) if args.engine == "both" else [args.engine]
    methods = list(METHODS) if args.disclosure == "both" else [args.disclosure]
    variants = [(engine, method) for engine in engines for method in methods]
    runs = _release_each(work, data, tracking, governance, variants)
    run = next(iter(runs.values()))
    created = _releases_created(tracking, len(variants))
    report: Json = {
        **report_head("release"),
        "persons": args.persons,
        "model_version": version,
        "setup": setup,
        "engine": args.engine,
        "disclosure": args.disclosure,
        "release": run,
        "targets": TARGETS,
    }
    if len(engines) > 1:
        report.update(_engine_comparison(work, engines, runs, created))
    if len(methods) > 1:
        report.update(_method_comparison(runs, created))
    if run["exit_code"] == 0 and created:
        report.update(_release_summary(created[0]["details"], run["wall_s"], tracking, data))
        if "spark_over_duckdb" in report:
            report["met"]["spark_over_duckdb"] = (
                report["spark_over_duckdb"] <= TARGETS["spark_over_duckdb_max"]
            )
        if "cellkey_over_threshold" in report:
            report["met"]["cellkey_over_threshold"] = (
                report["cellkey_over_threshold"] <= TARGETS["cellkey_over_threshold_max"]
            )
    publish(args.out, "release", report)
    clean_up(work, keep=args.keep)
    return 0 if run["exit_code"] == 0 and created else 1


if __name__ == "__main__":
    sys.exit(main())
