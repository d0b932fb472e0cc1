"""Counts, plurals and articles of the area levels, said the same way everywhere.

"1 ward", "3 wards", "an LSOA", "a police BCU": one place decides, so that no page or error
says "1 wards" or "a lsoa". Pure functions over the level names of
:mod:`governance.contracts.levels`.
"""

from __future__ import annotations

__all__ = ["LEVEL_NOUNS", "article", "count_of", "level_noun", "with_article"]

LEVEL_NOUNS: dict[str, tuple[str, str]] = {
    "lsoa": ("LSOA", "LSOAs"),
    "msoa": ("MSOA", "MSOAs"),
    "ward": ("ward", "wards"),
    "borough": ("borough", "boroughs"),
    "bcu": ("police BCU", "police BCUs"),
    "city": ("city", "cities"),
}
"""Each level's noun, singular and plural, as a planner reads it."""

# initials said with a leading vowel sound: "an LSOA", "an MSOA", "an F1 score"
_VOWEL_SOUND_LETTERS = frozenset("AEFHILMNORSX")


def level_noun(level: str, count: int = 1) -> str:
    """The noun of ``level`` for ``count`` areas (``ward``, ``wards``, ``LSOA``, ``LSOAs``).

    Raises
    ------
    ValueError
        If ``level`` is not an area level.
    """
    try:
        one, many = LEVEL_NOUNS[level]
    except KeyError:
        raise ValueError(f"level must be one of {', '.join(LEVEL_NOUNS)}; got {level!r}") from None
    return one if count == 1 else many


def article(noun: str) -> str:
    """``a`` or ``an`` before ``noun``, by its sound: an LSOA, a ward, an area, a BCU."""
    word = noun.strip().split(" ", 1)[0] if noun.strip() else ""
    if not word:
        return "a"
    if len(word) > 1 and word.isupper():  # initials, said letter by letter
        return "an" if word[0] in _VOWEL_SOUND_LETTERS else "a"
    return "an" if word[0].lower() in "aeiou" else "a"


def with_article(noun: str, *, capital: bool = False) -> str:
    """``noun`` after its article: ``an LSOA``, ``a police BCU`` (``An LSOA`` if ``capital``)."""
    first = article(noun)
    return f"{first.capitalize() if capital else first} {noun}"


def count_of(count: int, level: str) -> str:
    """``count`` areas of ``level`` in words: ``1 ward``, ``3 wards``, ``1,234 LSOAs``."""
    return f"{count:,} {level_noun(level, count)}"
