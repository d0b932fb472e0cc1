"""Attacks a release must survive before it is published, each scored against chance.

Disclosure control is only as good as the attacks it has been tried against. The release
runs these on the two tables it holds at step 4, the unprotected figures and the protected
table it is about to write, and refuses to publish when one succeeds beyond its limit in
``disclosure.attacks`` (:class:`AttackLimits`). Each result is also recorded in the signed
manifest, so a reader sees what the release was tried against and how it fared.

The attacks, in an attacker's words:

- **Hierarchy bounds** (``hierarchy_exact``, ``hierarchy_narrowed``): every parent's count is
  the sum of its children's, and every published count says where the truth lies (within half
  a rounding base, or within the cell-key method's ``D``; a withheld count is anything from 0).
  The tightest interval those equations allow for each protected cell is what an integer
  program over the hierarchy finds. On a hierarchy of nested areas (each child has one parent
  per level pair, as here) propagating the bounds through the equations until nothing changes
  gives exactly those intervals; the tests check them against SciPy's ``milp``.
  ``hierarchy_exact`` is the share of protected cells (withheld, rounded or perturbed) whose
  true value the interval pins exactly (chance: 0); ``hierarchy_narrowed`` the share of
  withheld cells known more precisely than a published count is: confined to fewer possible
  values than a published count allows (5 for rounding to 5, ``2 D + 1`` for the cell-key
  method), and than ``min_count`` (chance: 0). Withholding a count must not tell more about
  it than publishing it would.
- **Precision channels** (``precision_gain``): a published raw mean or rate times the
  published population is another estimate of the expected number (and a prevalence of a
  count). If it is closer to the truth than the published expected itself, protection leaks through the
  decimals. The figure is ``1 - error(best channel) / error(published)``: 0 at chance, 1 when
  the channel gives the truth.
- **Zero detection** (``zero_detection``): among withheld factor counts, how well any figure
  published for the area and the factor (its contribution, its prevalence) tells a count of 0
  from a count of 1 or more, as a ROC AUC taken either way round (chance: 0.5).

Only aggregates leave this module (shares, AUCs, counts of cells), never an area's code or
figure. The functions are pure: they read the two tables and the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from governance.contracts.errors import VruError
from governance.contracts.levels import Level

__all__ = [
    "AttackError",
    "AttackLimits",
    "AttackResult",
    "attack_release",
    "hierarchy_bounds",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
#: an upper bound that stands for none (sums of a million of them still fit in int64)
_UNBOUNDED = 10**12
#: the score of a figure that is not published: all alike, below any published one
_WITHHELD_SCORE = -1e12

_MISSING = "{which} area table: column(s) {columns} missing; expected the release's area table"
_UNMATCHED = (
    "published area table: {n} area(s) not in the unprotected table (same level and code "
    "expected for every row): the two tables are not of the same release"
)


class AttackError(VruError, ValueError):
    """The two tables cannot be attacked together (missing columns, or not the same areas)."""


class AttackLimits(BaseModel):
    """How far each attack may succeed before the release refuses to publish.

    ``disclosure.attacks`` in ``configs/disclosure.yaml``. A limit of 1 (or an AUC limit of 1)
    never refuses; ``enabled: false`` skips the attacks (the manifest then says so).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run the attacks before publishing.")
    max_exact_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Protected cells whose true value the hierarchy's equations pin exactly.",
    )
    max_narrowed_share: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Withheld cells the equations confine to fewer values than a published "
        "count allows (and than min_count).",
    )
    max_precision_gain: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description=(
            "How much closer than the published figure a mean or rate times the population "
            "brings an attacker to the true expected number or count (0: no closer)."
        ),
    )
    max_zero_auc: float = Field(
        default=0.7,
        ge=0.5,
        le=1.0,
        description="How well a published figure tells a withheld 0 from more (ROC AUC).",
    )
    min_cells: int = Field(
        default=20,
        ge=1,
        description="Fewer cells than this to attack: reported, not judged.",
    )


@dataclass(frozen=True)
class AttackResult:
    """One attack's success against chance, and whether the release may still publish."""

    name: str
    description: str
    success: float | None
    chance: float
    limit: float
    cells: int
    judged: bool
    passed: bool


@dataclass(frozen=True)
class _Knowledge:
    """What the published table tells an attacker about one count column, as bounds."""

    low: IntArray
    high: IntArray
    withheld: NDArray[np.bool_]


