"""Finding an area from what a person typed: a code in any case, a name, or a near miss.

ONS codes are upper case (``E05000026``) but people type ``e05000026``, or the area's name
(``Camden South``). :func:`find_area` accepts a code in any case and a name that matches
exactly one area (ignoring case and surrounding spaces); anything else is not found, and
:func:`suggest_areas` offers the closest names and codes (:mod:`difflib`, standard library),
so that a 404 says "did you mean ...?" instead of nothing. Pure functions over the published
areas of a release: names and codes are public, nothing about a person is read.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from serving.schemas import AreaPublic
from serving.wording import level_noun

__all__ = ["MAX_SUGGESTIONS", "Suggestion", "find_area", "suggest_areas"]

MAX_SUGGESTIONS = 5
"""At most this many areas are suggested."""
_CUTOFF = 0.6
"""How alike (:class:`difflib.SequenceMatcher` ratio) a name or code must be to be suggested."""


@dataclass(frozen=True)
class Suggestion:
    """An area a person may have meant."""

    code: str
    name: str
    level: str

    @property
    def text(self) -> str:
        """``Camden South (ward E05000130)``."""
        return f"{self.name} ({level_noun(self.level)} {self.code})"


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def find_area(areas: Mapping[str, AreaPublic], text: str) -> str | None:
    """The code of the one area ``text`` names: its code in any case, or its unique name.

    None when no area's code matches and no name, or more than one name, matches.
    """
    if text in areas:
        return text
    wanted = _key(text)
    if not wanted:
        return None
    by_code = [code for code in areas if code.casefold() == wanted]
    if len(by_code) == 1:
        return by_code[0]
    by_name = [code for code, area in areas.items() if _key(area.name) == wanted]
    return by_name[0] if len(by_name) == 1 else None


def suggest_areas(
    areas: Mapping[str, AreaPublic], text: str, limit: int = MAX_SUGGESTIONS
) -> list[Suggestion]:
    """Areas ``text`` may have meant, best first: names containing it, then close spellings.

    A name that matches several areas (two wards of one name in different boroughs) suggests
    each of them.
    """
    wanted = _key(text)
    if not wanted or limit < 1:
        return []
    chosen: list[str] = []

    def add(codes: list[str]) -> None:
        for code in codes:
            if code not in chosen and len(chosen) < limit:
                chosen.append(code)

    add(sorted((c for c, a in areas.items() if _key(a.name) == wanted), key=str))
    add(
        sorted(
            (c for c, a in areas.items() if wanted in _key(a.name)),
            key=lambda c: (len(areas[c].name), areas[c].name, c),
        )
    )
    by_key: dict[str, list[str]] = {}
    for code, area in areas.items():
        by_key.setdefault(_key(area.name), []).append(code)
        by_key.setdefault(code.casefold(), []).append(code)
    for close in difflib.get_close_matches(wanted, list(by_key), n=limit, cutoff=_CUTOFF):
        add(sorted(by_key[close]))
    return [Suggestion(c, areas[c].name, areas[c].level) for c in chosen]
