"""Issue 15: ``@candidate`` moved to a version worse than the current one with no warning."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from typer.testing import CliRunner

from tests.helpers import SEED, TrainedCity
from training.model.candidate import WORSE_TAG, worse_figures
from training.model.config import HeadlineFigure, ModelConfig
from vru.cli import app

HEADLINE = ModelConfig().headline


def test_worse_figures_respect_direction_and_tolerance() -> None:
    """Each direction and the tolerance's edge: a flipped comparison fails here."""
    auc = [HeadlineFigure(metric="test_roc_auc", better="higher", tolerance=0.005)]
    ece = [HeadlineFigure(metric="test_ece", better="lower", tolerance=0.002)]
    assert worse_figures(auc, {"test_roc_auc": 0.70}, {"test_roc_auc": 0.71}) == [
        ("test_roc_auc", 0.70, 0.71)
    ]
    assert worse_figures(auc, {"test_roc_auc": 0.706}, {"test_roc_auc": 0.71}) == []  # within
    assert worse_figures(auc, {"test_roc_auc": 0.75}, {"test_roc_auc": 0.71}) == []  # better
    assert worse_figures(ece, {"test_ece": 0.013}, {"test_ece": 0.010}) == [
        ("test_ece", 0.013, 0.010)
    ]
    assert worse_figures(ece, {"test_ece": 0.005}, {"test_ece": 0.010}) == []  # better
    assert worse_figures(ece, {"test_ece": 0.011}, {"test_ece": 0.010}) == []  # within
    assert worse_figures(ece, {}, {"test_ece": 0.010}) == []  # not measured: not judged
    assert worse_figures(ece, {"test_ece": float("nan")}, {"test_ece": 0.010}) == []


def test_a_worse_candidate_is_moved_with_a_warning_and_a_tag(
    trained_city: TrainedCity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 2, trained on age alone, is worse than version 1 on test ROC AUC."""
    uri = trained_city.copy_store(tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path / "store")
    mlflow.set_tracking_uri(uri)
    (tmp_path / "pipeline.yaml").write_text(f"config_version: 1\nseed: {SEED}\n")
    (tmp_path / "model.yaml").write_text(
        "config_version: 1\ninclude: [age]\nlightgbm: {max_rounds: 20}\n"
    )
    args = ["--config", str(tmp_path / "pipeline.yaml"), "-m", str(tmp_path / "model.yaml")]
    result = CliRunner().invoke(app, ["train", *args, "--data", str(trained_city.data), "-q"])
    assert result.exit_code == 0, result.output
    client = mlflow.MlflowClient(uri)
    first = trained_city.result.version
    new = client.get_model_version_by_alias("vru-risk", "candidate")
    assert new.version != first  # it still moves: the audit and the board judge it next
    assert new.tags[WORSE_TAG] == first
    old_auc = client.get_run(trained_city.result.run_id).data.metrics["test_roc_auc"]
    new_auc = client.get_run(new.run_id).data.metrics["test_roc_auc"]
    text = " ".join(result.output.split())
    assert f"version {new.version}, now 'candidate', is worse than version {first}" in text
    assert f"test_roc_auc {new_auc:.4f} against {old_auc:.4f} of version {first}" in text
