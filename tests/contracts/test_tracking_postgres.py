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
import psycopg2
import pytest
import sklearn
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from tests.tracking_server import postgres_mlflow_server

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


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240601)
    x = rng.normal(size=(40, 3))
    y = (x @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.5, size=40) > 0).astype(int)
    return x, y


@pytest.mark.slow
# MLflow's own pydantic models (mlflow.types.responses) trip this when mlflow.pyfunc is imported.
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
@pytest.mark.usefixtures("isolated_tracking_uri")
def test_tracking_and_registry_on_postgres_backed_server(tmp_path: Path) -> None:
    # Imported here, not at module level: importing mlflow.pyfunc warns (see the marks above),
    # and marks only filter warnings raised while the test runs, not at collection.
    import mlflow.pyfunc
    import mlflow.sklearn

    x, y = _data()
    model = LogisticRegression().fit(x, y)

    with postgres_mlflow_server(tmp_path) as server:
        uri = server.tracking_uri
        mlflow.set_tracking_uri(uri)
        assert mlflow.get_registry_uri() == uri
        client = MlflowClient(uri)

        experiment_id = mlflow.create_experiment("vru-risk-tracking-contract")
        with mlflow.start_run(experiment_id=experiment_id) as run:
            mlflow.log_params({"C": model.C, "rows": len(x)})
            mlflow.log_metrics({"train_accuracy": float(model.score(x, y)), "n_features": 3.0})
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=x[:5],
                registered_model_name=MODEL_NAME,
                # Explicit, so MLflow skips inferring requirements in a subprocess (~10 s).
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            )
        run_id = run.info.run_id

        assert info.registered_model_version is not None
        version = str(info.registered_model_version)
        client.set_registered_model_alias(MODEL_NAME, "candidate", version)
        assert client.get_model_version_by_alias(MODEL_NAME, "candidate").run_id == run_id

        downloaded = tmp_path / "downloaded"
        downloaded.mkdir()
        loaded = mlflow.pyfunc.load_model(
            f"models:/{MODEL_NAME}@candidate", dst_path=str(downloaded)
        )
        np.testing.assert_array_equal(np.asarray(loaded.predict(x)), model.predict(x))

        runs = client.search_runs(experiment_ids=[experiment_id])
        assert [r.info.run_id for r in runs] == [run_id]
        assert runs[0].info.status == "FINISHED"
        assert runs[0].data.params == {"C": "1.0", "rows": "40"}
        assert runs[0].data.metrics["train_accuracy"] == pytest.approx(model.score(x, y))

        # The server stored it in PostgreSQL, and artifacts went through the server.
        connection = psycopg2.connect(server.postgres_dsn)
        with contextlib.closing(connection), connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM runs WHERE run_uuid = %s", (run_id,))
            (stored,) = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM runs")
            (total,) = cursor.fetchone()
        assert stored == 1 and total >= 1
        assert any(server.artifacts_dir.rglob("MLmodel"))
