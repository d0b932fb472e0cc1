"""The ethics board's audit of one model version: every figure, its figures, and its report.

:func:`run_model_audit` takes what training logged (the model, its run's metrics, its splits
and feature definitions), the test and validation rows it is judged on, and optional
evaluation sections (ground truth, linkage quality) computed by the caller, and returns
``audit.json`` as an :class:`~governance.contracts.audit_document.AuditDocument` (every
number, aggregates only), the figures, and the self-contained HTML report with its SHA-256.
Nothing here writes files or talks to MLflow: the CLI does that.

The work is a sequence of named steps, each timed into the document's ``timings``: score,
fairness, thresholds and calibration, the area-rate baseline, ground truth, areas,
mitigations, explanations, drift, error analysis (the cohorts where the model fails); then the
sections are assembled into the document, the model card is filled from it and the report
rendered.

Each section is a function of arrays that are already in memory, so the rows never leave
this process; the report and ``audit.json`` hold counts, rates, intervals, means and plots of
many rows only. The operating point is the model's own (the top k% from its configuration).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import pandas as pd

from governance.audit.aequitas import METRIC_FRAME_FUNCTIONS
from governance.audit.area_audit import AreaRows, AreaTruth, area_audit, area_figures
from governance.audit.arrays import FloatArray, IntArray, Json
from governance.audit.baseline import area_baseline_section, baseline_gate_figure
from governance.audit.calibration import expected_calibration_error
from governance.audit.calibration_check import calibration_check
from governance.audit.champion_comparison import CandidateScored, compare_with_champion
from governance.audit.cohort_drift import Cohort
from governance.audit.drift import (
    HEADLINE,
    ChampionAudit,
    headline_figures,
    reference_bins,
)
from governance.audit.error_analysis import error_section
from governance.audit.explain import (
    check_against_shap,
    global_importance,
    group_contributions,
    shap_values,
)
from governance.audit.explain_plots import binned_dependence_png, summary_png
from governance.audit.fairness import audit_scored_table, select
from governance.audit.gates import (
    calibration_figures,
    evaluate_gates,
    fairness_figures,
    gate_figures,
)
from governance.audit.group_performance import (
    calibration_by_group,
    calibration_png,
    threshold_sweep,
    thresholds_png,
)
from governance.audit.mitigation import MitigationData, compare_mitigations
from governance.audit.model_card import ModelCardConfig, build_model_card
from governance.audit.proxy import area_identifiers, proxy_strength
from governance.audit.refit_audit import NO_REFIT, refit_figures, refit_section
from governance.audit.report import render_report, report_sha256
from governance.board.registry import ModelVersionInfo
from governance.board.verdict import embed_verdict
from governance.contracts.audit_document import (
    AUDIT_SCHEMA_VERSION,
    AreaAuditSection,
    AreaBaselineSection,
    AuditDocument,
    CalibrationSection,
    DataSummary,
    DriftSection,
    ExplainabilityReport,
    ExplainabilitySection,
    FairlearnCheck,
    FairnessSection,
    FairnessUseEntry,
    FeatureDefinition,
    FreeFormSection,
    GroupContribution,
    MitigationReport,
    ModelCard,
    ModelSummary,
    OperatingPoint,
    ProxyStrength,
    ReferenceBins,
    RefitSection,
    RollingOrigins,
    RollingSection,
    ScoredTableAudit,
    SectionUnavailable,
    ShapCheck,
    ThresholdDimension,
)
from governance.contracts.errors import AuditInputError
from governance.contracts.settings import AreaIdentifierSettings, GovernanceConfig

__all__ = [
    "AUDIT_SCHEMA_VERSION",
    "AuditInputError",
    "AuditOutcome",
    "ChampionAudit",
    "ModelAuditInputs",
    "run_model_audit",
    "sensitive_groups",
]

Progress = Callable[[str], None]

QUINTILE_NAMES = {1: "Q1 most deprived", 2: "Q2", 3: "Q3", 4: "Q4", 5: "Q5 least deprived"}
_NO_CHAMPION = "No version is champion yet: there is no approved model to compare with."
_NO_TRUTH = "No ground truth was given to this audit."
_NO_ROLLING = (
    "Training ran no rolling-origin evaluation (evaluation.rolling_origins in "
    "configs/model.yaml is empty, or the version predates it)."
)
_NO_AREA = "The test rows have no area column {0!r}; area identifiers were not looked for."
_NOT_A_BOOSTER = "The model is not a LightGBM booster."
_SHAP_METHOD = (
    "TreeSHAP via LightGBM pred_contrib, per tree (exact; checked against shap.TreeExplainer)"
)
_MISSING_COLUMNS = "the {split} rows lack column(s) {missing} that the audit needs"
_NO_ROWS = "the {split} split has no rows with a complete label; nothing to audit"


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
    #: ``artifacts_digest`` of the files ``model`` was loaded from (None: not from a registry)
    model_artifacts_sha256: str | None = None
    #: the rows the release would score (latest as-of date), for drift from the champion
    cohort: Cohort | None = None
    #: training's rolling-origin evaluation (its ``evaluation/rolling_origins.json``), if run
    rolling_origins: Json | None = None
    #: evaluation code's true outcomes by area (``training.evaluation.area_truth``): given the
    #: test rows with ``score`` and the area columns, returns aggregates only
    area_truth: Callable[[pd.DataFrame, list[str]], Json] | None = None
    #: the served model when training refit it on all labelled data (``model`` is then the
    #: evaluated one, judged out of time), the refit's record, and the features table's rows
    #: at the refit's dates, from which the audit rebuilds the persons held out of it
    served: Any = None
    refit_record: Json | None = None
    labelled: pd.DataFrame | None = None


@dataclass(frozen=True)
class AuditOutcome:
    """``audit.json``'s document, the figures, the report and its hash."""

    audit: AuditDocument
    figures: dict[str, bytes]
    html: str
    sha256: str

    def audit_json(self) -> bytes:
        """``audit.json`` as written: sorted keys, UTF-8."""
        return self.audit.to_json_bytes()


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
    """Audit one model version on its test split; see the module docstring.

    The steps, each timed into ``timings``: score the test and validation rows, fairness at
    the operating point, thresholds and calibration, ground truth, mitigations,
    explanations, drift since the champion, error analysis; then assemble the document,
    fill the model card from it and render the report.
    """
    sensitive = config.audit.sensitive
    columns = list(inputs.model.columns)
    test = _rows(inputs.test, "test", columns, sensitive)
    validation = _rows(inputs.validation, "validation", columns, sensitive)
    clock = _Clock(progress or (lambda _step: None))
    figures: dict[str, bytes] = {}
    with clock("scoring"):
        scored = _score(inputs.model, test, validation, sensitive)
    with clock("fairness"):
        fairness = _fairness(scored, inputs.top_fraction, config, seed)
    with clock("thresholds and calibration"):
        thresholds, calibration = _thresholds_and_calibration(scored, config, figures)
    with clock("area-rate baseline"):
        baseline = area_baseline_section(
            scored.test, scored.validation, scored.scores, config, seed=seed
        )
    with clock("ground truth"):
        truth = _ground_truth(inputs, scored)
    with clock("areas"):
        areas = _areas(inputs, scored, config, seed)
    with clock("mitigations"):
        mitigations = _mitigations(inputs, scored, config, seed)
    with clock("explanations"):
        explainability = _explain(inputs, scored, config, seed, figures)
    with clock("drift"):
        drift = _drift(inputs, scored, fairness, explainability, config, seed)
    with clock("error analysis"):
        errors = _error_analysis(scored, config)
    with clock("served model (refit)"):
        refit = _refit(inputs, config, seed)
    document = _assemble(
        inputs,
        scored,
        config,
        _Sections(
            fairness,
            thresholds,
            calibration,
            truth,
            mitigations,
            explainability,
            drift,
            areas,
            baseline,
            refit,
        ),
        clock.timings,
    )
    document = document.model_copy(update={"error_analysis": errors})
    clock.say("report")
    report = embed_verdict(render_report(document, figures), _verdict(document))
    return AuditOutcome(document, figures, report, report_sha256(report))


