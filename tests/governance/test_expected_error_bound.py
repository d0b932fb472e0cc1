"""``DisclosureConfig.expected_error_bound``: how far a published expected may lie from the truth.

The one place the serving's ``expected_low``/``expected_high`` and "fewer than N" come from,
so each method's bound is checked against the mechanism itself: under cellkey, every
(population, cell key) of the perturbation with expected numbers across the whole range of
mean risks, including the ones that clamp at 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from governance.cellkey import KEY_RANGE, build_ptable, perturb_expected
from governance.disclosure import EXPECTED_QUANTILE_MAX, DisclosureConfig, DisclosureError

CELLKEY = DisclosureConfig(method="cellkey")


def test_cellkey_is_the_default() -> None:
    assert DisclosureConfig().method == "cellkey"


def test_the_quantile_bound_is_the_largest_noise_the_cell_key_draws() -> None:
    keys = np.arange(KEY_RANGE)
    n = np.full(KEY_RANGE, 1000)
    noisy = perturb_expected(np.full(KEY_RANGE, 500.0), n, n, keys, CELLKEY.cellkey)
    largest = np.abs(noisy - 500.0).max()  # rounded to 0.1
    assert largest == pytest.approx(
        CELLKEY.cellkey.expected_noise * EXPECTED_QUANTILE_MAX, abs=0.05
    )
    assert 2.8 < EXPECTED_QUANTILE_MAX < 2.9  # the 256th of 256 normal quantiles


@pytest.mark.parametrize("noise", [0.5, 2.0])
def test_the_cellkey_bound_holds_for_every_key_population_and_mean(noise: float) -> None:
    rules = DisclosureConfig(method="cellkey", cellkey={"expected_noise": noise})
    ptable = build_ptable(rules.cellkey)
    rng = np.random.default_rng(7)
    worst = 0.0
    for population in (1, 2, 5, 10, 11, 40, 150, 5000):
        for mean in (0.0, 0.001, 0.01, 0.1, 0.5, 0.99, 1.0):
            keys = np.arange(KEY_RANGE)
            n = np.full(KEY_RANGE, population)
            published_n = ptable.perturb(n, keys)
            keep = published_n > 0
            truth = mean * n + rng.uniform(-0.4, 0.4, KEY_RANGE) * min(mean, 1 - mean) * n
            published = perturb_expected(truth, n, published_n, keys[::-1], rules.cellkey)
            bound = rules.expected_error_bound(published[keep], published_n[keep])
            error = np.abs(published - truth)[keep]
            assert (error <= bound + 1e-9).all(), (population, mean)
            worst = max(worst, float((error / bound).max()))
    assert worst > 0.6  # not a bound so loose that it says nothing


def test_the_cellkey_bound_grows_with_the_mean_and_is_tighter_than_a_base_where_risk_is_rare() -> (
    None
):
    bound = CELLKEY.expected_error_bound([0.0, 1.0, 5.0, 50.0], [100, 100, 100, 100])
    assert (bound[:3] < 2.5).all()  # mean risks up to 5%: tighter than rounding to 5
    assert bound[0] < bound[1] < bound[2] < bound[3]
    # an area of 10 all at risk 1: the population's perturbation moves expected by up to D
    assert CELLKEY.expected_error_bound([10.0], [10])[0] == pytest.approx(
        0.5 * EXPECTED_QUANTILE_MAX + 0.05 + 3.0
    )


def test_the_threshold_bound_is_half_the_rounding_base() -> None:
    rules = DisclosureConfig(method="threshold", rounding_base=10)
    assert rules.expected_error_bound([0.0, 20.0], [10, 30]).tolist() == [5.0, 5.0]


def test_the_dp_bound_is_the_given_half_width_and_is_required() -> None:
    rules = DisclosureConfig(method="dp")
    assert rules.expected_error_bound([0.0, 3.0], [10, 20], dp_half_width=[4.2, 1.5]).tolist() == [
        4.2,
        1.5,
    ]
    with pytest.raises(DisclosureError, match="method dp needs dp_half_width"):
        rules.expected_error_bound([0.0], [10])
