"""The ethics board's audit of one model version: every figure, its figures, and its report.

:func:`run_model_audit` takes what training logged (the model, its run's metrics, its splits
and feature definitions), the test and validation rows it is judged on, and optional
evaluation sections (ground truth, linkage quality) computed by the caller, and returns
``audit.json`` (every number, aggregates only), the figures, and the self-contained HTML
report with its SHA-256. Nothing here writes files or talks to MLflow: the CLI does that.

Each section is a function of arrays that are already in memory, so the rows never leave
this process; the report and ``audit.json`` hold counts, rates, intervals, means and plots of
many rows only. The operating point is the model's own (the top k% from its configuration).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from governance.audit.drift import compare_figures, drift_level, psi_against, reference_bins
from governance.audit.explain import (
    check_against_shap,
    global_importance,
    group_contributions,
    shap_values,
)
from governance.audit.explain_plots import beeswarm_png, dependence_png
from governance.audit.fairness import audit_scored_table
from governance.audit.gates import evaluate_gates
from governance.audit.group_performance import (
    calibration_by_group,
    calibration_png,
    threshold_sweep,
    thresholds_png,
)
from governance.audit.mitigation import MitigationData, compare_mitigations
from governance.audit.model_card import ModelCardConfig, build_model_card
from governance.audit.proxy import proxy_strength
from governance.audit.report import render_report, report_sha256
from governance.board.registry import ModelVersionInfo
from governance.board.verdict import embed_verdict
from governance.contracts.errors import AuditInputError
from governance.contracts.settings import GovernanceConfig

__all__ = [
    "AUDIT_SCHEMA_VERSION",
    "AuditInputError",
    "AuditOutcome",
    "ChampionAudit",
    "ModelAuditInputs",
    "run_model_audit",
    "sensitive_groups",
]

Json = dict[str, Any]
FloatArray = NDArray[np.float64]
Progress = Callable[[str], None]

AUDIT_SCHEMA_VERSION = 1
QUINTILE_NAMES = {1: "Q1 most deprived", 2: "Q2", 3: "Q3", 4: "Q4", 5: "Q5 least deprived"}
HEADLINE = (
    "test_roc_auc",
    "test_pr_auc",
    "test_brier",
    "test_ece",
    "test_calibration_slope",
    "test_precision_at_top_k",
    "test_recall_at_top_k",
)
_NO_CHAMPION = "No version is champion yet: there is no approved model to compare with."
_MISSING_COLUMNS = "the {split} rows lack column(s) {missing} that the audit needs"
_NO_ROWS = "the {split} split has no rows with a complete label; nothing to audit"


@dataclass(frozen=True)
class ChampionAudit:
    """The approved champion's own audit, for the "what changed" section."""

    version: str
    report_sha256: str | None
    audit: Json


@dataclass(frozen=True)
class ModelAuditInputs:
    """Everything the audit of one version reads.

    ``model`` is what training logged: ``predict(frame)`` gives calibrated risk, ``columns``
    names its inputs and ``scorer`` is its LightGBM booster. ``truth`` and ``linkage`` are
    sections computed by evaluation code (which alone may read the generator's ground
    truth); ``truth`` receives the test rows with ``score`` added and returns aggregates.
    """

    info: ModelVersionInfo
    model: Any
    test: pd.DataFrame
    validation: pd.DataFrame
    features: list[Json]
    splits: Json
    top_fraction: float
    card: ModelCardConfig
    champion: ChampionAudit | None = None
    truth: Callable[[pd.DataFrame], Json] | None = None
    linkage: Json = field(default_factory=lambda: {"available": False, "reason": "not given"})


@dataclass(frozen=True)
class AuditOutcome:
    """``audit.json``'s content, the figures, the report and its hash."""

    audit: Json
    figures: dict[str, bytes]
    html: str
    sha256: str

    def audit_json(self) -> bytes:
        """``audit.json`` as written: sorted keys, UTF-8."""
        return (json.dumps(self.audit, indent=1, sort_keys=True, default=_plain) + "\n").encode()


