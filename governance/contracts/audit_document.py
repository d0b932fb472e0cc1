"""``audit.json``: the ethics board's audit of one model version, as one typed document.

The model audit (:func:`governance.audit.model_audit.run_model_audit`) builds an
:class:`AuditDocument`; the report, the model card, the champion comparison and the board's
pages read it by attribute. It lives in the contracts because serving's board pages may
read it and serving may not import ``governance.audit``; so it holds plain types only (no
numpy, no pandas).

Writing and reading:

1. :meth:`AuditDocument.to_json_bytes` writes ``audit.json``: keys sorted, one-space indent,
   UTF-8, a final newline. A key is written if and only if its section set it: ``null``
   where the producer said ``None``, absent where it said nothing (``exclude_unset``). So a
   document read from ``audit.json`` is written back byte for byte.
2. :meth:`AuditDocument.from_json` reads ``audit.json``, refusing an unknown key.

Sections that may be missing (no champion to compare with, no LightGBM booster to explain)
are :class:`SectionUnavailable`, ``{"available": false, "reason": ...}``; ``available``
tells the two shapes apart. Maps keyed by a dimension (``sex``), a group (``female × Black``),
a feature or a figure name are ``dict[str, ...]``. The ground-truth and linkage sections are
computed by evaluation code (which alone may read the generator's truth) and are kept as
free-form mappings.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from governance.contracts.jsonio import json_default

__all__ = [
    "AUDIT_SCHEMA_VERSION",
    "AreaAllocation",
    "AreaAuditSection",
    "AreaBaselineReport",
    "AreaBaselineSection",
    "AreaComparison",
    "AreaIdentifier",
    "AreaIdentifierCheck",
    "AreaLevelAudit",
    "AreaObservedExpected",
    "AreaReport",
    "AuditDocument",
    "BaselineMetric",
    "CalibrationBin",
    "CalibrationCheck",
    "CalibrationEntry",
    "CalibrationSection",
    "ChampionReference",
    "CohortComparison",
    "DataSummary",
    "DimensionSummary",
    "DriftLevel",
    "DriftReport",
    "DriftSection",
    "Drivers",
    "ExplainabilityReport",
    "ExplainabilitySection",
    "FairlearnCheck",
    "FairnessOverall",
    "FairnessSection",
    "FairnessUseEntry",
    "FeatureDefinition",
    "FeatureDrift",
    "FeatureImportance",
    "FeatureListChange",
    "FigureChange",
    "FigureStatus",
    "FreeFormSection",
    "GateOutcome",
    "GroupContribution",
    "GroupFairness",
    "Interval",
    "MitigationGroup",
    "MitigationReport",
    "MitigationRow",
    "MitigationSection",
    "ModelCard",
    "ModelCardItem",
    "ModelCardSection",
    "ModelSummary",
    "ObservedExpectedEntry",
    "OperatingPoint",
    "OriginEvaluation",
    "PairedDelta",
    "ProxyInput",
    "ProxyStrength",
    "RateIntervals",
    "RateValues",
    "ReferenceBins",
    "RefitAgreement",
    "RefitAudit",
    "RefitComparison",
    "RefitSection",
    "RollingOrigins",
    "RollingSection",
    "ScoreDrift",
    "ScoredTableAudit",
    "SectionUnavailable",
    "ShapCheck",
    "TableSource",
    "ThresholdDimension",
    "ThresholdGroup",
]

AUDIT_SCHEMA_VERSION = 1

DriftLevel = Literal["stable", "moderate", "significant"]
FigureStatus = Literal["shared", "champion_only", "candidate_only"]
#: A two-sided interval ``[low, high]``; a bound is None where it could not be estimated.
Interval = tuple[float | None, float | None]
#: A section written by evaluation code (ground truth, linkage quality): free-form by design.
FreeFormSection = dict[str, Any]


class _Part(BaseModel):
    """Every part of the document: immutable, and no key it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SectionUnavailable(_Part):
    """A section that could not be computed, and why."""

    available: Literal[False]
    reason: str


# -- who and what ----------------------------------------------------------------------------


