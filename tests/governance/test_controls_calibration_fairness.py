"""The calibration and fairness gates attacked at their boundaries (found by `make mutation`).

Each test names a one-line change a careless edit could make and what must then go wrong: a
group judged one outcome too late, a p-value at exactly the significance level counted as
significant, intervals computed at the default confidence whatever was configured, standard
errors that do not cover the truth, a prediction of exactly 0 or 1 breaking the calibration
line. Pure functions on data built here; milliseconds each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.audit.calibration import (
    calibration_line,
    observed_expected,
    poisson_interval,
)
from governance.audit.calibration_check import calibration_check
from governance.audit.fairness_evidence import exact_interval, judged_rates
from governance.audit.gates import (
    CALIBRATION_FIGURES,
    calibration_figures,
    fairness_figures,
    gate_figures,
    holm,
)
from governance.contracts.errors import AuditInputError
from governance.contracts.settings import Gates


def _outcomes(rows: int, positives: int) -> np.ndarray:
    y = np.zeros(rows, dtype=np.int64)
    y[:positives] = 1
    return y


# -- observed / expected ---------------------------------------------------------------------


def test_a_model_expecting_less_than_one_outcome_still_has_a_ratio() -> None:
    found = observed_expected(np.array([1, 0]), np.array([0.25, 0.25]))
    assert found.expected == pytest.approx(0.5)
    assert found.ratio == pytest.approx(2.0)
    assert found.low is not None and found.high is not None


def test_a_model_expecting_nothing_says_so() -> None:
    found = observed_expected(np.array([1, 0, 1]), np.zeros(3))
    assert (found.observed, found.expected) == (2, 0.0)
    assert (found.ratio, found.low, found.high) == (None, None, None)


def test_the_configured_confidence_is_the_one_used() -> None:
    y, p = _outcomes(1000, 20), np.full(1000, 0.02)
    narrow = observed_expected(y, p, confidence=0.8)
    low, high = poisson_interval(20, 0.8)
    assert (narrow.low, narrow.high) == pytest.approx((low / 20.0, high / 20.0))
    wide = observed_expected(y, p)
    assert wide.low is not None and narrow.low is not None and wide.low < narrow.low
    rng = np.random.default_rng(3)
    q = rng.uniform(0.05, 0.5, 4000)
    t = (rng.random(4000) < q).astype(np.int64)
    line80, line95 = calibration_line(t, q, 0.8), calibration_line(t, q)
    assert line80 is not None and line95 is not None
    assert line80.slope_high - line80.slope_low < line95.slope_high - line95.slope_low
    groups = pd.DataFrame({"g": ["a"] * 2000 + ["b"] * 2000})
    check = calibration_check(t, q, groups, confidence=0.8, min_outcomes=30, min_group_size=30)
    assert check.overall.low == observed_expected(t, q, 0.8).low
    assert check.slope_low == line80.slope_low
    assert check.by["g"]["a"].low == observed_expected(t[:2000], q[:2000], 0.8).low


# -- the calibration line --------------------------------------------------------------------


def test_the_calibration_lines_intervals_cover_the_truth_about_95_times_in_100() -> None:
    """The standard errors are right: a wrong information matrix or z would miss this."""
    rng = np.random.default_rng(17)
    slope_hits = intercept_hits = 0
    runs = 200
    for _ in range(runs):
        x = rng.normal(-2.0, 1.0, 1500)
        scores = 1.0 / (1.0 + np.exp(-x))
        y = (rng.random(1500) < scores).astype(np.int64)
        line = calibration_line(y, scores)
        assert line is not None
        slope_hits += line.slope_low < 1.0 < line.slope_high
        intercept_hits += line.intercept_low < 0.0 < line.intercept_high
    assert 0.90 <= slope_hits / runs <= 0.99, slope_hits
    assert 0.90 <= intercept_hits / runs <= 0.99, intercept_hits


def test_the_fitted_slope_and_intercept_are_the_maximum_likelihood_ones() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    x = rng.normal(-2.0, 1.2, 20_000)
    scores = 1.0 / (1.0 + np.exp(-x))
    y = (rng.random(len(x)) < 1.0 / (1.0 + np.exp(-(0.3 + 0.8 * x)))).astype(np.int64)
    line = calibration_line(y, scores)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(x[:, None], y)
    assert line is not None
    assert line.slope == pytest.approx(reference.coef_[0][0], abs=1e-5)
    assert line.intercept == pytest.approx(reference.intercept_[0], abs=1e-5)
    assert line.slope_low < line.slope < line.slope_high
    assert line.intercept_low < line.intercept < line.intercept_high


def test_predictions_of_exactly_zero_or_one_give_a_finite_line() -> None:
    rng = np.random.default_rng(6)
    scores = rng.uniform(0.01, 0.99, 3000)
    scores[:20], scores[20:40] = 0.0, 1.0
    y = (rng.random(3000) < scores).astype(np.int64)
    line = calibration_line(y, scores)
    assert line is not None
    assert all(
        np.isfinite(v) for v in (line.slope, line.slope_low, line.slope_high, line.intercept_low)
    )


# -- who is judged ----------------------------------------------------------------------------


def test_exactly_min_outcomes_is_enough_to_judge() -> None:
    y = _outcomes(3000, 30)
    p = np.full(3000, 0.01)
    groups = pd.DataFrame({"g": ["a"] * 3000})
    check = calibration_check(y, p, groups, confidence=0.95, min_outcomes=30, min_group_size=30)
    assert check.overall.judged and check.by["g"]["a"].judged
    fewer = calibration_check(y, p, groups, confidence=0.95, min_outcomes=31, min_group_size=30)
    assert not fewer.overall.judged and not fewer.by["g"]["a"].judged


def test_a_group_of_exactly_min_group_size_is_published_and_a_smaller_one_withheld() -> None:
    y = _outcomes(100, 5)
    p = np.full(100, 0.05)
    groups = pd.DataFrame({"g": ["a"] * 30 + ["b"] * 29 + ["c"] * 41})
    check = calibration_check(y, p, groups, confidence=0.95, min_outcomes=30, min_group_size=30)
    a, b = check.by["g"]["a"], check.by["g"]["b"]
    assert not a.withheld and a.expected == pytest.approx(1.5) and a.ratio is not None
    assert a.observed == 5 and a.ratio == pytest.approx(5 / 1.5)
    assert b.withheld and not b.judged and b.count == 29


def test_judged_rates_at_their_boundaries() -> None:
    n = np.array([30, 29, 60, 60])
    positives = np.array([10, 10, 30, 29])
    tpr, fpr = judged_rates(n, positives, min_group_size=30, min_outcomes=30)
    # a group of exactly 30 counts as big; 30 outcomes (or non-outcomes) is enough
    assert tpr.tolist() == [False, False, True, False]
    assert fpr.tolist() == [False, False, True, True]
    tpr, fpr = judged_rates(np.array([60]), np.array([30]), min_group_size=30, min_outcomes=31)
    assert tpr.tolist() == [False] and fpr.tolist() == [False]


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5])
def test_an_exact_interval_needs_a_confidence_strictly_between_0_and_1(
    confidence: float,
) -> None:
    with pytest.raises(AuditInputError, match="'confidence' must be between 0 and 1"):
        exact_interval(np.array([1]), np.array([5]), confidence)


# -- the gates' figures -----------------------------------------------------------------------


def test_holm_never_adjusts_past_one() -> None:
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    assert holm([0.01, None, 0.04]) == [pytest.approx(0.02), None, pytest.approx(0.04)]


def test_a_dimension_without_a_gap_takes_no_part_in_the_adjustment() -> None:
    """Holm over the dimensions with a gap: an unmeasured one must not inflate the others."""
    gates = Gates()
    figures = fairness_figures(gates, [0.3, None], [0.04, 0.9])
    assert figures == {"equalized_odds_difference": 0.3, "equalized_odds_p_value": 0.04}


def test_nothing_measured_is_none_for_both_figures() -> None:
    assert fairness_figures(Gates(), [None, None], [0.01, 0.01]) == {
        "equalized_odds_difference": None,
        "equalized_odds_p_value": None,
    }


def test_a_gap_at_exactly_the_limit_or_a_p_value_at_exactly_alpha_is_not_a_failure() -> None:
    gates = Gates(max_equalized_odds_difference=0.25, gate_confidence=0.9375)
    # the first dimension is above the limit and significant; the second at the limit, or
    # at alpha: only the first may decide the gate
    at_limit = fairness_figures(gates, [0.25, 0.5], [0.001, 0.01])
    assert at_limit["equalized_odds_difference"] == 0.5
    # alpha is 1 - 0.9375 = 0.0625; Holm over two: 0.001 -> 0.002, 0.0625 -> 0.0625
    at_alpha = fairness_figures(gates, [0.75, 0.5], [0.0625, 0.001])
    assert at_alpha == {"equalized_odds_difference": 0.5, "equalized_odds_p_value": 0.002}
    beyond = fairness_figures(gates, [0.75, 0.5], [0.0615, 0.001])
    assert beyond["equalized_odds_difference"] == 0.75


def test_the_largest_gap_decides_when_none_fails() -> None:
    figures = fairness_figures(Gates(), [0.05, 0.08, 0.02], [0.5, 0.6, 0.7])
    assert figures["equalized_odds_difference"] == 0.08


def test_calibration_figures_given_are_the_ones_judged() -> None:
    same = {"test_roc_auc": 0.8, "test_ece": 0.01}
    given = dict.fromkeys(CALIBRATION_FIGURES, 1.0)
    figures = gate_figures(same, same, [0.1], given)
    assert all(figures[name] == 1.0 for name in CALIBRATION_FIGURES)
    assert all(gate_figures(same, same, [0.1])[n] is None for n in CALIBRATION_FIGURES)


def test_group_bounds_come_from_judged_groups_only() -> None:
    y = np.r_[_outcomes(3000, 60), _outcomes(400, 3)]
    p = np.r_[np.full(3000, 0.02), np.full(400, 0.001)]
    groups = pd.DataFrame({"g": ["big"] * 3000 + ["small"] * 400})
    check = calibration_check(y, p, groups, confidence=0.95, min_outcomes=30, min_group_size=30)
    big, small = check.by["g"]["big"], check.by["g"]["small"]
    assert big.judged and not small.judged and small.low is not None
    figures = calibration_figures(check)
    assert figures["group_observed_expected_low"] == big.low
    assert figures["group_observed_expected_high"] == big.high


def test_the_calibration_lines_intervals_are_wald_intervals_from_the_likelihood() -> None:
    """Symmetric about the estimate, with the standard errors of the log-likelihood's curvature
    (worked out here by finite differences, not by the code's formula)."""
    rng = np.random.default_rng(8)
    x = rng.normal(-2.0, 1.0, 5000)
    scores = 1.0 / (1.0 + np.exp(-x))
    y = (rng.random(len(x)) < 1.0 / (1.0 + np.exp(-(0.2 + 0.9 * x)))).astype(np.float64)
    line = calibration_line(y, scores)
    assert line is not None

    def loglik(a: float, b: float) -> float:
        eta = a + b * x
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    h = 1e-3
    point = (line.intercept, line.slope)
    hessian = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            shifts = []
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                step = [0.0, 0.0]
                step[i] += si * h
                step[j] += sj * h
                shifts.append(si * sj * loglik(point[0] + step[0], point[1] + step[1]))
            hessian[i, j] = sum(shifts) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(-hessian)))
    z = 1.959963984540054
    assert line.slope_high - line.slope == pytest.approx(line.slope - line.slope_low, rel=1e-9)
    assert line.intercept_high - line.intercept == pytest.approx(
        line.intercept - line.intercept_low, rel=1e-9
    )
    assert (line.slope_high - line.slope) / z == pytest.approx(se[1], rel=1e-3)
    assert (line.intercept_high - line.intercept) / z == pytest.approx(se[0], rel=1e-3)
