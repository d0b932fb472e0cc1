"""Neighbourhoods: published areas combined, weighted by their published populations.

Only published figures are combined, so the answer is a function of what is already public:
a suppressed area is refused (its figures are not published), and so is an area listed
together with one that contains it (it would be counted twice).
"""

from __future__ import annotations

from serving.problems import InvalidParam, ProblemError
from serving.releases import LoadedRelease
from serving.schemas import AggregateFactor, AggregateResponse, AreaPublic

__all__ = ["AGGREGATE_METHOD", "combine_areas"]

_AGG_UNKNOWN = "Unknown area code(s) in release {release}: {codes}."
_AGG_SUPPRESSED = (
    "Suppressed area(s) cannot be combined (their figures are not published): {codes}."
)
_AGG_OVERLAP = "Area(s) lie within other listed areas and would be counted twice: {codes}."
_AGG_REPEATED = "Area code(s) listed more than once: {codes}."
AGGREGATE_METHOD = (
    "Sums of the areas' published (rounded) population and expected count; population-weighted "
    "means of the published mean risk, rate per 1,000, interval bounds (a conservative "
    "interval: at least as wide as that of the combined mean), prevalence and contribution "
    "of each factor. A factor's figure is null if any area's is hidden."
)


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

    def mean(values: list[float | None]) -> float | None:
        return _weighted_mean(weights, total, values)

    factors = [
        AggregateFactor(
            factor=name,
            prevalence=_round(mean([a.factors[i].prevalence for a in areas])),
            contribution=_round(mean([a.factors[i].contribution for a in areas])),
        )
        for i, name in enumerate(release.manifest.factors)
    ]
    drivers = sorted(
        (f for f in factors if f.contribution is not None and f.contribution > 0),
        key=lambda f: -(f.contribution or 0.0),
    )
    m = release.manifest

    def figure(name: str) -> float:
        return _published_figure(name, mean([getattr(a, name) for a in areas]))

    return AggregateResponse(
        release_id=m.release_id,
        model_name=m.model_name,
        model_version=m.model_version,
        as_of_date=m.as_of_date,
        codes=codes,
        areas=len(areas),
        population=int(total),
        expected=float(sum(a.expected or 0.0 for a in areas)),
        rate_per_1000=figure("rate_per_1000"),
        mean_risk=figure("mean_risk"),
        risk_low=figure("risk_low"),
        risk_high=figure("risk_high"),
        top_drivers=[f.factor for f in drivers[:3]],
        factors=factors,
        method=AGGREGATE_METHOD,
    )


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
    return _round(value) or 0.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
