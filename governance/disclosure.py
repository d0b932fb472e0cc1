"""Statistical disclosure control (SDC) of the area table, before anything is published.

The release publishes one row per area at every level (LSOA, ward, borough, BCU, city).
Each row's additive figures (``population``, ``expected`` and each factor's ``count_F``) are
sums over its young people, and a parent's figure is the sum of its children's, so an
attacker holding the table can difference a parent and its published children. The default
method, ``cellkey``, perturbs every count with the ONS cell-key method (:func:`_apply_cell_key`,
:mod:`governance.cellkey`); ``dp`` noises the LSOA figures with OpenDP (:mod:`governance.dp`).
The option ``method: threshold``, for users whose output rules demand it, turns the
unpublished figures into a table that is safe to publish in four steps that use the true
values and round only at the end (:func:`apply_disclosure_control`):

1. **Primary area suppression.** An area with fewer than ``min_count`` young people publishes
   nothing but its identity (``level``, ``code``, ``name``, ``parent_code``), with
   ``suppressed`` true and :data:`SUPPRESSION_REASON`, the same for every suppressed area
   (rule 3's too: a reason that told them apart would say which areas are under
   ``min_count``).
2. **Primary prevalence suppression.** A factor count is withheld (``count_F`` null,
   ``count_F_suppressed`` true) when the young people with the factor, or those without it,
   number fewer than ``min_count``: a small count identifies the few who have it, a small
   complement the few who do not. A zero on either side says that *nobody* (or *everybody*)
   has the factor; with ``zeros_disclosive`` (the default) a zero counts as small. The
   factor's prevalence and mean contribution ``contrib_F`` are withheld with the count: the
   contribution of a factor nobody has is the model's constant for its absence (say -0.01),
   so a published contribution told a withheld zero from a withheld one or two.
3. **Complementary suppression.** Every (parent level, child level) pair in ``hierarchy`` gives
   one equation per parent, ``parent = sum of children``, for each additive quantity: the
   whole area (population and expected, withheld together) and each factor count. Until no
   equation changes, for each equation whose parent is published: if exactly one of its cells
   is hidden it can be recovered, and if the hidden children together would fail the primary
   rule their total is itself a disclosive figure; either way the smallest published child
   is hidden too (the parent, if there is no published child). A hidden parent with all its
   children published (possible when it was hidden to protect *its* parent) is the case
   "exactly one hidden cell", so one child is hidden and the protection carries down. A
   parent hidden by the primary rule needs nothing: each child is no larger than its parent,
   so all of its children are hidden too. An area that is both a child (of its BCU) and a
   parent (of its wards), like a borough, takes part in both equations, which is what stops
   differencing through either hierarchy. When the pairs form one tree, as by default, this
   leaves no hidden cell that the equations determine: in every equation's component at
   least two hidden cells remain free (the tests check it with the rank of the equations).
4. **Rounding.** Population and counts are rounded to the nearest multiple of
   ``rounding_base`` (halves up). ``expected`` is a sum of probabilities, a count of young
   people in expectation, so it is rounded to the same base: rounding it to a decimal
   would let ``parent - children`` recover a withheld area's expected count to that decimal.
   Counts of 1 or 2 may publish as 0 under base 5; that is the intended uncertainty.
   Differencing rounded figures leaves an error of up to ``k * base / 2`` over ``k`` cells.

Figures that are functions of ``expected`` are made from the *published* figures only
(post-processing: a function of protected values tells nothing more than they do).
``mean_risk_raw`` is the published expected over the published population, and
``rate_per_1000`` 1000 times that; before, a raw mean published to 3 decimals times the
population gave ``expected`` to about +/- 0.16 where its rounding says +/- 2.5. Prevalence is
the published count over the published population. ``mean_risk``, ``risk_low`` and
``risk_high`` are optional inputs here, rounded as given: they are not functions of the
protected figures, so the release does not pass them but makes them after disclosure control
from the published table (``training.release.aggregate.risk_from_published``).

Mean-like figures that are not functions of protected counts (``contrib_F``, ``shrunk_*`` and
the optional risk inputs) are rounded to at most the configured decimals, and fewer for
small areas: comparing two releases between which one young person joined an area of ``n``
moves its mean by ``(r - mean) / (n + 1)``, so a mean published to a step ``g`` pins the
newcomer's value ``r`` to an interval of width about ``g (2n + 1)``. The step is chosen so that
``g * n_low >= differencing_margin``, where ``n_low`` is the smallest true population the
published (rounded) population allows; any one such figure then leaves an interval at least
``2 * differencing_margin`` wide (0.1 of risk by default: at most 2 decimals below about 100
young people). No published figure is a negative zero (:func:`without_negative_zeros`): the
sign of a zero tells which side of zero its unrounded value was.

What the threshold method does not do. Rounding is deterministic, so figures combined across levels or across
columns of the same area can narrow the interval further than any one figure, and a rounded
count that moves by one ``rounding_base`` between two releases that differ by one young
person shows that the newcomer is counted in it. The cell-key method (the default) addresses
those with record keys. Publication also relies on
the release not shipping its aggregation inputs: a shrinkage weight or interval width derived
from the exact population would undo the rounding, and :func:`check_no_individuals` refuses
any column that is not in the release contract.

The threshold method's rules (threshold 10, rounding base 5) follow common output-checking
practice in trusted research environments, where they are the usual rules of thumb for tables of counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from governance.cellkey import (
    KEY_RANGE,
    CellKeyConfig,
    build_ptable,
    cell_keys,
    perturb_expected,
)
from governance.contracts.config import load_config
from governance.contracts.errors import VruError
from governance.contracts.levels import LEVELS, PARENT_OF, Level
from governance.contracts.release_schema import AREA_COLUMNS
from governance.disclosure_attacks import AttackLimits
from governance.dp import DpConfig, NoisedLsoa, lsoa_count_per_area, noise_lsoa, sum_to_areas

__all__ = [
    "DEFAULT_HIERARCHY",
    "EXPECTED_QUANTILE_MAX",
    "SUPPRESSION_REASON",
    "DisclosureConfig",
    "DisclosureError",
    "DisclosureResult",
    "adaptive_decimals",
    "apply_disclosure_control",
    "check_no_individuals",
    "dp_area_sizes",
    "load_disclosure_config",
    "without_negative_zeros",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
ArrayLikeInt = Sequence[int] | NDArray[np.int64] | NDArray[np.float64] | pd.Series
ArrayLikeFloat = Sequence[float] | NDArray[np.float64] | NDArray[np.int64] | pd.Series | float

#: the largest |z| of the 256 normal quantiles the cell-key method draws the expected's noise
#: from (:func:`governance.cellkey.perturb_expected`): about 2.66
EXPECTED_QUANTILE_MAX = NormalDist().inv_cdf((KEY_RANGE - 0.5) / KEY_RANGE)

DEFAULT_HIERARCHY: tuple[tuple[Level, Level], ...] = tuple(
    (parent, child) for child, parent in reversed(PARENT_OF.items())
)
#: the one reason every suppressed area gives: telling primary suppressions (fewer than
#: ``min_count``) from complementary ones (at least ``min_count``) narrows their populations
SUPPRESSION_REASON = (
    "suppressed: fewer than {min_count} young people here, or withheld so that small "
    "numbers in a neighbouring area cannot be worked out"
)

IDENTITY: tuple[str, ...] = ("level", "code", "name", "parent_code")
FLAGS: tuple[str, ...] = ("suppressed", "suppression_reason")
#: optional inputs, rounded as given: they are not functions of the protected figures, so a
#: caller that publishes them must make them from the published table (the release does:
#: ``training.release.aggregate.risk_from_published``)
RISK_FIGURES: tuple[str, ...] = ("mean_risk", "risk_low", "risk_high")
REQUIRED: tuple[str, ...] = (*IDENTITY, "population", "expected")
#: published as the published expected over the published population, whatever its input
OPTIONAL_RISK = "mean_risk_raw"
SHRUNK_PREFIX = "shrunk_"
# computed from published figures after disclosure control; never an input
DERIVED: tuple[str, ...] = tuple(
    c for c in AREA_COLUMNS if c not in (*REQUIRED, "rate_per_1000", OPTIONAL_RISK, *RISK_FIGURES)
)
# names that must never reach a release, whatever else the table holds
FORBIDDEN: tuple[str, ...] = (
    "person_key",
    "person_id",
    "record_id",
    "score",
    "risk",
    "shrinkage_weight",
    "within_variance",
)
_NAME = r"[a-z][a-z0-9_]*"
_FACTOR_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"count_{_NAME}_suppressed"),
    re.compile(rf"(count|prevalence|contrib)_{_NAME}"),
    re.compile(rf"{SHRUNK_PREFIX}{_NAME}"),
)
_MAX_DECIMALS = 12

_BAD_HIERARCHY_ORDER = (
    "pair {pair!r}: the parent level must be above the child level in {levels} "
    "(lsoa lowest, city highest)"
)
_REPEATED_PAIR = "pair {pair!r} is listed more than once"
_MISSING = "areas: missing column(s) {missing}; disclosure control needs {required}"
_UNKNOWN_COLUMNS = (
    "areas: column(s) {columns} may not be published; allowed are {allowed} and, per factor F, "
    "count_F, prevalence_F, contrib_F (and shrunk_* figures)"
)
_DERIVED_INPUT = (
    "areas: column(s) {columns} are computed from published figures after disclosure control; "
    "drop them before calling apply_disclosure_control"
)
_NO_COUNT = "areas: column(s) {columns} name factor(s) {factors} without a count_F column"
_NO_CONTRIB = "areas: factor(s) {factors} have count_F but no contrib_F column"
_BAD_LEVEL = "areas: column 'level' has value(s) {values}; allowed are {levels}"
_BAD_CODE = "areas: column 'code' must be unique and not null; repeated or missing: {codes}"
_BAD_PARENT = "areas: column 'parent_code' names area(s) {codes} that are not in column 'code'"
_NOT_COUNTS = "areas: column {column!r} must hold whole numbers >= 0 with no nulls; {n} do not"
_NOT_NUMBER = "areas: column {column!r} must be numeric with no nulls (got dtype {dtype})"
_COUNT_ABOVE = "areas: column {column!r} exceeds 'population' in {n} area(s), e.g. {codes}"
_NO_ANCESTOR = (
    "areas: {n} {child} area(s) have no {parent} above them through 'parent_code' "
    "(hierarchy pair {pair!r}), e.g. {codes}"
)
_NOT_PUBLISHABLE = "release table: column(s) {columns} may not be published ({why})"
_SMALL_PUBLISHED = (
    "release table: {n} published area(s) have population below {threshold} "
    "(min_count {min_count} rounded to base {base}), e.g. {codes}"
)
_NOT_ROUNDED = (
    "release table: column {column!r} has {n} published value(s) that are not multiples of "
    "rounding_base {base}, e.g. in {codes}"
)
_SMALL_COUNT = (
    "release table: column {column!r} has {n} published count(s) below {threshold}, e.g. in {codes}"
)
_FIGURES_OF_SUPPRESSED = (
    "release table: suppressed area(s) {codes} still publish figures in column(s) {columns}"
)
_FLAG_DISAGREES = "release table: {column!r} is published where {flag!r} is true, e.g. in {codes}"
_DP_CONTRIBUTION = (
    "release table: {column!r} is published under method dp, e.g. in {codes}; a contribution "
    "is not made from the noised figures and must be null"
)
_NEGATIVE_ZERO = (
    "release table: column {column!r} has {n} negative zero(s) (-0.0), e.g. in {codes}; the "
    "sign of a zero tells on which side of zero the unrounded figure was"
)
_NOT_DERIVED = (
    "release table: column {column!r} is not the published expected over the published "
    "population in {n} area(s), e.g. {codes}; a mean or rate made from the unrounded expected "
    "undoes its rounding"
)
_REASONS = (
    "release table: suppressed areas give {n} different suppression_reason values {values}; "
    "one reason for all, or the reason tells primary from complementary suppressions"
)


_DP_NO_HALF_WIDTH = (
    "expected_error_bound: method dp needs dp_half_width (the manifest's "
    "privacy.half_width['expected'] of the area's level): dp noise has no hard bound"
)


class DisclosureError(VruError, ValueError):
    """An area table cannot be disclosure-controlled, or a release table is not safe to publish."""


#: how far a dp count may lie from the truth, for an attacker: no bound (a large number)
UNBOUNDED_MARGIN = 10**9


class DisclosureConfig(BaseModel):
    """Statistical disclosure control rules (``configs/disclosure.yaml``).

    The default method is the cell-key perturbation (``cellkey``) ONS used for Census 2021.
    ``min_count`` 10 and ``rounding_base`` 5 (method ``threshold``) follow common
    output-checking practice for trusted research environments.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_count: int = Field(
        default=10,
        ge=1,
        description=(
            "Areas with fewer young people are suppressed; a factor count is suppressed when "
            "those with, or those without, the factor are fewer. Output-checking practice: 10."
        ),
    )
    rounding_base: int = Field(
        default=5,
        ge=1,
        description="Published counts (population, expected, count_F) are rounded to a multiple.",
    )
    rate_decimals: int = Field(
        default=1,
        ge=0,
        le=_MAX_DECIMALS,
        description="At most this many decimals for rate_per_1000 (never finer than the mean).",
    )
    risk_decimals: int = Field(
        default=3,
        ge=0,
        le=_MAX_DECIMALS,
        description="At most this many decimals for mean risks, their interval and prevalence.",
    )
    contribution_decimals: int = Field(
        default=2,
        ge=0,
        le=_MAX_DECIMALS,
        description="At most this many decimals for mean SHAP contributions (log-odds).",
    )
    zeros_disclosive: bool = Field(
        default=True,
        description=(
            "A zero count with (or without) a factor says nobody (everybody) has it: treat it "
            "as below min_count. False publishes zeros as structural."
        ),
    )
    differencing_margin: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description=(
            "Mean-like figures are coarsened so that comparing one of them across two releases "
            "that differ by one young person leaves that person's value uncertain by at least "
            "+/- this (risk or log-odds). 0 uses the configured decimals everywhere."
        ),
    )
    method: Literal["threshold", "cellkey", "dp"] = Field(
        default="cellkey",
        description=(
            "cellkey (the default): the ONS cell-key perturbation (governance.cellkey), with "
            "counts under min_count after perturbation withheld and no rounding. threshold: "
            "suppression under min_count, complementary suppression and rounding to "
            "rounding_base. dp: differential privacy on OpenDP (governance.dp), LSOA figures "
            "noised once."
        ),
    )
    cellkey: CellKeyConfig = Field(
        default_factory=CellKeyConfig,
        description="The cell-key method's ptable and seed (method cellkey only).",
    )
    attacks: AttackLimits = Field(
        default_factory=AttackLimits,
        description=(
            "The attacks every release is tried against before it is published, and how far "
            "each may succeed (governance.disclosure_attacks): beyond a limit, nothing is "
            "published."
        ),
    )
    dp: DpConfig = Field(
        default_factory=DpConfig,
        description="The DP option's epsilon, its shares and the budget cap (method dp only).",
    )
    hierarchy: tuple[tuple[Level, Level], ...] = Field(
        default=DEFAULT_HIERARCHY,
        min_length=1,
        description=(
            "(parent level, child level) pairs whose counts add up: each parent's figure is the "
            "sum of its children's. Complementary suppression protects every pair."
        ),
    )

    @field_validator("hierarchy")
    @classmethod
    def _parents_above_children(
        cls, pairs: tuple[tuple[Level, Level], ...]
    ) -> tuple[tuple[Level, Level], ...]:
        seen: set[tuple[Level, Level]] = set()
        for pair in pairs:
            parent, child = pair
            if LEVELS.index(parent) <= LEVELS.index(child):
                raise ValueError(_BAD_HIERARCHY_ORDER.format(pair=list(pair), levels=list(LEVELS)))
            if pair in seen:
                raise ValueError(_REPEATED_PAIR.format(pair=list(pair)))
            seen.add(pair)
        return pairs

    @property
    def published_margin(self) -> int:
        """How far a published count may lie from the true one (half a base, or D)."""
        if self.method == "cellkey":
            return self.cellkey.max_perturbation
        if self.method == "dp":  # differencing is bounded by epsilon, not by decimals
            return 0
        return self.rounding_base // 2

    @property
    def published_bounds(self) -> tuple[int, int]:
        """How far below and above a published count its truth may lie.

        Rounding to the nearest multiple of ``b`` leaves ``b // 2`` below and ``(b - 1) // 2``
        above (2 and 2 for base 5); the cell-key method moves a count by at most ``D``. The
        dp option's noise has no bound: the truth may lie anywhere (from 0).
        """
        if self.method == "cellkey":
            d = self.cellkey.max_perturbation
            return d, d
        if self.method == "dp":
            return UNBOUNDED_MARGIN, UNBOUNDED_MARGIN
        return self.rounding_base // 2, (self.rounding_base - 1) // 2

    def expected_error_bound(
        self,
        published_expected: ArrayLikeFloat,
        published_population: ArrayLikeFloat,
        *,
        dp_half_width: ArrayLikeFloat | None = None,
    ) -> FloatArray:
        """How far each area's true expected may lie from its published one (either side).

        The one place the serving's ``expected_low``/``expected_high`` and "fewer than N"
        come from. Pure: published figures (and, under dp, the manifest's half-widths) in,
        one half-width per area out.

        - ``threshold``: expected is rounded to a multiple of ``rounding_base``, so it is
          within half a base (2.5 for base 5). A hard bound.
        - ``cellkey``: the published expected is ``e * P / N + s * z`` clamped at 0 and
          rounded to ``expected_decimals`` (:func:`governance.cellkey.perturb_expected`),
          with ``P`` the published and ``N`` the true population, ``s`` the
          ``expected_noise`` and ``z`` one of the 256 normal quantiles, at most
          :data:`EXPECTED_QUANTILE_MAX` (about 2.66) in size. Writing ``m = e / N`` for the
          true mean risk, the error is ``m (P - N) + s z`` plus half a rounding step, so it is
          at most ``s z_max + step / 2 + m D`` (``|P - N| <= D``, ``max_perturbation``); and
          ``m P`` is at most the published expected plus ``s z_max + step / 2``, so ``m`` is
          at most that over ``P`` (and at most 1). Clamping at 0 only moves the figure
          toward the truth. A hard bound.
        - ``dp``: the Laplace noise has no bound: ``dp_half_width`` (the manifest's
          ``privacy.half_width["expected"]`` of the area's level) holds the truth at the
          release's ``dp.interval_level`` (95%), not always.

        Raises
        ------
        DisclosureError
            Under method ``dp`` without ``dp_half_width``.
        """
        expected = np.asarray(published_expected, dtype=np.float64)
        if self.method == "threshold":
            return np.full(expected.shape, self.rounding_base / 2.0)
        if self.method == "dp":
            if dp_half_width is None:
                raise DisclosureError(_DP_NO_HALF_WIDTH)
            return np.broadcast_to(
                np.asarray(dp_half_width, dtype=np.float64), expected.shape
            ).copy()
        rules = self.cellkey
        population = np.asarray(published_population, dtype=np.float64)
        fixed = rules.expected_noise * EXPECTED_QUANTILE_MAX + 0.5 * 10.0**-rules.expected_decimals
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_at_most = np.where(population > 0, (expected + fixed) / population, 1.0)
        return np.asarray(
            fixed + rules.max_perturbation * np.minimum(mean_at_most, 1.0), dtype=np.float64
        )

    @property
    def min_population(self) -> int:
        """``min_count`` under the name the release contract's readers use for areas."""
        return self.min_count


