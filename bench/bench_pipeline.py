"""Benchmark the whole pipeline, stage by stage, at each size; and the Spark engine beside DuckDB.

For each size (``--sizes``, default 100,000 and 1,000,000 persons) a fresh city goes through
every stage as a user runs it, each stage a `vru` command in its own process (wall time, CPU
time, peak memory of that stage alone): generate → link → features → train → audit → review
(a labelled demo approval with a throwaway key, as `make demo` records) → promote → release.
At the sizes in ``--spark-sizes`` the stages that have a Spark engine (link, features,
release) run again with ``--engine spark`` on a copy of the same city and model, and each is
set against its DuckDB time.

Writes ``<out>/<date>-<size>.json`` per size and ``<out>/<date>-pipeline.json`` (all sizes,
growth and predictions), and prints a Markdown table (the one in the README). Growth: for
each stage the exponent ``b`` of ``time ∝ persons^b`` between the two largest sizes, and
what it predicts for 2M and 10M persons (memory likewise).

Targets (1M persons, DuckDB): the whole pipeline ≤ 45 minutes, peak memory ≤ 16 GB; Spark
in local mode within 3× of DuckDB per stage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import Json, log, machine, measure, write_result

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
VRU = str(Path(sys.executable).parent / "vru")
STAGES = ("generate", "link", "features", "train", "audit", "review", "promote", "release")
SPARK_STAGES = ("link", "features", "release")
PREDICT = (2_000_000, 10_000_000)
TARGETS = {"pipeline_1m_wall_s_max": 2700.0, "peak_rss_mb_1m_max": 16384.0, "spark_ratio_max": 3.0}


def _commands(data: Path, work: Path, persons: int, seed: int) -> dict[str, list[str]]:
    """Each stage's command line, as a user would type it."""
    board = work / "board"
    city = ["--data", str(data)]
    gov = ["-g", str(board / "governance.yaml")]
    card = ["--model-card", str(ROOT / "configs/model_card.yaml")]
    release = ["-c", str(board / "release.yaml"), "--releases-dir", str(work / "releases")]
    signing = ["--signing-key", str(board / "board.pem")]
    return {
        "generate": [VRU, "generate", "-q", *city, "-n", str(persons), "--seed", str(seed)],
        "link": [VRU, "link", "-q", *city],
        "features": [VRU, "features", "-q", *city],
        "train": [VRU, "train", "-q", *city, "-m", str(ROOT / "configs/model.yaml")],
        "audit": [VRU, "audit", "-q", *city, "--out", str(work / "report"), *gov, *card],
        "review": [VRU, "review", "-q", "--demo", "--version", "candidate", *gov, *signing],
        "promote": [VRU, "promote", "-q", "--version", "candidate", *gov],
        "release": [VRU, "release", "-q", *city, *gov, *release],
    }


def _demo_board(work: Path) -> None:
    """A throwaway board key and demo-labelled configs, as `make demo` makes them."""
    board = work / "board"
    board.mkdir()
    keys = ["--private-key", str(board / "board.pem"), "--public-key", str(board / "board.pub")]
    public = subprocess.run(
        [VRU, "keys", "board-init", "-q", *keys],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (board / "board.b64").write_text(public)
    script = ROOT / "scripts/demo_configs.py"
    subprocess.run(
        [sys.executable, str(script), str(ROOT / "configs"), str(board / "board.b64"), str(board)],
        check=True,
    )


def bench_size(persons: int, seed: int, spark: bool, workdir: Path, keep: bool) -> Json:
    """Every stage at one size (and the Spark stages if asked); the measurements."""
    work = Path(tempfile.mkdtemp(prefix=f"vru-bench-pipeline-{persons}-", dir=workdir))
    data = work / "city"
    (work / "mlruns").mkdir()
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlruns/mlflow.db'}"}
    _demo_board(work)
    commands = _commands(data, work, persons, seed)
    stages: Json = {}
    for stage in STAGES:
        log(f"{persons:,}: {stage}")
        stages[stage] = measure(
            ["env", *(f"{k}={v}" for k, v in env.items()), *commands[stage]], ROOT
        )
        if stages[stage]["exit_code"] != 0:
            log(f"{persons:,}: {stage} failed (exit {stages[stage]['exit_code']}); stopping")
            break
    run: Json = {"persons": persons, "stages": stages, **_totals(stages)}
    if spark and all(s["exit_code"] == 0 for s in stages.values()):
        run["spark"] = _spark(data, work, env, commands, stages)
    if keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return run


def _spark(
    data: Path, work: Path, env: dict[str, str], commands: dict[str, list[str]], duck: Json
) -> Json:
    """The Spark-capable stages again on a copy of the city, each against its DuckDB time."""
    copy = work / "city-spark"
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("linked", "features"))
    result: Json = {}
    for stage in SPARK_STAGES:
        if stage == "release":  # the same features and model as DuckDB's release
            cmd = [
                p.replace(str(work / "releases"), str(work / "releases-spark"))
                for p in commands[stage]
            ]
        else:  # link and features of the copy, from the same extracts
            cmd = [str(copy) if part == str(data) else part for part in commands[stage]]
        log(f"spark: {stage}")
        found = measure(
            ["env", *(f"{k}={v}" for k, v in env.items()), *cmd, "--engine", "spark"], ROOT
        )
        ratio = found["wall_s"] / duck[stage]["wall_s"] if duck[stage]["wall_s"] else None
        result[stage] = {**found, "duckdb_wall_s": duck[stage]["wall_s"], "ratio": _round(ratio)}
        if found["exit_code"] != 0:
            break
    return result


