"""Differential privacy for the release (``disclosure.method: dp``), on OpenDP.

What is protected, and how. The neighbouring relation is one young person added to or
removed from the cohort. A young person lives in one LSOA, so each LSOA-level vector of a
measure changes in one entry, by at most 1:

- ``population`` (young people per LSOA) and each ``count_F`` (those with factor ``F``):
  integer vectors of L1 sensitivity 1, noised with OpenDP's **discrete Laplace** mechanism
  (``make_laplace`` on an integer vector domain);
- ``expected`` (the sum of calibrated risks per LSOA, each risk in ``[0, 1]``): a float
  vector of L1 sensitivity 1, noised with OpenDP's Laplace mechanism on floats (sampled
  exactly, as a discrete Laplace on a very fine grid, with the float rounding in its privacy
  map; OpenDP needs the vector's length for that).

Each measure is noised **once, at LSOA level**. Every higher level is the sum of its LSOAs'
noised figures, and every other published figure (means, rates, intervals, ranks, bands,
changes, prevalences) is made from those: post-processing, which costs no privacy. The
factors' mean SHAP contributions are **withheld** (they are not functions of the noised
figures, and a DP version would need a bound on each contribution and a budget of its own).

Privacy loss: pure epsilon-DP (``MaxDivergence``) rather than rho-zCDP, because (1) the
discrete Laplace has exact, closed-form quantiles, so the published intervals of counts are
exact rather than approximated, (2) a single epsilon composes across measures and releases
by plain addition, which a board can read and cap, and (3) with one query per measure there
is little for zCDP's tighter composition to gain. The release's ``epsilon`` is split across
the measures by ``shares`` (the factor counts' share equally among the factors); each
measure's OpenDP measurement is built to spend at most its part (``binary_search_param`` on
its privacy map at ``d_in = 1``), and the release's loss is the sum of the spent parts
(basic composition). The loss and the running total over the releases directory are signed
into the manifest (``privacy``); a release whose running total would pass
``max_total_epsilon`` is refused before anything is written.

Seeding. OpenDP draws its noise from the operating system's randomness and offers no seed:
a noise that anyone with the seed could regenerate and subtract protects nothing. The DP
option is therefore the one random step of the pipeline that takes no seed from config; its
tests check statistical properties (variance, coverage, the privacy bound), not exact
values.

Intervals. The published noise half-width at ``interval_level`` for an area made of ``m``
LSOAs is the quantile of the absolute sum of ``m`` independent noises: exact for the
discrete Laplace (the pmf convolved ``m`` times on its integer support, tails below
``1e-12`` dropped), and for ``expected`` the same computation on a grid of ``scale / 64``
(a discretised Laplace), widened outward by one grid step. Those half-widths depend only on the geography and the
configuration, never on the data.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from governance.contracts.errors import VruError

__all__ = [
    "EXPECTED_GRID",
    "MEASURES",
    "DpBudgetError",
    "DpConfig",
    "DpShares",
    "NoisedLsoa",
    "check_budget",
    "count_mechanism",
    "discrete_laplace_pmf",
    "expected_half_width",
    "expected_mechanism",
    "lsoa_count_per_area",
    "measure_epsilons",
    "noise_half_width",
    "noise_lsoa",
    "noise_variance",
    "sum_to_areas",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: the continuous Laplace of ``expected`` is taken on a grid of ``scale / EXPECTED_GRID`` to
#: compute its sums' quantiles (then widened by one grid step, outward)
EXPECTED_GRID = 64
#: the measures a release spends epsilon on (``count`` stands for every ``count_F``)
MEASURES: tuple[str, ...] = ("population", "expected", "counts")
_TAIL = 1e-12
_SHARES_SUM = "disclosure.dp.shares: the shares must add up to 1 (got {total:g})"
_OVER_BUDGET = (
    "disclosure.dp.max_total_epsilon is {cap:g}: the releases in {where} have spent "
    "epsilon {spent:g} and this one would spend {epsilon:g} (total {total:g}); nothing was "
    "written. Raise disclosure.dp.max_total_epsilon only with the board's agreement, or lower "
    "disclosure.dp.epsilon"
)


class DpBudgetError(VruError, ValueError):
    """A release would take the total privacy loss past ``disclosure.dp.max_total_epsilon``."""


class DpShares(BaseModel):
    """How the release's epsilon is split across the published measures (they add up to 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    population: float = Field(default=0.3, gt=0.0, lt=1.0, description="Share for population.")
    expected: float = Field(default=0.4, gt=0.0, lt=1.0, description="Share for expected.")
    counts: float = Field(
        default=0.3,
        gt=0.0,
        lt=1.0,
        description="Share for the factor counts, split equally among the factors.",
    )

    @model_validator(mode="after")
    def _add_up(self) -> DpShares:
        total = self.population + self.expected + self.counts
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(_SHARES_SUM.format(total=total))
        return self


