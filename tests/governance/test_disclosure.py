"""Statistical disclosure control: suppression, complementary suppression against differencing,
rounding, release-against-release differencing, publishable columns and the config.

Every area table here is built in code from synthetic young people (an LSOA of residence, a
calibrated risk, two factor flags and their SHAP contributions) and summed up the hierarchy,
so each parent's population, expected count and factor counts are exact sums of its
children's, as in a real release.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.contracts.errors import ConfigError, VruError
from governance.contracts.release_schema import AREA_COLUMNS
from governance.disclosure import (
    SUPPRESSION_REASON,
    DisclosureConfig,
    DisclosureError,
    adaptive_decimals,
    apply_disclosure_control,
    check_no_individuals,
    load_disclosure_config,
)

FACTORS = ("looked_after", "excluded")
LEVEL_COLUMNS = (("ward", "ward_code"), ("borough", "borough_code"), ("bcu", "bcu_code"))
RULES = DisclosureConfig(method="threshold")
REPO = Path(__file__).resolve().parents[2]

# a tree of LSOA populations: bcus -> boroughs -> wards -> LSOAs
Tree = list[list[list[list[int]]]]


# ----------------------------------------------------------------------------------------------
# a synthetic city, built in code


def geography_of(tree: Tree) -> tuple[pd.DataFrame, list[int]]:
    """One row per LSOA with its ward, borough and BCU codes; and each LSOA's population."""
    rows, populations = [], []
    for b, boroughs in enumerate(tree):
        for o, wards in enumerate(boroughs):
            for w, lsoas in enumerate(wards):
                for lsoa, population in enumerate(lsoas):
                    rows.append(
                        {
                            "lsoa_code": f"L{b}{o}{w}{lsoa:02d}",
                            "ward_code": f"W{b}{o}{w}",
                            "borough_code": f"B{b}{o}",
                            "bcu_code": f"C{b}",
                        }
                    )
                    populations.append(population)
    return pd.DataFrame(rows), populations


def young_people(
    geography: pd.DataFrame,
    populations: list[int],
    rng: np.random.Generator,
    prevalence: tuple[float, float] = (0.12, 0.5),
) -> pd.DataFrame:
    """One row per young person: LSOA, calibrated risk, factor flags and SHAP contributions."""
    lsoa = np.repeat(geography["lsoa_code"].to_numpy(), populations)
    n = len(lsoa)
    people = pd.DataFrame({"lsoa_code": lsoa, "risk": rng.beta(1.2, 12.0, size=n)})
    for factor, p in zip(FACTORS, prevalence, strict=True):
        has = rng.random(n) < p
        people[f"has_{factor}"] = has
        people[f"shap_{factor}"] = np.where(has, 0.6, -0.05) + rng.normal(0, 0.1, size=n)
    return people


def aggregate(people: pd.DataFrame, geography: pd.DataFrame) -> pd.DataFrame:
    """The unpublished area table at every level: exact sums, then the per-area figures."""
    merged = people.merge(geography, on="lsoa_code", how="left", validate="many_to_one")
    merged["risk2"] = merged["risk"] ** 2
    merged["city_code"] = "city"
    sums = {"population": ("risk", "size"), "expected": ("risk", "sum"), "s2": ("risk2", "sum")}
    for factor in FACTORS:
        sums[f"count_{factor}"] = (f"has_{factor}", "sum")
        sums[f"shap_{factor}"] = (f"shap_{factor}", "sum")
    frames = []
    levels = [
        ("lsoa", "lsoa_code", "ward_code"),
        ("ward", "ward_code", "borough_code"),
        ("borough", "borough_code", "bcu_code"),
        ("bcu", "bcu_code", "city_code"),
        ("city", "city_code", None),
    ]
    geo = geography.assign(city_code="city")
    for level, key, parent in levels:
        codes = geo[[key, *([parent] if parent else [])]].drop_duplicates(subset=key)
        totals = merged.groupby(key).agg(**sums).reindex(codes[key]).fillna(0.0)
        frame = pd.DataFrame(
            {
                "level": level,
                "code": codes[key].to_numpy(),
                "name": [f"{level} {c}" for c in codes[key]],
                "parent_code": codes[parent].to_numpy() if parent else None,
            }
        )
        for column in totals.columns:
            frame[column] = totals[column].to_numpy()
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    n = table["population"].to_numpy()
    table["population"] = n.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, table["expected"] / np.maximum(n, 1), np.nan)
        sd = np.sqrt(np.clip(table["s2"] / np.maximum(n, 1) - mean**2, 0, None))
        half = 1.96 * sd / np.sqrt(np.maximum(n, 1))
    table["rate_per_1000"] = 1000 * mean
    table["mean_risk"] = mean
    table["mean_risk_raw"] = mean
    table["risk_low"] = np.clip(mean - half, 0, 1)
    table["risk_high"] = np.clip(mean + half, 0, 1)
    for factor in FACTORS:
        count = table[f"count_{factor}"].to_numpy()
        table[f"count_{factor}"] = count.astype(np.int64)
        table[f"prevalence_{factor}"] = np.where(n > 0, count / np.maximum(n, 1), np.nan)
        table[f"contrib_{factor}"] = np.where(
            n > 0, table[f"shap_{factor}"] / np.maximum(n, 1), np.nan
        )
    return table.drop(columns=["s2", *(f"shap_{f}" for f in FACTORS)])


