"""Benchmark the area-rate baseline gate on a 200,000-row test split.

The audit's step (:func:`governance.audit.baseline.area_baseline_section`, with the settings
in ``configs/governance.yaml``: ``audit.bootstrap`` paired resamples, 500, on
``gates.baseline_metric``, log loss) on a seeded city shaped like the demo's: about 600 wards
in 33 boroughs, about 1.1% with the outcome, a validation split of the same size to fit the
area rates on. Fitting and applying the baseline and the paired bootstrap are timed apart,
and the bootstrap once per metric, so a slow metric shows. The whole audit's target is
3 minutes (issue 17); this gate is one part of it.

    .venv/bin/python bench/bench_baseline_gate.py [--rows 200000] [--seed S] [--out bench/results]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _measure import Json, log, publish, report_head, timed

from governance.audit.baseline import (
    METRICS,
    apply_area_rates,
    area_baseline_section,
    fit_area_rates,
)
from governance.audit.paired_bootstrap import Metric, paired_bootstrap
from governance.contracts.config import load_config
from governance.contracts.settings import GovernanceConfig

BENCH_DIR = Path(__file__).resolve().parent
CONFIG = BENCH_DIR.parent / "configs" / "governance.yaml"
WARDS, BOROUGHS = 600, 33
TARGET_S = 180.0


def split(rows: int, seed: int) -> pd.DataFrame:
    """A seeded cohort: wards with their own rates, and an individual factor the model knows."""
    rng = np.random.default_rng(seed)
    ward = rng.integers(0, WARDS, rows)
    ward_effect = np.random.default_rng(0).normal(0.0, 0.5, WARDS)  # the same city each split
    logit = -5.0 + ward_effect[ward] + 1.2 * rng.normal(size=rows)
    risk = 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame(
        {
            "ward_code": [f"W{w:03d}" for w in ward],
            "borough_code": [f"B{w % BOROUGHS:02d}" for w in ward],
            "label": (rng.random(rows) < risk).astype(np.int64),
            "score": risk,
        }
    )


def run(rows: int, seed: int) -> Json:
    """Time the gate's step as the audit runs it, and its parts."""
    config = load_config(CONFIG, GovernanceConfig)
    settings, gates = config.audit, config.gates
    levels = list(settings.area_baseline.levels)
    validation, test = split(rows, seed), split(rows, seed + 1)
    fitted, fitting = timed(
        lambda: fit_area_rates(
            validation[levels],
            validation["label"].to_numpy(),
            levels=levels,
            prior_rows=settings.area_baseline.prior_rows,
        )
    )
    baseline, applying = timed(lambda: apply_area_rates(fitted, test[levels]))
    y, scores = test["label"].to_numpy(), test["score"].to_numpy()

    def bootstrap(metric: Metric) -> Json:
        return timed(
            lambda: paired_bootstrap(
                y,
                scores,
                baseline,
                metric=metric,
                resamples=settings.bootstrap,
                confidence=gates.gate_confidence,
                seed=seed,
            )
        )[1]

    per_metric = {metric: bootstrap(metric) for metric in METRICS}
    section, whole = timed(
        lambda: area_baseline_section(
            test.drop(columns="score"), validation, scores, config, seed=seed
        )
    )
    decided = section.model_dump(include={"metric", "difference", "low", "high", "passed"})
    return {
        "rows": rows,
        "positives": int(y.sum()),
        "resamples": settings.bootstrap,
        "metric": gates.baseline_metric,
        "steps": {
            "fit_area_rates": fitting,
            "apply_area_rates": applying,
            "paired_bootstrap": per_metric,
            "area_baseline_section": whole,
        },
        "decision": decided,
        "target_s": TARGET_S,
        "met": whole["wall_s"] <= TARGET_S,
    }


def main(argv: list[str]) -> None:
    """Parse the arguments, run, print the JSON figures and write them under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)
    log(f"area-rate baseline gate on {args.rows:,} rows")
    publish(
        args.out, "baseline-gate", {**report_head("baseline-gate"), **run(args.rows, args.seed)}
    )


if __name__ == "__main__":
    main(sys.argv[1:])
