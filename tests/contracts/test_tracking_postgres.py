"""MLflow tracking and the model registry work against `mlflow server` backed by PostgreSQL.

Never skipped: `make test` installs PostgreSQL first (scripts/ensure-postgres.sh) and
tests/tracking_server.py starts a throwaway cluster and server on loopback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import mlflow
import mlflow.tracking._model_registry.utils as registry_utils
import mlflow.tracking._tracking_service.utils as tracking_utils
import numpy as np
import pandas as pd
import psycopg2
import pytest
from mlflow import MlflowClient

from tests.helpers import make_config
from tests.tracking_server import postgres_mlflow_server
from training.config import PipelineConfig
from training.features.build import run_features
from training.generate.run import run_generate
from training.linkage.stage import run_link
from training.model.config import ModelConfig

MODEL_NAME = "vru-risk-test"


@pytest.fixture
def isolated_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Whatever the test sets as tracking/registry URI is undone afterwards."""
    # mlflow.set_tracking_uri writes the env var and a module global: record both for restore.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    yield
    mlflow.set_tracking_uri(None)  # also resets MLflow's tracer provider


@pytest.mark.slow
# MLflow's own pydantic models (mlflow.types.responses) trip this when mlflow.pyfunc is imported.
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
@pytest.mark.usefixtures("isolated_tracking_uri")
def test_vru_train_registers_on_a_postgres_backed_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Imported here, not at module level: importing mlflow.pyfunc warns (see the marks above),
    # and marks only filter warnings raised while the test runs, not at collection.
    import mlflow.pyfunc

    from training.model.train import CANDIDATE, run_train

    pipeline = PipelineConfig.model_validate(
        {"seed": 77, "link": {"u_max_pairs": 2e5, "em_max_pairs": 2e5}}
    )
    data = run_generate(make_config(persons=8_000, seed=77), tmp_path / "data").data_dir
    run_link(pipeline, data)
    run_features(pipeline.features, data)
    monkeypatch.chdir(tmp_path)

    with postgres_mlflow_server(tmp_path) as server:
        uri = server.tracking_uri
        mlflow.set_tracking_uri(uri)
        assert mlflow.get_registry_uri() == uri
        result = run_train(
            pipeline,
            ModelConfig(registered_model_name=MODEL_NAME, lightgbm={"max_rounds": 80}),
            data,
        )
        client = MlflowClient(uri)
        assert client.get_model_version_by_alias(MODEL_NAME, CANDIDATE).run_id == result.run_id

        downloaded = tmp_path / "downloaded"
        downloaded.mkdir()
        loaded = mlflow.pyfunc.load_model(
            f"models:/{MODEL_NAME}@{CANDIDATE}", dst_path=str(downloaded)
        )
        features = pd.read_parquet(data / "features/features.parquet")
        sample = features[result.inputs].head(200)
        assert np.asarray(loaded.predict(sample)).shape == (200,)
        run = client.get_run(result.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.metrics["test_roc_auc"] == pytest.approx(result.metrics["test_roc_auc"])

        # The server stored it in PostgreSQL, and artifacts went through the server.
        connection = psycopg2.connect(server.postgres_dsn)
        with contextlib.closing(connection), connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM runs WHERE run_uuid = %s", (result.run_id,))
            (stored,) = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM model_versions WHERE name = %s", (MODEL_NAME,))
            (versions,) = cursor.fetchone()
        assert stored == 1 and versions == 1
        assert any(server.artifacts_dir.rglob("MLmodel"))
