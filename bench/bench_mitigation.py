"""Benchmark the mitigation comparison and the fairness step on a 200,000-row test split.

The model audit's mitigation step (:func:`governance.audit.mitigation.compare_mitigations`
with the settings in ``configs/governance.yaml``: Fairlearn's ThresholdOptimizer fitted on
the whole validation split and ExponentiatedGradient on 20,000 sampled rows of it, every
option judged at the model's capacity on the whole test split, exact intervals, 2,000
permutations per option) on seeded splits shaped like the demo's, scaled up: 60 numeric
inputs (5% missing in one), ethnicity in the demo's shares, about 1.1% with the outcome,
the top 5% selected. The fairness step (:func:`governance.audit.fairness.audit_scored_table`,
Aequitas figures included) is timed on the same test split. The whole audit's target is
3 minutes (issue 17); these are two of its parts.

    .venv/bin/python bench/bench_mitigation.py [--rows 200000] [--seed S] [--out bench/results]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _measure import Json, log, publish, report_head, timed

from governance.audit.fairness import audit_scored_table
from governance.audit.mitigation import MitigationData, compare_mitigations
from governance.contracts.settings import AuditSettings, Gates, MitigationConfig

BENCH_DIR = Path(__file__).resolve().parent
ETHNICITY = {"Asian": 0.22, "Black": 0.16, "Mixed": 0.09, "Other": 0.07, "White": 0.46}
FEATURES = 60
TOP_FRACTION = 0.05
TARGET_S = 180.0


def split(rows: int, seed: int) -> MitigationData:
    """A seeded split: 60 inputs, groups in the demo's shares, ~1.1% outcomes, a calibrated score."""
    rng = np.random.default_rng(seed)
    ethnicity = pd.Series(rng.choice(list(ETHNICITY), rows, p=list(ETHNICITY.values())))
    x = pd.DataFrame(
        rng.normal(size=(rows, FEATURES)), columns=[f"x{i:02d}" for i in range(FEATURES)]
    )
    x.loc[rng.random(rows) < 0.05, "x05"] = np.nan
    logit = (
        -5.0
        + 0.9 * x["x00"].to_numpy()
        + 0.5 * x["x01"].to_numpy()
        + 0.3 * (ethnicity == "Black").to_numpy()
    )
    risk = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(rows) < risk).astype(np.int64)
    return MitigationData(x, y, risk, ethnicity.mask(rng.random(rows) < 0.001))


def run(rows: int, seed: int) -> Json:
    """Time the mitigation comparison and the fairness audit on one test split."""
    gates, settings, config = Gates(), AuditSettings(), MitigationConfig()
    fit, evaluate = split(rows, seed), split(rows, seed + 1)
    result, mitigation = timed(
        lambda: compare_mitigations(
            fit,
            evaluate,
            config,
            top_fraction=TOP_FRACTION,
            seed=seed,
            withhold_below=settings.withhold_below,
            min_outcomes=gates.min_outcomes,
            confidence=gates.gate_confidence,
            permutations=settings.permutations,
        )
    )
    table = pd.DataFrame(
        {"y": evaluate.y, "score": evaluate.scores, "ethnicity": evaluate.sensitive}
    )
    _, fairness = timed(
        lambda: audit_scored_table(
            table,
            label="y",
            score="score",
            sensitive=["ethnicity"],
            top_fraction=TOP_FRACTION,
            min_group_size=gates.min_group_size,
            min_outcomes=gates.min_outcomes,
            permutations=settings.permutations,
            confidence=gates.gate_confidence,
            seed=seed,
            withhold_below=settings.withhold_below,
        )
    )
    both = mitigation["wall_s"] + fairness["wall_s"]
    return {
        "rows": rows,
        "positives": int(evaluate.y.sum()),
        "fit_rows": result["fit_rows"],
        "fit_rows_sampled": result["fit_rows_sampled"],
        "capacity": result["capacity"],
        "selected_by_method": {r["method"]: r["selected"] for r in result["rows"]},
        "equalized_odds_difference": {
            r["method"]: r["equalized_odds_difference"] for r in result["rows"]
        },
        "equalized_odds_p_value": {
            r["method"]: r["equalized_odds_p_value"] for r in result["rows"]
        },
        "steps": {"mitigation": mitigation, "fairness_with_aequitas": fairness},
        "target_s": TARGET_S,
        "met": both <= TARGET_S,
    }


def main(argv: list[str]) -> None:
    """Parse the arguments, run, print the JSON figures and write them under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)
    log(f"mitigation comparison and fairness audit of {args.rows:,} rows")
    publish(args.out, "mitigation", {**report_head("mitigation"), **run(args.rows, args.seed)})


if __name__ == "__main__":
    main(sys.argv[1:])
