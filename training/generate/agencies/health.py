"""Health extract: A&E attendances and admissions, with a diagnosis category."""

from __future__ import annotations

import numpy as np

from training.generate.agencies.common import AgencyRecords, exposure_days, uniform_days
from training.generate.city import DAYS_PER_YEAR, City
from training.generate.outcomes import Violence
from training.generate.population import Persons
from training.generate.risk import Risks

__all__ = ["DIAGNOSES", "health_records"]

DIAGNOSES: tuple[str, ...] = (
    "accidental_injury",
    "illness",
    "self_harm",
    "assault",
    "sharp_object_injury",
)
_ROUTINE = np.array([0.58, 0.39, 0.03])


def health_records(
    city: City, persons: Persons, risks: Risks, violence: Violence, rng: np.random.Generator
) -> AgencyRecords:
    """Routine attendances at a rate that rises with risk, plus assault victims' injuries."""
    lo, hi = exposure_days(city, persons, 0.0, 25.0)
    years = np.maximum(hi - lo, 0) / DAYS_PER_YEAR
    count = rng.poisson(risks.injury_rate * years)
    person = np.repeat(np.arange(len(persons)), count)
    day = uniform_days(lo[person], hi[person], rng)
    diagnosis = rng.choice(3, size=len(person), p=_ROUTINE)
    young = day < persons.dob[person] + int(11 * DAYS_PER_YEAR)
    diagnosis[(diagnosis == 2) & young] = 1  # self-harm is recorded from age 11
    admitted = rng.random(len(person)) < 0.1

    seen = violence.at_ae & (violence.day >= city.start_day) & (violence.day <= city.end_day)
    v_person, v_day = violence.person[seen], violence.day[seen]
    v_diagnosis = np.where(violence.sharp_object[seen], 4, 3)
    v_admitted = rng.random(len(v_person)) < 0.25

    person = np.concatenate([person, v_person])
    admitted = np.concatenate([admitted, v_admitted])
    return AgencyRecords(
        source="health",
        person=person,
        day=np.concatenate([day, v_day]),
        columns={
            "attendance_type": np.where(admitted, "admission", "ae_attendance").astype(object),
            "diagnosis_category": np.asarray(DIAGNOSES, dtype=object)[
                np.concatenate([diagnosis, v_diagnosis])
            ],
        },
        date_column="arrival_date",
    )