class ModelSummary(_Part):
    """The audited version, as registered, and its inputs in order."""

    name: str
    version: str
    run_id: str
    git_commit: str | None
    features_sha256: str | None
    inputs: list[str]
    #: ``artifacts_digest`` of the model files the audit loaded and scored with; the board's
    #: decision must name the same files. None: audited from memory, not from the registry.
    model_artifacts_sha256: str | None = None


class DataSummary(_Part):
    """The test split the audit is computed on, and the split dates."""

    test_date: str | None
    validation_date: str | None
    train_dates: list[str] | None
    rows: int
    positives: int
    prevalence: float


class OperatingPoint(_Part):
    """The decision: the top fraction by score, or a threshold; and how many were selected."""

    top_fraction: float | None = None
    threshold: float | None = None
    selected: int


class GateOutcome(_Part):
    """One promotion gate's verdict (:func:`governance.audit.gates.evaluate_gates`)."""

    name: str
    figure: str
    value: float | None
    limit: float
    direction: Literal["at least", "at most"]
    passed: bool
    note: str


# -- fairness at the operating point --------------------------------------------------------


class RateValues(_Part):
    """One value per rate: a group's difference or ratio against the reference group."""

    selection_rate: float | None
    tpr: float | None
    fpr: float | None
    fnr: float | None
    precision: float | None


class RateIntervals(_Part):
    """The interval of each rate: exact (Clopper-Pearson) since issue 17, bootstrap before."""

    selection_rate: Interval
    tpr: Interval
    fpr: Interval
    fnr: Interval
    precision: Interval


class AequitasIntervals(_Part):
    """Exact (Clopper-Pearson) intervals of a group's Aequitas figures."""

    false_discovery_rate: Interval
    false_omission_rate: Interval
    negative_predictive_value: Interval
    selected_share: Interval
    selected_share_ratio: Interval


class AequitasFigures(_Part):
    """Aequitas' figures of one group at the operating point (issue 17).

    FDR and FOR, NPV, and the group's share of those selected against its share of the
    cohort (:mod:`governance.audit.aequitas`).
    """

    false_discovery_rate: float | None
    false_omission_rate: float | None
    negative_predictive_value: float | None
    selected_share: float | None
    population_share: float | None
    selected_share_ratio: float | None
    selected: int
    not_selected: int
    ci: AequitasIntervals
    fdr_judged: bool
    for_judged: bool
    share_judged: bool


class FairnessOverall(_Part):
    """Every row together: rates, ROC AUC and their intervals."""

    count: int
    base_rate: float | None
    selection_rate: float | None
    tpr: float | None
    fpr: float | None
    fnr: float | None
    precision: float | None
    roc_auc: float | None
    too_small: bool
    ci: RateIntervals = Field(
        description="Exact (Clopper-Pearson) intervals of the rates; audits before issue 17 "
        "wrote bootstrap percentile intervals here."
    )
    outcomes: int | None = Field(
        default=None, description="People with the outcome (None: withheld, or an older audit)."
    )
    aequitas: AequitasFigures | None = Field(
        default=None, description="FDR, FOR, NPV and selected share (None: withheld, or older)."
    )


class GroupFairness(FairnessOverall):
    """One group: as overall, plus its gaps to the reference and the disclosure flag.

    A ``withheld`` group (fewer rows than the audit's ``withhold_below``) keeps its count
    and flags; every rate, interval, difference and ratio is None.
    """

    withheld: bool
    difference: RateValues
    ratio: RateValues
    tpr_judged: bool | None = Field(
        default=None,
        description="Whether the true positive rate enters the gap: at least min_outcomes "
        "people with the outcome (None: an audit before issue 17).",
    )
    fpr_judged: bool | None = Field(
        default=None,
        description="Whether the false positive rate enters the gap: at least min_outcomes "
        "people without the outcome.",
    )


class DimensionSummary(_Part):
    """One dimension's reference group and summary disparities, with the gap's evidence.

    Fields added by issue 17 default to None so that older audits still read;
    ``equalized_odds_difference_ci`` is what they wrote (a bootstrap percentile interval of
    a max−min gap, biased upward) and is no longer produced.
    """

    reference: str | None
    equalized_odds_difference: float | None
    equalized_odds_difference_ci: Interval | None = None
    demographic_parity_difference: float | None
    equalized_odds_p_value: float | None = Field(
        default=None,
        description="Permutation p-value: how often a decision blind to the group, given the "
        "outcome, shows a gap at least this large.",
    )
    true_positive_rate_gap: float | None = None
    false_positive_rate_gap: float | None = None


