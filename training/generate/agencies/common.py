"""Pieces shared by the agency builders: a batch of records and date helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from training.generate.city import DAYS_PER_YEAR, City
from training.generate.population import Persons

__all__ = ["AgencyRecords", "expand", "exposure_days", "uniform_days"]


@dataclass
class AgencyRecords:
    """An agency's records for one chunk, before identifiers are attached.

    ``person`` and ``day`` say whom each record is about and when (the address on that day is
    the one recorded); ``columns`` holds the agency's own fields.
    """

    source: str
    person: np.ndarray
    day: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    date_column: str = "event_date"

    def __len__(self) -> int:
        return len(self.person)


def exposure_days(
    city: City, persons: Persons, from_age: float, to_age: float
) -> tuple[np.ndarray, np.ndarray]:
    """The days on which each person is within the ages and the extracts' period."""
    lo = np.maximum(persons.dob + int(from_age * DAYS_PER_YEAR), city.start_day)
    hi = np.minimum(persons.dob + int(to_age * DAYS_PER_YEAR), city.end_day)
    return lo, hi


def uniform_days(lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A day drawn uniformly in each ``[lo, hi]``."""
    return lo + (rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)


def expand(count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row owner and rank within owner for ``count[i]`` rows per owner ``i``."""
    owner = np.repeat(np.arange(len(count)), count)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    return owner, rank
