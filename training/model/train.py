"""Train, calibrate, evaluate and track one model version in MLflow."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from governance.audit.cohort_drift import TRAINING_REFERENCE, training_reference
from governance.contracts.audit_document import OriginEvaluation
from governance.contracts.config import config_hash
from governance.contracts.errors import ConfigError, ExtractError
from governance.contracts.layout import DataLayout
from training.config import PipelineConfig
from training.model.candidate import CHAMPION, WORSE_TAG, Shortfall, shortfalls
from training.model.config import ModelConfig
from training.model.data import Matrix, model_inputs, split_rows
from training.model.estimators import CalibratedModel, Calibrator, fit_baseline, fit_lightgbm
from training.model.metrics import evaluate
from training.model.plots import draw_run_figures
from training.model.refit import RefitRecord, refit_model
from training.model.rolling import ROLLING_ARTIFACT, rolling_origins
from training.model.run_record import config_digest, git_state, run_name, run_note
from training.tracking import NOTE_TAG, stage_run

if TYPE_CHECKING:
    from mlflow.data.meta_dataset import MetaDataset

# MLflow is imported, and its tracking store opened, on a thread while the data load and the
# models fit: together they take seconds that would otherwise come before any work starts

__all__ = ["CANDIDATE", "TrainResult", "run_train"]

logger = logging.getLogger("vru.train")
CANDIDATE = "candidate"
_NO_FEATURES = "{path}: no features; run `vru features --data {data}` first"
_STALE_FEATURES = (
    "{path}: the features were built with another features config than this one (policy, "
    "windows, dates or label differ); run `vru features` again"
)


@dataclass(frozen=True)
class TrainResult:
    """The run, the registered version and the headline metrics."""

    run_id: str
    model_name: str
    version: str
    metrics: dict[str, float]
    splits: dict[str, Any]
    inputs: list[str]
    model_uri: str
    shortfalls: tuple[Shortfall, ...] = field(default=())
    #: how the served model was refit on all labelled data (None: the evaluated one is served)
    refit: RefitRecord | None = None


def run_train(pipeline: PipelineConfig, config: ModelConfig, data_dir: Path) -> TrainResult:
    """Fit LightGBM and the baseline on the training split, calibrate, evaluate, register."""
    features_dir = DataLayout(data_dir).features_dir
    if not (features_dir / "manifest.json").is_file():
        raise ExtractError(_NO_FEATURES.format(path=features_dir, data=data_dir))
    manifest = json.loads((features_dir / "manifest.json").read_text())
    if manifest.get("config_hash") != config_hash(pipeline.features):  # refused before MLflow
        raise ConfigError(_STALE_FEATURES.format(path=features_dir / "manifest.json"))
    tracking = _Tracking()
    features = pd.read_parquet(features_dir / "features.parquet")
    inputs = model_inputs(config, manifest, list(features.columns))
    rows = split_rows(config, manifest, features)
    data = {
        name: Matrix(frame[inputs].astype(float), frame["label"].to_numpy(dtype=int), frame)
        for name, frame in rows.items()
    }

    fitted: _Fitted | None = None
    failed: Exception | None = None
    try:  # fitted while MLflow opens; a failure is recorded on the run below
        fitted = None if config.tune.trials else _fit(pipeline, config, data, inputs, {})
    except Exception as error:
        failed = error
    # the configured model at each rolling origin (trained before it, tested on it)
    rolling = (
        []
        if failed is not None
        else rolling_origins(config, manifest, features, inputs, pipeline.seed)
    )
    # the served model: refit on every labelled date (after tuning, when tuning)
    refit = (
        refit_model(config, manifest, features, inputs, pipeline.seed)
        if failed is None and config.refit.enabled and not config.tune.trials
        else None
    )
    tracking.ready()
    digest = config_digest(config_hash(config), manifest["config_hash"])
    with stage_run(config.experiment, run_name("train", config.splits.test, digest)) as run_id:
        if failed is not None:
            raise failed
        result = _fit_and_log(
            pipeline, config, data_dir, manifest, (features, data), inputs, run_id, fitted, refit
        )
        _log_rolling(rolling)
        result = _register(config, result)
    logger.info(
        "trained %s version %s: test ROC AUC %.3f (logistic-regression baseline %.3f)",
        result.model_name,
        result.version,
        result.metrics["test_roc_auc"],
        result.metrics["baseline_test_roc_auc"],
    )
    return result


class _Tracking:
    """MLflow, imported and its store opened on a thread; :meth:`ready` waits for it."""

    def __init__(self) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._open, name="mlflow-start", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            import mlflow

            mlflow.MlflowClient().search_registered_models(max_results=1)
        except BaseException as err:  # re-raised on the main thread by ready()
            self._error = err

    def ready(self) -> Any:
        """The ``mlflow`` module, once the store is open; the thread's error if it failed."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        import mlflow

        return mlflow


