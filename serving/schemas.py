"""The public shapes of the API: what a response may contain, and nothing about a person.

These models document the API (OpenAPI) and are what each response is serialised from; the
hot routes serialise them once, when a release is loaded (:mod:`serving.releases`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from governance.contracts.levels import Level
from governance.contracts.release_schema import Band, ReleaseManifest
from serving.definitions import AGES, OUTCOME

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

_YOUNG = f"young people aged {AGES[0]} to {AGES[1]} known to local services"
"""Who every figure counts (see :mod:`serving.definitions`)."""
_RID = "20240601T090000Z-3f2a9c1b7d"
_METHOD = "exact Poisson 95% interval of the rate per 1,000, widened for disclosure control"


def _release_id() -> Any:
    return Field(
        description="The release the figures come from (GET /v1/releases lists them).",
        examples=[_RID],
    )


def _model_name() -> Any:
    return Field(description="The registered model that scored the release.", examples=["vru-risk"])


def _model_version() -> Any:
    return Field(description="The model's version, approved by the ethics board.", examples=["3"])


def _as_of_date() -> Any:
    return Field(
        description="The date the young people were counted and scored on; the outcome period "
        "starts after it.",
        examples=["2024-04-01"],
    )


# the examples are codes the demo city has (London's boroughs), so /docs examples work on it

_AREA_EXAMPLE: dict[str, Any] = {
    "level": "borough",
    "code": "E09000002",
    "name": "Barking and Dagenham",
    "parent_code": "EA",
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
            "comparator_code": "EA",
            "comparator_name": "East Area",
            "comparator_value": 12.4,
            "verdict": "higher",
            "reason": None,
            "method": _METHOD,
        },
        "city": {
            "comparator_code": "city",
            "comparator_name": "London",
            "comparator_value": 15.4,
            "verdict": "similar",
            "reason": None,
            "method": _METHOD,
        },
        "rate_low": 15.38,
        "rate_high": 35.57,
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

    factor: str = Field(
        description="The risk factor's name (underscores for spaces).",
        examples=["persistent_absence"],
    )
    count: int | None = Field(
        description="How many of the area's young people have the factor, as protected for "
        "publication (rounded or slightly moved); null if withheld.",
        examples=[85],
    )
    count_suppressed: bool = Field(
        description="True when this count is withheld to protect privacy.", examples=[False]
    )
    prevalence: float | None = Field(
        description="Share of the area's young people with the factor (0.059 is 5.9%); null if "
        "withheld.",
        examples=[0.059],
    )
    contribution: float | None = Field(
        description="How much the factor raises (above 0) or lowers (below 0) the area's risk "
        "on average, on the model's own scale (log-odds, from SHAP values): for comparing "
        "factors, not a cause. Null if withheld.",
        examples=[0.0061],
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
        description="Code of the area compared with: the area it lies in, or the city.",
        examples=["EA"],
    )
    comparator_name: str = Field(
        description="Name of the area compared with.", examples=["East Area"]
    )
    comparator_value: float | None = Field(
        description="The comparator's published rate per 1,000 young people; null if withheld.",
        examples=[12.4],
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
        examples=[_METHOD],
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
        examples=[15.38],
    )
    rate_high: float | None = Field(
        default=None,
        description="Upper end of that interval; null if withheld.",
        examples=[35.57],
    )


class AreaPublic(BaseModel):
    """An area's published figures; every figure is null where disclosure control hid it."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [_AREA_EXAMPLE]}
    )

    level: Level = Field(
        description="The kind of area: lsoa, ward, borough, bcu (police basic command unit) or "
        "city.",
        examples=["borough"],
    )
    code: str = Field(
        description="The area's code (ONS code where there is one).", examples=["E09000002"]
    )
    name: str = Field(description="The area's name.", examples=["Barking and Dagenham"])
    parent_code: str | None = Field(
        description="Code of the area it lies in; null for the city.", examples=["EA"]
    )
    suppressed: bool = Field(
        description="True when the area's figures are withheld to protect privacy: every "
        "figure is then null, and nothing is estimated in its place.",
        examples=[False],
    )
    suppression_reason: str | None = Field(
        description="Why the figures are withheld; null when they are published.", examples=[None]
    )
    population: int | None = Field(
        description=f"How many {_YOUNG} live in the area (not the whole population of that "
        "age: the ONS mid-year estimate counts everyone), as protected for publication.",
        examples=[1450],
    )
    expected: float | None = Field(
        description=(
            f"How many of the area's young people the model expects to be {OUTCOME}: the sum "
            "of their chances, an estimate and not a count of incidents. Protected for "
            "publication: rounded (threshold method), moved slightly (cell-key method) or "
            "given random noise (dp)."
        ),
        examples=[35],
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
        examples=[None],
    )
    rate_per_1000: float | None = Field(
        description=f"The expected number per 1,000 of the area's {_YOUNG} (1,000 times "
        "expected over population, from the published figures), for comparing areas of "
        "different sizes.",
        examples=[24.1],
    )
    mean_risk: float | None = Field(
        description=f"The average chance, among the area's young people, of {OUTCOME} "
        "(0.0241 is 2.41%). For wards and LSOAs pulled a little toward the area they lie in, "
        "most for small areas, so chance in a small area does not stand out on its own.",
        examples=[0.0241],
    )
    mean_risk_raw: float | None = Field(
        description="The same average before it is pulled toward the area the area lies in "
        "(expected over population).",
        examples=[0.0253],
    )
    risk_low: float | None = Field(
        description="Lower end of the 95% interval of the mean risk: the range the figure "
        "would lie in 95 times in 100 given how many young people the area has. It covers "
        "chance, not the model's own errors.",
        examples=[0.0198],
    )
    risk_high: float | None = Field(
        description="Upper end of the 95% interval of the mean risk.", examples=[0.0289]
    )
    rank: int | None = Field(
        description=(
            "1 = highest mean risk among published areas of its level (exact order of the "
            "rounded means, which may lie within the noise: see band)."
        ),
        examples=[12],
    )
    decile: int | None = Field(
        description="1 = among the highest-risk tenth of the areas of its level; 10 = the lowest.",
        examples=[1],
    )
    band: Band | None = Field(
        description=(
            "The interval of the mean risk against the median mean risk of the level's "
            "published areas: wholly above it (higher), containing it (similar), wholly below "
            "it (lower). Areas of one band are not told apart; sort=rank sorts by band first."
        ),
        examples=["higher"],
    )
    change_mean_risk: float | None = Field(
        description="The mean risk minus the previous release's for the same area (0.0012 is "
        "1.2 in 1,000 higher); null for a new or withheld area.",
        examples=[0.0012],
    )
    top_drivers: list[str] = Field(
        description="The risk factors that raise the area's risk most, largest first.",
        examples=[["domestic_abuse", "persistent_absence"]],
    )
    factors: list[AreaFactor] = Field(
        description="Every risk factor in the area: how common it is and how much it drives "
        "the area's risk."
    )
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

    release_id: str = _release_id()
    model_name: str = _model_name()
    model_version: str = _model_version()
    as_of_date: str = _as_of_date()
    area: AreaPublic = Field(description="The area's published figures.")


