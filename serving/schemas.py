"""The public shapes of the API: what a response may contain, and nothing about a person.

These models document the API (OpenAPI) and are what each response is serialised from; the
hot routes serialise them once, when a release is loaded (:mod:`serving.releases`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from governance.contracts.levels import Level
from governance.contracts.release_schema import Band, ReleaseManifest

__all__ = [
    "SORTS",
    "AggregateFactor",
    "AggregateRequest",
    "AggregateResponse",
    "AreaComparison",
    "AreaFactor",
    "AreaHistory",
    "AreaList",
    "AreaPublic",
    "AreaResponse",
    "Comparison",
    "Health",
    "HistoryPoint",
    "Ready",
    "ReleaseDetail",
    "ReleaseList",
    "ReleaseSummary",
    "ReloadResult",
    "Verdict",
]


SORT_FIELDS: tuple[str, ...] = (
    "rank",
    "mean_risk",
    "rate_per_1000",
    "expected",
    "population",
    "change_mean_risk",
    "code",
    "name",
)
SORTS: tuple[str, ...] = tuple(s for f in SORT_FIELDS for s in (f, f"-{f}"))
"""``sort`` values: a field, ascending, or ``-field``, descending; suppressed areas last.
``rank`` sorts by ``band`` first (``higher``, ``similar``, ``lower``), then by the exact rank."""

_CONFIG = ConfigDict(extra="forbid", frozen=True)

_AREA_EXAMPLE: dict[str, Any] = {
    "level": "ward",
    "code": "E05000026",
    "name": "Abbey",
    "parent_code": "E09000002",
    "suppressed": False,
    "suppression_reason": None,
    "population": 1450,
    "expected": 35,
    "expected_fewer_than": None,
    "rate_per_1000": 24.1,
    "mean_risk": 0.0241,
    "mean_risk_raw": 0.0253,
    "risk_low": 0.0198,
    "risk_high": 0.0289,
    "rank": 12,
    "decile": 1,
    "band": "higher",
    "change_mean_risk": 0.0012,
    "top_drivers": ["domestic_abuse", "persistent_absence", "child_in_need"],
    "comparison": {
        "parent": {
            "comparator_code": "E09000002",
            "comparator_name": "Barking and Dagenham",
            "comparator_value": 18.2,
            "verdict": "higher",
            "reason": None,
            "method": "exact Poisson 95% interval of the rate per 1,000, widened for disclosure "
            "control",
        },
        "city": {
            "comparator_code": "city",
            "comparator_name": "London",
            "comparator_value": 15.4,
            "verdict": "higher",
            "reason": None,
            "method": "exact Poisson 95% interval of the rate per 1,000, widened for disclosure "
            "control",
        },
        "rate_low": 16.6,
        "rate_high": 34.0,
    },
    "factors": [
        {
            "factor": "domestic_abuse",
            "count": 85,
            "count_suppressed": False,
            "prevalence": 0.059,
            "contribution": 0.0061,
        }
    ],
}


class AreaFactor(BaseModel):
    """One risk factor in one area: how common it is and how much it drives the area's risk."""

    model_config = _CONFIG

    factor: str
    count: int | None = Field(description="Young people with the factor (rounded); null if hidden.")
    count_suppressed: bool
    prevalence: float | None = Field(description="Share of the area's young people with it.")
    contribution: float | None = Field(
        description="Mean SHAP contribution to the risk (log-odds): how it drives the area."
    )


Verdict = Literal["higher", "similar", "lower", "not compared"]


