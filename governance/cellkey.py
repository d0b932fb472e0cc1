"""The cell-key method: consistent perturbation of counts, as ONS did for Census 2021.

Every young person gets a **record key** in ``[0, 255]`` per release period: a keyed hash
(BLAKE2b keyed with an HMAC-SHA256 of the secret seed and the period) of the person's
pseudonymous key, so the same person in the same period always has the same record key and
nobody without the seed can compute it. A **cell key** is the sum of the record keys of the
young people counted in a cell, modulo 256: a cell with the same young people has the same
key wherever it is built (another level, another table, a re-run of the release, a custom
aggregate), and a parent's key is the sum of its children's. Cell keys of different cells
are, to anyone without the seed, independent and uniform.

The **perturbation table** (ptable) says, for each true count ``1..max_count`` and each cell
key, how much is added to the count. Each row is a distribution over ``-D..D`` (``D``,
``max_perturbation``) with mean 0 and variance ``V`` (``variance``; ``small_count_variance``
for counts under ``small_count``, so small counts are perturbed more often), never taking a
count below 0: the maximum-entropy distribution with those moments on the allowed values,
with its probabilities made multiples of 1/256 and laid out over the 256 cell keys in order
of the perturbation. A zero stays zero (a cell with nobody in it has no records to key it);
counts above ``max_count`` use the last row, whose distribution every large count shares.
Because the perturbation is a function of the (count, cell key) pair only, the same cell
always publishes the same figure, so differencing two tables or two levels that contain the
same cell teaches nothing; differencing cells that differ by a few young people gives the
difference plus the sum of independent perturbations.

``expected`` (a sum of risks, not a count) is protected with the same cell key as its
population: it is scaled by the area's published-over-true population, so the published mean
``expected / population`` is the true mean and not distorted, and a noise is added whose
quantile is drawn from the cell key (through a fixed bijection of the keys, so it does not
move with the count's perturbation): ``expected_noise`` is its standard deviation.

Reference: Office for National Statistics, "Protecting personal data in Census 2021
results" (2021), and the ONS Statistical Methods Library's cell-key perturbation method
(``cell-key-perturbation`` on PyPI, MIT licence). That package tabulates microdata with
pandas group-bys and ships a ptable emulating threshold 10 and rounding to 5; the release
has only LSOA sums past scoring, needs the same key for a cell at five levels, and protects
sums of risks, so this module implements the method itself (no code of the package is used).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = [
    "DEMO_SEED",
    "KEY_RANGE",
    "CellKeyConfig",
    "PerturbationTable",
    "build_ptable",
    "cell_keys",
    "perturb_expected",
    "record_keys",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: record and cell keys lie in ``[0, KEY_RANGE)``
KEY_RANGE = 256
#: the demo's seed: releases of the demo reproduce; production must set its own
DEMO_SEED = "vru-demo-cell-key-seed-not-secret"
# a fixed bijection of the 256 keys (odd multiplier): the expected's noise quantile does not
# follow the count's perturbation, which is laid out over the keys in order
_NOISE_MULTIPLIER = 167
_NOISE_OFFSET = 89
_BISECTIONS = 80

_INFEASIBLE = (
    "cellkey: {name} {variance} cannot be reached for a count of {count} with "
    "max_perturbation {d}: a mean-0 perturbation that never goes below 0 has variance "
    "below {limit}; lower {name} or raise max_perturbation"
)
_TOO_WIDE = "cellkey: {name} {variance} must be below max_perturbation**2 = {limit}"


class CellKeyConfig(BaseModel):
    """The cell-key method's parameters (``cellkey`` in ``configs/disclosure.yaml``).

    Everything but ``seed`` is recorded in the release manifest: the ptable is not secret
    (ONS publishes its parameters); the seed is, since with it anyone could compute cell keys
    and undo the perturbation. ``seed`` is excluded from dumps and config hashes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: SecretStr = Field(
        default=SecretStr(DEMO_SEED),
        exclude=True,
        description=(
            "Secret from which record keys are derived. The default is the demo's (public, so "
            "demo releases reproduce); a production release refuses it."
        ),
    )
    max_perturbation: int = Field(
        default=3, ge=1, le=20, description="D: no count moves by more than this."
    )
    variance: float = Field(
        default=1.0, gt=0.0, description="V: variance of the perturbation of counts."
    )
    small_count_variance: float = Field(
        default=1.5,
        gt=0.0,
        description="Variance for counts under small_count: small counts are perturbed more.",
    )
    small_count: int = Field(default=10, ge=1, description="Counts under this are 'small'.")
    max_count: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Rows of the ptable; larger counts use its last row (same distribution).",
    )
    expected_noise: float = Field(
        default=0.5,
        ge=0.0,
        description="Standard deviation of the noise added to expected (in young people).",
    )
    expected_decimals: int = Field(
        default=1, ge=0, le=6, description="Decimals of the published expected."
    )

    @model_validator(mode="after")
    def _feasible(self) -> CellKeyConfig:
        """Every row's variance can be reached on its allowed perturbations."""
        d = self.max_perturbation
        for name, variance in (
            ("variance", self.variance),
            ("small_count_variance", self.small_count_variance),
        ):
            if variance >= d * d:
                raise ValueError(_TOO_WIDE.format(name=name, variance=variance, limit=d * d))
        for count in range(1, min(d, self.max_count) + 1):
            variance = self._row_variance(count)
            limit = count * d  # the most a mean-0 law on [-count, d] can have
            if variance >= limit:
                name = "small_count_variance" if count < self.small_count else "variance"
                raise ValueError(
                    _INFEASIBLE.format(name=name, variance=variance, count=count, d=d, limit=limit)
                )
        return self

    def _row_variance(self, count: int) -> float:
        return self.small_count_variance if count < self.small_count else self.variance

    def seed_bytes(self) -> bytes:
        """The secret seed as bytes (never logged)."""
        return self.seed.get_secret_value().encode()


