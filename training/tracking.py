"""Log a stage to MLflow when it runs inside an MLflow run (``mlflow run .``).

Outside MLflow nothing is logged, so the CLI works the same with or without a tracking server.
Only run-level facts are logged: parameters, counts, hashes and manifests, never rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["log_to_active_run"]


def log_to_active_run(
    *, stage: str, params: dict[str, Any], metrics: dict[str, float], artifacts: list[Path]
) -> bool:
    """Log to the run that ``mlflow run`` started (``MLFLOW_RUN_ID``); return whether it did.

    Names are prefixed with the stage (``link.threshold``, ``link.records``) and artifacts go
    under the stage's folder, so that the stages of ``mlflow run . -e main`` share one run.
    """
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return False
    import mlflow  # only here: plain CLI use needs no MLflow import

    with mlflow.start_run(run_id=run_id):
        mlflow.log_params({f"{stage}.{k}": v for k, v in params.items() if v is not None})
        mlflow.log_metrics({f"{stage}.{k}": v for k, v in metrics.items()})
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path=stage)
    return True
