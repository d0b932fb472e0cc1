"""Rank, decile, band and change of a generated release, against values recomputed here.

The release is made by the release's own steps (``protect_areas``) on the generated city of
``test_release_leaks`` (72 LSOAs of 4 to 160 young people). Each figure made after disclosure
control from published figures is computed again in this file, in plain Python from the
published columns only, and compared with what the release wrote: inverting the rank order,
or flipping the sign of a change between releases, fails these tests.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.contracts.release_schema import AREAS, CURRENT_POINTER
from governance.disclosure import DisclosureError, apply_disclosure_control, check_no_individuals
from tests.training.test_release_leaks import (
    FACTORS,
    RULES,
    Generated,
    generated_city,
    unprotected,
)
from training.release.aggregate import band_by_interval, rank_and_decile
from training.release.config import ReleaseConfig
from training.release.run import AreaFigures, protect_areas


def release_in(city: Generated, releases: Path) -> pd.DataFrame:
    """What ``city`` publishes, against the release ``CURRENT`` names in ``releases`` if any."""
    config = ReleaseConfig(releases_dir=releases)
    figures = AreaFigures(table=unprotected(city))
    return protect_areas(config, figures, list(FACTORS), RULES).table


def write_previous(table: pd.DataFrame, releases: Path, release_id: str = "previous") -> None:
    """``table`` as the published table of the release ``CURRENT`` names."""
    (releases / release_id).mkdir(parents=True)
    table.to_parquet(releases / release_id / AREAS)
    (releases / CURRENT_POINTER).write_text(release_id + "\n")


def published_rows(table: pd.DataFrame) -> list[dict[str, object]]:
    """The published areas' rows as plain dicts."""
    rows: list[dict[str, object]] = table[~table["suppressed"].astype(bool)].to_dict("records")
    return rows