class AreaList(BaseModel):
    """``GET /v1/areas``: one page of areas in the requested order."""

    model_config = _CONFIG

    release_id: str = _release_id()
    model_name: str = _model_name()
    model_version: str = _model_version()
    as_of_date: str = _as_of_date()
    level: Level = Field(description="The level of the areas listed.", examples=["ward"])
    parent: str | None = Field(
        description="The area they lie in, as asked for; null: the whole city.",
        examples=["E09000002"],
    )
    sort: str = Field(description="The order of the items, as asked for.", examples=["rank"])
    total: int = Field(description="Areas matching, over all pages.", examples=[17])
    limit: int = Field(description="Most items on this page.", examples=[100])
    offset: int = Field(description="Items skipped before this page.", examples=[0])
    items: list[AreaPublic] = Field(description="This page's areas, in the order asked for.")


class HistoryPoint(BaseModel):
    """One area in one release (the figures mean what they mean in AreaPublic)."""

    model_config = _CONFIG

    release_id: str = _release_id()
    created: str = Field(
        description="When the release was made (UTC).", examples=["2024-06-01T09:00:00+00:00"]
    )
    as_of_date: str = _as_of_date()
    model_version: str = _model_version()
    suppressed: bool = Field(
        description="True when the area's figures were withheld in that release.",
        examples=[False],
    )
    population: int | None = Field(
        description=f"{_YOUNG[0].upper()}{_YOUNG[1:]} living in the area, as published.",
        examples=[1450],
    )
    mean_risk: float | None = Field(
        description=f"The average chance of {OUTCOME}.", examples=[0.0241]
    )
    risk_low: float | None = Field(
        description="Lower end of the mean risk's 95% interval.", examples=[0.0198]
    )
    risk_high: float | None = Field(
        description="Upper end of the mean risk's 95% interval.", examples=[0.0289]
    )
    rate_per_1000: float | None = Field(
        description="Expected number per 1,000 young people.", examples=[24.1]
    )
    rank: int | None = Field(description="1 = highest mean risk of its level.", examples=[12])
    decile: int | None = Field(description="1 = highest-risk tenth of its level.", examples=[1])


class AreaHistory(BaseModel):
    """``GET /v1/areas/{code}/history``: the area in every verified release, oldest first."""

    model_config = _CONFIG

    code: str = Field(description="The area's code.", examples=["E09000002"])
    level: Level = Field(description="The area's level.", examples=["borough"])
    name: str = Field(description="The area's name.", examples=["Barking and Dagenham"])
    points: list[HistoryPoint] = Field(description="One point per verified release, oldest first.")


