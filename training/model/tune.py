"""Hyperparameter search for LightGBM with Optuna; each trial is a nested MLflow run."""

from __future__ import annotations

import logging

import mlflow
import optuna
from sklearn.metrics import roc_auc_score

from training.model.config import LightGBMParams, TuneConfig
from training.model.data import Matrix
from training.model.estimators import fit_lightgbm

__all__ = ["tune_lightgbm"]

logger = logging.getLogger("vru.train")


def tune_lightgbm(
    base: LightGBMParams, tune: TuneConfig, seed: int, train: Matrix, validation: Matrix
) -> LightGBMParams:
    """Search the configured ranges for the best validation ROC AUC; return the best parameters."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        params = base.model_copy(
            update={
                "num_leaves": trial.suggest_int("num_leaves", *tune.num_leaves, log=True),
                "learning_rate": trial.suggest_float(
                    "learning_rate", *tune.learning_rate, log=True
                ),
                "min_child_samples": trial.suggest_int(
                    "min_child_samples", *tune.min_child_samples, log=True
                ),
            }
        )
        with mlflow.start_run(run_name=f"trial {trial.number}", nested=True):
            booster = fit_lightgbm(params, seed, train.x, train.y, validation.x, validation.y)
            auc = float(roc_auc_score(validation.y, booster.predict(validation.x)))
            mlflow.log_params(trial.params)
            mlflow.log_metrics(
                {"validation_roc_auc": auc, "best_iteration": booster.best_iteration}
            )
        logger.info("trial %d: validation ROC AUC %.4f", trial.number, auc)
        return auc

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=tune.trials)
    mlflow.log_metric("tuning_best_validation_roc_auc", study.best_value)
    return base.model_copy(update=study.best_params)
