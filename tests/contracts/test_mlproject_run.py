"""`mlflow run` of the project's entry points works and logs the stage's manifest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mlflow_run_generate_logs_the_manifest(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # a clean MLflow environment: other tests in this process may have chosen an experiment
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        "MLFLOW_TRACKING_URI": uri,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    args = [
        "-P",
        "persons=300",
        "-P",
        f"data={tmp_path / 'data'}",
        "-P",
        f"config={ROOT / 'configs/pipeline.yaml'}",
    ]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlflow",
            "run",
            str(ROOT),
            "-e",
            "generate",
            "--env-manager",
            "local",
            *args,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "data" / "manifest.json").is_file()
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs(experiment_ids=["0"])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.metrics["generate.rows.extracts/health.parquet"] > 0
    assert runs[0].data.params["generate.persons"] == "300"
    assert [a.path for a in client.list_artifacts(runs[0].info.run_id, "generate")] == [
        "generate/manifest.json"
    ]
