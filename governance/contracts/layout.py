"""Where each stage reads and writes inside the data directory (``--data DIR``).

One place for the paths that the stages hand to each other (see DESIGN.md, "Contracts").
Ground truth paths are deliberately *not* here: only ``training.evaluation`` knows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SOURCES", "DataLayout"]

SOURCES: tuple[str, ...] = ("health", "education", "social_care", "police")


@dataclass(frozen=True)
class DataLayout:
    """The files of one data directory."""

    root: Path

    @property
    def geography(self) -> Path:
        """One row per LSOA with its ward, borough and BCU."""
        return self.root / "geography.parquet"

    @property
    def extracts_dir(self) -> Path:
        """The agencies' extracts."""
        return self.root / "extracts"

    def extract(self, source: str) -> Path:
        """One agency's extract."""
        return self.extracts_dir / f"{source}.parquet"

    @property
    def manifest(self) -> Path:
        """The generation manifest: seed, config hash, row counts, schema versions."""
        return self.root / "manifest.json"

    @property
    def linked_dir(self) -> Path:
        """The person spine and its linkage report."""
        return self.root / "linked"

    @property
    def features_dir(self) -> Path:
        """Feature tables and their manifest."""
        return self.root / "features"
