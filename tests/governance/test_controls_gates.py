"""Attacks on the promotion gates and the ECE: each test names the one-line change it catches.

Issue 15 found one-line changes to the gates that no test noticed; each test below fails when
that change is made (``make mutation`` makes them all, mutation/modules.toml).
"""

from __future__ import annotations

import pytest

from governance.audit.calibration import calibration_table, expected_calibration_error
from governance.audit.gates import CHECKED_FIGURES, evaluate_gates, gate_figures, logged_difference
from governance.contracts.audit_document import GateOutcome
from governance.contracts.settings import Gates

# Limits exact in binary, so "at the limit" is exactly equal, not a rounding accident.
GATES = Gates(
    min_test_roc_auc=0.75,
    max_expected_calibration_error=0.125,
    max_equalized_odds_difference=0.25,
    max_logged_difference=0.0625,
    min_observed_expected=0.75,
    max_observed_expected=1.5,
    min_calibration_slope=0.625,
    max_calibration_slope=1.375,
)
GOOD = {
    "test_roc_auc": 0.875,
    "test_ece": 0.0625,
    "equalized_odds_difference": 0.125,
    "logged_figure_difference": 0.0,
    "observed_expected_high": 1.25,
    "observed_expected_low": 0.875,
    "calibration_slope_high": 1.125,
    "calibration_slope_low": 0.875,
    "group_observed_expected_high": 1.0,
    "group_observed_expected_low": 0.5,
    "area_baseline_difference_low": 0.015625,
}


def _judge(**changed: float | None) -> dict[str, GateOutcome]:
    return {r.figure: r for r in evaluate_gates(GATES, {**GOOD, **changed})}


@pytest.mark.parametrize(
    ("figure", "limit"),
    [
        ("test_roc_auc", 0.75),
        ("observed_expected_high", 0.75),
        ("calibration_slope_high", 0.625),
        ("group_observed_expected_high", 0.75),
    ],
)
def test_a_gate_at_exactly_its_minimum_passes_so_ge_turned_to_gt_is_caught(
    figure: str, limit: float
) -> None:
    """The attack ``value >= limit`` turned to ``value > limit``: a model at the limit fails."""
    at_limit = _judge(**{figure: limit})[figure]
    assert at_limit.passed and at_limit.value == limit and at_limit.note == ""
    below = _judge(**{figure: limit - 2**-10})[figure]
    assert not below.passed and below.direction == "at least" and below.limit == limit


@pytest.mark.parametrize(
    ("figure", "limit"),
    [
        ("test_ece", 0.125),
        ("equalized_odds_difference", 0.25),
        ("logged_figure_difference", 0.0625),
        ("observed_expected_low", 1.5),
        ("calibration_slope_low", 1.375),
        ("group_observed_expected_low", 1.5),
    ],
)
def test_a_gate_at_exactly_its_maximum_passes_so_le_turned_to_lt_is_caught(
    figure: str, limit: float
) -> None:
    at_limit = _judge(**{figure: limit})[figure]
    assert at_limit.passed and at_limit.value == limit and at_limit.direction == "at most"
    above = _judge(**{figure: limit + 2**-10})[figure]
    assert not above.passed and above.limit == limit


def test_every_gate_is_judged_once_with_its_name_and_limit() -> None:
    """Dropping a gate, or judging one against another's limit, is caught."""
    results = evaluate_gates(GATES, GOOD)
    assert [(r.name, r.figure, r.limit, r.direction) for r in results] == [
        ("minimum test ROC AUC", "test_roc_auc", 0.75, "at least"),
        ("maximum calibration error (ECE)", "test_ece", 0.125, "at most"),
        (
            "maximum equalized odds difference, unless chance explains it (permutation p-value, "
            "Holm-adjusted, at least 0.05)",
            "equalized_odds_difference",
            0.25,
            "at most",
        ),
        ("logged figures agree with the audit's", "logged_figure_difference", 0.0625, "at most"),
        (
            "observed/expected outcomes: not clearly too many expected (95% upper bound)",
            "observed_expected_high",
            0.75,
            "at least",
        ),
        (
            "observed/expected outcomes: not clearly too few expected (95% lower bound)",
            "observed_expected_low",
            1.5,
            "at most",
        ),
        (
            "calibration slope: risks not clearly too extreme (95% upper bound)",
            "calibration_slope_high",
            0.625,
            "at least",
        ),
        (
            "calibration slope: risks not clearly too timid (95% lower bound)",
            "calibration_slope_low",
            1.375,
            "at most",
        ),
        (
            "observed/expected in every group judged: none clearly too many expected "
            "(95% upper bounds)",
            "group_observed_expected_high",
            0.75,
            "at least",
        ),
        (
            "observed/expected in every group judged: none clearly too few expected "
            "(95% lower bounds)",
            "group_observed_expected_low",
            1.5,
            "at most",
        ),
        (
            "beats the area-rate baseline on log loss (paired bootstrap, 95% lower bound above "
            "the margin)",
            "area_baseline_difference_low",
            0.0,
            "at least",
        ),
    ]
    assert all(r.passed and r.note == "" for r in results)
    assert [r.value for r in results] == list(GOOD.values())


@pytest.mark.parametrize("figure", list(GOOD))
@pytest.mark.parametrize("missing", [None, float("nan")])
def test_each_unmeasured_figure_fails_as_not_measured(figure: str, missing: float | None) -> None:
    """A gate whose figure is missing or NaN fails, and says why (never a silent pass)."""
    results = _judge(**{figure: missing})
    assert not results[figure].passed
    assert results[figure].note == "not measured" and results[figure].value is None
    assert all(r.passed for name, r in results.items() if name != figure)


