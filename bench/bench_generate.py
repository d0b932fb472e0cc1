"""Benchmark the synthetic-city generator: speed, memory, output size and the area gradient.

For each ``--sizes`` entry the generator runs in a fresh child process (this file with
``--worker``), so the peak resident set size is that process's own. The parent measures wall
time, the child's CPU time and peak RSS (``os.wait4``), counts rows per file and on-disk bytes,
and computes the generated city's serious-violence gradient by deprivation decile beside the
real London one (MPS 2019 violence per 1,000 residents by IMD 2019 decile).

One JSON object goes to stdout and to ``bench/results/<YYYY-MM-DD>-generate.json``; progress
goes to stderr. Run ``make bench`` or ``python bench/bench_generate.py --sizes 100000 1000000``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _measure import MIB, Json, log, machine, measure, write_result

DEFAULT_SIZES = (100_000, 1_000_000)
DEFAULT_SEED = 20180919  # configs/pipeline.yaml's seed, so figures match `vru generate`
TARGETS = {"wall_s_1m_max": 300.0, "peak_rss_mb_1m_max": 6144.0}
SERIOUS_OFFENCES = ("violence_against_person", "possession_of_weapons", "robbery")
IMD_DECILE = "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)"
BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_LONDON = Path(__file__).resolve().parents[2] / "shared/data/london"


# --------------------------------------------------------------------------- child process


def worker(persons: int, seed: int, data_dir: Path, result_file: Path) -> None:
    """Generate one city (in the child process) and write its manifest and timing to a file."""
    from training.config import PipelineConfig
    from training.generate.run import run_generate

    config = PipelineConfig.model_validate({"seed": seed, "generate": {"persons": persons}})
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] >= 10.0:
            last[0] = now
            log(f"  {done:,}/{total:,} persons ({100.0 * done / total:.0f}%)")

    start = time.perf_counter()
    result = run_generate(config, data_dir, validate=True, progress=progress)
    generate_s = time.perf_counter() - start
    payload = {"generate_s": generate_s, "manifest": result.manifest}
    result_file.write_text(json.dumps(payload, default=str))


# --------------------------------------------------------------------------- parent process


def run_child(persons: int, seed: int, data_dir: Path, result_file: Path) -> Json:
    """Run the worker in a fresh interpreter; return its wall/CPU time, peak RSS and result."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--persons",
        str(persons),
        "--seed",
        str(seed),
        "--data",
        str(data_dir),
        "--result-file",
        str(result_file),
    ]
    measured = measure(cmd, BENCH_DIR.parent)
    if measured["exit_code"] != 0 or not result_file.is_file():
        measured["error"] = f"generator process exited with code {measured['exit_code']}"
        return measured
    child = json.loads(result_file.read_text())
    result_file.unlink()
    measured["generate_s"] = round(child["generate_s"], 2)
    measured["manifest"] = child["manifest"]
    return measured