@dataclass(frozen=True)
class _Served:
    """The evaluated model, and the refit that is served in its place (None: no refit)."""

    evaluated: CalibratedModel
    refit: tuple[CalibratedModel, RefitRecord] | None

    @property
    def model(self) -> CalibratedModel:
        """The model a release scores with."""
        return self.evaluated if self.refit is None else self.refit[0]


@dataclass
class _Fitted:
    """Both models, fitted and calibrated, with their metrics and test predictions."""

    booster: Any
    models: dict[str, CalibratedModel]
    metrics: dict[str, float]
    predictions: dict[str, dict[str, np.ndarray]]
    timings: dict[str, float]


def _fit_and_log(
    pipeline: PipelineConfig,
    config: ModelConfig,
    data_dir: Path,
    manifest: dict[str, Any],
    tables: tuple[pd.DataFrame, dict[str, Matrix]],
    inputs: list[str],
    run_id: str,
    fitted: _Fitted | None,
    refit: tuple[CalibratedModel, RefitRecord] | None,
) -> TrainResult:
    """Fit both models (unless done), evaluate them, refit, and log everything to the run."""
    features, data = tables
    if fitted is None:  # tuning logs nested runs, so it needs the run first
        from training.model.tune import tune_lightgbm

        clock = time.perf_counter()
        params = tune_lightgbm(
            config.lightgbm, config.tune, pipeline.seed, data["train"], data["validation"]
        )
        tuned = time.perf_counter() - clock
        config = config.model_copy(update={"lightgbm": params})
        fitted = _fit(pipeline, config, data, inputs, {})
        fitted.timings["tuning_s"] = tuned
        if config.refit.enabled:
            refit = refit_model(config, manifest, features, inputs, pipeline.seed)
    split_info = {
        "train": [str(d) for d in config.splits.train],
        "validation": str(config.splits.validation),
        "test": str(config.splits.test),
        "rows": {k: len(v.frame) for k, v in data.items()},
        "positives": {k: int(v.y.sum()) for k, v in data.items()},
    }
    booster = fitted.booster
    importance = dict(zip(inputs, booster.feature_importance("gain").tolist(), strict=True))
    features_path = DataLayout(data_dir).features_dir / "features.parquet"
    info = _log_run(
        pipeline,
        config,
        manifest,
        data,
        _Served(fitted.models["lightgbm"], refit),
        fitted.metrics,
        fitted.predictions,
        importance,
        split_info,
        fitted.timings,
        features_path,
    )
    return TrainResult(
        run_id,
        config.registered_model_name,
        "",
        fitted.metrics,
        split_info,
        inputs,
        info.model_uri,
        refit=refit[1] if refit is not None else None,
    )


