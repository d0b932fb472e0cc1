"""Helpers for tests: configs for small cities, and copies of built worlds a test may change."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from training.config import PipelineConfig

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
    return target


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
