"""Attacks on the published area table, under the cell-key method and the threshold method.

A generated city of many small areas (600 LSOAs of 4 to 45 young people, in 120 wards, 12
boroughs, 3 BCUs), each young person with a pseudonymous key and two factor flags, is summed
up the hierarchy and published as a release would publish it (record keys per period from
the seed, cell keys summed per area: :mod:`training.release.cellkey_release`). Each attack
reports its success against chance; the figures are logged (``--log-cli-level=INFO``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governance.cellkey import CellKeyConfig, build_ptable, record_keys
from governance.disclosure import DisclosureConfig, apply_disclosure_control
from training.release.cellkey_release import area_cell_keys, lsoa_key_sums

LOG = logging.getLogger("tests.cellkey_attacks")
FACTORS = ("looked_after", "excluded")
PREVALENCE = (0.15, 0.4)
CELLKEY = DisclosureConfig(method="cellkey")
THRESHOLD = DisclosureConfig(method="threshold")
SEED = CELLKEY.cellkey.seed_bytes()
JANUARY, FEBRUARY = "2025-01-31", "2025-02-28"

#: the attacker's success (best rule on the published difference, balanced worlds) may not
#: exceed this, and no more than this share of areas may be decided with certainty
MAX_SUCCESS = 0.75
MAX_CERTAIN = 0.05
#: a figure is judged only where this many areas publish it in both releases
MIN_TRIES = 200


def report(name: str, figures: Any) -> None:
    """Log an attack's or a utility measure's figures."""
    LOG.info("%s: %s", name, figures)


@dataclass(frozen=True)
class Cohort:
    """Young people: key, LSOA, risk, flags; and the geography they live in."""

    people: pd.DataFrame
    geography: pd.DataFrame


def make_cohort(seed: int = 7, lsoas: int = 600, low: int = 4, high: int = 45) -> Cohort:
    """The generated city (see the module notes)."""
    rng = np.random.default_rng(seed)
    codes = [f"L{i:04d}" for i in range(lsoas)]
    geography = pd.DataFrame(
        {
            "lsoa_code": codes,
            "ward_code": [f"W{i // 5:03d}" for i in range(lsoas)],
            "borough_code": [f"B{i // 50:02d}" for i in range(lsoas)],
            "bcu_code": [f"C{i // 200}" for i in range(lsoas)],
        }
    )
    sizes = rng.integers(low, high + 1, size=lsoas)
    lsoa = np.repeat(codes, sizes)
    n = len(lsoa)
    people = pd.DataFrame(
        {
            "person_key": [f"P{i:09d}" for i in range(n)],
            "lsoa_code": lsoa,
            "risk": rng.beta(1.2, 12.0, size=n),
        }
    )
    for factor, p in zip(FACTORS, PREVALENCE, strict=True):
        people[f"has_{factor}"] = rng.random(n) < p
        people[f"shap_{factor}"] = np.where(people[f"has_{factor}"], 0.5, -0.05)
    return Cohort(people, geography)


def unpublished(cohort: Cohort) -> pd.DataFrame:
    """Every area's exact figures at every level (what disclosure control is given)."""
    people = cohort.people.merge(cohort.geography, on="lsoa_code").assign(city_code="X")
    geo = cohort.geography.assign(city_code="X")
    chain = [
        ("lsoa", "lsoa_code", "ward_code"),
        ("ward", "ward_code", "borough_code"),
        ("borough", "borough_code", "bcu_code"),
        ("bcu", "bcu_code", "city_code"),
        ("city", "city_code", None),
    ]
    sums = {"population": ("risk", "size"), "expected": ("risk", "sum")}
    for factor in FACTORS:
        sums[f"count_{factor}"] = (f"has_{factor}", "sum")
        sums[f"contrib_{factor}"] = (f"shap_{factor}", "mean")
    frames = []
    for level, key, parent in chain:
        codes = geo[[key, *([parent] if parent else [])]].drop_duplicates(subset=key)
        totals = people.groupby(key).agg(**sums).reindex(codes[key]).fillna(0.0)
        frame = pd.DataFrame(
            {
                "level": level,
                "code": codes[key].to_numpy(),
                "name": codes[key].to_numpy(),
                "parent_code": codes[parent].to_numpy() if parent else None,
            }
        )
        for column in totals.columns:
            frame[column] = totals[column].to_numpy()
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    for column in ["population", *(f"count_{f}" for f in FACTORS)]:
        table[column] = table[column].astype(np.int64)
    return table


