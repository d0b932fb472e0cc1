"""The release's side of the DP option (``disclosure.method: dp``, :mod:`governance.dp`).

- **Budget** (:func:`earlier_privacy_loss`, :func:`check_release_budget`): the privacy loss
  of every earlier ``dp`` release in the releases directory is read from its manifest
  (``privacy.epsilon``; releases of other methods have none) and added up; a release whose
  configured epsilon would take the total past ``dp.max_total_epsilon`` is refused before
  anything is scored or written. Every release in the directory counts, re-runs of the same
  data included: each draws fresh noise, and averaging re-runs would undo it.
- **Intervals of the mean** (:func:`dp_risk_inputs`): the inputs of
  :func:`.aggregate.risk_from_published` made from published figures only. The pooled
  within-area variance of individual risks (under other methods a level-wide figure of the
  unprotected data) is replaced by its bound ``m (1 - m)`` (risks lie in ``[0, 1]``), with
  ``m`` the city's published mean; the rounding's variance by each area's noise variance.
- **Manifest** (:func:`release_privacy`): the loss, the running total, the scales and the
  noise intervals per level (:class:`governance.contracts.release_schema.ReleasePrivacy`).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from governance.contracts.levels import LEVELS
from governance.contracts.release_schema import MANIFEST, ReleaseError, ReleasePrivacy
from governance.disclosure import DisclosureConfig, dp_area_sizes
from governance.dp import (
    NoisedLsoa,
    check_budget,
    discrete_laplace_pmf,
    expected_half_width,
    noise_half_width,
    noise_variance,
)

__all__ = [
    "check_release_budget",
    "dp_risk_inputs",
    "earlier_privacy_loss",
    "release_privacy",
]

FloatArray = NDArray[np.float64]

_UNREADABLE = (
    "{path}: cannot read the privacy loss of this release ({why}); the DP budget "
    "(disclosure.dp.max_total_epsilon) cannot be checked without it"
)
_MECHANISM = (
    "population and each count_F: discrete Laplace (OpenDP make_laplace on integer vectors); "
    "expected (sum of risks, each in [0, 1]): Laplace (OpenDP make_laplace on float vectors); "
    "each noised once at LSOA level, every other figure made from those (post-processing); "
    "factor contributions withheld"
)
_NEIGHBOURS = "one young person added to or removed from the cohort (pure epsilon-DP)"


def earlier_privacy_loss(releases_dir: Path) -> tuple[float, int]:
    """The summed ``privacy.epsilon`` of the releases in ``releases_dir``, and how many.

    Directories starting with ``.`` (staging) are skipped; a manifest without ``privacy`` is
    a release of another method and spends nothing.

    Raises
    ------
    ReleaseError
        If a release's manifest cannot be read: its loss would go uncounted.
    """
    total, count = 0.0, 0
    if not releases_dir.is_dir():
        return total, count
    for directory in sorted(releases_dir.iterdir()):
        path = directory / MANIFEST
        if directory.name.startswith(".") or not path.is_file():
            continue
        try:
            privacy = json.loads(path.read_text()).get("privacy")
            if privacy is None:
                continue
            epsilon = float(privacy["epsilon"])
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise ReleaseError(_UNREADABLE.format(path=path, why=type(err).__name__)) from None
        total += epsilon
        count += 1
    return total, count


def check_release_budget(rules: DisclosureConfig, releases_dir: Path) -> None:
    """Refuse, before any work, a ``dp`` release that could pass the budget (no-op otherwise).

    Raises
    ------
    governance.dp.DpBudgetError
        Naming ``disclosure.dp.max_total_epsilon``.
    """
    if rules.method != "dp":
        return
    spent, _ = earlier_privacy_loss(releases_dir)
    check_budget(rules.dp, spent, rules.dp.epsilon, str(releases_dir))


def _city_mean(table: pd.DataFrame) -> float:
    """The published mean risk of the city (expected over population), else of all LSOAs."""
    shown = table[~table["suppressed"].astype(bool)]
    for level in ("city", "lsoa"):
        rows = shown[shown["level"] == level]
        n = pd.to_numeric(rows["population"]).sum()
        if n > 0:
            return float(pd.to_numeric(rows["expected"]).sum() / n)
    return 0.5


def dp_risk_inputs(
    table: pd.DataFrame, noised: NoisedLsoa
) -> tuple[dict[str, float], tuple[FloatArray, FloatArray]]:
    """The within-area variance per level and each row's noise variances (expected, population).

    Both from published figures and the configuration only: the variance bound
    ``m (1 - m)`` of risks in ``[0, 1]`` with mean ``m``, the city's published mean (at most
    0.25), and ``m_a`` LSOAs' noises for an area of ``m_a`` LSOAs.
    """
    m = min(max(_city_mean(table), 0.0), 1.0)
    bound = max(m * (1.0 - m), 1e-6)
    variance: dict[str, float] = {str(level): bound for level in LEVELS}
    sizes = dp_area_sizes(table).astype(np.float64)
    b_e = noised.scales["expected"]
    var_e = sizes * 2.0 * b_e * b_e
    var_n = sizes * noise_variance(noised.scales["population"])
    return variance, (var_e, var_n)


def release_privacy(
    table: pd.DataFrame,
    noised: NoisedLsoa,
    rules: DisclosureConfig,
    releases_dir: Path,
) -> ReleasePrivacy:
    """The manifest's ``privacy``: this release's loss, the running total, the intervals.

    Raises
    ------
    governance.dp.DpBudgetError
        If the loss actually spent takes the total past the cap (checked again here, after
        the noise; it cannot exceed the configured epsilon checked before).
    """
    spent, earlier = earlier_privacy_loss(releases_dir)
    total = check_budget(rules.dp, spent, noised.epsilon, str(releases_dir))
    sizes = dp_area_sizes(table)
    levels = table["level"].astype(str).to_numpy()
    level_ = rules.dp.interval_level
    half: dict[str, dict[str, float]] = {}
    error: dict[str, dict[str, float]] = {}
    for measure, scale in noised.scales.items():
        half[measure], error[measure] = {}, {}
        for level in LEVELS:
            here = sizes[levels == level]
            if len(here) == 0:
                continue
            largest = int(here.max())
            if measure == "expected":
                width = expected_half_width(scale, largest, level_)
                # E|sum| of m Laplace(b): normal approximation for m > 1, b for m = 1
                mean_abs = scale if largest == 1 else float(np.sqrt(4 * largest / np.pi) * scale)
            else:
                width = noise_half_width(scale, largest, level_)
                mean_abs = _mean_abs_count(scale, largest)
            half[measure][level] = round(width, 4)
            error[measure][level] = round(mean_abs, 4)
    return ReleasePrivacy(
        library=f"opendp {version('opendp')}",
        mechanism=_MECHANISM,
        neighbours=_NEIGHBOURS,
        epsilon=round(noised.epsilon, 9),
        epsilon_by_measure={k: round(v, 9) for k, v in noised.spent.items()},
        scale_by_measure={k: round(v, 9) for k, v in noised.scales.items()},
        total_epsilon=round(total, 9),
        earlier_releases=earlier,
        max_total_epsilon=rules.dp.max_total_epsilon,
        interval_level=level_,
        half_width=half,  # type: ignore[arg-type]
        expected_abs_error=error,  # type: ignore[arg-type]
        seeded=False,
    )


def _mean_abs_count(scale: float, m: int) -> float:
    """E|Z| of one discrete Laplace noise (exact) or of a sum of ``m`` (normal approximation)."""
    if m == 1:
        pmf, big_k = discrete_laplace_pmf(scale)
        return float(np.sum(pmf * np.abs(np.arange(-big_k, big_k + 1))))
    return float(np.sqrt(2 * m * noise_variance(scale) / np.pi))
