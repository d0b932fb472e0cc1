"""Apply the configured prevention programmes to the synthetic city, and keep their truth.

A programme runs in a set of wards from its (ward's) start date. Each young person is reached
with the programme's ``reach`` probability; while a reached person lives in one of its wards on
or after the start, each of their incidents of serious violence is prevented with probability
``-effect_on_outcome`` (the hazard falls by that share), and a risk factor in
``effect_on_factor`` that would start then is prevented likewise (the outcome score, drawn
after, follows; factors drawn from it are not redrawn). Prevented incidents never reach any
agency's records, so recorded outcomes reflect the programme.

Every draw here comes from its own random stream: a city whose programmes have no effect is
identical, record for record, to the same city generated without them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

from governance.contracts.errors import ConfigError
from training.generate.city import City, to_day
from training.generate.config import GenerateConfig
from training.generate.outcomes import Violence
from training.generate.population import Persons, Residences
from training.generate.programme_config import ProgrammeConfig
from training.generate.risk import Risks

__all__ = [
    "ProgrammePlan",
    "apply_to_factors",
    "apply_to_violence",
    "plan_programmes",
    "programme_wards_table",
    "ward_deprivation",
]

_NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class ProgrammePlan:
    """One programme resolved onto the city's LSOAs."""

    config: ProgrammeConfig
    ward_start: pd.Series  # start day by ward code, waves in order
    lsoa_start: np.ndarray  # start day by LSOA position; _NEVER outside the programme


def ward_deprivation(geography: pd.DataFrame) -> pd.Series:
    """Each ward's deprivation: its LSOAs' scores weighted by where children live."""
    w = geography["population_weight"].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "ward_code": geography["ward_code"].to_numpy(),
            "wx": w * geography["deprivation_score"].to_numpy(dtype=float),
            "w": w,
        }
    )
    sums = frame.groupby("ward_code", sort=True)[["wx", "w"]].sum()
    return (sums["wx"] / sums["w"]).rename("deprivation")


def plan_programmes(gen: GenerateConfig, geography: pd.DataFrame) -> list[ProgrammePlan]:
    """Resolve each programme's wards (listed, or by the deprivation rule) and wave starts."""
    ranked = ward_deprivation(geography).sort_values(ascending=False, kind="stable")
    ward_of_lsoa = geography["ward_code"].to_numpy()
    plans = []
    for programme in gen.programmes:
        if programme.rule == "top_wards_by_deprivation":
            chosen = list(ranked.index[: max(1, math.ceil(programme.top_share * len(ranked)))])
        else:
            unknown = sorted(set(programme.wards) - set(ranked.index))
            if unknown:
                raise ConfigError(
                    f"generate.programmes '{programme.name}'.wards: unknown ward code(s) "
                    f"{unknown[:5]}; expected codes from geography.parquet's ward_code"
                )
            chosen = list(dict.fromkeys(programme.wards))
        waves = np.array_split(np.asarray(chosen, dtype=object), len(programme.start_dates))
        starts = {
            ward: to_day(start)
            for wave, start in zip(waves, programme.start_dates, strict=True)
            for ward in wave
        }
        ward_start = pd.Series(starts, dtype=np.int64)
        in_programme = pd.Series(ward_of_lsoa).isin(ward_start.index).to_numpy()
        lsoa_start = np.full(len(ward_of_lsoa), _NEVER, dtype=np.int64)
        lsoa_start[in_programme] = ward_start[ward_of_lsoa[in_programme]].to_numpy(np.int64)
        plans.append(ProgrammePlan(programme, ward_start, lsoa_start))
    return plans


def _treated(
    plan: ProgrammePlan,
    reached: np.ndarray,
    persons: Persons,
    residences: Residences,
    who: np.ndarray,
    day: np.ndarray,
) -> np.ndarray:
    """Whether each (person, day) falls to a reached person living in a programme ward after its start."""
    lsoa = residences.lsoa[residences.at(persons.household[who], day)]
    return np.asarray(reached[who] & (day >= plan.lsoa_start[lsoa]), dtype=bool)


def apply_to_factors(
    plans: list[ProgrammePlan],
    persons: Persons,
    residences: Residences,
    risks: Risks,
    rng: np.random.Generator,
) -> tuple[Risks, list[np.ndarray]]:
    """Prevent factors starting after the start among those reached; and who was reached."""
    n = len(persons)
    reached_all = [rng.random(n) < plan.config.reach for plan in plans]
    factors = dict(risks.factors)
    everyone = np.arange(n)
    for plan, reached in zip(plans, reached_all, strict=True):
        for factor, effect in plan.config.effect_on_factor.items():
            treated = _treated(plan, reached, persons, residences, everyone, risks.onset[factor])
            prevented = factors[factor] & treated & (rng.random(n) < -effect)
            factors[factor] = factors[factor] & ~prevented
    return replace(risks, factors=factors), reached_all


def apply_to_violence(
    plans: list[ProgrammePlan],
    reached_all: list[np.ndarray],
    persons: Persons,
    residences: Residences,
    violence: Violence,
    rng: np.random.Generator,
) -> tuple[Violence, pd.DataFrame]:
    """The incidents that still happen, and (truth) those each programme prevented."""
    keep = np.ones(len(violence.person), dtype=bool)
    prevented_rows = []
    for plan, reached in zip(plans, reached_all, strict=True):
        treated = _treated(plan, reached, persons, residences, violence.person, violence.day)
        prevented = keep & treated & (rng.random(len(keep)) < -plan.config.effect_on_outcome)
        keep &= ~prevented
        idx = np.flatnonzero(prevented)
        prevented_rows.append(
            pd.DataFrame(
                {
                    "programme": plan.config.name,
                    "person_id": persons.person_id[violence.person[idx]],
                    "day": violence.day[idx],
                }
            )
        )
    kept = Violence(**{f.name: getattr(violence, f.name)[keep] for f in fields(Violence)})
    prevented_frame = (
        pd.concat(prevented_rows, ignore_index=True)
        if prevented_rows
        else pd.DataFrame({"programme": [], "person_id": [], "day": []})
    )
    return kept, prevented_frame


def programme_wards_table(plans: list[ProgrammePlan], city: City) -> pd.DataFrame:
    """The truth of where and when each programme ran and what it truly did."""
    rows = []
    deprivation = ward_deprivation(city.geography)
    for plan in plans:
        cfg = plan.config
        for ward, start in plan.ward_start.items():
            rows.append(
                {
                    "programme": cfg.name,
                    "ward_code": ward,
                    "start_date": np.datetime64(int(start), "D"),
                    "ward_deprivation": float(deprivation.loc[str(ward)]),
                    "effect_on_outcome": cfg.effect_on_outcome,
                    "reach": cfg.reach,
                    # the change in the area's outcomes it implies, among all its young people
                    "area_effect": cfg.effect_on_outcome * cfg.reach,
                }
            )
    return pd.DataFrame(rows)
