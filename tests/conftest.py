"""Shared fixtures: small synthetic cities built in code, seeded, once per session."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import (
    SEED,
    TrainedCity,
    forget_artifact_locations,
    make_config,
    sqlite_uri,
)
from training.generate.run import GenerateResult, run_generate

#: the trained city: big enough for the release's areas, the audit's groups and a test
#: ROC AUC well above chance; small enough to generate, link and train in about half a minute
TRAINED_PERSONS = 9_000
TRAINED_ROUNDS = 120


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    """A 3,000-person city with default settings."""
    return run_generate(make_config(), tmp_path_factory.mktemp("city"))


@pytest.fixture(scope="session")
def small_city_dir(small_city: GenerateResult) -> Path:
    return small_city.data_dir


@pytest.fixture(scope="session")
def trained_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedCity]:
    """One city generated, linked, featured and trained on, for every module that needs one.

    Checked after the session: a test that wrote to it fails there, by name of the fixture.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    from training.config import PipelineConfig
    from training.features.build import run_features
    from training.linkage.stage import run_link
    from training.model.config import ModelConfig
    from training.model.train import run_train

    root = tmp_path_factory.mktemp("trained-city")
    data = run_generate(make_config(persons=TRAINED_PERSONS), root / "data").data_dir
    pipeline = PipelineConfig.model_validate(
        {"seed": SEED, "link": {"u_max_pairs": 2e5, "em_max_pairs": 2e5}}
    )
    run_link(pipeline, data)
    run_features(pipeline.features, data)
    store = root / "store"
    store.mkdir()
    uri = sqlite_uri(store)
    model = ModelConfig(lightgbm={"max_rounds": TRAINED_ROUNDS})
    # the artifacts go to ./mlruns: in the store's directory, so that a copy of it is whole
    with _mlflow_environment_kept(), _use_tracking_uri(uri), pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(store)
        result = run_train(pipeline, model, data)
    before = _fingerprint(root)
    yield TrainedCity(data, store, pipeline, result)
    after = _fingerprint(root)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, f"tests changed the shared trained city in {root}: {changed}"


#: written by MLflow itself beside a local model it loads by ``models:/`` URI (name, version)
_MLFLOW_LOAD_NOTE = "registered_model_meta"


def _fingerprint(directory: Path) -> dict[str, str]:
    """The hash of every file under ``directory``, by relative path."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in directory.rglob("*")
        if path.is_file() and path.name != _MLFLOW_LOAD_NOTE
    }


@contextmanager
def _mlflow_environment_kept() -> Iterator[None]:
    """MLflow keeps state in MLFLOW_* variables (set_experiment sets one): undo it on exit."""
    before = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
            if key not in before:
                del os.environ[key]
        os.environ.update(before)


@pytest.fixture(autouse=True)
def _mlflow_environment_restored() -> Iterator[None]:
    """Undo each test's MLFLOW_* variables; forget MLflow's artifact locations around it.

    Copied stores share run IDs: see ``tests.helpers.forget_artifact_locations``.
    """
    forget_artifact_locations()
    with _mlflow_environment_kept():
        yield
    forget_artifact_locations()