class DpConfig(BaseModel):
    """The DP option's parameters (``dp`` in ``configs/disclosure.yaml``); all recorded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epsilon: float = Field(
        default=1.0, gt=0.0, le=50.0, description="Privacy loss of one release (pure DP)."
    )
    shares: DpShares = Field(default_factory=DpShares)
    max_total_epsilon: float = Field(
        default=10.0,
        gt=0.0,
        description="Refuse a release when the total loss over the releases would pass this.",
    )
    interval_level: float = Field(
        default=0.95,
        gt=0.5,
        lt=1.0,
        description="Coverage of the noise intervals of counts and expected in the manifest.",
    )
    expected_decimals: int = Field(
        default=1, ge=0, le=4, description="Decimals of the published expected (post-processing)."
    )


def measure_epsilons(config: DpConfig, factors: Sequence[str]) -> dict[str, float]:
    """The epsilon each measure may spend: ``population``, ``expected`` and ``count_F``.

    Without factors the counts' share is not spent (the release's loss is then smaller than
    ``epsilon``).
    """
    out = {
        "population": config.epsilon * config.shares.population,
        "expected": config.epsilon * config.shares.expected,
    }
    for factor in factors:
        out[f"count_{factor}"] = config.epsilon * config.shares.counts / len(factors)
    return out


def _opendp() -> Any:
    """``opendp.prelude`` with the contrib features on (imported when first needed)."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


@functools.lru_cache(maxsize=64)
def count_mechanism(epsilon: float) -> tuple[Any, float]:
    """OpenDP's discrete Laplace on integer vectors (L1 sensitivity 1) spending ``epsilon``.

    Returns the measurement and its scale, the largest OpenDP's own search
    (``binary_search_param`` on the privacy map at ``d_in = 1``) finds within ``epsilon``.
    """
    dp = _opendp()
    space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
    scale = float(
        dp.binary_search_param(lambda s: dp.m.make_laplace(*space, scale=s), d_in=1, d_out=epsilon)
    )
    return dp.m.make_laplace(*space, scale=scale), scale


@functools.lru_cache(maxsize=64)
def expected_mechanism(epsilon: float, size: int) -> tuple[Any, float]:
    """OpenDP's Laplace on float vectors of ``size`` (L1 sensitivity 1: risks in [0, 1]).

    OpenDP needs the vector's length to bound the rounding of its float arithmetic; with its
    default (finest) discretisation the scale is ``1 / epsilon`` to float precision.
    """
    dp = _opendp()
    space = (
        dp.vector_domain(dp.atom_domain(T=float, nan=False), size=size),
        dp.l1_distance(T=float),
    )
    scale = float(
        dp.binary_search_param(
            lambda s: dp.m.make_laplace(*space, scale=s), d_in=1.0, d_out=epsilon
        )
    )
    return dp.m.make_laplace(*space, scale=scale), scale


@dataclass(frozen=True)
class NoisedLsoa:
    """Each measure's LSOA vector after noise (unclamped), its scale and the loss it spent."""

    population: IntArray
    expected: FloatArray
    counts: dict[str, IntArray]
    scales: dict[str, float]
    spent: dict[str, float]

    @property
    def epsilon(self) -> float:
        """The release's privacy loss: the sum of the measures' (basic composition)."""
        return float(sum(self.spent.values()))


def noise_lsoa(
    population: Sequence[int] | IntArray,
    expected: Sequence[float] | FloatArray,
    counts: Mapping[str, Sequence[int] | IntArray],
    config: DpConfig,
) -> NoisedLsoa:
    """Noise every LSOA-level measure once with OpenDP (fresh OS randomness on every call).

    ``expected`` is clipped to ``[0, population]`` of each LSOA before noise (a sum of risks
    in ``[0, 1]`` cannot leave it, so this only guards the sensitivity against a bad input).
    """
    budget = measure_epsilons(config, list(counts))
    n = np.asarray(population, dtype=np.int64)
    e = np.clip(np.asarray(expected, dtype=np.float64), 0.0, n.astype(np.float64))
    scales: dict[str, float] = {}
    spent: dict[str, float] = {}

    def count(name: str, values: IntArray) -> IntArray:
        mechanism, scales[name] = count_mechanism(budget[name])
        spent[name] = float(mechanism.map(1))
        return np.asarray(mechanism([int(v) for v in values]), dtype=np.int64)

    noised_population = count("population", n)
    if len(e):
        mechanism, scales["expected"] = expected_mechanism(budget["expected"], len(e))
        spent["expected"] = float(mechanism.map(1.0))
        noised_expected = np.asarray(mechanism([float(v) for v in e]), dtype=np.float64)
    else:
        scales["expected"], spent["expected"] = 1.0 / budget["expected"], 0.0
        noised_expected = np.zeros(0, dtype=np.float64)
    noised_counts = {
        name: count(f"count_{name}", np.asarray(values, dtype=np.int64))
        for name, values in counts.items()
    }
    return NoisedLsoa(noised_population, noised_expected, noised_counts, scales, spent)