# -- steps ------------------------------------------------------------------------------------


class _Clock:
    """Says each step's name as it starts and records its seconds, in order."""

    def __init__(self, say: Progress) -> None:
        self.say = say
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self.say(name)
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)


@dataclass(frozen=True)
class _Scored:
    """The audited rows and the model's scores on them."""

    test: pd.DataFrame
    validation: pd.DataFrame
    columns: list[str]
    x_test: pd.DataFrame
    scores: FloatArray
    val_scores: FloatArray
    y: IntArray
    groups: pd.DataFrame


@dataclass(frozen=True)
class _Sections:
    """The computed sections, before they are assembled into the document."""

    fairness: FairnessSection
    thresholds: dict[str, ThresholdDimension]
    calibration: CalibrationSection
    truth: FreeFormSection
    mitigations: MitigationReport
    explainability: ExplainabilitySection
    drift: DriftSection
    areas: AreaAuditSection | None = None
    baseline: AreaBaselineSection | None = None
    refit: RefitSection | None = None


def _score(
    model: Any, test: pd.DataFrame, validation: pd.DataFrame, sensitive: Sequence[str]
) -> _Scored:
    """Score the checked test and validation rows and take their sensitive columns."""
    columns = list(model.columns)
    x_test = test[columns].astype(float)
    return _Scored(
        test=test,
        validation=validation,
        columns=columns,
        x_test=x_test,
        scores=np.asarray(model.predict(x_test), dtype=np.float64),
        val_scores=np.asarray(model.predict(validation[columns].astype(float)), np.float64),
        y=test["label"].to_numpy(dtype=np.int64),
        groups=sensitive_groups(test, sensitive),
    )


