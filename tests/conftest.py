"""Shared fixtures: small synthetic cities built in code, seeded, once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_config
from training.generate import GenerateResult, run_generate


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    """A 3,000-person city with default settings."""
    return run_generate(make_config(), tmp_path_factory.mktemp("city"))


@pytest.fixture(scope="session")
def small_city_dir(small_city: GenerateResult) -> Path:
    return small_city.data_dir


@pytest.fixture(autouse=True)
def _mlflow_environment_restored() -> Iterator[None]:
    """MLflow keeps state in MLFLOW_* variables (set_experiment sets one): undo it per test."""
    before = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    yield
    for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
        if key not in before:
            del os.environ[key]
    os.environ.update(before)