def _number(value: object) -> float | None:
    """A published figure as a float, or None where it is null."""
    if value is None or value is pd.NA:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def expected_ranks(table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """``code -> (rank, decile)``: 1 + the level's published areas with a higher mean risk."""
    by_level: dict[str, list[tuple[str, float]]] = {}
    for row in published_rows(table):
        mean = _number(row["mean_risk"])
        if mean is not None and row["level"] != "city":  # the city is not ranked
            by_level.setdefault(str(row["level"]), []).append((str(row["code"]), mean))
    out: dict[str, tuple[int, int]] = {}
    for members in by_level.values():
        for code, mean in members:
            rank = 1 + sum(1 for _, other in members if other > mean)
            out[code] = (rank, min(10, max(1, math.ceil(10 * rank / len(members)))))
    return out


@pytest.fixture(scope="module")
def city() -> Generated:
    return generated_city()


@pytest.fixture(scope="module")
def release(city: Generated, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return release_in(city, tmp_path_factory.mktemp("first") / "releases")


def test_rank_and_decile_are_the_order_of_the_published_mean_risks(release: pd.DataFrame) -> None:
    want = expected_ranks(release)
    assert len(want) > 50
    got = {
        str(r["code"]): (int(r["rank"]), int(r["decile"]))  # type: ignore[call-overload]
        for r in published_rows(release)
        if r["level"] != "city"
    }
    wrong = {c: (got[c], want[c]) for c in want if got[c] != want[c]}
    some = dict(list(wrong.items())[:5])
    assert not wrong, f"{len(wrong)} areas' (rank, decile) differ, e.g. (got, want): {some}"
    # the highest published mean of each level is rank 1 (and in the top tenth if n >= 10)
    ranked = release[~release["suppressed"] & (release["level"] != "city")]
    for _, rows in ranked.groupby("level"):
        top = rows.loc[rows["mean_risk"].idxmax()]
        assert int(top["rank"]) == 1 and int(top["decile"]) == math.ceil(10 / len(rows))
    suppressed = release[release["suppressed"]]
    assert len(suppressed) > 0
    assert suppressed["rank"].isna().all() and suppressed["decile"].isna().all()


def test_the_city_is_not_ranked_among_its_areas(release: pd.DataFrame) -> None:
    """The one area of its level has no rank or decile (issue 18: "rank 1, decile 10")."""
    city = release[release["level"] == "city"]
    assert len(city) == 1 and not bool(city["suppressed"].iloc[0])
    assert city["rank"].isna().all() and city["decile"].isna().all()


def test_change_is_this_releases_mean_risk_minus_the_previous_ones(
    city: Generated, release: pd.DataFrame, tmp_path: Path
) -> None:
    """Second release on different risks: each change is now minus then, in sign and size."""
    releases = tmp_path / "releases"
    write_previous(release, releases)
    moved = generated_city(seed=17)  # same areas, other young people and risks
    second = release_in(moved, releases)
    before = {
        (str(r["level"]), str(r["code"])): _number(r["mean_risk"]) for r in published_rows(release)
    }
    rises = falls = 0
    for row in second.to_dict("records"):
        then = before.get((str(row["level"]), str(row["code"])))
        now = None if bool(row["suppressed"]) else _number(row["mean_risk"])
        change = _number(row["change_mean_risk"])
        if now is None or then is None:
            assert change is None, (row["code"], change)
            continue
        assert change is not None and change == pytest.approx(now - then, abs=1e-12), (
            row["code"],
            now,
            then,
            change,
        )
        rises, falls = rises + (now > then), falls + (now < then)
    assert rises >= 5 and falls >= 5, (rises, falls)  # both signs are exercised


def test_an_area_new_or_suppressed_in_the_previous_release_has_no_change(
    release: pd.DataFrame, tmp_path: Path
) -> None:
    releases = tmp_path / "releases"
    previous = release.copy()
    shown = previous.index[~previous["suppressed"]]
    gone, hidden = shown[0], shown[1]
    previous.loc[hidden, "mean_risk"] = np.nan  # as if suppressed then
    write_previous(previous.drop(index=gone), releases)
    second = release_in(generated_city(), releases).set_index("code")
    codes = [str(release.at[gone, "code"]), str(release.at[hidden, "code"])]
    assert second.loc[codes, "change_mean_risk"].isna().all()
    rest = second.drop(index=codes)
    shown_now = rest[~rest["suppressed"]]
    assert np.allclose(shown_now["change_mean_risk"].astype(float), 0.0)


# ----------------------------------------------------------------------------------------------
# bands: no ranking within the noise


def expected_bands(table: pd.DataFrame) -> dict[str, str]:
    """``code -> band``: the published interval against the median of the level's means."""
    by_level: dict[str, list[dict[str, object]]] = {}
    for row in published_rows(table):
        if _number(row["mean_risk"]) is not None:
            by_level.setdefault(str(row["level"]), []).append(row)
    out: dict[str, str] = {}
    for members in by_level.values():
        median = round(statistics.median(float(r["mean_risk"]) for r in members), 12)  # type: ignore[arg-type]
        for r in members:
            low, high = float(r["risk_low"]), float(r["risk_high"])  # type: ignore[arg-type]
            out[str(r["code"])] = (
                "higher" if low > median else "lower" if high < median else "similar"
            )
    return out


def test_band_is_the_published_interval_against_the_levels_median(release: pd.DataFrame) -> None:
    want = expected_bands(release)
    got = {str(r["code"]): r["band"] for r in published_rows(release)}
    wrong = {c: (got[c], want[c]) for c in want if got[c] != want[c]}
    assert not wrong, (
        f"{len(wrong)} areas' bands differ, e.g. (got, want): {list(wrong.items())[:5]}"
    )
    lsoas = [want[c] for c in want if c.startswith("L")]
    assert {"higher", "similar", "lower"} <= set(lsoas)  # the city exercises all three
    assert release.loc[release["suppressed"], "band"].isna().all()


def test_an_area_in_a_higher_band_has_its_interval_above_every_lower_band_area(
    release: pd.DataFrame,
) -> None:
    """'higher' lies wholly above the median and 'lower' wholly below: never in the noise."""
    for _, rows in release[~release["suppressed"]].groupby("level"):
        higher, lower = rows[rows["band"] == "higher"], rows[rows["band"] == "lower"]
        if len(higher) and len(lower):
            assert higher["risk_low"].min() > lower["risk_high"].max()


def _two_lsoas_and_others() -> pd.DataFrame:
    """Published LSOAs as a release has them: a small uncertain one whose rounded mean looks
    highest, a large certain one just below it, and eight others around 3%."""
    rows = [
        # code, population, mean, low, high
        ("SMALL", 15, 0.070, 0.000, 0.150),
        ("LARGE", 1500, 0.060, 0.055, 0.065),
        *(
            (f"O{i}", 300, 0.028 + 0.001 * i, 0.020 + 0.001 * i, 0.036 + 0.001 * i)
            for i in range(8)
        ),
    ]
    return pd.DataFrame(
        {
            "level": "lsoa",
            "code": [r[0] for r in rows],
            "suppressed": False,
            "population": [r[1] for r in rows],
            "mean_risk": [r[2] for r in rows],
            "risk_low": [r[3] for r in rows],
            "risk_high": [r[4] for r in rows],
        }
    )


def test_a_smaller_less_certain_area_is_not_placed_above_a_larger_one() -> None:
    """The issue's finding: a small LSOA ranked above a larger one on a figure that only
    looked certain. Its interval overlaps the level's median; the larger one's lies above."""
    table = rank_and_decile(_two_lsoas_and_others())
    banded = band_by_interval(table).set_index("code")
    assert banded.at["SMALL", "rank"] == 1 and banded.at["LARGE", "rank"] == 2  # the exact rank
    assert banded.at["LARGE", "band"] == "higher"
    assert banded.at["SMALL", "band"] == "similar"


def test_the_disclosure_check_accepts_the_band_and_refuses_it_where_suppressed(
    release: pd.DataFrame,
) -> None:
    check_no_individuals(release, RULES)  # what the release writes passes, band and all
    leaked = release.copy()
    row = leaked.index[leaked["suppressed"]][0]
    leaked.loc[row, "band"] = "higher"
    with pytest.raises(DisclosureError, match=r"still publish figures in column\(s\) \['band'\]"):
        check_no_individuals(leaked, RULES)


def test_the_band_is_refused_as_an_input_to_disclosure_control(city: Generated) -> None:
    areas = unprotected(city).assign(band="similar")
    with pytest.raises(DisclosureError, match=r"\['band'\] are computed from published figures"):
        apply_disclosure_control(areas, RULES)