def _rows(
    frame: pd.DataFrame, split: str, columns: list[str], sensitive: Sequence[str]
) -> pd.DataFrame:
    """The rows of one split with a complete label; refuse a split missing a needed column."""
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


def _fairness(
    scored: _Scored, top_fraction: float, config: GovernanceConfig, seed: int
) -> FairnessSection:
    """The scored-table audit at the operating point, checked against Fairlearn."""
    table = ScoredTableAudit.model_validate(
        audit_scored_table(
            scored.groups.assign(label=scored.y, score=scored.scores),
            label="label",
            score="score",
            sensitive=list(config.audit.sensitive),
            top_fraction=top_fraction,
            min_group_size=config.gates.min_group_size,
            min_outcomes=config.gates.min_outcomes,
            permutations=config.audit.permutations,
            confidence=config.gates.gate_confidence,
            seed=seed,
            withhold_below=config.audit.withhold_below,
            intersections=config.audit.chosen_intersections,
        )
    )
    return FairnessSection(
        rows=table.rows,
        operating_point=table.operating_point,
        overall=table.overall,
        by=table.by,
        summary=table.summary,
        method=table.method,
        confidence=table.confidence,
        min_outcomes=table.min_outcomes,
        fairlearn_check=_fairlearn_check(table, scored, top_fraction),
    )


def _fairlearn_check(table: ScoredTableAudit, scored: _Scored, top: float) -> FairlearnCheck:
    """Fairlearn's MetricFrame on each single dimension, against our count-based figures.

    The Aequitas figures (FDR, FOR, NPV) are checked too, with MetricFrame's custom metrics.
    """
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    chosen = select(scored.scores, top_fraction=top).astype(int)
    metrics = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
    }
    worst = 0.0
    for dimension in scored.groups.columns:
        frame = MetricFrame(
            metrics=metrics,
            y_true=scored.y,
            y_pred=chosen,
            sensitive_features=scored.groups[dimension].fillna("not recorded").astype(str),
        )
        for group, row in frame.by_group.iterrows():
            ours = table.by[dimension].get(str(group))
            if ours is None:
                continue
            for metric in metrics:
                theirs, mine = float(row[metric]), getattr(ours, metric)
                if mine is not None and math.isfinite(theirs):
                    worst = max(worst, abs(theirs - mine))
        worst = max(worst, _aequitas_check(table, scored, chosen, dimension))
    return FairlearnCheck(method="fairlearn.metrics.MetricFrame", max_abs_difference=worst)


