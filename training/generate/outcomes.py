"""True involvement in serious violence, and which of it reaches agencies' records.

A child's chance of ever being involved (as victim, perpetrator or both) at ages 10-24 follows
the configured log odds ratios of their risk factors. Whether a true offence is *recorded*
depends on how intensively the area is policed and on the young person's group: that is the
recording bias the audits must find. Victims' injuries reach A&E records far more evenly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.generate.city import DAYS_PER_YEAR
from training.generate.config import ETHNIC_GROUPS, GenerateConfig
from training.generate.population import Persons, Residences
from training.generate.risk import Risks, logit

__all__ = ["OFFENCE_OUTCOMES", "Violence", "draw_violence", "outcome_score"]

OFFENCE_OUTCOMES: tuple[str, ...] = ("charge", "caution", "community_resolution", "nfa")
SERIOUS_OFFENCES: tuple[str, ...] = ("violence_against_person", "possession_of_weapons", "robbery")
_SERIOUS_SHARES = np.array([0.65, 0.2, 0.15])


@dataclass
class Violence:
    """One row per true incident of serious violence."""

    person: np.ndarray
    day: np.ndarray
    victim: np.ndarray
    perpetrator: np.ndarray
    sharp_object: np.ndarray
    at_ae: np.ndarray  # the victim's injury reached A&E records
    reported_victim: np.ndarray  # the victim appears in police records
    recorded_offence: np.ndarray  # the perpetrator's offence was recorded by the police
    offence_group: np.ndarray  # index into SERIOUS_OFFENCES
    outcome: np.ndarray  # index into OFFENCE_OUTCOMES


def outcome_score(
    config: GenerateConfig, persons: Persons, risks: Risks, deprivation: np.ndarray
) -> np.ndarray:
    """Each person's log odds of involvement in serious violence at ages 10-24."""
    x = dict(risks.factors)
    z = np.full(len(persons), logit(config.outcome.base))
    for cause, log_or in config.outcome.log_or.items():
        value = (
            deprivation if cause == "deprivation" else persons.male if cause == "male" else x[cause]
        )
        z += log_or * value
    return z


def draw_violence(
    config: GenerateConfig,
    persons: Persons,
    residences: Residences,
    score: np.ndarray,
    policing: np.ndarray,
    rng: np.random.Generator,
) -> Violence:
    """Draw who is involved, each incident's date and role, and whether agencies record it."""
    cfg, rec = config.outcome, config.recording
    n = len(persons)
    involved = rng.random(n) < 1.0 / (1.0 + np.exp(-score))
    roles = np.array(list(cfg.role_shares.keys()))
    role = roles[rng.choice(len(roles), size=n, p=np.array(list(cfg.role_shares.values())))]
    count = np.where(involved, 1 + rng.poisson(cfg.extra_events_mean, n), 0)
    person = np.repeat(np.arange(n), count)
    first_of = np.repeat(np.cumsum(count) - count, count)
    k = np.arange(len(person)) - first_of
    age = np.clip(rng.normal(cfg.peak_age, cfg.age_sd, n), 10.0, 24.9)
    later = np.where(k > 0, rng.exponential(DAYS_PER_YEAR, len(person)) * k, 0.0)
    day = persons.dob[person] + (age[person] * DAYS_PER_YEAR + later).astype(np.int64)
    keep = day < persons.dob[person] + int(25 * DAYS_PER_YEAR)
    person, day = person[keep], day[keep]
    m = len(person)

    victim = np.isin(role[person], ("victim", "both"))
    perpetrator = np.isin(role[person], ("perpetrator", "both"))
    lsoa = residences.lsoa[residences.at(persons.household[person], day)]
    group = np.array([rec.group_log_or[g] for g in ETHNIC_GROUPS])[persons.ethnicity[person]]
    p_record = 1.0 / (1.0 + np.exp(-(logit(rec.offence_recorded_base) + policing[lsoa] + group)))
    outcome_p = np.array([rec.proven_outcome_shares[o] for o in OFFENCE_OUTCOMES])
    return Violence(
        person=person,
        day=day,
        victim=victim,
        perpetrator=perpetrator,
        sharp_object=rng.random(m) < cfg.sharp_object_share,
        at_ae=victim & (rng.random(m) < rec.assault_attendance_recorded),
        reported_victim=victim & (rng.random(m) < rec.victim_reported_to_police),
        recorded_offence=perpetrator & (rng.random(m) < p_record),
        offence_group=rng.choice(len(SERIOUS_OFFENCES), size=m, p=_SERIOUS_SHARES),
        outcome=rng.choice(len(OFFENCE_OUTCOMES), size=m, p=outcome_p / outcome_p.sum()),
    )