class _FairnessFigures(_Part):
    """What :func:`governance.audit.fairness.audit_scored_table` returns."""

    rows: int
    operating_point: OperatingPoint
    overall: FairnessOverall
    by: dict[str, dict[str, GroupFairness]] = Field(description="dimension -> group -> figures")
    summary: dict[str, DimensionSummary]
    method: str | None = Field(default=None, description="The intervals and the null, in words.")
    confidence: float | None = Field(default=None, description="Coverage of the intervals.")
    min_outcomes: int | None = Field(
        default=None, description="Outcomes (or non-outcomes) a rate needs to be judged."
    )


class TableSource(_Part):
    """The scored table ``vru audit --table`` read, and its label and score columns."""

    path: str
    label: str
    score: str


class ScoredTableAudit(_FairnessFigures):
    """``audit.json`` of ``vru audit --table``: the fairness figures of any scored table."""

    table: TableSource | None = None

    def to_json_bytes(self) -> bytes:
        """The audit as JSON: keys sorted, one-space indent, UTF-8, a final newline."""
        return _json_bytes(self)


class FairlearnCheck(_Part):
    """Fairlearn's MetricFrame against our count-based rates: the largest difference."""

    method: str
    max_abs_difference: float


class FairnessSection(_FairnessFigures):
    """The model audit's fairness section: the scored-table figures, checked by Fairlearn."""

    fairlearn_check: FairlearnCheck


# -- thresholds and calibration -------------------------------------------------------------


class ThresholdGroup(_Part):
    """One group's rates at each swept fraction (None where undefined or withheld)."""

    count: int
    too_small: bool
    withheld: bool
    selection_rate: list[float | None]
    tpr: list[float | None]
    fpr: list[float | None]
    precision: list[float | None]


class ThresholdDimension(_Part):
    """One dimension's sweep: the fractions and each group's rates at them."""

    fractions: list[float]
    groups: dict[str, ThresholdGroup]


class CalibrationBin(_Part):
    """One score bin: mean predicted and observed risk, and its rows."""

    predicted: float
    observed: float
    count: int


class CalibrationEntry(_Part):
    """Calibration of one group (or of everyone); a too-small group keeps its count only."""

    count: int
    positives: int | None
    mean_predicted: float | None
    observed_rate: float | None
    ece: float | None
    too_small: bool
    deciles: list[CalibrationBin] | None


class ObservedExpectedEntry(_Part):
    """Outcomes recorded against the sum of predicted risks, for everyone or one group.

    ``ratio`` is observed over expected with its exact interval (``low``, ``high``);
    ``judged`` says whether the group had enough outcomes for the gates to judge it. A group
    too small to publish (fewer rows than the audit's minimum group size) keeps its row count
    only (``withheld``).
    """

    count: int
    observed: int | None
    expected: float | None
    ratio: float | None
    low: float | None
    high: float | None
    judged: bool
    withheld: bool


class CalibrationCheck(_Part):
    """What the calibration gates judge: expected against observed, and the calibration line."""

    method: str
    confidence: float
    min_outcomes: int
    overall: ObservedExpectedEntry
    slope: float | None
    slope_low: float | None
    slope_high: float | None
    intercept: float | None
    intercept_low: float | None
    intercept_high: float | None
    by: dict[str, dict[str, ObservedExpectedEntry]]


class CalibrationSection(_Part):
    """Calibration overall and by dimension and group; ``check`` is what the gates judge."""

    overall: CalibrationEntry
    by: dict[str, dict[str, CalibrationEntry]]
    check: CalibrationCheck | None = None


# -- areas: the decision the product makes -----------------------------------------------------


class AreaObservedExpected(_Part):
    """Outcomes against expected outcomes (the sum of risks) in a set of areas or a group.

    ``areas`` is how many areas the set holds (None for a group of young people); ``count``
    the young people in it. ``judged`` needs ``min_outcomes`` outcomes; ``withheld`` sets
    (fewer young people than the audit's withholding threshold) keep their counts only.
    """

    areas: int | None
    count: int
    observed: int | None
    expected: float | None
    ratio: float | None
    low: float | None
    high: float | None
    judged: bool
    withheld: bool