def keys_of(cohort: Cohort, areas: pd.DataFrame, period: str) -> pd.DataFrame:
    """Every area's cell keys in ``period``, as the release computes them."""
    people = cohort.people
    keys = record_keys(people["person_key"], period, SEED)
    present = people[[f"has_{f}" for f in FACTORS]].to_numpy()
    by_lsoa = lsoa_key_sums(cohort.geography, people["lsoa_code"], keys, present, FACTORS)
    return area_cell_keys(areas, cohort.geography, by_lsoa)


def publish(cohort: Cohort, rules: DisclosureConfig, period: str = JANUARY) -> pd.DataFrame:
    """The published table of ``cohort`` under ``rules``."""
    areas = unpublished(cohort)
    keys = keys_of(cohort, areas, period) if rules.method == "cellkey" else None
    return apply_disclosure_control(areas, rules, cell_keys=keys).table


def with_newcomers(cohort: Cohort, lsoas: list[str]) -> Cohort:
    """``cohort`` with one more young person, with both factors, in each of ``lsoas``."""
    extra = pd.DataFrame(
        {
            "person_key": [f"N{i:09d}" for i in range(len(lsoas))],
            "lsoa_code": lsoas,
            "risk": 0.3,
        }
    )
    for factor in FACTORS:
        extra[f"has_{factor}"] = True
        extra[f"shap_{factor}"] = 0.5
    return Cohort(pd.concat([cohort.people, extra], ignore_index=True), cohort.geography)


def best_attack(diff_a: np.ndarray, diff_b: np.ndarray) -> tuple[float, float]:
    """The best rule on the published difference, and the share it decides with certainty.

    The attacker knows the distribution of the difference in both worlds (A: nobody
    joined, B: one young person joined): here its empirical distribution over the areas,
    the best an attacker who knows the method and ptable can do. With balanced worlds the
    best rule's success is ``0.5 + 0.5 * total variation``; a difference seen in one world
    only decides that area with certainty.
    """
    values = np.union1d(diff_a, diff_b)
    pa = np.array([(diff_a == v).mean() for v in values])
    pb = np.array([(diff_b == v).mean() for v in values])
    success = 0.5 + 0.25 * float(np.abs(pa - pb).sum())
    certain = 0.5 * float(pa[pb == 0].sum() + pb[pa == 0].sum())
    return success, certain


@dataclass(frozen=True)
class Differencing:
    """One attack's outcome, per published figure."""

    success: dict[str, float]
    certain: dict[str, float]
    tries: dict[str, int]  # areas published in both releases


def newcomer_attack(rules: DisclosureConfig, second_period: str) -> Differencing:
    """Release, then release again with one young person added to a random half of LSOAs."""
    cohort = make_cohort()
    rng = np.random.default_rng(11)
    lsoas = cohort.geography["lsoa_code"].to_numpy()
    joined = rng.random(len(lsoas)) < 0.5
    before = publish(cohort, rules, JANUARY).set_index("code")
    after = publish(with_newcomers(cohort, list(lsoas[joined])), rules, second_period)
    after = after.set_index("code")
    success, certain, tries = {}, {}, {}
    for column in ["population", *(f"count_{f}" for f in FACTORS)]:
        both = before.loc[lsoas, column].notna().to_numpy() & after.loc[lsoas, column].notna()
        diff = (after.loc[lsoas, column] - before.loc[lsoas, column]).to_numpy(np.float64)
        shown = both.to_numpy()
        success[column], certain[column] = best_attack(diff[shown & ~joined], diff[shown & joined])
        tries[column] = int(shown.sum())
    return Differencing(success, certain, tries)


def with_movers(cohort: Cohort, sources: list[str], destinations: list[str]) -> Cohort:
    """``cohort`` with one young person of each source LSOA moved to its destination."""
    people = cohort.people.copy()
    first = people.drop_duplicates("lsoa_code").set_index("lsoa_code")["person_key"]
    moved = pd.Series(destinations, index=first.loc[sources].to_numpy())
    people["lsoa_code"] = people["person_key"].map(moved).fillna(people["lsoa_code"])
    return Cohort(people, cohort.geography)


def mover_attack(rules: DisclosureConfig, second_period: str) -> Differencing:
    """Release, then again with one young person moved out of a random half of the LSOAs
    into the other half: from the published differences, tell an LSOA someone left from
    one someone joined (balanced worlds, chance 0.5)."""
    cohort = make_cohort()
    rng = np.random.default_rng(13)
    lsoas = cohort.geography["lsoa_code"].to_numpy()
    leaving = rng.random(len(lsoas)) < 0.5
    k = int(min(leaving.sum(), (~leaving).sum()))
    sources = list(lsoas[leaving][:k])
    destinations = list(rng.permutation(lsoas[~leaving])[:k])
    before = publish(cohort, rules, JANUARY).set_index("code")
    after = publish(with_movers(cohort, sources, destinations), rules, second_period)
    after = after.set_index("code")
    success, certain, tries = {}, {}, {}
    lost = np.isin(lsoas, sources)
    gained = np.isin(lsoas, destinations)
    column = "population"
    both = before.loc[lsoas, column].notna().to_numpy() & after.loc[lsoas, column].notna()
    diff = (after.loc[lsoas, column] - before.loc[lsoas, column]).to_numpy(np.float64)
    shown = both.to_numpy()
    success[column], certain[column] = best_attack(diff[shown & lost], diff[shown & gained])
    tries[column] = int((shown & (lost | gained)).sum())
    return Differencing(success, certain, tries)


