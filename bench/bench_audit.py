"""Benchmark `vru audit` of a 200k-row test split, and SHAP rows per second against shap.

Builds a city big enough that its test split (the cohort at the test as-of date) holds about
200,000 young people (generate, link, features and train are set-up, not measured against the
target), then:

* ``vru audit`` end to end in its own process (fairness with bootstrap intervals, thresholds,
  calibration, ground truth, mitigations, SHAP on every test row with its check against
  shap, proxy check, report, MLflow logging): wall time, CPU time, peak memory; target ≤ 180 s;
* in this process, on the same model and the same test rows: ``shap.TreeExplainer`` on a
  slice, against the rows per second the audit's own SHAP step reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _measure import Json, log, machine, measure, write_result

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BIN = Path(sys.executable).parent
TARGET_S = 180.0
SLICE_ROWS = 10_000


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON report and write it under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=620_000, help="≈ 200k in the test split")
    parser.add_argument("--data", type=Path, help="a city with features to reuse")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="vru-bench-audit-"))
    data = args.data or work / "city"
    tracking = work / "mlruns"
    tracking.mkdir()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tracking / 'mlflow.db'}"
    vru = str(BIN / "vru")
    steps: Json = {}
    if args.data is None:
        log(f"set-up: generate, link and build features for {args.persons:,} persons")
        steps["generate"] = measure(
            [vru, "generate", "-q", "--data", str(data), "-n", str(args.persons)], ROOT
        )
        steps["link"] = measure([vru, "link", "-q", "--data", str(data)], ROOT)
        steps["features"] = measure([vru, "features", "-q", "--data", str(data)], ROOT)
    log("set-up: train")
    config = ["-m", str(ROOT / "configs/model.yaml")]
    steps["train"] = measure([vru, "train", "-q", "--data", str(data), *config], tracking)
    log("vru audit (measured)")
    out = work / "report"
    gov = [
        "-g",
        str(ROOT / "configs/governance.yaml"),
        "--model-card",
        str(ROOT / "configs/model_card.yaml"),
    ]
    steps["audit"] = measure(
        [vru, "audit", "-q", "--data", str(data), "--out", str(out), *gov], tracking
    )
    audit = json.loads((out / "audit.json").read_text())
    explain = audit["explainability"]

    log(f"shap.TreeExplainer on {SLICE_ROWS:,} test rows of the same model")
    theirs = _tree_explainer_rate(data, audit)
    report: Json = {
        "benchmark": "audit",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "persons": args.persons,
        "test_rows": audit["data"]["rows"],
        "steps": steps,
        "audit_timings_s": audit["timings"],
        "shap": {
            "method": explain["method"],
            "rows_per_second": round(explain["rows_per_second"], 1),
            "tree_explainer_rows_per_second": round(theirs, 1),
            "ratio": round(explain["rows_per_second"] / theirs, 2),
            "max_abs_difference_vs_shap": explain["check"]["max_abs_difference"],
        },
        "target_s": TARGET_S,
        "met": steps["audit"]["wall_s"] <= TARGET_S,
    }
    print(json.dumps(report, indent=2))
    write_result(args.out, "audit", report)
    return 0 if steps["audit"]["exit_code"] == 0 else 1


def _tree_explainer_rate(data: Path, audit: Json) -> float:
    """shap.TreeExplainer's rows per second on the audited model and test rows."""
    import mlflow.pyfunc
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's own import-time deprecation warnings
        import shap

        model = (
            mlflow.pyfunc.load_model(
                f"models:/{audit['model']['name']}/{audit['model']['version']}"
            )
            .unwrap_python_model()
            .evaluated  # the model the audit explains (the served refit is judged apart)
        )
        features = pd.read_parquet(data / "features/features.parquet")
        as_of = pd.to_datetime(features["as_of_date"]).dt.date.astype(str)
        x = features.loc[as_of == audit["data"]["test_date"], model.columns].astype(float)
        rows = x.iloc[:SLICE_ROWS]
        start = time.perf_counter()
        shap.TreeExplainer(model.scorer).shap_values(rows)
        return len(rows) / (time.perf_counter() - start)


if __name__ == "__main__":
    sys.exit(main())