class Comparison(BaseModel):
    """The area against one comparator (its parent area, or the city), decided by interval.

    The area's rate per 1,000 gets an exact 95% Poisson interval from its published expected
    number, widened by how far disclosure control may have moved that number. Higher: the
    whole interval lies above the comparator's published rate per 1,000. Lower: wholly below.
    Similar: the interval contains it (the difference may be chance).
    """

    model_config = _CONFIG

    comparator_code: str = Field(
        description="Code of the area compared with: the parent area, or the city.",
        examples=["E09000002"],
    )
    comparator_name: str = Field(
        description="Name of the area compared with.", examples=["Barking and Dagenham"]
    )
    comparator_value: float | None = Field(
        description="The comparator's published rate per 1,000 young people; null if withheld.",
        examples=[18.2],
    )
    verdict: Verdict = Field(
        description=(
            "higher / similar / lower than the comparator by the rule above; 'not compared' "
            "when this area's or the comparator's figures are withheld (see reason)."
        ),
        examples=["higher"],
    )
    reason: str | None = Field(
        default=None,
        description="Why it is not compared: 'withheld' (this area) or 'comparator withheld'.",
        examples=[None],
    )
    method: str = Field(
        description="How the verdict was decided, in short.",
        examples=[
            "exact Poisson 95% interval of the rate per 1,000, widened for disclosure control"
        ],
    )


class AreaComparison(BaseModel):
    """The area against its parent area (LSOA in ward, ward in borough, ...) and the city."""

    model_config = _CONFIG

    parent: Comparison | None = Field(
        description="Against the area it lies in; null for the city.", examples=[None]
    )
    city: Comparison | None = Field(
        description="Against the whole city; null for the city itself.", examples=[None]
    )
    rate_low: float | None = Field(
        default=None,
        description=(
            "Lower end of the 95% interval of the rate per 1,000 the verdicts use; null if "
            "withheld."
        ),
        examples=[16.6],
    )
    rate_high: float | None = Field(
        default=None,
        description="Upper end of that interval; null if withheld.",
        examples=[34.0],
    )


class AreaPublic(BaseModel):
    """An area's published figures; every figure is null where disclosure control hid it."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [_AREA_EXAMPLE]}
    )

    level: Level
    code: str
    name: str
    parent_code: str | None
    suppressed: bool
    suppression_reason: str | None
    population: int | None = Field(description="Young people in the cohort, rounded.")
    expected: float | None = Field(
        description=(
            "Expected number involved in violence, as disclosure control published it "
            "(perturbed under cellkey, rounded to the base under threshold, noised under dp)."
        )
    )
    expected_fewer_than: float | None = Field(
        default=None,
        description=(
            "Set where the published expected number is 0: the true expected number is below "
            "this, not 0. It is how far the release's disclosure method may move the figure: "
            "half the rounding base (threshold), the cell-key perturbation's largest error "
            "(cellkey), or the 95% noise interval's half-width (dp: below it with 95% "
            "confidence). Null otherwise."
        ),
    )
    rate_per_1000: float | None
    mean_risk: float | None = Field(description="Mean calibrated risk (shrunk toward the parent).")
    mean_risk_raw: float | None = Field(description="Mean risk before shrinkage.")
    risk_low: float | None = Field(description="Lower end of the interval of the mean risk.")
    risk_high: float | None = Field(description="Upper end of the interval of the mean risk.")
    rank: int | None = Field(
        description=(
            "1 = highest mean risk among published areas of its level (exact order of the "
            "rounded means, which may lie within the noise: see band)."
        )
    )
    decile: int | None = Field(description="1 = highest-risk tenth of its level.")
    band: Band | None = Field(
        description=(
            "The interval of the mean risk against the median mean risk of the level's "
            "published areas: wholly above it (higher), containing it (similar), wholly below "
            "it (lower). Areas of one band are not told apart; sort=rank sorts by band first."
        )
    )
    change_mean_risk: float | None = Field(description="Against the previous release.")
    top_drivers: list[str] = Field(description="Factors with the largest contribution, first.")
    factors: list[AreaFactor]
    comparison: AreaComparison | None = Field(
        default=None,
        description=(
            "The area against its parent area and the city: higher, similar or lower, decided "
            "by a 95% interval (see Comparison)."
        ),
    )


class AreaResponse(BaseModel):
    """``GET /v1/areas/{code}``."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "release_id": "20240601T090000Z-3f2a9c1b7d",
                    "model_name": "vru-risk",
                    "model_version": "3",
                    "as_of_date": "2024-04-01",
                    "area": _AREA_EXAMPLE,
                }
            ]
        },
    )

    release_id: str
    model_name: str
    model_version: str
    as_of_date: str
    area: AreaPublic


