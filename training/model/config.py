"""Model settings (``configs/model.yaml``): splits, parameters, calibration, registry."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BaselineParams",
    "EvaluationConfig",
    "HeadlineFigure",
    "LightGBMParams",
    "ModelConfig",
    "RefitConfig",
    "Splits",
    "TuneConfig",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Splits(_Section):
    """Which as-of dates train, validate and test: later data always judges earlier."""

    train: list[dt.date] = Field(
        default_factory=lambda: [
            dt.date(2016, 3, 31),
            dt.date(2017, 3, 31),
            dt.date(2018, 3, 31),
            dt.date(2019, 3, 31),
        ]
    )
    validation: dt.date = dt.date(2021, 3, 31)
    test: dt.date = dt.date(2023, 3, 31)

    @model_validator(mode="after")
    def _in_order(self) -> Splits:
        if not self.train:
            raise ValueError("train needs at least one as-of date")
        if max(self.train) >= self.validation:
            raise ValueError(
                f"train dates must all come before validation ({self.validation}); latest train is {max(self.train)}"
            )
        if self.validation >= self.test:
            raise ValueError(f"validation ({self.validation}) must come before test ({self.test})")
        return self


class LightGBMParams(_Section):
    """LightGBM parameters (see LightGBM's docs); rounds stop early on validation."""

    num_leaves: int = Field(31, ge=2)
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_rounds: int = Field(400, ge=1)
    early_stopping_rounds: int = Field(40, ge=1)
    min_child_samples: int = Field(50, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0)
    num_threads: int = Field(2, ge=1)


class BaselineParams(_Section):
    """The scikit-learn logistic regression baseline."""

    C: float = Field(1.0, gt=0)
    max_iter: int = Field(2000, ge=10)
    max_rows: int = Field(
        100_000, ge=1000, description="Fit on a random sample of at most this many training rows."
    )


class TuneConfig(_Section):
    """Hyperparameter search with Optuna (``vru train --tune N``), one nested run per trial."""

    trials: int = Field(0, ge=0)
    num_leaves: tuple[int, int] = (8, 128)
    learning_rate: tuple[float, float] = (0.01, 0.2)
    min_child_samples: tuple[int, int] = (10, 300)


class EvaluationConfig(_Section):
    """Rolling-origin evaluation: the model as configured, trained and tested at several origins.

    At each origin (an as-of date), the model is trained on every as-of date whose label window
    ends by the origin, stopped early and calibrated on a held-out slice of those young people
    (``holdout_fraction`` of them, whole persons, chosen by the seed), and tested on the origin.
    Empty: not run.
    """

    rolling_origins: list[dt.date] = Field(
        default_factory=list,
        description="Test as-of dates, each also in the features table and fully labelled.",
    )
    holdout_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of the training persons held out to stop and calibrate."
    )
    resamples: int = Field(500, ge=1, description="Bootstrap resamples of each ROC AUC interval.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Confidence of the intervals.")

    @model_validator(mode="after")
    def _distinct(self) -> EvaluationConfig:
        if len(set(self.rolling_origins)) != len(self.rolling_origins):
            raise ValueError(f"rolling_origins must be distinct (got {self.rolling_origins})")
        return self


class RefitConfig(_Section):
    """The served model: the configured model refit on every labelled as-of date.

    After evaluation, the same parameters are fitted on every as-of date whose outcome period
    has ended, so the served model learns from the most recent labelled years. It is judged
    on persons it never saw: ``audit_fraction`` of the young people are kept out of it
    entirely; its boosting is stopped early on ``stopping_fraction`` of the rest, and its
    calibrator is cross-fitted (``folds``) on every person it learns from.
    Disabled: the evaluated model (trained on ``splits.train``) is served, as before.
    """

    enabled: bool = Field(True, description="Refit on all labelled data and serve the refit.")
    audit_fraction: float = Field(
        0.15, gt=0, lt=0.5, description="Share of persons kept out of the refit to audit it."
    )
    stopping_fraction: float = Field(
        0.15,
        gt=0,
        lt=0.5,
        description="Share of persons on which the refit's boosting is stopped early (its "
        "rounds); they then learn with the rest.",
    )
    folds: int = Field(
        3,
        ge=2,
        le=10,
        description="Folds of whole persons for the refit's cross-fitted calibrator (each "
        "fold scored by a model fitted on the others).",
    )


class HeadlineFigure(_Section):
    """A figure that judges whether a new version is worse than the current one.

    A new version is worse on this figure when it falls short of the other version's by more
    than ``tolerance`` (below it when higher is better, above it when lower is better).
    """

    metric: str = Field(description="A metric logged by training, e.g. test_roc_auc.")
    better: Literal["higher", "lower"]
    tolerance: float = Field(0.0, ge=0, description="Differences this small are not worse.")


def _headline() -> list[HeadlineFigure]:
    return [
        HeadlineFigure(metric="test_roc_auc", better="higher", tolerance=0.005),
        HeadlineFigure(metric="test_ece", better="lower", tolerance=0.002),
    ]


_DESCRIPTION = (
    "Calibrated LightGBM estimate of a young person's risk of involvement in serious violence "
    "within the label window, trained on linked multi-agency records for area-level planning; "
    "scores are published by area only, never per person."
)


class ModelConfig(_Section):
    """``configs/model.yaml``."""

    config_version: Literal[1] = 1
    experiment: str = "vru-risk"
    registered_model_name: str = "vru-risk"
    splits: Splits = Splits()
    lightgbm: LightGBMParams = LightGBMParams()
    baseline: BaselineParams = BaselineParams()
    calibration: Literal["isotonic", "sigmoid"] = "sigmoid"
    top_k_percent: float = Field(
        5.0,
        gt=0,
        le=100,
        description="Share of young people a service could reach: precision and recall there.",
    )
    include: list[str] | None = Field(
        None, description="Model inputs; default every allowed feature."
    )
    exclude: list[str] = Field(default_factory=list, description="Features left out of the model.")
    tune: TuneConfig = TuneConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    refit: RefitConfig = RefitConfig()
    description: str = Field(
        _DESCRIPTION, min_length=1, description="The registered model's description in MLflow."
    )
    headline: list[HeadlineFigure] = Field(
        default_factory=_headline,
        description="Figures on which a new @candidate is compared with the current "
        "@candidate and @champion (a warning when worse), and shown first by `vru compare`.",
    )
