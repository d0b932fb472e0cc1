"""How many young people of the scored ages the ONS estimates live in a London area.

The release's ``population`` counts the young people known to local services; the ONS mid-2019
estimate (shipped with the product in :mod:`governance.geography`, Open Government Licence)
counts everyone who lives there. The shipped estimate has age bands 0-15 and 16-29, not single
years, so the ages scored (:data:`serving.definitions.AGES`, 10 to 17) are estimated by
assuming ages are spread evenly within a band: 6/16 of the 0-15 band (ages 10 to 15) and
2/14 of the 16-29 band (16 and 17). Where the 16-29 band is weighted to people in their
twenties, as in London, that over-counts 16 and 17 year-olds: over London the estimate is
0.94 million, more than single years of age would give, so read it as a rough, upper figure.
The pages say so beside it. Only areas whose
codes are London's (LSOA 2011, ward Dec 2019, borough, Metropolitan Police BCU) get an
estimate; any other geography gets none. Public figures only: nothing about a person.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from governance.geography import london_lookup
from serving.definitions import AGES

__all__ = ["BANDS", "band_share", "ons_estimates", "ons_population_note", "ons_young_estimate"]

BANDS: dict[str, tuple[int, int]] = {"population_0_15": (0, 15), "population_16_29": (16, 29)}
"""The shipped ONS age bands: column, youngest and oldest age."""
_LEVELS = ("lsoa", "ward", "borough", "bcu")


def band_share(band: tuple[int, int], ages: tuple[int, int] = AGES) -> float:
    """The share of a band's people of ``ages``, if ages are spread evenly within the band."""
    low, high = max(band[0], ages[0]), min(band[1], ages[1])
    return max(high - low + 1, 0) / (band[1] - band[0] + 1)


@lru_cache(maxsize=1)
def ons_estimates() -> Mapping[str, float]:
    """The estimate of the scored ages for every London LSOA, ward, borough and BCU, by code."""
    lookup = london_lookup()
    young = lookup["population_0_15"] * 0.0
    for column, band in BANDS.items():
        young = young + lookup[column] * band_share(band)
    estimates: dict[str, float] = {}
    for level in _LEVELS:
        sums = young.groupby(lookup[f"{level}_code"]).sum()
        estimates.update({str(code): float(value) for code, value in sums.items()})
    return estimates


def ons_young_estimate(area_code: str) -> float | None:
    """The ONS mid-2019 estimate of young people of the scored ages in the area; None: not London's."""
    return ons_estimates().get(area_code)


def ons_population_note(area_code: str, population: int | None) -> str | None:
    """How the area's young people compare with the ONS estimate, in words; None: not London's.

    ``population`` is the release's published figure (None when withheld).
    """
    estimate = ons_young_estimate(area_code)
    if estimate is None:
        return None
    said = (
        f"the ONS mid-2019 estimate is about {round(estimate, -1):,.0f} aged {AGES[0]} to "
        f"{AGES[1]} living here (worked out from its 0-15 and 16-29 age bands, so likely a "
        "little high where many people in their twenties live)"
    )
    if population is None:
        return said
    return f"{said}; this release counts {population:,} known to services"