def record_keys(person_keys: Iterable[str], period: str, seed: bytes) -> IntArray:
    """Each young person's record key in ``[0, 255]`` for ``period``.

    A keyed hash: the period's key is HMAC-SHA256(``seed``, ``period``), and a person's
    record key is the one-byte BLAKE2b of their key under it. The same person in the same
    period always gets the same key; another period (or seed) gives independent keys.

    Parameters
    ----------
    person_keys
        Pseudonymous person keys (the linkage's ``person_key``).
    period
        The release period (the release's as-of date).
    seed
        The secret seed (:meth:`CellKeyConfig.seed_bytes`).
    """
    period_key = hmac.new(seed, period.encode(), hashlib.sha256).digest()
    return np.fromiter(
        (
            hashlib.blake2b(str(p).encode(), key=period_key, digest_size=1).digest()[0]
            for p in person_keys
        ),
        dtype=np.int64,
    )


def cell_keys(key_sums: IntArray | NDArray[np.float64]) -> IntArray:
    """Cell keys from sums of record keys: ``sum mod 256`` (sums of parts add up)."""
    return np.mod(np.asarray(key_sums).astype(np.int64), KEY_RANGE)


@dataclass(frozen=True)
class PerturbationTable:
    """The ptable: ``values[count, key]`` is added to ``count`` (row 0 all zeros).

    ``probabilities[count]`` is each row's distribution over ``-D..D`` (multiples of 1/256).
    """

    values: IntArray
    probabilities: FloatArray
    max_perturbation: int

    @property
    def max_count(self) -> int:
        """The last row; larger counts use it."""
        return int(self.values.shape[0] - 1)

    def perturbation(self, counts: IntArray, keys: IntArray) -> IntArray:
        """What the table adds to each ``(count, cell key)``."""
        rows = np.minimum(np.asarray(counts, dtype=np.int64), self.max_count)
        return self.values[rows, np.asarray(keys, dtype=np.int64) % KEY_RANGE]

    def perturb(self, counts: IntArray, keys: IntArray) -> IntArray:
        """The published counts: each count plus its perturbation (never below 0)."""
        counts = np.asarray(counts, dtype=np.int64)
        return counts + self.perturbation(counts, keys)


def build_ptable(config: CellKeyConfig) -> PerturbationTable:
    """The perturbation table the configuration describes (see the module notes).

    Built once per distinct set of parameters in a process (the seed plays no part).
    """
    return _ptable(
        config.max_perturbation,
        config.variance,
        config.small_count_variance,
        config.small_count,
        config.max_count,
    )


