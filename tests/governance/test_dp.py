"""The DP option (``disclosure.method: dp``, :mod:`governance.dp`) on OpenDP.

OpenDP draws its noise from the operating system and cannot be seeded, so these tests check
statistical properties over many draws (the noise's variance, the intervals' coverage, the
privacy bound of a differencing attack) with limits several standard errors wide, and exact
properties where they are exact (every published figure is made from the noised LSOA
figures; the budget refuses; the half-widths are the discrete Laplace's quantiles).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from governance.contracts.errors import ConfigError
from governance.disclosure import (
    DisclosureConfig,
    DisclosureError,
    apply_disclosure_control,
    check_no_individuals,
    dp_area_sizes,
    load_disclosure_config,
)
from governance.dp import (
    DpBudgetError,
    DpConfig,
    NoisedLsoa,
    check_budget,
    count_mechanism,
    expected_half_width,
    expected_mechanism,
    noise_half_width,
    noise_lsoa,
    noise_variance,
)
from tests.governance.test_cellkey_attacks import FACTORS, make_cohort, unpublished

DP = DisclosureConfig(method="dp")
DRAWS = 40_000


@pytest.fixture(scope="module")
def city() -> pd.DataFrame:
    return unpublished(make_cohort(seed=16, lsoas=300, low=4, high=60))


def _variance_within(draws: np.ndarray, want: float) -> None:
    """The sample variance lies within 5 standard errors of ``want``."""
    centred = draws - draws.mean()
    var = float(np.mean(centred**2))
    se = math.sqrt((float(np.mean(centred**4)) - var * var) / len(draws))
    assert abs(var - want) < 5 * se, (var, want, se)


@pytest.mark.parametrize("epsilon", [0.1, 0.5, 2.0])
def test_count_noise_has_the_variance_epsilon_asks_for(epsilon: float) -> None:
    mechanism, scale = count_mechanism(epsilon)
    assert scale == pytest.approx(1 / epsilon, rel=1e-6)
    assert mechanism.map(1) <= epsilon * (1 + 1e-9)
    draws = np.asarray(mechanism([0] * DRAWS), dtype=np.float64)
    assert np.all(draws == np.round(draws))  # a count stays a whole number
    _variance_within(draws, noise_variance(scale))


def test_expected_noise_is_laplace_of_scale_one_over_epsilon() -> None:
    mechanism, scale = expected_mechanism(0.4, DRAWS)
    assert scale == pytest.approx(2.5, rel=1e-6)
    assert mechanism.map(1.0) <= 0.4 * (1 + 1e-9)
    draws = np.asarray(mechanism([0.0] * DRAWS))
    _variance_within(draws, 2 * scale * scale)


def test_the_half_width_is_the_discrete_laplace_quantile() -> None:
    scale, level = 1 / 0.3, 0.95
    q = math.exp(-1 / scale)
    # P(|Z| > k) = 2 q^(k+1) / (1 + q): the least k with that at most 5%
    exact = next(k for k in range(1000) if 2 * q ** (k + 1) / (1 + q) <= 1 - level)
    assert noise_half_width(scale, 1, level) == exact
    # a sum of m noises is wider than one, narrower than m of them
    five = noise_half_width(scale, 5, level)
    assert exact < five < 5 * exact
    assert expected_half_width(2.5, 1, level) == pytest.approx(2.5 * math.log(20), abs=0.1)


@pytest.mark.parametrize("m", [1, 5])
def test_the_noise_interval_holds_the_truth_at_its_level(m: int) -> None:
    mechanism, scale = count_mechanism(0.3)
    sums = np.asarray(mechanism([0] * (m * DRAWS // 4)), dtype=np.int64).reshape(-1, m).sum(1)
    half = noise_half_width(scale, m, 0.95)
    coverage = float(np.mean(np.abs(sums) <= half))
    se = math.sqrt(0.95 * 0.05 / len(sums))
    # at least the level (a discrete quantile covers a little more), not much more
    assert 0.95 - 4 * se <= coverage <= 0.975, coverage


def test_a_differencing_attack_gains_no_more_than_e_to_the_epsilon() -> None:
    """One young person added to an LSOA of 12: the likelihood ratio of every published value.

    The attacker sees the LSOA's published population in many releases of each world and
    learns the best rule on one half of them; on the other half, no published value may be
    more likely in one world than ``e^epsilon`` times the other (beyond sampling error), and
    the rule's success may not pass ``e^eps / (1 + e^eps)``, the most epsilon-DP allows.
    """
    epsilon = 0.3
    mechanism, _ = count_mechanism(epsilon)
    without = np.maximum(np.asarray(mechanism([12] * DRAWS)), 0)  # published: clamped at 0
    with_one = np.maximum(np.asarray(mechanism([13] * DRAWS)), 0)
    values = np.arange(0, 60)
    p = np.array([(without == v).mean() for v in values])
    r = np.array([(with_one == v).mean() for v in values])
    enough = (p * DRAWS >= 400) & (r * DRAWS >= 400)
    assert enough.sum() >= 10
    log_ratio = np.abs(np.log(r[enough] / p[enough]))
    se = np.sqrt(1 / (p[enough] * DRAWS) + 1 / (r[enough] * DRAWS))
    assert np.all(log_ratio <= epsilon + 4 * se), (log_ratio.max(), epsilon)

    half = DRAWS // 2
    train_p = np.array([(without[:half] == v).mean() for v in values])
    train_r = np.array([(with_one[:half] == v).mean() for v in values])
    says_added = set(values[train_r > train_p].tolist())
    hits = np.isin(with_one[half:], list(says_added)).sum()
    hits += (~np.isin(without[half:], list(says_added))).sum()
    success = hits / (2 * (DRAWS - half))
    bound = math.exp(epsilon) / (1 + math.exp(epsilon))
    assert success <= bound + 4 * math.sqrt(0.25 / (DRAWS - half)), (success, bound)
    assert success > 0.5  # the attack is real: it learns something, within the bound


def _recompute(city: pd.DataFrame, noised: NoisedLsoa, rules: DisclosureConfig) -> pd.DataFrame:
    """Every area's published figures from the noised LSOA vectors, by pandas group-bys."""
    lsoa = city[city["level"] == "lsoa"].reset_index(drop=True)
    figures = pd.DataFrame(
        {"code": lsoa["code"], "population": noised.population, "expected": noised.expected}
    )
    for f in FACTORS:
        figures[f"count_{f}"] = noised.counts[f]
    parent = dict(zip(city["code"], city["parent_code"], strict=True))
    rows = [figures]
    current = figures.assign(code=figures["code"].map(parent))
    while current["code"].notna().any():
        summed = current.dropna(subset=["code"]).groupby("code", as_index=False).sum()
        rows.append(summed)
        current = summed.assign(code=summed["code"].map(parent))
    sums = pd.concat(rows).set_index("code").reindex(city["code"]).fillna(0.0)
    out = pd.DataFrame({"code": city["code"].to_numpy()})
    population = np.maximum(np.round(sums["population"].to_numpy()), 0)
    out["population"] = population
    expected = np.minimum(np.maximum(sums["expected"].to_numpy(), 0), population)
    out["expected"] = np.round(expected, rules.dp.expected_decimals)
    out["suppressed"] = population < rules.min_count
    for f in FACTORS:
        count = np.minimum(np.maximum(np.round(sums[f"count_{f}"].to_numpy()), 0), population)
        small = (count < rules.min_count) | (population - count < rules.min_count)
        out[f"count_{f}"] = np.where(small | out["suppressed"], np.nan, count)
    return out


