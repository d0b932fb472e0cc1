"""Benchmark the fairness audit of a 200,000-row test split, permutations included.

The model audit's fairness step (:func:`governance.audit.fairness.audit_scored_table`, with the
settings in ``configs/governance.yaml``: 2,000 permutations, exact intervals, 30 outcomes
before a rate is judged) on a seeded scored table shaped like the demo's test cohort, scaled
up: sex, ethnicity (the demo's shares) and deprivation quintile, about 1.1% with the outcome,
the top 5% selected. Each part is timed on its own too (counts and rates, exact intervals, the
permutation null), so a slow part shows. The whole audit's target is 3 minutes (issue 17);
the fairness step is one part of it (``bench_audit.py`` measures the whole ``vru audit``).

    .venv/bin/python bench/bench_fairness.py [--rows 200000] [--seed S] [--out bench/results]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _measure import Json, log, publish, report_head, timed

from governance.audit.fairness import (
    audit_scored_table,
    exact_intervals,
    gap_p_values,
    group_counts,
    group_metrics,
    select,
)
from governance.contracts.settings import AuditSettings, Gates

BENCH_DIR = Path(__file__).resolve().parent
SENSITIVE = ["sex", "ethnicity", "deprivation_quintile"]
ETHNICITY = {"Asian": 0.22, "Black": 0.16, "Mixed": 0.09, "Other": 0.07, "White": 0.46}
TARGET_S = 180.0


def scored_table(rows: int, seed: int) -> pd.DataFrame:
    """A seeded scored table: groups in the demo's shares, about 1.1% outcomes, a score that differs by sex and deprivation."""
    rng = np.random.default_rng(seed)
    ethnicity = rng.choice(list(ETHNICITY), rows, p=list(ETHNICITY.values()))
    sex = rng.choice(["F", "M"], rows)
    quintile = rng.integers(1, 6, rows)
    logit = -5.4 + 0.9 * (sex == "M") - 0.25 * (quintile - 3) + rng.normal(0.0, 0.8, rows)
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame(
        {
            "y": y,
            "score": logit + rng.normal(0.0, 1.0, rows),
            "sex": sex,
            "ethnicity": pd.Series(ethnicity).mask(rng.random(rows) < 0.001),
            "deprivation_quintile": quintile,
        }
    )


def run(rows: int, seed: int) -> Json:
    """Time the whole fairness audit and each of its parts on one table."""
    gates, settings = Gates(), AuditSettings()
    frame = scored_table(rows, seed)
    chosen = select(frame["score"].to_numpy(), top_fraction=0.05)
    groups = frame[SENSITIVE]
    counts, counting = timed(lambda: group_counts(frame["y"], chosen, groups))
    _, rating = timed(
        lambda: group_metrics(
            counts, min_group_size=gates.min_group_size, min_outcomes=gates.min_outcomes
        )
    )
    _, intervals = timed(lambda: exact_intervals(counts, confidence=gates.gate_confidence))
    _, null = timed(
        lambda: gap_p_values(
            frame["y"],
            chosen,
            groups,
            min_group_size=gates.min_group_size,
            min_outcomes=gates.min_outcomes,
            permutations=settings.permutations,
            seed=seed,
        )
    )
    audit, whole = timed(
        lambda: audit_scored_table(
            frame,
            label="y",
            score="score",
            sensitive=SENSITIVE,
            top_fraction=0.05,
            min_group_size=gates.min_group_size,
            min_outcomes=gates.min_outcomes,
            permutations=settings.permutations,
            confidence=gates.gate_confidence,
            seed=seed,
            withhold_below=settings.withhold_below,
        )
    )
    return {
        "rows": rows,
        "positives": int(frame["y"].sum()),
        "permutations": settings.permutations,
        "steps": {
            "counts": counting,
            "rates": rating,
            "exact_intervals": intervals,
            "permutation_null": null,
            "audit_scored_table": whole,
        },
        "p_values": {d: audit["summary"][d]["equalized_odds_p_value"] for d in SENSITIVE},
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
    log(f"fairness audit of {args.rows:,} rows")
    publish(args.out, "fairness", {**report_head("fairness"), **run(args.rows, args.seed)})


if __name__ == "__main__":
    main(sys.argv[1:])
