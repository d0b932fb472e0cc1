"""Households, the children and young people in them, and where they live over time.

Everything is drawn for a chunk of households at once with numpy; a household's children share
its surname (mostly), its address history and its household-level risk factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.generate.city import DAYS_PER_YEAR, City
from training.generate.config import ETHNIC_GROUPS

__all__ = ["Households", "Persons", "Residences", "draw_population"]


@dataclass
class Households:
    """One row per household (chunk-local positions)."""

    lsoa: np.ndarray  # LSOA position at the household's first address
    ethnicity: np.ndarray  # code into ETHNIC_GROUPS
    origin: np.ndarray  # name origin code
    carers: np.ndarray  # 1 or 2
    deprivation: np.ndarray


@dataclass
class Residences:
    """Address history: one row per (household, address), sorted by household then start day."""

    household: np.ndarray
    start_day: np.ndarray
    lsoa: np.ndarray
    postcode: np.ndarray  # row in City.postcodes

    def at(self, household: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Row of the address each household had on each day (its first one before it)."""
        key = self.household.astype(np.int64) * 2**20 + (self.start_day - _EPOCH)
        query = household.astype(np.int64) * 2**20 + (day - _EPOCH)
        row = np.searchsorted(key, query, side="right") - 1
        first = np.searchsorted(self.household, household, side="left")
        return np.maximum(row, first)

    def previous(self, row: np.ndarray) -> np.ndarray:
        """The address before ``row`` in the same household (``row`` itself if none)."""
        prev = np.maximum(row - 1, 0)
        return np.where(self.household[prev] == self.household[row], prev, row)


@dataclass
class Persons:
    """One row per child or young person (chunk-local positions)."""

    person_id: np.ndarray  # global, stable across chunkings of the same config
    household: np.ndarray
    dob: np.ndarray  # day number
    male: np.ndarray
    ethnicity: np.ndarray
    forename: np.ndarray  # index into NamePools.forenames
    surname_index: np.ndarray  # index into NamePools.surnames of the (first) surname
    surname: np.ndarray  # object array: the surname as recorded, possibly double-barrelled

    def __len__(self) -> int:
        return len(self.person_id)


# day numbers are offset so that the packed (household, day) key stays positive
_EPOCH = -(2**19)


def draw_population(
    city: City, n_households: int, first_person_id: int, rng: np.random.Generator
) -> tuple[Households, Persons, Residences]:
    """Draw ``n_households`` households with their children and address histories."""
    cfg = city.config.population
    dep = city.deprivation
    lsoa = rng.choice(len(dep), size=n_households, p=city.lsoa_weights)
    z = dep[lsoa]

    shares = np.array([cfg.ethnicity[g] for g in ETHNIC_GROUPS])
    lean = np.array([cfg.ethnicity_deprivation_log_or[g] for g in ETHNIC_GROUPS])
    ethnicity = _categorical(np.log(shares)[None, :] + z[:, None] * lean[None, :], rng)
    origin = city.names.draw_origin(ethnicity, rng)
    carers = np.where(rng.random(n_households) < cfg.two_carer_share, 2, 1)
    households = Households(
        lsoa=lsoa, ethnicity=ethnicity, origin=origin, carers=carers, deprivation=z
    )

    sizes = np.array(list(cfg.children_per_household.keys()))
    probs = np.array(list(cfg.children_per_household.values()))
    n_children = rng.choice(sizes, size=n_households, p=probs / probs.sum())
    hh = np.repeat(np.arange(n_households), n_children)
    birth_order = np.arange(len(hh)) - np.repeat(np.cumsum(n_children) - n_children, n_children)
    end, span = city.end_day, cfg.max_age * DAYS_PER_YEAR
    eldest = end - rng.random(n_households) * span
    gaps = 300 + rng.exponential(max(cfg.sibling_age_gap_years * DAYS_PER_YEAR - 300, 1.0), len(hh))
    gaps[birth_order == 0] = 0.0
    offset = np.cumsum(gaps) - np.repeat(
        np.cumsum(gaps)[np.cumsum(n_children) - n_children], n_children
    )
    dob = (eldest[hh] + offset).astype(np.int64)
    keep = dob <= end
    hh, dob = hh[keep], dob[keep]

    male = rng.random(len(hh)) < cfg.male_share
    child_origin = np.where(
        rng.random(len(hh)) < 0.15, city.names.draw_origin(ethnicity[hh], rng), origin[hh]
    )
    forename = city.names.draw_forenames(child_origin, male, rng)
    carer_surnames = np.stack([city.names.draw_surnames(origin, rng) for _ in range(2)], axis=1)
    surname_index, surname = _child_surnames(
        city, carer_surnames, carers, hh, cfg.surname_differs_from_household, rng
    )
    persons = Persons(
        person_id=first_person_id + np.arange(len(hh), dtype=np.int64),
        household=hh,
        dob=dob,
        male=male,
        ethnicity=ethnicity[hh],
        forename=forename,
        surname_index=surname_index,
        surname=surname,
    )
    first_birth = np.full(n_households, end, dtype=np.int64)
    np.minimum.at(first_birth, hh, dob)
    residences = _draw_residences(city, households, first_birth, rng)
    return households, persons, residences


