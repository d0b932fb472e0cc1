"""The calibration check the gates judge: expected against observed outcomes, and the line.

A release publishes each area's expected count, the sum of its young people's calibrated
risks, so the audit asks of the model what a planner will read into that count: does it
expect as many outcomes as are recorded, overall and within each group (sex, ethnicity,
deprivation), and do its risks spread as the outcomes do (the calibration slope)? Each
figure carries an exact or likelihood interval (:mod:`governance.audit.calibration`), and a
group is judged only with ``min_outcomes`` recorded outcomes: fewer, and its interval is too
wide to say anything, so it is shown with its counts and not judged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.audit.arrays import FloatArray, IntArray
from governance.audit.calibration import (
    CalibrationLine,
    ObservedExpected,
    calibration_line,
    observed_expected,
)
from governance.audit.group_performance import group_codes
from governance.contracts.audit_document import CalibrationCheck, ObservedExpectedEntry

__all__ = ["METHOD", "calibration_check"]

METHOD = (
    "Observed over expected outcomes (expected: the sum of predicted risks) with the exact "
    "Poisson (Garwood) interval of the observed count; the calibration slope and intercept "
    "from the logistic regression of the outcome on logit(risk), with Wald intervals"
)


def calibration_check(
    y: IntArray,
    scores: FloatArray,
    groups: pd.DataFrame,
    *,
    confidence: float,
    min_outcomes: int,
    min_group_size: int,
) -> CalibrationCheck:
    """Expected against observed for everyone and each group of each column of ``groups``.

    Groups are named as the rest of the audit names them (:func:`group_codes`: text labels,
    missing values "not recorded"); the intersection is left out (its cells are mostly too
    small to judge). Groups with fewer than ``min_group_size`` rows are withheld (their row count only), as
    everywhere in the report.
    """
    overall = observed_expected(y, scores, confidence)
    line = calibration_line(y, scores, confidence)
    by: dict[str, dict[str, ObservedExpectedEntry]] = {}
    coded = group_codes(groups)
    for dimension in (str(c) for c in groups.columns):
        codes, names = coded[dimension]
        by[dimension] = {
            name: _group_entry(y, scores, codes == g, confidence, min_outcomes, min_group_size)
            for g, name in enumerate(names)
        }
    return CalibrationCheck(
        method=METHOD,
        confidence=confidence,
        min_outcomes=min_outcomes,
        overall=_entry(len(y), overall, overall.observed >= min_outcomes),
        **_line_fields(line),
        by=by,
    )


def _group_entry(
    y: IntArray,
    scores: FloatArray,
    mask: np.ndarray,
    confidence: float,
    min_outcomes: int,
    min_group_size: int,
) -> ObservedExpectedEntry:
    count = int(mask.sum())
    if count < min_group_size:
        return ObservedExpectedEntry(
            count=count,
            observed=None,
            expected=None,
            ratio=None,
            low=None,
            high=None,
            judged=False,
            withheld=True,
        )
    found = observed_expected(y[mask], scores[mask], confidence)
    return _entry(count, found, found.observed >= min_outcomes and found.low is not None)


def _entry(count: int, found: ObservedExpected, judged: bool) -> ObservedExpectedEntry:
    return ObservedExpectedEntry(
        count=count,
        observed=found.observed,
        expected=found.expected,
        ratio=found.ratio,
        low=found.low,
        high=found.high,
        judged=judged,
        withheld=False,
    )


def _line_fields(line: CalibrationLine | None) -> dict[str, float | None]:
    names = ("slope", "slope_low", "slope_high", "intercept", "intercept_low", "intercept_high")
    if line is None:
        return dict.fromkeys(names)
    return {name: getattr(line, name) for name in names}