# ----------------------------------------------------------------------------------------------
# one young person added (or moved) between two releases


def test_rounding_tells_where_a_young_person_moved() -> None:
    """Threshold rules: a count that crosses a rounding boundary shows the move for certain."""
    outcome = mover_attack(THRESHOLD, FEBRUARY)
    report("threshold, mover attack", outcome)
    assert outcome.certain["population"] > MAX_CERTAIN


def test_a_move_is_not_revealed_by_perturbed_counts_of_the_next_period() -> None:
    """Cell keys of a new period: an LSOA someone left looks like one someone joined."""
    outcome = mover_attack(CELLKEY, FEBRUARY)
    report("cellkey, mover attack across periods", outcome)
    assert outcome.tries["population"] >= MIN_TRIES
    assert outcome.success["population"] <= MAX_SUCCESS
    assert outcome.certain["population"] <= MAX_CERTAIN


def test_rounding_tells_a_newcomer_with_certainty() -> None:
    """Today's threshold rules: a count that moves by one base shows the newcomer is in it."""
    outcome = newcomer_attack(THRESHOLD, FEBRUARY)
    report("threshold, newcomer attack", outcome)
    assert max(outcome.certain.values()) > MAX_CERTAIN


def test_a_newcomer_is_not_revealed_by_perturbed_counts_of_the_next_period() -> None:
    """Cell keys of a new period: the difference is the newcomer plus two perturbations."""
    outcome = newcomer_attack(CELLKEY, FEBRUARY)
    report("cellkey, newcomer attack across periods", outcome)
    judged = [c for c, n in outcome.tries.items() if n >= MIN_TRIES]
    assert {"population", "count_excluded"} <= set(judged)
    for column in judged:
        assert outcome.success[column] <= MAX_SUCCESS, column
        assert outcome.certain[column] <= MAX_CERTAIN, column


def test_within_one_period_a_changed_cell_shows_that_it_changed() -> None:
    """The price of consistency, as for ONS: record keys are fixed within a period, so a
    cell whose young people did not change publishes the same figure, and one that changed
    usually publishes another. Record keys are per period (the as-of date) for this reason:
    two releases of one as-of date are re-runs of the same data."""
    outcome = newcomer_attack(CELLKEY, JANUARY)
    report("cellkey, newcomer attack within a period", outcome)
    assert outcome.certain["population"] > MAX_CERTAIN


# ----------------------------------------------------------------------------------------------
# the same cell, the same perturbation


def test_the_same_cell_gets_the_same_perturbation_in_every_release_table_and_level() -> None:
    cohort = make_cohort(lsoas=100)
    first = publish(cohort, CELLKEY)
    pd.testing.assert_frame_equal(first, publish(cohort, CELLKEY))  # a re-run of the release
    # a ward made of a single LSOA is the same cell at two levels: the same figures
    single = cohort.geography.copy()
    single.loc[single["lsoa_code"] == "L0000", "ward_code"] = "W999"
    table = publish(Cohort(cohort.people, single), CELLKEY).set_index("code")
    for column in ["population", *(f"count_{f}" for f in FACTORS)]:
        ward, lsoa = table.at["W999", column], table.at["L0000", column]
        assert (pd.isna(ward) and pd.isna(lsoa)) or ward == lsoa, column
    # a release in the same period with newcomers elsewhere leaves untouched LSOAs as they were
    after = publish(with_newcomers(cohort, ["L0001"] * 3), CELLKEY).set_index("code")
    before = first.set_index("code")
    lsoas = [c for c in cohort.geography["lsoa_code"] if c != "L0001"]
    pd.testing.assert_frame_equal(before.loc[lsoas], after.loc[lsoas])


