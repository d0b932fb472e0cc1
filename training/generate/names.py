"""Name pools: given names by origin and sex, surnames by origin, nicknames and spellings.

Names are drawn with Zipf-like weights (the first names in each list are the most common),
so that a few names are shared by many people, as in a real city: record linkage must cope
with that (term-frequency adjustment), so the generator must produce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import yaml

from training.generate.config import ETHNIC_GROUPS
from training.generate.noise import Alternatives

__all__ = ["NamePools", "load_name_pools"]

_ZIPF_OFFSET = 4.0


@dataclass(frozen=True)
class NamePools:
    """Flat arrays of names with index ranges per origin."""

    origins: tuple[str, ...]
    forenames: np.ndarray  # object array of unique given names
    surnames: np.ndarray
    # per origin and sex (0 female, 1 male): pool indices and cumulative weights
    forename_index: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]
    surname_index: dict[int, tuple[np.ndarray, np.ndarray]]
    origin_weights: np.ndarray  # (ethnic group, origin) probabilities
    forename_alternatives: Alternatives  # nicknames
    forename_variants: Alternatives
    surname_variants: Alternatives

    def draw_origin(self, ethnicity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A name origin for each ethnic-group code."""
        cum = np.cumsum(self.origin_weights, axis=1)
        u = rng.random(len(ethnicity))[:, None]
        return np.minimum((u > cum[ethnicity]).sum(axis=1), len(self.origins) - 1)

    def draw_forenames(
        self, origin: np.ndarray, male: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Indices into :attr:`forenames` for people of the given origins and sexes."""
        out = np.empty(len(origin), dtype=np.int64)
        u = rng.random(len(origin))
        for (o, s), (idx, cum) in self.forename_index.items():  # a few dozen groups, not records
            sel = (origin == o) & (male.astype(int) == s)
            out[sel] = idx[np.searchsorted(cum, u[sel], side="right").clip(max=len(idx) - 1)]
        return out

    def draw_surnames(self, origin: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Indices into :attr:`surnames` for people of the given origins."""
        out = np.empty(len(origin), dtype=np.int64)
        u = rng.random(len(origin))
        for o, (idx, cum) in self.surname_index.items():
            sel = origin == o
            out[sel] = idx[np.searchsorted(cum, u[sel], side="right").clip(max=len(idx) - 1)]
        return out


def load_name_pools() -> NamePools:
    """Read the packaged ``data/names.yaml``."""
    text = resources.files("training.generate").joinpath("data/names.yaml").read_text()
    raw = yaml.safe_load(text)
    origins = tuple(raw["origins"])
    forenames: dict[str, int] = {}
    surnames: dict[str, int] = {}
    forename_index = {}
    surname_index = {}
    for o, origin in enumerate(origins):
        block = raw["origins"][origin]
        for s, sex in enumerate(("female", "male")):
            forename_index[(o, s)] = _indexed(block[sex], forenames)
        surname_index[o] = _indexed(block["surnames"], surnames)
    weights = np.array(
        [
            [raw["ethnicity_origin_weights"][g].get(origin, 0.0) for origin in origins]
            for g in ETHNIC_GROUPS
        ]
    )
    forename_list = list(forenames)
    surname_list = list(surnames)
    variants = raw.get("variants", {})
    return NamePools(
        origins=origins,
        forenames=np.asarray(forename_list, dtype=object),
        surnames=np.asarray(surname_list, dtype=object),
        forename_index=forename_index,
        surname_index=surname_index,
        origin_weights=weights / weights.sum(axis=1, keepdims=True),
        forename_alternatives=Alternatives(forename_list, raw.get("nicknames", {})),
        forename_variants=Alternatives(forename_list, variants),
        surname_variants=Alternatives(surname_list, variants),
    )


def _indexed(names: list[str], registry: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    idx = np.array([registry.setdefault(n, len(registry)) for n in names], dtype=np.int64)
    w = 1.0 / (np.arange(len(names)) + _ZIPF_OFFSET)
    return idx, np.cumsum(w) / w.sum()
