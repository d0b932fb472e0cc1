"""Neighbourhoods: published areas combined, weighted by their published populations.

Only published figures are combined, so the answer is a function of what is already public:
a suppressed area is refused (its figures are not published), and so is an area listed
together with one that contains it (it would be counted twice).
"""

from __future__ import annotations

import math

from serving.problems import InvalidParam, ProblemError
from serving.published_precision import figure_decimals, round_figure, round_outward
from serving.releases import LoadedRelease, manifest_rules
from serving.schemas import AggregateFactor, AggregateResponse, AreaPublic

__all__ = ["AGGREGATE_METHOD", "combine_areas"]

_AGG_UNKNOWN = "Unknown area code(s) in release {release}: {codes}."
_AGG_SUPPRESSED = (
    "Suppressed area(s) cannot be combined (their figures are not published): {codes}."
)
_AGG_OVERLAP = "Area(s) lie within other listed areas and would be counted twice: {codes}."
_AGG_REPEATED = "Area code(s) listed more than once: {codes}."
AGGREGATE_METHOD = (
    "Sum of the areas' published (rounded) populations; population-weighted means of the "
    "published mean risk, interval bounds (a conservative interval: at least as wide as that "
    "of the combined mean, rounded outward), prevalence and contribution of each factor. The "
    "expected number is the combined mean risk times the population, kept within what the "
    "areas' protected expected numbers allow (expected_low to expected_high: the sum of each "
    "area's published figure +/- how far the release's disclosure method may have moved it, "
    "at least 0: half the rounding base under threshold rules, the cell-key perturbation's "
    "largest error under cellkey, a 95% noise interval under dp), never a sum of rounded "
    "zeros; the rate per 1,000 is 1,000 times it over the population. A factor's figure is "
    "null if any area's is hidden. Each figure carries as many decimals as the release publishes "
    "for an area of the combined population, never more."
)
#: decimals of the combined expected number and its bounds (rounded outward)
_EXPECTED_DECIMALS = 1


def combine_areas(release: LoadedRelease, codes: list[str]) -> AggregateResponse:
    """The population-weighted combination of published areas (``POST /v1/aggregate``).

    Raises
    ------
    ProblemError
        400 if a code is repeated or lies within another listed area, 404 if a code is not
        in the release, 422 if an area is suppressed; each names the codes.
    """
    areas = _combinable(release, codes)
    weights = [float(a.population or 0) for a in areas]
    total = sum(weights)
    # as many decimals as the release gives an area of this population, never more
    places = figure_decimals(manifest_rules(release.manifest), total)

    def mean(values: list[float | None]) -> float | None:
        return _weighted_mean(weights, total, values)

    factors = [
        AggregateFactor(
            factor=name,
            prevalence=round_figure(
                mean([a.factors[i].prevalence for a in areas]), places.prevalence
            ),
            contribution=round_figure(
                mean([a.factors[i].contribution for a in areas]), places.contribution
            ),
        )
        for i, name in enumerate(release.manifest.factors)
    ]
    drivers = sorted(
        (f for f in factors if f.contribution is not None and f.contribution > 0),
        key=lambda f: -(f.contribution or 0.0),
    )
    m = release.manifest

    def combined(name: str) -> float:
        return _published_figure(name, mean([getattr(a, name) for a in areas]))

    low, high = _expected_bounds(release, areas)
    unrounded = combined("mean_risk")
    mean_risk = round_figure(unrounded, places.risk) or 0.0
    # from the unrounded combination: the rounded mean times a large population would
    # move the expected number by up to half a step per young person
    expected = min(max(round(unrounded * total, _EXPECTED_DECIMALS), low), high)
    return AggregateResponse(
        release_id=m.release_id,
        model_name=m.model_name,
        model_version=m.model_version,
        as_of_date=m.as_of_date,
        codes=codes,
        areas=len(areas),
        population=int(total),
        expected=expected + 0.0,
        expected_low=low,
        expected_high=high,
        rate_per_1000=round(1000.0 * expected / total, places.rate) + 0.0,
        mean_risk=mean_risk,
        risk_low=min(round_outward(combined("risk_low"), places.risk, math.floor), mean_risk),
        risk_high=max(round_outward(combined("risk_high"), places.risk, math.ceil), mean_risk),
        top_drivers=[f.factor for f in drivers[:3]],
        factors=factors,
        method=AGGREGATE_METHOD,
    )