def _child_surnames(
    city: City,
    carer_surnames: np.ndarray,
    carers: np.ndarray,
    hh: np.ndarray,
    differs: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    pool = city.names.surnames
    first = carer_surnames[hh, 0]
    second = carer_surnames[hh, 1]
    index = first.copy()
    text = pool[first].copy()
    other = rng.random(len(hh)) < differs
    two = carers[hh] == 2
    hyphen = other & two & (rng.random(len(hh)) < 0.35)
    use_second = other & ~hyphen
    index[use_second] = second[use_second]
    text[use_second] = pool[second[use_second]]
    text[hyphen] = pool[first[hyphen]] + "-" + pool[second[hyphen]]
    return index, text


def _draw_residences(
    city: City, households: Households, first_birth: np.ndarray, rng: np.random.Generator
) -> Residences:
    cfg = city.config.population
    n = len(households.lsoa)
    years = np.maximum(city.end_day - first_birth, 0) / DAYS_PER_YEAR
    n_moves = rng.poisson(cfg.moves_per_year * years)
    max_moves = int(n_moves.max(initial=0))
    borough = city.borough_of_lsoa
    weights = city.lsoa_weights
    order = np.argsort(borough, kind="stable")
    cum = np.cumsum(weights[order])
    lo = np.concatenate([[0.0], cum])[
        np.searchsorted(borough[order], np.arange(borough.max() + 1), side="left")
    ]
    hi = cum[np.searchsorted(borough[order], np.arange(borough.max() + 1), side="right") - 1]

    current = households.lsoa.copy()
    rows_h, rows_day, rows_lsoa = [np.arange(n)], [first_birth - 1], [current.copy()]
    move_days = np.sort(
        first_birth[:, None]
        + rng.random((n, max(max_moves, 1))) * (city.end_day - first_birth)[:, None],
        axis=1,
    ).astype(np.int64)
    for k in range(max_moves):  # moves per household are few: a loop over move number, not rows
        movers = np.flatnonzero(n_moves > k)
        same = rng.random(movers.size) < cfg.move_within_borough
        b = borough[current[movers]]
        u = rng.random(movers.size)
        within = order[
            np.searchsorted(cum, lo[b] + u * (hi[b] - lo[b]), side="right").clip(max=len(cum) - 1)
        ]
        anywhere = rng.choice(len(weights), size=movers.size, p=weights)
        current[movers] = np.where(same, within, anywhere)
        rows_h.append(movers)
        rows_day.append(move_days[movers, k])
        rows_lsoa.append(current[movers].copy())
    household = np.concatenate(rows_h)
    start = np.concatenate(rows_day)
    lsoa = np.concatenate(rows_lsoa)
    sort = np.lexsort((start, household))
    household, start, lsoa = household[sort], start[sort], lsoa[sort]
    first_pc, n_pc = city.postcode_range(lsoa)
    postcode = first_pc + (rng.random(len(lsoa)) * n_pc).astype(np.int64)
    return Residences(household=household, start_day=start, lsoa=lsoa, postcode=postcode)


def _categorical(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row from softmax(logits) (Gumbel-max)."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