def test_every_published_figure_is_made_from_the_noised_lsoa_figures(
    city: pd.DataFrame,
) -> None:
    result = apply_disclosure_control(city, DP)
    assert result.noised is not None
    table = result.table
    want = _recompute(city, result.noised, DP)
    assert table["code"].tolist() == want["code"].tolist()
    shown = ~want["suppressed"].to_numpy()
    assert (table["suppressed"].to_numpy() == want["suppressed"].to_numpy()).all()
    got_n = pd.to_numeric(table["population"]).to_numpy(np.float64, na_value=np.nan)
    np.testing.assert_array_equal(got_n[shown], want["population"].to_numpy()[shown])
    np.testing.assert_allclose(table["expected"].to_numpy()[shown], want["expected"][shown])
    n, e = want["population"].to_numpy()[shown], want["expected"].to_numpy()[shown]
    np.testing.assert_allclose(
        table["rate_per_1000"].to_numpy()[shown],
        np.round(1000 * (e / n), 1),  # in the release's order: a ratio, then scaled
        atol=1e-9,
    )
    for f in FACTORS:
        got = pd.to_numeric(table[f"count_{f}"]).to_numpy(np.float64, na_value=np.nan)
        np.testing.assert_array_equal(got, want[f"count_{f}"].to_numpy())
        assert table[f"contrib_{f}"].isna().all()  # withheld: not made from noised figures
        prevalence = table[f"prevalence_{f}"].to_numpy()
        published = ~np.isnan(got)
        np.testing.assert_allclose(
            prevalence[published], np.round(got[published] / got_n[published], 3)
        )
    # no negative count, every published count within its published population
    assert (got_n[shown] >= DP.min_count).all()
    check_no_individuals(table, DP)