@dataclass(frozen=True)
class DisclosureResult:
    """A disclosure-controlled area table and what was done to it.

    Attributes
    ----------
    table
        Safe to publish: see :func:`apply_disclosure_control` for its columns.
    counts
        ``areas``, ``areas_published``, ``areas_suppressed_primary``,
        ``areas_suppressed_complementary``, ``prevalence_suppressed_primary`` and
        ``prevalence_suppressed_complementary`` (factor counts withheld in published areas),
        ``cells_rounded`` (published population, expected and factor counts that rounding
        changed; ``cells_perturbed`` with method ``cellkey``, which has no complementary
        suppressions). Aggregates only: safe to log and to put in the manifest.
    """

    table: pd.DataFrame
    counts: dict[str, int]
    #: method ``dp`` only: the noised LSOA figures, their scales and the loss spent
    noised: NoisedLsoa | None = None


def load_disclosure_config(path: Path | str | None) -> DisclosureConfig:
    """Read ``configs/disclosure.yaml`` (``None``: the defaults).

    Raises
    ------
    ConfigError
        If the file is missing or not YAML, or a key is unknown or its value not allowed; the
        message names the file, the key and the value.
    """
    return load_config(path, DisclosureConfig)


def apply_disclosure_control(
    areas: pd.DataFrame,
    config: DisclosureConfig,
    *,
    cell_keys: pd.DataFrame | None = None,
    noised: NoisedLsoa | None = None,
) -> DisclosureResult:
    """Suppress, protect and round (or perturb) the area table; the input is not changed.

    With ``config.method`` ``cellkey`` the counts are perturbed by the cell-key method
    instead (:func:`_apply_cell_key`): nothing is rounded, and an area or count is withheld
    only when its *perturbed* figure is under ``min_count`` (no complementary suppression:
    the perturbation is what stops differencing). With ``dp`` the LSOA figures are noised once
    with OpenDP and every area's figures are sums of them (:func:`_apply_dp`,
    :mod:`governance.dp`); contributions are withheld.

    Parameters
    ----------
    areas
        One row per area: ``level``, ``code``, ``name``, ``parent_code``, ``population``
        (whole number), ``expected``; optionally ``rate_per_1000`` and ``mean_risk_raw``
        (ignored: both are made from the published figures), ``mean_risk``, ``risk_low``,
        ``risk_high`` and ``shrunk_*`` (risk-scale figures, rounded as given); per
        factor ``F``: ``count_F`` (whole number), ``contrib_F`` and optionally
        ``prevalence_F`` (recomputed). Parents' population, expected and counts are the sums
        of their children's over each pair in ``config.hierarchy``.
    config
        The rules.
    cell_keys
        Method ``cellkey`` only: one row per area indexed by ``code``, with the cell key
        (``[0, 255]``) of ``population`` and of each ``count_F`` (the sum of the record keys of
        the young people counted, modulo 256).
    noised
        Method ``dp`` only: the LSOA figures already noised (:func:`governance.dp.noise_lsoa`,
        in the order of the table's LSOA rows); noised here when not given.

    Returns
    -------
    DisclosureResult
        ``table`` has, in order: ``level``, ``code``, ``name``, ``parent_code``,
        ``suppressed`` (bool), ``suppression_reason`` (str or None), ``population`` (Int64),
        ``expected``, ``rate_per_1000``, [``mean_risk``], [``mean_risk_raw``],
        [``risk_low``, ``risk_high``], [``shrunk_*``] (each bracketed one if given), then per
        factor ``count_F`` (Int64),
        ``count_F_suppressed`` (bool), ``prevalence_F`` and ``contrib_F``. Suppressed areas
        keep only their identity; every other figure is null.

    Raises
    ------
    DisclosureError
        If a column is missing, not publishable or malformed, or an area's chain of parents
        does not reach the parent level of a hierarchy pair; with method ``cellkey``, if
        ``cell_keys`` is missing or does not give a key in ``[0, 255]`` for every cell.
    """
    factors, shrunk = _validate_areas(areas)
    frame = areas.reset_index(drop=True)
    if config.method == "cellkey":
        return _apply_cell_key(frame, config, factors, shrunk, cell_keys)
    if config.method == "dp":
        return _apply_dp(frame, config, factors, shrunk, noised)
    codes = frame["code"].astype(str).to_numpy()
    code_rank = np.argsort(np.argsort(codes, kind="stable"), kind="stable").astype(np.int64)
    population = frame["population"].to_numpy(np.int64)
    equations = _equations(frame, config.hierarchy)
    min_count = config.min_count

    # 1 and 3 for whole areas: population and expected are withheld together
    primary_area = population < min_count
    area_hidden = _protect(
        primary_area,
        equations,
        too_small=lambda cells: int(population[cells].sum()) < min_count,
        size=population,
        code_rank=code_rank,
    )
    hidden = _protect_factors(frame, factors, config, area_hidden, equations, code_rank)
    figures = _rounded_figures(frame, factors, config.rounding_base)
    table = _publish(frame, config, factors, shrunk, area_hidden, hidden.by_factor, figures)
    rounded = _changed_cells(frame, figures, area_hidden, hidden.by_factor)
    table = _flagged(table, area_hidden, config)
    summary = {
        "areas": len(frame),
        "areas_published": int((~area_hidden).sum()),
        "areas_suppressed_primary": int(primary_area.sum()),
        "areas_suppressed_complementary": int((area_hidden & ~primary_area).sum()),
        "prevalence_suppressed_primary": hidden.primary,
        "prevalence_suppressed_complementary": hidden.complementary,
        "cells_rounded": rounded,
    }
    return DisclosureResult(table=table, counts=summary)