class AreaAllocation(_Part):
    """Whether areas higher in one attribute get more predicted relative to their outcomes.

    ``ratio`` is predicted over observed outcomes for areas one standard deviation
    (``attribute_sd``) higher in the attribute, relative to areas of equal outcomes: 1 is
    even-handed, above 1 scores such areas up. ``low``/``high`` its bootstrap interval over
    areas, ``p_value`` the bootstrap test of ratio 1; ``judged`` needs ``min_areas`` areas and
    ``min_outcomes`` outcomes.
    """

    attribute: str
    description: str
    areas: int
    observed: int
    attribute_sd: float | None
    ratio: float | None
    low: float | None
    high: float | None
    p_value: float | None
    judged: bool


class AreaComparison(_Part):
    """The areas' expected counts against one outcome (``recorded`` or ``true``)."""

    outcome: Literal["recorded", "true"]
    overall: AreaObservedExpected
    by_type: dict[str, dict[str, AreaObservedExpected]]
    by_group: dict[str, dict[str, AreaObservedExpected]]
    allocation: dict[str, AreaAllocation]


class AreaLevelAudit(_Part):
    """One area level (LSOA, ward): its areas, and their counts against each outcome."""

    area_column: str
    areas: int
    small_areas: int
    recorded: AreaComparison
    true: AreaComparison | None


class AreaReport(_Part):
    """The area-level audit: what a release publishes, judged first (see ``area_audit``)."""

    available: Literal[True]
    method: str
    note: str
    policing_source: str
    confidence: float
    min_outcomes: int
    min_areas: int
    bootstrap: int
    gated_level: str
    levels: dict[str, AreaLevelAudit]


AreaAuditSection = Annotated[SectionUnavailable | AreaReport, Field(discriminator="available")]


# -- mitigations ----------------------------------------------------------------------------


class MitigationIntervals(_Part):
    """Exact (Clopper-Pearson) intervals of one method's rates, overall or in one group."""

    selection_rate: Interval
    tpr: Interval
    fpr: Interval


class MitigationGroup(_Part):
    """One group's rates under one method.

    Fields added by issue 17 (the comparison at the model's capacity) default to None so that
    older audits still read.
    """

    count: int
    selection_rate: float | None
    tpr: float | None
    fpr: float | None
    too_small: bool
    withheld: bool
    outcomes: int | None = None
    selected: int | None = None
    ci: MitigationIntervals | None = None
    tpr_judged: bool | None = None
    fpr_judged: bool | None = None
    constrained: bool | None = Field(
        default=None, description="Whether the method constrained this group on its own."
    )


class MitigationRow(_Part):
    """One method's figures on the test split; ``note`` says why a method could not be fitted."""

    method: str
    description: str
    accuracy: float | None
    balanced_accuracy: float | None
    selection_rate: float | None
    tpr: float | None
    fpr: float | None
    equalized_odds_difference: float | None
    demographic_parity_difference: float | None
    true_positive_rate_difference: float | None
    by_group: dict[str, MitigationGroup]
    note: str | None
    selected: int | None = Field(default=None, description="People selected: the capacity.")
    ci: MitigationIntervals | None = None
    equalized_odds_p_value: float | None = None
    not_constrained: list[str] = Field(default_factory=list)


class NotConstrainedGroup(_Part):
    """A group a mitigation could not constrain, with its counts in the fit cohort."""

    group: str
    fit_rows: int
    fit_outcomes: int | None = Field(description="None: withheld (fewer than withhold_below).")
    methods: list[str] = Field(default_factory=list, description="The options that could not.")


class MitigationReport(_Part):
    """Mitigations compared (not applied) at the model's capacity: fitted on validation, judged on test.

    ``merged_small_groups`` and ``small_groups_folded_into`` are read from audits before
    issue 17 (small groups were then merged for the constraint); none are merged now.
    """

    available: Literal[True]
    constraint: str
    objective: str
    attribute: str
    top_fraction: float
    fit_rows: int
    evaluated_rows: int
    rows: list[MitigationRow]
    seconds: float
    fit_split: str
    evaluated_on: str
    merged_small_groups: list[str] = Field(default_factory=list)
    small_groups_folded_into: str | None = None
    capacity: int | None = None
    capacity_method: str | None = None
    fit_rows_sampled: int | None = Field(
        default=None, description="Fit rows sampled for ExponentiatedGradient."
    )
    confidence: float | None = None
    min_outcomes: int | None = None
    constrained_groups: list[str] = Field(default_factory=list)
    not_constrained: list[NotConstrainedGroup] = Field(default_factory=list)


