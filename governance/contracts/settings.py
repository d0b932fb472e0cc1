"""Governance settings (``configs/governance.yaml``): gates, the board's public key, the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from governance.contracts.roster import BoardSettings
from governance.contracts.signing import SignatureError, load_public_key_b64

__all__ = [
    "AreaIdentifierSettings",
    "AuditSettings",
    "BoardSettings",
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
        description="What the single threshold and both mitigations maximise.",
    )
    max_rows: int = Field(
        default=20_000,
        ge=500,
        description="Rows sampled (within each label) from each of the fit and evaluation splits.",
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

    @model_validator(mode="after")
    def _bands(self) -> Self:
        for low, high in (
            ("min_observed_expected", "max_observed_expected"),
            ("min_calibration_slope", "max_calibration_slope"),
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
        description="Bootstrap replicates. The fairness rates' intervals no longer use it "
        "(they are exact, and the gaps have a permutation null: see permutations); kept so "
        "that configs and the command line's --bootstrap that set it still load.",
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