@dataclass(frozen=True)
class _FactorProtection:
    """Which areas withhold each factor's count, and how many cells were withheld and why."""

    by_factor: dict[str, BoolArray]
    primary: int
    complementary: int


def _protect_factors(
    frame: pd.DataFrame,
    factors: Sequence[str],
    config: DisclosureConfig,
    area_hidden: BoolArray,
    equations: list[tuple[int, IntArray]],
    code_rank: IntArray,
) -> _FactorProtection:
    """Rules 2 and 3 per factor: small prevalences withheld, and protected by complements."""
    population = frame["population"].to_numpy(np.int64)
    by_factor: dict[str, BoolArray] = {}
    primary_total = 0
    complementary_total = 0
    for factor in factors:
        with_f = frame[f"count_{factor}"].to_numpy(np.int64)
        without_f = population - with_f
        primary = _small_prevalence(with_f, without_f, config) & ~area_hidden
        hidden = _protect(
            primary | area_hidden,
            equations,
            too_small=_union_prevalence_check(with_f, without_f, config),
            size=with_f,
            code_rank=code_rank,
        )
        by_factor[factor] = hidden
        primary_total += int(primary.sum())
        complementary_total += int((hidden & ~primary & ~area_hidden).sum())
    return _FactorProtection(by_factor, primary_total, complementary_total)