def test_the_table_depends_on_the_data_only_through_the_noised_figures(
    city: pd.DataFrame,
) -> None:
    """Post-processing: other raw figures, the same noised ones, the same table."""
    first = apply_disclosure_control(city, DP)
    assert first.noised is not None
    other = city.copy()
    other["expected"] = other["expected"] * 0.5
    other["population"] = other["population"] + 3  # every level, sums kept
    for f in FACTORS:
        other[f"contrib_{f}"] = other[f"contrib_{f}"] + 1.0
    again = apply_disclosure_control(other, DP, noised=first.noised)
    pd.testing.assert_frame_equal(first.table, again.table)


def test_each_release_draws_fresh_noise(city: pd.DataFrame) -> None:
    """Not seeded (OpenDP draws from the OS): two releases of the same data differ."""
    one = apply_disclosure_control(city, DP).table["population"]
    two = apply_disclosure_control(city, DP).table["population"]
    assert not one.equals(two)


def test_intervals_contain_the_truth_at_about_the_stated_rate(city: pd.DataFrame) -> None:
    """Over repeated releases, published +/- the manifest's half-width holds the truth."""
    sizes = dp_area_sizes(city)
    truth = city["population"].to_numpy(np.float64)
    true_e = city["expected"].to_numpy(np.float64)
    hits_n = hits_e = tries = 0
    for _ in range(30):
        result = apply_disclosure_control(city, DP)
        assert result.noised is not None
        table = result.table
        n = pd.to_numeric(table["population"]).to_numpy(np.float64, na_value=np.nan)
        e = table["expected"].to_numpy(np.float64)
        big = (truth >= 40) & ~np.isnan(n)  # suppression cannot select on the noise here
        for row in np.flatnonzero(big):
            m = int(sizes[row])
            h_n = noise_half_width(result.noised.scales["population"], m, 0.95)
            h_e = expected_half_width(result.noised.scales["expected"], m, 0.95) + 0.05
            hits_n += max(n[row] - h_n, 0) <= truth[row] <= n[row] + h_n
            hits_e += max(e[row] - h_e, 0) <= true_e[row] <= e[row] + h_e
            tries += 1
    se = math.sqrt(0.95 * 0.05 / tries)
    assert hits_n / tries >= 0.95 - 4 * se, hits_n / tries
    assert hits_e / tries >= 0.95 - 4 * se, hits_e / tries
    assert hits_n / tries <= 0.99 and hits_e / tries <= 0.99  # not vacuous


def test_the_budget_refuses_past_the_cap_and_names_the_key() -> None:
    config = DpConfig(epsilon=1.0, max_total_epsilon=2.5)
    assert check_budget(config, 1.0, 1.0, "releases/") == 2.0
    with pytest.raises(DpBudgetError, match=r"disclosure\.dp\.max_total_epsilon is 2\.5"):
        check_budget(config, 2.0, 1.0, "releases/")


def test_shares_must_add_up_to_one() -> None:
    with pytest.raises(ValidationError, match=r"shares must add up to 1"):
        DpConfig(shares={"population": 0.5, "expected": 0.5, "counts": 0.5})