def _totals(stages: Json) -> Json:
    ok = all(s["exit_code"] == 0 for s in stages.values()) and len(stages) == len(STAGES)
    return {
        "completed": ok,
        "wall_s": round(sum(s["wall_s"] for s in stages.values()), 1),
        "cpu_s": round(sum(s["cpu_s"] for s in stages.values()), 1),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values()),
    }


def growth(runs: list[Json]) -> Json:
    """Per stage: the exponent of time and memory against persons, and predictions.

    Between the two largest sizes that completed (empty with fewer than two). A power law
    through two points: fixed costs (imports, MLflow's store) make small sizes look flatter
    than large ones, so predictions from 100k and 1M are the ones to trust. The total's
    prediction is the sum of the stages' (its memory the largest of theirs).
    """
    done = sorted((r for r in runs if r["completed"]), key=lambda r: r["persons"])
    if len(done) < 2:
        return {}
    small, large = done[-2], done[-1]
    scale = math.log(large["persons"] / small["persons"])
    result: Json = {}
    for stage in (*STAGES, "total"):
        pair = [r["stages"][stage] if stage != "total" else r for r in (small, large)]
        entry: Json = {}
        for figure in ("wall_s", "peak_rss_mb"):
            a, b = pair[0][figure], pair[1][figure]
            exponent = math.log(b / a) / scale if a > 0 and b > 0 else None
            entry[f"{figure}_exponent"] = _round(exponent)
            for size in PREDICT:
                guess = None if exponent is None else b * (size / large["persons"]) ** exponent
                entry[f"{figure}_at_{size // 1_000_000}m"] = _round(guess)
        result[stage] = entry
    for size in PREDICT:  # the whole pipeline: the stages' predictions added up (memory: the most)
        key = f"{size // 1_000_000}m"
        times = [result[s][f"wall_s_at_{key}"] for s in STAGES]
        memory = [result[s][f"peak_rss_mb_at_{key}"] for s in STAGES]
        result["total"][f"wall_s_at_{key}"] = None if None in times else _round(sum(times))
        result["total"][f"peak_rss_mb_at_{key}"] = None if None in memory else max(memory)
    return result


def table(runs: list[Json], grown: Json) -> str:
    """A Markdown table: wall time and peak memory per stage and size, and the predictions."""
    sizes = sorted(runs, key=lambda r: r["persons"])
    head = ["stage", *(f"{r['persons']:,}" for r in sizes)]
    if grown:
        head += ["growth b (time ∝ n^b)", "2M (predicted)", "10M (predicted)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for stage in (*STAGES, "total"):
        cells = [stage]
        for r in sizes:
            found = r if stage == "total" else r["stages"].get(stage)
            cells.append(
                "—" if not found else f"{_duration(found['wall_s'])}, {_mib(found['peak_rss_mb'])}"
            )
        if grown:
            g = grown[stage]
            cells += [
                f"{g['wall_s_exponent']}",
                f"{_duration(g['wall_s_at_2m'])}, {_mib(g['peak_rss_mb_at_2m'])}",
                f"{_duration(g['wall_s_at_10m'])}, {_mib(g['peak_rss_mb_at_10m'])}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    spark = [r for r in sizes if r.get("spark")]
    for r in spark:
        lines += ["", f"Spark (local mode) against DuckDB at {r['persons']:,} persons:", ""]
        lines += ["| stage | DuckDB | Spark | Spark / DuckDB |", "|---|---|---|---|"]
        for stage, s in r["spark"].items():
            lines.append(
                f"| {stage} | {_duration(s['duckdb_wall_s'])} | {_duration(s['wall_s'])} | "
                f"{s['ratio']}× |"
            )
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _mib(mb: float | None) -> str:
    if mb is None:
        return "—"
    return f"{mb:.0f} MB" if mb < 1024 else f"{mb / 1024:.1f} GB"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write the JSON results and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--spark-sizes",
        type=int,
        nargs="*",
        default=[100_000],
        help="sizes at which link, features and release also run on Spark (none: no Spark); "
        "Spark's link takes about 40 minutes at 1M persons on 2 cores",
    )
    parser.add_argument("--seed", type=int, default=20180919)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--workdir", type=Path, help="where the cities go (default /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep each size's work directory")
    args = parser.parse_args(argv)
    today = dt.date.today().isoformat()
    runs = []
    for persons in sorted(args.sizes):
        run = bench_size(persons, args.seed, persons in args.spark_sizes, args.workdir, args.keep)
        runs.append(run)
        log(
            f"wrote {write_result(args.out, str(persons), {'date': today, 'machine': machine(), **run})}"
        )
    grown = growth(runs)
    largest = max(runs, key=lambda r: r["persons"])
    spark_ratios = [s["ratio"] for r in runs for s in r.get("spark", {}).values()]
    report: Json = {
        "benchmark": "pipeline",
        "date": today,
        "machine": machine(),
        "runs": runs,
        "growth": grown,
        "targets": TARGETS,
        "met": {
            "pipeline_wall": largest["completed"]
            and largest["wall_s"] <= TARGETS["pipeline_1m_wall_s_max"],
            "peak_rss": largest["peak_rss_mb"] <= TARGETS["peak_rss_mb_1m_max"],
            "spark_ratio": None
            if not spark_ratios
            else all(r is not None and r <= TARGETS["spark_ratio_max"] for r in spark_ratios),
        },
    }
    log(f"wrote {write_result(args.out, 'pipeline', report)}")
    print(table(runs, grown))
    return 0 if all(r["completed"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