def _expected_bounds(release: LoadedRelease, areas: list[AreaPublic]) -> tuple[float, float]:
    """What the areas' protected expected numbers allow for their total, rounded outward.

    Each published expected ``e`` says the truth lies in ``[e - h, e + h]``, with ``h`` the
    area's bound under the release's signed method
    (:meth:`governance.disclosure.DisclosureConfig.expected_error_bound`, held in
    ``release.expected_bound``), and an expected number is never negative. Under threshold
    and cellkey the bounds are hard, so the total surely lies within; under dp each is a 95%
    interval and their sum at least as likely to hold the total.
    """
    published = [float(a.expected or 0.0) for a in areas]
    half = [release.expected_bound[a.code] for a in areas]
    low = sum(max(e - h, 0.0) for e, h in zip(published, half, strict=True))
    high = sum(e + h for e, h in zip(published, half, strict=True))
    scale = 10.0**_EXPECTED_DECIMALS
    return math.floor(low * scale) / scale + 0.0, math.ceil(high * scale) / scale + 0.0


def _combinable(release: LoadedRelease, codes: list[str]) -> list[AreaPublic]:
    """The areas of ``codes``, once each checked: none repeated, unknown, suppressed or inside another."""
    seen = set(codes)
    repeated = sorted(c for c in seen if codes.count(c) > 1) if len(seen) < len(codes) else []
    if repeated:
        raise ProblemError(
            400,
            _AGG_REPEATED.format(codes=", ".join(repeated)),
            kind="invalid-parameter",
            invalid_params=[
                InvalidParam(name="codes", reason=f"{c} is repeated") for c in repeated
            ],
        )
    unknown = [c for c in codes if c not in release.areas]
    if unknown:
        raise ProblemError(
            404,
            _AGG_UNKNOWN.format(
                release=release.release_id, codes=", ".join(c[:64] for c in unknown)
            ),
            kind="unknown-area",
            invalid_params=[
                InvalidParam(name=f"codes[{codes.index(c)}]", reason=f"unknown area {c[:64]}")
                for c in unknown
            ],
        )
    areas = [release.areas[c] for c in codes]
    hidden = [a.code for a in areas if a.suppressed or not a.population]
    if hidden:
        raise ProblemError(
            422,
            _AGG_SUPPRESSED.format(codes=", ".join(hidden)),
            kind="suppressed-area",
            invalid_params=[
                InvalidParam(name=f"codes[{codes.index(c)}]", reason=f"{c} is suppressed")
                for c in hidden
            ],
        )
    inside = sorted(c for c in codes if set(release.ancestors[c]) & seen)
    if inside:
        raise ProblemError(
            400,
            _AGG_OVERLAP.format(codes=", ".join(inside)),
            kind="invalid-parameter",
            invalid_params=[
                InvalidParam(name=f"codes[{codes.index(c)}]", reason=f"{c} lies within another")
                for c in inside
            ],
        )
    return areas


def _weighted_mean(weights: list[float], total: float, values: list[float | None]) -> float | None:
    """The ``weights``-weighted mean of ``values``; None if any value is hidden."""
    if any(v is None for v in values):
        return None
    return sum(w * float(v) for w, v in zip(weights, values, strict=True) if v is not None) / total


def _published_figure(name: str, value: float | None) -> float:
    """A combined figure that published areas always publish (422 if one did not)."""
    if value is None:
        raise ProblemError(
            422,
            f"An area listed has no published {name}; it cannot be combined.",
            kind="suppressed-area",
        )
    return value
