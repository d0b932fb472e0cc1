"""Helpers for tests: configs for small cities."""

from __future__ import annotations

from training.config import PipelineConfig

SEED = 1234


def make_config(persons: int = 3000, seed: int = SEED, **generate: object) -> PipelineConfig:
    """A pipeline config for a small city; keyword arguments override ``generate`` keys."""
    return PipelineConfig.model_validate(
        {"seed": seed, "generate": {"persons": persons, **generate}}
    )