def attack_release(
    unprotected: pd.DataFrame,
    published: pd.DataFrame,
    *,
    factors: Sequence[str],
    method: str,
    min_count: int,
    margin: tuple[int, int],
    hierarchy: Sequence[tuple[Level, Level]],
    limits: AttackLimits,
) -> list[AttackResult]:
    """Run every attack on the release; see the module docstring.

    Parameters
    ----------
    unprotected
        The area table before disclosure control: ``level``, ``code``, ``population``,
        ``expected`` and ``count_F`` for each factor (true values).
    published
        The table the release writes, with ``parent_code``, ``suppressed``, the published
        ``population``, ``expected``, ``mean_risk_raw``, ``rate_per_1000`` and per factor
        ``count_F``, ``count_F_suppressed``, ``prevalence_F``, ``contrib_F``.
    method, min_count, margin
        The disclosure method, its threshold, and how far below and above a published count
        the truth may lie (``(2, 2)`` for rounding to 5, ``(D, D)`` for the cell-key method).
    hierarchy
        (parent level, child level) pairs whose counts add up.
    """
    truth, shown = _aligned(unprotected, published, factors)
    columns = ["population", *(f"count_{f}" for f in factors)]
    parents = _parent_rows(shown)
    exact_hits = exact_cells = narrowed_hits = narrowed_cells = 0
    # a withheld count must stay as uncertain as a published one is (and as min_count)
    promised = min(min_count, margin[0] + margin[1] + 1)
    for column in columns:
        known = _knowledge(shown, column, min_count=min_count, margin=margin, method=method)
        low, high = hierarchy_bounds(known.low, known.high, shown["level"], parents, hierarchy)
        protected = known.withheld | (known.high > known.low)
        exact_cells += int(protected.sum())
        exact_hits += int((protected & (low == high)).sum())
        narrowed_cells += int(known.withheld.sum())
        narrowed_hits += int((known.withheld & (high - low + 1 < promised)).sum())
    results = [
        _judged(
            "hierarchy_exact",
            "protected counts whose true value the hierarchy's equations pin exactly",
            exact_hits / exact_cells if exact_cells else None,
            0.0,
            limits.max_exact_share,
            exact_cells,
            limits,
        ),
        _judged(
            "hierarchy_narrowed",
            f"withheld counts the equations confine to fewer than {promised} possible values "
            "(known more precisely than a published count)",
            narrowed_hits / narrowed_cells if narrowed_cells else None,
            0.0,
            limits.max_narrowed_share,
            narrowed_cells,
            limits,
        ),
    ]
    gain, cells = _precision_gain(truth, shown, factors, limits.min_cells)
    results.append(
        _judged(
            "precision_gain",
            "how much closer a published mean, rate or prevalence times the population comes "
            "to the true expected number or count than the published figure (0 at chance)",
            gain,
            0.0,
            limits.max_precision_gain,
            cells,
            limits,
        )
    )
    auc, cells = _zero_detection(truth, shown, factors)
    results.append(
        _judged(
            "zero_detection",
            "how well a figure published beside a withheld count tells 0 from more (ROC AUC)",
            auc,
            0.5,
            limits.max_zero_auc,
            cells,
            limits,
        )
    )
    return results


def hierarchy_bounds(
    low: IntArray,
    high: IntArray,
    levels: pd.Series,
    parent_row: IntArray,
    hierarchy: Sequence[tuple[Level, Level]],
) -> tuple[IntArray, IntArray]:
    """The tightest bounds the sums over ``hierarchy`` allow each cell, from per-cell bounds.

    ``parent_row[i]`` is the row of area ``i``'s direct parent (-1 at the top). For each
    pair, a child's ancestor at the parent level is found through those links; then each
    equation ``parent = sum(children)`` tightens the parent from its children's bounds and
    each child from the parent's and its siblings', until nothing changes. On nested areas
    this is what an integer program minimising and maximising each cell finds.
    """
    lo, hi = low.astype(np.int64).copy(), high.astype(np.int64).copy()
    level_of = levels.astype(str).to_numpy(dtype=np.str_)
    found = [_pair_equations(level_of, parent_row, p, c) for p, c in hierarchy]
    equations = [e for e in found if e is not None]
    for _ in range(10_000):
        before_lo, before_hi = lo.copy(), hi.copy()
        for parents, children, starts in equations:
            lo_sum = np.add.reduceat(lo[children], starts)
            hi_sum = np.add.reduceat(hi[children], starts)
            lo[parents] = np.maximum(lo[parents], lo_sum)
            hi[parents] = np.minimum(hi[parents], hi_sum)
            counts = np.diff(np.r_[starts, len(children)])
            parent_of_child = np.repeat(parents, counts)
            others_lo = np.repeat(lo_sum, counts) - lo[children]
            others_hi = np.repeat(hi_sum, counts) - hi[children]
            lo[children] = np.maximum(lo[children], lo[parent_of_child] - others_hi)
            hi[children] = np.minimum(hi[children], hi[parent_of_child] - others_lo)
        if np.array_equal(lo, before_lo) and np.array_equal(hi, before_hi):
            break
    return lo, np.maximum(hi, lo)