def sum_to_areas(
    levels: NDArray[np.str_] | NDArray[np.object_],
    codes: NDArray[np.str_] | NDArray[np.object_],
    parent_codes: NDArray[np.object_],
    lsoa_values: FloatArray,
) -> FloatArray:
    """Every area's sum of its LSOAs' values (post-processing of the LSOA vector).

    ``lsoa_values`` are in the order of the rows whose level is ``lsoa``; each LSOA's value
    is added to itself and to every ancestor reached through ``parent_codes`` (null at the
    top). An area with no LSOA under it sums to 0.
    """
    row_of = {str(code): i for i, code in enumerate(codes)}
    parent_row = np.array(
        [row_of.get(str(p), -1) if p is not None and p == p else -1 for p in parent_codes],
        dtype=np.int64,
    )
    out = np.zeros(len(codes), dtype=np.float64)
    current = np.flatnonzero(np.asarray(levels) == "lsoa")
    values = np.asarray(lsoa_values, dtype=np.float64)
    for _ in range(len(codes) + 1):  # at most one step per level; bounded for safety
        if len(current) == 0:
            break
        np.add.at(out, current, values)
        up = parent_row[current]
        keep = up >= 0
        current, values = up[keep], values[keep]
    return out


def lsoa_count_per_area(
    levels: NDArray[np.str_] | NDArray[np.object_],
    codes: NDArray[np.str_] | NDArray[np.object_],
    parent_codes: NDArray[np.object_],
) -> IntArray:
    """How many LSOAs each area sums (the number of independent noises in its figures)."""
    ones = np.ones(int((np.asarray(levels) == "lsoa").sum()), dtype=np.float64)
    return sum_to_areas(levels, codes, parent_codes, ones).astype(np.int64)


def discrete_laplace_pmf(scale: float, step: float = 1.0) -> tuple[FloatArray, int]:
    """The discrete Laplace pmf ``P(Z = k step) ∝ exp(-|k| step / scale)``, tails < 1e-12 cut.

    Returns the probabilities of ``k = -K..K`` and ``K``.
    """
    q = math.exp(-step / scale)
    big_k = max(1, math.ceil(math.log(_TAIL * (1 - q) / 2) / math.log(q)))
    k = np.arange(-big_k, big_k + 1)
    pmf = (1 - q) / (1 + q) * q ** np.abs(k)
    return pmf / pmf.sum(), big_k


def noise_variance(scale: float, step: float = 1.0) -> float:
    """Variance of one discrete Laplace noise: ``2 q / (1 - q)^2 * step^2``."""
    q = math.exp(-step / scale)
    return 2 * q / (1 - q) ** 2 * step * step


@functools.lru_cache(maxsize=4096)
def noise_half_width(scale: float, m: int, level: float, step: float = 1.0) -> float:
    """Smallest ``h`` (a multiple of ``step``) with ``P(|Z_1 + ... + Z_m| <= h) >= level``.

    ``Z_i`` discrete Laplace of ``scale`` on multiples of ``step`` (:func:`discrete_laplace_pmf`);
    the sum's pmf is the ``m``-fold convolution (FFT, by repeated squaring), exact up to the
    dropped tails. ``m = 0`` (an area with no LSOA) gives 0.
    """
    if m <= 0:
        return 0.0
    from scipy.signal import fftconvolve

    base, _ = discrete_laplace_pmf(scale, step)
    result: FloatArray | None = None
    power, left = base, m
    while left:
        if left & 1:
            result = power if result is None else _trim(fftconvolve(result, power))
        left >>= 1
        if left:
            power = _trim(fftconvolve(power, power))
    assert result is not None
    result = np.clip(result, 0.0, None)
    half = len(result) // 2
    # P(|S| <= h) for h = 0, 1, ...: the centre plus both tails folded in
    folded = result[half:].copy()
    folded[1:] += result[:half][::-1]
    coverage = np.cumsum(folded) / result.sum()
    index = int(np.searchsorted(coverage, level - 1e-12))
    return float(min(index, half) * step)


def expected_half_width(scale: float, m: int, level: float) -> float:
    """:func:`noise_half_width` of the (continuous) Laplace noise of ``expected``, outward."""
    if m <= 0:
        return 0.0
    step = scale / EXPECTED_GRID
    return noise_half_width(scale, m, level, step) + step


def _trim(pmf: FloatArray) -> FloatArray:
    """Drop symmetric tails of total mass under 1e-12 (the pmf stays centred)."""
    pmf = np.clip(pmf, 0.0, None)
    half = len(pmf) // 2
    tail = np.cumsum(pmf[:half])  # mass of the left tail up to each index
    cut = int(np.searchsorted(tail, _TAIL / 2))
    return pmf[cut : len(pmf) - cut] if cut else pmf


def check_budget(config: DpConfig, spent_before: float, epsilon: float, where: str) -> float:
    """The running total after this release; refuse it past ``max_total_epsilon``.

    Raises
    ------
    DpBudgetError
        Naming ``disclosure.dp.max_total_epsilon``, what was spent and what this would add.
    """
    total = spent_before + epsilon
    if total > config.max_total_epsilon * (1 + 1e-9):
        raise DpBudgetError(
            _OVER_BUDGET.format(
                cap=config.max_total_epsilon,
                where=where,
                spent=round(spent_before, 6),
                epsilon=round(epsilon, 6),
                total=round(total, 6),
            )
        )
    return total