@dataclass(frozen=True)
class City:
    geography: pd.DataFrame
    people: pd.DataFrame
    areas: pd.DataFrame


def fixed_tree(rng: np.random.Generator) -> Tree:
    """City -> 2 BCUs -> 4 boroughs -> 12 wards -> 60 LSOAs of 0..60 young people."""
    populations = rng.integers(0, 61, size=60)
    populations[[0, 7, 13, 21, 22, 34, 50, 58]] = [0, 3, 9, 5, 8, 1, 6, 2]  # several below 10
    it = iter(populations.tolist())
    return [[[[next(it) for _ in range(5)] for _ in range(3)] for _ in range(2)] for _ in range(2)]


@pytest.fixture(scope="module")
def city() -> City:
    rng = np.random.default_rng(20250331)
    geography, populations = geography_of(fixed_tree(rng))
    people = young_people(geography, populations, rng)
    return City(geography, people, aggregate(people, geography))


@pytest.fixture(scope="module")
def published(city: City) -> pd.DataFrame:
    return apply_disclosure_control(city.areas, RULES).table


# ----------------------------------------------------------------------------------------------
# the attacker's view: equations parent = sum of children, per additive quantity


def equations(areas: pd.DataFrame, rules: DisclosureConfig) -> list[tuple[int, list[int]]]:
    """(parent row, child rows) for every parent of every pair (direct parents, as built here)."""
    out = []
    levels = areas["level"].to_numpy()
    for parent_level, child_level in rules.hierarchy:
        for parent in np.flatnonzero(levels == parent_level):
            children = np.flatnonzero(
                (levels == child_level) & (areas["parent_code"] == areas["code"].iat[parent])
            )
            if len(children):
                out.append((int(parent), [int(c) for c in children]))
    return out


def quantities(published: pd.DataFrame) -> dict[str, np.ndarray]:
    """Whether each cell is hidden, per additive quantity."""
    hidden = {"population": published["population"].isna().to_numpy()}
    hidden["expected"] = published["expected"].isna().to_numpy()
    for factor in FACTORS:
        hidden[f"count_{factor}"] = published[f"count_{factor}"].isna().to_numpy()
    return hidden


def determined_cells(hidden: np.ndarray, eqs: list[tuple[int, list[int]]]) -> list[int]:
    """Hidden cells that the equations pin down exactly, given every published value exactly.

    The attacker knows every published cell's true value (no rounding: the worst case). A
    hidden cell x_j is determined iff its unit vector lies in the row space of the equations
    restricted to the hidden cells.
    """
    unknown = np.flatnonzero(hidden)
    if len(unknown) == 0:
        return []
    column = {cell: i for i, cell in enumerate(unknown)}
    rows = []
    for parent, children in eqs:
        row = np.zeros(len(unknown))
        if hidden[parent]:
            row[column[parent]] = 1.0
        for child in children:
            if hidden[child]:
                row[column[child]] = -1.0
        if row.any():
            rows.append(row)
    if not rows:
        return [int(c) for c in unknown]
    a = np.array(rows)
    rank = np.linalg.matrix_rank(a)
    found = []
    for cell, i in column.items():
        unit = np.zeros(len(unknown))
        unit[i] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            found.append(int(cell))
    return found


