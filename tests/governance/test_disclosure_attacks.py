"""The release's attack suite: each attack finds the leak it is for, and today's release passes.

The hierarchy bounds are checked against SciPy's integer programming (``milp``) on random
nested tables; the attacks are run on the generated city of the leak tests, once as the
release publishes it and once with each old leak put back, and must tell the two apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from governance.disclosure import DisclosureConfig
from governance.disclosure_attacks import AttackLimits, attack_release, hierarchy_bounds
from tests.training.test_release_leaks import FACTORS, generated_city, release_of, unprotected

HIERARCHY = DisclosureConfig().hierarchy
#: the attacks here are tried on releases made with the threshold rules
THRESHOLD = DisclosureConfig(method="threshold")
LIMITS = AttackLimits()


def _nested(rng: np.random.Generator) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """A random city > bcu > borough > ward > lsoa tree: levels, parent rows, true counts."""
    levels, parents = ["city"], [-1]
    for level, fan in (("bcu", 2), ("borough", 2), ("ward", 3), ("lsoa", 3)):
        above = [
            i
            for i, lv in enumerate(levels)
            if lv == {"bcu": "city", "borough": "bcu", "ward": "borough", "lsoa": "ward"}[level]
        ]
        for p in above:
            for _ in range(int(rng.integers(1, fan + 1))):
                levels.append(level)
                parents.append(p)
    parent_row = np.array(parents, dtype=np.int64)
    truth = np.zeros(len(levels), dtype=np.int64)
    leaves = [i for i, lv in enumerate(levels) if lv == "lsoa"]
    truth[leaves] = rng.integers(0, 30, len(leaves))
    for i in reversed(range(len(levels))):  # children come after their parents
        if parent_row[i] >= 0:
            truth[parent_row[i]] += truth[i]
    return pd.Series(levels), parent_row, truth


def _milp_bounds(
    low: np.ndarray, high: np.ndarray, parent_row: np.ndarray, levels: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Each cell minimised and maximised by an integer program over the same equations."""
    n = len(low)
    rows = []
    for parent in range(n):
        children = np.flatnonzero(parent_row == parent)
        if len(children):
            row = np.zeros(n)
            row[parent] = 1.0
            row[children] = -1.0
            rows.append(row)
    constraint = LinearConstraint(np.array(rows), 0.0, 0.0)
    bounds = Bounds(low.astype(float), np.minimum(high, 10**6).astype(float))
    out_low, out_high = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i in range(n):
        for sign, out in ((1.0, out_low), (-1.0, out_high)):
            c = np.zeros(n)
            c[i] = sign
            result = milp(c, constraints=constraint, bounds=bounds, integrality=np.ones(n))
            assert result.success
            out[i] = round(sign * result.fun)
    return out_low, out_high