def test_the_release_loss_is_the_sum_of_the_measures() -> None:
    noised = noise_lsoa([20, 30], [1.0, 2.0], {"a": [1, 2], "b": [0, 3]}, DpConfig(epsilon=2.0))
    assert noised.spent["population"] == pytest.approx(0.6)
    assert noised.spent["count_a"] == pytest.approx(0.3)
    assert noised.epsilon == pytest.approx(2.0)


def test_noised_figures_that_do_not_match_the_table_are_refused(city: pd.DataFrame) -> None:
    noised = noise_lsoa([20], [1.0], {f: [1] for f in FACTORS}, DpConfig())
    with pytest.raises(DisclosureError, match=r"noised: lengths \[1\]"):
        apply_disclosure_control(city, DP, noised=noised)


def _with_one_more(table: pd.DataFrame, lsoa: str, risk: float) -> pd.DataFrame:
    """``table`` with one young person (risk ``risk``, the first factor) added to ``lsoa``."""
    out = table.copy()
    parent = dict(zip(out["code"], out["parent_code"], strict=True))
    code: object = lsoa
    while isinstance(code, str):
        row = out["code"] == code
        out.loc[row, "population"] += 1
        out.loc[row, f"count_{FACTORS[0]}"] += 1
        out.loc[row, "expected"] += risk
        code = parent[code]
    return out


def test_one_young_person_added_is_not_revealed_beyond_epsilon_by_the_whole_table() -> None:
    """The attacker knows both worlds' true figures and reads every published figure of the
    newcomer's LSOA and ward; the likelihood-ratio rule (the best test for these noises) may
    not succeed more often than ``e^eps / (1 + e^eps)`` for the release's whole epsilon."""
    small = unpublished(make_cohort(seed=3, lsoas=10, low=40, high=60))
    bigger = _with_one_more(small, "L0000", 0.9)
    columns = ["population", "expected", f"count_{FACTORS[0]}"]
    truth = small.set_index("code").loc["L0000", columns].astype(float)
    reps, hits = 100, 0
    for world, table in ((0, small), (1, bigger)):
        for _ in range(reps):
            result = apply_disclosure_control(table, DP)
            assert result.noised is not None
            shown = result.table.set_index("code").loc["L0000", columns]
            score = 0.0
            measures = ("population", "expected", f"count_{FACTORS[0]}")
            for column, measure in zip(columns, measures, strict=True):
                if pd.isna(shown[column]):
                    continue
                x, n, b = float(shown[column]), float(truth[column]), result.noised.scales[measure]
                step = 0.9 if column == "expected" else 1.0
                score += (abs(x - n) - abs(x - n - step)) / b
            hits += (score > 0) == bool(world)
    success = hits / (2 * reps)
    epsilon = DP.dp.epsilon
    bound = math.exp(epsilon) / (1 + math.exp(epsilon))
    assert success <= bound + 3 * math.sqrt(0.25 / (2 * reps)), (success, bound)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("dp: {epsilon: 0}\n", r"'dp.epsilon' Input should be greater than 0"),
        ("dp: {shares: {population: 0.5}}\n", r"shares must add up to 1 \(got 1.2\)"),
        ("dp: {budget: 3}\n", r"'dp.budget' Extra inputs are not permitted"),
    ],
)
def test_a_bad_dp_config_names_the_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "disclosure.yaml"
    path.write_text("method: dp\n" + yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_disclosure_config(path)


def test_the_shipped_config_reads_and_its_dp_section_is_the_default() -> None:
    rules = load_disclosure_config(Path(__file__).parents[2] / "configs" / "disclosure.yaml")
    assert rules.dp == DpConfig()


def test_the_check_refuses_a_dp_table_that_publishes_a_contribution(city: pd.DataFrame) -> None:
    table = apply_disclosure_control(city, DP).table
    leaked = table.copy()
    shown = ~leaked["suppressed"].to_numpy()
    leaked.loc[shown, f"contrib_{FACTORS[0]}"] = 0.1
    leaked.loc[leaked[f"count_{FACTORS[0]}_suppressed"], f"contrib_{FACTORS[0]}"] = np.nan
    with pytest.raises(
        DisclosureError, match=r"'contrib_looked_after' is published under method dp"
    ):
        check_no_individuals(leaked, DP)
    check_no_individuals(leaked, DisclosureConfig(method="cellkey"))  # allowed there
