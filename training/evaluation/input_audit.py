"""Agency-derived model inputs by group against the truth, to show inputs carrying recording bias.

A police-derived input (offences recorded as suspect, days since the last police record...)
counts what the police recorded, not what the young person did. On generated data the truth
says who truly took part in serious violence before the as-of date (inside the period the
extracts cover), so each input can be compared across groups among young people with the
*same* truth: if, among those truly involved, one group's mean input is higher than the
reference group's, the input carries that group's heavier recording into the model. Shown per
group and stratum (everyone, truly involved, not involved): the count, the input's mean with a
bootstrap percentile interval, and the ratio of the mean to the reference group's mean with a
bootstrap interval (groups resampled independently, seeded); beside it the group's true rate
of prior involvement with its exact interval, so the board sees recorded contact next to true
offending. A ratio is judged (called different from 1 when its interval excludes 1) only when
both groups have at least ``min_outcomes`` young people with a non-zero value, as a rate needs
that many outcomes. Aggregates only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from training.evaluation.recording_stats import WITHHOLD_BELOW, reference_group, share

__all__ = ["STRATA", "bootstrap_means", "input_audit"]

#: stratum -> words; "involved" means truly involved in serious violence before the as-of date
STRATA: dict[str, str] = {
    "all": "everyone",
    "involved": "truly involved in serious violence before the as-of date",
    "not_involved": "not truly involved before the as-of date",
}


def bootstrap_means(x: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """``replicates`` bootstrap means of each column of ``x`` (rows resampled with replacement).

    Each column's interval is read on its own, so each column is resampled on its own; and
    resampling n values with replacement draws each *distinct* value a multinomial number of
    times, so the multinomial is drawn over the column's distinct values (a count or a flag
    has a handful): the same distribution as resampling rows, at a tiny fraction of the cost.

    Returns an array of shape (replicates, columns).
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        raise ValueError("bootstrap_means: no rows")
    out = np.empty((replicates, x.shape[1]))
    for j in range(x.shape[1]):
        values, counts = np.unique(x[:, j], return_counts=True)
        draws = rng.multinomial(n, counts / n, size=replicates)
        out[:, j] = draws @ values / n
    return out


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _stratum(
    x: np.ndarray,
    groups: np.ndarray,
    columns: Sequence[str],
    ref: str | None,
    *,
    confidence: float,
    min_outcomes: int,
    replicates: int,
    rng: np.random.Generator,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per input column, per group: n, mean and ratio to the reference, with intervals."""
    names = sorted({str(g) for g in groups})
    boot: dict[str, np.ndarray] = {}
    means: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
    nonzero: dict[str, np.ndarray] = {}
    for g in names:
        xg = x[groups == g]
        sizes[g] = len(xg)
        nonzero[g] = (xg != 0).sum(axis=0)
        if len(xg) >= WITHHOLD_BELOW:
            means[g] = xg.mean(axis=0)
            boot[g] = bootstrap_means(xg, replicates, rng)
    out: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in columns}
    for j, column in enumerate(columns):
        for g in names:
            cell: dict[str, Any] = {
                "n": sizes[g],
                "withheld": g not in means,
                "mean": None,
                "low": None,
                "high": None,
                "ratio": None,
                "ratio_low": None,
                "ratio_high": None,
                "judged": False,
                "differs": None,
            }
            out[column][g] = cell
            if g not in means:
                continue
            low, high = _interval(boot[g][:, j], confidence)
            cell.update(mean=float(means[g][j]), low=low, high=high)
            if ref is None or ref not in means or means[ref][j] <= 0:
                continue
            if g == ref:
                cell["ratio"] = 1.0
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = boot[g][:, j] / boot[ref][:, j]
            ratios[~np.isfinite(ratios)] = np.nan
            r_low, r_high = _interval(ratios, confidence)
            # as for a rate: judged only with min_outcomes young people with a non-zero
            # value in both groups (a bootstrap of a handful of non-zero values, or none,
            # gives an interval that looks surer than it is)
            judged = min(nonzero[g][j], nonzero[ref][j]) >= min_outcomes
            cell.update(
                ratio=float(means[g][j] / means[ref][j]),
                ratio_low=r_low,
                ratio_high=r_high,
                judged=bool(judged),
                differs=bool(r_low > 1 or r_high < 1) if judged else None,
            )
    return out


def input_audit(
    inputs: pd.DataFrame,
    involved: np.ndarray,
    groups: Mapping[str, np.ndarray],
    *,
    confidence: float,
    min_outcomes: int,
    replicates: int,
    seed: int,
    references: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Each input's mean by group and stratum, against the reference group, with the truth.

    Parameters
    ----------
    inputs
        The audited model inputs: numeric columns without missing values, one row per young
        person (counts and flags; a "days since" input, missing for the never recorded, has
        no meaningful mean and is the caller's to leave out).
    involved
        Whether each young person truly took part in serious violence before the as-of date.
    groups
        Group column -> one value per row.
    references
        Group column -> the group the others are compared with; where absent, the group with
        most truly involved young people (as in the pathway figures).
    replicates, seed
        Bootstrap replicates and the seed of their generator.
    """
    if replicates < 50:
        raise ValueError(
            f"replicates: got {replicates}; need at least 50 for a percentile interval"
        )
    columns = list(inputs.columns)
    involved = np.asarray(involved, dtype=bool)
    rng = np.random.default_rng(seed)
    x_all = inputs.to_numpy(dtype=float)
    if len(x_all) != len(involved):
        raise ValueError(f"involved: got {len(involved)} values for {len(x_all)} input rows")
    if bad := [c for c, n in zip(columns, np.isnan(x_all).sum(axis=0), strict=True) if n]:
        raise ValueError(f"inputs: missing values in {', '.join(bad)}; expected counts or flags")
    by: dict[str, Any] = {}
    for dimension, values in groups.items():
        values = np.asarray(values, dtype=object)
        names = sorted({str(v) for v in values})
        counts = {g: int(involved[values == g].sum()) for g in names}
        ref = reference_group(counts, (references or {}).get(dimension))
        strata = {}
        for stratum in STRATA:
            keep = (
                np.ones(len(values), dtype=bool)
                if stratum == "all"
                else involved
                if stratum == "involved"
                else ~involved
            )
            strata[stratum] = _stratum(
                x_all[keep],
                values[keep],
                columns,
                ref,
                confidence=confidence,
                min_outcomes=min_outcomes,
                replicates=replicates,
                rng=rng,
            )
        by[dimension] = {
            "reference": ref,
            "true_rate": {
                g: share(int(involved[values == g].sum()), int((values == g).sum()), confidence)
                for g in names
            },
            "strata": strata,
        }
    return {"inputs": columns, "strata": STRATA, "replicates": replicates, "by": by}
