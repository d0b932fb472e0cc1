"""Simulated programmes on one city's area panel: cheap known answers for the benchmark.

Regenerating a city per programme would take minutes each. Instead the generated city's ward x
period panel of recorded outcomes is fitted once with a Poisson model with ward and period
effects (the generator's outcome model seen at area level: each ward's risk, the city's trend)
and its over-dispersion; a simulated programme then multiplies the expected counts of its
treated ward-periods by ``1 + effect`` and counts are drawn again (gamma-Poisson with the
city's dispersion). The ward and period effects are fitted by iterative proportional fitting,
the Poisson maximum-likelihood solution for this model (hand-written: a few lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from training.evaluation.programme_panel import NEVER, panel_from_counts

__all__ = ["BaseRates", "Placement", "fit_base", "simulate_programme"]

Placement = Literal["random", "high_risk", "after_spike"]


@dataclass(frozen=True)
class BaseRates:
    """Expected recorded outcomes per ward and period without any programme."""

    expected: pd.DataFrame  # period x ward_code
    population: pd.DataFrame  # period x ward_code
    ward_risk: pd.Series  # each ward's fitted log rate (its risk)
    dispersion: float  # variance / mean of the counts around the model (>= 1)


def fit_base(panel: pd.DataFrame, iterations: int = 50) -> BaseRates:
    """Fit ward and period effects (Poisson, by iterative proportional fitting)."""
    recorded = panel.pivot(index="period", columns="ward_code", values="recorded").astype(float)
    population = panel.pivot(index="period", columns="ward_code", values="population")
    keep = population.gt(0).all()
    recorded, population = recorded.loc[:, keep], population.loc[:, keep].astype(float)
    ward = np.ones(recorded.shape[1])
    period = np.full(recorded.shape[0], recorded.to_numpy().sum() / population.to_numpy().sum())
    y, n = recorded.to_numpy(), population.to_numpy()
    for _ in range(iterations):
        ward = y.sum(axis=0) / np.maximum((n * period[:, None]).sum(axis=0), 1e-12)
        ward = np.maximum(ward, 1e-6)
        period = y.sum(axis=1) / (n * ward[None, :]).sum(axis=1)
    expected = n * period[:, None] * ward[None, :]
    pearson = ((y - expected) ** 2 / expected).sum()
    dof = y.size - y.shape[0] - y.shape[1] + 1
    return BaseRates(
        expected=pd.DataFrame(expected, index=recorded.index, columns=recorded.columns),
        population=population,
        ward_risk=pd.Series(np.log(ward), index=recorded.columns),
        dispersion=max(1.0, float(pearson / max(dof, 1))),
    )


def _draw(mean: np.ndarray, dispersion: float, rng: np.random.Generator) -> np.ndarray:
    if dispersion <= 1.0 + 1e-9:
        return rng.poisson(mean)
    shape = mean / (dispersion - 1.0)  # gamma-Poisson with variance = dispersion x mean
    return rng.poisson(mean * rng.gamma(shape, 1.0 / shape))


def simulate_programme(
    base: BaseRates,
    *,
    share: float,
    placement: Placement,
    first_periods: list[int],
    effect: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One simulated programme's panel: ``share`` of wards treated from ``first_periods``.

    ``high_risk`` takes the wards with the highest fitted risk; ``after_spike`` those with the
    highest recorded count in the period before the first start (funding that follows a bad
    year, where regression to the mean fools a before/after comparison).
    """
    wards = base.expected.columns
    k = max(1, round(share * len(wards)))
    counts = _draw(base.expected.to_numpy(), base.dispersion, rng)
    if placement == "random":
        chosen = list(rng.choice(wards, size=k, replace=False))
    elif placement == "high_risk":
        chosen = list(base.ward_risk.sort_values(ascending=False).index[:k])
    else:
        before = (
            pd.Series(counts[min(first_periods) - 1], index=wards)
            / base.population.iloc[min(first_periods) - 1]
        )
        chosen = list(before.sort_values(ascending=False).index[:k])
    waves = np.array_split(np.asarray(chosen, dtype=object), len(first_periods))
    start = {w: g for wave, g in zip(waves, first_periods, strict=True) for w in wave}
    first = pd.Series(start, dtype=int)
    periods = np.asarray(base.expected.index)
    treated = (pd.Series(wards).map(first).fillna(NEVER).to_numpy()[None, :] != NEVER) & (
        periods[:, None] >= pd.Series(wards).map(first).fillna(10**6).to_numpy()[None, :]
    )
    # the same cells' noise before the start; after it, the thinned expectation
    lam = base.expected.to_numpy() * np.where(treated, 1.0 + effect, 1.0)
    counts = np.where(treated, _draw(lam, base.dispersion, rng), counts)
    recorded = pd.DataFrame(counts, index=base.expected.index, columns=wards).melt(
        var_name="ward_code", value_name="recorded", ignore_index=False
    )
    population = base.population.melt(
        var_name="ward_code", value_name="population", ignore_index=False
    )
    recorded, population = recorded.reset_index(), population.reset_index()
    return panel_from_counts(recorded, population, first, len(periods))