def sensitive_groups(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The sensitive columns of ``frame``; ``deprivation_quintile`` is made from the decile."""
    out: dict[str, pd.Series] = {}
    for name in names:
        if name == "deprivation_quintile" and name not in frame:
            decile = pd.to_numeric(frame["deprivation_decile"], errors="coerce")
            quintile = np.ceil(decile / 2)
            out[name] = quintile.map(QUINTILE_NAMES).astype(object)
        else:
            out[name] = frame[name].astype(object)
    return pd.DataFrame(out, index=frame.index)


def run_model_audit(
    inputs: ModelAuditInputs,
    config: GovernanceConfig,
    *,
    seed: int,
    progress: Progress | None = None,
) -> AuditOutcome:
    """Audit one model version on its test split; see the module docstring."""
    say = progress or (lambda _step: None)
    settings, gates = config.audit, config.gates
    columns = list(inputs.model.columns)
    test = _rows(inputs.test, "test", columns, settings.sensitive)
    validation = _rows(inputs.validation, "validation", columns, settings.sensitive)
    timings: dict[str, float] = {}
    figures: dict[str, bytes] = {}

    def timed(name: str) -> Callable[[], None]:
        start = time.perf_counter()
        say(name)
        return lambda: timings.__setitem__(name, round(time.perf_counter() - start, 3))

    done = timed("scoring")
    x_test = test[columns].astype(float)
    scores = np.asarray(inputs.model.predict(x_test), dtype=np.float64)
    val_scores = np.asarray(inputs.model.predict(validation[columns].astype(float)), np.float64)
    y = test["label"].to_numpy(dtype=np.int64)
    groups = sensitive_groups(test, settings.sensitive)
    done()

    done = timed("fairness")
    scored = groups.assign(label=y, score=scores)
    fairness = audit_scored_table(
        scored,
        label="label",
        score="score",
        sensitive=list(settings.sensitive),
        top_fraction=inputs.top_fraction,
        min_group_size=gates.min_group_size,
        n_boot=settings.bootstrap,
        seed=seed,
        withhold_below=settings.withhold_below,
    )
    fairness["fairlearn_check"] = _fairlearn_check(fairness, y, scores, groups, inputs.top_fraction)
    done()

    done = timed("thresholds and calibration")
    sweep = threshold_sweep(
        y,
        scores,
        groups,
        fractions=list(settings.threshold_fractions),
        min_group_size=gates.min_group_size,
        withhold_below=settings.withhold_below,
    )
    calibration = calibration_by_group(
        y, scores, groups, bins=settings.calibration_bins, min_group_size=gates.min_group_size
    )
    for dimension in settings.sensitive:
        figures[f"thresholds_{dimension}.png"] = _png(thresholds_png, sweep, dimension)
        figures[f"calibration_{dimension}.png"] = _png(calibration_png, calibration, dimension)
    done()

    done = timed("ground truth")
    truth = (
        inputs.truth(test.assign(**{c: groups[c] for c in groups.columns}, score=scores))
        if inputs.truth is not None
        else {"available": False, "reason": "No ground truth was given to this audit."}
    )
    done()

    done = timed("mitigations")
    attribute = config.mitigation.attribute
    mitigations = compare_mitigations(
        MitigationData(
            validation[columns].astype(float),
            validation["label"].to_numpy(dtype=np.int64),
            val_scores,
            sensitive_groups(validation, [attribute])[attribute],
        ),
        MitigationData(
            x_test,
            y,
            scores,
            groups[attribute]
            if attribute in groups
            else sensitive_groups(test, [attribute])[attribute],
        ),
        config.mitigation,
        top_fraction=inputs.top_fraction,
        seed=seed,
        withhold_below=settings.withhold_below,
    )
    mitigations["fit_split"] = "validation"
    mitigations["evaluated_on"] = "test"
    done()

    done = timed("explanations")
    explainability = _explain(inputs, x_test, groups, config, seed, figures)
    done()

    done = timed("drift")
    drift = _drift(inputs, x_test, scores, fairness, explainability, columns)
    done()

    performance: dict[str, float | None] = {
        k: v for k, v in inputs.info.metrics.items() if k.startswith(("test_", "baseline_test_"))
    }
    performance["test_roc_auc_recomputed"] = _auc(y, scores)
    gate_results = evaluate_gates(gates, _gate_figures(performance, fairness, settings.sensitive))
    audit: Json = {
        "schema_version": AUDIT_SCHEMA_VERSION,
        "kind": "model",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "name": inputs.info.name,
            "version": inputs.info.version,
            "run_id": inputs.info.run_id,
            "git_commit": inputs.info.tags.get("git_commit"),
            "features_sha256": inputs.info.tags.get("features_sha256"),
            "inputs": columns,
        },
        "data": {
            "test_date": inputs.splits.get("test"),
            "validation_date": inputs.splits.get("validation"),
            "train_dates": inputs.splits.get("train"),
            "rows": len(test),
            "positives": int(y.sum()),
            "prevalence": float(y.mean()),
        },
        "operating_point": {"top_fraction": inputs.top_fraction, **fairness["operating_point"]},
        "gates": [g.as_dict() for g in gate_results],
        "gates_passed": all(g.passed for g in gate_results),
        "performance": performance,
        "fairness": fairness,
        "thresholds": sweep,
        "calibration": calibration,
        "ground_truth": truth,
        "linkage": inputs.linkage,
        "mitigations": mitigations,
        "explainability": explainability,
        "drift": drift,
        "features": inputs.features,
        "distributions": {
            "score": reference_bins(scores),
            **{c: reference_bins(x_test[c].to_numpy()) for c in columns},
        },
        "timings": timings,
    }
    audit["model_card"] = build_model_card(inputs.card, audit)
    say("report")
    verdict = {
        "model": inputs.info.name,
        "version": inputs.info.version,
        "gates": audit["gates"],
        "gates_passed": audit["gates_passed"],
    }
    report = embed_verdict(render_report(audit, figures), verdict)
    return AuditOutcome(audit, figures, report, report_sha256(report))


# -- sections --------------------------------------------------------------------------------


def _rows(
    frame: pd.DataFrame, split: str, columns: list[str], sensitive: Sequence[str]
) -> pd.DataFrame:
    needed = [*columns, "label", *(s for s in sensitive if s != "deprivation_quintile")]
    if "deprivation_quintile" in sensitive and "deprivation_quintile" not in frame:
        needed.append("deprivation_decile")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise AuditInputError(_MISSING_COLUMNS.format(split=split, missing=missing))
    if "label_complete" in frame:
        frame = frame[frame["label_complete"].astype(bool)]
    if frame.empty:
        raise AuditInputError(_NO_ROWS.format(split=split))
    return frame.reset_index(drop=True)


def _fairlearn_check(
    fairness: Json, y: NDArray[np.int64], scores: FloatArray, groups: pd.DataFrame, top: float
) -> Json:
    """Fairlearn's MetricFrame on each single dimension, against our count-based figures."""
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    from governance.audit.fairness import select

    chosen = select(scores, top_fraction=top).astype(int)
    metrics = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
    }
    worst = 0.0
    for dimension in groups.columns:
        frame = MetricFrame(
            metrics=metrics,
            y_true=y,
            y_pred=chosen,
            sensitive_features=groups[dimension].fillna("not recorded").astype(str),
        )
        for group, row in frame.by_group.iterrows():
            ours = fairness["by"][dimension].get(str(group))
            if ours is None:
                continue
            for metric in metrics:
                theirs, mine = float(row[metric]), ours[metric]
                if mine is not None and math.isfinite(theirs):
                    worst = max(worst, abs(theirs - mine))
    return {"method": "fairlearn.metrics.MetricFrame", "max_abs_difference": worst}