def assert_differencing_fails(
    areas: pd.DataFrame, published: pd.DataFrame, rules: DisclosureConfig
) -> None:
    """No hidden cell can be recovered from its parent and published siblings.

    For every additive quantity and every equation parent = sum of children:
    - with the parent published, its hidden children are none or at least two, and together
      they pass the primary rule (their total is itself disclosed by differencing);
    - with the parent hidden, at least one child is hidden too (else the sum recovers it);
    - across all equations at once, using the TRUE values of every published cell (no
      rounding to hide behind), no hidden cell is determined (rank test);
    - with the published (rounded) values, parent - published children misses the hidden
      children's true total by at most (k + 1) * base / 2 over the k + 1 rounded cells.
    """
    eqs = equations(areas, rules)
    base = rules.rounding_base
    for quantity, hidden in quantities(published).items():
        truth = areas[quantity].to_numpy(np.float64)
        population = areas["population"].to_numpy(np.float64)
        for parent, children in eqs:
            hid = [c for c in children if hidden[c]]
            shown = [c for c in children if not hidden[c]]
            if hidden[parent]:
                assert hid, (quantity, areas["code"].iat[parent], "recoverable by summing")
                continue
            assert len(hid) != 1, (quantity, areas["code"].iat[parent], "one hidden child")
            if not hid:
                continue
            total = truth[hid].sum()
            if quantity in ("population", "expected"):
                assert population[hid].sum() >= rules.min_count, quantity
            else:
                assert total >= rules.min_count, quantity
                assert population[hid].sum() - total >= rules.min_count, quantity
            values = pd.to_numeric(published[quantity]).to_numpy(np.float64, na_value=np.nan)
            estimate = values[parent] - values[shown].sum()
            assert abs(estimate - total) <= (len(shown) + 1) * base / 2 + 1e-9
        assert determined_cells(hidden, eqs) == [], quantity


# ----------------------------------------------------------------------------------------------
# suppression


def test_the_output_has_the_contract_columns(city: City, published: pd.DataFrame) -> None:
    expected = [
        "level",
        "code",
        "name",
        "parent_code",
        "suppressed",
        "suppression_reason",
        "population",
        "expected",
        "rate_per_1000",
        "mean_risk",
        "mean_risk_raw",
        "risk_low",
        "risk_high",
    ]
    for factor in FACTORS:
        expected += [
            f"count_{factor}",
            f"count_{factor}_suppressed",
            f"prevalence_{factor}",
            f"contrib_{factor}",
        ]
    assert list(published.columns) == expected
    assert set(expected[:13]) <= set(AREA_COLUMNS)
    assert published["suppressed"].dtype == bool
    assert str(published["population"].dtype) == "Int64"
    pd.testing.assert_frame_equal(
        published[["level", "code", "name", "parent_code"]],
        city.areas[["level", "code", "name", "parent_code"]],
    )


def test_areas_below_the_threshold_publish_only_their_identity(
    city: City, published: pd.DataFrame
) -> None:
    small = (city.areas["population"] < 10).to_numpy()
    assert 8 <= small.sum() < len(small)
    rows = published[small]
    assert rows["suppressed"].all()
    reason = SUPPRESSION_REASON.format(min_count=10)
    assert (rows["suppression_reason"] == reason).all()
    figures = [
        c
        for c in published.columns
        if c not in ("level", "code", "name", "parent_code", "suppressed", "suppression_reason")
        and not c.endswith("_suppressed")
    ]
    assert rows[figures].isna().all().all()
    assert rows[[f"count_{f}_suppressed" for f in FACTORS]].all().all()
    assert published.loc[~published["suppressed"], "suppression_reason"].isna().all()


