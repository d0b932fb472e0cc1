"""Where a stage's MLflow run goes, and what it records when it fails.

:func:`log_to_active_run` logs a data stage to the run ``mlflow run .`` started, if any:
outside MLflow nothing is logged, so the CLI works the same with or without a tracking
server. Only run-level facts are logged: parameters, counts, hashes and manifests, never rows.

:func:`stage_run` opens a stage's own run (training's) in the configured experiment, also
under ``mlflow run``, which creates its run in the experiment of ``--experiment-name`` or
``MLFLOW_EXPERIMENT_NAME``, or else in Default (an MLproject cannot choose it).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from governance.contracts.errors import VruError

__all__ = [
    "ERROR_TAG",
    "EXPERIMENT_KIND_TAG",
    "MODEL_TRAINING_KIND",
    "NOTE_TAG",
    "describe_error",
    "log_to_active_run",
    "stage_run",
]

#: the experiment tag the MLflow UI (3.x) reads to choose its view, and its model-training value
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
#: the run's and the version's description in the MLflow UI
NOTE_TAG = "mlflow.note.content"
#: on a failed run: the error's type and (for the project's own errors) its message
ERROR_TAG = "error"
#: on the run ``mlflow run`` launched, when the stage's run went to another experiment
HANDED_TO_TAG = "vru.stage_run"
#: launch tags of ``mlflow run`` (project, entry point, source commit) copied to the stage's run
_LAUNCH_TAG_PREFIXES = ("mlflow.source.", "mlflow.project.")
_TAG_LIMIT = 5000
_HANDED_NOTE = (
    "This `mlflow run` launched run {run_id} in experiment '{experiment}' (the configured "
    "one), where the stage is recorded."
)


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


@contextmanager
def stage_run(experiment: str, run_name: str) -> Iterator[str]:
    """Run a stage inside its own MLflow run in ``experiment``; yield the run's ID.

    Under ``mlflow run`` (``MLFLOW_RUN_ID`` set) the launched run is used when it is in
    ``experiment``. Otherwise a new run is started there with the launch's ``mlflow.source.*``
    and ``mlflow.project.*`` tags, and the launched run is renamed and given a note pointing
    to it. MLflow forces the launched run's experiment (``--experiment-name``,
    ``MLFLOW_EXPERIMENT_NAME``, else Default) and fails at the end if that run was deleted,
    so it stays: launching with ``MLFLOW_EXPERIMENT_NAME`` set to ``experiment`` leaves
    nothing elsewhere. The experiment is tagged for the UI's model-training view.
    An exception in the body ends the run FAILED with an ``error`` tag, then propagates.
    """
    import mlflow

    client = mlflow.MlflowClient()
    launched_id = os.environ.pop("MLFLOW_RUN_ID", None)  # start_run would resume it
    found = mlflow.set_experiment(experiment)
    if EXPERIMENT_KIND_TAG not in found.tags:  # a kind someone chose in the UI is kept
        client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
    launched = client.get_run(launched_id) if launched_id else None
    resume = launched is not None and launched.info.experiment_id == found.experiment_id
    run = mlflow.start_run(
        run_id=launched_id if resume else None,
        experiment_id=found.experiment_id,
        run_name=run_name,
    )
    if launched is not None and not resume:
        mlflow.set_tags(
            {k: v for k, v in launched.data.tags.items() if k.startswith(_LAUNCH_TAG_PREFIXES)}
        )
        _hand_over(client, launched.info.run_id, run.info.run_id, run_name, experiment)
    with run:
        try:
            yield run.info.run_id
        except BaseException as error:
            mlflow.set_tag(ERROR_TAG, describe_error(error))
            raise


def describe_error(error: BaseException) -> str:
    """The error for the run's ``error`` tag: its type, and its message if it is the project's.

    The project's own errors (:class:`VruError`) never quote individual-level data; another
    library's message might (a value that failed to parse), so only its type and where it
    was raised are recorded.
    """
    kind = type(error).__name__
    if isinstance(error, VruError):
        return f"{kind}: {error}"[:_TAG_LIMIT]
    frames = traceback.extract_tb(error.__traceback__)
    where = f"; raised at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{kind} (message not recorded: it may quote data values; see the log){where}"


def _hand_over(client: Any, launched_id: str, run_id: str, run_name: str, experiment: str) -> None:
    """Rename the run ``mlflow run`` launched and point it at the stage's run.

    It is not ended nor deleted: ``mlflow run`` sets its status when the command exits, and
    fails if it was deleted.
    """
    client.update_run(launched_id, name=f"launched {run_name} in {experiment}")
    client.set_tag(launched_id, HANDED_TO_TAG, run_id)
    client.set_tag(launched_id, NOTE_TAG, _HANDED_NOTE.format(run_id=run_id, experiment=experiment))