def _explain(
    inputs: ModelAuditInputs,
    x: pd.DataFrame,
    groups: pd.DataFrame,
    config: GovernanceConfig,
    seed: int,
    figures: dict[str, bytes],
) -> Json:
    settings = config.audit
    booster = getattr(inputs.model, "scorer", None)
    if booster is None or not hasattr(booster, "predict") or not hasattr(booster, "dump_model"):
        return {"available": False, "reason": "The model is not a LightGBM booster."}
    start = time.perf_counter()
    values = shap_values(booster, x)
    seconds = time.perf_counter() - start
    check_rows = x.iloc[: settings.shap_check_rows]
    difference = check_against_shap(booster, check_rows, tolerance=settings.shap_tolerance)
    names = list(x.columns)
    importance = global_importance(values, names)
    by_group = {
        dimension: group_contributions(
            values,
            names,
            groups[dimension],
            min_group_size=config.gates.min_group_size,
            top=settings.top_drivers,
        )
        for dimension in groups.columns
    }
    with TemporaryDirectory() as tmp:
        figures["shap_beeswarm.png"] = beeswarm_png(
            values, x, names, Path(tmp) / "b.png", seed=seed
        ).read_bytes()
        for row in importance[: settings.dependence_plots]:
            feature = row["feature"]
            path = dependence_png(values, x, feature, Path(tmp) / "d.png", seed=seed)
            figures[f"shap_dependence_{feature}.png"] = path.read_bytes()
    proxy = {
        attribute: proxy_strength(x, groups[attribute], seed=seed, max_rows=settings.proxy_max_rows)
        for attribute in ("ethnicity", "sex")
        if attribute in groups
    }
    return {
        "available": True,
        "method": "TreeSHAP via LightGBM pred_contrib, per tree (exact; checked against shap.TreeExplainer)",
        "rows": len(x),
        "seconds": round(seconds, 3),
        "rows_per_second": len(x) / seconds if seconds > 0 else None,
        "check": {
            "rows_checked": len(check_rows),
            "max_abs_difference": difference,
            "tolerance": settings.shap_tolerance,
            "passed": difference <= settings.shap_tolerance,
        },
        "importance": importance,
        "by_group": by_group,
        "proxy": proxy,
    }


