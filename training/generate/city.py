"""The fixed context of one synthetic city: geography, postcodes, names, calendar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.generate.config import GenerateConfig
from training.generate.names import NamePools

__all__ = ["City", "to_day"]

DAYS_PER_YEAR = 365.25


def to_day(value: object) -> int:
    """A date as days since 1970-01-01 (the generator's time axis)."""
    return int(np.datetime64(value, "D").astype(np.int64))


@dataclass(frozen=True)
class City:
    """Everything a chunk of households needs to know about the city it lives in."""

    config: GenerateConfig
    geography: pd.DataFrame
    postcodes: pd.DataFrame  # sorted by LSOA position, with lsoa_pos
    names: NamePools

    @classmethod
    def build(
        cls,
        config: GenerateConfig,
        geography: pd.DataFrame,
        postcodes: pd.DataFrame,
        names: NamePools,
    ) -> City:
        """Index postcodes by LSOA position so that a draw is two array look-ups."""
        pos = pd.Series(np.arange(len(geography)), index=geography["lsoa_code"])
        postcodes = postcodes.assign(lsoa_pos=postcodes["lsoa_code"].map(pos).to_numpy())
        postcodes = postcodes.sort_values(["lsoa_pos", "postcode"], ignore_index=True)
        return cls(config=config, geography=geography, postcodes=postcodes, names=names)

    @property
    def start_day(self) -> int:
        """First day of the extracts."""
        return to_day(self.config.start_date)

    @property
    def end_day(self) -> int:
        """Last day of the extracts."""
        return to_day(self.config.end_date)

    @property
    def deprivation(self) -> np.ndarray:
        """Standardised deprivation score of each LSOA (higher = more deprived)."""
        return self.geography["deprivation_score"].to_numpy(dtype=float)

    @property
    def lsoa_weights(self) -> np.ndarray:
        """Where households live: each LSOA's share of the city's children."""
        return self.geography["population_weight"].to_numpy(dtype=float)

    @property
    def borough_of_lsoa(self) -> np.ndarray:
        """Borough position of each LSOA."""
        return pd.factorize(self.geography["borough_code"])[0]

    def postcode_range(self, lsoa_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First postcode row and number of postcodes of each LSOA position."""
        counts = np.bincount(self.postcodes["lsoa_pos"].to_numpy(), minlength=len(self.geography))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return starts[lsoa_pos], counts[lsoa_pos]