def _aequitas_check(
    table: ScoredTableAudit, scored: _Scored, chosen: IntArray, dimension: str
) -> float:
    """The largest difference of the Aequitas figures from Fairlearn's MetricFrame's."""
    from fairlearn.metrics import MetricFrame

    frame = MetricFrame(
        metrics=METRIC_FRAME_FUNCTIONS,
        y_true=scored.y,
        y_pred=chosen,
        sensitive_features=scored.groups[dimension].fillna("not recorded").astype(str),
    )
    worst = 0.0
    for group, row in frame.by_group.iterrows():
        ours = table.by[dimension].get(str(group))
        if ours is None or ours.aequitas is None:
            continue
        for metric in METRIC_FRAME_FUNCTIONS:
            theirs, mine = float(row[metric]), getattr(ours.aequitas, metric)
            if mine is not None and math.isfinite(theirs):
                worst = max(worst, abs(theirs - mine))
    return worst


def _thresholds_and_calibration(
    scored: _Scored, config: GovernanceConfig, figures: dict[str, bytes]
) -> tuple[dict[str, ThresholdDimension], CalibrationSection]:
    """The threshold sweep and calibration by group, and a figure of each per dimension."""
    settings, min_size = config.audit, config.gates.min_group_size
    y, scores, groups = scored.y, scored.scores, scored.groups
    sweep = threshold_sweep(
        y,
        scores,
        groups,
        fractions=list(settings.threshold_fractions),
        min_group_size=min_size,
        withhold_below=settings.withhold_below,
        intersections=settings.chosen_intersections,
    )
    calibration = calibration_by_group(
        y,
        scores,
        groups,
        bins=settings.calibration_bins,
        min_group_size=min_size,
        intersections=settings.chosen_intersections,
    )
    gates = config.gates
    check = calibration_check(
        y,
        scores,
        groups,
        confidence=gates.gate_confidence,
        min_outcomes=gates.min_outcomes,
        min_group_size=min_size,
    )
    for dimension in settings.sensitive:
        figures[f"thresholds_{dimension}.png"] = _png(thresholds_png, sweep, dimension)
        figures[f"calibration_{dimension}.png"] = _png(calibration_png, calibration, dimension)
    return (
        {d: ThresholdDimension.model_validate(v) for d, v in sweep.items()},
        CalibrationSection.model_validate({**calibration, "check": check}),
    )


def _ground_truth(inputs: ModelAuditInputs, scored: _Scored) -> FreeFormSection:
    """Evaluation code's ground-truth section, given the test rows with groups and scores."""
    if inputs.truth is None:
        return {"available": False, "reason": _NO_TRUTH}
    groups = scored.groups
    return inputs.truth(
        scored.test.assign(**{c: groups[c] for c in groups.columns}, score=scored.scores)
    )


_NO_AREAS = "The test rows have no area column {0!r}: the area-level audit cannot be made."
_POLICING_TRUTH = "the generator's true policing intensity (generated data)"
_POLICING_PROXY = "proxy: the area's share of young people with a police record ({0})"


