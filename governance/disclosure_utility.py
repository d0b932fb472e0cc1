"""What disclosure control costs the figures: the published area table against the unprotected one.

Protection is only worth its price if planners can still use what is published. The release
measures that price on every run, from the two tables it holds in memory at step 4 (the
unprotected figures and the protected table it is about to write), and records the result in
the signed manifest (:class:`governance.contracts.release_schema.ReleaseUtility`):

- **how much is published**: the share of areas (in all and by level) and of factor counts;
- **how far published counts are from the truth**: mean absolute and largest error of the
  published population, expected number and factor counts, pooled over every published area
  (rounding to 5 gives at most 2.5, the cell-key method at most its ``max_perturbation``);
- **whether the order survives**: Spearman rank agreement (:func:`scipy.stats.spearmanr`) of
  the published mean risk with the unprotected mean risk among the wards, and among the
  boroughs, that publish one: a planner ranks areas, so the ranks are what must hold;
- **how often "fewer than N" stands in for a number**: published areas whose expected number
  is 0, which the API and pages show as "fewer than N".

Only aggregates leave this module: no area code and no area's own figure, so the manifest
tells nobody more about an area than the table does. The function is pure: it reads the two
tables and nothing else.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import spearmanr

from governance.contracts.errors import VruError
from governance.contracts.levels import LEVELS, Level
from governance.contracts.release_schema import ReleaseUtility

__all__ = ["UtilityError", "disclosure_utility"]

#: decimals the manifest keeps: enough to compare releases, no more
SHARE_DECIMALS = 4
ERROR_DECIMALS = 3

_KEY = ["level", "code"]
_MISSING = "{which} area table: column(s) {columns} missing; expected the release's area table"
_UNMATCHED = (
    "published area table: {n} area(s) not in the unprotected table (same level and code "
    "expected for every row): the two tables are not of the same release"
)

FloatArray = NDArray[np.float64]


class UtilityError(VruError, ValueError):
    """The two tables cannot be compared (missing columns, or not the same areas)."""


def disclosure_utility(
    unprotected: pd.DataFrame, published: pd.DataFrame, factors: Sequence[str]
) -> ReleaseUtility:
    """Measure what disclosure control cost: the published table against the unprotected one.

    Parameters
    ----------
    unprotected
        The area table before disclosure control (``training.release.aggregate.
        areas_from_sums``): ``level``, ``code``, ``population``, ``expected``,
        ``mean_risk`` and ``count_F`` for each factor.
    published
        The table the release writes: the same areas, with ``suppressed``, the published
        ``population``, ``expected``, ``mean_risk``, and ``count_F`` and
        ``count_F_suppressed`` for each factor.
    factors
        The release's factor names.

    Returns
    -------
    ReleaseUtility
        Aggregates only, rounded to :data:`SHARE_DECIMALS` (shares, Spearman) and
        :data:`ERROR_DECIMALS` (errors).

    Raises
    ------
    UtilityError
        If a column is missing or a published area is not in the unprotected table.
    """
    both = _joined(unprotected, published, factors)
    shown = ~both["suppressed"].astype(bool).to_numpy()
    counts = [f"count_{f}" for f in factors]
    cells = len(both) * len(counts)
    cells_shown = sum(
        int((shown & ~both[f"{c}_suppressed"].astype(bool).to_numpy()).sum()) for c in counts
    )
    population = _errors(both, ["population"], shown)
    expected = _errors(both, ["expected"], shown)
    count = _errors(both, counts, shown)
    ward, wards = _spearman(both, "ward")
    borough, boroughs = _spearman(both, "borough")
    zero = int((shown & (_floats(both, "expected") == 0.0)).sum())
    return ReleaseUtility(
        areas=len(both),
        areas_published=int(shown.sum()),
        areas_published_share=_share(int(shown.sum()), len(both)),
        published_share_by_level=_shares_by_level(both, shown),
        factor_cells=cells,
        factor_cells_published_share=_share(cells_shown, cells),
        population_mae=population[0],
        population_max_error=population[1],
        expected_mae=expected[0],
        expected_max_error=expected[1],
        count_mae=count[0],
        count_max_error=count[1],
        spearman_ward=ward,
        spearman_borough=borough,
        wards_ranked=wards,
        boroughs_ranked=boroughs,
        fewer_than_areas=zero,
        fewer_than_share=_share(zero, int(shown.sum())),
    )


def _joined(
    unprotected: pd.DataFrame, published: pd.DataFrame, factors: Sequence[str]
) -> pd.DataFrame:
    """One row per published area: its published figures and, suffixed ``_true``, the truth."""
    counts = [f"count_{f}" for f in factors]
    truth_cols = [*_KEY, "population", "expected", "mean_risk", *counts]
    shown_cols = [*truth_cols, "suppressed", *(f"{c}_suppressed" for c in counts)]
    for which, table, wanted in (
        ("unprotected", unprotected, truth_cols),
        ("published", published, shown_cols),
    ):
        missing = [c for c in wanted if c not in table.columns]
        if missing:
            raise UtilityError(_MISSING.format(which=which, columns=missing))
    truth = unprotected[truth_cols].astype({"level": str, "code": str})
    shown = published[shown_cols].astype({"level": str, "code": str})
    both = shown.merge(truth, on=_KEY, how="left", suffixes=("", "_true"), indicator=True)
    unmatched = int((both["_merge"] != "both").sum())
    if unmatched:
        raise UtilityError(_UNMATCHED.format(n=unmatched))
    return both.drop(columns="_merge")


def _floats(table: pd.DataFrame, column: str) -> FloatArray:
    """A column as float64, nulls as NaN."""
    values = pd.to_numeric(table[column], errors="coerce").astype("float64")
    return np.asarray(values, dtype=np.float64)


def _errors(
    both: pd.DataFrame, columns: Sequence[str], shown: NDArray[np.bool_]
) -> tuple[float | None, float | None]:
    """Mean and largest ``|published - true|`` over the published cells of ``columns``."""
    gaps: list[FloatArray] = []
    for column in columns:
        published, true = _floats(both, column), _floats(both, f"{column}_true")
        keep = shown & ~np.isnan(published) & ~np.isnan(true)
        gaps.append(np.abs(published[keep] - true[keep]))
    pooled = np.concatenate(gaps) if gaps else np.empty(0)
    if pooled.size == 0:
        return None, None
    return round(float(pooled.mean()), ERROR_DECIMALS), round(float(pooled.max()), ERROR_DECIMALS)


def _spearman(both: pd.DataFrame, level: str) -> tuple[float | None, int]:
    """Spearman's rho of published and unprotected mean risk over ``level``'s published areas."""
    rows = both[both["level"] == level]
    published, true = _floats(rows, "mean_risk"), _floats(rows, "mean_risk_true")
    keep = ~np.isnan(published) & ~np.isnan(true)
    n = int(keep.sum())
    if n < 2 or np.ptp(published[keep]) == 0 or np.ptp(true[keep]) == 0:
        return None, n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(spearmanr(published[keep], true[keep]).statistic)
    return (None if math.isnan(rho) else round(rho, SHARE_DECIMALS)), n


def _share(part: int, whole: int) -> float | None:
    """``part / whole`` rounded, or None when there is no whole."""
    return round(part / whole, SHARE_DECIMALS) if whole else None


def _shares_by_level(both: pd.DataFrame, shown: NDArray[np.bool_]) -> dict[Level, float]:
    """Share of each level's areas that are published, levels in hierarchy order."""
    levels = both["level"].to_numpy()
    out: dict[Level, float] = {}
    for level in LEVELS:
        here = levels == level
        share = _share(int((shown & here).sum()), int(here.sum()))
        if share is not None:
            out[level] = share
    return out
