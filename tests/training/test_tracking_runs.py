"""Issue 15, finding 9: what a training run records is what the model did.

Where the run goes under ``mlflow run``, its name, the error of a failed run, the git state,
descriptions, and a signature that accepts the features table as ``vru features`` writes it.
Real SQLite MLflow stores in ``tmp_path`` and real (small) training runs; nothing is mocked.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from governance.contracts.errors import ConfigError
from tests.helpers import SEED, TrainedCity
from training.model.config import ModelConfig
from training.model.run_record import git_state
from training.model.train import CANDIDATE, run_train
from training.tracking import (
    ERROR_TAG,
    EXPERIMENT_KIND_TAG,
    MODEL_TRAINING_KIND,
    NOTE_TAG,
    stage_run,
)

SMALL = {"lightgbm": {"max_rounds": 30}}
NAME = re.compile(r"^train 2023-03-31 [0-9a-f]{8}$")


def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> mlflow.MlflowClient:
    """An empty SQLite store in ``tmp_path``, as the process-wide tracking URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient(uri)


def _launch(
    client: mlflow.MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
    experiment: str | None,
    params: dict[str, str],
) -> str:
    """What ``mlflow run -e train [--experiment-name X]`` does before the entry point runs.

    It creates a run (in X, else Default) with its launch tags and the entry point's
    parameters, and sets MLFLOW_RUN_ID and MLFLOW_EXPERIMENT_ID for the command.
    """
    experiment_id = client.create_experiment(experiment) if experiment else "0"
    run = client.create_run(
        experiment_id,
        tags={
            "mlflow.project.entryPoint": "train",
            "mlflow.source.type": "PROJECT",
            "mlflow.source.git.commit": "0" * 40,
        },
    )
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    return run.info.run_id