def _areas(
    inputs: ModelAuditInputs, scored: _Scored, config: GovernanceConfig, seed: int
) -> AreaAuditSection:
    """The area-level audit (``governance.audit.area_audit``) at each area level the rows have.

    Policing: a row column measuring it if configured, else the truth's intensity when
    evaluation code gives it, else the observable proxy; the section says which.
    """
    settings, gates = config.audit.areas, config.gates
    gated = config.audit.area_identifiers.area_column
    test = scored.test
    if gated not in test:
        return SectionUnavailable(available=False, reason=_NO_AREAS.format(gated))
    levels = [gated, *(c for c in settings.other_levels if c in test and c != gated)]
    found = None
    if inputs.area_truth is not None:
        groups = scored.groups
        found = inputs.area_truth(
            test.assign(**{c: groups[c] for c in groups.columns}, score=scored.scores), levels
        )
    truth = AreaTruth.from_json(found) if found and found.get("available") else None
    policing, source = None, "not available"
    if settings.policing_column is not None and settings.policing_column in test:
        policing, source = test[settings.policing_column], settings.policing_column
    elif found and found.get("policing") and found.get("policing_level") in test:
        intensity = pd.Series(found["policing"], dtype=float)
        policing = test[str(found["policing_level"])].astype(str).map(intensity)
        source = _POLICING_TRUTH
    elif settings.policing_proxy_column in test:
        policing = test[settings.policing_proxy_column].notna().astype(float)
        source = _POLICING_PROXY.format(settings.policing_proxy_column)
    composition = settings.composition_column
    return area_audit(
        AreaRows(
            levels={c: test[c].to_numpy() for c in levels},
            y=scored.y,
            scores=scored.scores,
            deprivation=test[settings.deprivation_column].to_numpy()
            if settings.deprivation_column in test
            else None,
            policing=None if policing is None else policing.to_numpy(),
            composition=test[composition].to_numpy() if composition in test else None,
            groups=scored.groups,
        ),
        settings,
        truth=truth,
        policing_source=source,
        gated_level=gated,
        confidence=gates.gate_confidence,
        min_outcomes=gates.min_outcomes,
        withhold_below=config.audit.withhold_below,
        seed=seed,
    )


def _mitigations(
    inputs: ModelAuditInputs, scored: _Scored, config: GovernanceConfig, seed: int
) -> MitigationReport:
    """Mitigations fitted on the validation split and compared on the test split at its capacity."""
    attribute = config.mitigation.attribute
    validation = scored.validation
    result = compare_mitigations(
        MitigationData(
            validation[scored.columns].astype(float),
            validation["label"].to_numpy(dtype=np.int64),
            scored.val_scores,
            sensitive_groups(validation, [attribute])[attribute],
        ),
        MitigationData(
            scored.x_test,
            scored.y,
            scored.scores,
            scored.groups[attribute]
            if attribute in scored.groups
            else sensitive_groups(scored.test, [attribute])[attribute],
        ),
        config.mitigation,
        top_fraction=inputs.top_fraction,
        seed=seed,
        withhold_below=config.audit.withhold_below,
        min_outcomes=config.gates.min_outcomes,
        confidence=config.gates.gate_confidence,
        permutations=config.audit.permutations,
    )
    return MitigationReport.model_validate(
        {**result, "fit_split": "validation", "evaluated_on": "test"}
    )


def _explain(
    inputs: ModelAuditInputs,
    scored: _Scored,
    config: GovernanceConfig,
    seed: int,
    figures: dict[str, bytes],
) -> ExplainabilitySection:
    """SHAP importance overall and by group, its check against shap, plots, proxy strength."""
    settings = config.audit
    x, groups = scored.x_test, scored.groups
    booster = getattr(inputs.model, "scorer", None)
    if booster is None or not hasattr(booster, "predict") or not hasattr(booster, "dump_model"):
        return SectionUnavailable(available=False, reason=_NOT_A_BOOSTER)
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
    _shap_figures(values, x, [r["feature"] for r in importance], config, figures)
    proxy = {
        attribute: proxy_strength(x, groups[attribute], seed=seed, max_rows=settings.proxy_max_rows)
        for attribute in ("ethnicity", "sex")
        if attribute in groups
    }
    return ExplainabilityReport.model_validate(
        {
            "available": True,
            "method": _SHAP_METHOD,
            "rows": len(x),
            "seconds": round(seconds, 3),
            "rows_per_second": len(x) / seconds if seconds > 0 else None,
            "check": ShapCheck(
                rows_checked=len(check_rows),
                max_abs_difference=difference,
                tolerance=settings.shap_tolerance,
                passed=difference <= settings.shap_tolerance,
            ),
            "importance": importance,
            "by_group": _contributions(by_group),
            "proxy": {a: ProxyStrength.model_validate(p) for a, p in proxy.items()},
            "area_identifiers": _area_identifiers(scored, settings.area_identifiers),
        }
    )


