"""Aequitas' group metrics at the operating point: FDR, FOR, NPV and the selected share.

The fairness section's rates (selection rate, true and false positive rates, precision) say
how each group is treated given its outcomes. Aequitas (Saleiro et al., 2018) adds the
figures a programme with a fixed capacity reads the other way round, given the decision:

- *false discovery rate* (FDR): of the group's young people selected, the share who did not
  have the outcome, ``fp / (tp + fp)`` (1 − precision);
- *false omission rate* (FOR): of those not selected, the share who did, ``fn / (fn + tn)``;
- *negative predictive value* (NPV): of those not selected, the share who did not,
  ``tn / (fn + tn)`` (1 − FOR);
- *selected share* (Aequitas' "predicted positive rate", ppr): the group's share of everyone
  selected, ``(tp + fp) / Σ (tp + fp)``, beside its *population share*, ``n / Σ n``, and
  their ratio (1 when the group is selected in proportion to its size; Aequitas' proportional
  parity).

Each is a count out of a count, so each gets the exact (Clopper–Pearson) interval of
:func:`governance.audit.fairness_evidence.exact_interval`; the ratio's interval is the
selected share's divided by the population share (the population share is the cohort's own
composition, counted, not estimated). The judging rule is the fairness section's: a figure
is *judged* only when the group has ``min_group_size`` people and the people it is a share of
number at least ``min_outcomes`` (FDR: the group's selected; FOR and NPV: its not selected;
the selected share: the group's selected). Others are shown with their counts and flagged
not judged. Aequitas itself is not a dependency: these are functions of each group's four
confusion cells, checked against a hand-worked table and Fairlearn's ``MetricFrame`` with
custom metrics in ``tests/governance/test_aequitas_metrics.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from governance.audit.arithmetic import divide, float_or_none
from governance.audit.arrays import Json
from governance.audit.fairness_evidence import exact_interval

__all__ = [
    "AEQUITAS_RATES",
    "METRIC_FRAME_FUNCTIONS",
    "aequitas_by_dimension",
    "aequitas_figures",
]

#: The figures with an exact interval, in the order the report shows them.
AEQUITAS_RATES: tuple[str, ...] = (
    "false_discovery_rate",
    "false_omission_rate",
    "negative_predictive_value",
    "selected_share",
)


def aequitas_figures(
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    tn: np.ndarray,
    *,
    min_group_size: int,
    min_outcomes: int,
    confidence: float,
) -> list[Json]:
    """Each group's Aequitas figures, intervals and judged flags, from its confusion cells.

    Parameters
    ----------
    tp, fp, fn, tn : numpy.ndarray of int
        One entry per group of one dimension (groups that together make up the cohort).
    min_group_size, min_outcomes : int
        The judging rule (see the module docstring).
    confidence : float
        Two-sided coverage of the exact intervals, in (0, 1).

    Returns
    -------
    list of dict
        One per group, in order: ``{"false_discovery_rate", "false_omission_rate",
        "negative_predictive_value", "selected_share", "population_share",
        "selected_share_ratio", "selected", "not_selected", "ci": {rate: [low, high]} (for
        each of :data:`AEQUITAS_RATES` and ``selected_share_ratio``), "fdr_judged",
        "for_judged", "share_judged"}``. A figure whose denominator is 0 is ``None``.
    """
    tp, fp, fn, tn = (np.asarray(c, dtype=np.int64) for c in (tp, fp, fn, tn))
    selected, not_selected = tp + fp, fn + tn
    n = selected + not_selected
    fractions = {
        "false_discovery_rate": (fp, selected),
        "false_omission_rate": (fn, not_selected),
        "negative_predictive_value": (tn, not_selected),
        "selected_share": (selected, np.full_like(selected, selected.sum())),
    }
    values = {m: divide(k, d) for m, (k, d) in fractions.items()}
    bounds = {m: exact_interval(k, d, confidence) for m, (k, d) in fractions.items()}
    population = divide(n, np.full_like(n, n.sum()))
    ratio = divide(values["selected_share"], population)
    low, high = bounds["selected_share"]
    ratio_bounds = (divide(low, population), divide(high, population))
    big = n >= min_group_size
    return [
        {
            **{m: float_or_none(values[m][i]) for m in AEQUITAS_RATES},
            "population_share": float_or_none(population[i]),
            "selected_share_ratio": float_or_none(ratio[i]),
            "selected": int(selected[i]),
            "not_selected": int(not_selected[i]),
            "ci": {
                **{m: _pair(bounds[m], i) for m in AEQUITAS_RATES},
                "selected_share_ratio": _pair(ratio_bounds, i),
            },
            "fdr_judged": bool(big[i] and selected[i] >= min_outcomes),
            "for_judged": bool(big[i] and not_selected[i] >= min_outcomes),
            "share_judged": bool(big[i] and selected[i] >= min_outcomes),
        }
        for i in range(len(n))
    ]


def aequitas_by_dimension(
    counts: pd.DataFrame, *, min_group_size: int, min_outcomes: int, confidence: float
) -> dict[str, dict[str, Json]]:
    """:func:`aequitas_figures` for every dimension of :func:`~governance.audit.fairness.group_counts`."""
    result: dict[str, dict[str, Json]] = {}
    for dimension, table in counts.groupby("dimension", sort=False):
        cells = (table[c].to_numpy(np.int64) for c in ("tp", "fp", "fn", "tn"))
        figures = aequitas_figures(
            *cells,
            min_group_size=min_group_size,
            min_outcomes=min_outcomes,
            confidence=confidence,
        )
        result[str(dimension)] = dict(zip(table["group"].astype(str), figures, strict=True))
    return result


def _pair(interval: tuple[np.ndarray, np.ndarray], i: int) -> list[float | None]:
    return [float_or_none(interval[0][i]), float_or_none(interval[1][i])]


def _share(y_true: ArrayLike, y_pred: ArrayLike, among: int, outcome: int) -> float:
    """Among rows decided `among`, the share with outcome `outcome`; NaN if there are none."""
    decided = np.asarray(y_pred) == among
    if not decided.any():
        return float("nan")
    return float(np.mean(np.asarray(y_true)[decided] == outcome))


def false_discovery_rate(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Of those selected, the share without the outcome (a Fairlearn MetricFrame metric)."""
    return _share(y_true, y_pred, 1, 0)


def false_omission_rate(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Of those not selected, the share with the outcome (a Fairlearn MetricFrame metric)."""
    return _share(y_true, y_pred, 0, 1)


def negative_predictive_value(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Of those not selected, the share without the outcome (a Fairlearn MetricFrame metric)."""
    return _share(y_true, y_pred, 0, 0)


#: Row-level versions for Fairlearn's ``MetricFrame``, the audit's independent cross-check.
METRIC_FRAME_FUNCTIONS = {
    "false_discovery_rate": false_discovery_rate,
    "false_omission_rate": false_omission_rate,
    "negative_predictive_value": negative_predictive_value,
}
