"""Police extract: domestic abuse incidents at a child's home, offences and their outcomes.

A domestic abuse incident is recorded once per child present (``role = child_present``, as
police notifications to schools and social care do), with the household's postcode. Offences
carry the young person's role (suspect or victim), the offence group and the outcome
(charge, caution, community resolution, no further action).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.generate.agencies.common import AgencyRecords, exposure_days, uniform_days
from training.generate.city import DAYS_PER_YEAR, City
from training.generate.config import ETHNIC_GROUPS
from training.generate.outcomes import OFFENCE_OUTCOMES, SERIOUS_OFFENCES, Violence
from training.generate.population import Persons, Residences
from training.generate.risk import Risks, logit

__all__ = ["police_records"]

_MINOR_OFFENCES = np.array(["theft", "drugs", "criminal_damage", "public_order"], dtype=object)
_MINOR_SHARES = np.array([0.35, 0.3, 0.2, 0.15])


@dataclass(frozen=True)
class _Incidents:
    """Police records of one kind, column by column, numbered within the chunk."""

    incident_type: np.ndarray
    person: np.ndarray
    day: np.ndarray
    group: np.ndarray
    role: np.ndarray
    outcome: np.ndarray
    incident: np.ndarray  # incident number within the chunk, shared by co-present children


def police_records(
    city: City,
    persons: Persons,
    residences: Residences,
    risks: Risks,
    violence: Violence,
    score: np.ndarray,
    policing: np.ndarray,
    rng: np.random.Generator,
) -> AgencyRecords:
    """Domestic abuse incidents, serious violence (recorded share), and minor offences."""
    abuse, offset = _domestic_abuse(city, persons, risks, rng)
    serious = _serious_violence(city, violence, offset)
    offset += len(violence.person)
    minor = _minor_offences(city, persons, residences, score, policing, offset, rng)
    parts = [abuse, *serious, minor]
    return AgencyRecords(
        source="police",
        person=np.concatenate([p.person for p in parts]),
        day=np.concatenate([p.day for p in parts]),
        columns={
            "incident_type": np.concatenate([p.incident_type for p in parts]),
            "offence_group": np.concatenate([p.group for p in parts]),
            "role": np.concatenate([p.role for p in parts]),
            "outcome": np.concatenate([p.outcome for p in parts]),
            "incident": np.concatenate([p.incident for p in parts]),
        },
        date_column="incident_date",
    )


def _domestic_abuse(
    city: City, persons: Persons, risks: Risks, rng: np.random.Generator
) -> tuple[_Incidents, int]:
    """Every child under 18 living in the household at an incident; and the incident count."""
    n_h = len(risks.abuse_start)
    abusive = risks.abuse_end >= risks.abuse_start
    n_inc = np.where(
        abusive, 1 + rng.poisson(city.config.risk.domestic_abuse_incidents_mean - 1, n_h), 0
    )
    hh = np.repeat(np.arange(n_h), n_inc)
    inc_day = uniform_days(risks.abuse_start[hh], risks.abuse_end[hh], rng)
    first = np.searchsorted(persons.household, hh, side="left")
    count = np.searchsorted(persons.household, hh, side="right") - first
    inc = np.repeat(np.arange(len(hh)), count)
    child = np.repeat(first, count) + (
        np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    )
    d = inc_day[inc]
    present = (d >= persons.dob[child]) & (d < persons.dob[child] + int(18 * DAYS_PER_YEAR))
    present &= (d >= city.start_day) & (d <= city.end_day)
    k = int(present.sum())
    incidents = _Incidents(
        incident_type=np.full(k, "domestic_abuse_incident", dtype=object),
        person=child[present],
        day=d[present],
        group=np.full(k, None, dtype=object),
        role=np.full(k, "child_present", dtype=object),
        outcome=np.full(k, None, dtype=object),
        incident=inc[present],
    )
    return incidents, len(hh)


def _serious_violence(city: City, violence: Violence, offset: int) -> list[_Incidents]:
    """Recorded offences of perpetrators, then victims who reported (no random draw)."""
    inside = (violence.day >= city.start_day) & (violence.day <= city.end_day)
    parts = []
    for mask, who in (
        (violence.recorded_offence & inside, "suspect"),
        (violence.reported_victim & inside, "victim"),
    ):
        idx = np.flatnonzero(mask)
        out = np.asarray(OFFENCE_OUTCOMES, dtype=object)[violence.outcome[idx]]
        parts.append(
            _Incidents(
                incident_type=np.full(idx.size, "crime", dtype=object),
                person=violence.person[idx],
                day=violence.day[idx],
                group=np.asarray(SERIOUS_OFFENCES, dtype=object)[violence.offence_group[idx]],
                role=np.full(idx.size, who, dtype=object),
                outcome=out if who == "suspect" else np.full(idx.size, None, dtype=object),
                incident=offset + idx,
            )
        )
    return parts


def _minor_offences(
    city: City,
    persons: Persons,
    residences: Residences,
    score: np.ndarray,
    policing: np.ndarray,
    offset: int,
    rng: np.random.Generator,
) -> _Incidents:
    """More likely for young people at higher risk, and where policing is heavier."""
    rec = city.config.recording
    outcome_p = np.array([rec.proven_outcome_shares[o] for o in OFFENCE_OUTCOMES])
    outcome_p = outcome_p / outcome_p.sum()
    lo, hi = exposure_days(city, persons, 10.0, 25.0)
    years = np.maximum(hi - lo, 0) / DAYS_PER_YEAR
    bias = policing[residences.lsoa[residences.at(persons.household, hi)]]
    bias = bias + np.array([rec.group_log_or[g] for g in ETHNIC_GROUPS])[persons.ethnicity]
    relative = np.exp(0.7 * (score - logit(city.config.outcome.base)) + bias)
    n_minor = rng.poisson(city.config.risk.minor_offence_rate_per_year * relative * years)
    minor = np.repeat(np.arange(len(persons)), n_minor)
    day = uniform_days(lo[minor], hi[minor], rng)
    group = _MINOR_OFFENCES[rng.choice(len(_MINOR_OFFENCES), size=minor.size, p=_MINOR_SHARES)]
    outcome = np.asarray(OFFENCE_OUTCOMES, dtype=object)[
        rng.choice(4, size=minor.size, p=outcome_p)
    ]
    return _Incidents(
        incident_type=np.full(minor.size, "crime", dtype=object),
        person=minor,
        day=day,
        group=group,
        role=np.full(minor.size, "suspect", dtype=object),
        outcome=outcome,
        incident=offset + np.arange(minor.size),
    )
