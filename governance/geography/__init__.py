"""Public reference geography shipped as package data (London: lookup and boundaries)."""

from governance.geography.london import (
    ATTRIBUTION,
    BOUNDARY_LEVELS,
    LOOKUP_COLUMNS,
    BoundaryLevel,
    boundaries,
    boundaries_bytes,
    london_lookup,
)

__all__ = [
    "ATTRIBUTION",
    "BOUNDARY_LEVELS",
    "LOOKUP_COLUMNS",
    "BoundaryLevel",
    "boundaries",
    "boundaries_bytes",
    "london_lookup",
]
