"""The engines a stage may run on, and Spark's settings (``spark:`` in ``configs/pipeline.yaml``).

Configuration only: the stages' config models import these without importing the engine
(:mod:`training.spark` starts sessions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ENGINES", "Engine", "SparkConfig"]

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[Engine, ...] = ("duckdb", "spark")


class SparkConfig(BaseModel):
    """Where and how Spark runs when a stage's ``engine`` is ``spark``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    master: str = Field(
        "local[*]", min_length=1, description="local[N], spark://host:port, yarn or k8s://..."
    )
    app_name: str = Field("vru-risk", min_length=1)
    driver_memory: str = Field(
        "4g",
        pattern=r"^[1-9][0-9]*[kmgt]$",
        description="JVM heap of the driver (in local mode, of everything), e.g. '4g'.",
    )
    shuffle_partitions: int = Field(
        8,
        ge=1,
        description="spark.sql.shuffle.partitions: small for local mode, ~2-3x the cores on a cluster.",
    )
    checkpoint_dir: Path | None = Field(
        None,
        description="Where Splink writes its intermediate tables as Parquet (on a cluster: "
        "shared storage); a temporary directory on this machine when empty.",
    )
    conf: dict[str, str] = Field(
        default_factory=dict, description="Further Spark settings, e.g. spark.executor.memory."
    )