def _fit(
    pipeline: PipelineConfig,
    config: ModelConfig,
    data: dict[str, Matrix],
    inputs: list[str],
    timings: dict[str, float],
) -> _Fitted:
    """Fit LightGBM and the baseline, calibrate both on validation, and evaluate them."""
    seed = pipeline.seed
    params = config.lightgbm
    clock = time.perf_counter()
    booster = fit_lightgbm(
        params,
        seed,
        data["train"].x,
        data["train"].y,
        data["validation"].x,
        data["validation"].y,
    )
    timings["lightgbm_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    baseline = fit_baseline(config.baseline, seed, data["train"].x, data["train"].y)
    timings["baseline_s"] = time.perf_counter() - clock

    models = {}
    raw: dict[tuple[str, str], np.ndarray] = {}  # each model scores each split once
    for name, scorer in (("lightgbm", booster), ("baseline", baseline)):
        model = CalibratedModel(scorer, Calibrator(config.calibration), inputs)
        for split in ("validation", "test"):
            raw[name, split] = model.raw(data[split].x)
        model.calibrator.fit(raw[name, "validation"], data["validation"].y)
        models[name] = model
    metrics: dict[str, float] = {}
    predictions: dict[str, dict[str, np.ndarray]] = {"validation": {}, "test": {}}
    for name, model in models.items():
        for split in ("validation", "test"):
            p = model.calibrator.transform(raw[name, split])
            predictions[split][name] = p
            for metric, value in evaluate(data[split].y, p, config.top_k_percent).items():
                metrics[
                    f"{split}_{metric}" if name == "lightgbm" else f"baseline_{split}_{metric}"
                ] = value
    metrics["best_iteration"] = float(booster.best_iteration)
    return _Fitted(booster, models, metrics, predictions, timings)


def _log_run(
    pipeline: PipelineConfig,
    config: ModelConfig,
    manifest: dict[str, Any],
    data: dict[str, Matrix],
    served: _Served,
    metrics: dict[str, float],
    predictions: dict[str, dict[str, np.ndarray]],
    importance: dict[str, float],
    split_info: dict[str, Any],
    timings: dict[str, float],
    features_path: Path,
) -> Any:
    """Log config, data, metrics, figures, definitions and the model to the active run."""
    import mlflow
    from mlflow.models import infer_signature

    from training.model.pyfunc import EVALUATED, REFIT_RECORD, SERVED, RiskModel

    model = served.model
    git = _log_identity(pipeline, config, manifest)
    for split, matrix in data.items():
        mlflow.log_input(_dataset(matrix, split, features_path, manifest["sha256"]), context=split)
    mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
    mlflow.set_tag("served_model", "evaluated" if served.refit is None else "refit")
    if served.refit is not None:
        record = served.refit[1]
        mlflow.log_metrics(
            {
                "refit_best_iteration": float(record.best_iteration),
                **{f"refit_{role}_rows": float(n) for role, n in record.rows.items()},
            }
        )
    mlflow.log_dict(split_info, "splits.json")
    # the training data's bins (aggregates only), for later audits' drift to the scored cohort
    mlflow.log_dict(
        training_reference(
            data["train"].x[model.columns],
            predictions["validation"]["lightgbm"],
            train_dates=split_info["train"],
            validation_date=split_info["validation"],
        ),
        TRAINING_REFERENCE,
    )
    note = run_note(
        features_sha256=manifest["sha256"],
        splits=split_info,
        model_config_hash=config_hash(config),
        features_config_hash=manifest["config_hash"],
        git_commit=git["git_commit"],
        git_dirty=git["git_dirty"],
    )
    mlflow.set_tag(NOTE_TAG, note)
    mlflow.log_dict(
        {"features": manifest["features"], "inputs": model.columns}, "features/definitions.json"
    )
    with tempfile.TemporaryDirectory() as tmp:
        figures = draw_run_figures(
            Path(tmp) / "figures", data["test"].y, predictions["test"], importance
        )
        for path in figures:
            mlflow.log_artifact(str(path), artifact_path="figures")
        artifacts = {SERVED: Path(tmp) / "calibrated_model.pkl"}
        artifacts[SERVED].write_bytes(pickle.dumps(model))
        if served.refit is not None:  # the audit judges the evaluated one out of time
            artifacts[EVALUATED] = Path(tmp) / "evaluated_model.pkl"
            artifacts[EVALUATED].write_bytes(pickle.dumps(served.evaluated))
            artifacts[REFIT_RECORD] = Path(tmp) / "refit.json"
            artifacts[REFIT_RECORD].write_text(json.dumps(served.refit[1].to_json(), indent=1))
        # an input example made of column medians: no one person's row is stored with the model;
        # its types are the features table's (integers stay integers), so that the table as
        # `vru features` writes it is what the signature accepts
        example = _example(data["train"].frame[model.columns])
        clock = time.perf_counter()
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=RiskModel(),
            artifacts={name: str(path) for name, path in artifacts.items()},
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            code_paths=[str(Path(__file__).resolve().parents[1])],
            pip_requirements=_requirements(),
        )
        timings["log_model_s"] = time.perf_counter() - clock
    mlflow.log_dict({k: round(v, 3) for k, v in timings.items()}, "timings.json")
    return info


def _log_rolling(results: list[OriginEvaluation]) -> None:
    """Each origin's figures as an artifact, and its ROC AUC and O/E as metrics."""
    if not results:
        return
    import mlflow

    mlflow.log_dict({"origins": [r.model_dump() for r in results]}, ROLLING_ARTIFACT)
    metrics = {}
    for r in results:
        for name in ("roc_auc", "observed_expected"):
            value = getattr(r, name)
            if value is not None and np.isfinite(value):
                metrics[f"rolling_{r.origin}_{name}"] = float(value)
    mlflow.log_metrics(metrics)


