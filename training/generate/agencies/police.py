"""Police extract: domestic abuse incidents at a child's home, offences and their outcomes.

A domestic abuse incident is recorded once per child present (``role = child_present``, as
police notifications to schools and social care do), with the household's postcode. Offences
carry the young person's role (suspect or victim), the offence group and the outcome
(charge, caution, community resolution, no further action).
"""

from __future__ import annotations

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
    rec = city.config.recording
    outcome_p = np.array([rec.proven_outcome_shares[o] for o in OFFENCE_OUTCOMES])
    outcome_p = outcome_p / outcome_p.sum()
    incident_type: list[np.ndarray] = []
    person: list[np.ndarray] = []
    day: list[np.ndarray] = []
    group: list[np.ndarray] = []
    role: list[np.ndarray] = []
    outcome: list[np.ndarray] = []
    incident: list[
        np.ndarray
    ] = []  # incident number within the chunk, shared by co-present children

    # domestic abuse incidents: every child under 18 living in the household at the time
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
    incident_type.append(np.full(k, "domestic_abuse_incident", dtype=object))
    person.append(child[present])
    day.append(d[present])
    group.append(np.full(k, None, dtype=object))
    role.append(np.full(k, "child_present", dtype=object))
    outcome.append(np.full(k, None, dtype=object))
    incident.append(inc[present])
    offset = len(hh)

    # serious violence: recorded offences of perpetrators, and victims who reported
    inside = (violence.day >= city.start_day) & (violence.day <= city.end_day)
    for mask, who in (
        (violence.recorded_offence & inside, "suspect"),
        (violence.reported_victim & inside, "victim"),
    ):
        idx = np.flatnonzero(mask)
        incident_type.append(np.full(idx.size, "crime", dtype=object))
        person.append(violence.person[idx])
        day.append(violence.day[idx])
        group.append(np.asarray(SERIOUS_OFFENCES, dtype=object)[violence.offence_group[idx]])
        role.append(np.full(idx.size, who, dtype=object))
        out = np.asarray(OFFENCE_OUTCOMES, dtype=object)[violence.outcome[idx]]
        outcome.append(out if who == "suspect" else np.full(idx.size, None, dtype=object))
        incident.append(offset + idx)
    offset += len(violence.person)

    # minor offences: more likely for young people at higher risk, and where policing is heavier
    lo, hi = exposure_days(city, persons, 10.0, 25.0)
    years = np.maximum(hi - lo, 0) / DAYS_PER_YEAR
    bias = policing[residences.lsoa[residences.at(persons.household, hi)]]
    bias = bias + np.array([rec.group_log_or[g] for g in ETHNIC_GROUPS])[persons.ethnicity]
    relative = np.exp(0.7 * (score - logit(city.config.outcome.base)) + bias)
    n_minor = rng.poisson(city.config.risk.minor_offence_rate_per_year * relative * years)
    minor = np.repeat(np.arange(len(persons)), n_minor)
    incident_type.append(np.full(minor.size, "crime", dtype=object))
    person.append(minor)
    day.append(uniform_days(lo[minor], hi[minor], rng))
    group.append(
        _MINOR_OFFENCES[rng.choice(len(_MINOR_OFFENCES), size=minor.size, p=_MINOR_SHARES)]
    )
    role.append(np.full(minor.size, "suspect", dtype=object))
    outcome.append(
        np.asarray(OFFENCE_OUTCOMES, dtype=object)[rng.choice(4, size=minor.size, p=outcome_p)]
    )
    incident.append(offset + np.arange(minor.size))

    return AgencyRecords(
        source="police",
        person=np.concatenate(person),
        day=np.concatenate(day),
        columns={
            "incident_type": np.concatenate(incident_type),
            "offence_group": np.concatenate(group),
            "role": np.concatenate(role),
            "outcome": np.concatenate(outcome),
            "incident": np.concatenate(incident),
        },
        date_column="incident_date",
    )