def adaptive_decimals(published_population: ArrayLikeInt, config: DisclosureConfig) -> IntArray:
    """The most decimals a mean-like figure of an area may have, before the configured caps.

    With ``n_low = max(population - margin, min_count)``, the smallest true population the
    published one allows (``margin`` half the rounding base, or the cell-key method's
    largest perturbation), the result is the largest ``d`` (at most 12) with
    ``10**-d * n_low >= differencing_margin``; 12 when the margin is 0.

    Parameters
    ----------
    published_population
        Published (rounded) populations of published areas.
    config
        The rules.

    Returns
    -------
    numpy.ndarray of int64
        One number of decimals per area.
    """
    published = np.asarray(published_population, dtype=np.float64)
    if config.differencing_margin == 0:
        return np.full(published.shape, _MAX_DECIMALS, dtype=np.int64)
    low = np.maximum(published - config.published_margin, config.min_count)
    decimals = np.floor(np.log10(low / config.differencing_margin) + 1e-9)
    return np.clip(decimals, 0, _MAX_DECIMALS).astype(np.int64)


def check_no_individuals(table: pd.DataFrame, config: DisclosureConfig | None = None) -> None:
    """Refuse a release table that could show anything about a young person.

    Checks that every column is in the release contract (never a person key, identifier,
    score or aggregation input such as a shrinkage weight); that every published area has a
    population of at least ``min_count`` rounded to ``rounding_base`` (the least a true
    population of ``min_count`` can publish as); that published counts are multiples of the
    base and not below that threshold (zeros allowed only when ``zeros_disclosive`` is off);
    that suppressed areas publish nothing and a withheld count neither its prevalence nor its
    contribution; that all suppressed areas give one reason; that no figure is a negative
    zero; and that ``mean_risk_raw`` and ``rate_per_1000`` are the published expected over
    the published population (within their rounding). Under the cell-key method
    (``method: cellkey``) counts are perturbed, not rounded: they need not be multiples of
    the base, and the threshold is ``min_count`` itself; no complementary suppression is
    expected, since a perturbed parent minus its children leaves the sum of their
    perturbations.

    Parameters
    ----------
    table
        A disclosure-controlled area table (before or after rank, decile, drivers, change).
    config
        The rules it was made with; the defaults if omitted.

    Raises
    ------
    DisclosureError
        Naming the offending columns, or the count and codes of the offending areas.
    """
    rules = config or DisclosureConfig()
    columns = [str(c) for c in table.columns]
    _check_columns(columns)
    suppressed = table["suppressed"].astype(bool).to_numpy()
    codes = table["code"].astype(str).to_numpy()
    threshold = _least_published(rules)
    population = pd.to_numeric(table["population"]).to_numpy(np.float64, na_value=np.nan)
    small = ~suppressed & ~(population >= threshold)
    if small.any():
        raise DisclosureError(
            _SMALL_PUBLISHED.format(
                n=int(small.sum()),
                threshold=threshold,
                min_count=rules.min_count,
                base=rules.rounding_base,
                codes=list(codes[small][:5]),
            )
        )
    figures = [c for c in columns if c not in (*IDENTITY, *FLAGS) and not c.endswith("_suppressed")]
    leaking = [c for c in figures if table.loc[suppressed, c].notna().any()]
    if leaking:
        rows = table.loc[suppressed, leaking].notna().any(axis=1).to_numpy()
        raise DisclosureError(
            _FIGURES_OF_SUPPRESSED.format(codes=list(codes[suppressed][rows][:5]), columns=leaking)
        )
    for column in ["population", *(c for c in columns if _is_count(c))]:
        _check_count_column(table, column, codes, threshold, rules)
    _check_reasons_and_zeros(table, suppressed, codes)
    _check_derived_means(table, ~suppressed, codes, rules)
    if rules.method == "dp":
        _check_dp_contributions(table, columns, codes)


