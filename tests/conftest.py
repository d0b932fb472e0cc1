"""Shared fixtures: small synthetic cities built in code, seeded, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_config
from training.generate import GenerateResult, generate_city


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    """A 3,000-person city with default settings."""
    return generate_city(make_config(), tmp_path_factory.mktemp("city"))


@pytest.fixture(scope="session")
def small_city_dir(small_city: GenerateResult) -> Path:
    return small_city.data_dir
