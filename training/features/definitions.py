"""Every feature, defined once: name, meaning, agency, window, and the SQL that computes it.

A :class:`FeatureSpec` is data; :func:`feature_sql` turns it into one aggregate expression
over the ``events`` of a cohort member strictly before the as-of date (``c.as_of_date``).
The model card reads these definitions; the feature policy may prohibit any of them or cap
how long an "ever" feature remembers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from training.features.config import PROTECTED

__all__ = ["SENSITIVE", "EventFeatures", "FeatureSpec", "Recency", "all_features", "feature_sql"]

Aggregate = Literal["count", "flag", "days_since", "mean"]
Source = Literal["health", "education", "social_care", "police", "area", "person"]

#: Kept on every row for audits; model inputs only where the policy allows them.
SENSITIVE: tuple[str, ...] = PROTECTED


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: ``condition`` selects events (SQL on ``e``), ``aggregate`` summarises them."""

    name: str
    description: str
    source: Source
    condition: str
    aggregate: Aggregate
    window_months: int | None  # None: ever (all history before the as-of date)

    def as_dict(self) -> dict[str, Any]:
        """For the model card and the features manifest."""
        return asdict(self)


@dataclass(frozen=True)
class EventFeatures:
    """A family of event features: one :class:`FeatureSpec` per aggregate and window.

    ``windowed`` families get one feature per configured window and one for all history
    (``_ever``); the others get the ``_ever`` feature only.
    """

    stem: str
    description: str
    source: Source
    condition: str  # SQL on the events ``e``
    aggregates: tuple[Aggregate, ...]
    windowed: bool

    def specs(self, windows_months: list[int]) -> list[FeatureSpec]:
        """The family's features: aggregate by aggregate, shortest window first, then ever."""
        windows: list[int | None] = [*sorted(windows_months), None] if self.windowed else [None]
        return [
            FeatureSpec(
                name=f"{self.stem}_{'ever' if window is None else f'{window}m'}",
                description=self.description,
                source=self.source,
                condition=self.condition,
                aggregate=aggregate,
                window_months=window,
            )
            for aggregate in self.aggregates
            for window in windows
        ]


@dataclass(frozen=True)
class Recency:
    """Days since a person's last event of a kind (``days_since_<stem>``), over all history."""

    stem: str
    description: str
    source: Source
    condition: str  # SQL on the events ``e``

    def spec(self) -> FeatureSpec:
        """The one feature."""
        return FeatureSpec(
            name=f"days_since_{self.stem}",
            description=self.description,
            source=self.source,
            condition=self.condition,
            aggregate="days_since",
            window_months=None,
        )