@pytest.mark.parametrize("seed", range(6))
def test_hierarchy_bounds_equal_an_integer_program(seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels, parent_row, truth = _nested(rng)
    withheld = rng.random(len(truth)) < 0.3
    published = 5 * np.floor(truth / 5 + 0.5).astype(np.int64)
    low = np.where(withheld, 0, np.maximum(published - 2, 0))
    high = np.where(withheld, 10**12, published + 2)
    ours = hierarchy_bounds(low, high, levels, parent_row, HIERARCHY)
    theirs = _milp_bounds(low, high, parent_row, levels)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(np.minimum(ours[1], 10**6), theirs[1])
    assert ((ours[0] <= truth) & (truth <= ours[1])).all()


def test_a_child_withheld_alone_is_pinned_exactly_by_its_parent() -> None:
    """Parent 30 = 10 + 12 + x with exact figures: x is 8, whatever 'withheld' says."""
    levels = pd.Series(["ward", "lsoa", "lsoa", "lsoa"])
    parent_row = np.array([-1, 0, 0, 0])
    low = np.array([30, 10, 12, 0])
    high = np.array([30, 10, 12, 10**12])
    lo, hi = hierarchy_bounds(low, high, levels, parent_row, (("ward", "lsoa"),))
    assert lo[3] == hi[3] == 8


# -- the attacks on a generated release -----------------------------------------------------


def _attack(table: pd.DataFrame, truth: pd.DataFrame, rules: DisclosureConfig) -> dict[str, object]:
    results = attack_release(
        truth,
        table,
        factors=FACTORS,
        method=rules.method,
        min_count=rules.min_count,
        margin=rules.published_bounds,
        hierarchy=rules.hierarchy,
        limits=LIMITS,
    )
    return {r.name: r for r in results}


@pytest.fixture(scope="module")
def city_truth() -> pd.DataFrame:
    return unprotected(generated_city())


@pytest.fixture(scope="module")
def city_release() -> pd.DataFrame:
    return release_of(generated_city())


def test_the_release_as_published_survives_every_attack(
    city_release: pd.DataFrame, city_truth: pd.DataFrame
) -> None:
    results = _attack(city_release, city_truth, THRESHOLD)
    assert all(r.judged for r in results.values()), results
    assert all(r.passed for r in results.values()), results
    assert results["hierarchy_exact"].success == 0.0


def test_raw_means_put_back_are_found_by_the_precision_attack(
    city_release: pd.DataFrame, city_truth: pd.DataFrame
) -> None:
    """The old leak: the unrounded mean to 3 decimals times the population gives expected."""
    leaky = city_release.copy()
    raw = (
        city_truth.set_index(["level", "code"])["expected"]
        / city_truth.set_index(["level", "code"])["population"]
    )
    key = pd.MultiIndex.from_frame(leaky[["level", "code"]])
    shown = ~leaky["suppressed"].astype(bool)
    leaky.loc[shown, "mean_risk_raw"] = raw.reindex(key).to_numpy()[shown.to_numpy()].round(3)
    results = _attack(leaky, city_truth, THRESHOLD)
    assert results["precision_gain"].success > 0.5
    assert not results["precision_gain"].passed
    assert (
        results["precision_gain"].success
        > _attack(city_release, city_truth, THRESHOLD)["precision_gain"].success
    )


def test_contributions_beside_withheld_counts_are_found_by_the_zero_attack(
    city_release: pd.DataFrame, city_truth: pd.DataFrame
) -> None:
    """The old leak: a contribution left where its count is withheld tells 0 from more."""
    leaky = city_release.copy()
    truth = city_truth.set_index(["level", "code"])
    key = pd.MultiIndex.from_frame(leaky[["level", "code"]])
    for f in FACTORS:
        withheld = (
            ~leaky["suppressed"].astype(bool) & leaky[f"count_{f}_suppressed"].astype(bool)
        ).to_numpy()
        leaky.loc[withheld, f"contrib_{f}"] = (
            truth[f"contrib_{f}"].reindex(key).to_numpy()[withheld].round(2)
        )
    results = _attack(leaky, city_truth, THRESHOLD)
    assert results["zero_detection"].success > LIMITS.max_zero_auc
    assert not results["zero_detection"].passed


def test_rounding_without_complementary_suppression_is_found_by_the_hierarchy_attack(
    city_truth: pd.DataFrame,
) -> None:
    """Exact counts with lone withheld areas: parent minus children recovers them."""
    rules = DisclosureConfig(method="threshold", rounding_base=1)
    table = release_of(generated_city(), rules).copy()
    # undo complementary suppression: publish every area the primary rule did not withhold
    truth = city_truth.set_index(["level", "code"])
    key = pd.MultiIndex.from_frame(table[["level", "code"]])
    primary = (truth["population"].reindex(key) < rules.min_count).to_numpy()
    table["suppressed"] = primary
    table.loc[~primary, "population"] = truth["population"].reindex(key).to_numpy()[~primary]
    results = _attack(table, city_truth, rules)
    assert results["hierarchy_exact"].success > 0.0
    assert not results["hierarchy_exact"].passed


def test_an_attack_with_too_few_cells_is_reported_not_judged(
    city_release: pd.DataFrame, city_truth: pd.DataFrame
) -> None:
    rules = THRESHOLD
    results = attack_release(
        city_truth,
        city_release,
        factors=FACTORS,
        method="threshold",
        min_count=rules.min_count,
        margin=(2, 2),
        hierarchy=rules.hierarchy,
        limits=AttackLimits(min_cells=10**6, max_exact_share=0.0, max_zero_auc=0.5),
    )
    assert all(not r.judged and r.passed for r in results)


def test_the_zero_attack_auc_equals_scikit_learns() -> None:
    from sklearn.metrics import roc_auc_score

    from governance.disclosure_attacks import _roc_auc

    rng = np.random.default_rng(3)
    positive = rng.random(200) < 0.3
    score = np.round(rng.normal(positive * 0.5, 1.0), 1)  # ties included
    assert _roc_auc(positive, score) == pytest.approx(roc_auc_score(positive, score), abs=1e-12)


@pytest.mark.parametrize("method", ["threshold", "cellkey", "dp"])
def test_every_method_survives_the_attack_suite(method: str, city_truth: pd.DataFrame) -> None:
    """The release's attacks, on each method's table of the same many-small-areas city."""
    from tests.serving.test_cellkey_served import RULES as CELLKEY_RULES
    from tests.serving.test_cellkey_served import cellkey_table
    from tests.serving.test_dp_served import RULES as DP_RULES
    from tests.serving.test_dp_served import dp_release

    tables = {
        "threshold": (lambda: release_of(generated_city()), THRESHOLD),
        "cellkey": (cellkey_table, CELLKEY_RULES),
        "dp": (lambda: dp_release()[0], DP_RULES),
    }
    make, rules = tables[method]
    results = _attack(make(), city_truth, rules)
    assert all(r.judged for r in results.values()), results
    assert all(r.passed for r in results.values()), results


def test_a_withheld_count_known_more_precisely_than_a_published_one_is_found() -> None:
    """Cell-key: a ward of 30 (+/- 3) whose other LSOA shows 15 (+/- 3) leaves its withheld
    LSOA (perturbed under 10, so at most 12) between 9 and 12: 4 values, fewer than the 7 a
    published count allows. The narrowing attack must say so (and fail the release)."""
    published = pd.DataFrame(
        {
            "level": ["ward", "lsoa", "lsoa"],
            "code": ["W", "A", "B"],
            "parent_code": [None, "W", "W"],
            "suppressed": [False, False, True],
            "population": [30, 15, None],
            "expected": [1.0, 0.5, None],
        }
    )
    truth = published.assign(population=[30, 18, 12], expected=[1.0, 0.5, 0.5])
    rules = DisclosureConfig(method="cellkey")
    results = attack_release(
        truth,
        published,
        factors=[],
        method="cellkey",
        min_count=rules.min_count,
        margin=rules.published_bounds,
        hierarchy=(("ward", "lsoa"),),
        limits=AttackLimits(min_cells=1),
    )
    narrowed = {r.name: r for r in results}["hierarchy_narrowed"]
    assert narrowed.success == 1.0 and narrowed.judged and not narrowed.passed
    assert "fewer than 7 possible values" in narrowed.description
