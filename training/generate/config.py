"""The synthetic city's configuration (``generate:`` in ``configs/pipeline.yaml``).

Defaults live here and only here; the YAML holds overrides. Every effect size is a log odds
ratio (``log_or``) or a probability, and ``docs/generator.md`` gives its source.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from training.generate.programme_config import ProgrammeConfig

__all__ = [
    "ETHNIC_GROUPS",
    "EXOGENOUS",
    "FACTOR_ORDER",
    "EthnicGroup",
    "GenerateConfig",
    "GeographyConfig",
    "NoiseConfig",
    "OutcomeConfig",
    "PopulationConfig",
    "RecordingConfig",
    "RiskConfig",
]

EthnicGroup = Literal["White", "Mixed", "Asian", "Black", "Other"]
ETHNIC_GROUPS: tuple[EthnicGroup, ...] = ("White", "Mixed", "Asian", "Black", "Other")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Probability = float

#: Early-life risk factors in causal order: each may depend only on those before it.
#: ``child_protection`` is drawn among children in need, ``looked_after`` among children in need.
FACTOR_ORDER: tuple[str, ...] = (
    "poverty",
    "parental_mental_health",
    "parental_substance_misuse",
    "domestic_abuse",
    "parent_in_custody",
    "sen",
    "persistent_absence",
    "exclusion",
    "child_in_need",
    "child_protection",
    "looked_after",
    "missing_episodes",
)
#: Causes that are not factors: area deprivation (per SD) and sex.
EXOGENOUS: tuple[str, ...] = ("deprivation", "male")
_UNKNOWN_NAMES = "unknown {what} {names}; allowed: {allowed}"


def _check_names(what: str, mapping: dict[str, float]) -> None:
    allowed = [*EXOGENOUS, *FACTOR_ORDER]
    if bad := sorted(set(mapping) - set(allowed)):
        raise ValueError(_UNKNOWN_NAMES.format(what=what, names=bad, allowed=allowed))


class GeographyConfig(_Section):
    """Where the synthetic people live.

    ``generated`` (default): London's 33 local authorities and 12 police BCUs with generated
    wards and LSOAs, sized to ``persons`` (small cities for tests). ``london``: London's real
    4,835 LSOAs, wards, boroughs and BCUs with IMD 2019 and mid-2019 populations, shipped with
    the product (``governance.geography``; the demo's choice in ``configs/pipeline.yaml``).
    ``ons``: a real ONS LSOA→ward→local-authority lookup CSV, an optional IMD file for
    deprivation and an optional population file for where children live.
    """

    source: Literal["generated", "london", "ons"] = "generated"
    boroughs: tuple[str, ...] = Field(
        default=(),
        description="Source london only: keep these borough codes (E09...); empty keeps all 33.",
    )
    young_people_per_lsoa: int = Field(
        400, ge=1, description="Generated LSOAs hold about this many 0-25 year olds."
    )
    lsoas_per_ward: float = Field(7.5, gt=1.0, description="Mean LSOAs per generated ward.")
    min_lsoas_per_borough: int = Field(2, ge=1)
    borough_deprivation_sd: float = Field(0.6, ge=0.0, description="Spread of borough means (SD).")
    ward_deprivation_sd: float = Field(0.35, ge=0.0)
    lsoa_deprivation_sd: float = Field(0.6, ge=0.0)
    lookup_csv: Path | None = Field(
        None, description="ONS lookup with LSOA11CD, LSOA11NM, WD19CD, WD19NM, LAD19CD, LAD19NM."
    )
    imd_csv: Path | None = Field(None, description="IoD2019 file 2 (IMD rank and decile by LSOA).")
    population_csv: Path | None = Field(
        None, description="ONS mid-year LSOA estimates; 'Persons_0-15' weights where children live."
    )
    bcu_csv: Path | None = Field(
        None, description="Borough→BCU lookup (LAD19CD, bcu_code, bcu_name); built-in by default."
    )

    @model_validator(mode="after")
    def _ons_needs_lookup(self) -> GeographyConfig:
        if self.source == "ons" and self.lookup_csv is None:
            raise ValueError("source 'ons' needs lookup_csv (an ONS LSOA→ward→LAD lookup CSV)")
        if self.boroughs and self.source != "london":
            raise ValueError(f"boroughs applies to source 'london' only, not {self.source!r}")
        return self


class PopulationConfig(_Section):
    """Households, children and young people, and where they move."""

    max_age: int = Field(25, ge=18, le=30, description="Oldest person's age at the end date.")
    children_per_household: dict[int, float] = Field(
        default_factory=lambda: {1: 0.42, 2: 0.36, 3: 0.15, 4: 0.05, 5: 0.02},
        description="Share of households by number of children and young people.",
    )
    sibling_age_gap_years: float = Field(3.0, gt=0, description="Mean gap between siblings.")
    two_carer_share: Probability = Field(0.72, ge=0, le=1)
    male_share: Probability = Field(0.512, ge=0, le=1)
    ethnicity: dict[EthnicGroup, float] = Field(
        default_factory=lambda: {
            "White": 0.46,
            "Mixed": 0.09,
            "Asian": 0.22,
            "Black": 0.16,
            "Other": 0.07,
        },
        description="Shares of the ONS high-level groups among London's under-25s.",
    )
    ethnicity_deprivation_log_or: dict[EthnicGroup, float] = Field(
        default_factory=lambda: {
            "White": 0.0,
            "Mixed": 0.15,
            "Asian": 0.2,
            "Black": 0.35,
            "Other": 0.2,
        },
        description="How much more likely each group is to live in a more deprived LSOA (per SD).",
    )
    moves_per_year: float = Field(0.07, ge=0, le=1, description="Household moves per year.")
    move_within_borough: Probability = Field(0.7, ge=0, le=1)
    surname_differs_from_household: Probability = Field(0.12, ge=0, le=1)

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> PopulationConfig:
        for name in ("children_per_household", "ethnicity"):
            total = sum(getattr(self, name).values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"{name} shares must sum to 1 (they sum to {total:.6f})")
        return self


class RiskConfig(_Section):
    """Prevalence of each early-life risk factor and how the factors cause one another.

    ``base`` is a prevalence for a child at average deprivation with no other factor; each
    ``log_or`` entry adds to the log odds when its cause is present (per SD for deprivation).
    """

    base: dict[str, float] = Field(
        default_factory=lambda: {
            "poverty": 0.22,
            "parental_mental_health": 0.10,
            "parental_substance_misuse": 0.05,
            "domestic_abuse": 0.09,
            "parent_in_custody": 0.02,
            "sen": 0.13,
            "persistent_absence": 0.10,
            "exclusion": 0.05,
            "child_in_need": 0.07,
            "child_protection": 0.25,
            "looked_after": 0.20,
            "missing_episodes": 0.02,
        }
    )
    log_or: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "poverty": {"deprivation": 0.9},
            "parental_mental_health": {"deprivation": 0.2, "poverty": 0.4},
            "parental_substance_misuse": {"deprivation": 0.25, "poverty": 0.4},
            "domestic_abuse": {
                "deprivation": 0.2,
                "poverty": 0.5,
                "parental_substance_misuse": 1.1,
                "parental_mental_health": 0.7,
            },
            "parent_in_custody": {"deprivation": 0.3, "parental_substance_misuse": 1.4},
            "sen": {"male": 0.7, "poverty": 0.5},
            "persistent_absence": {
                "deprivation": 0.2,
                "poverty": 0.8,
                "sen": 0.6,
                "domestic_abuse": 0.5,
                "parental_mental_health": 0.4,
            },
            "exclusion": {
                "male": 0.9,
                "poverty": 0.6,
                "sen": 0.9,
                "persistent_absence": 1.0,
                "domestic_abuse": 0.4,
            },
            "child_in_need": {
                "poverty": 0.7,
                "domestic_abuse": 1.8,
                "parental_substance_misuse": 1.3,
                "parental_mental_health": 1.0,
                "parent_in_custody": 0.8,
                "sen": 0.4,
            },
            "child_protection": {"domestic_abuse": 0.6, "parental_substance_misuse": 0.6},
            "missing_episodes": {"looked_after": 2.2, "exclusion": 1.0, "persistent_absence": 0.6},
            "looked_after": {
                "parental_substance_misuse": 0.8,
                "parent_in_custody": 0.6,
                "child_protection": 1.0,
            },
        },
        description="Cause → log odds ratio per factor; causes come earlier in FACTOR_ORDER.",
    )
    injury_attendances_per_year: float = Field(0.22, ge=0, description="Accidental A&E visits.")
    injury_rate_log_ratio: dict[str, float] = Field(
        default_factory=lambda: {
            "domestic_abuse": 0.3,
            "parental_substance_misuse": 0.3,
            "male": 0.2,
        }
    )
    domestic_abuse_incidents_mean: float = Field(
        3.0, gt=0, description="Police call-outs per abusive household."
    )
    suspensions_mean: float = Field(2.0, gt=0, description="Suspensions per excluded pupil.")
    permanent_exclusion_share: Probability = Field(0.06, ge=0, le=1)
    missing_episodes_mean: float = Field(3.0, gt=0)
    minor_offence_rate_per_year: float = Field(
        0.004,
        ge=0,
        description="Non-violent recorded offences per year at ages 10-24, before effects.",
    )

    @model_validator(mode="after")
    def _known_factors_in_causal_order(self) -> RiskConfig:
        if set(self.base) != set(FACTOR_ORDER):
            missing, extra = set(FACTOR_ORDER) - set(self.base), set(self.base) - set(FACTOR_ORDER)
            raise ValueError(
                f"base must give every factor once: missing {sorted(missing)}, "
                f"unknown {sorted(extra)}; "
                f"factors are {list(FACTOR_ORDER)}"
            )
        for factor, causes in self.log_or.items():
            if factor not in FACTOR_ORDER:
                raise ValueError(
                    _UNKNOWN_NAMES.format(what="factor", names=[factor], allowed=list(FACTOR_ORDER))
                )
            allowed = [*EXOGENOUS, *FACTOR_ORDER[: FACTOR_ORDER.index(factor)]]
            if bad := sorted(set(causes) - set(allowed)):
                raise ValueError(
                    _UNKNOWN_NAMES.format(what=f"cause of {factor}", names=bad, allowed=allowed)
                )
        _check_names("injury cause", self.injury_rate_log_ratio)
        return self


class OutcomeConfig(_Section):
    """True involvement in serious violence (victim or perpetrator) at ages 10-24."""

    base: Probability = Field(
        0.012, ge=0, le=1, description="Risk at 10-24 with no factor present."
    )
    log_or: dict[str, float] = Field(
        default_factory=lambda: {
            "male": 1.0,
            "deprivation": 0.5,
            "poverty": 0.3,
            "domestic_abuse": 0.6,
            "parental_substance_misuse": 0.3,
            "parent_in_custody": 0.5,
            "sen": 0.25,
            "persistent_absence": 0.7,
            "exclusion": 1.1,
            "child_in_need": 0.4,
            "looked_after": 0.6,
            "missing_episodes": 0.9,
        }
    )
    role_shares: dict[Literal["victim", "perpetrator", "both"], float] = Field(
        default_factory=lambda: {"victim": 0.4, "perpetrator": 0.35, "both": 0.25}
    )
    peak_age: float = Field(17.0, ge=10, le=24)
    age_sd: float = Field(2.5, gt=0)
    extra_events_mean: float = Field(0.4, ge=0, description="Further incidents after the first.")
    sharp_object_share: Probability = Field(0.3, ge=0, le=1)

    @model_validator(mode="after")
    def _roles_sum_to_one(self) -> OutcomeConfig:
        if abs(sum(self.role_shares.values()) - 1.0) > 1e-6:
            raise ValueError("role_shares must sum to 1")
        _check_names("outcome cause", self.log_or)
        return self


class RecordingConfig(_Section):
    """How likely a true event is to reach an agency's records: recording bias lives here."""

    assault_attendance_recorded: Probability = Field(0.85, ge=0, le=1)
    victim_reported_to_police: Probability = Field(0.4, ge=0, le=1)
    offence_recorded_base: Probability = Field(0.45, ge=0, le=1)
    policing_intensity_per_deprivation_sd: float = Field(
        0.4, description="Log odds of an offence being recorded, per SD of area deprivation."
    )
    policing_intensity_sd: float = Field(0.3, ge=0, description="Area policing beyond deprivation.")
    group_log_or: dict[EthnicGroup, float] = Field(
        default_factory=lambda: {
            "White": 0.0,
            "Mixed": 0.2,
            "Asian": 0.1,
            "Black": 0.5,
            "Other": 0.1,
        },
        description="Log odds of recording a true offence, by ethnic group (disproportionality).",
    )
    proven_outcome_shares: dict[
        Literal["charge", "caution", "community_resolution", "nfa"], float
    ] = Field(
        default_factory=lambda: {
            "charge": 0.42,
            "caution": 0.18,
            "community_resolution": 0.12,
            "nfa": 0.28,
        }
    )


class NoiseConfig(_Section):
    """Identifier noise per extract record, so that no clean key joins the extracts."""

    forename_typo: Probability = Field(0.02, ge=0, le=1)
    surname_typo: Probability = Field(0.02, ge=0, le=1)
    nickname: Probability = Field(
        0.05, ge=0, le=1, description="Informal given name, where one exists."
    )
    name_variant: Probability = Field(0.03, ge=0, le=1, description="Another spelling of the name.")
    names_swapped: Probability = Field(0.005, ge=0, le=1)
    dob_transposed: Probability = Field(
        0.01, ge=0, le=1, description="Day and month swapped or digits transposed."
    )
    stale_postcode: Probability = Field(
        0.06, ge=0, le=1, description="The previous address's postcode."
    )
    postcode_missing: Probability = Field(0.02, ge=0, le=1)
    sex_miscoded: Probability = Field(0.005, ge=0, le=1)
    nhs_number_missing: dict[Literal["health", "social_care"], float] = Field(
        default_factory=lambda: {"health": 0.05, "social_care": 0.35},
        description="Only health and social care record NHS numbers.",
    )
    source_multiplier: dict[Literal["health", "education", "social_care", "police"], float] = Field(
        default_factory=lambda: {
            "health": 1.0,
            "education": 0.5,
            "social_care": 1.0,
            "police": 1.5,
        },
        description="Scales name, date and postcode rates by agency (schools hold cleaner data).",
    )


class GenerateConfig(_Section):
    """The synthetic city: ``vru generate``."""

    persons: int = Field(
        20_000, ge=100, description="Children and young people (0-25) to generate."
    )
    start_date: dt.date = Field(dt.date(2012, 4, 1), description="First day of the extracts.")
    end_date: dt.date = Field(dt.date(2025, 3, 31), description="Last day of the extracts.")
    households_per_chunk: int = Field(
        100_000, ge=1000, description="Work unit; bounds peak memory."
    )
    geography: GeographyConfig = GeographyConfig()
    population: PopulationConfig = PopulationConfig()
    risk: RiskConfig = RiskConfig()
    outcome: OutcomeConfig = OutcomeConfig()
    recording: RecordingConfig = RecordingConfig()
    noise: NoiseConfig = NoiseConfig()
    programmes: list[ProgrammeConfig] = Field(
        default_factory=list, description="Prevention programmes with a known true effect."
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> GenerateConfig:
        if self.end_date <= self.start_date:
            raise ValueError(f"end_date {self.end_date} must be after start_date {self.start_date}")
        names = [p.name for p in self.programmes]
        if len(set(names)) != len(names):
            raise ValueError(f"programmes: names must be unique (got {names})")
        for programme in self.programmes:
            for start in programme.start_dates:
                if not self.start_date < start <= self.end_date:
                    raise ValueError(
                        f"programme '{programme.name}': start date {start} must fall after "
                        f"start_date {self.start_date} and by end_date {self.end_date}"
                    )
        return self