#: Every event feature family, in the order the features table and the manifest list them.
_EVENT_FEATURES: tuple[EventFeatures, ...] = (
    EventFeatures(
        stem="injury_attendances",
        description="A&E attendances or admissions for an accidental injury",
        source="health",
        condition="e.kind = 'accidental_injury'",
        aggregates=("count",),
        windowed=True,
    ),
    EventFeatures(
        stem="assault_injuries",
        description="A&E attendances or admissions for an assault or a sharp-object injury",
        source="health",
        condition="e.kind IN ('assault', 'sharp_object_injury')",
        aggregates=("count",),
        windowed=True,
    ),
    EventFeatures(
        stem="self_harm",
        description="A&E attendances for self-harm",
        source="health",
        condition="e.kind = 'self_harm'",
        aggregates=("flag",),
        windowed=False,
    ),
    EventFeatures(
        stem="hospital_admissions",
        description="Hospital admissions (any cause)",
        source="health",
        condition="e.kind = 'admission'",
        aggregates=("count",),
        windowed=True,
    ),
    EventFeatures(
        stem="persistent_absence",
        description="A school year with 10% or more sessions missed",
        source="education",
        condition="e.kind = 'persistent_absence'",
        aggregates=("flag",),
        windowed=True,
    ),
    EventFeatures(
        stem="absence_rate",
        description="Share of school sessions missed (mean of school years)",
        source="education",
        condition="e.kind = 'absence_rate'",
        aggregates=("mean",),
        windowed=True,
    ),
    EventFeatures(
        stem="suspensions",
        description="Suspensions from school",
        source="education",
        condition="e.kind = 'suspension'",
        aggregates=("count",),
        windowed=True,
    ),
    EventFeatures(
        stem="permanent_exclusion",
        description="A permanent exclusion from school",
        source="education",
        condition="e.kind = 'permanent_exclusion'",
        aggregates=("flag",),
        windowed=False,
    ),
    EventFeatures(
        stem="sen_support",
        description="Special educational needs support recorded",
        source="education",
        condition="e.kind = 'sen_support'",
        aggregates=("flag",),
        windowed=True,
    ),
    EventFeatures(
        stem="ehcp",
        description="An education, health and care plan recorded",
        source="education",
        condition="e.kind = 'ehcp'",
        aggregates=("flag",),
        windowed=True,
    ),
    EventFeatures(
        stem="free_school_meals",
        description="Eligible for free school meals",
        source="education",
        condition="e.kind = 'fsm'",
        aggregates=("flag",),
        windowed=True,
    ),
    EventFeatures(
        stem="social_care_referrals",
        description="Referrals to children's social care",
        source="social_care",
        condition="e.kind IN ('referral', 'referral_nfa')",
        aggregates=("count",),
        windowed=True,
    ),
    EventFeatures(
        stem="child_in_need",
        description="A child-in-need plan",
        source="social_care",
        condition="e.kind = 'cin_plan'",
        aggregates=("flag",),
        windowed=True,
    ),
    EventFeatures(
        stem="child_protection",
        description="A child protection plan",
        source="social_care",
        condition="e.kind = 'cp_plan'",
        aggregates=("flag",),
        windowed=True,
    ),
    EventFeatures(
        stem="looked_after",
        description="A period looked after by the local authority",
        source="social_care",
        condition="e.kind = 'looked_after'",
        aggregates=("flag",),
        windowed=True,
    ),
    EventFeatures(
        stem="missing_episodes",
        description="Missing-from-home or care episodes",
        source="social_care",
        condition="e.kind = 'missing_episode'",
        aggregates=("count",),
        windowed=True,
    ),
    EventFeatures(
        stem="household_domestic_abuse",
        description="Domestic abuse identified at a social care assessment",
        source="social_care",
        condition="e.kind = 'factor_domestic_abuse'",
        aggregates=("flag",),
        windowed=False,
    ),
    EventFeatures(
        stem="parental_mental_health",
        description="Parental mental ill-health identified at a social care assessment",
        source="social_care",
        condition="e.kind = 'factor_parental_mental_health'",
        aggregates=("flag",),
        windowed=False,
    ),
    EventFeatures(
        stem="parental_substance_misuse",
        description="Parental substance misuse identified at a social care assessment",
        source="social_care",
        condition="e.kind = 'factor_parental_substance_misuse'",
        aggregates=("flag",),
        windowed=False,
    ),
    EventFeatures(
        stem="parent_in_custody",
        description="A parent in custody identified at a social care assessment",
        source="social_care",
        condition="e.kind = 'factor_parent_in_custody'",
        aggregates=("flag",),
        windowed=False,
    ),
    EventFeatures(
        stem="domestic_abuse_incidents",
        description="Police domestic abuse incidents at home with the child present",
        source="police",
        condition="e.kind = 'da_incident'",
        aggregates=("count",),
        windowed=True,
    ),
    EventFeatures(
        stem="offences",
        description="Offences recorded with the young person as suspect",
        source="police",
        condition="e.kind LIKE 'suspect:%'",
        aggregates=("count",),
        windowed=True,
    ),
    EventFeatures(
        stem="violent_offences",
        description="Violence, weapon or robbery offences recorded as suspect",
        source="police",
        condition="e.kind IN ('suspect:violence_against_person', 'suspect:possession_of_weapons', 'suspect:robbery')",
        aggregates=("flag",),
        windowed=False,
    ),
    EventFeatures(
        stem="crime_victim",
        description="Recorded by the police as the victim of a crime",
        source="police",
        condition="e.kind LIKE 'victim:%'",
        aggregates=("flag",),
        windowed=False,
    ),
)
#: The recency features, after the event features.
_RECENCY: tuple[Recency, ...] = (
    Recency(
        stem="health",
        description="Days since the last A&E attendance or admission",
        source="health",
        condition="e.source = 'health'",
    ),
    Recency(
        stem="social_care",
        description="Days since the last social care event",
        source="social_care",
        condition="e.source = 'social_care'",
    ),
    Recency(
        stem="police",
        description="Days since the last police record",
        source="police",
        condition="e.source = 'police'",
    ),
)


def all_features(windows_months: list[int]) -> list[FeatureSpec]:
    """Every feature for the configured windows (plus 'ever'), in a stable order."""
    events = [spec for family in _EVENT_FEATURES for spec in family.specs(windows_months)]
    return [*events, *(recency.spec() for recency in _RECENCY)]


def feature_sql(spec: FeatureSpec, expires_after_years: int | None = None) -> str:
    """The aggregate expression for one feature (events are already before the as-of date)."""
    window = []
    if spec.window_months is not None:
        window.append(f"e.event_date >= c.as_of_date - INTERVAL {spec.window_months} MONTH")
    elif expires_after_years is not None:
        window.append(f"e.event_date >= c.as_of_date - INTERVAL {expires_after_years} YEAR")
    where = " AND ".join([f"({spec.condition})", *window])
    if spec.aggregate == "count":
        return f"count(*) FILTER (WHERE {where})"
    if spec.aggregate == "flag":
        return f"CAST(count(*) FILTER (WHERE {where}) > 0 AS INTEGER)"
    if spec.aggregate == "mean":
        return f"avg(e.value) FILTER (WHERE {where})"
    return f"date_diff('day', max(e.event_date) FILTER (WHERE {where}), c.as_of_date)"