def test_complementary_suppression_hides_a_neighbour_with_the_same_reason(
    city: City, published: pd.DataFrame
) -> None:
    """A complement gives the primary suppressions' reason: one reason tells nothing apart."""
    complementary = published["suppressed"] & (city.areas["population"] >= 10)
    assert complementary.any()
    reason = SUPPRESSION_REASON.format(min_count=10)
    assert (published.loc[complementary, "suppression_reason"] == reason).all()
    assert (city.areas.loc[complementary, "population"] >= 10).all()
    assert published.loc[complementary, "mean_risk"].isna().all()


def test_small_factor_counts_are_withheld_with_or_without(
    city: City, published: pd.DataFrame
) -> None:
    shown_area = ~published["suppressed"]
    for factor in FACTORS:
        count = city.areas[f"count_{factor}"]
        without = city.areas["population"] - count
        small = shown_area & ((count < 10) | (without < 10))
        flag = published[f"count_{factor}_suppressed"]
        assert flag[small].all() and published.loc[small, f"count_{factor}"].isna().all()
        # every published count is one that passes the rule on the true values
        out = shown_area & ~flag
        assert ((count[out] >= 10) & (without[out] >= 10)).all()
        assert published.loc[flag, f"count_{factor}"].isna().all()
        assert published.loc[flag, f"prevalence_{factor}"].isna().all()
        # the mean contribution goes with the count: withheld with it, published with it
        assert published.loc[flag, f"contrib_{factor}"].isna().all()
        assert published.loc[out, f"contrib_{factor}"].notna().all()
    # both sides bite: a rare factor (few with) and a common one (few without) in small areas
    assert published.loc[shown_area, "count_looked_after_suppressed"].any()
    assert (shown_area & published["count_excluded_suppressed"]).any()


def test_zero_counts_are_withheld_unless_declared_structural() -> None:
    areas = _hand_table(counts=[0, 12, 15, 18])
    withheld = apply_disclosure_control(areas, RULES).table
    assert withheld["count_looked_after_suppressed"].tolist() == [False, True, True, False, False]
    structural = DisclosureConfig(method="threshold", zeros_disclosive=False)
    kept = apply_disclosure_control(areas, structural).table
    assert kept["count_looked_after"].tolist() == [45, 0, 10, 15, 20]
    assert not kept["count_looked_after_suppressed"].any()
    check_no_individuals(kept, structural)


def test_differencing_cannot_recover_a_suppressed_area(city: City, published: pd.DataFrame) -> None:
    assert_differencing_fails(city.areas, published, RULES)


