"""Training: temporal split rules, the feature policy, and a registered model that reproduces its metrics."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from governance.contracts.config import config_hash
from governance.contracts.errors import ConfigError
from tests.helpers import TrainedCity
from training.config import PipelineConfig
from training.features.config import FeaturesConfig
from training.model.config import ModelConfig, Splits
from training.model.data import model_inputs, split_rows
from training.model.metrics import evaluate
from training.model.train import CANDIDATE, TrainResult, run_train

MANIFEST: dict[str, Any] = {
    "label": {"months": 24},
    "data_end": "2025-03-31",
    "per_as_of_date": {
        d: {}
        for d in [
            "2016-03-31",
            "2017-03-31",
            "2018-03-31",
            "2019-03-31",
            "2021-03-31",
            "2023-03-31",
            "2024-03-31",
        ]
    },
    "features": [
        {"name": "age", "policy": "allowed"},
        {"name": "offences_ever", "policy": "allowed"},
        {"name": "ethnicity", "policy": "prohibited"},
    ],
}


def _splits(**kw: object) -> ModelConfig:
    return ModelConfig(
        splits=Splits(
            **{
                "train": [dt.date(2016, 3, 31)],
                "validation": dt.date(2021, 3, 31),
                "test": dt.date(2023, 3, 31),
                **kw,
            }
        )
    )


def test_splits_must_be_in_time_order() -> None:
    with pytest.raises(
        ValueError, match=r"train dates must all come before validation \(2021-03-31\)"
    ):
        Splits(
            train=[dt.date(2022, 3, 31)], validation=dt.date(2021, 3, 31), test=dt.date(2023, 3, 31)
        )
    with pytest.raises(
        ValueError, match=r"validation \(2023-03-31\) must come before test \(2023-03-31\)"
    ):
        Splits(
            train=[dt.date(2016, 3, 31)], validation=dt.date(2023, 3, 31), test=dt.date(2023, 3, 31)
        )


def test_label_windows_may_not_reach_the_next_split() -> None:
    frame = pd.DataFrame({"as_of_date": []})
    with pytest.raises(
        ConfigError,
        match=r"splits.train: the label window of 2019-03-31 \(24 months\) reaches validation \(2021-03-30\)",
    ):
        split_rows(
            _splits(train=[dt.date(2019, 3, 31)], validation=dt.date(2021, 3, 30)),
            {**MANIFEST, "per_as_of_date": {**MANIFEST["per_as_of_date"], "2021-03-30": {}}},
            frame,
        )


def test_an_as_of_date_without_complete_labels_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"splits.test: as-of date 2024-03-31 has no complete labels yet: its 24-month label window ends after the data \(2025-03-31\)",
    ):
        split_rows(_splits(test=dt.date(2024, 3, 31)), MANIFEST, pd.DataFrame({"as_of_date": []}))


def test_an_as_of_date_not_built_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"splits.validation: as-of date 2020-03-31 is not in the features table"
    ):
        split_rows(
            _splits(validation=dt.date(2020, 3, 31)), MANIFEST, pd.DataFrame({"as_of_date": []})
        )


def test_feature_policy_and_missing_columns() -> None:
    columns = ["age", "offences_ever", "ethnicity"]
    assert model_inputs(ModelConfig(), MANIFEST, columns) == ["age", "offences_ever"]
    with pytest.raises(
        ConfigError, match=r"include: feature 'ethnicity' is prohibited by the feature policy"
    ):
        model_inputs(ModelConfig(include=["age", "ethnicity"]), MANIFEST, columns)
    with pytest.raises(
        ConfigError,
        match=r"include: feature column\(s\) \['suspensions_12m'\] are not in the features table",
    ):
        model_inputs(ModelConfig(include=["age", "suspensions_12m"]), MANIFEST, columns)
    assert model_inputs(ModelConfig(exclude=["age"]), MANIFEST, columns) == ["offences_ever"]


@pytest.fixture(scope="module")
def trained(trained_city: TrainedCity) -> tuple[Path, TrainResult, str]:
    """The session's trained city (read only): its data, training result and store."""
    return trained_city.data, trained_city.result, trained_city.tracking_uri


