"""Education extract: one census row per pupil and academic year, plus exclusions.

A census row is dated 31 July, the end of its school year, and carries the year's sessions
possible and sessions missed in each term (autumn, spring, summer), free school meals
eligibility and special educational needs provision (``N`` none, ``K`` SEN support, ``E``
education, health and care plan). Exclusion rows carry the date, the kind (suspension or
permanent) and the days lost.
"""

from __future__ import annotations

import numpy as np

from training.generate.agencies.common import AgencyRecords, expand
from training.generate.city import DAYS_PER_YEAR, City
from training.generate.population import Persons
from training.generate.risk import Risks

__all__ = ["education_records"]

_TERM_SESSIONS = np.array([140, 120, 120])  # autumn, spring, summer (two sessions a day)


def education_records(
    city: City, persons: Persons, risks: Risks, rng: np.random.Generator
) -> AgencyRecords:
    """Census rows for every school year inside the extracts' period, then exclusions."""
    census = _census(city, persons, risks, rng)
    exclusions = _exclusions(city, persons, risks, rng)
    cols = {}
    for name in census.columns.keys() | exclusions.columns.keys():
        a = census.columns.get(name, np.full(len(census), None, dtype=object))
        b = exclusions.columns.get(name, np.full(len(exclusions), None, dtype=object))
        cols[name] = np.concatenate([a.astype(object), b.astype(object)])
    return AgencyRecords(
        source="education",
        person=np.concatenate([census.person, exclusions.person]),
        day=np.concatenate([census.day, exclusions.day]),
        columns=cols,
        date_column="event_date",
    )


def _census(city: City, persons: Persons, risks: Risks, rng: np.random.Generator) -> AgencyRecords:
    dob = persons.dob.astype("datetime64[D]")
    reception = (
        (dob + 122).astype("datetime64[Y]").astype(int) + 1970 + 4
    )  # Sept after 4th birthday
    # a census row is dated 31 July, when its school year (September to July) is complete, and
    # only complete years inside the extracts' period are recorded: no row holds later absence
    years = np.arange(city.config.start_date.year - 1, city.config.end_date.year + 1)
    ends = _jul31_array(years + 1)
    inside = years[(ends >= city.start_day) & (ends <= city.end_day)]
    if inside.size == 0:
        return AgencyRecords(
            source="education", person=np.zeros(0, np.int64), day=np.zeros(0, np.int64)
        )
    lo = np.maximum(reception, inside.min())
    hi = np.minimum(reception + 11, inside.max())
    person, rank = expand(np.maximum(hi - lo + 1, 0))
    year = lo[person] + rank
    day = _jul31_array(year + 1)
    nc_year = year - reception[person]
    n = len(person)

    absent_p = rng.beta(1.5, 32.0, n)
    persistent = risks.factors["persistent_absence"][person] & (
        day >= risks.onset["persistent_absence"][person]
    )
    absent_p = np.where(persistent, absent_p + rng.beta(3.0, 9.0, n), absent_p).clip(0, 0.95)
    absences = rng.binomial(_TERM_SESSIONS[None, :], absent_p[:, None])

    fsm = risks.factors["poverty"][person] ^ (rng.random(n) < 0.05)
    sen = risks.factors["sen"][person] & (day >= risks.onset["sen"][person])
    ehcp = sen & (rng.random(n) < 0.25)
    provision = np.where(ehcp, "E", np.where(sen, "K", "N")).astype(object)
    return AgencyRecords(
        source="education",
        person=person,
        day=day,
        columns={
            "record_type": np.full(n, "census", dtype=object),
            "academic_year": np.char.add(
                np.char.add(year.astype(str), "/"), np.char.zfill(((year + 1) % 100).astype(str), 2)
            ).astype(object),
            "nc_year": np.char.add("Y", nc_year.astype(str)).astype(object),
            "sessions_possible": np.full(n, _TERM_SESSIONS.sum(), dtype=object),
            "sessions_absent_autumn": absences[:, 0].astype(object),
            "sessions_absent_spring": absences[:, 1].astype(object),
            "sessions_absent_summer": absences[:, 2].astype(object),
            "fsm_eligible": fsm.astype(object),
            "sen_provision": provision,
        },
    )


def _exclusions(
    city: City, persons: Persons, risks: Risks, rng: np.random.Generator
) -> AgencyRecords:
    cfg = city.config.risk
    excluded = risks.factors["exclusion"]
    count = np.where(
        excluded,
        1 + rng.poisson(cfg.suspensions_mean - 1 if cfg.suspensions_mean > 1 else 0, len(persons)),
        0,
    )
    person, rank = expand(count)
    start = risks.onset["exclusion"][person]
    sixteen = persons.dob[person] + int(16 * DAYS_PER_YEAR)
    day = np.minimum(start + (rank * rng.exponential(150, len(person))).astype(np.int64), sixteen)
    last = np.r_[rank[1:] == 0, True] if len(rank) else np.zeros(0, dtype=bool)
    permanent = last & (rng.random(len(person)) < cfg.permanent_exclusion_share)
    inside = (day >= city.start_day) & (day <= city.end_day)
    person, day, permanent = person[inside], day[inside], permanent[inside]
    n = len(person)
    return AgencyRecords(
        source="education",
        person=person,
        day=day,
        columns={
            "record_type": np.where(permanent, "permanent_exclusion", "suspension").astype(object),
            "exclusion_days": np.where(permanent, None, 1 + rng.poisson(1.5, n)).astype(object),
        },
    )


def _jul31_array(year: np.ndarray) -> np.ndarray:
    """Day numbers of 31 July of each year."""
    first = (year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + 6
    return (first.astype("datetime64[D]") + 30).astype(np.int64)