def _area_identifiers(scored: _Scored, rule: AreaIdentifierSettings) -> Json:
    """The proxy check's area identifiers among the inputs, or why it could not look."""
    if rule.area_column not in scored.test:
        return {"available": False, "reason": _NO_AREA.format(rule.area_column)}
    found = area_identifiers(
        scored.x_test,
        scored.test[rule.area_column],
        min_distinct_share=rule.min_distinct_share,
        min_constant_share=rule.min_constant_share,
    )
    return {"available": True, **found}


def _contributions(by_group: dict[str, dict[str, Json]]) -> dict[str, dict[str, GroupContribution]]:
    return {
        dimension: {g: GroupContribution.model_validate(c) for g, c in groups.items()}
        for dimension, groups in by_group.items()
    }


def _shap_figures(
    values: FloatArray,
    x: pd.DataFrame,
    ranked: list[str],
    config: GovernanceConfig,
    figures: dict[str, bytes],
) -> None:
    """The bins summary and a binned plot of each of the most important inputs.

    Every mark summarises a bin of at least ``audit.withhold_below`` young people (at least
    one); the plotting module refuses a figure that draws fewer.
    """
    names = list(x.columns)
    bins, min_count = config.audit.shap_bins, max(config.audit.withhold_below, 1)
    with TemporaryDirectory() as tmp:
        figures["shap_summary.png"] = summary_png(
            values, x, names, Path(tmp) / "s.png", settings=bins, min_count=min_count
        ).read_bytes()
        for feature in ranked[: config.audit.dependence_plots]:
            path = binned_dependence_png(
                values, x, feature, Path(tmp) / "d.png", settings=bins, min_count=min_count
            )
            figures[f"shap_bins_{feature}.png"] = path.read_bytes()


def _drift(
    inputs: ModelAuditInputs,
    scored: _Scored,
    fairness: FairnessSection,
    explainability: ExplainabilitySection,
    config: GovernanceConfig,
    seed: int,
) -> DriftSection:
    """What changed since the champion, or why there is nothing to compare with."""
    if inputs.champion is None:
        return SectionUnavailable(available=False, reason=_NO_CHAMPION)
    importance = (
        explainability.importance if isinstance(explainability, ExplainabilityReport) else []
    )
    return compare_with_champion(
        inputs.champion,
        CandidateScored(scored.test, scored.x_test, scored.y, scored.scores),
        cohort=inputs.cohort,
        figures=headline_figures(
            {k: inputs.info.metrics.get(k) for k in HEADLINE}, fairness.summary
        ),
        drivers=[r.feature for r in importance],
        resamples=config.audit.champion_resamples,
        confidence=config.gates.gate_confidence,
        seed=seed,
    )


# -- the document -----------------------------------------------------------------------------