def disk_bytes(directory: Path) -> int:
    """Total size of the regular files under ``directory``."""
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def synthetic_gradient(data_dir: Path) -> Json:
    """Recorded serious-violence suspect records per 1,000 persons by deprivation decile.

    Police suspect records (violence against the person, possession of weapons, robbery) are
    attributed to persons through ``truth/record_person.parquet`` and to areas through each
    person's LSOA at the end of the period; the denominator is all generated persons living in
    that decile's LSOAs.
    """
    import duckdb

    def parquet(rel: str) -> str:
        return "'" + str(data_dir / rel).replace("'", "''") + "'"

    offences = ", ".join(f"'{o}'" for o in SERIOUS_OFFENCES)
    query = f"""
        with person_area as (
            select p.person_id, g.deprivation_decile as decile
            from read_parquet({parquet("truth/persons.parquet")}) p
            join read_parquet({parquet("geography.parquet")}) g
              on g.lsoa_code = p.lsoa_code_at_end
        ),
        suspects as (
            select rp.person_id
            from read_parquet({parquet("extracts/police.parquet")}) pol
            join read_parquet({parquet("truth/record_person.parquet")}) rp
              on rp.source = 'police' and rp.record_id = pol.record_id
            where pol.role = 'suspect' and pol.offence_group in ({offences})
        ),
        per_person as (
            select person_id, count(*) as records from suspects group by person_id
        )
        select pa.decile,
               count(*) as persons,
               coalesce(sum(pp.records), 0) as records,
               count(pp.person_id) as suspects
        from person_area pa
        left join per_person pp using (person_id)
        group by pa.decile
        order by pa.decile
    """
    rows = duckdb.connect().execute(query).fetchall()
    deciles: Json = {}
    for decile, persons, records, suspects in rows:
        deciles[str(int(decile))] = {
            "persons": int(persons),
            "suspect_records": int(records),
            "suspect_persons": int(suspects),
            "records_per_1000": round(1000.0 * records / persons, 3) if persons else None,
            "suspects_per_1000": round(1000.0 * suspects / persons, 3) if persons else None,
        }
    return {
        "measure": "police suspect records (" + ", ".join(SERIOUS_OFFENCES) + ") per 1,000 "
        "generated persons, by the deprivation decile of each person's LSOA at the end "
        "(1 = most deprived)",
        "per_decile": deciles,
        "ratio_decile1_over_decile10": _ratio(deciles, "records_per_1000"),
        "ratio_decile1_over_decile10_persons": _ratio(deciles, "suspects_per_1000"),
    }


def real_london_gradient(london: Path) -> Json:
    """MPS 2019 violence against the person per 1,000 residents (mid-2019) by IMD 2019 decile."""
    files = {
        "violence": london / "crime/mps_lsoa11_annual_counts_2011_2021_major-violence.csv",
        "population": london / "population_mid2019_lsoa11_london.csv",
        "imd": london / "imd2019_lsoa11_london_ranks_deciles.csv",
    }
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        return {
            "per_decile": None,
            "ratio_decile1_over_decile10": None,
            "note": f"missing {missing}",
        }
    import duckdb

    def csv(path: Path) -> str:
        # header=true: the year columns ("2019") defeat duckdb's header sniffing
        return "read_csv('" + str(path).replace("'", "''") + "', header=true)"

    query = f"""
        select i."{IMD_DECILE}" as decile,
               count(*) as lsoas,
               sum(v."2019") as violence,
               sum(p."Persons_All-Ages") as residents
        from {csv(files["violence"])} v
        join {csv(files["population"])} p on p.LSOA11CD = v.LSOA11CD
        join {csv(files["imd"])} i on i."LSOA code (2011)" = v.LSOA11CD
        group by 1
        order by 1
    """
    deciles: Json = {}
    for decile, lsoas, violence, residents in duckdb.connect().execute(query).fetchall():
        deciles[str(int(decile))] = {
            "lsoas": int(lsoas),
            "violence_2019": int(violence),
            "residents_mid2019": int(residents),
            "per_1000": round(1000.0 * float(violence) / float(residents), 3),
        }
    return {
        "measure": "MPS recorded violence against the person, 2019, per 1,000 residents "
        "(ONS mid-2019, all ages), by IMD 2019 decile (1 = most deprived); the 6 City of "
        "London LSOAs (not MPS) are excluded",
        "source_dir": str(london),
        "per_decile": deciles,
        "ratio_decile1_over_decile10": _ratio(deciles, "per_1000"),
    }


def _ratio(deciles: Json, key: str) -> float | None:
    top = deciles.get("1", {}).get(key)
    bottom = deciles.get("10", {}).get(key)
    if top is None or not bottom:
        return None
    return round(float(top) / float(bottom), 3)