def test_training_registers_a_candidate_that_reproduces_its_test_metrics(
    trained: tuple[Path, TrainResult, str],
) -> None:
    data, result, uri = trained
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    version = client.get_model_version_by_alias("vru-risk", CANDIDATE)
    assert str(version.version) == result.version
    assert {"git_commit", "features_sha256", "test_roc_auc", "run_id"} <= set(version.tags)
    model = mlflow.pyfunc.load_model(f"models:/vru-risk@{CANDIDATE}")
    features = pd.read_parquet(data / "features/features.parquet")
    test = features[pd.to_datetime(features["as_of_date"]).dt.date == dt.date(2023, 3, 31)]
    served = np.asarray(model.predict(test[result.inputs]))  # the table as written: no cast
    assert ((served >= 0) & (served <= 1)).all()
    # the test figures are the evaluated model's, logged beside the served refit
    evaluated = model.unwrap_python_model().evaluated
    p = np.asarray(evaluated.predict(test[result.inputs].astype(float)))
    assert not np.allclose(p, served)  # the refit learnt from later years: another model
    refit = result.refit  # every labelled date, the test year included, persons held out
    assert refit is not None and refit.as_of_dates[-1] == "2023-03-31"
    assert len(refit.as_of_dates) > len(result.splits["train"]) + 1
    assert refit.rows["fit"] > refit.rows["audit"] > 0
    assert version.tags["served_model"] == "refit"
    logged = client.get_run(result.run_id).data.metrics
    recomputed = evaluate(test["label"].to_numpy(), p, 5.0)
    for name in ("roc_auc", "pr_auc", "brier", "ece", "recall_at_top_k"):
        assert recomputed[name] == pytest.approx(logged[f"test_{name}"], abs=1e-9), name
    assert logged["test_roc_auc"] > 0.6  # the generated risk factors carry real signal
    assert "baseline_test_roc_auc" in logged


def test_the_run_holds_data_figures_and_definitions(trained: tuple[Path, TrainResult, str]) -> None:
    _, result, uri = trained
    client = mlflow.MlflowClient(uri)
    run = client.get_run(result.run_id)
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {
        "features-train",
        "features-validation",
        "features-test",
    }
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "figures")}
    assert {
        "figures/roc_test.png",
        "figures/calibration_test.png",
        "figures/feature_importance.png",
    } <= artifacts
    definitions = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=result.run_id, artifact_path="features/definitions.json", tracking_uri=uri
            )
        ).read_text()
    )
    assert "sex" not in definitions["inputs"] and "ethnicity" not in definitions["inputs"]
    assert run.data.params["model.calibration"] == '"sigmoid"'
    assert run.data.tags["git_commit"]


def test_tuning_logs_one_nested_run_per_trial(
    trained: tuple[Path, TrainResult, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _, _ = trained
    uri = f"sqlite:///{tmp_path / 'tune.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    pipeline = PipelineConfig.model_validate({"seed": 1234})
    result = run_train(pipeline, ModelConfig(lightgbm={"max_rounds": 60}, tune={"trials": 2}), data)
    client = mlflow.MlflowClient(uri)
    parent = client.get_run(result.run_id)
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert len(children) == 2
    assert all("validation_roc_auc" in c.data.metrics for c in children)
    assert parent.data.metrics["tuning_best_validation_roc_auc"] == max(
        c.data.metrics["validation_roc_auc"] for c in children
    )
    assert result.version == "1"


def test_training_refuses_features_built_with_another_features_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: a policy changed after `vru features` was logged while the model used the old."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    features = tmp_path / "data" / "features"
    features.mkdir(parents=True)
    built_with = FeaturesConfig()
    (features / "manifest.json").write_text(json.dumps({"config_hash": config_hash(built_with)}))
    changed = PipelineConfig.model_validate(
        {"features": {"policy": {"offences_ever": "prohibited"}}}
    )
    with pytest.raises(ConfigError, match=r"another features config.*run `vru features` again"):
        run_train(changed, ModelConfig(), tmp_path / "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no tracking store opened


def test_with_shuffled_labels_the_model_learns_nothing(trained_city: TrainedCity) -> None:
    """Nothing but the labels carries the outcome into training.

    The features of the trained city, fitted as training fits them but on training and
    validation labels shuffled: the test ROC AUC against the true labels falls to about 0.5
    (a test label reaching the fit through the features, early stopping or the split would
    keep it up), while the same fit on the true labels ranks better (so the check can tell
    the two apart).
    """
    from sklearn.metrics import roc_auc_score

    from training.model.estimators import fit_lightgbm

    manifest = json.loads((trained_city.data / "features/manifest.json").read_text())
    features = pd.read_parquet(trained_city.data / "features/features.parquet")
    config = ModelConfig(lightgbm={"max_rounds": 60})
    rows = split_rows(config, manifest, features)
    inputs = model_inputs(config, manifest, list(features.columns))
    x = {name: rows[name][inputs].astype(float) for name in rows}
    y = {name: rows[name]["label"].to_numpy() for name in rows}
    rng = np.random.default_rng(trained_city.pipeline.seed)
    aucs = {}
    for kind in ("true", "shuffled"):
        train_y, val_y = y["train"], y["validation"]
        if kind == "shuffled":
            train_y, val_y = rng.permutation(train_y), rng.permutation(val_y)
        booster = fit_lightgbm(
            config.lightgbm, trained_city.pipeline.seed, x["train"], train_y, x["validation"], val_y
        )
        aucs[kind] = roc_auc_score(y["test"], booster.predict(x["test"]))
    assert aucs["true"] > 0.6, aucs
    assert abs(aucs["shuffled"] - 0.5) < 0.1, aucs
