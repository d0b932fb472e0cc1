"""Attacks on a generated release under today's rules (threshold, rounding, suppression).

The city is built in code with many small areas, so that the protection bites: 72 LSOAs of
4 to 160 young people, a rare factor (most LSOAs have nobody with it) and factors whose
contribution for those without them is a small negative number (what SHAP gives a factor
that is absent). The release is made by the release's own steps (``area_table``,
``lsoa_sums``, ``areas_from_sums``, ``protect_areas``) without a model: the risks and
contributions are drawn here.

Each attack is the one reported in issue 16, run against what the release publishes:

- contributions where the count is withheld (zero against non-zero, and one young person
  gaining the factor);
- negative zeros;
- precision channels: every mean and rate times the published population, and a parent
  minus its children, against the rounding of ``expected``, measured against chance;
- the suppression reason, which told primary from complementary suppressions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.disclosure import DisclosureConfig
from training.release.aggregate import area_table, areas_from_sums, lsoa_sums
from training.release.config import ReleaseConfig
from training.release.run import AreaFigures, protect_areas

#: the factor names of the serving tests' releases, so that a table can be served as is
FACTORS = ("domestic_abuse", "persistent_absence", "child_in_need")
#: prevalence, mean contribution with the factor, and without it
FACTOR_MODEL = {
    "domestic_abuse": (0.012, 0.6, -0.01),  # rare: most LSOAs have nobody with it
    "persistent_absence": (0.3, 0.3, -0.05),
    "child_in_need": (0.04, 0.5, -0.0004),  # rounds to -0.0 without it
}
RULES = DisclosureConfig(method="threshold")
RARE = "domestic_abuse"


@dataclass(frozen=True)
class Generated:
    geography: pd.DataFrame
    people: pd.DataFrame


def generated_city(seed: int = 16) -> Generated:
    """2 BCUs, 4 boroughs, 12 wards, 72 LSOAs of 4..160 young people; per-person values."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(72):
        ward, borough, bcu = i // 6, i // 18, i // 36
        rows.append(
            {
                "lsoa_code": f"L{i:03d}",
                "lsoa_name": f"LSOA {i:03d}",
                "ward_code": f"W{ward:02d}",
                "ward_name": f"Ward {ward:02d}",
                "borough_code": f"B{borough}",
                "borough_name": f"Borough {borough}",
                "bcu_code": f"C{bcu}",
                "bcu_name": f"BCU {bcu}",
            }
        )
    geography = pd.DataFrame(rows)
    sizes = rng.integers(4, 161, size=len(geography))
    sizes[::9] = rng.integers(2, 10, size=len(sizes[::9]))  # a primary suppression per 9
    codes = np.repeat(geography["lsoa_code"].to_numpy(), sizes)
    effect = np.repeat(rng.normal(0.0, 0.5, size=len(geography)), sizes)
    risk = 1.0 / (1.0 + np.exp(-(-3.5 + effect + rng.normal(0.0, 0.7, size=len(codes)))))
    people = pd.DataFrame({"lsoa_code": codes, "risk": risk})
    for factor, (prevalence, with_f, without_f) in FACTOR_MODEL.items():
        has = rng.random(len(codes)) < prevalence
        people[f"has_{factor}"] = has
        noise = np.where(has, rng.normal(0.0, 0.1, size=len(codes)), 0.0)
        people[f"shap_{factor}"] = np.where(has, with_f, without_f) + noise
    return Generated(geography, people)


def unprotected(city: Generated) -> pd.DataFrame:
    """The release's figures before disclosure control (what an attacker wants)."""
    areas = area_table(city.geography, city_code="city", city_name="City")
    people = city.people
    sums = lsoa_sums(
        city.geography,
        people["lsoa_code"].to_numpy(),
        people["risk"].to_numpy(np.float64),
        people[[f"has_{f}" for f in FACTORS]].to_numpy(bool),
        people[[f"shap_{f}" for f in FACTORS]].to_numpy(np.float64),
        list(FACTORS),
    )
    return areas_from_sums(areas, city.geography, sums, list(FACTORS))


def release_of(city: Generated, rules: DisclosureConfig = RULES) -> pd.DataFrame:
    """What the release publishes for ``city`` (no previous release)."""
    config = ReleaseConfig(releases_dir=Path("/nonexistent/releases"))
    figures = AreaFigures(table=unprotected(city))
    return protect_areas(config, figures, list(FACTORS), rules).table


@pytest.fixture(scope="module")
def city() -> Generated:
    return generated_city()


@pytest.fixture(scope="module")
def truth(city: Generated) -> pd.DataFrame:
    return unprotected(city)


@pytest.fixture(scope="module")
def release(city: Generated) -> pd.DataFrame:
    return release_of(city)


