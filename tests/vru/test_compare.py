"""``vru compare A B``: two registered versions side by side (issue 15, finding 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import mlflow
import pytest
from typer.testing import CliRunner

from tests.helpers import TrainedCity
from training.model.config import ModelConfig
from training.model.train import TrainResult, run_train
from vru.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def two_versions(
    trained_city: TrainedCity, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, TrainResult]]:
    """A copy of the trained city's store with a second version (age alone) as candidate.

    Version 1 carries the audit's tags, as `vru audit` leaves them.
    """
    root = tmp_path_factory.mktemp("compare")
    uri = trained_city.copy_store(root / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(root / "store")
        mlflow.set_tracking_uri(uri)
        config = ModelConfig.model_validate({"include": ["age"], "lightgbm": {"max_rounds": 20}})
        second = run_train(trained_city.pipeline, config, trained_city.data)
        client = mlflow.MlflowClient(uri)
        client.set_model_version_tag(
            "vru-risk", trained_city.result.version, "audit_gates_passed", "true"
        )
        client.set_model_version_tag(
            "vru-risk", trained_city.result.version, "audit_failed_gates", "none"
        )
        yield uri, second


def _compare(uri: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = runner.invoke(app, ["compare", *args])
    return result.exit_code, result.output


def test_compare_as_json_gives_both_versions_their_figures_and_the_config_difference(
    two_versions: tuple[str, TrainResult],
    trained_city: TrainedCity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri, second = two_versions
    first = trained_city.result
    code, output = _compare(uri, monkeypatch, first.version, "candidate", "--json")
    assert code == 0, output
    found = json.loads(output)
    assert found["a"]["version"] == first.version and found["b"]["version"] == second.version
    assert found["a"]["run_id"] == first.run_id and found["b"]["ref"] == "candidate"
    assert found["a"]["features_sha256"] == found["b"]["features_sha256"] != "not recorded"
    assert found["a"]["test_as_of"] == "2023-03-31"
    assert found["a"]["git_dirty"] in {"true", "false"}
    assert found["a"]["audit"] == {"audit_gates_passed": "true", "audit_failed_gates": "none"}
    assert found["b"]["audit"] == {}
    metrics = {m["name"]: m for m in found["metrics"]}
    assert [m["name"] for m in found["metrics"][:2]] == ["test_roc_auc", "test_ece"]
    auc = metrics["test_roc_auc"]
    assert auc["a"] == pytest.approx(first.metrics["test_roc_auc"])
    assert auc["b"] == pytest.approx(second.metrics["test_roc_auc"])
    assert auc["difference"] == pytest.approx(auc["b"] - auc["a"])
    params = {p["name"]: p for p in found["params"]}
    assert params["model.include"] == {"name": "model.include", "a": "null", "b": '["age"]'}
    assert "seed" not in params  # equal parameters are not listed


def test_compare_prints_tables(
    two_versions: tuple[str, TrainResult],
    trained_city: TrainedCity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri, _ = two_versions
    code, output = _compare(uri, monkeypatch, "candidate", trained_city.result.version)
    assert code == 0, output
    for text in ("test_roc_auc", "B − A", "model.include", "not audited", "test as-of date"):
        assert text in output, text


def test_compare_refuses_an_unknown_version_or_alias(
    two_versions: tuple[str, TrainResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, _ = two_versions
    code, output = _compare(uri, monkeypatch, "champion", "candidate")
    assert code == 2
    assert (
        "vru-risk: no version or alias 'champion' (versions: 1, 2; aliases: candidate)"
        in " ".join(output.split())
    )
    code, output = _compare(uri, monkeypatch, "1", "7")
    assert code == 2 and "no version or alias '7'" in output