tree_strategy = st.lists(
    st.lists(
        st.lists(
            st.lists(st.integers(0, 45), min_size=1, max_size=4),
            min_size=1,
            max_size=3,
        ),
        min_size=1,
        max_size=3,
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=tree_strategy,
    seed=st.integers(0, 2**32 - 1),
    prevalence=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
    zeros_disclosive=st.booleans(),
)
def test_differencing_fails_on_any_hierarchy(
    tree: Tree, seed: int, prevalence: tuple[float, float], zeros_disclosive: bool
) -> None:
    rng = np.random.default_rng(seed)
    geography, populations = geography_of(tree)
    areas = aggregate(young_people(geography, populations, rng, prevalence), geography)
    rules = DisclosureConfig(method="threshold", zeros_disclosive=zeros_disclosive)
    result = apply_disclosure_control(areas, rules)
    if zeros_disclosive:
        assert_differencing_fails(areas, result.table, rules)
    else:  # structural zeros may be published: only exact recovery is ruled out
        eqs = equations(areas, rules)
        for quantity, hidden in quantities(result.table).items():
            assert determined_cells(hidden, eqs) == [], quantity
    check_no_individuals(result.table, rules)
    published = ~result.table["suppressed"]
    assert (areas.loc[published, "population"] >= rules.min_count).all()


# ----------------------------------------------------------------------------------------------
# rounding


def test_counts_are_rounded_to_the_base_after_suppression(
    city: City, published: pd.DataFrame
) -> None:
    for column in ["population", *(f"count_{f}" for f in FACTORS)]:
        shown = published[column].notna()
        values = published.loc[shown, column].astype(int)
        assert (values % 5 == 0).all(), column
        assert ((values - city.areas.loc[shown, column]).abs() <= 2).all(), column
    shown = published["expected"].notna()
    assert (published.loc[shown, "expected"] % 5 == 0).all()
    assert (
        (published.loc[shown, "expected"] - city.areas.loc[shown, "expected"]).abs() <= 2.5
    ).all()


def test_mean_like_figures_are_rounded_to_what_the_population_supports(
    city: City, published: pd.DataFrame
) -> None:
    shown = ~published["suppressed"]
    decimals = adaptive_decimals(published.loc[shown, "population"].astype(int), RULES)
    risk_d, contrib_d = np.minimum(decimals, 3), np.minimum(decimals, 2)
    truth = city.areas[shown]
    rows = published[shown]
    for column in ("mean_risk", "risk_low", "risk_high"):  # as given: see RISK_FIGURES
        want = [round(v, int(d)) for v, d in zip(truth[column], risk_d, strict=True)]
        np.testing.assert_allclose(rows[column], want, atol=1e-12, err_msg=column)
    # the raw mean and the rate are the published expected over the published population
    ratio = rows["expected"] / rows["population"].astype(float)
    want = [round(v, int(d)) for v, d in zip(ratio, risk_d, strict=True)]
    np.testing.assert_allclose(rows["mean_risk_raw"], want, atol=1e-12)
    np.testing.assert_allclose(rows["rate_per_1000"], (1000 * ratio).round(1), atol=1e-9)
    for factor in FACTORS:
        column = f"contrib_{factor}"
        want = [round(v, int(d)) for v, d in zip(truth[column], contrib_d, strict=True)]
        want = np.where(rows[f"count_{factor}_suppressed"], np.nan, want)
        np.testing.assert_allclose(rows[column], want, atol=1e-12, err_msg=column)
        # prevalence is the published count over the published population
        counted = rows[f"count_{factor}"].notna()
        ratio = rows.loc[counted, f"count_{factor}"].astype(float) / rows.loc[
            counted, "population"
        ].astype(float)
        np.testing.assert_allclose(
            rows.loc[counted, f"prevalence_{factor}"], ratio.round(3), atol=1e-12
        )
    # small areas get 2 decimals, larger ones 3
    assert set(risk_d) == {2, 3}
    assert (rows["risk_low"] <= rows["mean_risk"]).all() and (
        rows["mean_risk"] <= rows["risk_high"]
    ).all()


def test_adaptive_decimals_hide_one_person_within_the_margin() -> None:
    populations = np.array([10, 15, 95, 100, 105, 995, 1000, 1005, 10_005, 1_000_000])
    decimals = adaptive_decimals(populations, RULES)
    assert decimals.tolist() == [2, 2, 2, 2, 3, 3, 3, 4, 5, 6]
    smallest = np.maximum(populations - 2, 10)
    assert (10.0**-decimals * smallest >= 0.1 - 1e-12).all()
    assert (10.0 ** -(decimals + 1) * smallest < 0.1).all()
    off = DisclosureConfig(method="threshold", differencing_margin=0)
    assert (adaptive_decimals(populations, off) == 12).all()


def test_release_against_release_differencing_leaves_a_wide_interval(city: City) -> None:
    """Two releases, identical except that one young person (risk r) joined one LSOA.

    The attacker knows that, and nothing else changed. As a worst case he also knows every
    area's exact population n before the join (the published one is rounded, but an
    interval's width or outside knowledge might give it away). For each area containing the
    LSOA that is published in both releases, and each published figure on its own, he solves
    for the newcomer's value with everything the tables show:

    - a mean m published to step g in each release: (n + 1) m' - n m = r, so r lies in
      [(n + 1)(m' - g'/2) - n(m + g/2), (n + 1)(m' + g'/2) - n(m - g/2)], of width
      (n + 1) g' + n g; the same for a factor's mean contribution (the newcomer's SHAP
      value). The raw mean and rate are the published expected over the published
      population (checked here), so they tell only what those two do;
    - the expected count, rounded to base b: r lies within (e' - e) +/- b, of width 2b.

    We assert that the true value lies in every such interval (the attack is modelled
    correctly) and that every interval is at least 2 * differencing_margin (0.2 of risk)
    wide: no single published figure pins the newcomer's risk to within +/- 0.1. Areas not
    containing the LSOA publish the same figures in both releases.

    Not claimed (see the module docstring): intersecting the intervals of several figures or
    levels can narrow them, and deterministic rounding of counts can show the newcomer's
    factor status when a count crosses a rounding boundary.
    """
    margin = RULES.differencing_margin
    first = apply_disclosure_control(city.areas, RULES).table
    lsoas = city.areas.index[(city.areas["level"] == "lsoa") & ~first["suppressed"]]
    ancestors = _ancestors(city.areas)
    checked = 0
    for lsoa, r, shap in [(lsoas[0], 0.04, 0.55), (lsoas[3], 0.35, -0.1), (lsoas[-1], 0.92, 0.7)]:
        code = city.areas.at[lsoa, "code"]
        newcomer = city.people.iloc[:1].assign(
            lsoa_code=code, risk=r, has_looked_after=True, shap_looked_after=shap
        )
        people = pd.concat([city.people, newcomer], ignore_index=True)
        second = apply_disclosure_control(aggregate(people, city.geography), RULES).table
        containing = ancestors[code]
        for i in city.areas.index:
            if first.at[i, "suppressed"] or second.at[i, "suppressed"]:
                continue
            if city.areas.at[i, "code"] not in containing:
                pd.testing.assert_series_equal(first.loc[i], second.loc[i], check_names=False)
                continue
            n = int(city.areas.at[i, "population"])
            steps = [_step(first, i), _step(second, i)]
            # the raw mean and the rate are functions of expected and population: they move
            # only as those do, which the expected check below covers
            for column in ("mean_risk_raw", "rate_per_1000"):
                for table in (first, second):
                    ratio = table.at[i, "expected"] / float(table.at[i, "population"])
                    assert abs(table.at[i, column] - ratio * (1000 if "rate" in column else 1)) < (
                        0.051 if "rate" in column else 0.0051
                    )
            for column, value, scale in [
                ("mean_risk", r, 1.0),
                ("contrib_looked_after", shap, 1.0),
            ]:
                g1, g2 = (s[column] for s in steps)
                m1 = first.at[i, column] / scale
                m2 = second.at[i, column] / scale
                if np.isnan(m1) or np.isnan(m2):  # a contribution withheld with its count
                    continue
                low = (n + 1) * (m2 - g2 / 2) - n * (m1 + g1 / 2)
                high = (n + 1) * (m2 + g2 / 2) - n * (m1 - g1 / 2)
                assert low - 1e-9 <= value <= high + 1e-9, (column, i)
                assert high - low >= 2 * margin - 1e-9, (column, i, high - low)
                checked += 1
            moved = second.at[i, "expected"] - first.at[i, "expected"]
            assert moved - 5 < r < moved + 5
    assert checked >= 3 * 2 * 4  # three newcomers, two figures, LSOA and several parents


def _step(table: pd.DataFrame, row: int) -> dict[str, float]:
    """The rounding step of each mean-like figure of a published area, as the page shows it."""
    decimals = int(adaptive_decimals([int(table.at[row, "population"])], RULES)[0])
    risk = 10.0 ** -min(decimals, RULES.risk_decimals)
    contrib = 10.0 ** -min(decimals, RULES.contribution_decimals)
    return {
        "mean_risk_raw": risk,
        "mean_risk": risk,
        "rate_per_1000": risk,  # 1000 x the published raw mean
        "contrib_looked_after": contrib,
    }


def _ancestors(areas: pd.DataFrame) -> dict[str, set[str]]:
    parent = dict(zip(areas["code"], areas["parent_code"], strict=True))
    out = {}
    for code in areas["code"]:
        chain, current = set(), code
        while current is not None:
            chain.add(current)
            current = parent[current]
        out[code] = chain
    return out


# ----------------------------------------------------------------------------------------------
# the function's contract


def test_the_input_is_not_changed_and_the_result_is_deterministic(city: City) -> None:
    before = city.areas.copy(deep=True)
    first = apply_disclosure_control(city.areas, RULES)
    pd.testing.assert_frame_equal(city.areas, before)
    again = apply_disclosure_control(city.areas, RULES)
    pd.testing.assert_frame_equal(first.table, again.table)


def test_the_counts_summarise_the_table(city: City) -> None:
    result = apply_disclosure_control(city.areas, RULES)
    table, counts = result.table, result.counts
    small = (city.areas["population"] < 10).to_numpy()
    assert counts["areas"] == len(table)
    assert counts["areas_published"] == (~table["suppressed"]).sum()
    assert counts["areas_suppressed_primary"] == small.sum()
    assert counts["areas_suppressed_complementary"] == (table["suppressed"] & ~small).sum()
    withheld = sum(
        int((table[f"count_{f}_suppressed"] & ~table["suppressed"]).sum()) for f in FACTORS
    )
    assert (
        counts["prevalence_suppressed_primary"] + counts["prevalence_suppressed_complementary"]
        == withheld
    )
    assert counts["prevalence_suppressed_complementary"] > 0
    assert 0 < counts["cells_rounded"] <= (~table["suppressed"]).sum() * (2 + len(FACTORS))
    assert all(isinstance(v, int) for v in counts.values())


def test_shrunk_figures_are_published_like_mean_risks(city: City) -> None:
    areas = city.areas.assign(shrunk_mean_risk=city.areas["mean_risk"] * 0.9)
    table = apply_disclosure_control(areas, RULES).table
    assert table.columns[13] == "shrunk_mean_risk"
    assert table.loc[table["suppressed"], "shrunk_mean_risk"].isna().all()
    shown = ~table["suppressed"]
    np.testing.assert_allclose(
        table.loc[shown, "shrunk_mean_risk"], table.loc[shown, "shrunk_mean_risk"].round(3)
    )


@pytest.mark.parametrize(
    "column", ["person_id", "person_key", "score", "shrinkage_weight", "nhs_number"]
)
def test_a_column_that_is_not_publishable_is_refused(city: City, column: str) -> None:
    with pytest.raises(DisclosureError, match=f"'{column}'.*may not be published"):
        apply_disclosure_control(city.areas.assign(**{column: 1}), RULES)


def test_columns_computed_after_disclosure_control_are_refused_as_input(city: City) -> None:
    with pytest.raises(DisclosureError, match=r"\['rank'\] are computed from published figures"):
        apply_disclosure_control(city.areas.assign(rank=1), RULES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.drop(columns="expected"), r"missing column\(s\) \['expected'\]"),
        (
            lambda a: a.drop(columns="contrib_excluded"),
            r"\['excluded'\] have count_F but no contrib_F",
        ),
        (
            lambda a: a.assign(level=a["level"].replace("ward", "district")),
            r"'level' has value\(s\) \['district'\]",
        ),
        (
            lambda a: a.assign(population=a["population"] + 0.5),
            "'population' must hold whole numbers",
        ),
        (
            lambda a: a.assign(count_excluded=a["population"] + 1),
            "'count_excluded' exceeds 'population'",
        ),
        (
            lambda a: a.assign(parent_code=a["parent_code"].replace("W000", "W999")),
            r"'parent_code' names area\(s\) \['W999'\]",
        ),
        (lambda a: pd.concat([a, a.iloc[:1]], ignore_index=True), r"'code' must be unique"),
    ],
)
def test_a_malformed_table_is_refused_naming_the_column(
    city: City, change: object, message: str
) -> None:
    with pytest.raises(DisclosureError, match=message):
        apply_disclosure_control(change(city.areas), RULES)  # type: ignore[operator]