MitigationSection = Annotated[
    SectionUnavailable | MitigationReport, Field(discriminator="available")
]


# -- explainability -------------------------------------------------------------------------


class ShapCheck(_Part):
    """Our TreeSHAP against shap.TreeExplainer on the first rows."""

    rows_checked: int
    max_abs_difference: float
    tolerance: float
    passed: bool


class FeatureImportance(_Part):
    """One feature's mean absolute SHAP value and its share of the total."""

    rank: int
    feature: str
    mean_abs_shap: float
    share: float


class GroupContribution(_Part):
    """One group's mean SHAP value of the top features (None for a too-small group)."""

    n: int
    too_small: bool
    mean_shap: dict[str, float] | None


class ProxyInput(_Part):
    """One input's share of the proxy model's gain."""

    feature: str
    importance_share: float


class ProxyStrength(_Part):
    """How well the inputs predict a sensitive attribute (out-of-fold ROC AUC)."""

    attribute: str
    rows: int
    classes: list[str]
    dropped_classes: list[str]
    auc: float
    baseline_auc: float
    top_inputs: list[ProxyInput]


class AreaIdentifier(_Part):
    """An input that identifies areas: constant within them, about one value per area."""

    feature: str
    distinct_values: int
    constant_share: float
    reason: str


class AreaIdentifierCheck(_Part):
    """The proxy check's search for inputs that identify where a young person lives."""

    available: Literal[True]
    area_column: str | None
    areas: int
    inputs_checked: int
    min_distinct_share: float
    min_constant_share: float
    identifiers: list[AreaIdentifier]


AreaIdentifierSection = Annotated[
    SectionUnavailable | AreaIdentifierCheck, Field(discriminator="available")
]
_NOT_CHECKED = SectionUnavailable(
    available=False, reason="This audit predates the area-identifier check."
)


class ExplainabilityReport(_Part):
    """SHAP importance overall and by group, its check, and proxy strength."""

    available: Literal[True]
    method: str
    rows: int
    seconds: float
    rows_per_second: float | None
    check: ShapCheck
    importance: list[FeatureImportance]
    by_group: dict[str, dict[str, GroupContribution]] = Field(
        description="dimension -> group -> contributions"
    )
    proxy: dict[str, ProxyStrength]
    area_identifiers: AreaIdentifierSection = Field(
        default=_NOT_CHECKED,
        description="Inputs that identify areas, hence stand in for ethnicity by where people "
        "live (an audit written before this check reads as not checked).",
    )


ExplainabilitySection = Annotated[
    SectionUnavailable | ExplainabilityReport, Field(discriminator="available")
]


# -- drift ----------------------------------------------------------------------------------


class ChampionReference(_Part):
    """The approved champion compared with, and the hash of the report it was approved on."""

    version: str
    approved_report_sha256: str | None


class FeatureDrift(_Part):
    """One input's population stability index: the scored cohort against the champion's training data."""

    feature: str
    psi: float
    level: DriftLevel


class ScoreDrift(_Part):
    """The score's population stability index."""

    psi: float
    level: DriftLevel


class FigureChange(_Part):
    """One headline figure, champion against candidate."""

    figure: str
    champion: float | None
    candidate: float | None
    change: float | None
    status: FigureStatus


class Drivers(_Part):
    """The ten most important inputs of each model."""

    champion: list[str]
    candidate: list[str]


class FeatureListChange(_Part):
    """Inputs the candidate added or removed."""

    added: list[str]
    removed: list[str]


class CohortComparison(_Part):
    """What the drift is measured between: the champion's training data and the scored cohort.

    ``reference`` says which rows the champion's bins were kept from (its training split for
    the inputs, its validation split for the score); ``missing`` says why there is no
    comparison (an old champion kept no bins, or no cohort was given), and then the
    section's ``features`` and ``score`` are empty.
    """

    reference: str | None = None
    reference_rows: int | None = None
    cohort_as_of: str | None = None
    cohort_rows: int | None = None
    missing: str | None = None


