"""What the published figures mean, in plain words: one text for the API schema and the pages.

The facts here are the model's, not the server's choice: the ages of the young people scored
and the period the outcome is counted over are the pipeline's ``features.min_age``,
``features.max_age`` and ``features.label_months`` (``tests/serving/test_plain_words.py``
fails if they part company). Everything a planner reads about a figure comes from here, so the
API and the pages cannot say different things.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AGES",
    "DEFINITIONS",
    "OUTCOME",
    "OUTCOME_MONTHS",
    "Definition",
]

AGES = (10, 17)
"""The youngest and oldest age scored, at the release's as-of date."""
OUTCOME_MONTHS = 24
"""The outcome is counted over this many months after the as-of date."""

OUTCOME = (
    f"being recorded by the police or a hospital as a victim or suspected perpetrator of "
    f"serious violence in the next {OUTCOME_MONTHS} months (after the release's as-of date)"
)
"""What every risk, rate and expected number is the chance or count of."""


@dataclass(frozen=True)
class Definition:
    """One term as the pages and the API explain it."""

    term: str
    text: str


DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "Young people",
        f"Young people aged {AGES[0]} to {AGES[1]} on the as-of date who are known to local "
        "services (children's social care, schools, youth justice, police or health records "
        "linked for this purpose) and live in the area. This is not everyone of that age who "
        "lives there, which the ONS mid-year estimate counts; for London's real areas the "
        "area page gives that estimate beside the release's figure.",
    ),
    Definition(
        "Risk (mean risk)",
        f"The average chance, among the area's young people, of {OUTCOME}. It comes from a "
        "model checked so that its chances match what was recorded in past years. For wards "
        "and LSOAs it is pulled a little toward the area they lie in, most for small areas, "
        "so one unusual year in a small area does not stand out on its own.",
    ),
    Definition(
        "Expected number",
        f"How many of the area's young people the model expects to be {OUTCOME}: the sum of "
        "their chances. It is an estimate, not a count of recorded incidents.",
    ),
    Definition(
        "Rate per 1,000",
        "The expected number per 1,000 of the area's young people (young people known to "
        "services, as above), so areas of different sizes can be compared.",
    ),
    Definition(
        "95% interval",
        "The range the area's figure would be expected to lie in, given how many young people "
        "it has: 95 times in 100 such a range holds the true value. A wide range means few "
        "young people and an uncertain figure. It covers chance, not the model's own errors "
        "(the model's audit measures those).",
    ),
    Definition(
        "Higher / similar / lower",
        "Against the area it lies in, or the whole city: higher when the whole 95% interval "
        "of the area's rate per 1,000 lies above the other area's rate, lower when wholly "
        "below, similar when the interval includes it (the difference may be chance). This "
        "interval is how far a count the size of the area's expected number can move by "
        "chance (exact Poisson, widened for the protection of published figures), so it is "
        "wider than the interval of the mean risk and wide for small areas. "
        "Against other areas of the same level, the band does the same with the middle "
        "(median) area's risk.",
    ),
    Definition(
        "Risk factors and drivers",
        "A risk factor's share is the share of the area's young people with it (for example "
        "persistent absence from school). Its contribution says how much it raises (above 0) "
        "or lowers (below 0) the area's risk on average, on the model's own scale (log-odds), "
        "so factors can be compared with each other. The drivers are the factors that raise "
        "the area's risk most. A factor raising risk is not a cause.",
    ),
    Definition(
        "Suppressed (withheld)",
        "Figures withheld to protect privacy, where too few young people would be counted. "
        "Nothing is estimated in their place, and a withheld area is not compared.",
    ),
)