@functools.lru_cache(maxsize=8)
def _ptable(
    d: int, variance: float, small_count_variance: float, small_count: int, max_count: int
) -> PerturbationTable:
    """:func:`build_ptable` of these parameters; its arrays are read only."""
    support = np.arange(-d, d + 1)
    values = np.zeros((max_count + 1, KEY_RANGE), dtype=np.int64)
    probabilities = np.zeros((max_count + 1, len(support)), dtype=np.float64)
    probabilities[0, d] = 1.0
    laws: dict[tuple[int, float], IntArray] = {}  # rows from D up share their law
    for count in range(1, max_count + 1):
        allowed = support >= -count
        row_variance = small_count_variance if count < small_count else variance
        lowest = max(-count, -d)
        if (lowest, row_variance) not in laws:
            laws[lowest, row_variance] = _to_slots(
                _max_entropy(support[allowed], row_variance), KEY_RANGE
            )
        slots = laws[lowest, row_variance]
        values[count] = np.repeat(support[allowed], slots)
        probabilities[count, allowed] = slots / KEY_RANGE
    values.flags.writeable = False
    probabilities.flags.writeable = False
    return PerturbationTable(values=values, probabilities=probabilities, max_perturbation=d)


def perturb_expected(
    expected: FloatArray,
    population: IntArray,
    published_population: IntArray,
    keys: IntArray,
    config: CellKeyConfig,
) -> FloatArray:
    """Published expected counts, protected with each area's population cell key.

    ``expected * published_population / population`` (0 where the population is 0) plus
    ``expected_noise`` times a standard normal quantile drawn from the cell key, at least 0,
    rounded to ``expected_decimals``.
    """
    expected = np.asarray(expected, dtype=np.float64)
    true_n = np.asarray(population, dtype=np.float64)
    ratio = np.divide(
        np.asarray(published_population, dtype=np.float64),
        true_n,
        out=np.zeros_like(true_n),
        where=true_n > 0,
    )
    slot = (np.asarray(keys, dtype=np.int64) * _NOISE_MULTIPLIER + _NOISE_OFFSET) % KEY_RANGE
    normal = NormalDist()
    z = np.array([normal.inv_cdf((s + 0.5) / KEY_RANGE) for s in range(KEY_RANGE)])[slot]
    noisy = np.where(true_n > 0, expected * ratio + config.expected_noise * z, 0.0)
    published = np.round(np.maximum(noisy, 0.0), config.expected_decimals) + 0.0
    return np.asarray(published, dtype=np.float64)


def _max_entropy(support: IntArray, variance: float) -> FloatArray:
    """The maximum-entropy law on ``support`` with mean 0 and ``variance``.

    It is ``p(x) ~ exp(a x - b x^2)``: for each ``b`` the ``a`` giving mean 0 is found by
    bisection (the mean grows with ``a``), and ``b`` by bisection on the variance (which
    falls as ``b`` grows).
    """
    x = support.astype(np.float64)

    def law(a: float, b: float) -> FloatArray:
        logits = a * x - b * x * x
        weights: FloatArray = np.exp(logits - logits.max())
        return weights / float(weights.sum())

    def centred(b: float) -> FloatArray:
        low, high = -50.0, 50.0
        for _ in range(_BISECTIONS):
            mid = (low + high) / 2
            if float(law(mid, b) @ x) < 0:
                low = mid
            else:
                high = mid
        return law((low + high) / 2, b)

    low_b, high_b = -10.0, 50.0
    for _ in range(_BISECTIONS):
        mid = (low_b + high_b) / 2
        p = centred(mid)
        if float(p @ (x * x)) > variance:
            low_b = mid
        else:
            high_b = mid
    return centred((low_b + high_b) / 2)


def _to_slots(law: FloatArray, total: int) -> IntArray:
    """Whole numbers of key slots per value summing to ``total`` (largest remainders).

    Every value with a probability of at least half a slot keeps at least one slot.
    """
    exact = law * total
    slots = np.floor(exact).astype(np.int64)
    remainder = exact - slots
    short = total - int(slots.sum())
    for i in np.argsort(-remainder, kind="stable")[:short]:
        slots[i] += 1
    return slots