def test_an_area_without_a_parent_at_the_pair_level_is_refused(city: City) -> None:
    areas = city.areas.copy()
    areas.loc[areas["code"] == "W000", "parent_code"] = None
    with pytest.raises(
        DisclosureError, match=r"1 ward area\(s\) have no borough above them.*'W000'"
    ):
        apply_disclosure_control(areas, RULES)


def test_check_no_individuals_refuses_unsafe_tables(published: pd.DataFrame) -> None:
    check_no_individuals(published, RULES)
    for column in ("person_key", "record_id", "score"):
        with pytest.raises(DisclosureError, match=f"'{column}'.*identifiers, scores or inputs"):
            check_no_individuals(published.assign(**{column: 0}), RULES)
    with pytest.raises(
        DisclosureError, match=r"\['age'\] may not be published \(not in the release contract\)"
    ):
        check_no_individuals(published.assign(age=12), RULES)
    shown = published.index[~published["suppressed"]][0]
    small = published.copy()
    small.loc[shown, "population"] = 5
    with pytest.raises(DisclosureError, match="1 published area\\(s\\) have population below 10"):
        check_no_individuals(small, RULES)
    unrounded = published.copy()
    unrounded.loc[shown, "population"] = 23
    with pytest.raises(
        DisclosureError, match="'population' has 1 published value\\(s\\) that are not multiples"
    ):
        check_no_individuals(unrounded, RULES)
    hidden = published.index[published["suppressed"]][0]
    leaky = published.copy()
    leaky.loc[hidden, "mean_risk"] = 0.2
    with pytest.raises(
        DisclosureError, match="still publish figures in column\\(s\\) \\['mean_risk'\\]"
    ):
        check_no_individuals(leaky, RULES)