def _pair_equations(
    level_of: NDArray[np.str_], parent_row: IntArray, parent_level: str, child_level: str
) -> tuple[IntArray, IntArray, IntArray] | None:
    """Parents, their children (grouped by parent) and each group's start, for one pair."""
    children = np.flatnonzero(level_of == child_level)
    if len(children) == 0:
        return None
    ancestor = parent_row[children]
    for _ in range(len(set(level_of.tolist())) + 1):
        climbing = (ancestor >= 0) & (level_of[np.maximum(ancestor, 0)] != parent_level)
        if not climbing.any():
            break
        ancestor = np.where(climbing, parent_row[np.maximum(ancestor, 0)], ancestor)
    keep = ancestor >= 0
    children, ancestor = children[keep], ancestor[keep]
    if len(children) == 0:
        return None
    order = np.argsort(ancestor, kind="stable")
    children, ancestor = children[order], ancestor[order]
    starts = np.flatnonzero(np.r_[True, ancestor[1:] != ancestor[:-1]])
    return ancestor[starts], children, starts


def _knowledge(
    shown: pd.DataFrame, column: str, *, min_count: int, margin: tuple[int, int], method: str
) -> _Knowledge:
    """Bounds on each cell's true count from its published value alone.

    A published count says the truth lies within ``margin`` of it (and is not negative). A
    withheld count says nothing under the threshold method, where one reason covers primary
    and complementary suppressions. Under the cell-key method a withheld *area* is one whose
    perturbed population fell under ``min_count``, so its population is at most
    ``min_count - 1 + D``; a withheld factor count may be small or nearly everyone, so it
    says nothing either.
    """
    values = pd.to_numeric(shown[column], errors="coerce").to_numpy(np.float64)
    flag = "suppressed" if column == "population" else f"{column}_suppressed"
    withheld = np.isnan(values) | shown[flag].fillna(True).astype(bool).to_numpy()
    below, above = margin
    published = np.nan_to_num(values).astype(np.int64)
    low = np.where(withheld, 0, np.maximum(published - below, 0))
    ceiling = (
        min_count - 1 + above if method == "cellkey" and column == "population" else _UNBOUNDED
    )
    high = np.where(withheld, ceiling, published + above)
    return _Knowledge(low=low.astype(np.int64), high=high.astype(np.int64), withheld=withheld)


def _parent_rows(table: pd.DataFrame) -> IntArray:
    """The row of each area's direct parent (``parent_code``), -1 where there is none."""
    row_of = pd.Series(np.arange(len(table)), index=table["code"].astype(str).to_numpy())
    parents = table["parent_code"]
    out = np.full(len(table), -1, dtype=np.int64)
    has = parents.notna().to_numpy() & parents.astype(str).isin(row_of.index).to_numpy()
    out[has] = row_of.loc[parents[has].astype(str).tolist()].to_numpy()
    return out


