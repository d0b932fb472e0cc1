"""Where each borough sits on the tile map: London's grid from data, or a computed one.

The London grid is data (``london_tiles.yaml``: borough code to ``[row, column]`` or
``[row, column, short label]``), so an operator can replace it (``pages.borough_grid``)
without touching code. A city whose borough
codes the grid does not hold entirely (a generated city with other codes) gets a computed
grid instead: boroughs in name order, row by row, in a near-square block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from governance.contracts.errors import ConfigError

__all__ = ["Grid", "grid_positions", "load_grid"]

_BAD_GRID = (
    "{source}: expected a mapping of borough code to [row, column] or [row, column, label] "
    "(row and column 0 or more), {problem}"
)


@dataclass(frozen=True)
class Grid:
    """Tile positions by borough code, and the short labels the grid gives some boroughs."""

    places: dict[str, tuple[int, int]]
    labels: dict[str, str]

    def __contains__(self, code: object) -> bool:
        return code in self.places


def load_grid(path: Path | None = None) -> Grid:
    """The borough grid in ``path`` (default: London's, shipped with the package).

    Raises
    ------
    ConfigError
        If the file is not a mapping of code to two non-negative integers, or two boroughs
        share a tile.
    """
    if path is None:
        source = "serving/pages/london_tiles.yaml"
        text = resources.files("serving.pages").joinpath("london_tiles.yaml").read_text("utf-8")
    else:
        source, text = str(path), Path(path).read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise ConfigError(_BAD_GRID.format(source=source, problem="got no mapping"))
    places: dict[str, tuple[int, int]] = {}
    labels: dict[str, str] = {}
    for code, place in raw.items():
        if (
            not isinstance(place, list)
            or len(place) not in (2, 3)
            or not all(isinstance(v, int) and v >= 0 for v in place[:2])
            or (len(place) == 3 and not (isinstance(place[2], str) and place[2].strip()))
        ):
            raise ConfigError(_BAD_GRID.format(source=source, problem=f"got {code}: {place!r}"))
        places[str(code)] = (place[0], place[1])
        if len(place) == 3:
            labels[str(code)] = place[2].strip()
    if len(set(places.values())) != len(places):
        raise ConfigError(_BAD_GRID.format(source=source, problem="two boroughs share a tile"))
    return Grid(places, labels)


def grid_positions(boroughs: Sequence[tuple[str, str]], grid: Grid) -> dict[str, tuple[int, int]]:
    """``(row, column)`` of each ``(code, name)``: from ``grid`` if it holds every code."""
    if boroughs and all(code in grid for code, _ in boroughs):
        return {code: grid.places[code] for code, _ in boroughs}
    ordered = sorted(boroughs, key=lambda b: (b[1], b[0]))
    cols = max(1, math.ceil(math.sqrt(len(ordered))))
    return {code: divmod(i, cols) for i, (code, _) in enumerate(ordered)}