def test_a_custom_aggregate_of_the_same_young_people_gets_the_same_key() -> None:
    """The cell key of any set of young people is the sum of their record keys (mod 256)."""
    cohort = make_cohort(lsoas=50)
    areas = unpublished(cohort)
    keys = keys_of(cohort, areas, JANUARY)
    people = cohort.people.merge(cohort.geography, on="lsoa_code")
    in_borough = people["borough_code"] == "B00"
    direct = int(record_keys(people.loc[in_borough, "person_key"], JANUARY, SEED).sum()) % 256
    assert keys.at["B00", "population"] == direct
    wards = [w for w in cohort.geography["ward_code"].unique() if w.startswith("W00")]
    assert sum(keys.loc[wards, "population"]) % 256 == keys.at["B00", "population"]


# ----------------------------------------------------------------------------------------------
# parent minus children


def test_a_parent_minus_its_other_children_does_not_recover_a_child() -> None:
    """Ward minus its other LSOAs: the LSOA's population plus the sum of six perturbations."""
    cohort = make_cohort()
    truth = unpublished(cohort).set_index("code")
    table = publish(cohort, CELLKEY)
    lsoas = table[table["level"] == "lsoa"].set_index("code")
    wards = table[table["level"] == "ward"].set_index("code")
    errors = []
    for ward, children in lsoas.groupby("parent_code"):
        if pd.isna(wards.at[ward, "population"]) or children["population"].isna().sum() > 1:
            continue
        for code in children.index:
            others = children.drop(index=code)["population"]
            if others.isna().any():
                continue
            estimate = wards.at[ward, "population"] - others.sum()
            errors.append(float(estimate - truth.at[code, "population"]))
    errors_array = np.array(errors)
    exact = float((errors_array == 0).mean())
    report("cellkey, ward minus LSOAs (tries, exact share)", (len(errors), exact))
    assert len(errors) > 300
    assert exact < 0.3  # chance alone puts a sum of 6 perturbations at 0 about 1 in 6
    assert 3.0 < float(errors_array.var()) < 12.0  # about 6 V


# ----------------------------------------------------------------------------------------------
# the perturbations follow the ptable


def test_perturbations_have_mean_zero_and_the_configured_variance() -> None:
    cohort = make_cohort(seed=3)
    truth = unpublished(cohort).set_index("code")
    table = publish(cohort, CELLKEY).set_index("code")
    population = truth.loc[table.index, "population"]
    shown = table["population"].notna() & (population >= CELLKEY.cellkey.small_count)
    noise = (table["population"] - population)[shown].to_numpy(np.float64)
    report("cellkey population noise (mean, variance)", (noise.mean(), noise.var()))
    assert abs(noise.mean()) < 0.12
    assert 0.8 < noise.var() < 1.2
    assert (noise != 0).any() and np.abs(noise).max() <= CELLKEY.cellkey.max_perturbation

    ptable = build_ptable(CellKeyConfig())
    keys = np.random.default_rng(0).integers(0, 256, size=50_000)
    for count in (1, 5, 30, 10_000):
        moves = ptable.perturbation(np.full(keys.shape, count), keys)
        want = 1.5 if count < 10 else 1.0
        assert abs(moves.mean()) < 0.05 and abs(moves.var() - want) < 0.1, count
        assert (count + moves >= 0).all()


# ----------------------------------------------------------------------------------------------
# utility on the generated city


def test_utility_cells_changed_and_mean_absolute_error() -> None:
    """Cell-key figures are closer to the truth than rounding's, and more areas publish."""
    cohort = make_cohort(seed=5)
    truth = unpublished(cohort).set_index("code")
    figures = {}
    for name, rules in (("threshold", THRESHOLD), ("cellkey", CELLKEY)):
        table = publish(cohort, rules).set_index("code")
        shown = table["population"].notna()
        error = (table["population"] - truth.loc[table.index, "population"])[shown]
        count = table["count_excluded"].notna()
        count_error = (table["count_excluded"] - truth.loc[table.index, "count_excluded"])[count]
        figures[name] = {
            "published": float(shown.mean()),
            "changed": float((error != 0).mean()),
            "population_mae": float(error.abs().mean()),
            "count_mae": float(count_error.abs().mean()),
            "counts_published": float(count.mean()),
        }
    report("utility", figures)
    cellkey, threshold = figures["cellkey"], figures["threshold"]
    assert cellkey["published"] >= threshold["published"]
    assert cellkey["counts_published"] >= threshold["counts_published"]
    assert cellkey["population_mae"] < threshold["population_mae"]
    assert cellkey["count_mae"] < threshold["count_mae"]
    assert cellkey["changed"] < 0.75


@pytest.mark.parametrize("rules", [THRESHOLD, CELLKEY], ids=["threshold", "cellkey"])
def test_every_published_table_passes_the_release_check(rules: DisclosureConfig) -> None:
    from governance.disclosure import check_no_individuals

    check_no_individuals(publish(make_cohort(lsoas=100), rules), rules)
