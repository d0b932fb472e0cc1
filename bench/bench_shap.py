"""Benchmark SHAP values: `governance.audit.explain.shap_values` against shap.TreeExplainer.

Both run in this one process, one after the other, on the same seeded matrix (200,000 rows,
65 features) and the same 200-round, 31-leaf binary LightGBM model:

* ``shap_values`` (LightGBM's TreeSHAP, ``predict(pred_contrib=True)``, asked tree by tree
  once per threshold pattern) on every row;
* one plain ``predict(pred_contrib=True)`` call (``strategy="single_call"``), and
* ``shap.TreeExplainer(model).shap_values``, both on a slice if the full matrix would take
  TreeExplainer more than about two minutes (projected from a 2,000-row probe).

Rows per second are rows / wall time; CPU time is user + system of the whole process (both
LightGBM threads). The largest absolute differences between the three are reported too.

The default matrix ("project") imitates the feature families of ``training/features``
(event counts and flags that are mostly zero, days since an event that is mostly missing,
school absence rates, age 10 to 17, and area scores shared by everyone in an LSOA or ward);
``--matrix gaussian`` is the worst case for the per-tree strategy (every value distinct).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from _measure import Json, log, publish, report_head

from governance.audit.explain import expected_value, shap_values

BENCH_DIR = Path(__file__).resolve().parent
ROUNDS, LEAVES, FEATURES = 200, 31, 65
PROBE_ROWS, SLICE_ROWS, FULL_BUDGET_S = 2_000, 20_000, 120.0


def project_like(rows: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """65 columns shaped like the project's features, and a rare outcome (about 5%)."""
    frailty = rng.lognormal(0.0, 1.0, rows)  # people with one kind of event have others
    cols: dict[str, np.ndarray] = {}
    for i in range(40):
        cols[f"count_{i:02d}"] = rng.poisson(frailty * rng.uniform(0.01, 0.15)).astype(float)
    for i in range(12):
        cols[f"flag_{i:02d}"] = (rng.random(rows) < frailty * rng.uniform(0.005, 0.05)).astype(
            float
        )
    for i in range(6):
        days = rng.integers(0, 3_650, rows).astype(float)
        days[rng.random(rows) > 0.15 * np.minimum(frailty, 4.0)] = np.nan
        cols[f"days_since_{i}"] = days
    for i in range(2):
        cols[f"absence_rate_{i}"] = np.minimum(rng.beta(2.0, 25.0, rows) * frailty, 1.0)
    cols["age"] = rng.integers(10, 18, rows).astype(float)
    lsoa = rng.integers(0, 1_000, rows)
    score = rng.gamma(4.0, 5.0, 1_000)
    cols["deprivation_score"] = score[lsoa]
    cols["deprivation_decile"] = np.ceil(10 * pd.Series(score).rank(pct=True).to_numpy())[lsoa]
    ward = lsoa // 20
    cols["ward_violence_rate_12m"] = rng.gamma(3.0, 2.0, 50)[ward]
    cols["ward_population_k"] = rng.uniform(5.0, 20.0, 50)[ward]
    x = pd.DataFrame(cols)
    assert x.shape[1] == FEATURES
    logit = (
        -4.2
        + 0.35 * x.filter(like="count_").iloc[:, :10].sum(axis=1)
        + 0.6 * x.filter(like="flag_").iloc[:, :4].sum(axis=1)
        + 0.5 * x["days_since_0"].notna()
        + 0.03 * x["deprivation_score"]
        + 0.1 * (x["age"] - 13)
    )
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit.to_numpy()))).astype(int)
    return x, y