def bench_size(persons: int, seed: int, workdir: Path, keep: bool) -> Json:
    """Generate one city in a child process and measure it."""
    data_dir = workdir / f"city-{persons}-seed{seed}"
    if data_dir.exists() and any(data_dir.iterdir()):
        raise SystemExit(f"{data_dir} exists and is not empty; choose another --workdir")
    result_file = workdir / f".worker-{persons}.json"
    log(f"generating {persons:,} persons (seed {seed}) into {data_dir}")
    measured = run_child(persons, seed, data_dir, result_file)
    run: Json = {"persons": persons, "data_dir": str(data_dir) if keep else None}
    manifest = measured.pop("manifest", None)
    run.update(measured)
    if manifest is None:
        log(f"FAILED at {persons:,} persons: {measured.get('error')}")
    else:
        files = manifest["files"]
        run["rows"] = {name: meta["rows"] for name, meta in files.items()}
        run["disk_mb"] = round(disk_bytes(data_dir) / MIB, 1)
        run["persons_per_s"] = round(persons / measured["wall_s"], 1)
        log(
            f"{persons:,} persons: wall {run['wall_s']} s, cpu {run['cpu_s']} s, "
            f"peak RSS {run['peak_rss_mb']} MiB, {run['disk_mb']} MiB on disk"
        )
        start = time.perf_counter()
        run["gradient"] = synthetic_gradient(data_dir)
        run["gradient"]["query_s"] = round(time.perf_counter() - start, 2)
        log(f"gradient decile1/decile10 = {run['gradient']['ratio_decile1_over_decile10']}")
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return run


def growth(runs: list[Json]) -> Json | None:
    """How wall time and peak RSS grow from 100k to 1M persons (when both ran)."""
    by_size = {r["persons"]: r for r in runs if "error" not in r}
    small, large = by_size.get(100_000), by_size.get(1_000_000)
    if small is None or large is None:
        return None
    return {
        "persons_ratio": 10.0,
        "wall_ratio_1m_over_100k": round(large["wall_s"] / small["wall_s"], 2),
        "cpu_ratio_1m_over_100k": round(large["cpu_s"] / small["cpu_s"], 2),
        "rss_ratio_1m_over_100k": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
        "disk_ratio_1m_over_100k": round(large["disk_mb"] / small["disk_mb"], 2),
    }


def targets(runs: list[Json]) -> Json:
    """The 1M-person targets and whether the 1M run met them (null when it did not run)."""
    million = next((r for r in runs if r["persons"] == 1_000_000), None)
    met: bool | None = None
    if million is not None:
        met = (
            "error" not in million
            and million["wall_s"] <= TARGETS["wall_s_1m_max"]
            and million["peak_rss_mb"] <= TARGETS["peak_rss_mb_1m_max"]
        )
    return {**TARGETS, "met": met}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--keep", action="store_true", help="keep the generated data dirs")
    parser.add_argument("--workdir", type=Path, help="where cities go (default: a /tmp dir)")
    parser.add_argument("--london", type=Path, default=DEFAULT_LONDON, help="real London data")
    # internal: one generator run in a child process
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--persons", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON report and write it under ``--out``."""
    args = parse_args(argv)
    if args.worker:
        worker(args.persons, args.seed, args.data, args.result_file)
        return 0

    own_workdir = args.workdir is None
    if own_workdir:
        workdir = Path(tempfile.mkdtemp(prefix="vru-bench-", dir="/tmp"))
    else:
        workdir = args.workdir.resolve()  # the child runs from the project root
        workdir.mkdir(parents=True, exist_ok=True)
    log(f"workdir {workdir}; sizes {args.sizes}; seed {args.seed}")

    runs = [bench_size(n, args.seed, workdir, args.keep) for n in args.sizes]
    if own_workdir and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    if args.london.is_dir():
        london = real_london_gradient(args.london)
    else:
        london = {
            "per_decile": None,
            "ratio_decile1_over_decile10": None,
            "note": f"real London data not found at {args.london} (use --london DIR)",
        }

    report: Json = {
        "benchmark": "generate",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "seed": args.seed,
        "runs": runs,
        "growth": growth(runs),
        "targets": targets(runs),
        "real_london_gradient": london,
    }
    path = write_result(args.out, "generate", report)
    print(json.dumps(report, indent=2))
    log(f"wrote {path}")
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
