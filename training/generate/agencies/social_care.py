"""Children's social care extract: referrals, assessments, CIN, CP plans, looked after, missing.

Each local authority keeps its own records: the child's id (``la_child_id``) is issued by the
authority where the child lived at the time, so a child who moved has records under two ids.
Assessments record the factors identified (domestic abuse, parental mental health, parental
substance misuse, a parent in custody), as the CIN census does.
"""

from __future__ import annotations

import numpy as np

from training.generate.agencies.common import AgencyRecords, expand
from training.generate.city import City
from training.generate.population import Persons
from training.generate.risk import Risks

__all__ = ["social_care_records"]

_CP_CATEGORIES = np.array(
    ["neglect", "emotional_abuse", "physical_abuse", "sexual_abuse"], dtype=object
)
_LEGAL_STATUS = np.array(["C2", "V2", "J2"], dtype=object)  # care order, section 20, remand


def social_care_records(
    city: City, persons: Persons, risks: Risks, rng: np.random.Generator
) -> AgencyRecords:
    """Every child-in-need episode, with what led to it and what followed."""
    f, onset, end = risks.factors, risks.onset, risks.end
    n = len(persons)
    parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]] = []
    cin = np.flatnonzero(f["child_in_need"])
    referral = onset["child_in_need"][cin] - rng.integers(10, 60, cin.size)
    parts.append(("referral", cin, referral, None))
    parts.append(
        ("assessment", cin, onset["child_in_need"][cin] - rng.integers(0, 10, cin.size), None)
    )
    parts.append(("cin_plan", cin, onset["child_in_need"][cin], end["child_in_need"][cin]))
    cp = np.flatnonzero(f["child_protection"])
    parts.append(("cp_plan", cp, onset["child_protection"][cp], end["child_protection"][cp]))
    lac = np.flatnonzero(f["looked_after"])
    parts.append(("looked_after", lac, onset["looked_after"][lac], end["looked_after"][lac]))
    # referrals that led to no further action: more likely where there is abuse at home
    p_nfa = np.where(f["domestic_abuse"], 0.25, 0.02) * ~f["child_in_need"]
    nfa = np.flatnonzero(rng.random(n) < p_nfa)
    lo = persons.dob[nfa]
    nfa_day = lo + (rng.random(nfa.size) * 16 * 365.25).astype(np.int64)
    parts.append(("referral_nfa", nfa, nfa_day, None))
    missing_count = np.where(
        f["missing_episodes"], 1 + rng.poisson(city.config.risk.missing_episodes_mean - 1, n), 0
    )
    m_person, m_rank = expand(missing_count)
    m_day = onset["missing_episodes"][m_person] + (
        m_rank * rng.exponential(60, m_person.size)
    ).astype(np.int64)
    parts.append(("missing_episode", m_person, m_day, m_day + rng.integers(0, 4, m_person.size)))

    event = np.concatenate([np.full(p.size, kind, dtype=object) for kind, p, _, _ in parts])
    person = np.concatenate([p for _, p, _, _ in parts])
    day = np.concatenate([d for _, _, d, _ in parts])
    stop = np.concatenate([np.full(p.size, -1) if e is None else e for _, p, _, e in parts])
    inside = (day >= city.start_day) & (day <= city.end_day)
    event, person, day, stop = event[inside], person[inside], day[inside], stop[inside]
    stop = np.where(
        (stop < 0) | (stop > city.end_day), np.iinfo(np.int64).min, stop
    )  # open episode
    m = len(person)

    assessment = event == "assessment"
    factors = {}
    for column, factor, sensitivity in (
        ("factor_domestic_abuse", "domestic_abuse", 0.8),
        ("factor_parental_mental_health", "parental_mental_health", 0.7),
        ("factor_parental_substance_misuse", "parental_substance_misuse", 0.7),
        ("factor_parent_in_custody", "parent_in_custody", 0.8),
    ):
        found = f[factor][person] & (rng.random(m) < sensitivity)
        factors[column] = np.where(assessment, found, None).astype(object)
    category = np.where(
        f["domestic_abuse"][person],
        1,
        np.where(f["parental_substance_misuse"][person], 0, rng.integers(0, 4, m)),
    )
    return AgencyRecords(
        source="social_care",
        person=person,
        day=day,
        columns={
            "event_type": event,
            "end_date": _dates_or_none(stop),
            "cp_category": np.where(event == "cp_plan", _CP_CATEGORIES[category], None).astype(
                object
            ),
            "legal_status": np.where(
                event == "looked_after",
                _LEGAL_STATUS[rng.choice(3, size=m, p=[0.6, 0.37, 0.03])],
                None,
            ).astype(object),
            **factors,
        },
    )


def _dates_or_none(days: np.ndarray) -> np.ndarray:
    out = days.astype("datetime64[D]")
    out[days == np.iinfo(np.int64).min] = np.datetime64("NaT")
    return out
