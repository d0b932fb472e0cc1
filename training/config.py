"""The pipeline configuration (``configs/pipeline.yaml``): the data directory, the seed, each stage.

Each stage's section is defined beside its stage (``training/<stage>/config.py``); this model
only puts them together. Defaults live in those models; the YAML holds overrides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from training.features.config import FeaturesConfig
from training.generate.config import GenerateConfig
from training.linkage.config import LinkConfig
from training.spark_config import SparkConfig

__all__ = ["PipelineConfig"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineConfig(_Section):
    """``configs/pipeline.yaml``: the data directory, the seed and each stage's settings."""

    config_version: Literal[1] = 1
    data_dir: Path = Path("data")
    seed: int = Field(20180919, ge=0, description="Every random step derives its seed from this.")
    generate: GenerateConfig = GenerateConfig()
    link: LinkConfig = LinkConfig()
    features: FeaturesConfig = FeaturesConfig()
    spark: SparkConfig = SparkConfig()