def _check_dp_contributions(
    table: pd.DataFrame, columns: list[str], codes: NDArray[np.object_]
) -> None:
    """Under ``dp`` no contribution is published: it is not made from the noised figures."""
    for column in columns:
        if not column.startswith("contrib_"):
            continue
        shown = table[column].notna().to_numpy()
        if shown.any():
            raise DisclosureError(
                _DP_CONTRIBUTION.format(column=column, codes=list(codes[shown][:5]))
            )


def _least_published(rules: DisclosureConfig) -> int:
    """The least population or count a release may publish.

    ``min_count`` rounded to the base under the threshold method (a true ``min_count`` can
    publish as that); ``min_count`` itself under the cell-key method, which withholds every
    perturbed figure under it.
    """
    if rules.method in ("cellkey", "dp"):
        return rules.min_count
    return int(_round_counts(np.array([rules.min_count]), rules.rounding_base)[0])


def without_negative_zeros(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every float ``-0.0`` made ``0.0`` (other values and nulls unchanged).

    A figure rounded to zero keeps the sign of its unrounded value (``round(-0.001, 2)`` is
    ``-0.0``, printed ``-0.0`` in JSON), which tells a small negative from a small positive.
    """
    out = table.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column] + 0.0  # -0.0 + 0.0 is 0.0; NaN stays NaN
    return out


def _check_reasons_and_zeros(
    table: pd.DataFrame, suppressed: BoolArray, codes: NDArray[np.object_]
) -> None:
    """One suppression reason for every suppressed area, and no negative zero anywhere."""
    if "suppression_reason" in table.columns:
        reasons = sorted({str(r) for r in table.loc[suppressed, "suppression_reason"]})
        if len(reasons) > 1:
            raise DisclosureError(_REASONS.format(n=len(reasons), values=reasons))
    for column in table.columns:
        if not pd.api.types.is_float_dtype(table[column]):
            continue
        values = pd.to_numeric(table[column]).to_numpy(np.float64, na_value=np.nan)
        negative = (values == 0) & np.signbit(values)
        if negative.any():
            raise DisclosureError(
                _NEGATIVE_ZERO.format(
                    column=str(column), n=int(negative.sum()), codes=list(codes[negative][:5])
                )
            )


def _check_derived_means(
    table: pd.DataFrame, shown: BoolArray, codes: NDArray[np.object_], rules: DisclosureConfig
) -> None:
    """``mean_risk_raw`` and ``rate_per_1000`` are the published expected over the population.

    Each may be rounded (to the decimals the area's population allows, at most the configured
    ones), so it must lie within half its rounding step of the ratio; anything further away
    was made from something else, such as the unrounded expected.
    """
    if "expected" not in table.columns:
        return
    population = pd.to_numeric(table["population"]).to_numpy(np.float64, na_value=np.nan)
    expected = pd.to_numeric(table["expected"]).to_numpy(np.float64, na_value=np.nan)
    rows = shown & (population > 0)
    ratio = np.divide(expected, population, out=np.full(len(table), np.nan), where=rows)
    decimals = np.minimum(adaptive_decimals(np.nan_to_num(population), rules), rules.risk_decimals)
    checks = (
        ("mean_risk_raw", ratio, 10.0 ** -decimals.astype(np.float64) / 2),
        ("rate_per_1000", 1000.0 * ratio, np.full(len(table), 10.0**-rules.rate_decimals / 2)),
    )
    for column, want, tolerance in checks:
        if column not in table.columns:
            continue
        values = pd.to_numeric(table[column]).to_numpy(np.float64, na_value=np.nan)
        off = rows & ~(np.abs(values - want) <= tolerance + 1e-9)
        if off.any():
            raise DisclosureError(
                _NOT_DERIVED.format(column=column, n=int(off.sum()), codes=list(codes[off][:5]))
            )


def _check_columns(columns: list[str]) -> None:
    """Every column is in the release contract, and the ones the checks read are there."""
    forbidden = [c for c in columns if c in FORBIDDEN]
    if forbidden:
        raise DisclosureError(
            _NOT_PUBLISHABLE.format(columns=forbidden, why="identifiers, scores or inputs")
        )
    unknown = [c for c in columns if not _publishable(c)]
    if unknown:
        raise DisclosureError(
            _NOT_PUBLISHABLE.format(columns=unknown, why="not in the release contract")
        )
    missing = [c for c in ("code", "suppressed", "population") if c not in columns]
    if missing:
        raise DisclosureError(_MISSING.format(missing=missing, required=["code", "suppressed"]))


def _check_count_column(
    table: pd.DataFrame,
    column: str,
    codes: NDArray[np.object_],
    threshold: int,
    rules: DisclosureConfig,
) -> None:
    """A published count is a multiple of the base, not below the threshold, and not flagged.

    Under the cell-key method counts are not rounded (any whole number is a multiple of 1).
    """
    values = pd.to_numeric(table[column]).to_numpy(np.float64, na_value=np.nan)
    shown = ~np.isnan(values)
    base = rules.rounding_base if rules.method == "threshold" else 1
    off_base = shown & (np.mod(values, base) != 0)
    if off_base.any():
        raise DisclosureError(
            _NOT_ROUNDED.format(
                column=column,
                n=int(off_base.sum()),
                base=base,
                codes=list(codes[off_base][:5]),
            )
        )
    if column == "population":
        return
    zero_ok = (values == 0) & (not rules.zeros_disclosive)
    below = shown & (values < threshold) & ~zero_ok
    if below.any():
        raise DisclosureError(
            _SMALL_COUNT.format(
                column=column, n=int(below.sum()), threshold=threshold, codes=list(codes[below][:5])
            )
        )
    flag = f"{column}_suppressed"
    if flag not in table.columns:
        return
    flagged = table[flag].astype(bool).to_numpy()
    factor = column.removeprefix("count_")
    for figure in (column, f"prevalence_{factor}", f"contrib_{factor}"):
        if figure not in table.columns:
            continue
        disagree = flagged & table[figure].notna().to_numpy()
        if disagree.any():
            raise DisclosureError(
                _FLAG_DISAGREES.format(column=figure, flag=flag, codes=list(codes[disagree][:5]))
            )


# --------------------------------------------------------------------------------------------
# input


def _publishable(column: str) -> bool:
    return column in AREA_COLUMNS or any(p.fullmatch(column) for p in _FACTOR_PATTERNS)


def _is_count(column: str) -> bool:
    return column.startswith("count_") and not column.endswith("_suppressed")


def _validate_areas(areas: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Check the unpublished table's columns and values; return its factors and shrunk figures."""
    columns = [str(c) for c in areas.columns]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DisclosureError(_MISSING.format(missing=missing, required=list(REQUIRED)))
    derived = [c for c in columns if c in DERIVED or c.endswith("_suppressed")]
    if derived:
        raise DisclosureError(_DERIVED_INPUT.format(columns=derived))
    unknown = [c for c in columns if c in FORBIDDEN or not _publishable(c)]
    if unknown:
        allowed = [*REQUIRED, "rate_per_1000", OPTIONAL_RISK, *RISK_FIGURES]
        raise DisclosureError(_UNKNOWN_COLUMNS.format(columns=unknown, allowed=allowed))

    factors = [c.removeprefix("count_") for c in columns if c.startswith("count_")]
    orphans = [
        c
        for c in columns
        if c.startswith(("prevalence_", "contrib_")) and c.split("_", 1)[1] not in factors
    ]
    if orphans:
        names = sorted({c.split("_", 1)[1] for c in orphans})
        raise DisclosureError(_NO_COUNT.format(columns=orphans, factors=names))
    no_contrib = [f for f in factors if f"contrib_{f}" not in columns]
    if no_contrib:
        raise DisclosureError(_NO_CONTRIB.format(factors=no_contrib))
    shrunk = [c for c in columns if c.startswith(SHRUNK_PREFIX)]

    bad_levels = sorted(set(areas["level"].dropna().astype(str)) - set(LEVELS))
    if bad_levels or areas["level"].isna().any():
        raise DisclosureError(_BAD_LEVEL.format(values=bad_levels or [None], levels=list(LEVELS)))
    code = areas["code"]
    if code.isna().any() or code.duplicated().any():
        bad = code[code.isna() | code.duplicated(keep=False)].astype(str).unique()
        raise DisclosureError(_BAD_CODE.format(codes=list(bad[:5])))
    parents = areas["parent_code"].dropna()
    strangers = parents[~parents.isin(code)].astype(str).unique()
    if len(strangers):
        raise DisclosureError(_BAD_PARENT.format(codes=list(strangers[:5])))

    population = _whole_numbers(areas, "population")
    for factor in factors:
        column = f"count_{factor}"
        count = _whole_numbers(areas, column)
        above = count > population
        if above.any():
            raise DisclosureError(
                _COUNT_ABOVE.format(
                    column=column,
                    n=int(above.sum()),
                    codes=list(code.astype(str).to_numpy()[above][:5]),
                )
            )
    for column in ["expected", *(f"contrib_{f}" for f in factors)]:
        if not pd.api.types.is_numeric_dtype(areas[column]):
            raise DisclosureError(_NOT_NUMBER.format(column=column, dtype=areas[column].dtype))
    if areas["expected"].isna().any():
        raise DisclosureError(_NOT_NUMBER.format(column="expected", dtype=areas["expected"].dtype))
    return factors, shrunk


def _whole_numbers(areas: pd.DataFrame, column: str) -> IntArray:
    series = areas[column]
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise DisclosureError(_NOT_COUNTS.format(column=column, n=len(series)))
    values = series.to_numpy(np.float64, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        raise DisclosureError(_NOT_COUNTS.format(column=column, n=int(bad.sum())))
    return values.astype(np.int64)


def _equations(
    frame: pd.DataFrame, hierarchy: tuple[tuple[Level, Level], ...]
) -> list[tuple[int, IntArray]]:
    """``(parent row, child rows)`` for every parent of every pair: parent = sum of children."""
    levels = frame["level"].astype(str).to_numpy()
    row_of = pd.Series(np.arange(len(frame)), index=frame["code"].to_numpy())
    parent_codes = frame["parent_code"]
    has_parent = parent_codes.notna().to_numpy()
    parent_row = np.full(len(frame), -1, dtype=np.int64)
    parent_row[has_parent] = row_of.loc[parent_codes[has_parent].to_numpy()].to_numpy()
    codes = frame["code"].astype(str).to_numpy()

    equations: list[tuple[int, IntArray]] = []
    for parent_level, child_level in hierarchy:
        children = np.flatnonzero(levels == child_level)
        if len(children) == 0 or not (levels == parent_level).any():
            continue
        ancestor = np.full(len(children), -1, dtype=np.int64)
        current = parent_row[children]
        for _ in LEVELS:  # at most one step per level
            live = current >= 0
            found = live & (ancestor < 0)
            found[found] = levels[current[found]] == parent_level
            ancestor[found] = current[found]
            current = np.where(live, parent_row[np.maximum(current, 0)], -1)
        orphans = children[ancestor < 0]
        if len(orphans):
            raise DisclosureError(
                _NO_ANCESTOR.format(
                    n=len(orphans),
                    child=child_level,
                    parent=parent_level,
                    pair=[parent_level, child_level],
                    codes=list(codes[orphans][:5]),
                )
            )
        order = np.lexsort((children, ancestor))
        ancestor, children = ancestor[order], children[order]
        starts = np.flatnonzero(np.r_[True, ancestor[1:] != ancestor[:-1]])
        for part in np.split(np.arange(len(children)), starts[1:]):
            equations.append((int(ancestor[part[0]]), children[part]))
    return equations


# --------------------------------------------------------------------------------------------
# suppression


def _small_prevalence(with_f: IntArray, without_f: IntArray, config: DisclosureConfig) -> BoolArray:
    """Counts too small to publish: fewer than ``min_count`` with, or without, the factor."""
    small = (with_f < config.min_count) | (without_f < config.min_count)
    if not config.zeros_disclosive:  # a structural zero on either side is publishable
        small &= ~((with_f == 0) | (without_f == 0)) | (with_f + without_f < config.min_count)
    return small


def _union_prevalence_check(
    with_f: IntArray, without_f: IntArray, config: DisclosureConfig
) -> Callable[[IntArray], bool]:
    """Whether some areas' counts, taken together, would fail the primary prevalence rule."""

    def too_small(cells: IntArray) -> bool:
        total = np.array([with_f[cells].sum()]), np.array([without_f[cells].sum()])
        return bool(_small_prevalence(*total, config)[0])

    return too_small


def _protect(
    primary: BoolArray,
    equations: list[tuple[int, IntArray]],
    *,
    too_small: Callable[[IntArray], bool],
    size: IntArray,
    code_rank: IntArray,
) -> BoolArray:
    """Complementary suppression of one additive quantity, to a fixed point.

    In every equation with a published parent, the hidden cells must be none or at least two,
    and the hidden children together must pass the primary rule (``too_small`` is false). A
    hidden parent with every child published is one hidden cell too. Each repair hides the
    published child with the smallest ``size`` (then code), or the parent when it has no
    published child. Each repair hides one more cell, so the loop ends.
    """
    hidden = primary.copy()
    changed = True
    while changed:
        changed = False
        for parent, children in equations:
            hidden_children = children[hidden[children]]
            n_hidden = len(hidden_children) + int(hidden[parent])
            if n_hidden == 0:
                continue
            exposed = n_hidden == 1 or (not hidden[parent] and too_small(hidden_children))
            if not exposed:
                continue
            published = children[~hidden[children]]
            if len(published):
                pick = published[np.lexsort((code_rank[published], size[published]))[0]]
            else:  # the only child is hidden: the parent equals it
                pick = parent
            hidden[pick] = True
            changed = True
    return hidden


# --------------------------------------------------------------------------------------------
# rounding


def _round_counts(values: IntArray, base: int) -> IntArray:
    """Nearest multiple of ``base``, halves up."""
    return (values + base // 2) // base * base


def _round_rows(values: FloatArray, decimals: IntArray) -> FloatArray:
    """Round each value to its own number of decimals."""
    out = values.copy()
    for d in np.unique(decimals):
        rows = decimals == d
        out[rows] = np.round(values[rows], int(d))
    return out


def _nullable(values: IntArray, hidden: BoolArray) -> pd.arrays.IntegerArray:
    """Whole numbers with the hidden ones null (pandas ``Int64``)."""
    return pd.arrays.IntegerArray(np.where(hidden, 0, values).astype(np.int64), hidden.copy())


def _float(frame: pd.DataFrame, column: str) -> FloatArray:
    return pd.to_numeric(frame[column]).to_numpy(np.float64, na_value=np.nan)


@dataclass(frozen=True)
class _Figures:
    """The published additive figures of every area, before any is hidden."""

    population: IntArray
    expected: FloatArray
    counts: dict[str, IntArray]


def _rounded_figures(frame: pd.DataFrame, factors: list[str], base: int) -> _Figures:
    """Population, expected and counts rounded to the nearest multiple of ``base``."""
    expected = _float(frame, "expected")
    return _Figures(
        population=_round_counts(frame["population"].to_numpy(np.int64), base),
        expected=np.floor(expected / base + 0.5) * base,
        counts={f: _round_counts(frame[f"count_{f}"].to_numpy(np.int64), base) for f in factors},
    )


def _changed_cells(
    frame: pd.DataFrame,
    figures: _Figures,
    area_hidden: BoolArray,
    factor_hidden: dict[str, BoolArray],
) -> int:
    """Published population, expected and factor counts that protection changed."""
    shown = ~area_hidden
    changed = int((shown & (figures.population != frame["population"].to_numpy())).sum())
    changed += int((shown & (figures.expected != _float(frame, "expected"))).sum())
    for factor, published in figures.counts.items():
        count = frame[f"count_{factor}"].to_numpy(np.int64)
        changed += int((~factor_hidden[factor] & (published != count)).sum())
    return changed


def _flagged(table: pd.DataFrame, area_hidden: BoolArray, config: DisclosureConfig) -> pd.DataFrame:
    """``table`` with ``suppressed`` and the one ``suppression_reason``, checked."""
    reason = np.full(len(table), None, dtype=object)
    reason[area_hidden] = SUPPRESSION_REASON.format(min_count=config.min_count)
    table.insert(len(IDENTITY), "suppression_reason", reason)
    table.insert(len(IDENTITY), "suppressed", area_hidden)
    check_no_individuals(table, config)
    return table


def _publish(
    frame: pd.DataFrame,
    config: DisclosureConfig,
    factors: list[str],
    shrunk: list[str],
    area_hidden: BoolArray,
    factor_hidden: dict[str, BoolArray],
    figures: _Figures,
) -> pd.DataFrame:
    """The published columns (without the flags), from the protected ``figures``."""
    shown = ~area_hidden
    published_population = figures.population
    published_expected = figures.expected
    decimals = adaptive_decimals(published_population, config)
    risk_d = np.minimum(decimals, config.risk_decimals)
    contrib_d = np.minimum(decimals, config.contribution_decimals)

    def risk(column: str) -> FloatArray:
        return np.where(shown, _round_rows(_float(frame, column), risk_d), np.nan)

    out = frame[list(IDENTITY)].copy()
    out["population"] = _nullable(published_population, area_hidden)
    out["expected"] = np.where(shown, published_expected, np.nan)
    # post-processing: the raw mean and the rate are the published expected over the
    # published population, so they say nothing that those two do not
    raw = np.where(shown, published_expected / np.maximum(published_population, 1), np.nan)
    out["rate_per_1000"] = np.round(1000.0 * raw, config.rate_decimals)
    for column in (*RISK_FIGURES[:1], OPTIONAL_RISK, *RISK_FIGURES[1:], *shrunk):
        if column == OPTIONAL_RISK and column in frame.columns:
            out[column] = _round_rows(raw, risk_d)
        elif column in frame.columns:
            out[column] = risk(column)

    for factor in factors:
        hidden = factor_hidden[factor]
        published_count = figures.counts[factor]
        out[f"count_{factor}"] = _nullable(published_count, hidden)
        out[f"count_{factor}_suppressed"] = hidden
        with np.errstate(invalid="ignore", divide="ignore"):
            prevalence = published_count / np.maximum(published_population, 1)
        out[f"prevalence_{factor}"] = np.where(
            hidden | (published_population == 0),
            np.nan,
            np.round(prevalence, config.risk_decimals),
        )
        contrib = _round_rows(_float(frame, f"contrib_{factor}"), contrib_d)
        # withheld with the count: a published contribution of a withheld count told a
        # count of zero (the absent factor's constant contribution) from one or more
        out[f"contrib_{factor}"] = np.where(shown & ~hidden, contrib, np.nan)
    return without_negative_zeros(out.reset_index(drop=True))


# --------------------------------------------------------------------------------------------
# the cell-key method (governance.cellkey)

_NO_CELL_KEYS = (
    "disclosure method cellkey needs cell keys (one row per area code with 'population' and "
    "each 'count_F'); none were given"
)
_BAD_CELL_KEYS = (
    "cell_keys: {problem}; expected one row per area code with whole-number keys in "
    "[0, 255] in columns {columns}"
)


def _apply_cell_key(
    frame: pd.DataFrame,
    config: DisclosureConfig,
    factors: list[str],
    shrunk: list[str],
    keys: pd.DataFrame | None,
) -> DisclosureResult:
    """Perturb population and counts with their cell keys, and expected with the area's key.

    An area whose perturbed population is under ``min_count`` is suppressed; a count is
    withheld when its perturbed value, or the perturbed count of those *without* the factor
    (its own cell, keyed by the population's key minus the count's), is under ``min_count``
    (zeros as ``zeros_disclosive`` says). A published count never exceeds the published
    population. Nothing else is suppressed or rounded.
    """
    key = _cell_key_columns(frame, factors, keys)
    rules = config.cellkey
    ptable = build_ptable(rules)
    population = frame["population"].to_numpy(np.int64)
    published_population = ptable.perturb(population, key["population"])
    area_hidden = published_population < config.min_count
    expected = perturb_expected(
        _float(frame, "expected"), population, published_population, key["population"], rules
    )
    counts: dict[str, IntArray] = {}
    by_factor: dict[str, BoolArray] = {}
    withheld = 0
    for factor in factors:
        count = frame[f"count_{factor}"].to_numpy(np.int64)
        published = ptable.perturb(count, key[f"count_{factor}"])
        without = ptable.perturb(
            population - count, cell_keys(key["population"] - key[f"count_{factor}"])
        )
        small = _small_prevalence(published, without, config) & ~area_hidden
        withheld += int(small.sum())
        by_factor[factor] = small | area_hidden
        counts[factor] = np.minimum(published, published_population)
    figures = _Figures(published_population, expected, counts)
    table = _publish(frame, config, factors, shrunk, area_hidden, by_factor, figures)
    table = _flagged(table, area_hidden, config)
    summary = {
        **_noise_summary(area_hidden, withheld),
        "cells_perturbed": _changed_cells(frame, figures, area_hidden, by_factor),
    }
    return DisclosureResult(table=table, counts=summary)


def _noise_summary(area_hidden: BoolArray, withheld: int) -> dict[str, int]:
    """What a perturbing method withheld: every withholding is primary (none complementary)."""
    return {
        "areas": len(area_hidden),
        "areas_published": int((~area_hidden).sum()),
        "areas_suppressed_primary": int(area_hidden.sum()),
        "areas_suppressed_complementary": 0,
        "prevalence_suppressed_primary": withheld,
        "prevalence_suppressed_complementary": 0,
    }


def _cell_key_columns(
    frame: pd.DataFrame, factors: list[str], keys: pd.DataFrame | None
) -> dict[str, IntArray]:
    """Each cell's key, in ``frame`` order, checked to be whole numbers in ``[0, 255]``."""
    if keys is None:
        raise DisclosureError(_NO_CELL_KEYS)
    columns = ["population", *(f"count_{f}" for f in factors)]

    def bad(problem: str) -> DisclosureError:
        return DisclosureError(_BAD_CELL_KEYS.format(problem=problem, columns=columns))

    missing = [c for c in columns if c not in keys.columns]
    if missing:
        raise bad(f"missing column(s) {missing}")
    if keys.index.has_duplicates:
        raise bad("an area code is repeated")
    codes = frame["code"].to_numpy()
    absent = ~pd.Index(codes).isin(keys.index)
    if absent.any():
        raise bad(f"no keys for {int(absent.sum())} area(s), e.g. {list(codes[absent][:5])}")
    out: dict[str, IntArray] = {}
    for column in columns:
        values = pd.to_numeric(keys.loc[codes, column], errors="coerce").to_numpy(
            np.float64, na_value=np.nan
        )
        if not np.all((values >= 0) & (values < 256) & (values == np.round(values))):
            raise bad(f"column {column!r} holds values that are not keys")
        out[column] = values.astype(np.int64)
    return out


# --------------------------------------------------------------------------------------------
# differential privacy (governance.dp)


def _apply_dp(
    frame: pd.DataFrame,
    config: DisclosureConfig,
    factors: list[str],
    shrunk: list[str],
    noised: NoisedLsoa | None,
) -> DisclosureResult:
    """Noise the LSOA figures once (OpenDP), sum them up the hierarchy, publish from them.

    Everything after the noise is post-processing of the noised LSOA vectors: each area's
    figure is the sum of its LSOAs' noised figures (unclamped, so that sums stay unbiased),
    then clamped to at least 0 (a count also to at most the published population, and
    ``expected`` to ``[0, population]``, rounded to ``dp.expected_decimals``). An area whose
    published population is under ``min_count`` is suppressed, a count whose published value
    or complement is under it withheld: both decided on noised figures. Contributions are
    withheld everywhere (not functions of the noised figures). ``shrunk_*`` inputs are
    refused: they are made from unprotected figures.
    """
    if shrunk:
        raise DisclosureError(_DP_SHRUNK.format(columns=shrunk))
    levels = frame["level"].astype(str).to_numpy()
    lsoa = levels == "lsoa"
    if noised is None:
        noised = noise_lsoa(
            frame.loc[lsoa, "population"].to_numpy(np.int64),
            _float(frame, "expected")[lsoa],
            {f: frame.loc[lsoa, f"count_{f}"].to_numpy(np.int64) for f in factors},
            config.dp,
        )
    _check_noised(noised, int(lsoa.sum()), factors)
    codes = frame["code"].astype(str).to_numpy()
    parents = frame["parent_code"].to_numpy(dtype=object)

    def up(values: NDArray[np.float64] | IntArray) -> FloatArray:
        return sum_to_areas(levels, codes, parents, np.asarray(values, dtype=np.float64))

    population = np.maximum(np.round(up(noised.population)), 0).astype(np.int64)
    expected = np.clip(up(noised.expected), 0.0, population.astype(np.float64))
    expected = np.round(expected, config.dp.expected_decimals) + 0.0
    counts = {
        f: np.clip(np.round(up(noised.counts[f])), 0, population).astype(np.int64) for f in factors
    }
    area_hidden = population < config.min_count
    by_factor: dict[str, BoolArray] = {}
    withheld = 0
    for factor in factors:
        small = _small_prevalence(counts[factor], population - counts[factor], config)
        small &= ~area_hidden
        withheld += int(small.sum())
        by_factor[factor] = small | area_hidden
    bare = frame.copy()
    for factor in factors:  # not functions of the noised figures: withheld
        bare[f"contrib_{factor}"] = np.nan
    figures = _Figures(population, expected, counts)
    table = _publish(bare, config, factors, shrunk, area_hidden, by_factor, figures)
    table = _flagged(table, area_hidden, config)
    return DisclosureResult(
        table=table, counts=_noise_summary(area_hidden, withheld), noised=noised
    )


_DP_SHRUNK = (
    "areas: column(s) {columns} are made from unprotected figures; method dp publishes only "
    "figures made from the noised LSOA figures"
)
_BAD_NOISED = "noised: {problem}; expected the noised figures of the table's {n} LSOA rows"


def _check_noised(noised: NoisedLsoa, n: int, factors: list[str]) -> None:
    """The noised vectors match the table's LSOA rows and factors."""
    if sorted(noised.counts) != sorted(factors):
        raise DisclosureError(
            _BAD_NOISED.format(problem=f"factors {sorted(noised.counts)}, not {factors}", n=n)
        )
    lengths = {len(noised.population), len(noised.expected), *map(len, noised.counts.values())}
    if lengths != {n}:
        raise DisclosureError(_BAD_NOISED.format(problem=f"lengths {sorted(lengths)}", n=n))


def dp_area_sizes(areas: pd.DataFrame) -> IntArray:
    """How many LSOAs each area of ``areas`` sums (1 for an LSOA): its noise's size."""
    return lsoa_count_per_area(
        areas["level"].astype(str).to_numpy(),
        areas["code"].astype(str).to_numpy(),
        areas["parent_code"].to_numpy(dtype=object),
    )
