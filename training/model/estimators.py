"""The models: LightGBM with early stopping, a logistic-regression baseline, a calibrator.

:class:`CalibratedModel` is what MLflow stores and serves to data scientists: a fitted scorer
(a LightGBM booster or a scikit-learn pipeline) followed by a calibrator fitted on the
validation split, with the list of input columns it expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from training.model.config import BaselineParams, LightGBMParams

__all__ = [
    "CalibratedModel",
    "Calibrator",
    "fit_baseline",
    "fit_lightgbm",
    "fit_lightgbm_rounds",
    "lightgbm_params",
]

_EPS = 1e-6


def lightgbm_params(params: LightGBMParams, seed: int) -> dict[str, Any]:
    """LightGBM's own parameter dict: deterministic, quiet, binary log loss."""
    return {
        "objective": "binary",
        "metric": ["auc", "binary_logloss"],
        "num_leaves": params.num_leaves,
        "learning_rate": params.learning_rate,
        "min_child_samples": params.min_child_samples,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": params.bagging_freq,
        "lambda_l2": params.lambda_l2,
        "num_threads": params.num_threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def fit_lightgbm(
    params: LightGBMParams,
    seed: int,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_val: pd.DataFrame,
    y_val: np.ndarray,
) -> lgb.Booster:
    """Train with early stopping on the validation split."""
    train = lgb.Dataset(x_train, label=y_train, free_raw_data=False)
    valid = lgb.Dataset(x_val, label=y_val, reference=train, free_raw_data=False)
    return lgb.train(
        lightgbm_params(params, seed),
        train,
        num_boost_round=params.max_rounds,
        valid_sets=[valid],
        valid_names=["validation"],
        callbacks=[
            lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True, verbose=False)
        ],
    )


def fit_lightgbm_rounds(
    params: LightGBMParams, seed: int, x: pd.DataFrame, y: np.ndarray, rounds: int
) -> lgb.Booster:
    """Train a fixed number of rounds (chosen beforehand by early stopping), no validation."""
    return lgb.train(
        lightgbm_params(params, seed), lgb.Dataset(x, label=y, free_raw_data=False), rounds
    )


def fit_baseline(
    params: BaselineParams, seed: int, x_train: pd.DataFrame, y_train: np.ndarray
) -> Pipeline:
    """Mean imputation, standardisation and a logistic regression.

    A linear model with a few dozen inputs is settled long before a million rows, so it is
    fitted on a seeded random sample of at most ``params.max_rows`` training rows.
    """
    if len(x_train) > params.max_rows:
        keep = np.sort(
            np.random.default_rng(seed).choice(len(x_train), params.max_rows, replace=False)
        )
        x_train, y_train = x_train.iloc[keep], np.asarray(y_train)[keep]
    model = make_pipeline(
        SimpleImputer(strategy="mean", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=params.C, max_iter=params.max_iter, random_state=seed),
    )
    return model.fit(x_train, y_train)


@dataclass
class Calibrator:
    """Maps raw scores to calibrated probabilities; fitted on the validation split."""

    method: Literal["isotonic", "sigmoid"]
    model: Any = None

    def fit(self, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        """Learn the map from raw scores to observed rates."""
        if self.method == "isotonic":
            self.model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        else:
            self.model = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(raw).reshape(-1, 1), y)
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores."""
        if self.method == "isotonic":
            return np.asarray(self.model.predict(raw), dtype=float)
        return np.asarray(self.model.predict_proba(_logit(raw).reshape(-1, 1))[:, 1], dtype=float)


@dataclass
class CalibratedModel:
    """A scorer, its calibrator and its input columns: ``predict`` gives calibrated risk."""

    scorer: Any  # lgb.Booster or a scikit-learn Pipeline
    calibrator: Calibrator
    columns: list[str]

    def raw(self, features: pd.DataFrame) -> np.ndarray:
        """Uncalibrated scores."""
        x = features.loc[:, self.columns]
        if isinstance(self.scorer, lgb.Booster):
            return np.asarray(self.scorer.predict(x), dtype=float)
        return np.asarray(self.scorer.predict_proba(x)[:, 1], dtype=float)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of involvement in serious violence in the label window."""
        return self.calibrator.transform(self.raw(features))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))
