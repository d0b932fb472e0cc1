"""Promotion gates: each gate's measured value, its limit, and whether it passed.

Pure: the figures come from a model's audit, recomputed from the model and the test rows,
never as the training run logged them (anyone who can write to the tracking store can log a
figure); a logged figure that disagrees with the recomputed one is itself a failed gate. A
gate whose figure was not measured fails, saying so, rather than passing silently.

The calibration gates are decided on interval bounds, so that chance alone rarely fails a
calibrated model and a miscalibrated one cannot pass: observed over expected outcomes
(overall, and in every group with enough outcomes to judge) fails when its interval lies
wholly outside ``[min_observed_expected, max_observed_expected]``, and so does the
calibration slope outside its band. Each band is two gates, one per bound: "the interval's
upper end is at least the band's lower limit" and "its lower end is at most the upper limit".
A model that predicts zero for everyone, or triples or divides everyone's odds, fails them at
the demo's size, where the ECE gate passes all three.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from governance.contracts.audit_document import CalibrationCheck, GateOutcome
from governance.contracts.settings import Gates

__all__ = [
    "CALIBRATION_FIGURES",
    "CHECKED_FIGURES",
    "calibration_figures",
    "evaluate_gates",
    "gate_figures",
    "logged_difference",
]

#: Figures the training run logs and the audit recomputes: the two must agree.
CHECKED_FIGURES: tuple[str, ...] = ("test_roc_auc", "test_ece")

#: The calibration gates' figures (:func:`calibration_figures`).
CALIBRATION_FIGURES: tuple[str, ...] = (
    "observed_expected_high",
    "observed_expected_low",
    "calibration_slope_high",
    "calibration_slope_low",
    "group_observed_expected_high",
    "group_observed_expected_low",
)

_NOT_MEASURED = "not measured"


def evaluate_gates(gates: Gates, figures: Mapping[str, float | None]) -> list[GateOutcome]:
    """Judge ``figures`` (as :func:`gate_figures` makes them) against the configured limits."""
    rules: list[tuple[str, str, float, Literal["at least", "at most"]]] = [
        ("minimum test ROC AUC", "test_roc_auc", gates.min_test_roc_auc, "at least"),
        (
            "maximum calibration error (ECE)",
            "test_ece",
            gates.max_expected_calibration_error,
            "at most",
        ),
        (
            "maximum equalized odds difference",
            "equalized_odds_difference",
            gates.max_equalized_odds_difference,
            "at most",
        ),
        (
            "logged figures agree with the audit's",
            "logged_figure_difference",
            gates.max_logged_difference,
            "at most",
        ),
        *_calibration_rules(gates),
    ]
    results = []
    for name, figure, limit, direction in rules:
        value = figures.get(figure)
        if value is None or value != value:  # missing or NaN
            value, passed, note = None, False, _NOT_MEASURED
        else:
            value = float(value)
            passed, note = value >= limit if direction == "at least" else value <= limit, ""
        results.append(
            GateOutcome(
                name=name,
                figure=figure,
                value=value,
                limit=limit,
                direction=direction,
                passed=passed,
                note=note,
            )
        )
    return results


def _calibration_rules(
    gates: Gates,
) -> list[tuple[str, str, float, Literal["at least", "at most"]]]:
    """The calibration gates, two per band (see the module docstring)."""
    level = f"{gates.gate_confidence:.0%}"
    oe_low, oe_high = gates.min_observed_expected, gates.max_observed_expected
    slope_low, slope_high = gates.min_calibration_slope, gates.max_calibration_slope
    return [
        (
            f"observed/expected outcomes: not clearly too many expected ({level} upper bound)",
            "observed_expected_high",
            oe_low,
            "at least",
        ),
        (
            f"observed/expected outcomes: not clearly too few expected ({level} lower bound)",
            "observed_expected_low",
            oe_high,
            "at most",
        ),
        (
            f"calibration slope: risks not clearly too extreme ({level} upper bound)",
            "calibration_slope_high",
            slope_low,
            "at least",
        ),
        (
            f"calibration slope: risks not clearly too timid ({level} lower bound)",
            "calibration_slope_low",
            slope_high,
            "at most",
        ),
        (
            f"observed/expected in every group judged: none clearly too many expected "
            f"({level} upper bounds)",
            "group_observed_expected_high",
            oe_low,
            "at least",
        ),
        (
            f"observed/expected in every group judged: none clearly too few expected "
            f"({level} lower bounds)",
            "group_observed_expected_low",
            oe_high,
            "at most",
        ),
    ]


def calibration_figures(check: CalibrationCheck | None) -> dict[str, float | None]:
    """The calibration gates' figures from the audit's check: interval bounds, or None.

    Overall O/E is judged when the check judged it (enough recorded outcomes); the group
    gates take the worst bound over the groups judged (the smallest upper, the largest
    lower). No judged group, no calibration line, a model expecting no outcome, or no check
    at all: None, so the gate fails as not measured.
    """
    if check is None:
        return dict.fromkeys(CALIBRATION_FIGURES)
    overall = check.overall
    judged = [
        g
        for dimension in check.by.values()
        for g in dimension.values()
        if g.judged and g.low is not None and g.high is not None
    ]
    return {
        "observed_expected_high": overall.high if overall.judged else None,
        "observed_expected_low": overall.low if overall.judged else None,
        "calibration_slope_high": check.slope_high,
        "calibration_slope_low": check.slope_low,
        "group_observed_expected_high": min(_f(g.high) for g in judged) if judged else None,
        "group_observed_expected_low": max(_f(g.low) for g in judged) if judged else None,
    }


def _f(value: float | None) -> float:
    return float("nan") if value is None else value


def gate_figures(
    logged: Mapping[str, float | None],
    recomputed: Mapping[str, float | None],
    gaps: Sequence[float | None],
    calibration: Mapping[str, float | None] | None = None,
) -> dict[str, float | None]:
    """The figures the gates judge: the audit's own, and how far the logged ones stray.

    Parameters
    ----------
    logged
        What the training run logged (``test_roc_auc``, ``test_ece``).
    recomputed
        The same figures, recomputed by the audit from the model and the test rows.
    gaps
        Each single dimension's equalized-odds difference (None: too small to judge); the
        gate takes the worst.
    calibration
        :func:`calibration_figures` (None: not measured, so those gates fail).
    """
    known = [g for g in gaps if g is not None]
    return {
        "test_roc_auc": recomputed.get("test_roc_auc"),
        "test_ece": recomputed.get("test_ece"),
        "equalized_odds_difference": max(known) if known else None,
        "logged_figure_difference": logged_difference(logged, recomputed),
        **(calibration if calibration is not None else calibration_figures(None)),
    }


def logged_difference(
    logged: Mapping[str, float | None], recomputed: Mapping[str, float | None]
) -> float | None:
    """The largest ``|logged - recomputed|`` over :data:`CHECKED_FIGURES`.

    None (so the gate fails as not measured) when either side lacks one of them: a run that
    logged no test figures cannot be checked.
    """
    differences = []
    for name in CHECKED_FIGURES:
        mine, theirs = recomputed.get(name), logged.get(name)
        if mine is None or theirs is None or mine != mine or theirs != theirs:
            return None
        differences.append(abs(float(theirs) - float(mine)))
    return max(differences)
