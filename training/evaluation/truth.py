"""Read the generator's ground truth (true identities, latent factors, true outcomes).

Pipeline stages never call this: linkage, features and training see only the extracts. Only
evaluation (linkage quality, audits of recording bias, benchmarks) does, and a test checks that
no other module of ``training``, ``governance``, ``serving`` or ``vru`` names the directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd

from governance.contracts.errors import VruError

__all__ = ["TRUTH_TABLES", "TruthMissingError", "read_truth", "truth_available", "truth_path"]

TRUTH_DIR = "truth"
TruthTable = Literal["record_person", "persons", "violence", "areas"]
TRUTH_TABLES: tuple[TruthTable, ...] = ("record_person", "persons", "violence", "areas")


class TruthMissingError(VruError, FileNotFoundError):
    """There is no ground truth here (real extracts, or truth deleted)."""


def truth_available(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds the generator's ground truth."""
    return (Path(data_dir) / TRUTH_DIR / "record_person.parquet").is_file()


def truth_path(data_dir: Path, table: TruthTable) -> Path:
    """Where one ground-truth table of a generated data directory is (for DuckDB to read)."""
    path = Path(data_dir) / TRUTH_DIR / f"{table}.parquet"
    if not path.is_file():
        raise TruthMissingError(f"{path}: no ground truth '{table}' (only generated data has it)")
    return path


def read_truth(data_dir: Path, table: TruthTable, columns: list[str] | None = None) -> pd.DataFrame:
    """One ground-truth table of a generated data directory."""
    path = Path(data_dir) / TRUTH_DIR / f"{table}.parquet"
    if not path.is_file():
        raise TruthMissingError(f"{path}: no ground truth '{table}' (only generated data has it)")
    return pd.read_parquet(path, columns=columns)