def test_errors_are_vru_errors() -> None:
    assert issubclass(DisclosureError, VruError) and issubclass(DisclosureError, ValueError)


# ----------------------------------------------------------------------------------------------
# configuration


def test_the_shipped_config_holds_the_output_checking_defaults() -> None:
    config = load_disclosure_config(REPO / "configs" / "disclosure.yaml")
    assert config == DisclosureConfig()
    assert (config.min_count, config.rounding_base) == (10, 5)
    assert config.min_population == config.min_count
    assert load_disclosure_config(None) == DisclosureConfig()


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("min_count: -1\n", r"'min_count' Input should be greater than or equal to 1 \(got -1\)"),
        ("rounding_base: 0\n", r"'rounding_base' Input should be greater than or equal to 1"),
        (
            "hierarchy: [[city, district]]\n",
            r"'hierarchy\.0\.1' Input should be 'lsoa', 'ward', 'borough', 'bcu' or 'city' \(got 'district'\)",
        ),
        (
            "hierarchy: [[lsoa, ward]]\n",
            r"'hierarchy' Value error, pair \['lsoa', 'ward'\]: the parent level must be above",
        ),
        (
            "hierarchy: [[ward, lsoa], [ward, lsoa]]\n",
            r"'hierarchy' Value error, pair \['ward', 'lsoa'\] is listed more than once",
        ),
        ("min_cell: 10\n", r"'min_cell' Extra inputs are not permitted"),
    ],
)
def test_a_bad_config_names_the_field(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "disclosure.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_disclosure_config(path)


def test_a_custom_hierarchy_protects_the_pairs_it_names(city: City) -> None:
    rules = DisclosureConfig(
        method="threshold", hierarchy=(("city", "borough"), ("borough", "ward"), ("ward", "lsoa"))
    )
    table = apply_disclosure_control(city.areas, rules).table
    check_no_individuals(table, rules)
    levels = city.areas["level"].to_numpy()
    eqs = [
        e
        for e in equations(city.areas, DisclosureConfig())
        if levels[e[0]] != "city" and levels[e[0]] != "bcu"
    ]
    # boroughs against the city, by ancestry rather than parent_code
    boroughs = [int(i) for i in np.flatnonzero(levels == "borough")]
    eqs.append((int(np.flatnonzero(levels == "city")[0]), boroughs))
    for quantity, hidden in quantities(table).items():
        assert determined_cells(hidden, eqs) == [], quantity


# ----------------------------------------------------------------------------------------------
# helpers


def _hand_table(counts: list[int]) -> pd.DataFrame:
    """A ward (borough-less: hierarchy ward > lsoa only) of four LSOAs of 30 young people."""
    n = len(counts)
    population = [30 * n, *([30] * n)]
    count = [sum(counts), *counts]
    frame = pd.DataFrame(
        {
            "level": ["ward", *(["lsoa"] * n)],
            "code": ["W", *(f"L{i}" for i in range(n))],
            "name": ["ward", *(f"lsoa {i}" for i in range(n))],
            "parent_code": [None, *(["W"] * n)],
            "population": population,
            "expected": [3.0 * n, *([3.0] * n)],
            "rate_per_1000": 100.0,
            "mean_risk": 0.1,
            "risk_low": 0.05,
            "risk_high": 0.15,
            "count_looked_after": count,
            "contrib_looked_after": 0.1,
        }
    )
    return frame
