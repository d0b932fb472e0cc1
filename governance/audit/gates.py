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

The equalized-odds gate is decided on evidence (:func:`fairness_figures`). Each dimension's
gap (the larger of its true and false positive rate ranges over the groups whose rates are
judged: at least ``min_outcomes`` people with, or without, the outcome) comes with a
permutation p-value: how often a decision blind to the group, given the outcome, shows a gap
as large. The p-values are Holm-adjusted over the dimensions measured, since the gate looks at
several. A dimension fails the gate only when its gap is above ``max_equalized_odds_difference``
AND its adjusted p-value is below ``1 - gate_confidence``: a large gap that chance explains
(the demo's 0.381 resting on 5 outcomes had p ≈ 0.2) is reported, not failed, and a real gap
in groups with enough outcomes fails. A permutation test rather than an interval bound,
because the percentile interval of a max−min gap is biased upward (a max of noisy rates
overstates the gap) and no simple exact interval exists for it; the permutation null is exact
for "selection does not depend on the group given the outcome", which is what equalized odds
says. A fair model simulated at the demo's group sizes passes at least nine times in ten.

The area-rate baseline gate (:mod:`governance.audit.baseline`) judges the lower end of the
paired bootstrap interval of the candidate's advantage over a baseline that knows only each
young person's ward, on ``baseline_metric``: it passes only when that bound is strictly
above ``min_baseline_improvement``, so a model no different from the baseline fails.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from governance.contracts.audit_document import CalibrationCheck, GateOutcome
from governance.contracts.settings import Gates

__all__ = [
    "AREA_FIGURES",
    "BASELINE_FIGURE",
    "CALIBRATION_FIGURES",
    "CHECKED_FIGURES",
    "REFIT_GATE_FIGURES",
    "calibration_figures",
    "evaluate_gates",
    "fairness_figures",
    "gate_figures",
    "holm",
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

#: The area gates' figures (:func:`governance.audit.area_audit.area_figures`); the gates are
#: judged when the figures hold any of them (the model audit always gives all four).
AREA_FIGURES: tuple[str, ...] = (
    "area_observed_expected_high",
    "area_observed_expected_low",
    "area_allocation_high",
    "area_allocation_low",
)

#: The refit gates' figures (:func:`governance.audit.refit_audit.refit_figures`); judged when
#: the figures hold any of them (a version that was refit always gives all five).
REFIT_GATE_FIGURES: tuple[str, ...] = (
    "refit_observed_expected_high",
    "refit_observed_expected_low",
    "refit_calibration_slope_high",
    "refit_calibration_slope_low",
    "refit_difference_high",
)

_NOT_MEASURED = "not measured"
#: The area-rate baseline gate's figure: the lower end of the paired bootstrap interval of
#: (candidate better than the baseline) on ``gates.baseline_metric``; it must be ABOVE the
#: margin, so a model no different from the baseline (an interval of [0, 0]) fails.
BASELINE_FIGURE = "area_baseline_difference_low"


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
            f"maximum equalized odds difference, unless chance explains it (permutation "
            f"p-value, Holm-adjusted, at least {1 - gates.gate_confidence:.2g})",
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
        *(_area_rules(gates) if any(k in figures for k in AREA_FIGURES) else []),
        (
            f"beats the area-rate baseline on {gates.baseline_metric.replace('_', ' ')} "
            f"(paired bootstrap, {gates.gate_confidence:.0%} lower bound above the margin)",
            BASELINE_FIGURE,
            gates.min_baseline_improvement,
            "at least",
        ),
        *(_refit_rules(gates) if any(k in figures for k in REFIT_GATE_FIGURES) else []),
    ]
    results = []
    for name, figure, limit, direction in rules:
        value = figures.get(figure)
        if value is None or value != value:  # missing or NaN
            value, passed, note = None, False, _NOT_MEASURED
        else:
            value = float(value)
            passed, note = value >= limit if direction == "at least" else value <= limit, ""
            if figure == "equalized_odds_difference":
                passed, note = _on_evidence(gates, value, figures.get("equalized_odds_p_value"))
            if figure == BASELINE_FIGURE and value <= limit:
                passed, note = False, "the interval reaches the margin: not clearly better"
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


def _on_evidence(gates: Gates, gap: float, p_value: float | None) -> tuple[bool, str]:
    """The equalized-odds gate: a gap fails only above the limit and beyond chance."""
    alpha = 1.0 - gates.gate_confidence
    if gap <= gates.max_equalized_odds_difference:
        return True, "" if p_value is None else f"permutation p = {p_value:.3g}"
    if p_value is None or p_value != p_value:
        return False, "above the limit; its permutation p-value was not measured"
    if p_value >= alpha:
        return True, (
            f"above the limit, but a model fair between groups shows a gap this large by "
            f"chance (permutation p = {p_value:.3g}, at least {alpha:.2g}): not a failure"
        )
    return False, f"above the limit and beyond chance (permutation p = {p_value:.3g})"


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values over the measured ones (None stays None).

    The adjusted value of the i-th smallest of m is the running maximum of
    ``min(1, (m - j) * p_(j))`` for j up to i (0-based): a dimension is significant at
    ``alpha`` after adjustment exactly when Holm's step-down procedure rejects it, so the
    chance that a fair model fails on any of the m dimensions stays at most ``alpha``.
    """
    measured = sorted((p, i) for i, p in enumerate(p_values) if p is not None and not math.isnan(p))
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(measured):
        running = max(running, min(1.0, (len(measured) - rank) * p))
        adjusted[i] = running
    return adjusted


def fairness_figures(
    gates: Gates, gaps: Sequence[float | None], p_values: Sequence[float | None]
) -> dict[str, float | None]:
    """The equalized-odds gate's figures: the decisive dimension's gap and adjusted p-value.

    Parameters
    ----------
    gates
        The limit and ``gate_confidence`` (the significance level is 1 minus it).
    gaps, p_values
        Each single dimension's gap and permutation p-value, aligned (None: not measured).

    Returns
    -------
    dict
        ``equalized_odds_difference`` and ``equalized_odds_p_value`` (Holm-adjusted over
        the dimensions with a gap) of the dimension that decides the gate: the largest gap
        among those above the limit and beyond chance if there is one (the gate fails),
        else the largest gap (the gate passes unless its p-value is missing). None when no
        dimension has a gap, so the gate fails as not measured.
    """
    if len(gaps) != len(p_values):
        raise ValueError(f"{len(gaps)} gaps but {len(p_values)} p-values")
    measured = [(i, g) for i, g in enumerate(gaps) if g is not None]
    adjusted = holm([p_values[i] if gaps[i] is not None else None for i in range(len(gaps))])
    if not measured:
        return {"equalized_odds_difference": None, "equalized_odds_p_value": None}
    alpha = 1.0 - gates.gate_confidence
    limit = gates.max_equalized_odds_difference
    failing = [(i, g) for i, g in measured if g > limit and _below(adjusted[i], alpha)]
    decisive, gap = max(failing or measured, key=lambda pair: pair[1])
    return {"equalized_odds_difference": gap, "equalized_odds_p_value": adjusted[decisive]}


def _below(p_value: float | None, alpha: float) -> bool:
    return p_value is not None and p_value < alpha


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


def _area_rules(
    gates: Gates,
) -> list[tuple[str, str, float, Literal["at least", "at most"]]]:
    """The area gates (``governance.audit.area_audit``): O/E by area type, and allocation."""
    level = f"{gates.gate_confidence:.0%}"
    return [
        (
            f"areas: observed/expected in every area type judged, none clearly too many "
            f"expected ({level} upper bounds)",
            "area_observed_expected_high",
            gates.min_observed_expected,
            "at least",
        ),
        (
            f"areas: observed/expected in every area type judged, none clearly too few "
            f"expected ({level} lower bounds)",
            "area_observed_expected_low",
            gates.max_observed_expected,
            "at most",
        ),
        (
            f"area allocation: no kind of area clearly scored down relative to its outcomes "
            f"({level} upper bounds)",
            "area_allocation_high",
            gates.min_area_allocation_ratio,
            "at least",
        ),
        (
            f"area allocation: no kind of area clearly scored up relative to its outcomes "
            f"({level} lower bounds)",
            "area_allocation_low",
            gates.max_area_allocation_ratio,
            "at most",
        ),
    ]


def _refit_rules(
    gates: Gates,
) -> list[tuple[str, str, float, Literal["at least", "at most"]]]:
    """The served (refit) model's gates, judged on the young people held out of it."""
    level = f"{gates.gate_confidence:.0%}"
    metric = gates.baseline_metric.replace("_", " ")
    return [
        (
            f"served model (refit), held-out young people: observed/expected not clearly too "
            f"many expected ({level} upper bound)",
            "refit_observed_expected_high",
            gates.min_observed_expected,
            "at least",
        ),
        (
            f"served model (refit), held-out young people: observed/expected not clearly too "
            f"few expected ({level} lower bound)",
            "refit_observed_expected_low",
            gates.max_observed_expected,
            "at most",
        ),
        (
            f"served model (refit): calibration slope, risks not clearly too extreme "
            f"({level} upper bound)",
            "refit_calibration_slope_high",
            gates.min_calibration_slope,
            "at least",
        ),
        (
            f"served model (refit): calibration slope, risks not clearly too timid "
            f"({level} lower bound)",
            "refit_calibration_slope_low",
            gates.max_calibration_slope,
            "at most",
        ),
        (
            f"served model (refit) not clearly worse than the evaluated model on {metric} "
            f"(paired bootstrap on rows neither learnt from, {level} upper bound)",
            "refit_difference_high",
            -gates.max_refit_shortfall,
            "at least",
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
    groups = [g for dimension in check.by.values() for g in dimension.values() if g.judged]
    highs = [g.high for g in groups if g.high is not None]
    lows = [g.low for g in groups if g.low is not None]
    return {
        "observed_expected_high": overall.high if overall.judged else None,
        "observed_expected_low": overall.low if overall.judged else None,
        "calibration_slope_high": check.slope_high,
        "calibration_slope_low": check.slope_low,
        "group_observed_expected_high": min(highs) if highs else None,
        "group_observed_expected_low": max(lows) if lows else None,
    }


def gate_figures(
    logged: Mapping[str, float | None],
    recomputed: Mapping[str, float | None],
    gaps: Sequence[float | None],
    calibration: Mapping[str, float | None] | None = None,
    fairness: Mapping[str, float | None] | None = None,
    baseline: float | None = None,
) -> dict[str, float | None]:
    """The figures the gates judge: the audit's own, and how far the logged ones stray.

    Parameters
    ----------
    logged
        What the training run logged (``test_roc_auc``, ``test_ece``).
    recomputed
        The same figures, recomputed by the audit from the model and the test rows.
    gaps
        Each single dimension's equalized-odds difference (None: too small to judge). Used
        only without `fairness`: the gate then takes the worst, with no p-value, so a gap
        above the limit fails as its p-value was not measured.
    calibration
        :func:`calibration_figures` (None: not measured, so those gates fail).
    fairness
        :func:`fairness_figures`: the gap and p-value the equalized-odds gate decides on.
    baseline
        The lower end of the paired bootstrap interval of the candidate's advantage over the
        area-rate baseline (None: not measured, so that gate fails).
    """
    known = [g for g in gaps if g is not None]
    if fairness is None:
        fairness = {"equalized_odds_difference": max(known) if known else None}
    return {
        "test_roc_auc": recomputed.get("test_roc_auc"),
        "test_ece": recomputed.get("test_ece"),
        "equalized_odds_difference": fairness.get("equalized_odds_difference"),
        "equalized_odds_p_value": fairness.get("equalized_odds_p_value"),
        "logged_figure_difference": logged_difference(logged, recomputed),
        **(calibration if calibration is not None else calibration_figures(None)),
        BASELINE_FIGURE: baseline,
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
