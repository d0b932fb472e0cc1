"""The calibration gates against known answers: they fail the models the ECE gate passes.

Issue 17 found that at about 1% prevalence ECE <= 0.02 passes a model that predicts zero for
everyone, one that triples everyone's odds and one that divides them by three. The gates on
observed/expected outcomes and the calibration slope, decided on interval bounds, must fail
all three at the demo's size, fail a model calibrated overall but not within groups, and pass
a calibrated model in at least 90% of simulated test cohorts. Data are simulated with a known
truth in each test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.audit.calibration import (
    calibration_line,
    expected_calibration_error,
    observed_expected,
    poisson_interval,
)
from governance.audit.calibration_check import calibration_check
from governance.audit.gates import CALIBRATION_FIGURES, calibration_figures, evaluate_gates
from governance.contracts.settings import Gates

#: the demo's test cohort: about 6,600 young people, about 1% with the outcome
ROWS = 6600


def _cohort(seed: int, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """True risks, outcomes drawn from them, and a sex column (half each, boys at higher risk
    as in the demo, so that about two thirds of the outcomes are boys')."""
    rng = np.random.default_rng(seed)
    boys = np.arange(rows) % 2 == 1
    logit = rng.normal(-5.5, 1.0, rows) + np.where(boys, 0.7, 0.0)
    risk = 1.0 / (1.0 + np.exp(-logit))
    outcome = (rng.random(rows) < risk).astype(np.int64)
    groups = pd.DataFrame({"sex": np.where(boys, "M", "F")})
    return outcome, risk, groups


def _odds(risk: np.ndarray, factor: float | np.ndarray) -> np.ndarray:
    odds = risk / (1.0 - risk) * factor
    return odds / (1.0 + odds)


def _calibration_gates(
    y: np.ndarray, scores: np.ndarray, groups: pd.DataFrame, gates: Gates | None = None
) -> dict[str, bool]:
    gates = gates or Gates()
    check = calibration_check(
        y,
        scores,
        groups,
        confidence=gates.gate_confidence,
        min_outcomes=gates.min_outcomes,
        min_group_size=gates.min_group_size,
    )
    figures = {
        "test_roc_auc": 0.8,
        "test_ece": expected_calibration_error(y, scores),
        "equalized_odds_difference": 0.0,
        "logged_figure_difference": 0.0,
        **calibration_figures(check),
    }
    return {g.figure: g.passed for g in evaluate_gates(gates, figures)}


@pytest.mark.parametrize(
    ("name", "distort", "failing"),
    [
        ("zeros", lambda r: np.zeros_like(r), {"observed_expected_low", "calibration_slope_low"}),
        ("odds x3", lambda r: _odds(r, 3.0), {"observed_expected_high"}),
        ("odds /3", lambda r: _odds(r, 1 / 3), {"observed_expected_low"}),
    ],
)
def test_the_models_the_ece_gate_passes_fail_the_calibration_gates(
    name: str, distort: object, failing: set[str]
) -> None:
    y, risk, groups = _cohort(seed=7)
    scores = distort(risk)  # type: ignore[operator]
    passed = _calibration_gates(y, scores, groups)
    assert not all(passed[f] for f in CALIBRATION_FIGURES), f"the {name} model passed"
    assert not any(passed[f] for f in failing), (name, passed)


def test_risks_too_extreme_fail_the_slope_gate_alone() -> None:
    y, risk, groups = _cohort(seed=8, rows=40_000)
    logit = np.log(risk / (1 - risk))
    # twice as spread, shifted so that the expected count stays the same (bisection)
    low, high = -20.0, 20.0
    for _ in range(60):
        shift = (low + high) / 2
        total = (1.0 / (1.0 + np.exp(-(2.0 * logit + shift)))).sum()
        low, high = (shift, high) if total < risk.sum() else (low, shift)
    extreme = 1.0 / (1.0 + np.exp(-(2.0 * logit + shift)))
    assert extreme.sum() == pytest.approx(risk.sum(), rel=1e-6)
    passed = _calibration_gates(y, extreme, groups)
    assert not passed["calibration_slope_high"]
    assert passed["calibration_slope_low"]


def test_a_model_calibrated_overall_but_not_within_groups_fails_the_group_gates() -> None:
    """Boys' risks at 0.6 of their odds, girls' at 1.7: the issue's demo pattern."""
    y, risk, groups = _cohort(seed=9, rows=40_000)
    factor = np.where(groups["sex"].to_numpy() == "M", 0.6, 1.7)
    passed = _calibration_gates(y, _odds(risk, factor), groups)
    assert not passed["group_observed_expected_low"]  # boys: clearly too few expected
    assert not passed["group_observed_expected_high"]  # girls: clearly too many expected


def test_a_calibrated_model_passes_in_at_least_nine_of_ten_cohorts() -> None:
    """At the demo's size, where the boys' group has enough outcomes to be judged."""
    runs = 200
    passes = 0
    for seed in range(runs):
        y, risk, groups = _cohort(seed=1000 + seed)
        passed = _calibration_gates(y, risk, groups)
        passes += all(passed[f] for f in CALIBRATION_FIGURES)
    assert passes / runs >= 0.90, f"{passes} of {runs}"


def test_a_group_with_few_outcomes_is_shown_with_counts_and_not_judged() -> None:
    y, risk, _ = _cohort(seed=10)
    groups = pd.DataFrame({"area": np.where(np.arange(ROWS) < 600, "small", "large")})
    gates = Gates()
    check = calibration_check(
        y, risk, groups, confidence=0.95, min_outcomes=30, min_group_size=gates.min_group_size
    )
    small, large = check.by["area"]["small"], check.by["area"]["large"]
    assert small.observed is not None and small.observed < 30
    assert not small.judged and not small.withheld and small.count == 600
    assert large.judged and large.observed is not None and large.observed >= 30
    figures = calibration_figures(check)
    assert figures["group_observed_expected_high"] == large.high
    assert figures["group_observed_expected_low"] == large.low


def test_a_group_below_the_minimum_size_is_withheld() -> None:
    y, risk, _ = _cohort(seed=11)
    groups = pd.DataFrame({"g": np.where(np.arange(ROWS) < 5, "tiny", "rest")})
    check = calibration_check(y, risk, groups, confidence=0.95, min_outcomes=30, min_group_size=30)
    tiny = check.by["g"]["tiny"]
    assert tiny.withheld and tiny.count == 5
    assert (tiny.observed, tiny.expected, tiny.ratio, tiny.low, tiny.high) == (None,) * 5


def test_no_judged_group_or_too_few_outcomes_overall_is_not_measured() -> None:
    y, risk, groups = _cohort(seed=12, rows=800)
    check = calibration_check(y, risk, groups, confidence=0.95, min_outcomes=30, min_group_size=30)
    assert check.overall.observed is not None and check.overall.observed < 30
    figures = calibration_figures(check)
    assert figures["observed_expected_low"] is None
    assert figures["group_observed_expected_low"] is None
    assert calibration_figures(None) == dict.fromkeys(CALIBRATION_FIGURES)


def test_the_group_gates_take_the_worst_judged_bound() -> None:
    y, risk, groups = _cohort(seed=13, rows=40_000)
    factor = np.where(groups["sex"].to_numpy() == "M", 0.8, 1.3)
    check = calibration_check(
        y, _odds(risk, factor), groups, confidence=0.95, min_outcomes=30, min_group_size=30
    )
    boys, girls = check.by["sex"]["M"], check.by["sex"]["F"]
    figures = calibration_figures(check)
    assert figures["group_observed_expected_low"] == max(boys.low, girls.low)  # type: ignore[type-var]
    assert figures["group_observed_expected_high"] == min(boys.high, girls.high)  # type: ignore[type-var]


# -- the intervals, against hand-worked values -------------------------------------------------


@pytest.mark.parametrize(
    ("count", "low", "high"),
    [(0, 0.0, 3.689), (1, 0.0253, 5.572), (5, 1.6235, 11.668), (30, 20.241, 42.827)],
)
def test_the_poisson_interval_is_garwoods(count: int, low: float, high: float) -> None:
    found = poisson_interval(count, 0.95)
    assert found == pytest.approx((low, high), abs=1e-3)


def test_observed_expected_bounds_contain_the_ratio_and_scale_with_expected() -> None:
    y = np.zeros(1000, dtype=np.int64)
    y[:20] = 1
    found = observed_expected(y, np.full(1000, 0.01))
    assert found.observed == 20 and found.expected == pytest.approx(10.0)
    assert found.ratio == pytest.approx(2.0)
    low, high = poisson_interval(20)
    assert (found.low, found.high) == pytest.approx((low / 10.0, high / 10.0))
    assert found.low is not None and found.high is not None
    assert found.low < found.ratio < found.high
    nothing = observed_expected(y, np.zeros(1000))
    assert (nothing.ratio, nothing.low, nothing.high) == (None, None, None)


def test_the_calibration_line_recovers_a_known_slope_and_intercept() -> None:
    rng = np.random.default_rng(14)
    x = rng.normal(-3.0, 1.0, 200_000)
    scores = 1.0 / (1.0 + np.exp(-x))
    truth = 1.0 / (1.0 + np.exp(-(0.5 + 0.7 * x)))
    y = (rng.random(len(x)) < truth).astype(np.int64)
    line = calibration_line(y, scores)
    assert line is not None
    assert line.slope_low < 0.7 < line.slope_high
    assert line.intercept_low < 0.5 < line.intercept_high
    assert line.slope_high - line.slope_low < 0.05


@pytest.mark.parametrize(
    ("y", "p"),
    [
        (np.zeros(100), np.linspace(0.01, 0.5, 100)),
        (np.r_[np.zeros(50), np.ones(50)], np.full(100, 0.3)),
        (np.array([]), np.array([])),
    ],
)
def test_no_calibration_line_without_variation(y: np.ndarray, p: np.ndarray) -> None:
    assert calibration_line(y, p) is None


def test_the_gate_bands_must_be_bands() -> None:
    with pytest.raises(ValueError, match="min_observed_expected must be below"):
        Gates(min_observed_expected=1.3, max_observed_expected=1.25)
    with pytest.raises(ValueError, match="min_calibration_slope must be below"):
        Gates(min_calibration_slope=1.25)
