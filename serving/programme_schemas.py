"""The programme routes' responses: a listing for planners, and one programme in full.

The figures are the published contract's (:mod:`governance.contracts.programme_schema`): groups
of wards only, counts rounded or withheld. These models add the plain-words reading the pages
show too (:mod:`serving.programmes`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from governance.contracts.programme_schema import (
    Assumption,
    PublishedEstimate,
    PublishedEventPoint,
)

__all__ = ["ProgrammeDetail", "ProgrammeList", "ProgrammeSummary"]

_HEADLINE_EXAMPLE = {
    "estimator": "poisson_imputation",
    "label": "Difference-in-differences on counts (imputation, placebo interval)",
    "effect": -0.2,
    "low": -0.31,
    "high": -0.08,
    "p_value": 0.01,
    "note": "",
}


class ProgrammeSummary(BaseModel):
    """One programme in the listing: where, since when, and its main estimate in words."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="The programme's name.", examples=["youth-workers"])
    treated_wards: int = Field(description="Wards where it ran.", examples=[62])
    start_dates: list[str] = Field(
        description="When it started (ISO dates; several when staggered).",
        examples=[["2021-04-01"]],
    )
    headline: PublishedEstimate = Field(
        description="The main estimate with its 95% interval.", examples=[_HEADLINE_EXAMPLE]
    )
    verdict: str = Field(
        description="The main estimate in one sentence.",
        examples=[
            "Recorded violence in the wards reached fell by about 20% (95% interval 8% to "
            "31%) compared with what similar wards suggest."
        ],
    )
    published: str = Field(
        description="When the result was published (UTC).", examples=["2026-12-08T01:00:00+00:00"]
    )


class ProgrammeList(BaseModel):
    """Every programme with a verified published result."""

    programmes: list[ProgrammeSummary] = Field(description="The programmes, by name.")


class ProgrammeDetail(ProgrammeSummary):
    """One programme: every method's estimate, the checks, the year-by-year chart's points."""

    comparison_wards: int = Field(
        description="Wards compared with, where it did not run.", examples=[620]
    )
    periods: int = Field(description="Years of data compared.", examples=[6])
    recorded_before: int | None = Field(
        description="Recorded outcomes in its wards before the start, rounded; null when too "
        "few to show.",
        examples=[420],
    )
    recorded_after: int | None = Field(
        description="Recorded outcomes in its wards after the start, rounded; null when too "
        "few to show.",
        examples=[310],
    )
    estimates: list[PublishedEstimate] = Field(
        description="Every method's estimate; the first is the main answer, the last the "
        "naive before/after comparison."
    )
    placebos: list[PublishedEstimate] = Field(
        description="Checks that should find nothing: a false start date, untreated wards."
    )
    event_study: list[PublishedEventPoint] = Field(
        description="The difference per 1,000 young people year by year around the start."
    )
    event_study_method: str = Field(
        description="The method whose year-by-year differences these are.",
        examples=["Difference-in-differences on rates (two-stage, pyfixest)"],
    )
    withheld_event_points: int = Field(
        description="Years withheld for resting on too few outcomes.", examples=[0]
    )
    assumptions: list[Assumption] = Field(
        description="What the estimate rests on, and how each was checked."
    )
