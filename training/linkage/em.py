"""Expectation maximisation that cannot drive a probability to exactly zero.

Splink 5 refuses an m probability below 1e-300 (it cannot be represented as a match weight).
EM reaches exactly 0 when a comparison level is never seen among likely matches in the
training pairs (postcodes one character apart where no extract has a mistyped postcode; an
extra identifier that agrees only between different people): once a level's m is tiny, the
pairs at that level score a match probability that underflows to 0, and the next iteration
sets m to 0. On real extracts that ends the run with an error about floating point.

:func:`floored_em` keeps each trained m and u at least ``floor`` (``link.em_min_probability``)
while it is in force: the level then weighs heavily against a match, which is what the data
says, and the run goes on. Splink has no option for this, so the floor wraps the one function
through which EM hands its estimates to the model (``m_u_records_to_lookup_dict``); the
version is pinned in ``requirements.lock`` and ``tests/training/test_linkage_extracts.py``
fails if the wrapper stops being called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import splink.internals.expectation_maximisation as em

__all__ = ["floored_em", "level_labels"]

Lookup = Callable[[list[dict[str, Any]]], dict[str, dict[int, Any]]]


Raised = list[tuple[str, int, str]]  # comparison, comparison vector value, "m" or "u"


def _floored(lookup: Lookup, floor: float, raised: Raised) -> Lookup:
    def wrapper(records: list[dict[str, Any]]) -> dict[str, dict[int, Any]]:
        out = lookup(records)
        for name, levels in out.items():
            for level, values in levels.items():
                for key in ("m_probability", "u_probability"):
                    value = values.get(key)
                    if isinstance(value, float) and value < floor:
                        values[key] = floor
                        raised.append((name, int(level), key[0]))
        return out

    return wrapper


@contextlib.contextmanager
def floored_em(floor: float) -> Iterator[Raised]:
    """Within the block, EM's m and u estimates are at least ``floor``.

    Yields the list of levels whose estimate was raised (comparison, comparison vector value,
    m or u), for the log and the report (:func:`level_labels` names them).
    """
    raised: Raised = []
    original: Lookup = em.m_u_records_to_lookup_dict  # type: ignore[attr-defined]
    em.m_u_records_to_lookup_dict = _floored(original, floor, raised)  # type: ignore[attr-defined,assignment]
    try:
        yield raised
    finally:
        em.m_u_records_to_lookup_dict = original  # type: ignore[attr-defined,assignment]


def level_labels(model: dict[str, Any]) -> dict[tuple[str, int], str]:
    """(comparison, comparison vector value) → the level's label, from Splink's model JSON.

    Splink numbers a comparison's levels from the most to the least alike, the null level
    being -1 and the last ("all other comparisons") 0; the JSON lists them in that order.
    """
    out: dict[tuple[str, int], str] = {}
    for comparison in model.get("comparisons", []):
        levels = [
            lv for lv in comparison.get("comparison_levels", []) if not lv.get("is_null_level")
        ]
        for i, level in enumerate(levels):
            name = str(comparison.get("output_column_name"))
            out[(name, len(levels) - 1 - i)] = str(level.get("label_for_charts"))
    return out
