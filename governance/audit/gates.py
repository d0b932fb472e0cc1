"""Promotion gates: each gate's measured value, its limit, and whether it passed.

Pure: the figures come from a model's audit, recomputed from the model and the test rows,
never as the training run logged them (anyone who can write to the tracking store can log a
figure); a logged figure that disagrees with the recomputed one is itself a failed gate. A
gate whose figure was not measured fails, saying so, rather than passing silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from governance.contracts.audit_document import GateOutcome
from governance.contracts.settings import Gates

__all__ = ["CHECKED_FIGURES", "evaluate_gates", "gate_figures", "logged_difference"]

#: Figures the training run logs and the audit recomputes: the two must agree.
CHECKED_FIGURES: tuple[str, ...] = ("test_roc_auc", "test_ece")

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


def gate_figures(
    logged: Mapping[str, float | None],
    recomputed: Mapping[str, float | None],
    gaps: Sequence[float | None],
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
    """
    known = [g for g in gaps if g is not None]
    return {
        "test_roc_auc": recomputed.get("test_roc_auc"),
        "test_ece": recomputed.get("test_ece"),
        "equalized_odds_difference": max(known) if known else None,
        "logged_figure_difference": logged_difference(logged, recomputed),
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