def _drift(
    inputs: ModelAuditInputs,
    x: pd.DataFrame,
    scores: FloatArray,
    fairness: Json,
    explainability: Json,
    columns: list[str],
) -> Json:
    champion = inputs.champion
    if champion is None:
        return {"available": False, "reason": _NO_CHAMPION}
    old = champion.audit
    kept = old.get("distributions", {})
    values = {c: psi_against(kept[c], x[c].to_numpy()) for c in columns if c in kept}
    features = [
        {"feature": c, "psi": v, "level": drift_level(v)}
        for c, v in sorted(values.items(), key=lambda item: -item[1])
    ]
    score_psi = psi_against(kept["score"], scores) if "score" in kept else None
    old_inputs = list(old.get("model", {}).get("inputs", []))
    return {
        "available": True,
        "champion": {"version": champion.version, "approved_report_sha256": champion.report_sha256},
        "features": features,
        "score": None if score_psi is None else {"psi": score_psi, "level": drift_level(score_psi)},
        "figures": compare_figures(
            _headline(old),
            _headline(
                {
                    "performance": {k: inputs.info.metrics.get(k) for k in HEADLINE},
                    "fairness": fairness,
                }
            ),
        ),
        "drivers": {
            "champion": [
                r["feature"] for r in old.get("explainability", {}).get("importance", [])[:10]
            ],
            "candidate": [r["feature"] for r in explainability.get("importance", [])[:10]],
        },
        "feature_list": {
            "added": [c for c in columns if c not in old_inputs],
            "removed": [c for c in old_inputs if c not in columns],
        },
    }


def _headline(audit: Mapping[str, Any]) -> dict[str, float | None]:
    """The figures compared between champion and candidate."""
    figures: dict[str, float | None] = {k: audit.get("performance", {}).get(k) for k in HEADLINE}
    for dimension, summary in audit.get("fairness", {}).get("summary", {}).items():
        figures[f"equalized_odds_difference ({dimension})"] = summary.get(
            "equalized_odds_difference"
        )
        figures[f"demographic_parity_difference ({dimension})"] = summary.get(
            "demographic_parity_difference"
        )
    return figures


def _gate_figures(
    performance: Json, fairness: Json, sensitive: Sequence[str]
) -> dict[str, float | None]:
    """The gate figures: the equalized-odds gap is the worst over the single dimensions."""
    gaps = [
        fairness["summary"][d]["equalized_odds_difference"]
        for d in sensitive
        if d in fairness["summary"]
    ]
    known = [g for g in gaps if g is not None]
    return {
        "test_roc_auc": performance.get("test_roc_auc"),
        "test_ece": performance.get("test_ece"),
        "equalized_odds_difference": max(known) if known else None,
    }


def _png(draw: Callable[[Json, str, Path], Path], result: Json, dimension: str) -> bytes:
    with TemporaryDirectory() as tmp:
        return draw(result, dimension, Path(tmp) / "figure.png").read_bytes()


def _auc(y: NDArray[np.int64], scores: FloatArray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)