def _precision_gain(
    truth: pd.DataFrame, shown: pd.DataFrame, factors: Sequence[str], min_cells: int
) -> tuple[float | None, int]:
    """The best ``1 - error(channel) / error(published)`` of the precision channels.

    Each channel (the raw mean and the rate for the expected number; the prevalence for the
    factor counts, pooled over the factors) is compared over the published cells where it is
    published too: the total absolute error of the channel's estimate
    (the published ratio times the published population) against the total absolute error of
    the published figure. A kind with fewer than ``min_cells`` cells is not compared: the
    gain of two cells is noise. The shrunk ``mean_risk`` is not a channel: it borrows from
    the area's parent, which makes it a better estimate of the area's risk by design, not a
    finer copy of the protected figure; what the parent's figures allow is the hierarchy
    attack's.
    """
    population = pd.to_numeric(shown["population"], errors="coerce").to_numpy(np.float64)
    channels: dict[str, list[tuple[str, str, float]]] = {  # (target, channel, scale)
        "raw mean": [("expected", "mean_risk_raw", 1.0)],
        "rate": [("expected", "rate_per_1000", 1e-3)],
        "prevalence": [(f"count_{f}", f"prevalence_{f}", 1.0) for f in factors],
    }
    gains: list[float] = []
    cells = 0
    for triples in channels.values():
        parts: list[FloatArray] = []  # per cell: the published figure's error, the channel's
        for target, channel, scale in triples:
            if channel not in shown:
                continue
            value = pd.to_numeric(shown[target], errors="coerce").to_numpy(np.float64)
            true = pd.to_numeric(truth[target], errors="coerce").to_numpy(np.float64)
            figure = pd.to_numeric(shown[channel], errors="coerce").to_numpy(np.float64)
            use = np.isfinite(value) & np.isfinite(true) & np.isfinite(figure)
            use &= np.isfinite(population)
            estimate = figure[use] * scale * population[use]
            parts.append(np.stack([np.abs(value[use] - true[use]), np.abs(estimate - true[use])]))
        if not parts:
            continue
        errors = np.concatenate(parts, axis=1)
        cells = max(cells, errors.shape[1])
        if errors.shape[1] >= min_cells and errors[0].sum() > 0.0:
            gains.append(1.0 - float(errors[1].sum()) / float(errors[0].sum()))
    if not gains:
        return None, cells
    return max(0.0, max(gains)), cells


def _zero_detection(
    truth: pd.DataFrame, shown: pd.DataFrame, factors: Sequence[str]
) -> tuple[float | None, int]:
    """The best ROC AUC (either way round) of a published figure at telling withheld 0s."""
    labels: list[NDArray[np.bool_]] = []
    scores: dict[str, list[FloatArray]] = {"contrib": [], "prevalence": []}
    published_area = ~shown["suppressed"].astype(bool).to_numpy()
    for f in factors:
        flag = f"count_{f}_suppressed"
        if flag not in shown or f"count_{f}" not in truth:
            continue
        withheld = published_area & shown[flag].fillna(True).astype(bool).to_numpy()
        if not withheld.any():
            continue
        labels.append(pd.to_numeric(truth[f"count_{f}"]).to_numpy()[withheld] == 0)
        for kind in scores:
            column = f"{kind}_{f}"
            values = (
                pd.to_numeric(shown[column], errors="coerce").to_numpy(np.float64)[withheld]
                if column in shown
                else np.full(int(withheld.sum()), np.nan)
            )
            # a withheld figure (NaN) carries no signal: every one scores the same
            scores[kind].append(np.where(np.isfinite(values), values, _WITHHELD_SCORE))
    if not labels:
        return None, 0
    zero = np.concatenate(labels)
    cells = len(zero)
    if zero.all() or not zero.any():
        return None, cells
    best = 0.5
    for parts in scores.values():
        values = np.concatenate(parts)
        if len(np.unique(values)) > 1:
            auc = _roc_auc(zero, values)
            best = max(best, auc, 1.0 - auc)
    return best, cells


def _roc_auc(positive: NDArray[np.bool_], score: FloatArray) -> float:
    """ROC AUC as the Mann-Whitney statistic over average ranks (ties count half).

    Written out rather than taken from scikit-learn: the server imports this module with the
    disclosure rules, and reaches no model library (nor, until an attack runs, SciPy).
    """
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _judged(
    name: str,
    description: str,
    success: float | None,
    chance: float,
    limit: float,
    cells: int,
    limits: AttackLimits,
) -> AttackResult:
    judged = success is not None and cells >= limits.min_cells
    passed = not judged or (success is not None and success <= limit)
    return AttackResult(
        name=name,
        description=description,
        success=None if success is None else round(success, 4),
        chance=chance,
        limit=limit,
        cells=cells,
        judged=judged,
        passed=passed,
    )


def _aligned(
    unprotected: pd.DataFrame, published: pd.DataFrame, factors: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The unprotected rows in the published table's order (same level and code)."""
    needed = ["level", "code", "population", "expected", *(f"count_{f}" for f in factors)]
    for which, table, columns in (
        ("unprotected", unprotected, needed),
        ("published", published, [*needed, "parent_code", "suppressed"]),
    ):
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise AttackError(_MISSING.format(which=which, columns=missing))
    key = ["level", "code"]
    truth = published[key].merge(unprotected[needed], on=key, how="left", indicator=True)
    unmatched = int((truth["_merge"] != "both").sum())
    if unmatched:
        raise AttackError(_UNMATCHED.format(n=unmatched))
    return truth.drop(columns="_merge"), published.reset_index(drop=True)