def test_the_fairness_gate_takes_the_largest_gap_not_the_smallest() -> None:
    """The attack ``max(gaps)`` turned to ``min(gaps)``: the worst dimension must be judged."""
    same = {"test_roc_auc": 0.8, "test_ece": 0.01}
    figures = gate_figures(same, same, [0.03, None, 0.4, 0.05])
    assert figures["equalized_odds_difference"] == 0.4
    fairness = {r.figure: r for r in evaluate_gates(Gates(), figures)}["equalized_odds_difference"]
    assert not fairness.passed and fairness.value == 0.4


def test_the_fairness_gate_with_no_judgeable_dimension_is_not_measured() -> None:
    same = {"test_roc_auc": 0.8, "test_ece": 0.01}
    assert gate_figures(same, same, [None, None])["equalized_odds_difference"] is None
    assert gate_figures(same, same, [])["equalized_odds_difference"] is None


def test_gate_figures_come_from_the_recomputation_not_the_log() -> None:
    logged = {"test_roc_auc": 0.99, "test_ece": 0.0}
    recomputed = {"test_roc_auc": 0.7, "test_ece": 0.25}
    figures = gate_figures(logged, recomputed, [0.1])
    assert set(figures) == {*GOOD, "equalized_odds_p_value"}
    assert figures["test_roc_auc"] == 0.7 and figures["test_ece"] == 0.25
    assert figures["equalized_odds_difference"] == 0.1
    assert figures["logged_figure_difference"] == pytest.approx(0.29)


def test_the_logged_difference_is_the_largest_over_the_checked_figures() -> None:
    assert CHECKED_FIGURES == ("test_roc_auc", "test_ece")
    recomputed = {"test_roc_auc": 0.75, "test_ece": 0.125}
    # the ECE strays most: a difference taken on the ROC AUC alone would miss it
    assert logged_difference({"test_roc_auc": 0.8125, "test_ece": 0.0}, recomputed) == 0.125
    # the ROC AUC strays most, logged *below* the recomputed figure (absolute difference)
    assert logged_difference({"test_roc_auc": 0.5, "test_ece": 0.125}, recomputed) == 0.25


@pytest.mark.parametrize(
    "logged",
    [
        {"test_ece": 0.125},
        {"test_roc_auc": 0.75},
        {"test_roc_auc": float("nan"), "test_ece": 0.125},
        {"test_roc_auc": 0.75, "test_ece": float("nan")},
        {"test_roc_auc": None, "test_ece": 0.125},
    ],
)
def test_a_run_that_logged_no_figure_cannot_be_checked(logged: dict[str, float | None]) -> None:
    recomputed = {"test_roc_auc": 0.75, "test_ece": 0.125}
    assert logged_difference(logged, recomputed) is None
    assert logged_difference(recomputed, logged) is None


def test_ece_computed_on_signed_errors_is_caught() -> None:
    """The attack ``abs(o - e)`` turned to ``(o - e)``: over- and under-statement cancel."""
    # part 1 overstates by 0.25, part 2 understates by 0.25: signed gaps sum to zero
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    p = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75]
    assert expected_calibration_error(y, p, bins=2) == 0.25
    # overstated only: signed errors would give a negative ECE
    assert expected_calibration_error([0, 0], [0.5, 0.5], bins=1) == 0.5


def test_ece_weights_each_part_by_its_rows() -> None:
    """Three parts of unequal size (7 rows in 3): an unweighted mean would give another figure."""
    y = [0, 0, 0, 1, 1, 1, 1]
    p = [0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0]
    # parts by equal count: [3 rows p=.5 y=0], [2 rows p=.5,1 y=1,1], [2 rows p=1 y=1]
    table = calibration_table(y, p, bins=3)
    assert table["count"] == [3, 2, 2]
    assert table["predicted"] == [0.5, 0.75, 1.0] and table["observed"] == [0.0, 1.0, 1.0]
    assert expected_calibration_error(y, p, bins=3) == pytest.approx((3 * 0.5 + 2 * 0.25) / 7)


def test_ece_default_is_ten_parts_sorted_by_risk() -> None:
    """Rows in any order are sorted by predicted risk before the parts are cut."""
    y = [1, 0] * 10
    p = [0.95 - 0.05 * i if i % 2 == 0 else 0.05 * i for i in range(20)]
    table = calibration_table(y, p)
    assert len(table["count"]) == 10 and table["predicted"] == sorted(table["predicted"])
    assert expected_calibration_error(y, p) == expected_calibration_error(y[::-1], p[::-1])


def test_ece_default_is_ten_parts() -> None:
    """Changing the default number of parts changes the figure the gate judges."""
    y = [i % 3 == 0 for i in range(110)]
    p = [i / 110 for i in range(110)]
    assert expected_calibration_error(y, p) == expected_calibration_error(y, p, bins=10)
    assert expected_calibration_error(y, p) != expected_calibration_error(y, p, bins=11)


def test_ece_keeps_rows_of_equal_risk_in_their_order() -> None:
    """Ties are cut by a stable sort, so the same rows always give the same figure.

    The training run logs the ECE and the audit recomputes it: an unstable sort could cut
    rows of equal risk into parts differently and make the two disagree.
    """
    # three risks in turn: the cut between the two parts falls among the rows of risk 0.5
    p = [(0.2, 0.5, 0.8)[i % 3] for i in range(1000)]
    y = [int(i < 500) for i in range(1000)]
    order = sorted(range(1000), key=lambda i: p[i])  # Python's sort is stable
    parts = [order[:500], order[500:]]
    table = calibration_table(y, p, bins=2)
    assert table["observed"] == [sum(y[i] for i in part) / 500 for part in parts] == [0.666, 0.334]
