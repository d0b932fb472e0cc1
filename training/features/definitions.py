"""Every feature, defined once: name, meaning, agency, window, and the SQL that computes it.

A :class:`FeatureSpec` is data; :func:`feature_sql` turns it into one aggregate expression
over the ``events`` of a cohort member strictly before the as-of date (``c.as_of_date``).
The model card reads these definitions; the feature policy may prohibit any of them or cap
how long an "ever" feature remembers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["SENSITIVE", "FeatureSpec", "all_features", "feature_sql"]

Aggregate = Literal["count", "flag", "days_since", "mean"]
Source = Literal["health", "education", "social_care", "police", "area", "person"]

#: Kept on every row for audits; model inputs only where the policy allows them.
SENSITIVE: tuple[str, ...] = ("sex", "ethnicity")


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


# (stem, description, source, condition on events e, aggregates, windowed)
_BASE: list[tuple[str, str, Source, str, tuple[Aggregate, ...], bool]] = [
    (
        "injury_attendances",
        "A&E attendances or admissions for an accidental injury",
        "health",
        "e.kind = 'accidental_injury'",
        ("count",),
        True,
    ),
    (
        "assault_injuries",
        "A&E attendances or admissions for an assault or a sharp-object injury",
        "health",
        "e.kind IN ('assault', 'sharp_object_injury')",
        ("count",),
        True,
    ),
    (
        "self_harm",
        "A&E attendances for self-harm",
        "health",
        "e.kind = 'self_harm'",
        ("flag",),
        False,
    ),
    (
        "hospital_admissions",
        "Hospital admissions (any cause)",
        "health",
        "e.kind = 'admission'",
        ("count",),
        True,
    ),
    (
        "persistent_absence",
        "A school year with 10% or more sessions missed",
        "education",
        "e.kind = 'persistent_absence'",
        ("flag",),
        True,
    ),
    (
        "absence_rate",
        "Share of school sessions missed (mean of school years)",
        "education",
        "e.kind = 'absence_rate'",
        ("mean",),
        True,
    ),
    (
        "suspensions",
        "Suspensions from school",
        "education",
        "e.kind = 'suspension'",
        ("count",),
        True,
    ),
    (
        "permanent_exclusion",
        "A permanent exclusion from school",
        "education",
        "e.kind = 'permanent_exclusion'",
        ("flag",),
        False,
    ),
    (
        "sen_support",
        "Special educational needs support recorded",
        "education",
        "e.kind = 'sen_support'",
        ("flag",),
        True,
    ),
    (
        "ehcp",
        "An education, health and care plan recorded",
        "education",
        "e.kind = 'ehcp'",
        ("flag",),
        True,
    ),
    (
        "free_school_meals",
        "Eligible for free school meals",
        "education",
        "e.kind = 'fsm'",
        ("flag",),
        True,
    ),
    (
        "social_care_referrals",
        "Referrals to children's social care",
        "social_care",
        "e.kind IN ('referral', 'referral_nfa')",
        ("count",),
        True,
    ),
    (
        "child_in_need",
        "A child-in-need plan",
        "social_care",
        "e.kind = 'cin_plan'",
        ("flag",),
        True,
    ),
    (
        "child_protection",
        "A child protection plan",
        "social_care",
        "e.kind = 'cp_plan'",
        ("flag",),
        True,
    ),
    (
        "looked_after",
        "A period looked after by the local authority",
        "social_care",
        "e.kind = 'looked_after'",
        ("flag",),
        True,
    ),
    (
        "missing_episodes",
        "Missing-from-home or care episodes",
        "social_care",
        "e.kind = 'missing_episode'",
        ("count",),
        True,
    ),
    (
        "household_domestic_abuse",
        "Domestic abuse identified at a social care assessment",
        "social_care",
        "e.kind = 'factor_domestic_abuse'",
        ("flag",),
        False,
    ),
    (
        "parental_mental_health",
        "Parental mental ill-health identified at a social care assessment",
        "social_care",
        "e.kind = 'factor_parental_mental_health'",
        ("flag",),
        False,
    ),
    (
        "parental_substance_misuse",
        "Parental substance misuse identified at a social care assessment",
        "social_care",
        "e.kind = 'factor_parental_substance_misuse'",
        ("flag",),
        False,
    ),
    (
        "parent_in_custody",
        "A parent in custody identified at a social care assessment",
        "social_care",
        "e.kind = 'factor_parent_in_custody'",
        ("flag",),
        False,
    ),
    (
        "domestic_abuse_incidents",
        "Police domestic abuse incidents at home with the child present",
        "police",
        "e.kind = 'da_incident'",
        ("count",),
        True,
    ),
    (
        "offences",
        "Offences recorded with the young person as suspect",
        "police",
        "e.kind LIKE 'suspect:%'",
        ("count",),
        True,
    ),
    (
        "violent_offences",
        "Violence, weapon or robbery offences recorded as suspect",
        "police",
        "e.kind IN ('suspect:violence_against_person', 'suspect:possession_of_weapons', 'suspect:robbery')",
        ("flag",),
        False,
    ),
    (
        "crime_victim",
        "Recorded by the police as the victim of a crime",
        "police",
        "e.kind LIKE 'victim:%'",
        ("flag",),
        False,
    ),
]
_RECENCY: list[tuple[str, str, Source, str]] = [
    ("health", "Days since the last A&E attendance or admission", "health", "e.source = 'health'"),
    (
        "social_care",
        "Days since the last social care event",
        "social_care",
        "e.source = 'social_care'",
    ),
    ("police", "Days since the last police record", "police", "e.source = 'police'"),
]


def all_features(windows_months: list[int]) -> list[FeatureSpec]:
    """Every feature for the configured windows (plus 'ever'), in a stable order."""
    specs: list[FeatureSpec] = []
    for stem, description, source, condition, aggregates, windowed in _BASE:
        windows: list[int | None] = [*sorted(windows_months), None] if windowed else [None]
        for aggregate in aggregates:
            for window in windows:
                suffix = "ever" if window is None else f"{window}m"
                specs.append(
                    FeatureSpec(
                        f"{stem}_{suffix}", description, source, condition, aggregate, window
                    )
                )
    for stem, description, source, condition in _RECENCY:
        specs.append(
            FeatureSpec(f"days_since_{stem}", description, source, condition, "days_since", None)
        )
    return specs


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