def _log_identity(
    pipeline: PipelineConfig, config: ModelConfig, manifest: dict[str, Any]
) -> dict[str, str]:
    """Log the configs as parameters and what the run was made from as tags; the git tags."""
    import mlflow

    mlflow.log_params(
        _flat(
            {
                "model": config.model_dump(mode="json"),
                "features": pipeline.features.model_dump(mode="json"),
                "seed": pipeline.seed,
            }
        )
    )
    git = {"git_commit": _git_commit(), **git_state(Path(__file__).parent)}
    mlflow.set_tags(
        {
            **git,
            "features_sha256": manifest["sha256"],
            "spine_sha256": manifest["inputs"]["spine_sha256"],
            "model_config_hash": config_hash(config),
            "features_config_hash": manifest["config_hash"],
            "protected_inputs_allowed": ", ".join(pipeline.features.allow_protected) or "none",
            "stage": "train",
        }
    )
    return git


def _example(frame: pd.DataFrame) -> pd.DataFrame:
    """One row of column medians, each in its column's type as the features table holds it."""
    medians = frame.median(numeric_only=False).to_frame().T
    dtypes = frame.dtypes.to_dict()
    return medians.round({c: 0 for c, t in dtypes.items() if t.kind in "iub"}).astype(dtypes)


def _dataset(matrix: Matrix, split: str, features_path: Path, features_sha256: str) -> MetaDataset:
    """The split as an MLflow dataset: where it is, its digest and schema, not its rows.

    MLflow's pandas dataset infers a schema element by element (minutes at a million rows);
    the schema is the same from a sample, and the digest comes from the file's SHA-256.
    """
    from mlflow.data.dataset_source_registry import get_registered_sources
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.models import infer_signature

    local = next(s for s in get_registered_sources() if s.__name__ == "LocalArtifactDatasetSource")
    digest = hashlib.sha256(f"{features_sha256}:{split}:{len(matrix.x)}".encode()).hexdigest()[:16]
    sample = matrix.x.head(1000).assign(label=matrix.y[:1000].astype(float))
    source = local(features_path.resolve().as_uri())
    return MetaDataset(
        source, name=f"features-{split}", digest=digest, schema=infer_signature(sample).inputs
    )


def _register(config: ModelConfig, result: TrainResult) -> TrainResult:
    """Register the logged model as a new version, describe and tag it, point ``candidate`` at it.

    Before the alias moves, the new version is compared on the headline figures with the
    current ``candidate`` and ``champion``: each shortfall is logged as a warning, tagged
    (``candidate_worse_than``) and returned for the CLI to show; the alias moves regardless
    (see :mod:`training.model.candidate`).
    """
    import mlflow

    client = mlflow.MlflowClient()
    name = config.registered_model_name
    version = mlflow.register_model(result.model_uri, name)
    client.update_registered_model(name, description=config.description)
    run = client.get_run(result.run_id)
    client.update_model_version(
        name, version.version, description=_version_description(run, result.metrics)
    )
    worse = shortfalls(client, name, (CANDIDATE, CHAMPION), config.headline, result.metrics)
    m = result.metrics
    tags = {
        "git_commit": run.data.tags.get("git_commit", "unknown"),
        "git_dirty": run.data.tags.get("git_dirty", "unknown"),
        "features_sha256": run.data.tags.get("features_sha256", ""),
        "test_roc_auc": f"{m['test_roc_auc']:.4f}",
        "test_pr_auc": f"{m['test_pr_auc']:.4f}",
        "test_ece": f"{m['test_ece']:.4f}",
        "baseline_test_roc_auc": f"{m['baseline_test_roc_auc']:.4f}",
        "run_id": result.run_id,
        "served_model": run.data.tags.get("served_model", "evaluated"),
    }
    if worse:
        tags[WORSE_TAG] = ",".join(dict.fromkeys(s.version for s in worse))
        for shortfall in worse:
            logger.warning("new version %s is worse: %s", version.version, shortfall.describe())
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key, value)
    client.set_registered_model_alias(name, CANDIDATE, version.version)
    return replace(result, version=str(version.version), shortfalls=tuple(worse))


def _version_description(run: Any, metrics: dict[str, float]) -> str:
    """The version's description: the run that made it, its note, its headline figures."""
    note = run.data.tags.get(NOTE_TAG, "")
    served = (
        " Serves the same configuration refit on every labelled as-of date (audited on "
        "persons held out of it); the test figures are the evaluated model's."
        if run.data.tags.get("served_model") == "refit"
        else ""
    )
    return (
        f"Trained by run '{run.info.run_name}' ({run.info.run_id}). {note} "
        f"Test ROC AUC {metrics['test_roc_auc']:.4f}, ECE {metrics['test_ece']:.4f} "
        f"(logistic-regression baseline ROC AUC {metrics['baseline_test_roc_auc']:.4f}).{served}"
    )


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = json.dumps(value, default=str)[:500]
    return out


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [
        f"{p}=={version(p)}"
        for p in ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow")
    ]
