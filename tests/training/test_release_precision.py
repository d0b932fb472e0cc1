"""Precision channels of a generated release against the rounding of ``expected``.

Every mean and rate times the published population, and a parent minus its children, as
in issue 16; and the post-processing property itself: two cities whose protected figures
are equal publish equal tables. The city and the release are those of
:mod:`tests.training.test_release_leaks`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from governance.disclosure import adaptive_decimals
from tests.training.test_release_leaks import (
    RULES,
    Generated,
    city,
    release,
    release_of,
    same,
    truth,
    unprotected,
)
from training.release.aggregate import risk_from_published

__all__ = ["city", "release", "truth"]  # the fixtures, shared
RISK = ("risk_low", "mean_risk", "risk_high")


# ----------------------------------------------------------------------------------------------
# 2. precision channels against the rounding of expected


def _interval_hits(
    low: np.ndarray, high: np.ndarray, published: np.ndarray, true: np.ndarray, base: int
) -> tuple[int, float, int]:
    """Hits, hits expected by chance and areas narrowed, of intervals for ``expected``.

    The rounding says only that the truth lies in ``published +/- base / 2``. An interval
    narrower than that, intersected with it, contains the truth by chance with probability
    its share of the rounding interval (the truth spread evenly within it, as rounding
    leaves it to someone who knows nothing else). A channel that leaks hits far more often.
    """
    lo = np.maximum(low, published - base / 2)
    hi = np.minimum(high, published + base / 2)
    narrow = (hi - lo) < base - 1e-9
    share = np.clip(hi - lo, 0, base) / base
    hits = narrow & (true >= lo - 1e-9) & (true <= hi + 1e-9)
    return int(hits.sum()), float(share[narrow].sum()), int(narrow.sum())


def _assert_no_better_than_chance(name: str, hits: int, chance: float, narrowed: int) -> None:
    allowed = chance + 3.0 * math.sqrt(max(chance, 1.0)) + 1.0
    assert hits <= allowed, (
        f"{name}: the truth fell in the attacker's interval for {hits} of {narrowed} areas "
        f"where chance gives {chance:.1f}"
    )


def _published_step(release: pd.DataFrame) -> np.ndarray:
    """The rounding step of a published risk figure, as the page shows it."""
    population = pd.to_numeric(release["population"]).fillna(0).to_numpy(np.int64)
    decimals = np.minimum(adaptive_decimals(population, RULES), RULES.risk_decimals)
    return np.asarray(10.0**-decimals, dtype=np.float64)


def test_a_mean_or_rate_times_the_population_does_not_undo_the_rounding_of_expected(
    truth: pd.DataFrame, release: pd.DataFrame
) -> None:
    """The attack: expected lies in (mean +/- step/2) x (population +/- base/2).

    Run for ``mean_risk_raw``, ``rate_per_1000`` and, where the mean is not shrunk, for
    ``mean_risk`` and the interval's midpoint. On the old code ``mean_risk_raw`` gave
    ``expected`` to well within its rounding in almost every area (the issue: 146 of 146).
    """
    base = RULES.rounding_base
    shown = ~release["suppressed"].to_numpy(bool)
    n = pd.to_numeric(release["population"]).to_numpy(np.float64, na_value=np.nan)[shown]
    published = pd.to_numeric(release["expected"]).to_numpy(np.float64, na_value=np.nan)[shown]
    true = truth["expected"].to_numpy(np.float64)[shown]
    step = _published_step(release)[shown]
    value = {
        c: pd.to_numeric(release[c]).to_numpy(np.float64)[shown]
        for c in release.columns
        if c in ("mean_risk_raw", "rate_per_1000", "mean_risk", "risk_low", "risk_high")
    }
    unshrunk = release["level"].isin(["borough", "bcu", "city"]).to_numpy()[shown]
    channels = {
        "mean_risk_raw": (value["mean_risk_raw"], step, np.ones_like(step, dtype=bool)),
        "rate_per_1000": (value["rate_per_1000"] / 1000.0, step, np.ones_like(step, dtype=bool)),
        "mean_risk (unshrunk levels)": (value["mean_risk"], step, unshrunk),
        "interval midpoint (unshrunk levels)": (
            (value["risk_low"] + value["risk_high"]) / 2.0,
            step,
            unshrunk & (value["risk_low"] > 0),
        ),
    }
    for name, (mean, g, rows) in channels.items():
        low = (mean - g / 2) * (n - base // 2)
        high = (mean + g / 2) * (n + base // 2)
        hits, chance, narrowed = _interval_hits(
            low[rows], high[rows], published[rows], true[rows], base
        )
        _assert_no_better_than_chance(name, hits, chance, narrowed)


def test_a_parent_minus_its_children_does_not_recover_a_childs_expected(
    truth: pd.DataFrame, release: pd.DataFrame
) -> None:
    """The attack: a child's expected = parent's (raw mean x population) - its siblings'.

    Interval arithmetic over each published raw mean's rounding step and each population's
    rounding; only equations whose parent and children are all published. On the old code
    ward minus LSOAs recovered a sibling's expected to within about 0.4.
    """
    base = RULES.rounding_base
    step = _published_step(release)
    mean = pd.to_numeric(release["mean_risk_raw"]).to_numpy(np.float64, na_value=np.nan)
    n = pd.to_numeric(release["population"]).to_numpy(np.float64, na_value=np.nan)
    low_e = (mean - step / 2) * (n - base // 2)
    high_e = (mean + step / 2) * (n + base // 2)
    published = pd.to_numeric(release["expected"]).to_numpy(np.float64, na_value=np.nan)
    true = truth["expected"].to_numpy(np.float64)
    row_of = {c: i for i, c in enumerate(release["code"])}
    lows, highs, pubs, truths = [], [], [], []
    for parent_code, group in release.groupby("parent_code"):
        parent = row_of[str(parent_code)]
        children = group.index.to_numpy()
        if np.isnan(mean[parent]) or np.isnan(mean[children]).any():
            continue
        for j in children:
            others = children[children != j]
            lows.append(low_e[parent] - high_e[others].sum())
            highs.append(high_e[parent] - low_e[others].sum())
            pubs.append(published[j])
            truths.append(true[j])
    assert len(lows) >= 20
    hits, chance, narrowed = _interval_hits(
        np.array(lows), np.array(highs), np.array(pubs), np.array(truths), base
    )
    _assert_no_better_than_chance("parent minus children", hits, chance, narrowed)


def test_equal_protected_figures_publish_equal_figures(
    city: Generated, truth: pd.DataFrame, release: pd.DataFrame
) -> None:
    """Post-processing: move one LSOA's true expected within its rounding (and its parents').

    Population, rounded expected and every count stay the same, so a release derived only
    from protected values publishes the same table. On the old code the LSOA's raw mean,
    rate and interval moved with the unpublished expected.
    """
    base = RULES.rounding_base
    expected = truth["expected"].to_numpy(np.float64)
    # room to move before a rounding boundary, for each area: up to the next half-base
    room = (np.floor(expected / base + 0.5) * base + base / 2) - expected - 1e-6
    parent = dict(zip(truth["code"], truth["parent_code"], strict=True))
    row_of = {c: i for i, c in enumerate(truth["code"])}
    best, margin = None, 0.0
    for i in np.flatnonzero((truth["level"] == "lsoa").to_numpy() & ~release["suppressed"]):
        chain, code = [], truth.at[i, "code"]
        while code is not None:
            chain.append(row_of[code])
            code = parent[code]
        if room[chain].min() > margin:
            best, margin = i, float(room[chain].min())
    assert best is not None and margin > 0.3
    code = truth.at[best, "code"]
    people = city.people.copy()
    rows = people.index[people["lsoa_code"] == code]
    shift = 0.9 * margin / len(rows)
    people.loc[rows, "risk"] = np.clip(people.loc[rows, "risk"] + shift, 0.0, 1.0)
    after = release_of(Generated(city.geography, people))
    moved = (
        truth["expected"].to_numpy()
        - unprotected(Generated(city.geography, people))["expected"].to_numpy()
    )
    assert np.abs(moved).max() > 0.2
    differs = {
        str(release.at[i, "code"]): [
            c for c in release.columns if not same(release.iloc[i][c], after.iloc[i][c])
        ]
        for i in range(len(release))
    }
    assert {k: v for k, v in differs.items() if v} == {}


def test_every_mean_and_rate_is_made_from_the_published_expected_and_population(
    release: pd.DataFrame,
) -> None:
    """Post-processing, checked figure by figure: raw mean and rate from expected / population."""
    shown = release[~release["suppressed"]]
    ratio = shown["expected"] / shown["population"].astype(float)
    step = _published_step(release)[~release["suppressed"].to_numpy(bool)]
    assert (np.abs(shown["mean_risk_raw"] - ratio) <= step / 2 + 1e-12).all()
    np.testing.assert_allclose(shown["rate_per_1000"], (1000 * ratio).round(1), atol=1e-9)


def test_intervals_contain_the_mean_rounded_outward_and_cover_the_truth(
    truth: pd.DataFrame, release: pd.DataFrame
) -> None:
    """No '1.00% (1.00%-1.00%)': the interval holds the published mean strictly (but at 0).

    It includes the rounding of expected, so it covers the unpublished raw mean about as
    often as its level says, small areas included.
    """
    shown = ~release["suppressed"].to_numpy(bool)
    low, mean, high = (release.loc[shown, c].to_numpy(np.float64) for c in RISK)
    assert (low <= mean).all() and (mean <= high).all()
    assert ((low < mean) | (low == 0)).all() and ((mean < high) | (high == 1)).all()
    raw = truth.loc[shown, "mean_risk_raw"].to_numpy()
    covered = (low <= raw) & (raw <= high)
    assert covered.mean() >= 0.9, covered.mean()
    small = pd.to_numeric(release.loc[shown, "population"]).to_numpy() < 60
    assert small.sum() >= 5 and covered[small].mean() >= 0.85


def test_small_areas_move_toward_their_parent() -> None:
    """An LSOA whose rounded expected is 0 is shrunk toward its ward, not shown as 0."""
    table = pd.DataFrame(
        {
            "level": ["lsoa", "lsoa", "lsoa", "ward"],
            "code": ["L1", "L2", "L3", "W"],
            "parent_code": ["W", "W", "W", None],
            "suppressed": [False, False, False, False],
            "population": pd.array([20, 400, 400, 820], dtype="Int64"),
            "expected": [0.0, 20.0, 25.0, 45.0],
        }
    )
    out = risk_from_published(table, {"lsoa": 0.002, "ward": 0.002}, RULES)
    small, ward = out.set_index("code").loc["L1"], out.set_index("code").loc["W"]
    assert small["mean_risk"] > 0.02  # not the 0 of its rounded expected
    assert abs(small["mean_risk"] - ward["mean_risk"]) < 0.01
    for _, row in out.iterrows():
        assert row["risk_low"] < row["mean_risk"] < row["risk_high"]


def test_an_area_whose_parent_is_suppressed_is_shrunk_toward_the_next_published_one() -> None:
    """A ward hidden as a complement: its LSOAs' prior is the borough's published mean."""
    table = pd.DataFrame(
        {
            "level": ["lsoa", "lsoa", "lsoa", "ward", "borough"],
            "code": ["L1", "L2", "L3", "W", "B"],
            "parent_code": ["W", "W", "B", "B", None],
            "suppressed": [False, False, False, True, False],
            "population": pd.array([20, 30, 400, None, 900], dtype="Int64"),
            "expected": [0.0, 5.0, 10.0, None, 45.0],
        }
    )
    out = risk_from_published(table, {"lsoa": 0.002, "borough": 0.002}, RULES).set_index("code")
    assert out.loc["W", ["mean_risk", "risk_low", "risk_high"]].isna().all()
    borough = out.loc["B", "mean_risk"]
    assert borough == 0.05
    # L1 (published 0) moves from 0 toward the borough's 0.05, not toward a hidden figure
    assert 0.0 < out.loc["L1", "mean_risk"] <= borough
    for code in ("L1", "L2", "L3", "B"):
        row = out.loc[code]
        assert row["risk_low"] <= row["mean_risk"] <= row["risk_high"]
        assert not np.signbit(row[["mean_risk", "risk_low", "risk_high"]].to_numpy(float)).any()