def gaussian(rows: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """65 standard normal columns; the outcome depends on the first eight."""
    values = rng.normal(size=(rows, FEATURES))
    x = pd.DataFrame(values, columns=[f"x_{i:02d}" for i in range(FEATURES)])
    logit = values[:, :8] @ rng.normal(0.0, 0.7, 8) - 3.0
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


MATRICES: dict[str, Callable[[int, np.random.Generator], tuple[pd.DataFrame, np.ndarray]]] = {
    "project": project_like,
    "gaussian": gaussian,
}


def timed(label: str, rows: int, fn: Callable[[], Any]) -> tuple[Any, Json]:
    """Run ``fn`` once; return its result and wall time, CPU time and rows per second."""
    log(f"{label}: {rows:,} rows")
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    log(f"{label}: {wall:.1f} s wall, {rows / wall:,.0f} rows/s")
    return result, {
        "rows": rows,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "rows_per_s": round(rows / wall, 1),
    }


def tree_depths(booster: lgb.Booster) -> list[int]:
    """Depth of each tree (edges on its longest root-to-leaf path)."""

    def depth(node: dict[str, Any]) -> int:
        if "split_index" not in node:
            return 0
        return 1 + max(depth(node["left_child"]), depth(node["right_child"]))

    return [depth(t["tree_structure"]) for t in booster.dump_model()["tree_info"]]


def tree_explainer_values(explainer: Any, x: pd.DataFrame) -> np.ndarray:
    """``explainer.shap_values(x)``, the plain call, as a (rows, features) array."""
    with warnings.catch_warnings():
        # shap warns on every binary LightGBM call that its output "has changed to a list of
        # ndarray"; it has not (a 2-D array since shap 0.45). Only that message is hidden.
        warnings.filterwarnings(
            "ignore", message="LightGBM binary classifier with TreeExplainer", category=UserWarning
        )
        values = explainer.shap_values(x)
    values = values[-1] if isinstance(values, list) else np.asarray(values)
    return values[..., -1] if values.ndim == 3 else values


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: the matrix's size and kind, the seed, and where the report goes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--matrix", choices=sorted(MATRICES), default="project")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    return parser.parse_args(argv)


def _train(x: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[lgb.Booster, Json]:
    """Train the model every explainer is timed on (ROUNDS rounds of LEAVES leaves), timed."""
    params = {
        "objective": "binary",
        "num_leaves": LEAVES,
        "seed": seed,
        "deterministic": True,
        "verbose": -1,
    }
    return timed("training", len(x), lambda: lgb.train(params, lgb.Dataset(x, y), ROUNDS))


def _probe_tree_explainer(booster: lgb.Booster, x: pd.DataFrame) -> tuple[Any, float, Json]:
    """Build ``shap.TreeExplainer`` (timed) and time it on the first PROBE_ROWS rows.

    shap is imported here, after our own timing, so that its import counts nowhere. Returns
    the explainer, its construction seconds and the probe's timing.
    """
    import shap

    init_start = time.perf_counter()
    explainer = shap.TreeExplainer(booster)
    init_s = time.perf_counter() - init_start
    probe = min(PROBE_ROWS, len(x))
    _, probe_run = timed(
        "TreeExplainer probe", probe, lambda: tree_explainer_values(explainer, x.iloc[:probe])
    )
    return explainer, init_s, probe_run


def _rows_to_compare(total: int, probe_rows_per_s: float) -> tuple[float, bool, int]:
    """How many rows TreeExplainer is timed on: all, unless that would exceed FULL_BUDGET_S.

    Returns the projected seconds for all ``total`` rows, whether the matrix is sliced, and the
    rows to time (the first SLICE_ROWS when sliced).
    """
    projected = total / probe_rows_per_s
    sliced = projected > FULL_BUDGET_S
    return projected, sliced, min(SLICE_ROWS, total) if sliced else total


def _model_summary(depths: list[int], train: Json) -> Json:
    """The report's ``model``: its size, its trees' depths and how long it took to train."""
    return {
        "rounds": ROUNDS,
        "num_leaves": LEAVES,
        "tree_depth_mean": round(float(np.mean(depths)), 2),
        "tree_depth_max": int(max(depths)),
        "train_wall_s": train["wall_s"],
    }


def _tree_explainer_summary(
    run: Json, init_s: float, probe_run: Json, projected: float, sliced: bool, total: int
) -> Json:
    """The report's ``tree_explainer``: its timing, and on how many rows and why."""
    rows = run["rows"]
    return {
        **run,
        "init_s": round(init_s, 2),
        "probe_rows_per_s": probe_run["rows_per_s"],
        "full_matrix_projected_s": round(projected, 1),
        "sliced": sliced,
        "note": (
            f"timed on the first {rows:,} rows: all {total:,} would take about "
            f"{projected:.0f} s (> {FULL_BUDGET_S:.0f} s)"
            if sliced
            else "timed on every row"
        ),
    }


def _speedup(ours: Json, theirs: Json) -> float:
    """How many times more rows per second ``ours`` explained than ``theirs``."""
    return float(round(ours["rows_per_s"] / theirs["rows_per_s"], 2))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON report and write it under ``--out``."""
    args = _parse_args(argv)
    log(f"building the {args.matrix} matrix: {args.rows:,} x {FEATURES}")
    x, y = MATRICES[args.matrix](args.rows, np.random.default_rng(args.seed))
    booster, train = _train(x, y, args.seed)
    depths = tree_depths(booster)

    ours, ours_run = timed("shap_values (per tree)", args.rows, lambda: shap_values(booster, x))
    explainer, init_s, probe_run = _probe_tree_explainer(booster, x)
    projected, sliced, rows = _rows_to_compare(args.rows, probe_run["rows_per_s"])
    part = x.iloc[:rows]
    theirs, theirs_run = timed(
        "TreeExplainer", rows, lambda: tree_explainer_values(explainer, part)
    )
    single, single_run = timed(
        "shap_values (single call)",
        rows,
        lambda: shap_values(booster, part, strategy="single_call"),
    )
    raw = booster.predict(part, raw_score=True)
    additivity = np.abs(ours[:rows].sum(axis=1) + expected_value(booster, x) - raw).max()

    import shap  # imported by the probe already; only its version is read here

    report: Json = {
        **report_head("shap"),
        "seed": args.seed,
        "versions": {"lightgbm": lgb.__version__, "shap": shap.__version__},
        "matrix": {
            "kind": args.matrix,
            "rows": args.rows,
            "features": FEATURES,
            "positive_rate": round(float(y.mean()), 4),
        },
        "model": _model_summary(depths, train),
        "shap_values_per_tree": ours_run,
        "shap_values_single_call": single_run,
        "tree_explainer": _tree_explainer_summary(
            theirs_run, init_s, probe_run, projected, sliced, args.rows
        ),
        "speedup_per_tree_over_tree_explainer": _speedup(ours_run, theirs_run),
        "speedup_per_tree_over_single_call": _speedup(ours_run, single_run),
        "max_abs_diff_vs_tree_explainer": float(np.abs(ours[:rows] - theirs).max()),
        "max_abs_diff_per_tree_vs_single_call": float(np.abs(ours[:rows] - single).max()),
        "max_abs_additivity_error": float(additivity),
    }
    publish(args.out, "shap", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
