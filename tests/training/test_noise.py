"""Identifier noise: each edit is what it claims, and rates in the data match the config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.contracts.layout import DataLayout
from tests.helpers import make_config
from training.generate.agencies.identifiers import nhs_numbers
from training.generate.noise import Alternatives, choose_alternative, transpose_dates, typo
from training.generate.run import run_generate

_NAME = st.text(
    alphabet=st.characters(min_codepoint=97, max_codepoint=122), min_size=3, max_size=20
)


def _damerau_is_one(a: str, b: str) -> bool:
    if a == b:
        return True  # a substitution may draw the same letter
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
        )
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


@settings(max_examples=200, deadline=None)
@given(names=st.lists(_NAME, min_size=1, max_size=30), seed=st.integers(0, 2**32 - 1))
def test_a_typo_is_one_edit_that_keeps_the_first_letter(names: list[str], seed: int) -> None:
    values = np.asarray(names, dtype=object)
    out = typo(values, 1.0, np.random.default_rng(seed))
    for before, after in zip(values, out, strict=True):
        assert _damerau_is_one(before, after), (before, after)
        assert after[0] == before[0]


def test_typo_rate_zero_changes_nothing() -> None:
    values = np.asarray(["Amelia", "Mohammed"] * 50, dtype=object)
    assert (typo(values, 0.0, np.random.default_rng(0)) == values).all()


@given(
    days=st.lists(st.integers(0, 20_000), min_size=1, max_size=50), seed=st.integers(0, 2**32 - 1)
)
def test_transposed_dates_keep_the_year_and_are_valid(days: list[int], seed: int) -> None:
    dates = np.asarray(days).astype("datetime64[D]")
    out = transpose_dates(dates, 1.0, np.random.default_rng(seed))
    assert (out.astype("datetime64[Y]") == dates.astype("datetime64[Y]")).all()
    for before, after in zip(pd.to_datetime(dates), pd.to_datetime(out), strict=True):
        if after != before:  # day and month swapped, or the day's two digits
            swapped = (after.day, after.month) == (before.month, before.day)
            digits = (
                after.month == before.month
                and after.day == (before.day % 10) * 10 + before.day // 10
            )
            assert swapped or digits, (before, after)


def test_alternatives_only_replace_names_that_have_them() -> None:
    alts = Alternatives(["William", "Zara"], {"William": ["Will", "Bill"]})
    index = np.array([0, 1] * 500)
    values = np.asarray(["William", "Zara"] * 500, dtype=object)
    out = choose_alternative(index, values, alts, 0.5, np.random.default_rng(1))
    assert set(out[index == 1]) == {"Zara"}
    assert set(out[index == 0]) == {"William", "Will", "Bill"}
    assert 0.4 < (out[index == 0] != "William").mean() < 0.6


def test_nhs_numbers_are_valid_and_unique() -> None:
    numbers = nhs_numbers(np.arange(200_000))
    assert len(set(numbers)) == len(numbers)
    digits = np.array([[int(c) for c in n] for n in numbers[:5000]])
    check = (11 - (digits[:, :9] * np.arange(10, 1, -1)).sum(axis=1) % 11) % 11
    valid = (check == digits[:, 9]) & (check != 10)
    assert valid.mean() > 0.98


_RATES = {
    "forename_typo": 0.10,
    "surname_typo": 0.05,
    "nickname": 0.0,
    "name_variant": 0.0,
    "names_swapped": 0.0,
    "dob_transposed": 0.08,
    "stale_postcode": 0.0,
    "postcode_missing": 0.04,
    "sex_miscoded": 0.03,
    "nhs_number_missing": {"health": 0.2, "social_care": 0.5},
}


@pytest.fixture(scope="module")
def noisy_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = make_config(persons=4000, noise=_RATES)
    return run_generate(cfg, tmp_path_factory.mktemp("noisy")).data_dir


def _with_truth(data_dir: Path, source: str) -> pd.DataFrame:
    extract = pd.read_parquet(DataLayout(data_dir).extract(source))
    link = pd.read_parquet(data_dir / "truth/record_person.parquet")
    persons = pd.read_parquet(data_dir / "truth/persons.parquet")
    return extract.merge(link, on=["source", "record_id"]).merge(
        persons, on="person_id", suffixes=("", "_true")
    )


def _close(observed: float, expected: float, n: int) -> bool:
    return abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 0.005


@pytest.mark.parametrize(("source", "scale"), [("health", 1.0), ("police", 1.5)])
def test_noise_rates_match_the_config(noisy_city: Path, source: str, scale: float) -> None:
    df = _with_truth(noisy_city, source)
    n = len(df)
    first = "forename"
    single = df[f"{first}_true"].str.len() >= 3
    typo_rate = (df.loc[single, first] != df.loc[single, f"{first}_true"]).mean()
    # a substitution draws the same letter 1 time in 26, a quarter of the time
    assert _close(typo_rate, 0.10 * scale * (1 - 0.25 / 26), single.sum()), typo_rate
    postcode = "postcode" if source == "health" else "address_postcode"
    assert _close(df[postcode].isna().mean(), 0.04 * scale, n)
    sex = df["sex"] != df["sex_true"]
    assert _close(sex.mean(), 0.03 * scale, n)
    dob = pd.to_datetime(df["date_of_birth"], format="%d/%m/%Y" if source == "police" else None)
    changed = (dob != pd.to_datetime(df["date_of_birth_true"])).mean()
    assert 0.4 * 0.08 * scale < changed <= 0.08 * scale + 0.01  # some transpositions are no-ops


def test_nhs_number_missing_rate_per_agency(noisy_city: Path) -> None:
    for source, rate in (("health", 0.2), ("social_care", 0.5)):
        df = pd.read_parquet(DataLayout(noisy_city).extract(source))
        assert _close(df["nhs_number"].isna().mean(), rate, len(df)), source


def test_default_noise_leaves_no_clean_key(small_city_dir: Path) -> None:
    df = _with_truth(small_city_dir, "police")
    exact = (
        (df["forename"] == df["forename_true"])
        & (df["surname"] == df["surname_true"])
        & (
            pd.to_datetime(df["date_of_birth"], format="%d/%m/%Y")
            == pd.to_datetime(df["date_of_birth_true"])
        )
    )
    assert 0.7 < exact.mean() < 0.99