class AreaList(BaseModel):
    """``GET /v1/areas``: one page of areas in the requested order."""

    model_config = _CONFIG

    release_id: str
    model_name: str
    model_version: str
    as_of_date: str
    level: Level
    parent: str | None
    sort: str
    total: int = Field(description="Areas matching, over all pages.")
    limit: int
    offset: int
    items: list[AreaPublic]


class HistoryPoint(BaseModel):
    """One area in one release."""

    model_config = _CONFIG

    release_id: str
    created: str
    as_of_date: str
    model_version: str
    suppressed: bool
    population: int | None
    mean_risk: float | None
    risk_low: float | None
    risk_high: float | None
    rate_per_1000: float | None
    rank: int | None
    decile: int | None


class AreaHistory(BaseModel):
    """``GET /v1/areas/{code}/history``: the area in every verified release, oldest first."""

    model_config = _CONFIG

    code: str
    level: Level
    name: str
    points: list[HistoryPoint]


class AggregateRequest(BaseModel):
    """Areas to combine into one neighbourhood (no area may lie inside another)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"codes": ["E05000026", "E05000027"]}]},
    )

    codes: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        min_length=1,
        max_length=1000,
        json_schema_extra={"uniqueItems": True},
        description="Distinct area codes of any levels; none may lie within another.",
    )


class AggregateFactor(BaseModel):
    """A factor over the combined areas; null if any area's figure is hidden."""

    model_config = _CONFIG

    factor: str
    prevalence: float | None
    contribution: float | None


class AggregateResponse(BaseModel):
    """``POST /v1/aggregate``: population-weighted combination of published figures."""

    model_config = _CONFIG

    release_id: str
    model_name: str
    model_version: str
    as_of_date: str
    codes: list[str]
    areas: int
    population: int
    expected: float = Field(
        description=(
            "Estimated expected number: the combined mean risk times the population, within "
            "[expected_low, expected_high]."
        )
    )
    expected_low: float = Field(
        description=(
            "The least the areas' protected expected numbers allow (each at least 0): each "
            "published figure less how far the disclosure method may have moved it (half the "
            "rounding base under threshold, the cell-key perturbation's largest error under "
            "cellkey; under dp the 95% interval's half-width, so a 95% interval)."
        )
    )
    expected_high: float = Field(
        description=(
            "The most the areas' protected expected numbers allow: each published figure plus "
            "the same bound as expected_low (under dp, the top of a 95% interval)."
        )
    )
    rate_per_1000: float
    mean_risk: float
    risk_low: float
    risk_high: float
    top_drivers: list[str]
    factors: list[AggregateFactor]
    method: str


class ReleaseSummary(BaseModel):
    """One verified release."""

    model_config = _CONFIG

    release_id: str
    created: str
    environment: str
    model_name: str
    model_version: str
    as_of_date: str
    previous_release_id: str | None
    current: bool
    areas: int


class ReleaseList(BaseModel):
    """``GET /v1/releases``: verified releases, newest first."""

    model_config = _CONFIG

    current_release_id: str
    releases: list[ReleaseSummary]


class ReleaseDetail(BaseModel):
    """``GET /v1/releases/{id}``: the manifest (with the board's signed approval, verified)."""

    model_config = _CONFIG

    release_id: str
    current: bool
    verified: bool = Field(description="The approval's signature verified with the board key.")
    manifest: ReleaseManifest
    model_card_summary: dict[str, Any]


class Health(BaseModel):
    """``/healthz``: the process answers."""

    model_config = _CONFIG

    status: Literal["ok"]


class Ready(BaseModel):
    """``/readyz``: a verified release is loaded."""

    model_config = _CONFIG

    status: Literal["ready"]
    release_id: str
    warning: str | None = None
    """Set while the release's board approval has lapsed but is within its grace period."""


class ReloadResult(BaseModel):
    """``POST /v1/admin/reload``."""

    model_config = _CONFIG

    release_id: str
    previous_release_id: str | None
    changed: bool