class PairedDelta(_Part):
    """One metric of the candidate minus the champion's, both scored on the candidate's test rows.

    ``difference`` is oriented so that a positive value means the candidate is better
    (``candidate - champion`` for ROC AUC and average precision, ``champion - candidate`` for
    Brier score and log loss); ``low``/``high`` are its paired bootstrap interval.
    """

    metric: str
    champion: float
    candidate: float
    difference: float
    low: float | None
    high: float | None
    confidence: float
    resamples: int
    rows: int
    outcomes: int


class DriftReport(_Part):
    """What changed since the champion."""

    available: Literal[True]
    champion: ChampionReference
    features: list[FeatureDrift]
    score: ScoreDrift | None
    figures: list[FigureChange]
    drivers: Drivers
    feature_list: FeatureListChange
    cohort: CohortComparison | None = None
    paired: list[PairedDelta] = Field(default_factory=list)
    paired_missing: str | None = None


DriftSection = Annotated[SectionUnavailable | DriftReport, Field(discriminator="available")]


# -- rolling-origin evaluation --------------------------------------------------------------


class OriginEvaluation(_Part):
    """The configured model trained on the as-of dates labelled by ``origin``, tested on it."""

    origin: str
    train_dates: list[str]
    train_rows: int
    held_out_rows: int
    test_rows: int
    outcomes: int
    roc_auc: float | None
    roc_auc_low: float | None
    roc_auc_high: float | None
    observed_expected: float | None
    observed_expected_low: float | None
    observed_expected_high: float | None
    best_iteration: int
    confidence: float


class RollingOrigins(_Part):
    """What training logged of its rolling-origin evaluation (``evaluation.rolling_origins``)."""

    available: Literal[True]
    origins: list[OriginEvaluation]


RollingSection = Annotated[SectionUnavailable | RollingOrigins, Field(discriminator="available")]


# -- the served model: refit on all labelled data -------------------------------------------


class RefitComparison(_Part):
    """The refit against the evaluated model on rows neither learned from.

    The audit persons' rows at the test date: held out of the refit, and later than anything
    the evaluated model trained on. ``difference`` is oriented so that a positive value means
    the refit is better; ``low``/``high`` are its paired bootstrap interval.
    """

    metric: str
    evaluated: float
    refit: float
    difference: float
    low: float | None
    high: float | None
    confidence: float
    resamples: int
    rows: int
    outcomes: int


class RefitAgreement(_Part):
    """What serving the refit instead of the evaluated model changes in the scored cohort."""

    cohort_date: str
    rows: int
    expected_evaluated: float
    expected_refit: float
    #: expected outcomes of the refit over the evaluated model's, in the whole cohort
    ratio: float
    area_column: str | None
    areas: int
    #: Spearman correlation of the two models' expected counts over those areas
    rank_correlation: float | None


class RefitAudit(_Part):
    """The served model, refit on every labelled as-of date, judged on persons held out of it."""

    available: Literal[True]
    method: str
    as_of_dates: list[str]
    audit_fraction: float
    stopping_fraction: float
    rows: dict[str, int]
    persons: dict[str, int]
    outcomes: dict[str, int]
    best_iteration: int
    #: the audit persons' rows at every refit date (labelled, none seen by the refit)
    audited_rows: int
    audited_outcomes: int
    roc_auc: float | None
    roc_auc_low: float | None
    roc_auc_high: float | None
    check: CalibrationCheck
    comparisons: list[RefitComparison]
    agreement: RefitAgreement | None = None


RefitSection = Annotated[SectionUnavailable | RefitAudit, Field(discriminator="available")]


# -- features, distributions, card ----------------------------------------------------------


class FeatureDefinition(_Part):
    """One feature as training defined it, with its policy; sensitive columns say so."""

    name: str
    description: str
    source: str
    policy: str
    aggregate: str | None = None
    condition: str | None = None
    window_months: int | None = None
    sensitive: bool | None = None


class ReferenceBins(_Part):
    """A distribution kept for later drift checks: bin cut points and shares."""

    cuts: list[float]
    shares: list[float]


class ModelCardItem(_Part):
    """One line of the model card."""

    label: str
    value: str


