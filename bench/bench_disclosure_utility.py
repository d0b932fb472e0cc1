"""Benchmark what disclosure control costs the figures, under each method, on a generated city.

Set-up (timed, not part of the targets): generate, link and build features for a city of
``--persons`` (or reuse ``--data``), train a model into a fresh SQLite tracking store, and
approve and promote it with a throwaway board key (a benchmark approval, not a board
decision; the same set-up as ``bench_release.py``, whose helpers it uses). Then the city is
released in this process by ``run_release``, once per disclosure method (``threshold``,
``cellkey`` with a fresh random secret seed, and ``dp`` with the default epsilon 1, whose
utility is measured in memory and not in its manifest), each into its own releases
directory, and each signed manifest's ``utility`` object
(:func:`governance.disclosure_utility.disclosure_utility`: the published table against the
unprotected one) is reported.

Target (issue 16): Spearman rank agreement of the published mean risk with the unprotected
mean risk of at least ``--target`` (0.95) among wards and among boroughs, on a 100,000-person
city; each method is marked met or not met. A rank agreement the release could not measure
(fewer than two areas, or every published mean tied) counts as not met.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

from _measure import Json, clean_up, log, measure, publish, report_head
from bench_release import _approve, _build_city, _train

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

BENCH_DIR = Path(__file__).resolve().parent
NAME = "vru-risk"
METHODS = ("threshold", "cellkey", "dp")
LEVELS = ("ward", "borough")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: the city's size (or one to reuse), the target, where things go."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=16, help="the generator's seed")
    parser.add_argument("--data", type=Path, help="a city with features to reuse")
    parser.add_argument("--target", type=float, default=0.95, help="Spearman at least this")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--workdir", type=Path, help="where the city and store go (default /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--dp-epsilons",
        default="1",
        help="comma-separated epsilons of the dp releases (each into its own releases dir)",
    )
    return parser.parse_args(argv)


def _generate(data: Path, persons: int, seed: int) -> Json:
    """Set-up: generate the city with ``seed`` and link it (features follow in ``_build_city``)."""
    vru = str(BIN / "vru")
    log(f"set-up: generating (seed {seed}) and linking {persons:,} persons")
    cmd = [vru, "generate", "-q", "--data", str(data), "-n", str(persons), "--seed", str(seed)]
    return {
        "generate": measure(cmd, ROOT),
        "link": measure([vru, "link", "-q", "--data", str(data)], ROOT),
    }


def _release(
    work: Path, data: Path, tracking: Path, public: str, method: str, epsilon: float = 1.0
) -> Json:
    """Release ``data`` with ``method`` in this process; the manifest's utility figures."""
    from governance.board.registry import Registry
    from governance.contracts.settings import GovernanceConfig
    from governance.contracts.signing import generate_keypair
    from governance.disclosure import DisclosureConfig
    from training.release.config import ReleaseConfig
    from training.release.run import run_release

    key = work / "bench-release.pem"
    if not key.is_file():
        generate_keypair(key, work / "bench-release.pub")
    rules: Json = {"method": method}
    if method == "cellkey":  # a fresh secret: production refuses the demo's public seed
        rules["cellkey"] = {"seed": secrets.token_hex(16)}
    if method == "dp":
        rules["dp"] = {"epsilon": epsilon, "max_total_epsilon": max(10.0, epsilon)}
    config = ReleaseConfig.model_validate(
        {"releases_dir": work / f"releases-{method}-{epsilon:g}", "release_key": key}
    )
    started = time.perf_counter()
    result = run_release(
        config,
        data,
        registry=Registry(f"sqlite:///{tracking / 'mlflow.db'}"),
        governance=GovernanceConfig(
            board_public_key_b64=public, audit_log=tracking / "audit-log.jsonl"
        ),
        disclosure=DisclosureConfig.model_validate(rules),
        actor="bench",
    )
    # dp publishes no measured utility (errors against the truth are outside its privacy
    # loss): the release measures it in memory, and only the benchmark reports it
    utility = result.manifest.utility or result.measured_utility
    privacy = result.manifest.privacy
    return {
        "release_wall_s": round(time.perf_counter() - started, 2),
        "young_people_scored": result.stats.rows,
        "utility": None if utility is None else utility.model_dump(mode="json"),
        "privacy": None if privacy is None else privacy.model_dump(mode="json"),
    }


def _judged(run: Json, target: float) -> Json:
    """Each level's Spearman against ``target``: met, or not met (unmeasured counts as not)."""
    utility = run["utility"] or {}
    met = {}
    for level in LEVELS:
        rho = utility.get(f"spearman_{level}")
        met[f"spearman_{level}"] = "met" if rho is not None and rho >= target else "not met"
    met["all"] = "met" if all(v == "met" for v in met.values()) else "not met"
    return met


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON report and write it under ``--out``."""
    args = _parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vru-bench-utility-", dir=args.workdir))
    data = (args.data or work / "city").resolve()
    setup = _generate(data, args.persons, args.seed) if args.data is None else {}
    setup.update(_build_city(data, args.persons, generate=False))
    tracking = work / "mlruns"
    setup["train"] = _train(tracking, data)
    if any(s["exit_code"] != 0 for s in setup.values()):
        log(f"set-up failed: {setup}")
        return 1
    log("set-up: approve and promote with a throwaway board key")
    public, version = _approve(tracking)
    methods: Json = {}
    runs = [(m, 1.0) for m in METHODS if m != "dp"]
    runs += [("dp", float(e)) for e in args.dp_epsilons.split(",")]
    for method, epsilon in runs:
        name = method if method != "dp" or epsilon == 1.0 else f"dp-epsilon-{epsilon:g}"
        log(f"release with disclosure method {name} (in this process)")
        run = _release(work, data, tracking, public, method, epsilon)
        run["target"] = _judged(run, args.target)
        methods[name] = run
    report: Json = {
        **report_head("disclosure-utility"),
        "persons": args.persons,
        "seed": args.seed,
        "model_version": version,
        "setup": setup,
        "target": {"spearman_min": args.target, "levels": list(LEVELS)},
        "methods": methods,
    }
    publish(args.out, "disclosure-utility", report)
    clean_up(work, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