@pytest.mark.parametrize("where", ["Default", "another"])
def test_a_launched_run_elsewhere_points_to_the_stage_run_and_is_ended(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlflow run --experiment-name another` or no name: the configured experiment wins."""
    client = _store(tmp_path, monkeypatch)
    launched = _launch(client, monkeypatch, None if where == "Default" else where, {"tune": "0"})
    with stage_run("vru-risk", "train 2023-03-31 00000000") as run_id:
        pass
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == "vru-risk"
    assert run.info.run_name == "train 2023-03-31 00000000" and run.info.status == "FINISHED"
    left = client.get_run(launched)
    assert left.data.tags["vru.stage_run"] == run_id and run_id in left.data.tags[NOTE_TAG]
    assert left.data.params == {"tune": "0"}  # what a launched stage logged there stays


def test_a_launched_run_in_the_configured_experiment_is_the_stage_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _store(tmp_path, monkeypatch)
    launched = _launch(client, monkeypatch, "vru-risk", {"tune": "0"})
    with stage_run("vru-risk", "train 2023-03-31 00000000") as run_id:
        pass
    assert run_id == launched
    run = client.get_run(run_id)
    assert run.info.run_name == "train 2023-03-31 00000000"
    assert run.info.lifecycle_stage == "active" and run.info.status == "FINISHED"


def test_a_failed_stage_records_the_error_on_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's errors are recorded with their message; others by type and place only."""
    client = _store(tmp_path, monkeypatch)
    with pytest.raises(ConfigError), stage_run("vru-risk", "train a") as ours:
        raise ConfigError("splits.test: as-of date 2030-03-31 is not in the features table")
    with pytest.raises(ValueError), stage_run("vru-risk", "train b") as theirs:
        raise ValueError("could not convert string to float: 'P000000004'")
    run = client.get_run(ours)
    assert run.info.status == "FAILED"
    assert run.data.tags[ERROR_TAG] == (
        "ConfigError: splits.test: as-of date 2030-03-31 is not in the features table"
    )
    other = client.get_run(theirs).data.tags[ERROR_TAG]
    assert other.startswith("ValueError (message not recorded") and "P000000004" not in other
    assert "test_tracking_runs.py:" in other


def test_a_training_that_fails_while_fitting_leaves_a_failed_run(
    trained_city: TrainedCity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: a failed training recorded no run, hence no error."""
    import training.model.train as train

    client = _store(tmp_path, monkeypatch)

    def fail(*args: object, **kwargs: object) -> None:
        raise ConfigError("lightgbm: the fit did not converge")

    monkeypatch.setattr(train, "_fit", fail)
    with pytest.raises(ConfigError, match="did not converge"):
        run_train(trained_city.pipeline, ModelConfig.model_validate(SMALL), trained_city.data)
    experiment = client.get_experiment_by_name("vru-risk")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags[ERROR_TAG] == "ConfigError: lightgbm: the fit did not converge"
    assert NAME.match(run.info.run_name)


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout


def test_git_state_flags_uncommitted_changes_and_hashes_the_diff(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("rounds = 1\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    clean = git_state(repo)
    assert clean == {"git_dirty": "false", "git_diff_sha256": hashlib.sha256(b"").hexdigest()}
    (repo / "train.py").write_text("rounds = 2\n")
    dirty = git_state(repo)
    assert dirty["git_dirty"] == "true"
    assert (
        dirty["git_diff_sha256"]
        == hashlib.sha256(_git(repo, "diff", "HEAD", "--binary")).hexdigest()
    )
    assert dirty["git_diff_sha256"] != clean["git_diff_sha256"]
    (repo / "train.py").write_text("rounds = 1\n")
    (repo / "notes.txt").write_text("untracked\n")
    assert git_state(repo)["git_dirty"] == "true"  # untracked files count as uncommitted
    outside = tmp_path / "plain"
    outside.mkdir()
    assert git_state(outside) == {"git_dirty": "unknown", "git_diff_sha256": "unknown"}


def test_the_run_and_the_registry_describe_the_training(trained_city: TrainedCity) -> None:
    """Issue 15: every run was named alike; no dirty flag; versions carried no description."""
    client = mlflow.MlflowClient(trained_city.tracking_uri)
    run = client.get_run(trained_city.result.run_id)
    assert NAME.match(run.info.run_name), run.info.run_name
    tags = run.data.tags
    assert tags["git_dirty"] in {"true", "false"}
    assert re.fullmatch(r"[0-9a-f]{64}", tags["git_diff_sha256"])
    assert tags["features_sha256"][:12] in tags[NOTE_TAG] and "test 2023-03-31" in tags[NOTE_TAG]
    model = client.get_registered_model("vru-risk")
    assert model.description == ModelConfig().description
    version = client.get_model_version("vru-risk", trained_city.result.version)
    assert run.info.run_name in version.description and "Test ROC AUC" in version.description
    assert version.tags["git_dirty"] == tags["git_dirty"]


def test_the_registered_model_scores_the_features_table_as_written(
    trained_city: TrainedCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: the signature declared doubles; the integer columns had to be cast first."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_city.tracking_uri)
    mlflow.set_tracking_uri(trained_city.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/vru-risk@{CANDIDATE}")
    features = pd.read_parquet(trained_city.data / "features/features.parquet")
    columns = model.metadata.get_input_schema().input_names()
    assert columns == trained_city.result.inputs
    p = np.asarray(model.predict(features[columns]))  # exactly as read: no cast
    assert p.shape == (len(features),) and ((p >= 0) & (p <= 1)).all()
    unwrapped = model.unwrap_python_model().model
    assert np.allclose(p, unwrapped.predict(features[columns].astype(float)))


def test_a_real_mlflow_run_ends_with_the_training_run_in_the_configured_experiment(
    trained_city: TrainedCity, tmp_path: Path
) -> None:
    """Issue 15: `mlflow run . -e train` logged the training run to the Default experiment.

    For real (``--env-manager local``): it succeeds, the training run is in vru-risk with the
    launch's provenance, and the run MLflow launched in Default (kept: MLflow ends it and
    fails if it was deleted) is named after the training run and points to it.
    """
    root = Path(__file__).resolve().parents[2]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    # artifacts in tmp_path: the entry point runs in the project directory
    client.create_experiment("vru-risk", artifact_location=str(tmp_path / "artifacts"))
    (tmp_path / "pipeline.yaml").write_text(f"config_version: 1\nseed: {SEED}\n")
    (tmp_path / "model.yaml").write_text("config_version: 1\nlightgbm: {max_rounds: 20}\n")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    for key in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(key, None)
    params = {
        "config": tmp_path / "pipeline.yaml",
        "model_config": tmp_path / "model.yaml",
        "data": trained_city.data,
    }
    done = subprocess.run(
        [str(bin_dir / "mlflow"), "run", str(root), "-e", "train", "--env-manager", "local"]
        + [arg for key, value in params.items() for arg in ("-P", f"{key}={value}")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    experiment = client.get_experiment_by_name("vru-risk")
    assert experiment is not None
    assert experiment.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND
    (run,) = client.search_runs([experiment.experiment_id])
    assert NAME.match(run.info.run_name) and run.info.status == "FINISHED"
    (launched,) = client.search_runs(["0"])
    assert launched.data.tags["vru.stage_run"] == run.info.run_id
    assert launched.info.run_name == f"launched {run.info.run_name} in vru-risk"
    assert launched.info.status == "FINISHED"
    commit = launched.data.tags["mlflow.source.git.commit"]
    assert run.data.tags["mlflow.source.git.commit"] == commit
