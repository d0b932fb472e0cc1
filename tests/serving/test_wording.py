"""Plurals and articles of the area levels (issue 18: "1 wards", "a lsoa")."""

from __future__ import annotations

import pytest

from serving.wording import article, count_of, level_noun, with_article


@pytest.mark.parametrize(
    ("count", "level", "text"),
    [
        (1, "ward", "1 ward"),
        (2, "ward", "2 wards"),
        (0, "lsoa", "0 LSOAs"),
        (1, "lsoa", "1 LSOA"),
        (1, "bcu", "1 police BCU"),
        (13, "bcu", "13 police BCUs"),
        (1234, "lsoa", "1,234 LSOAs"),
        (1, "city", "1 city"),
        (2, "city", "2 cities"),
    ],
)
def test_counts_agree_with_their_noun(count: int, level: str, text: str) -> None:
    assert count_of(count, level) == text


@pytest.mark.parametrize(
    ("noun", "text"),
    [
        ("LSOA", "an LSOA"),
        ("MSOA", "an MSOA"),
        ("ward", "a ward"),
        ("borough", "a borough"),
        ("police BCU", "a police BCU"),
        ("BCU", "a BCU"),
        ("area", "an area"),
        ("unknown area", "an unknown area"),
    ],
)
def test_the_article_follows_the_sound(noun: str, text: str) -> None:
    assert with_article(noun) == text


def test_an_unknown_level_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"level must be one of .*got 'street'"):
        level_noun("street")


def test_an_empty_noun_takes_a() -> None:
    assert article("") == "a"


def test_a_sentence_may_start_with_the_article() -> None:
    assert with_article("LSOA", capital=True) == "An LSOA"
    assert with_article("police BCU", capital=True) == "A police BCU"
