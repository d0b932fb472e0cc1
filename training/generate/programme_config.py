"""Prevention programmes in the synthetic city (``generate.programmes`` in ``configs/pipeline.yaml``).

A programme reaches a share of the young people living in its wards from its start date and
changes their hazard of serious violence by a known amount: the truth that ``vru evaluate``
and ``bench/bench_programmes.py`` must recover. Where it runs is a list of ward codes or a
rule; the rule ranks wards by the generator's own deprivation (the area risk the city is built
on), because a champion model need not exist when the city is generated. Placing a programme
on high-risk wards is what makes a naive before/after comparison wrong.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["PROGRAMME_FACTORS", "ProgrammeConfig"]

#: Child risk factors with an onset date that a programme may prevent (``effect_on_factor``).
PROGRAMME_FACTORS: tuple[str, ...] = ("persistent_absence", "exclusion", "missing_episodes")


class ProgrammeConfig(BaseModel):
    """One programme: where, from when, whom it reaches and what it truly does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Lower-case slug.")
    wards: list[str] = Field(
        default_factory=list, description="Ward codes it runs in (or leave empty and set rule)."
    )
    rule: Literal["top_wards_by_deprivation"] | None = Field(
        None, description="Choose wards by the generator's own ward deprivation (area risk)."
    )
    top_share: float = Field(
        0.1, gt=0, le=1, description="With the rule: the share of wards taken, most deprived first."
    )
    start_dates: list[dt.date] = Field(
        min_length=1,
        description="One date, or several for staggered adoption: the chosen wards are split "
        "into this many equal waves in their order (most deprived first with the rule).",
    )
    effect_on_outcome: float = Field(
        -0.15,
        ge=-1.0,
        le=0.0,
        description="Relative change in the hazard of serious violence of those reached, "
        "from the start date (-0.15 = 15% fewer incidents).",
    )
    effect_on_factor: dict[
        Literal["persistent_absence", "exclusion", "missing_episodes"], float
    ] = Field(
        default_factory=dict,
        description="Relative change in the chance that a factor starts after the start date "
        "among those reached (e.g. exclusion: -0.3).",
    )
    reach: float = Field(
        0.5, gt=0, le=1, description="Share of the young people living in its wards it reaches."
    )

    @model_validator(mode="after")
    def _where_given_once(self) -> ProgrammeConfig:
        if bool(self.wards) == (self.rule is not None):
            raise ValueError(
                f"programme '{self.name}': give either wards (a list of ward codes) or rule "
                "('top_wards_by_deprivation'), not both and not neither"
            )
        for factor, effect in self.effect_on_factor.items():
            if not -1.0 <= effect <= 0.0:
                raise ValueError(
                    f"programme '{self.name}': effect_on_factor.{factor} must be in [-1, 0] "
                    f"(got {effect})"
                )
        return self