def _floats(table: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        str(c): pd.to_numeric(table[c]).to_numpy(np.float64, na_value=np.nan)
        for c in table.columns
        if pd.api.types.is_float_dtype(table[c]) or str(table[c].dtype) in ("Int64", "Float64")
    }


def negative_zeros(table: pd.DataFrame) -> list[str]:
    """``column:code`` of every published value that is -0.0."""
    codes = table["code"].astype(str).to_numpy()
    found = []
    for column, values in _floats(table).items():
        bad = (values == 0) & np.signbit(values)
        found += [f"{column}:{c}" for c in codes[bad]]
    return found


# ----------------------------------------------------------------------------------------------
# 1. contributions where the count is withheld


def test_the_city_has_withheld_counts_of_zero_and_of_more(
    truth: pd.DataFrame, release: pd.DataFrame
) -> None:
    """The attack needs both kinds of withheld count: zeros and small non-zero ones."""
    withheld = release[f"count_{RARE}_suppressed"].to_numpy(bool) & ~release["suppressed"]
    counts = truth.loc[withheld, f"count_{RARE}"]
    assert (counts == 0).sum() >= 10 and (counts > 0).sum() >= 10


def test_a_withheld_count_does_not_leave_its_contribution_to_tell_zero_from_more(
    truth: pd.DataFrame, release: pd.DataFrame
) -> None:
    """The attack: where count_F is withheld, guess 'nobody has F' from contrib_F alone.

    On the old code the published contribution of a withheld count was -0.01 (or -0.0)
    exactly when nobody had the factor: the guess was right for every such area.
    """
    for factor in FACTORS:
        withheld = release[f"count_{factor}_suppressed"].to_numpy(bool)
        contrib = pd.to_numeric(release[f"contrib_{factor}"]).to_numpy(np.float64, na_value=np.nan)
        shown = withheld & ~np.isnan(contrib)
        zero = truth[f"count_{factor}"].to_numpy() == 0
        # the best single cut of the published contribution between zero and non-zero
        right = 0
        for cut in np.unique(contrib[shown]):
            guess = contrib[shown] <= cut
            right = max(right, int((guess == zero[shown]).sum()))
        assert shown.sum() == 0, (
            f"contrib_{factor} is published in {int(shown.sum())} area(s) whose count is "
            f"withheld; a cut on it tells zero from non-zero in {right} of them"
        )


def test_one_young_person_gaining_the_factor_changes_nothing_the_counts_do_not_show(
    city: Generated, truth: pd.DataFrame, release: pd.DataFrame
) -> None:
    """Release against release: one young person in an LSOA where nobody had F now has it.

    Every area whose count of F is withheld in both releases must publish the same figures
    in both (the count is withheld, so nothing may show the change), and areas not
    containing the LSOA must not change at all.
    """
    count = truth[f"count_{RARE}"].to_numpy()
    lsoas = truth.index[
        (truth["level"] == "lsoa") & (count == 0) & ~release["suppressed"].to_numpy(bool)
    ]
    assert len(lsoas) >= 3
    changed_any = []
    for row in lsoas[:3]:
        code = truth.at[row, "code"]
        people = city.people.copy()
        person = people.index[people["lsoa_code"] == code][0]
        people.loc[person, [f"has_{RARE}", f"shap_{RARE}"]] = [True, 0.6]
        after = release_of(Generated(city.geography, people))
        hidden = release[f"count_{RARE}_suppressed"].to_numpy(bool) & after[
            f"count_{RARE}_suppressed"
        ].to_numpy(bool)
        for i in np.flatnonzero(hidden):
            same = release.iloc[i].equals(after.iloc[i])
            if not same:
                differs = [
                    c for c in release.columns if not same(release.iloc[i][c], after.iloc[i][c])
                ]
                changed_any.append((code, release.at[i, "code"], differs))
    assert changed_any == []


def same(a: object, b: object) -> bool:
    if a is None or b is None or a is pd.NA or b is pd.NA:
        return (a is None or a is pd.NA) and (b is None or b is pd.NA)
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def test_no_published_value_is_a_negative_zero(release: pd.DataFrame) -> None:
    """JSON -0.0 against 0.0 told a withheld zero from a withheld non-zero count."""
    assert negative_zeros(release) == []


# ----------------------------------------------------------------------------------------------
# 3. one suppression reason


def test_every_suppressed_area_gives_the_same_reason(release: pd.DataFrame) -> None:
    """Primary (under 10) against complementary (10 or more) narrowed suppressed populations."""
    suppressed = release["suppressed"].to_numpy(bool)
    assert suppressed.sum() >= 5
    reasons = set(release.loc[suppressed, "suppression_reason"])
    assert len(reasons) == 1, reasons
    assert release.loc[~suppressed, "suppression_reason"].isna().all()
