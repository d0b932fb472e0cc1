"""Governance settings (``configs/governance.yaml``): gates, the board's public key, the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from governance.contracts.roster import BoardSettings
from governance.contracts.signing import SignatureError, load_public_key_b64

__all__ = [
    "AreaAuditSettings",
    "AreaBaselineSettings",
    "AreaIdentifierSettings",
    "AuditSettings",
    "BoardSettings",
    "FairnessUse",
    "Gates",
    "GovernanceConfig",
    "MitigationConfig",
    "ShapBinSettings",
]


class MitigationConfig(BaseModel):
    """Fairness mitigations the audit compares with the model (it never applies them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    constraint: Literal["equalized_odds", "true_positive_rate_parity"] = Field(
        default="equalized_odds", description="The fairness constraint both mitigations meet."
    )
    objective: Literal["balanced_accuracy_score", "accuracy_score"] = Field(
        default="balanced_accuracy_score",
        description="Fairlearn's objective when ThresholdOptimizer is fitted; the options are "
        "then compared at the model's capacity, which sets their operating point.",
    )
    max_rows: int = Field(
        default=20_000,
        ge=500,
        description="Fit rows sampled (within each label) for ExponentiatedGradient; "
        "ThresholdOptimizer reads the whole fit split and every option is judged on the whole "
        "evaluation split.",
    )
    exponentiated_gradient_max_iter: int = Field(default=20, ge=1)
    eps: float = Field(
        default=0.01, gt=0.0, le=1.0, description="Constraint slack of ExponentiatedGradient."
    )
    attribute: str = Field(
        default="ethnicity",
        min_length=1,
        description="The sensitive attribute the constraint is taken over (the caller passes it).",
    )


class Gates(BaseModel):
    """Limits a model version must meet before it may be promoted (or a board waiver)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_test_roc_auc: float = Field(default=0.70, ge=0.5, le=1.0)
    max_expected_calibration_error: float = Field(default=0.02, gt=0.0, le=1.0)
    max_equalized_odds_difference: float = Field(
        default=0.10,
        gt=0.0,
        le=1.0,
        description="Largest gap in TPR or FPR between groups whose rates are judged (see "
        "min_outcomes). The gate fails only when a dimension's gap is above this AND its "
        "permutation p-value, Holm-adjusted over the dimensions, is below 1 - gate_confidence: "
        "a gap a fair model would often show by chance is reported, not failed.",
    )
    min_group_size: int = Field(
        default=30, ge=1, description="Smaller groups are flagged, not judged."
    )
    max_logged_difference: float = Field(
        default=1e-6,
        ge=0.0,
        description="Largest difference allowed between a figure the training run logged and "
        "the same figure the audit recomputes from the model and the test rows.",
    )
    min_observed_expected: float = Field(
        default=0.8,
        gt=0.0,
        description="Observed over expected outcomes (recorded / sum of predicted risks): the "
        "gate fails when the upper end of its interval is below this (the model clearly "
        "expects too many), overall and in any group judged.",
    )
    max_observed_expected: float = Field(
        default=1.25,
        gt=0.0,
        description="The gate fails when the lower end of the O/E interval is above this (the "
        "model clearly expects too few), overall and in any group judged.",
    )
    min_calibration_slope: float = Field(
        default=0.8,
        gt=0.0,
        description="The calibration slope's gate fails when its interval lies wholly below "
        "this (risks too extreme).",
    )
    max_calibration_slope: float = Field(
        default=1.25,
        gt=0.0,
        description="The calibration slope's gate fails when its interval lies wholly above "
        "this (risks too timid).",
    )
    min_outcomes: int = Field(
        default=30,
        ge=1,
        description="Outcomes a group needs before its O/E or its true positive rate is "
        "judged (and non-outcomes before its false positive rate is); smaller groups are shown "
        "with their counts, not judged. Overall, fewer fails the O/E gates.",
    )
    gate_confidence: float = Field(
        default=0.95,
        gt=0.5,
        lt=1.0,
        description="Confidence of the intervals the calibration gates are decided on and of "
        "the fairness rates' exact intervals; 1 minus it is the significance level of the "
        "equalized-odds gate's permutation test.",
    )

    min_area_allocation_ratio: float = Field(
        default=0.8,
        gt=0.0,
        description="Area allocation (predicted over observed outcomes for areas one standard "
        "deviation higher in deprivation, policing or a group's share, at equal outcomes): the "
        "gate fails when the upper end of its interval is below this (such areas clearly "
        "scored down).",
    )
    max_area_allocation_ratio: float = Field(
        default=1.25,
        gt=0.0,
        description="The area allocation gate fails when the lower end of the interval is "
        "above this (such areas clearly scored up).",
    )
    baseline_metric: Literal["roc_auc", "average_precision", "brier", "log_loss"] = Field(
        default="log_loss",
        description="The decision metric on which a version must beat the area-rate baseline "
        "(paired bootstrap over the test rows, audit.bootstrap resamples). Log loss by default: "
        "the product publishes sums of risks, so the risks themselves must be right, which a "
        "proper scoring rule judges and a ranking metric (ROC AUC, average precision) does not.",
    )
    min_baseline_improvement: float = Field(
        default=0.0,
        ge=0.0,
        description="The gate passes only when the lower end of the paired bootstrap interval "
        "of (candidate better than the area-rate baseline) on baseline_metric is above this.",
    )

    max_refit_shortfall: float = Field(
        default=0.0,
        ge=0.0,
        description="The served model is refit on all labelled data; on the held-out young "
        "people's rows at the test date it is compared with the evaluated model on "
        "baseline_metric (paired bootstrap). The gate fails when the upper end of the interval "
        "of (refit better) is below minus this: the refit is clearly worse than the model the "
        "board's out-of-time figures describe.",
    )

    @model_validator(mode="after")
    def _bands(self) -> Self:
        for low, high in (
            ("min_observed_expected", "max_observed_expected"),
            ("min_calibration_slope", "max_calibration_slope"),
            ("min_area_allocation_ratio", "max_area_allocation_ratio"),
        ):
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(f"gates.{low} must be below gates.{high}")
        return self


class ShapBinSettings(BaseModel):
    """How the report's SHAP figures summarise young people: bins of each feature's value.

    A figure draws one mark per bin (never one per person): its mean contribution with an
    interval and its number of young people, rounded. A bin of fewer than
    ``audit.withhold_below`` young people is merged with its neighbour (small categories are
    pooled; a pool or "no value" bin still too small is not drawn), and the figure says so.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bins: int = Field(
        default=10,
        ge=2,
        le=50,
        description="Quantile bins of a feature's value; a feature with no more distinct "
        "values than this (a flag, a small count) gets one bin per value.",
    )
    count_rounding: int = Field(
        default=5,
        ge=1,
        description="People per bin are shown rounded to a multiple of this, as the release "
        "rounds its counts.",
    )
    confidence: float = Field(
        default=0.95,
        gt=0.0,
        lt=1.0,
        description="Coverage of the interval drawn around each bin's mean contribution.",
    )
    edge_digits: int = Field(
        default=2,
        ge=1,
        le=6,
        description="Significant digits of quantile bin edges, so that no edge is one "
        "person's exact value.",
    )


class AreaIdentifierSettings(BaseModel):
    """When the proxy check calls an input an area identifier (see ``governance.audit.proxy``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    area_column: str = Field(
        default="lsoa_code",
        min_length=1,
        description="The test rows' area column; an input constant within these areas, with "
        "about one value per area, identifies where a young person lives.",
    )
    min_distinct_share: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="An identifier takes at least this many distinct values per area.",
    )
    min_constant_share: float = Field(
        default=0.99,
        gt=0.0,
        le=1.0,
        description="An identifier holds its area's most common value for at least this share "
        "of the people with a value.",
    )


class AreaAuditSettings(BaseModel):
    """The area-level audit (``governance.audit.area_audit``): areas, their types, allocation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    other_levels: tuple[str, ...] = Field(
        default=("ward_code",),
        description="Area columns audited beside audit.area_identifiers.area_column (the one "
        "the gates judge), where the test rows have them.",
    )
    deprivation_column: str = Field(
        default="deprivation_decile",
        min_length=1,
        description="Each row's area deprivation decile (1 most deprived); an area's type is "
        "the quintile of its young people's mean decile.",
    )
    policing_column: str | None = Field(
        default=None,
        description="A row column measuring the policing of the young person's area, if the "
        "rows carry one. Without it: the truth's policing intensity (generated data), else "
        "the proxy below.",
    )
    policing_proxy_column: str = Field(
        default="days_since_police",
        min_length=1,
        description="Observable proxy of policing: the area's share of young people with a "
        "value in this column (any police record).",
    )
    composition_column: str = Field(
        default="ethnicity",
        min_length=1,
        description="The group column whose shares make the areas' composition types.",
    )
    composition_groups: tuple[str, ...] = Field(
        default=("Black", "White"),
        description="Areas are grouped into thirds by their share of each of these groups.",
    )
    bootstrap: int = Field(
        default=500,
        ge=100,
        description="Bootstrap replicates over areas of each allocation ratio's interval.",
    )
    min_areas: int = Field(
        default=20,
        ge=5,
        description="Areas (with young people) an allocation figure needs to be judged.",
    )


class AreaBaselineSettings(BaseModel):
    """The area-rate baseline: each young person's risk is the recorded rate of their area."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: tuple[str, ...] = Field(
        default=("ward_code", "borough_code"),
        min_length=1,
        description="Area columns, finest first: a young person gets their ward's rate, or "
        "their borough's when the ward had no rows, or the overall rate.",
    )
    prior_rows: float = Field(
        default=100.0,
        gt=0.0,
        description="Shrinkage: an area's rate is (outcomes + prior_rows x parent rate) / "
        "(rows + prior_rows), so a small area is pulled toward its borough (and a borough "
        "toward the overall rate, itself the Jeffreys estimate (outcomes + 1/2) / (rows + 1)).",
    )


class FairnessUse(BaseModel):
    """Which fairness measure fits one use of the scores, in plain words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    use: str = Field(min_length=1, description="The use, as a reader would name it.")
    measure: str = Field(min_length=1, description="The fairness measure that fits it.")
    meaning: str = Field(min_length=1, description="What the measure asks, and where it is shown.")


_FAIRNESS_USES = (
    FairnessUse(
        use="Area allocation: where prevention services go (the product's use; areas' "
        "expected counts are sums of risks)",
        measure="Calibration within groups",
        meaning="In every group (sex, ethnicity, deprivation) the model expects as many "
        "outcomes as are recorded, so no group's areas are over- or under-counted. Gated: "
        "observed/expected by group, with exact intervals (the calibration section).",
    ),
    FairnessUse(
        use="An assistive programme selecting individuals (not a use of this product: no "
        "individual score leaves the secure environment)",
        measure="Recall (true positive rate) parity",
        meaning="Among young people who went on to have the outcome, each group would be "
        "offered support equally often. Shown at the audit's operating point (the fairness "
        "section, equalized odds), for transparency.",
    ),
)


class ErrorSlice(BaseModel):
    """One cohort of the error analysis: rows whose ``column`` is missing, or in a range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Words for the report, e.g. 'no school record'.")
    column: str = Field(min_length=1, description="A column of the audited rows.")
    missing: bool = Field(
        default=False, description="True: the rows where the column has no value."
    )
    min: float | None = Field(default=None, description="Lowest value kept (inclusive).")
    max: float | None = Field(default=None, description="Highest value kept (inclusive).")

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        """Either missing, or a range with at least one bound."""
        if self.missing == (self.min is not None or self.max is not None):
            raise ValueError(
                f"audit.error_slices[{self.name!r}]: set either missing: true or min/max"
            )
        return self


#: The default cohorts: no record at an agency (its recency or mean input is missing), age.
DEFAULT_ERROR_SLICES: tuple[ErrorSlice, ...] = (
    ErrorSlice(name="no school record", column="absence_rate_ever", missing=True),
    ErrorSlice(name="no health record", column="days_since_health", missing=True),
    ErrorSlice(name="no social care record", column="days_since_social_care", missing=True),
    ErrorSlice(name="no police record", column="days_since_police", missing=True),
    ErrorSlice(name="aged 10 to 13", column="age", min=10, max=13),
    ErrorSlice(name="aged 14 to 17", column="age", min=14, max=17),
    ErrorSlice(name="most deprived areas (deciles 1-2)", column="deprivation_decile", max=2),
    ErrorSlice(name="least deprived areas (deciles 9-10)", column="deprivation_decile", min=9),
)


class AuditSettings(BaseModel):
    """How the model audit measures: groups, uncertainty, thresholds, explanations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensitive: tuple[str, ...] = Field(
        default=("sex", "ethnicity", "deprivation_quintile"),
        min_length=1,
        description="Group columns; each alone, and in the intersections below.",
    )
    intersections: tuple[tuple[str, ...], ...] | None = Field(
        default=None,
        description="Combinations of two or more sensitive columns reported beside each "
        "column, with the same small-group flags and withholding, e.g. [[sex, ethnicity]]. "
        "None (the default): every pair, then all the columns together.",
    )
    bootstrap: int = Field(
        default=500,
        ge=1,
        description="Paired bootstrap resamples of the test rows for the area-rate baseline "
        "gate (gates.baseline_metric). The fairness rates' intervals do not use it (they are "
        "exact, and the gaps have a permutation null: see permutations).",
    )
    area_baseline: AreaBaselineSettings = Field(
        default_factory=AreaBaselineSettings,
        description="The area-rate baseline a version must beat (fitted on the validation "
        "split's recorded outcomes, applied to the test rows).",
    )
    fairness_use: tuple[FairnessUse, ...] = Field(
        default=_FAIRNESS_USES,
        min_length=1,
        description="Which fairness measure fits which use of the scores, in plain words; "
        "shown on the model card.",
    )
    champion_resamples: int = Field(
        default=500,
        ge=1,
        description="Paired bootstrap resamples of each headline metric's difference between "
        "the candidate and the champion, both scored on the candidate's test rows (four "
        "metrics; about 25 s of CPU at 200,000 rows).",
    )
    permutations: int = Field(
        default=2000,
        ge=100,
        description="Replicates of the permutation null of each equalized-odds gap (its "
        "p-value is at least 1 / (permutations + 1)).",
    )
    threshold_fractions: tuple[float, ...] = Field(
        default=(0.01, 0.02, 0.05, 0.1, 0.2), min_length=1, description="Top fractions swept."
    )
    calibration_bins: int = Field(default=10, ge=2)
    withhold_below: int = Field(
        default=10,
        ge=0,
        description="Groups with fewer people show their count only: every rate, interval and "
        "gap is withheld, as disclosure control would (the release's threshold, 10).",
    )
    shap_check_rows: int = Field(
        default=2_000, ge=10, description="Rows whose SHAP values are checked against shap itself."
    )
    shap_tolerance: float = Field(default=1e-6, gt=0.0)
    dependence_plots: int = Field(
        default=4, ge=0, description="Binned plots (by value) of the top factors' contributions."
    )
    shap_bins: ShapBinSettings = Field(
        default_factory=ShapBinSettings,
        description="The bins the SHAP figures summarise young people in (no per-person marks).",
    )
    proxy_max_rows: int = Field(default=50_000, ge=100)
    area_identifiers: AreaIdentifierSettings = Field(
        default_factory=AreaIdentifierSettings,
        description="The proxy check's rule for inputs that identify areas.",
    )
    top_drivers: int = Field(default=10, ge=1, description="Factors shown per group and compared.")
    areas: AreaAuditSettings = Field(
        default_factory=AreaAuditSettings,
        description="The area-level audit: levels, area types and the allocation check.",
    )
    reference_groups: dict[str, str] = Field(
        default_factory=lambda: {"ethnicity": "White"},
        description="Per group column, the group the recording-bias ratios compare others "
        "with; a column not named uses its group with most truly involved young people.",
    )
    recording_replicates: int = Field(
        default=200,
        ge=50,
        description="Bootstrap replicates of the recording audit's input-by-group intervals.",
    )
    error_slices: tuple[ErrorSlice, ...] = Field(
        default_factory=lambda: DEFAULT_ERROR_SLICES,
        description="Cohorts the error analysis looks at (n, outcomes, ROC AUC, O/E).",
    )

    @model_validator(mode="after")
    def _intersections_are_sensitive(self) -> Self:
        """Refuse an intersection of fewer than two columns, a repeat, or a non-sensitive one."""
        for combination in self.intersections or ():
            if (
                len(combination) < 2
                or len(set(combination)) != len(combination)
                or not set(combination) <= set(self.sensitive)
            ):
                raise ValueError(
                    f"audit.intersections: {list(combination)} must name two or more distinct "
                    f"columns of audit.sensitive {list(self.sensitive)}"
                )
        return self

    @property
    def chosen_intersections(self) -> tuple[tuple[str, ...], ...]:
        """The intersections reported: as configured, or every pair and then all together."""
        if self.intersections is not None:
            return self.intersections
        columns = self.sensitive
        pairs = [(a, b) for i, a in enumerate(columns) for b in columns[i + 1 :]]
        everything = [columns] if len(columns) > 2 else []
        return (*pairs, *everything)


class GovernanceConfig(BaseModel):
    """``configs/governance.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_version: Literal[1] = 1
    environment: Literal["production", "demo"] = Field(
        default="production",
        description="'demo' allows `vru review --demo` (a labelled approval of generated data).",
    )
    gates: Gates = Gates()
    board_public_key_b64: str | None = Field(
        None,
        description="Older form of the board: one Ed25519 public key (`vru keys board-init` "
        "prints it), read as a roster of one member, id 'board', quorum 1. Use `board` instead.",
    )
    board: BoardSettings | None = Field(
        None,
        description="The board's roster (members' ids, names, public keys), its quorum, the "
        "default review period and the server's grace period after an approval lapses.",
    )
    revocations_dir: Path = Field(
        Path("releases/revocations"),
        description="Where `vru review --revoke` writes each member's signed revocation, and "
        "where promotion, `vru release` and the server look for them.",
    )
    audit: AuditSettings = AuditSettings()
    mitigation: MitigationConfig = MitigationConfig()
    audit_log: Path = Field(
        Path("governance-log/audit-log.jsonl"),
        description="The append-only, hash-chained audit log.",
    )
    audit_log_key: Path | None = Field(
        None,
        description="The logs' Ed25519 private key (`vru keys log-init`), held by their "
        "writers only and kept apart from the logs: every append ends with a checkpoint "
        "signed with it. None: no checkpoints (a truncated or re-chained log goes unseen).",
    )
    audit_log_public_key_b64: str | None = Field(
        None,
        description="The public half of audit_log_key (`vru keys log-init` prints it): "
        "`vru audit-log verify` checks each log's signed checkpoint with it.",
    )
    audit_log_anchor_dir: Path | None = Field(
        None,
        description="Where each log's checkpoint goes (<log name>.anchor); None: beside the "
        "log. Somewhere the logs' other writers cannot write is better.",
    )

    @model_validator(mode="after")
    def _one_board(self) -> Self:
        """The board is either the roster or the older single key, never both."""
        if self.board is not None and self.board_public_key_b64:
            raise ValueError(
                "board and board_public_key_b64 are both set: keep the roster (`board`) and "
                "move the single key into it as a member"
            )
        if self.board_public_key_b64:
            try:
                load_public_key_b64(self.board_public_key_b64, field="board_public_key_b64")
            except SignatureError as err:
                raise ValueError(str(err)) from None
        return self

    def board_roster(self) -> BoardSettings | None:
        """The board's roster: ``board``, or the single key as a roster of one; None if neither."""
        if self.board is not None:
            return self.board
        if self.board_public_key_b64:
            return BoardSettings.single(self.board_public_key_b64)
        return None
