"""The area levels a release publishes, smallest first, and how they nest.

One definition for every package: the release schema, disclosure control, the aggregation in
training and the API's parameters all read these names from here.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal, get_args

__all__ = ["LEVELS", "PARENT_OF", "Level"]

Level = Literal["lsoa", "ward", "borough", "bcu", "city"]

#: Every level, smallest area first; the city is the one area of the top level.
LEVELS: tuple[Level, ...] = get_args(Level)

#: Each level's parent level (the city has none).
PARENT_OF: dict[Level, Level] = dict(pairwise(LEVELS))
