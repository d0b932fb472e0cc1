"""Promotion gates: each gate's measured value, its limit, and whether it passed.

Pure: the figures come from a model's audit (test metrics and fairness summaries); a gate
whose figure was not measured fails, saying so, rather than passing silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from governance.contracts.audit_document import GateOutcome
from governance.contracts.settings import Gates

__all__ = ["evaluate_gates"]

_NOT_MEASURED = "not measured"


def evaluate_gates(gates: Gates, figures: Mapping[str, float | None]) -> list[GateOutcome]:
    """Judge ``figures`` (``test_roc_auc``, ``test_ece``, ``equalized_odds_difference``)."""
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
