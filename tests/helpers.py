"""Helpers for tests: configs for small cities, the trained city, copies of built worlds."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from training.config import PipelineConfig

if TYPE_CHECKING:
    import pyarrow as pa

    from training.model.train import TrainResult

SEED = 1234


def make_config(persons: int = 3000, seed: int = SEED, **generate: object) -> PipelineConfig:
    """A pipeline config for a small city; keyword arguments override ``generate`` keys."""
    return PipelineConfig.model_validate(
        {"seed": seed, "generate": {"persons": persons, **generate}}
    )


def copy_tree(source: Path, target: Path) -> Path:
    """Copy a built world to ``target``, with the paths its SQLite stores hold moved too.

    An MLflow SQLite store records absolute artifact locations (experiments, runs, model
    versions): a plain copy would still write its artifacts into ``source``. Each ``*.db``
    under ``target`` has every text value naming ``source/`` rewritten to ``target/``, so a
    test may change its copy and leave the world it came from as it was.
    """
    shutil.copytree(source, target)
    for store in target.rglob("*.db"):
        _move_paths(store, f"{source}/", f"{target}/")
    forget_artifact_locations()
    return target


def forget_artifact_locations() -> None:
    """Empty MLflow's process-wide cache of where each run's artifacts are.

    MLflow caches a run's artifact location by run ID alone, whatever the store: after a copy
    the same run ID is in two stores, and without this the copy's client would read and write
    the artifacts of whichever store was asked first. (Not imported when MLflow is not.)
    """
    utils = sys.modules.get("mlflow.tracking._tracking_service.utils")
    if utils is not None:
        utils._artifact_repos_cache.clear()


def _move_paths(store: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in every text value of every table of a SQLite file."""
    with closing(sqlite3.connect(store)) as con, con:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in [row[1] for row in con.execute(f'PRAGMA table_info("{table}")')]:
                con.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    (old, new, old),
                )


@dataclass(frozen=True)
class TrainedCity:
    """A generated, linked and featured city, and a model trained on it: shared, read only.

    ``data`` holds the city (features included); ``store`` an MLflow SQLite store
    (``mlflow.db`` and the artifacts) where vru-risk version ``result.version`` is registered
    @candidate. Tests only read them: a test that tags, promotes, releases or trains works on
    its own :meth:`copy_store`.
    """

    data: Path
    store: Path
    pipeline: PipelineConfig
    result: TrainResult

    @property
    def tracking_uri(self) -> str:
        return sqlite_uri(self.store)

    def copy_store(self, target: Path) -> str:
        """Copy the store, trained model included, to ``target`` (new); the copy's URI."""
        copy_tree(self.store, target)
        return sqlite_uri(target)


def sqlite_uri(store: Path) -> str:
    """The tracking URI of the MLflow SQLite store in directory ``store``."""
    return f"sqlite:///{store / 'mlflow.db'}"


def assert_same_feature_tables(a: pa.Table, b: pa.Table) -> None:
    """Two engines' feature tables are the same: columns, types, rows and every value.

    Floats to 1e-9 (engines add in other orders); everything else exactly, missing where missing.
    """
    import numpy as np

    assert a.schema.names == b.schema.names
    assert [f.type for f in a.schema] == [f.type for f in b.schema]
    assert a.num_rows == b.num_rows > 500
    keys = ["person_key", "as_of_date"]
    fa = a.to_pandas().sort_values(keys, ignore_index=True)
    fb = b.to_pandas().sort_values(keys, ignore_index=True)
    for column in fa.columns:
        x, y = fa[column], fb[column]
        assert (x.isna() == y.isna()).all(), column
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x.dropna(), y.dropna(), rtol=0, atol=1e-9, err_msg=column)
        else:
            assert (x[x.notna()] == y[y.notna()]).all(), column
