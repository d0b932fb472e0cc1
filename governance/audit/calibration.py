"""Expected calibration error: one definition, which training logs and the audit recomputes.

The rows are sorted by predicted risk and cut into ``bins`` parts of equal count; the ECE is
the row-weighted mean of ``|observed rate - mean prediction|`` over the parts. Absolute
gaps: a model that overstates risk in one part and understates it in another does not have
the errors cancel. Training logs ``test_ece`` with it and the audit recomputes the same
figure from the model and the test rows, so the two can be compared exactly (a logged figure
that disagrees is a failed gate: :mod:`governance.audit.gates`).

The ECE alone cannot fail a model for a rare outcome: at 1% prevalence a model that predicts
zero for everyone, or triples everyone's odds, is within 0.02 of every observed rate. The
figures a gate can trust are the ones the product publishes: the expected count (the sum of
risks) against the outcomes recorded (:func:`observed_expected`, with an exact interval),
and the calibration line (:func:`calibration_line`: slope and intercept with intervals),
overall and within groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

__all__ = [
    "CalibrationLine",
    "ObservedExpected",
    "calibration_line",
    "calibration_table",
    "expected_calibration_error",
    "observed_expected",
    "poisson_interval",
]


def calibration_table(y: ArrayLike, p: ArrayLike, bins: int = 10) -> dict[str, list[float]]:
    """Observed rate, mean prediction and row count in each of ``bins`` equal-count parts."""
    outcome = np.asarray(y, dtype=np.float64)
    risk = np.asarray(p, dtype=np.float64)
    chunks = [c for c in np.array_split(np.argsort(risk, kind="stable"), bins) if len(c)]
    return {
        "predicted": [float(risk[c].mean()) for c in chunks],
        "observed": [float(outcome[c].mean()) for c in chunks],
        "count": [len(c) for c in chunks],
    }


def expected_calibration_error(y: ArrayLike, p: ArrayLike, bins: int = 10) -> float:
    """Row-weighted mean absolute gap between observed rate and mean prediction per part."""
    table = calibration_table(y, p, bins)
    total = sum(table["count"])
    gaps = (
        n * abs(o - e)
        for o, e, n in zip(table["observed"], table["predicted"], table["count"], strict=True)
    )
    return float(sum(gaps) / total)


# -- calibration that can fail: expected against observed, and the calibration line -----------

_EPS = 1e-6
_NEWTON_STEPS = 50


@dataclass(frozen=True)
class ObservedExpected:
    """Outcomes recorded against outcomes the model expects, with the ratio's interval.

    ``expected`` is the sum of predicted risks (what a release publishes as an area's
    expected count); ``ratio`` is ``observed / expected``: above 1 the model under-predicts,
    below 1 it over-predicts. ``low``/``high`` bound the ratio at the given confidence with
    the exact (Garwood) Poisson interval of the observed count, divided by ``expected``: the
    count of a rare outcome over many young people is close to Poisson, and the Poisson
    interval is wider than the exact Poisson-binomial one, so the bounds err towards "cannot
    tell". All three are None when the model expects no outcome at all.
    """

    observed: int
    expected: float
    ratio: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class CalibrationLine:
    """The logistic recalibration ``logit P(y) = intercept + slope * logit(p)``, with intervals.

    Ideal: slope 1 (risks spread as much as outcomes do; below 1 too extreme, above 1 too
    timid) and intercept 0. Wald intervals from the observed information of the
    two-parameter fit.
    """

    slope: float
    slope_low: float
    slope_high: float
    intercept: float
    intercept_low: float
    intercept_high: float


def observed_expected(y: ArrayLike, p: ArrayLike, confidence: float = 0.95) -> ObservedExpected:
    """Recorded outcomes against the sum of predicted risks (see :class:`ObservedExpected`)."""
    observed = int(np.asarray(y, dtype=np.int64).sum())
    expected = float(np.asarray(p, dtype=np.float64).sum())
    if not expected > 0:
        return ObservedExpected(observed, expected, None, None, None)
    low, high = poisson_interval(observed, confidence)
    return ObservedExpected(
        observed, expected, observed / expected, low / expected, high / expected
    )


def poisson_interval(count: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Garwood) interval of a Poisson mean from one observed ``count``."""
    from scipy.stats import chi2

    tail = (1.0 - confidence) / 2.0
    low = 0.0 if count == 0 else float(chi2.ppf(tail, 2 * count)) / 2.0
    return low, float(chi2.ppf(1.0 - tail, 2 * count + 2)) / 2.0


def calibration_line(
    y: ArrayLike, p: ArrayLike, confidence: float = 0.95
) -> CalibrationLine | None:
    """Fit :class:`CalibrationLine`; None when it cannot be estimated.

    It cannot be when every outcome is the same, or every prediction is (a model that says
    the same risk for everyone, zero included, has no slope), or the fit does not converge.
    """
    t = np.asarray(y, dtype=np.float64)
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    x = np.log(q / (1 - q))
    if len(t) == 0 or t.min() == t.max() or np.ptp(x) == 0:
        return None
    # Newton's method for the two-parameter logistic regression, unpenalised as the
    # calibration line is defined; a million rows take milliseconds
    design = np.column_stack([np.ones_like(x), x])
    beta = np.array([0.0, 1.0])
    for _ in range(_NEWTON_STEPS):
        mu = expit(design @ beta)
        hessian = design.T @ (design * (mu * (1.0 - mu))[:, None])
        try:
            step = np.linalg.solve(hessian, design.T @ (t - mu))
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    else:
        return None
    return _with_intervals(beta, design, confidence)


def _with_intervals(
    beta: NDArray[np.float64], design: NDArray[np.float64], confidence: float
) -> CalibrationLine | None:
    """The fitted line with Wald intervals from the information at ``beta``."""
    from scipy.stats import norm

    mu = expit(design @ beta)
    information = design.T @ (design * (mu * (1.0 - mu))[:, None])
    try:
        se = np.sqrt(np.diag(np.linalg.inv(information)))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(se)) or not np.all(np.isfinite(beta)):
        return None
    z = float(norm.ppf(0.5 + confidence / 2.0))
    (a, b), (se_a, se_b) = beta.tolist(), se.tolist()
    return CalibrationLine(b, b - z * se_b, b + z * se_b, a, a - z * se_a, a + z * se_a)
