"""Rolling-origin evaluation: how the configured model does at several consecutive test years.

One test year says little about how stable a model is. At each origin ``t`` (an as-of date of
``evaluation.rolling_origins``) the model, with the configured LightGBM parameters and
calibration, is

- trained on every as-of date whose label window ends by ``t`` (the rule of
  :func:`training.model.data.split_rows`: no outcome of the test period is ever seen);
- stopped early and calibrated on a held-out slice of those training rows: a seeded share
  (``holdout_fraction``) of the *persons*, all of their rows, so that no young person is on
  both sides;
- tested on ``t``: ROC AUC with a bootstrap interval and observed/expected with its exact
  Poisson interval.

The ROC AUC interval comes from :func:`governance.audit.paired_bootstrap.paired_bootstrap`
against a constant score: a constant's ROC AUC is exactly 0.5 on every resample with both
classes (all ties count half), so the paired difference plus 0.5 is the resampled ROC AUC;
no second bootstrap is written. Aggregates only: nothing about a person is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from governance.audit.calibration import observed_expected
from governance.audit.paired_bootstrap import paired_bootstrap
from governance.audit.training_artifacts import ROLLING_ARTIFACT
from governance.contracts.audit_document import OriginEvaluation
from governance.contracts.errors import ConfigError
from training.model.config import ModelConfig
from training.model.estimators import CalibratedModel, Calibrator, fit_lightgbm

__all__ = ["ROLLING_ARTIFACT", "held_out_persons", "origin_plan", "rolling_origins"]

_NOT_BUILT = (
    "evaluation.rolling_origins: {date} is not an as-of date of the features table (built for "
    "{have}); add it to features.as_of_dates"
)
_UNLABELLED = (
    "evaluation.rolling_origins: {date} has no complete labels yet: its {months}-month label "
    "window ends after the data ({end})"
)
_NO_TRAINING = (
    "evaluation.rolling_origins: no as-of date has its {months}-month label window ended by "
    "{date}, so there is nothing to train on for that origin; choose a later origin"
)
_NO_PERSON = "rolling-origin evaluation needs a 'person_key' column to hold persons out"


def origin_plan(
    origins: Sequence[dt.date], built: Sequence[str], label_months: int, data_end: dt.date
) -> list[tuple[dt.date, list[dt.date]]]:
    """Each origin with the as-of dates it trains on; refuse an origin that cannot be judged."""
    dates = sorted(dt.date.fromisoformat(str(d)) for d in built)
    plan = []
    for origin in sorted(origins):
        if origin not in dates:
            raise ConfigError(_NOT_BUILT.format(date=origin, have=[str(d) for d in dates]))
        if _add_months(origin, label_months) > data_end:
            raise ConfigError(_UNLABELLED.format(date=origin, months=label_months, end=data_end))
        train = [d for d in dates if _add_months(d, label_months) <= origin]
        if not train:
            raise ConfigError(_NO_TRAINING.format(date=origin, months=label_months))
        plan.append((origin, train))
    return plan


def held_out_persons(persons: pd.Series, fraction: float, seed: int) -> np.ndarray:
    """True for the rows of a seeded ``fraction`` of the distinct persons (all their rows)."""
    distinct = np.sort(persons.astype(str).unique())
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(distinct), size=max(1, round(fraction * len(distinct))), replace=False)
    return np.asarray(persons.astype(str).isin(set(distinct[chosen])).to_numpy(), dtype=bool)


def rolling_origins(
    config: ModelConfig,
    manifest: dict[str, Any],
    features: pd.DataFrame,
    inputs: list[str],
    seed: int,
) -> list[OriginEvaluation]:
    """Train and test the configured model at each of ``config.evaluation.rolling_origins``."""
    settings = config.evaluation
    if not settings.rolling_origins:
        return []
    if "person_key" not in features:
        raise ConfigError(_NO_PERSON)
    months = int(manifest["label"]["months"])
    plan = origin_plan(
        settings.rolling_origins,
        list(manifest["per_as_of_date"]),
        months,
        dt.date.fromisoformat(manifest["data_end"]),
    )
    as_of = pd.to_datetime(features["as_of_date"]).dt.date
    results = []
    for origin, train_dates in plan:
        train = features[as_of.isin(train_dates)].reset_index(drop=True)
        test = features[as_of == origin].reset_index(drop=True)
        held = held_out_persons(train["person_key"], settings.holdout_fraction, seed)
        results.append(_one_origin(config, train, test, held, inputs, seed, origin, train_dates))
    return results


def _one_origin(
    config: ModelConfig,
    train: pd.DataFrame,
    test: pd.DataFrame,
    held: np.ndarray,
    inputs: list[str],
    seed: int,
    origin: dt.date,
    train_dates: list[dt.date],
) -> OriginEvaluation:
    settings = config.evaluation
    x, y = train[inputs].astype(float), train["label"].to_numpy(dtype=int)
    booster = fit_lightgbm(config.lightgbm, seed, x[~held], y[~held], x[held], y[held])
    model = CalibratedModel(booster, Calibrator(config.calibration), inputs)
    model.calibrator.fit(model.raw(x[held]), y[held])
    y_test = test["label"].to_numpy(dtype=int)
    p = model.predict(test[inputs].astype(float))
    auc = low = high = None
    if 0 < y_test.sum() < len(y_test):
        found = paired_bootstrap(
            y_test,
            p,
            np.full(len(p), 0.5),
            metric="roc_auc",
            resamples=settings.resamples,
            confidence=settings.confidence,
            seed=seed,
        )
        auc, low, high = found.a, found.low + 0.5, found.high + 0.5
    ratio = observed_expected(y_test, p, settings.confidence)
    return OriginEvaluation(
        origin=str(origin),
        train_dates=[str(d) for d in train_dates],
        train_rows=int((~held).sum()),
        held_out_rows=int(held.sum()),
        test_rows=len(test),
        outcomes=int(y_test.sum()),
        roc_auc=auc,
        roc_auc_low=low,
        roc_auc_high=high,
        observed_expected=ratio.ratio,
        observed_expected_low=ratio.low,
        observed_expected_high=ratio.high,
        best_iteration=int(booster.best_iteration),
        confidence=settings.confidence,
    )


def _add_months(date: dt.date, months: int) -> dt.date:
    return (pd.Timestamp(date) + pd.DateOffset(months=months)).date()