class AggregateRequest(BaseModel):
    """Areas to combine into one neighbourhood (no area may lie inside another)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"codes": ["E09000002", "E09000003"]}]},
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

    factor: str = Field(description="The risk factor's name.", examples=["persistent_absence"])
    prevalence: float | None = Field(
        description="Share of the combined areas' young people with the factor.",
        examples=[0.061],
    )
    contribution: float | None = Field(
        description="How much it raises (above 0) or lowers the combined risk on average "
        "(log-odds).",
        examples=[0.0058],
    )


class AggregateResponse(BaseModel):
    """``POST /v1/aggregate``: population-weighted combination of published figures."""

    model_config = _CONFIG

    release_id: str = _release_id()
    model_name: str = _model_name()
    model_version: str = _model_version()
    as_of_date: str = _as_of_date()
    codes: list[str] = Field(
        description="The areas combined, as asked for.", examples=[["E09000002", "E09000003"]]
    )
    areas: int = Field(description="How many areas were combined.", examples=[2])
    population: int = Field(
        description=f"{_YOUNG[0].upper()}{_YOUNG[1:]} in the combined areas (the sum of the "
        "published figures).",
        examples=[41230],
    )
    expected: float = Field(
        description=(
            "Estimated expected number: the combined mean risk times the population, within "
            "[expected_low, expected_high]."
        ),
        examples=[712.4],
    )
    expected_low: float = Field(
        description=(
            "The least the areas' protected expected numbers allow (each at least 0): each "
            "published figure less how far the disclosure method may have moved it (half the "
            "rounding base under threshold, the cell-key perturbation's largest error under "
            "cellkey; under dp the 95% interval's half-width, so a 95% interval)."
        ),
        examples=[690.0],
    )
    expected_high: float = Field(
        description=(
            "The most the areas' protected expected numbers allow: each published figure plus "
            "the same bound as expected_low (under dp, the top of a 95% interval)."
        ),
        examples=[735.0],
    )
    rate_per_1000: float = Field(
        description="The expected number per 1,000 young people of the combined areas.",
        examples=[17.3],
    )
    mean_risk: float = Field(
        description=f"The average chance of {OUTCOME}, over the combined areas' young people.",
        examples=[0.0173],
    )
    risk_low: float = Field(description="Lower end of its 95% interval.", examples=[0.0161])
    risk_high: float = Field(description="Upper end of its 95% interval.", examples=[0.0185])
    top_drivers: list[str] = Field(
        description="The factors that raise the combined risk most, largest first.",
        examples=[["persistent_absence", "domestic_abuse"]],
    )
    factors: list[AggregateFactor] = Field(description="Every risk factor over the combined areas.")
    method: str = Field(
        description="How the figures were combined, in words.",
        examples=["Sum of the areas' published populations; population-weighted means ..."],
    )


class ReleaseSummary(BaseModel):
    """One verified release."""

    model_config = _CONFIG

    release_id: str = _release_id()
    created: str = Field(
        description="When the release was made (UTC).", examples=["2024-06-01T09:00:00+00:00"]
    )
    environment: str = Field(
        description="Where it was made: production, or demo for made-up data.",
        examples=["production"],
    )
    model_name: str = _model_name()
    model_version: str = _model_version()
    as_of_date: str = _as_of_date()
    previous_release_id: str | None = Field(
        description="The release before it, which the change figures compare with.",
        examples=[None],
    )
    current: bool = Field(description="True for the release being served.", examples=[True])
    areas: int = Field(description="Areas in the release, at every level.", examples=[5855])


class ReleaseList(BaseModel):
    """``GET /v1/releases``: verified releases, newest first."""

    model_config = _CONFIG

    current_release_id: str = Field(description="The release being served.", examples=[_RID])
    releases: list[ReleaseSummary] = Field(description="Verified releases, newest first.")


class ReleaseDetail(BaseModel):
    """``GET /v1/releases/{id}``: the manifest (with the board's signed approval, verified)."""

    model_config = _CONFIG

    release_id: str = _release_id()
    current: bool = Field(description="True for the release being served.", examples=[True])
    verified: bool = Field(
        description="The ethics board's signed approval checked out with the board's key.",
        examples=[True],
    )
    manifest: ReleaseManifest = Field(
        description="What the release holds and how it was made: its files' fingerprints, "
        "the disclosure rules, the methods of each figure and the board's approval."
    )
    model_card_summary: dict[str, Any] = Field(
        description="Headline figures of the model's audit (how well it predicts, on data it "
        "was not trained on).",
        examples=[{"model": "vru-risk", "version": "3", "test_roc_auc": 0.78}],
    )


class Health(BaseModel):
    """``/healthz``: the process answers."""

    model_config = _CONFIG

    status: Literal["ok"] = Field(description="Always ok: the process answers.", examples=["ok"])


class Ready(BaseModel):
    """``/readyz``: a verified release is loaded."""

    model_config = _CONFIG

    status: Literal["ready"] = Field(
        description="Always ready: a verified release is served.", examples=["ready"]
    )
    release_id: str = Field(description="The release being served.", examples=[_RID])
    warning: str | None = Field(
        default=None,
        description="Set while the board's approval has lapsed but is within its grace period.",
        examples=[None],
    )


class ReloadResult(BaseModel):
    """``POST /v1/admin/reload``."""

    model_config = _CONFIG

    release_id: str = Field(description="The release now served.", examples=[_RID])
    previous_release_id: str | None = Field(
        description="The release served before the reload.", examples=[_RID]
    )
    changed: bool = Field(
        description="True when the reload swapped in another release.", examples=[False]
    )