def _assemble(
    inputs: ModelAuditInputs,
    scored: _Scored,
    config: GovernanceConfig,
    sections: _Sections,
    timings: dict[str, float],
) -> AuditDocument:
    """The document from the sections: model, data, gates, distributions, then the card."""
    info, y = inputs.info, scored.y
    performance: dict[str, float | None] = {
        k: v for k, v in info.metrics.items() if k.startswith(("test_", "baseline_test_"))
    }
    recomputed = {
        "test_roc_auc": _auc(y, scored.scores),
        "test_ece": expected_calibration_error(y, scored.scores),
    }
    performance.update({f"{k}_recomputed": v for k, v in recomputed.items()})
    summary = sections.fairness.summary
    judged = [summary[d] for d in config.audit.sensitive if d in summary]
    gaps = [s.equalized_odds_difference for s in judged]
    evidence = fairness_figures(config.gates, gaps, [s.equalized_odds_p_value for s in judged])
    checked = calibration_figures(sections.calibration.check)
    figures = gate_figures(
        performance, recomputed, gaps, checked, evidence, baseline_gate_figure(sections.baseline)
    )
    figures.update(area_figures(sections.areas))
    figures.update(refit_figures(sections.refit, config.gates.baseline_metric))
    gates = evaluate_gates(config.gates, figures)
    document = AuditDocument(
        schema_version=AUDIT_SCHEMA_VERSION,
        kind="model",
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        model=ModelSummary(
            name=info.name,
            version=info.version,
            run_id=info.run_id,
            git_commit=info.tags.get("git_commit"),
            features_sha256=info.tags.get("features_sha256"),
            inputs=scored.columns,
            model_artifacts_sha256=inputs.model_artifacts_sha256,
        ),
        data=DataSummary(
            test_date=inputs.splits.get("test"),
            validation_date=inputs.splits.get("validation"),
            train_dates=inputs.splits.get("train"),
            rows=len(scored.test),
            positives=int(y.sum()),
            prevalence=float(y.mean()),
        ),
        operating_point=OperatingPoint(
            top_fraction=inputs.top_fraction,
            selected=sections.fairness.operating_point.selected,
        ),
        gates=gates,
        gates_passed=all(g.passed for g in gates),
        performance=performance,
        fairness=sections.fairness,
        thresholds=sections.thresholds,
        calibration=sections.calibration,
        ground_truth=sections.truth,
        linkage=inputs.linkage,
        mitigations=sections.mitigations,
        explainability=sections.explainability,
        drift=sections.drift,
        areas=sections.areas,
        features=[FeatureDefinition.model_validate(f) for f in inputs.features],
        distributions=_distributions(scored),
        timings=timings,
        rolling_origins=_rolling(inputs.rolling_origins),
        area_baseline=sections.baseline,
        refit=sections.refit,
        fairness_use=[FairnessUseEntry(**u.model_dump()) for u in config.audit.fairness_use],
    )
    card = ModelCard.model_validate(build_model_card(inputs.card, document))
    return document.model_copy(update={"model_card": card})


def _refit(inputs: ModelAuditInputs, config: GovernanceConfig, seed: int) -> RefitSection:
    """The served model's own audit on the persons held out of it, or why there is none."""
    if inputs.refit_record is None or inputs.served is None or inputs.labelled is None:
        return SectionUnavailable(available=False, reason=NO_REFIT)
    labelled = inputs.labelled.reset_index(drop=True)
    return refit_section(
        inputs.served,
        inputs.model,
        inputs.refit_record,
        labelled,
        test_date=str(inputs.splits.get("test")),
        groups=sensitive_groups(labelled, config.audit.sensitive),
        config=config,
        seed=seed,
        cohort=inputs.cohort,
        area_column=next(
            iter(config.audit.areas.other_levels), config.audit.area_identifiers.area_column
        ),
    )


def _error_analysis(scored: _Scored, config: GovernanceConfig) -> FreeFormSection:
    """The cohorts where the model fails (:mod:`governance.audit.error_analysis`)."""
    return error_section(
        scored.test,
        scored.y,
        scored.scores,
        config.audit.error_slices,
        confidence=config.gates.gate_confidence,
        min_outcomes=config.gates.min_outcomes,
        withhold_below=config.audit.withhold_below,
    )


def _distributions(scored: _Scored) -> dict[str, ReferenceBins]:
    """The score's and each input's distribution, kept for the next audit's drift check."""
    samples = {"score": scored.scores, **{c: scored.x_test[c].to_numpy() for c in scored.columns}}
    return {name: ReferenceBins.model_validate(reference_bins(v)) for name, v in samples.items()}


def _rolling(logged: Json | None) -> RollingSection:
    """Training's rolling-origin figures as the document keeps them, or why there are none."""
    if logged is None:
        return SectionUnavailable(available=False, reason=_NO_ROLLING)
    return RollingOrigins(available=True, origins=logged["origins"])


def _verdict(document: AuditDocument) -> Json:
    """What the report embeds for the board's signed verdict."""
    return {
        "model": document.model.name,
        "version": document.model.version,
        "gates": [g.model_dump() for g in document.gates],
        "gates_passed": document.gates_passed,
        "model_artifacts_sha256": document.model.model_artifacts_sha256,
    }


def _png(draw: Callable[[Json, str, Path], Path], result: Json, dimension: str) -> bytes:
    with TemporaryDirectory() as tmp:
        return draw(result, dimension, Path(tmp) / "figure.png").read_bytes()


def _auc(y: IntArray, scores: FloatArray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else None
