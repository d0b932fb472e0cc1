"""Early-life risk factors and their causal structure (see ``docs/generator.md``).

Household factors (poverty, parental mental ill-health and substance misuse, domestic abuse,
a parent in custody) are drawn once per household; child factors (SEN, persistent absence,
exclusion, children's social care, missing episodes) per child. Each factor's log odds is its
base rate's log odds plus the configured log odds ratio of every cause present, in the causal
order of :data:`training.generate.config.FACTOR_ORDER`. Each factor present in a child also gets an onset
day, so that agencies' records of it are dated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.generate.city import DAYS_PER_YEAR
from training.generate.config import FACTOR_ORDER, RiskConfig
from training.generate.population import Households, Persons

__all__ = ["HOUSEHOLD_FACTORS", "Risks", "draw_risks", "logit"]

HOUSEHOLD_FACTORS: tuple[str, ...] = FACTOR_ORDER[:5]

# age (years) window in which each child factor starts, when present
_ONSET_AGES: dict[str, tuple[float, float]] = {
    "sen": (4.0, 10.0),
    "persistent_absence": (6.0, 14.0),
    "exclusion": (11.0, 15.5),
    "child_in_need": (0.0, 16.5),
    "missing_episodes": (12.0, 17.5),
}


def logit(p: float) -> float:
    """Log odds of a probability."""
    return float(np.log(p / (1.0 - p)))


@dataclass
class Risks:
    """Each person's factors (bool) and onset days, and each household's abuse period."""

    factors: dict[str, np.ndarray]  # per person, for every factor in FACTOR_ORDER
    onset: dict[str, np.ndarray]  # per person, day the factor starts (child factors)
    end: dict[str, np.ndarray]  # per person, day social care episodes end
    abuse_start: np.ndarray  # per household
    abuse_end: np.ndarray  # per household
    injury_rate: np.ndarray  # per person, accidental A&E attendances per year


def draw_risks(
    config: RiskConfig, households: Households, persons: Persons, rng: np.random.Generator
) -> Risks:
    """Draw every factor in causal order, then the onset and end days of each."""
    hh = persons.household
    causes: dict[str, np.ndarray] = {
        "deprivation": households.deprivation,
        "male": np.zeros(len(hh)),
    }
    household_factors: dict[str, np.ndarray] = {}
    for factor in HOUSEHOLD_FACTORS:
        household_factors[factor] = _draw(config, factor, causes, rng)
        causes[factor] = household_factors[factor]

    child: dict[str, np.ndarray] = {name: values[hh] for name, values in household_factors.items()}
    child["deprivation"] = households.deprivation[hh]
    child["male"] = persons.male.astype(float)
    for factor in FACTOR_ORDER[5:]:
        drawn = _draw(config, factor, child, rng)
        if factor == "child_protection" or factor == "looked_after":
            drawn &= child["child_in_need"].astype(bool)
        child[factor] = drawn
    factors = {f: child[f].astype(bool) for f in FACTOR_ORDER}

    onset, end = _onsets(persons, factors, rng)
    start, stop = _abuse_periods(households, persons, household_factors["domestic_abuse"], rng)
    log_rate = sum(
        (child[c] * v for c, v in config.injury_rate_log_ratio.items()), np.zeros(len(hh))
    )
    injury_rate = config.injury_attendances_per_year * np.exp(log_rate)
    return Risks(factors, onset, end, start, stop, injury_rate)


def _draw(
    config: RiskConfig, factor: str, causes: dict[str, np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    n = len(next(iter(causes.values())))
    z = np.full(n, logit(config.base[factor]))
    for cause, log_or in config.log_or.get(factor, {}).items():
        z += log_or * causes[cause]
    return rng.random(n) < 1.0 / (1.0 + np.exp(-z))


def _onsets(
    persons: Persons, factors: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    n = len(persons)
    onset: dict[str, np.ndarray] = {}
    for factor, (lo, hi) in _ONSET_AGES.items():
        onset[factor] = persons.dob + ((lo + rng.random(n) * (hi - lo)) * DAYS_PER_YEAR).astype(
            np.int64
        )
    eighteen = persons.dob + int(18 * DAYS_PER_YEAR)
    cin = onset["child_in_need"]
    onset["child_protection"] = np.minimum(
        cin + (rng.random(n) * 0.5 * DAYS_PER_YEAR).astype(np.int64), eighteen - 1
    )
    onset["looked_after"] = np.minimum(
        cin + ((0.2 + rng.random(n) * 2.8) * DAYS_PER_YEAR).astype(np.int64), eighteen - 1
    )
    end = {
        "child_in_need": np.minimum(cin + _days(rng, 1.2, n), eighteen),
        "child_protection": np.minimum(onset["child_protection"] + _days(rng, 1.0, n), eighteen),
        "looked_after": np.minimum(onset["looked_after"] + _days(rng, 3.0, n), eighteen),
    }
    return onset, end


def _abuse_periods(
    households: Households, persons: Persons, abuse: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A period of abuse in each abusive household, while at least one child lives there."""
    n = len(households.lsoa)
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(first, persons.household, persons.dob)
    np.maximum.at(last, persons.household, persons.dob + int(16 * DAYS_PER_YEAR))
    has_child = first <= last
    span = np.where(has_child, last - first, 0)
    start = np.where(has_child, first, 0) + (rng.random(n) * span).astype(np.int64)
    stop = start + _days(rng, 3.0, n)
    start = np.where(abuse & has_child, start, 0)
    stop = np.where(abuse & has_child, stop, -1)  # empty period: no incident can fall inside
    return start, stop


def _days(rng: np.random.Generator, mean_years: float, n: int) -> np.ndarray:
    return (30 + rng.exponential(mean_years * DAYS_PER_YEAR, n)).astype(np.int64)