class ModelCardSection(_Part):
    """One heading of the model card and its lines."""

    heading: str
    items: list[ModelCardItem]


class ModelCard(_Part):
    """The model card: the hand-written card filled with the audited figures."""

    title: str
    organisation: str
    contact_email: str
    purpose: str
    not_for: str
    sections: list[ModelCardSection]


# -- the document ---------------------------------------------------------------------------


# -- the area-rate baseline and the fairness measure of each use ------------------------------


class BaselineMetric(_Part):
    """One metric of the candidate and of the area-rate baseline on the test rows."""

    candidate: float | None
    baseline: float | None


class AreaBaselineReport(_Part):
    """The candidate against the area-rate baseline (:mod:`governance.audit.baseline`).

    ``difference`` is positive when the candidate is better; ``low``/``high`` is its paired
    bootstrap interval, and ``passed`` says whether ``low`` is above ``margin``.
    """

    available: Literal[True]
    method: str
    fit_split: str
    evaluated_on: str
    levels: list[str]
    prior_rows: float
    fit_rows: int
    fit_outcomes: int
    fit_overall_rate: float
    areas: dict[str, int] = Field(description="level -> areas with a fitted rate")
    rated_at: dict[str, int] = Field(description="level (or 'overall') -> test rows rated at it")
    rows: int
    outcomes: int
    expected_candidate: float
    expected_baseline: float
    metric: str
    higher_is_better: bool
    candidate: float | None
    baseline: float | None
    difference: float | None
    low: float | None
    high: float | None
    confidence: float
    resamples: int
    seed: int
    margin: float
    passed: bool
    metrics: dict[str, BaselineMetric]


AreaBaselineSection = Annotated[
    SectionUnavailable | AreaBaselineReport, Field(discriminator="available")
]


class FairnessUseEntry(_Part):
    """Which fairness measure fits one use of the scores (``audit.fairness_use``)."""

    use: str
    measure: str
    meaning: str


class AuditDocument(_Part):
    """``audit.json`` of one model version; see the module docstring.

    ``model_card`` is None only while the card is being built from the rest of the
    document; every written ``audit.json`` has one.
    """

    schema_version: int
    kind: Literal["model"]
    created: str
    model: ModelSummary
    data: DataSummary
    operating_point: OperatingPoint
    gates: list[GateOutcome]
    gates_passed: bool
    performance: dict[str, float | None]
    fairness: FairnessSection
    thresholds: dict[str, ThresholdDimension]
    calibration: CalibrationSection
    ground_truth: FreeFormSection
    linkage: FreeFormSection
    mitigations: MitigationSection
    explainability: ExplainabilitySection
    drift: DriftSection
    features: list[FeatureDefinition]
    distributions: dict[str, ReferenceBins]
    timings: dict[str, float]
    model_card: ModelCard | None = None
    rolling_origins: RollingSection | None = None
    #: the served model's own audit when training refit it (absent from older documents)
    refit: RefitSection | None = None
    #: the area-level audit (absent from documents written before it existed)
    areas: AreaAuditSection | None = None
    area_baseline: AreaBaselineSection | None = None
    fairness_use: list[FairnessUseEntry] | None = None
    error_analysis: FreeFormSection | None = Field(
        default=None, description="Cohorts where the model fails: governance.audit.error_analysis."
    )

    @classmethod
    def from_json(cls, data: bytes | str) -> AuditDocument:
        """Read ``audit.json``.

        Raises
        ------
        pydantic.ValidationError
            If a key is unknown or missing, or a value has the wrong type.
        """
        return cls.model_validate_json(data)

    def to_json_bytes(self) -> bytes:
        """``audit.json`` as written: keys sorted, one-space indent, UTF-8, a final newline."""
        return _json_bytes(self)

    def to_dict(self) -> dict[str, Any]:
        """The document as plain JSON values, with exactly the keys ``audit.json`` has."""
        return self.model_dump(mode="json", exclude_unset=True)


def _json_bytes(part: BaseModel) -> bytes:
    """Keys set by the producer (None included), sorted, as the audit has always written."""
    data = part.model_dump(exclude_unset=True)
    return (json.dumps(data, indent=1, sort_keys=True, default=json_default) + "\n").encode()
