"""Rates with exact intervals and group-to-reference ratios, for the recording-bias audit.

Pure functions on counts and 0/1 arrays (no truth is read here): a recorded share among the
truly involved (a pathway's recording rate, the label's sensitivity) is a binomial proportion,
shown with its exact Clopper–Pearson interval (SciPy); one group's share against the reference
group's is a ratio of two independent proportions, shown with the Katz log interval (written
out here: a few lines of arithmetic; statsmodels is not a dependency), continuity-corrected
when a share is 0 or 1. A group is *judged*
(its ratio may be called different from 1) only with at least ``min_outcomes`` truly involved
young people in both it and the reference group; below that its figures are still shown, with
their (wide) intervals, and said to be too few to judge. Below ``withhold_below`` (5) truly
involved, the group's figures are withheld (only its count is kept), as elsewhere in the audit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.stats import binomtest, norm

__all__ = [
    "WITHHOLD_BELOW",
    "by_group_shares",
    "clopper_pearson",
    "katz_ratio",
    "reference_group",
    "share",
]

#: Fewer truly involved young people than this: the group's figures are withheld.
WITHHOLD_BELOW = 5


def clopper_pearson(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Exact two-sided interval for a binomial proportion ``k / n`` (``n >= 1``)."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"clopper_pearson: need 0 <= k <= n and n >= 1; got k={k}, n={n}")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def katz_ratio(
    k1: int, n1: int, k0: int, n0: int, confidence: float
) -> tuple[float | None, float | None, float | None]:
    """Ratio of two independent proportions ``(k1/n1) / (k0/n0)`` with its Katz log interval.

    When either share is 0 or 1 the log interval's variance degenerates (a group recorded in
    full would add nothing to it), so the interval is then taken from counts with 0.5 added
    to each ``k`` and 1 to each ``n`` (the usual continuity correction); the ratio itself is
    the observed one. ``(None, None, None)`` when the reference share is 0 (no ratio) or a
    group is empty.
    """
    if min(n1, n0) <= 0 or k0 <= 0:
        return None, None, None
    ratio = (k1 / n1) / (k0 / n0)
    a, m, b, n = float(k1), float(n1), float(k0), float(n0)
    if a in (0.0, m) or b == n:
        a, m, b, n = a + 0.5, m + 1, b + 0.5, n + 1
    centre = math.log((a / m) / (b / n))
    se = math.sqrt(1 / a - 1 / m + 1 / b - 1 / n)
    z = float(norm.ppf(0.5 + confidence / 2))
    return ratio, math.exp(centre - z * se), math.exp(centre + z * se)


def share(k: int, n: int, confidence: float) -> dict[str, Any]:
    """``k`` of ``n`` with its rate and exact interval; the rate withheld below five in ``n``."""
    out: dict[str, Any] = {"n": int(n), "k": None, "rate": None, "low": None, "high": None}
    out["withheld"] = n < WITHHOLD_BELOW
    if out["withheld"]:
        return out
    low, high = clopper_pearson(k, n, confidence)
    out.update(k=int(k), rate=k / n, low=low, high=high)
    return out


def reference_group(counts: Mapping[str, int], preferred: str | None = None) -> str | None:
    """The reference group: ``preferred`` if present, else the largest count (ties: by name)."""
    if not counts:
        return None
    if preferred is not None and preferred in counts:
        return preferred
    return min(counts, key=lambda g: (-counts[g], g))


def by_group_shares(
    recorded: np.ndarray,
    involved: np.ndarray,
    groups: np.ndarray,
    *,
    confidence: float,
    min_outcomes: int,
    reference: str | None = None,
) -> dict[str, Any]:
    """Share recorded among the truly involved, per group, each against the reference group.

    Parameters
    ----------
    recorded, involved
        0/1 per young person: whether the event reached the records, whether it truly
        happened (a recorded event without a true one counts only through ``involved``).
    groups
        Each young person's group (text).
    reference
        The group the others are compared with (e.g. ``audit.reference_groups``); when absent
        from the data, the group with most truly involved young people.

    Returns
    -------
    dict
        ``reference`` (the group with most truly involved) and ``groups``: per group its
        :func:`share` plus ``ratio``/``ratio_low``/``ratio_high`` against the reference,
        ``judged`` (both have at least ``min_outcomes`` involved) and ``differs`` (judged and
        the ratio's interval excludes 1).
    """
    recorded = np.asarray(recorded, dtype=bool)
    involved = np.asarray(involved, dtype=bool)
    groups = np.asarray(groups, dtype=object)
    names = sorted({str(g) for g in groups})
    n = {g: int(involved[groups == g].sum()) for g in names}
    k = {g: int((recorded & involved)[groups == g].sum()) for g in names}
    ref = reference_group(n, reference)
    out: dict[str, dict[str, Any]] = {}
    for g in names:
        figures = share(k[g], n[g], confidence)
        figures.update(ratio=None, ratio_low=None, ratio_high=None, judged=False, differs=None)
        if g == ref and not figures["withheld"]:
            figures["ratio"] = 1.0
        elif ref is not None and not figures["withheld"] and n[ref] >= WITHHOLD_BELOW:
            r, low, high = katz_ratio(k[g], n[g], k[ref], n[ref], confidence)
            judged = min(n[g], n[ref]) >= min_outcomes and low is not None and high is not None
            figures.update(ratio=r, ratio_low=low, ratio_high=high, judged=judged)
            if judged and low is not None and high is not None:
                figures["differs"] = bool(low > 1 or high < 1)
        out[g] = figures
    return {"reference": ref, "groups": out}
