"""Write stage outputs safely: stage in a temporary directory, then move into place.

A failed or interrupted run leaves the data directory as it was; a manifest is moved last.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["ParquetSink", "file_sha256", "staged_directory", "write_json_atomic"]


class ParquetSink:
    """Parquet files written chunk by chunk, keyed by their path relative to a root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def write(self, relative: str, table: pa.Table) -> None:
        """Append ``table`` to the file at ``relative`` (created on first write)."""
        if relative not in self._writers:
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writers[relative] = pq.ParquetWriter(path, table.schema, compression="zstd")
            self.rows[relative] = 0
        self._writers[relative].write_table(table, row_group_size=1_000_000)
        self.rows[relative] += table.num_rows

    def close(self) -> None:
        """Finish every file."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """A temporary directory beside ``target`` whose top-level entries replace ``target``'s.

    Entries of ``target`` that the stage does not produce are left alone.
    """
    target.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=target))
    try:
        yield stage
        for entry in sorted(stage.iterdir(), key=lambda p: p.name == "manifest.json"):
            dest = target / entry.name
            if dest.is_dir() and not dest.is_symlink():
                old = dest.with_name(f".old-{dest.name}")
                dest.rename(old)
                entry.rename(dest)
                shutil.rmtree(old)
            else:
                entry.replace(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
