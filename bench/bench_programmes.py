"""Known-answer benchmark of the programme evaluation: do the estimators find the true effect.

One city is generated (no programme) and its ward x period panel of recorded outcomes fitted
once (ward and period effects, over-dispersion: ``training.evaluation.programme_simulation``).
Each simulated programme then treats a share of wards (random, the highest-risk wards, or the
wards after a bad year), in one or two waves, with a known true effect on their recorded
outcomes (0, -15% or -30%), and counts are drawn again; regenerating a city per programme
would take minutes each. Per estimator (did2s, synthetic control, and the naive before/after
beside them): the bias as a share of the effect, the 95% interval's coverage, the
false-positive rate on zero effects and the power at -15%, with exact (Clopper-Pearson)
intervals on those rates; also the bias by placement.

One JSON object goes to stdout and to ``bench/results/<YYYY-MM-DD>-programmes.json``.
Run ``python bench/bench_programmes.py`` (200 programmes) or ``--programmes 20`` to try it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _measure import Json, clean_up, log, publish, report_head

BENCH_DIR = Path(__file__).resolve().parent
EFFECTS = (0.0, -0.15, -0.3)
PLACEMENTS = ("random", "high_risk", "after_spike")
SHARES = (0.05, 0.1, 0.2, 0.3)
TARGETS = {
    "bias_share_of_effect_max": 0.2,
    "coverage_min": 0.90,
    "coverage_max": 0.98,
    "false_positive_rate_max": 0.07,
}


def _rate(hits: int, n: int) -> Json:
    """A share with its exact 95% interval (Clopper-Pearson)."""
    from scipy.stats import binomtest

    if n == 0:
        return {"value": None, "n": 0}
    ci = binomtest(hits, n).proportion_ci(0.95, method="exact")
    return {"value": round(hits / n, 3), "low": round(ci.low, 3), "high": round(ci.high, 3), "n": n}


def _summary(rows: list[Json]) -> Json:
    ok = [r for r in rows if np.isfinite(r["effect"])]
    nonzero = [r for r in ok if r["truth"] != 0.0]
    zero = [r for r in ok if r["truth"] == 0.0]
    at15 = [r for r in ok if r["truth"] == -0.15]
    rel_bias = [(r["effect"] - r["truth"]) / abs(r["truth"]) for r in nonzero]
    by_effect = {
        str(t): round(float(np.mean([r["effect"] - t for r in ok if r["truth"] == t])), 4)
        for t in EFFECTS
        if any(r["truth"] == t for r in ok)
    }
    by_placement = {
        p: round(float(np.mean([r["effect"] - r["truth"] for r in ok if r["placement"] == p])), 4)
        for p in PLACEMENTS
        if any(r["placement"] == p for r in ok)
    }
    covered = sum(r["low"] <= r["truth"] <= r["high"] for r in ok)
    placed = {p: [r for r in ok if r["placement"] == p] for p in PLACEMENTS}
    coverage_by_placement = {
        p: _rate(sum(r["low"] <= r["truth"] <= r["high"] for r in rs), len(rs))
        for p, rs in placed.items()
    }
    # where the comparison's assumption (parallel trends) holds: wards not chosen after a spike
    fair = [r for r in ok if r["placement"] != "after_spike"]
    fair_nonzero = [(r["effect"] - r["truth"]) / abs(r["truth"]) for r in fair if r["truth"] != 0]
    fair_zero = [r for r in fair if r["truth"] == 0.0]
    return {
        "estimated": len(ok),
        "failed": len(rows) - len(ok),
        "bias_share_of_effect": round(float(np.mean(rel_bias)), 3) if rel_bias else None,
        "bias_by_true_effect": by_effect,
        "bias_by_placement": by_placement,
        "coverage_95": _rate(covered, len(ok)),
        "false_positive_rate": _rate(sum(r["low"] > 0 or r["high"] < 0 for r in zero), len(zero)),
        "power_at_minus_15pct": _rate(sum(r["high"] < 0 for r in at15), len(at15)),
        "coverage_by_placement": coverage_by_placement,
        "without_after_spike": {
            "bias_share_of_effect": round(float(np.mean(fair_nonzero)), 3)
            if fair_nonzero
            else None,
            "coverage_95": _rate(sum(r["low"] <= r["truth"] <= r["high"] for r in fair), len(fair)),
            "false_positive_rate": _rate(
                sum(r["low"] > 0 or r["high"] < 0 for r in fair_zero), len(fair_zero)
            ),
        },
    }


def _verdict(summary: Json) -> Json:
    bias, cov, fpr = (
        summary["bias_share_of_effect"],
        summary["coverage_95"]["value"],
        summary["false_positive_rate"]["value"],
    )
    return {
        "bias_ok": bias is not None and abs(bias) < TARGETS["bias_share_of_effect_max"],
        "coverage_ok": cov is not None
        and TARGETS["coverage_min"] <= cov <= TARGETS["coverage_max"],
        "false_positive_ok": fpr is not None and fpr <= TARGETS["false_positive_rate_max"],
    }


def main(argv: list[str] | None = None) -> int:
    """Simulate the programmes, estimate each, and publish the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programmes", type=int, default=200)
    parser.add_argument("--persons", type=int, default=300_000, help="The base city's size.")
    parser.add_argument("--seed", type=int, default=20180919)
    parser.add_argument("--placebos", type=int, default=39, help="Synthetic-control placebos.")
    parser.add_argument("--city", type=Path, help="Reuse (or keep) the base city here.")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)

    from training.config import PipelineConfig
    from training.evaluation.programme_estimators import (
        did2s_estimate,
        naive_estimate,
        poisson_imputation_estimate,
        synthetic_control_estimate,
    )
    from training.evaluation.programme_panel import build_panel
    from training.evaluation.programme_simulation import fit_base, simulate_programme
    from training.generate.run import run_generate

    started = time.perf_counter()
    config = PipelineConfig.model_validate(
        {"seed": args.seed, "generate": {"persons": args.persons}}
    )
    work = args.city or Path(tempfile.mkdtemp(prefix="bench-programmes-"))
    if not (work / "manifest.json").is_file():
        log(f"generating a {args.persons:,}-person city in {work}")
        run_generate(config, work)
    gen = config.generate
    import pandas as pd

    panel = build_panel(
        work,
        pd.Series(dtype=np.int64),
        np.datetime64(gen.start_date),
        np.datetime64(gen.end_date),
        "none",
    )
    base = fit_base(panel.frame)
    setup_s = time.perf_counter() - started
    log(
        f"base panel: {base.expected.shape[1]} wards x {base.expected.shape[0]} periods, "
        f"dispersion {base.dispersion:.2f}, {setup_s:.0f} s"
    )
    rng = np.random.default_rng(args.seed)
    estimators = {
        "poisson_imputation": lambda f: poisson_imputation_estimate(
            f, placebos=args.placebos, seed=int(rng.integers(2**31))
        ),
        # the same, leaving the year before each start out of the fit (--selection-buffer 1)
        "poisson_imputation_buffer1": lambda f: poisson_imputation_estimate(
            f, placebos=args.placebos, seed=int(rng.integers(2**31)), selection_buffer=1
        ),
        "did2s": lambda f: did2s_estimate(f, event_study=False),
        "synthetic_control": lambda f: synthetic_control_estimate(
            f, placebos=args.placebos, seed=int(rng.integers(2**31))
        ),
        "naive_before_after": naive_estimate,
    }
    rows: dict[str, list[Json]] = {name: [] for name in estimators}
    seconds = dict.fromkeys(estimators, 0.0)
    periods = base.expected.shape[0]
    for i in range(args.programmes):
        truth = EFFECTS[i % len(EFFECTS)]
        placement = PLACEMENTS[(i // len(EFFECTS)) % len(PLACEMENTS)]
        share = float(rng.choice(SHARES))
        first = int(rng.integers(4, periods - 3))
        waves = [first] if rng.random() < 0.5 else [first, min(first + 2, periods - 1)]
        frame = simulate_programme(
            base, share=share, placement=placement, first_periods=waves, effect=truth, rng=rng
        )
        for name, estimate in estimators.items():
            t = time.perf_counter()
            result = estimate(frame)
            seconds[name] += time.perf_counter() - t
            rows[name].append(
                {
                    "truth": truth,
                    "placement": placement,
                    "effect": result.effect,
                    "low": result.low,
                    "high": result.high,
                }
            )
        if (i + 1) % 10 == 0:
            log(f"{i + 1}/{args.programmes} programmes, {time.perf_counter() - started:.0f} s")
    report: Json = report_head("programmes")
    report.update(
        {
            "programmes": args.programmes,
            "base_city": {
                "persons": args.persons,
                "wards": int(base.expected.shape[1]),
                "periods": int(periods),
                "dispersion": round(base.dispersion, 3),
                "recorded_per_ward_period": round(float(base.expected.to_numpy().mean()), 2),
            },
            "design": {
                "true_effects": list(EFFECTS),
                "placements": list(PLACEMENTS),
                "treated_share_of_wards": list(SHARES),
                "waves": "one, or two starting 2 periods apart",
                "placebos": args.placebos,
            },
            "targets": TARGETS,
            "estimators": {
                name: {
                    **_summary(r),
                    "seconds": round(seconds[name], 1),
                }
                for name, r in rows.items()
            },
            "wall_s": round(time.perf_counter() - started, 1),
        }
    )
    for name in estimators:
        report["estimators"][name]["verdict"] = _verdict(report["estimators"][name])
    publish(args.out, "programmes", report)
    clean_up(work, keep=args.city is not None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
