"""Fairness mitigations at the operating point in use, compared with the model, never applied.

The ethics board weighs what a fairer decision rule would cost *at the decision the product
makes*: a fixed capacity, the same number of young people as the model selects (the top
``top_fraction`` of the evaluated cohort). :func:`compare_mitigations` fits each option on one
split (``fit``, e.g. validation: ThresholdOptimizer reads all of it, ExponentiatedGradient a
sample of at most :attr:`MitigationConfig.max_rows` rows within each label, its many
regressions being the slow part) and judges every rule on the whole of another
(``evaluate``, e.g. test),
each selecting exactly that capacity:

1. *unmitigated (top k%)*: the model as it is used, the top k% of scores;
2. *ThresholdOptimizer* (Fairlearn): group-specific, possibly randomised thresholds on the
   model's own scores under the configured constraint (equalized odds or true positive rate
   parity). Fairlearn fits each group's ROC convex hull and a grid of operating points where
   the constraint holds; it would pick the point that maximises the objective (16–24%
   selected on the demo). Here the point on *Fairlearn's own grid* is taken instead whose
   expected number selected on ``fit`` is the capacity share (the smallest such point, found
   by bisection: the number selected rises along the grid), and its interpolated thresholder
   gives every evaluated young person a probability of being selected;
3. *ExponentiatedGradient* (Fairlearn): a logistic regression on the model's inputs (mean
   imputed, standardised) retrained under the same constraint, with error costs set so that
   its cut-off is the capacity's (false positive cost ``t``, false negative ``1 - t``, where
   ``t`` is the model's calibrated score at the capacity cut on ``fit``: the Bayes cut-off of
   those costs); its randomised mixture of regressions gives every evaluated young person a
   probability of being selected.

Both Fairlearn rules are randomised: they equalise the groups' rates by selecting some
people at random. So the capacity is held by the rule's own randomisation: each person is
selected at random with their probability (seeded), which selects about the capacity; then
people are dropped at random from those selected, or added at random in proportion to their
probability from those not, until exactly the capacity is selected. (Selecting the highest
probabilities instead would undo the randomisation that makes the rule fair.)

Every group big enough is constrained on its own; none is merged into another. A group is
constrained with at least :data:`MIN_GROUP_ROWS` people in ``fit``, and at least
:data:`~governance.audit.fairness.MIN_POSITIVES` with and without the outcome (Fairlearn
needs one of each; under equalized odds the weakest group's ROC curve sets every group's
rates, so a group of ten with one outcome would throw every group's selection to chance). A
group below that, or seen only in ``evaluate``, is listed in ``not_constrained`` with its
counts in ``fit``; each method's row says it could not constrain it, and its members are
decided as the model decides them (selected if in the model's top k%), so the capacity left
to the constrained groups is the capacity less those.

Every figure carries its evidence: each group's selection rate, true and false positive
rate with the exact (Clopper–Pearson) interval of :mod:`governance.audit.fairness_evidence`,
and each method's equalized-odds gap with its permutation p-value
(:func:`~governance.audit.fairness_evidence.equalized_odds_null`). A rate enters a gap only
with at least ``min_outcomes`` people in its denominator (as in :mod:`governance.audit.fairness`),
and the group :data:`MIN_GROUP_ROWS` people; others are shown with their counts and flagged.
A method that Fairlearn still cannot fit on the data gives a row of ``None`` figures with a
``note``, not an error. Everything returned is aggregates only.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.errors import Pandas4Warning
from pydantic import BaseModel

from governance.audit.arithmetic import divide, finite_or_none
from governance.audit.arrays import BoolArray, FloatArray, IntArray, Json
from governance.audit.fairness import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_OUTCOMES,
    DEFAULT_PERMUTATIONS,
    MIN_POSITIVES,
    select,
)
from governance.audit.fairness_evidence import equalized_odds_null, exact_interval, judged_rates
from governance.audit.group_performance import group_codes
from governance.contracts.errors import VruError
from governance.contracts.settings import MitigationConfig

__all__ = [
    "MIN_GROUP_ROWS",
    "MitigationConfig",
    "MitigationData",
    "MitigationError",
    "compare_mitigations",
]


MIN_GROUP_ROWS = 30

UNMITIGATED_TOP = "unmitigated (top k%)"
THRESHOLD_OPTIMIZER = "ThresholdOptimizer"
EXPONENTIATED_GRADIENT = "ExponentiatedGradient"

_NOT_DATA = "'{split}' must be a MitigationData (got {kind})"
_NOT_A_FRAME = "'{split}.x' must be a pandas DataFrame (got {kind})"
_NO_FEATURES = "'{split}.x' must have at least one column and one row; got shape {shape}"
_NOT_NUMERIC = "'{split}.x' must be numeric; columns {columns} are not"
_INFINITE = "'{split}.x' has infinite values in columns {columns}; only NaN may be missing"
_COLUMNS = "'evaluate.x' must have the columns of 'fit.x'; missing {missing}, extra {extra}"
_LENGTH = "'{split}.{name}' must be one-dimensional with one value per row of '{split}.x' ({n}); got shape {shape}"
_NOT_SERIES = "'{split}.sensitive' must be a pandas Series (got {kind})"
_NOT_BINARY = "'{split}.y' must hold only 0 and 1; {bad} of {n} values are not 0 or 1"
_ONE_CLASS = "'{split}.y' must hold both outcomes (0 and 1); all {n} values are {value}"
_NOT_NUMERIC_SCORES = "'{split}.scores' must be numeric (got dtype {dtype})"
_NOT_FINITE = "'{split}.scores' has {bad} missing or infinite values of {n}"
_NOT_PROBABILITY = "'{split}.scores' must be probabilities in [0, 1]; {bad} of {n} are not"
_BAD_FRACTION = "'top_fraction' must be greater than 0 and at most 1 (got {0!r})"
_BAD_SEED = "'seed' must be a whole number (got {0!r})"
_NOT_CONFIG = "'config' must be a MitigationConfig (got {0})"
_BAD_MIN_OUTCOMES = "'min_outcomes' must be a whole number of at least 1 (got {0!r})"
_BAD_CONFIDENCE = "'confidence' must be between 0 and 1 (got {0!r})"
_BAD_PERMUTATIONS = "'permutations' must be a whole number of at least 1 (got {0!r})"
_NOTHING_CONSTRAINED = (
    "no {attribute} group has both outcomes in the fit cohort, so none could be constrained"
)
_FAIRLEARN_INTERNALS = (
    "this Fairlearn version does not expose ThresholdOptimizer's operating-point grid "
    "(_tradeoff_curve, _x_grid), needed to hold the capacity fixed"
)

_OBJECTIVE_WORDS = {"balanced_accuracy_score": "balanced accuracy", "accuracy_score": "accuracy"}
_CONSTRAINT_WORDS = {
    "equalized_odds": (
        "true and false positive rates (how often people who did, and who did not, go on to "
        "have the outcome are selected)"
    ),
    "true_positive_rate_parity": (
        "true positive rates (how often people who go on to have the outcome are selected)"
    ),
}
_FIGURES = (
    "accuracy",
    "balanced_accuracy",
    "selection_rate",
    "tpr",
    "fpr",
    "equalized_odds_difference",
    "equalized_odds_p_value",
    "demographic_parity_difference",
    "true_positive_rate_difference",
)


class MitigationError(VruError, ValueError):
    """The data or an option given to the mitigation comparison is not usable."""


@dataclass(frozen=True)
class MitigationData:
    """One split of the rows the mitigations are fitted on or judged on.

    Attributes
    ----------
    x : pandas.DataFrame
        The model's inputs, numeric (NaN allowed: it is mean-imputed).
    y : numpy.ndarray
        Observed outcome, 0/1 (or bool), one per row of `x`.
    scores : numpy.ndarray
        The model's calibrated probabilities, one per row of `x`.
    sensitive : pandas.Series
        The group of each row for the constraint (e.g. ethnicity), aligned by position.
        Missing values are the group ``"not recorded"``.
    """

    x: pd.DataFrame
    y: NDArray[Any]
    scores: NDArray[Any]
    sensitive: pd.Series


@dataclass(frozen=True)
class _Split:
    """A checked (fit: sampled) split: labels as 0/1 ints, groups as text, the model's top k%."""

    x: pd.DataFrame
    y: IntArray
    scores: FloatArray
    groups: NDArray[np.object_]
    top: IntArray


@dataclass(frozen=True)
class _Evidence:
    """How the figures are judged: outcomes before a rate enters a gap, coverage, replicates."""

    min_outcomes: int
    confidence: float
    permutations: int
    seed: int


@dataclass(frozen=True)
class _Capacity:
    """The fixed capacity, and what is left of it for the constrained groups' members."""

    selected: int
    constrained_test: BoolArray
    left: int

    @property
    def share(self) -> float:
        """The share of the constrained groups' members the mitigations may select."""
        n = int(np.count_nonzero(self.constrained_test))
        return self.left / n if n else 0.0


def compare_mitigations(
    fit: MitigationData,
    evaluate: MitigationData,
    config: MitigationConfig,
    *,
    top_fraction: float,
    seed: int,
    withhold_below: int = 0,
    min_outcomes: int = DEFAULT_MIN_OUTCOMES,
    confidence: float = DEFAULT_CONFIDENCE,
    permutations: int = DEFAULT_PERMUTATIONS,
) -> Json:
    """Fit each mitigation on `fit`; judge it beside the model, at the model's capacity, on `evaluate`.

    Parameters
    ----------
    fit : MitigationData
        The split both mitigations are fitted on: ThresholdOptimizer on all of it,
        ExponentiatedGradient on a sample of ``config.max_rows`` rows within each label.
    evaluate : MitigationData
        The split every rule is judged on, whole. Its `x` must have the columns of `fit.x`.
    config : MitigationConfig
        Constraint, objective (Fairlearn's, for fitting), sample size and
        ExponentiatedGradient's settings.
    top_fraction : float
        The model's operating point: the top fraction of `evaluate` by score (as
        :func:`governance.audit.fairness.select`). The number it selects is the capacity
        every method selects.
    seed : int
        Seeds the sampling, the randomised ties and the permutations.
    withhold_below : int, default 0
        A group with fewer evaluated rows keeps its count and flags, with ``withheld: true``
        and its counts of outcomes and selected, rates and intervals ``None``.
    min_outcomes : int, default 30
        People a rate's denominator needs before the rate enters a gap (the gates'
        ``min_outcomes``).
    confidence : float, default 0.95
        Coverage of the exact intervals.
    permutations : int, default 2000
        Replicates of each equalized-odds gap's permutation null.

    Returns
    -------
    dict
        ``{"available": True, "constraint", "objective", "attribute", "top_fraction",
        "capacity", "capacity_method", "fit_rows", "fit_rows_sampled", "evaluated_rows",
        "confidence", "min_outcomes", "constrained_groups", "not_constrained", "rows",
        "seconds"}``. ``constrained_groups`` are those both mitigations constrained;
        ``not_constrained`` lists ``{"group", "fit_rows", "fit_outcomes", "methods"}`` for
        each group a method could not constrain (counts in the whole fit split; ``methods``
        names which). ``rows`` holds one entry per method, in the order above:
        ``{"method", "description", "selected", "accuracy", "balanced_accuracy",
        "selection_rate", "tpr", "fpr", "ci": {"selection_rate", "tpr", "fpr"},
        "equalized_odds_difference", "equalized_odds_p_value",
        "demographic_parity_difference", "true_positive_rate_difference", "not_constrained",
        "by_group": {group: {"count", "outcomes", "selected", "selection_rate", "tpr", "fpr",
        "ci", "too_small", "tpr_judged", "fpr_judged", "constrained", "withheld"}}, "note"}``.
        ``note`` is ``None`` unless the method could not be fitted, in which case its
        figures are ``None`` and the note says why.

    Raises
    ------
    MitigationError
        If a split is malformed (lengths differ, `y` is not 0/1 or has one class, scores
        are not finite probabilities, `x` is not numeric or has infinities, the splits'
        columns differ), or `top_fraction`, `seed`, `config`, `min_outcomes`, `confidence`
        or `permutations` is not valid.
    """
    start = time.perf_counter()
    _check_options(config, top_fraction, seed)
    evidence = _check_evidence(min_outcomes, confidence, permutations, seed)
    columns = _shared_columns(fit, evaluate)

    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    fit_stream, tie_stream = np.random.SeedSequence(int(seed)).spawn(2)
    # ThresholdOptimizer reads the whole fit split (its ROC curves are cheap, and noisy on a
    # sample's few outcomes per group); ExponentiatedGradient's many regressions a sample
    whole = _sample(fit, columns, top_fraction, len(fit.y), fit_stream)
    train = _sample(fit, columns, top_fraction, config.max_rows, fit_stream)
    # the evaluated split is judged whole (a maximum of its own length draws nothing)
    test = _sample(evaluate, columns, top_fraction, len(evaluate.y), fit_stream)
    plans = {
        THRESHOLD_OPTIMIZER: _plan(whole, test),
        EXPONENTIATED_GRADIENT: _plan(train, test),
    }
    decisions = _decisions(whole, train, test, plans, config, seed, tie_stream)
    descriptions = _descriptions(config, top_fraction)
    # One BLAS thread: the many small regressions of ExponentiatedGradient run ten times
    # faster on one thread than on two contended ones (and the result is the same).
    with threadpool_limits(limits=1):
        rows = [
            _row(method, descriptions[method], test, decide, evidence, plans.get(method))
            for method, decide in decisions.items()
        ]
    _mark_withheld(rows, withhold_below)
    not_constrained = _not_constrained(whole, test, plans, withhold_below)
    for row in rows:
        row["not_constrained"] = [
            g["group"] for g in not_constrained if row["method"] in g["methods"]
        ]
    return {
        "available": True,
        "constraint": config.constraint,
        "objective": config.objective,
        "attribute": config.attribute,
        "top_fraction": float(top_fraction),
        "capacity": int(test.top.sum()),
        "capacity_method": _capacity_method([g["group"] for g in not_constrained]),
        "fit_rows": len(whole.y),
        "fit_rows_sampled": len(train.y),
        "evaluated_rows": len(test.y),
        "confidence": float(confidence),
        "min_outcomes": int(min_outcomes),
        "constrained_groups": sorted(
            plans[THRESHOLD_OPTIMIZER].constrained & plans[EXPONENTIATED_GRADIENT].constrained
        ),
        "not_constrained": not_constrained,
        "rows": rows,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _capacity_method(unconstrained: list[str]) -> str:
    """How the capacity is held fixed, in words, for the report."""
    said = (
        "Every option selects exactly as many young people as the model does at its operating "
        "point. ThresholdOptimizer: the point on Fairlearn's own grid of constrained operating "
        "points that selects that share of the fit cohort. ExponentiatedGradient: error costs "
        "whose cut-off is the model's score at that share. Each rule then selects each young "
        "person at random with the probability it gives them (seeded), and a handful are "
        "dropped, or added, at random until exactly that number is selected."
    )
    if unconstrained:
        said += (
            f" Groups too small for an option to constrain (in the fit rows it read, fewer "
            f"than {MIN_GROUP_ROWS} young people or fewer than {MIN_POSITIVES} with or without "
            "the outcome): "
            + ", ".join(unconstrained)
            + "; their members are decided as the model decides them."
        )
    return said


@dataclass(frozen=True)
class _Plan:
    """One mitigation's constrained groups and the capacity left to their members."""

    constrained: frozenset[str]
    capacity: _Capacity


def _plan(fitted: _Split, test: _Split) -> _Plan:
    """The groups constrainable in `fitted`, and the capacity left to their `test` members."""
    constrained = _constrainable(fitted)
    on_test = np.isin(test.groups, list(constrained))
    selected = int(test.top.sum())
    return _Plan(
        constrained,
        _Capacity(selected, on_test, selected - int(test.top[~on_test].sum())),
    )


def _not_constrained(
    whole: _Split, test: _Split, plans: dict[str, _Plan], withhold_below: int
) -> list[Json]:
    """Each group some method could not constrain: its counts in the fit split, and which."""
    names = sorted(set(whole.groups.astype(str)) | set(test.groups.astype(str)))
    listed = []
    for name in names:
        methods = [m for m, plan in plans.items() if name not in plan.constrained]
        if not methods:
            continue
        member = whole.groups.astype(str) == name
        rows, outcomes = int(np.count_nonzero(member)), int(whole.y[member].sum())
        listed.append(
            {
                "group": name,
                "fit_rows": rows,
                # disclosure control, as for the evaluated groups
                "fit_outcomes": None if rows < withhold_below else outcomes,
                "methods": methods,
            }
        )
    return listed


def _decisions(
    whole: _Split,
    train: _Split,
    test: _Split,
    plans: dict[str, _Plan],
    config: MitigationConfig,
    seed: int,
    ties: np.random.SeedSequence,
) -> dict[str, Callable[[], IntArray]]:
    """Each method's decision on `test` at the capacity, fitted when it is called.

    ThresholdOptimizer is fitted on the whole fit split, ExponentiatedGradient on `train`,
    its sample.
    """

    def at_capacity(
        method: str, probability: Callable[[_Plan], FloatArray], stream: np.random.SeedSequence
    ) -> IntArray:
        plan = plans[method]
        if not plan.constrained:
            raise ValueError(_NOTHING_CONSTRAINED.format(attribute=config.attribute))
        p = probability(plan)
        return _take(test.top, plan.capacity, p, np.random.default_rng(stream))

    optimizer_draws, reduction_draws = ties.spawn(2)
    return {
        UNMITIGATED_TOP: lambda: test.top,
        THRESHOLD_OPTIMIZER: lambda: at_capacity(
            THRESHOLD_OPTIMIZER,
            lambda plan: _threshold_optimizer(whole, test, plan.constrained, plan.capacity, config),
            optimizer_draws,
        ),
        EXPONENTIATED_GRADIENT: lambda: at_capacity(
            EXPONENTIATED_GRADIENT,
            lambda plan: _exponentiated_gradient(
                train, test, plan.constrained, plan.capacity, config, seed
            ),
            reduction_draws,
        ),
    }


def _take(
    top: IntArray, capacity: _Capacity, probability: FloatArray, rng: np.random.Generator
) -> IntArray:
    """Exactly the capacity: unconstrained groups as the model decides, the rest by the rule.

    Each constrained group's member is selected with the `probability` the rule gives them
    (the rule's own randomisation, seeded), which selects about ``capacity.left`` of them;
    then people are dropped at random from those selected, or added at random from those not
    selected in proportion to their probability, until exactly ``capacity.left`` are. Both
    corrections are a handful of people and keep each group's rates as the rule sets them.
    """
    chosen = np.where(capacity.constrained_test, 0, top).astype(np.int64)
    members = np.flatnonzero(capacity.constrained_test)
    p = np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0)
    drawn = rng.random(len(p)) < p
    excess = int(np.count_nonzero(drawn)) - capacity.left
    if excess > 0:
        drawn[rng.choice(np.flatnonzero(drawn), size=excess, replace=False)] = False
    elif excess < 0:
        drawn[_add(np.flatnonzero(~drawn), p, -excess, rng)] = True
    chosen[members[drawn]] = 1
    return chosen


def _add(candidates: IntArray, p: FloatArray, wanted: int, rng: np.random.Generator) -> IntArray:
    """`wanted` of `candidates`, at random in proportion to `p` (uniformly once those run out)."""
    weights = p[candidates]
    likely = candidates[weights > 0]
    if len(likely) >= wanted:
        share = weights[weights > 0] / weights[weights > 0].sum()
        return np.asarray(rng.choice(likely, size=wanted, replace=False, p=share))
    rest = candidates[weights <= 0]
    return np.concatenate([likely, rng.choice(rest, size=wanted - len(likely), replace=False)])


def _check_options(config: MitigationConfig, top_fraction: float, seed: int) -> None:
    """Refuse a config that is not a MitigationConfig, a fraction outside (0, 1], a bad seed."""
    if not isinstance(config, BaseModel):
        raise MitigationError(_NOT_CONFIG.format(type(config).__name__))
    if isinstance(top_fraction, bool) or not (
        isinstance(top_fraction, int | float) and math.isfinite(top_fraction)
    ):
        raise MitigationError(_BAD_FRACTION.format(top_fraction))
    if not 0 < top_fraction <= 1:
        raise MitigationError(_BAD_FRACTION.format(top_fraction))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise MitigationError(_BAD_SEED.format(seed))


def _check_evidence(
    min_outcomes: int, confidence: float, permutations: int, seed: int
) -> _Evidence:
    """Refuse a judging rule, coverage or number of replicates that cannot be used."""
    whole = (int, np.integer)
    if isinstance(min_outcomes, bool) or not isinstance(min_outcomes, whole) or min_outcomes < 1:
        raise MitigationError(_BAD_MIN_OUTCOMES.format(min_outcomes))
    if isinstance(confidence, bool) or not (
        isinstance(confidence, int | float) and 0 < confidence < 1
    ):
        raise MitigationError(_BAD_CONFIDENCE.format(confidence))
    if isinstance(permutations, bool) or not isinstance(permutations, whole) or permutations < 1:
        raise MitigationError(_BAD_PERMUTATIONS.format(permutations))
    return _Evidence(int(min_outcomes), float(confidence), int(permutations), int(seed))


def _shared_columns(fit: MitigationData, evaluate: MitigationData) -> list[str]:
    """Check both splits; the fit split's columns, refused unless the other has exactly these."""
    _check(fit, "fit")
    _check(evaluate, "evaluate")
    columns = list(fit.x.columns)
    missing = [str(c) for c in columns if c not in evaluate.x.columns]
    extra = [str(c) for c in evaluate.x.columns if c not in fit.x.columns]
    if missing or extra:
        raise MitigationError(_COLUMNS.format(missing=missing, extra=extra))
    return columns


def _mark_withheld(rows: list[Json], withhold_below: int) -> None:
    """Flag each method's groups below `withhold_below` rows ``withheld``; blank their figures."""
    for row in rows:
        for group in (row.get("by_group") or {}).values():
            group["withheld"] = group["count"] < withhold_below
            if group["withheld"]:
                group.update(outcomes=None, selected=None, selection_rate=None, tpr=None, fpr=None)
                group["ci"] = {m: [None, None] for m in group["ci"]}


def _descriptions(config: MitigationConfig, top_fraction: float) -> dict[str, str]:
    """One plain-English sentence per method, for the board."""
    attribute = config.attribute
    constraint = _CONSTRAINT_WORDS[config.constraint]
    share = f"{100 * top_fraction:g}%"
    return {
        UNMITIGATED_TOP: (
            f"The model as it would be used: the {share} of young people with the highest risk "
            "scores are selected, with no adjustment for fairness."
        ),
        THRESHOLD_OPTIMIZER: (
            f"The same risk scores with a separate cut-off for each {attribute} group "
            f"(sometimes chosen at random between two), set so that the groups' {constraint} "
            f"are equal on the fit cohort while selecting the same number as the model; using "
            f"it would mean using each young person's {attribute} when deciding."
        ),
        EXPONENTIATED_GRADIENT: (
            f"A simpler model (a logistic regression on the same information) retrained so "
            f"that the {attribute} groups' {constraint} differ by no more than "
            f"{config.eps:g} on the fit cohort, selecting the same number as the model."
        ),
    }


# --------------------------------------------------------------------------------------------
# the two Fairlearn mitigations


def _score_estimator() -> Any:
    """A fitted 'classifier' whose probability of 1 is column 0 of X: the model's score.

    ThresholdOptimizer(prefit=True) only reads the estimator's ``predict_proba``; it checks
    that the estimator is fitted with scikit-learn's ``check_is_fitted``, which needs a
    ``fit`` method, the tags ``BaseEstimator`` provides and ``__sklearn_is_fitted__``.
    Defined here so that importing this module does not import scikit-learn.
    """
    from sklearn.base import BaseEstimator, ClassifierMixin

    class ScoreColumn(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
        """Column 0 of X as the probability of the positive class."""

        classes_ = np.array([0, 1])

        def fit(self, x: Any, y: Any) -> ScoreColumn:
            """Do nothing: the scores are already fitted."""
            return self

        def predict_proba(self, x: Any) -> FloatArray:
            """``[1 - score, score]`` per row."""
            s = np.asarray(x, dtype=np.float64)[:, 0]
            return np.column_stack([1.0 - s, s])

        def predict(self, x: Any) -> IntArray:
            """1 where the score is at least 0.5 (not used by ThresholdOptimizer)."""
            return np.asarray(np.asarray(x, dtype=np.float64)[:, 0] >= 0.5, dtype=np.int64)

        def __sklearn_is_fitted__(self) -> bool:
            return True

    return ScoreColumn()


def _threshold_optimizer(
    train: _Split,
    test: _Split,
    constrained: frozenset[str],
    capacity: _Capacity,
    config: MitigationConfig,
) -> FloatArray:
    """Each constrained test member's probability of selection under Fairlearn's rule at capacity.

    Fairlearn's ThresholdOptimizer is fitted on the constrained groups of `train` as
    configured; its grid of operating points where the constraint holds is then walked to
    the smallest point whose expected number selected on `train` reaches the capacity share.
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    keep = np.isin(train.groups, list(constrained))
    scores, groups = train.scores[keep].reshape(-1, 1), train.groups[keep]
    optimizer = ThresholdOptimizer(
        estimator=_score_estimator(),
        constraints=config.constraint,
        objective=config.objective,
        prefit=True,
        predict_method="predict_proba",
    )
    optimizer.fit(scores, train.y[keep], sensitive_features=groups)
    if not all(hasattr(optimizer, a) for a in ("_tradeoff_curve", "_x_grid")):
        raise ValueError(_FAIRLEARN_INTERNALS)
    wanted = capacity.share * len(groups)

    def expected(i: int) -> float:
        rule = _operating_point(optimizer, i, config.constraint)
        return float(rule._pmf_predict(scores, sensitive_features=groups)[:, 1].sum())

    low, high = 0, len(optimizer._x_grid) - 1
    while low < high:  # the smallest grid point selecting at least the capacity share
        middle = (low + high) // 2
        if expected(middle) >= wanted:
            high = middle
        else:
            low = middle + 1
    rule = _operating_point(optimizer, low, config.constraint)
    members = capacity.constrained_test
    probability = rule._pmf_predict(
        test.scores[members].reshape(-1, 1), sensitive_features=test.groups[members]
    )[:, 1]
    return np.asarray(probability, dtype=np.float64)


def _operating_point(optimizer: Any, i: int, constraint: str) -> Any:
    """Fairlearn's interpolated thresholder at point `i` of the fitted optimizer's grid.

    The same construction as ``ThresholdOptimizer`` makes at the point that maximises its
    objective (Fairlearn 0.15, ``_threshold_optimization_for_equalized_odds`` and
    ``_for_simple_constraints``), at another point of the same grid. For equalized odds each
    group's point on its ROC hull is mixed with a constant prediction (``p_ignore``) so that
    every group's true positive rate is the lowest of the groups' at that false positive rate.
    """
    from fairlearn.postprocessing._interpolated_thresholder import InterpolatedThresholder
    from sklearn.utils import Bunch

    interpolation = {}
    for group, curve in optimizer._tradeoff_curve.items():
        point = curve.iloc[i]
        rule = Bunch(
            p0=point.p0, operation0=point.operation0, p1=point.p1, operation1=point.operation1
        )
        if constraint == "equalized_odds":
            lowest = float(optimizer._y_min.iloc[i])
            rule.p_ignore = 0.0 if point.y == point.x else (point.y - lowest) / (point.y - point.x)
            rule.prediction_constant = float(optimizer._x_grid[i])
        interpolation[group] = rule
    return InterpolatedThresholder(
        optimizer.estimator_, interpolation, prefit=True, predict_method="predict_proba"
    ).fit(None, None)


def _exponentiated_gradient(
    train: _Split,
    test: _Split,
    constrained: frozenset[str],
    capacity: _Capacity,
    config: MitigationConfig,
    seed: int,
) -> FloatArray:
    """The reduction's probability of selecting each constrained member of `test`.

    The probability its randomised mixture of regressions selects them (Fairlearn's
    ``_pmf_predict``, what ``predict`` draws from). The reduction is fitted on the
    constrained groups of `train` with costs whose Bayes cut-off is the model's score at the
    capacity.
    """
    from fairlearn.reductions import (
        EqualizedOdds,
        ErrorRate,
        ExponentiatedGradient,
        TruePositiveRateParity,
    )
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    keep = np.isin(train.groups, list(constrained))
    x, y = train.x.loc[keep], train.y[keep]
    # inputs prepared once, outside the reduction: ExponentiatedGradient passes sample_weight
    # to fit, which a Pipeline would not route to the regression
    prepare = make_pipeline(
        SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler()
    ).fit(x)
    cut = _capacity_cut(train.scores[keep], capacity.share)
    # a person is worth selecting when p·cost(fn) > (1 - p)·cost(fp), i.e. p > cut
    costs = {"fp": cut, "fn": 1.0 - cut}
    reduction = ExponentiatedGradient(
        LogisticRegression(max_iter=200, random_state=int(seed)),
        constraints=EqualizedOdds()
        if config.constraint == "equalized_odds"
        else TruePositiveRateParity(),
        objective=ErrorRate(costs=costs),
        eps=config.eps,
        max_iter=config.exponentiated_gradient_max_iter,
    )
    with warnings.catch_warnings():
        # The reduction fits the regression to many reweighted copies of the data; on some
        # weightings lbfgs stops at max_iter a little short of its tolerance. Each fit is
        # one candidate of a randomised mixture, so the small shortfall is harmless.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        # Fairlearn 0.15's moments grow a Series with .at on a new key and set bools into
        # a float Series, idioms pandas 3 deprecates for pandas 4; the values are correct.
        warnings.filterwarnings("ignore", category=Pandas4Warning, module=r"fairlearn\.")
        reduction.fit(prepare.transform(x), y, sensitive_features=train.groups[keep])
    inputs = prepare.transform(test.x.loc[capacity.constrained_test])
    return np.asarray(reduction._pmf_predict(inputs)[:, 1], dtype=np.float64)


def _capacity_cut(scores: FloatArray, share: float) -> float:
    """The score at which the top `share` of these rows is cut (kept inside (0, 1))."""
    k = min(max(math.floor(share * len(scores) + 0.5), 1), len(scores))
    cut = float(np.sort(scores)[::-1][k - 1])
    return min(max(cut, 1e-6), 1.0 - 1e-6)


# --------------------------------------------------------------------------------------------
# the figures of one rule


def _row(
    method: str,
    description: str,
    test: _Split,
    decide: Callable[[], IntArray],
    evidence: _Evidence,
    plan: _Plan | None,
) -> Json:
    """One method's figures on `test`; if Fairlearn cannot fit it here, a note instead.

    `plan` is the method's constrained groups (None: the unmitigated model constrains none).
    """
    try:
        predicted = decide()
    except (ValueError, ArithmeticError, LookupError, np.linalg.LinAlgError) as err:
        if isinstance(err, VruError):
            raise
        return {
            "method": method,
            "description": description,
            "selected": None,
            **dict.fromkeys(_FIGURES),
            "ci": {key: [None, None] for key in ("selection_rate", "tpr", "fpr")},
            "not_constrained": [],
            "by_group": {},
            "note": f"Could not be fitted on these data ({type(err).__name__}: {err}).",
        }
    figures = _figures(test, predicted, evidence)
    constrained = plan.constrained if plan is not None else frozenset()
    for name, group in figures["by_group"].items():
        group["constrained"] = name in constrained
    return {"method": method, "description": description, **figures}


def _figures(test: _Split, predicted: IntArray, evidence: _Evidence) -> Json:
    """Accuracy, rates with exact intervals and gaps with p-values, overall and by group.

    Computed from each group's four confusion cells; the equalized odds difference is the
    larger of the ranges of the judged true and false positive rates (as
    :func:`fairlearn.metrics.equalized_odds_difference` when every rate is judged), and its
    p-value is the permutation null's. The demographic parity difference is the range of
    selection rates over the groups not too small.
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    y = test.y
    names, codes = np.unique(test.groups.astype(str), return_inverse=True)
    size = len(names)
    p = np.asarray(predicted, dtype=np.int64)
    cells = {
        "tp": np.bincount(codes, weights=y * p, minlength=size),
        "fp": np.bincount(codes, weights=(1 - y) * p, minlength=size),
        "fn": np.bincount(codes, weights=y * (1 - p), minlength=size),
        "tn": np.bincount(codes, weights=(1 - y) * (1 - p), minlength=size),
    }
    joint = pd.DataFrame({k: v.astype(np.int64) for k, v in cells.items()})
    tp, fp, fn, tn = (joint[c].to_numpy(np.int64) for c in ("tp", "fp", "fn", "tn"))
    n, positives, chosen = tp + fp + fn + tn, tp + fn, tp + fp
    rates = {
        "selection_rate": (chosen, n),
        "tpr": (tp, positives),
        "fpr": (fp, n - positives),
    }
    values = {m: divide(k, d) for m, (k, d) in rates.items()}
    bounds = {m: exact_interval(k, d, evidence.confidence) for m, (k, d) in rates.items()}
    tpr_judged, fpr_judged = judged_rates(n, positives, MIN_GROUP_ROWS, evidence.min_outcomes)
    small = (n < MIN_GROUP_ROWS) | (positives < MIN_POSITIVES)
    tpr_gap = _spread(values["tpr"], tpr_judged)
    fpr_gap = _spread(values["fpr"], fpr_judged)
    p_value = equalized_odds_null(
        joint,
        {"group": np.arange(size, dtype=np.intp)},
        min_group_size=MIN_GROUP_ROWS,
        min_outcomes=evidence.min_outcomes,
        permutations=evidence.permutations,
        seed=evidence.seed,
    )["group"]
    by_group = {
        str(name): {
            "count": int(n[i]),
            "outcomes": int(positives[i]),
            "selected": int(chosen[i]),
            **{m: finite_or_none(values[m][i]) for m in rates},
            "ci": {m: _bounds(bounds[m], i) for m in rates},
            "too_small": bool(small[i]),
            "tpr_judged": bool(tpr_judged[i]),
            "fpr_judged": bool(fpr_judged[i]),
        }
        for i, name in enumerate(names)
    }
    total = (chosen.sum(), n.sum())
    overall = {
        "selection_rate": total,
        "tpr": (tp.sum(), positives.sum()),
        "fpr": (fp.sum(), (n - positives).sum()),
    }
    overall_bounds = {
        m: exact_interval(np.array([k]), np.array([d]), evidence.confidence)
        for m, (k, d) in overall.items()
    }
    return {
        "selected": int(chosen.sum()),
        "accuracy": finite_or_none(accuracy_score(y, p)),
        "balanced_accuracy": finite_or_none(balanced_accuracy_score(y, p)),
        **{m: finite_or_none(divide(k, d)) for m, (k, d) in overall.items()},
        "ci": {m: _bounds(b, 0) for m, b in overall_bounds.items()},
        "equalized_odds_difference": None
        if tpr_gap is None and fpr_gap is None
        else max(g for g in (tpr_gap, fpr_gap) if g is not None),
        "equalized_odds_p_value": p_value,
        "demographic_parity_difference": _spread(values["selection_rate"], ~small),
        "true_positive_rate_difference": tpr_gap,
        "not_constrained": [],
        "by_group": by_group,
        "note": None,
    }


def _spread(values: FloatArray, eligible: BoolArray) -> float | None:
    """Max minus min of the eligible groups' values; None with fewer than two."""
    chosen = np.asarray(values)[np.asarray(eligible, dtype=np.bool_)]
    chosen = chosen[np.isfinite(chosen)]
    if len(chosen) < 2:
        return None
    return finite_or_none(chosen.max() - chosen.min())


def _bounds(interval: tuple[FloatArray, FloatArray], i: int) -> list[float | None]:
    low, high = interval
    return [finite_or_none(np.asarray(low)[i]), finite_or_none(np.asarray(high)[i])]


# --------------------------------------------------------------------------------------------
# inputs, sampling, groups


def _check(data: MitigationData, split: str) -> None:
    """Refuse a split that cannot be used, naming the split, the field and the problem."""
    if not isinstance(data, MitigationData):
        raise MitigationError(_NOT_DATA.format(split=split, kind=type(data).__name__))
    x = data.x
    if not isinstance(x, pd.DataFrame):
        raise MitigationError(_NOT_A_FRAME.format(split=split, kind=type(x).__name__))
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise MitigationError(_NO_FEATURES.format(split=split, shape=x.shape))
    not_numeric = [
        str(c)
        for c, dtype in x.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ]
    if not_numeric:
        raise MitigationError(_NOT_NUMERIC.format(split=split, columns=not_numeric))
    values = x.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = [
        str(c) for c, bad in zip(x.columns, np.isinf(values).any(axis=0), strict=True) if bad
    ]
    if infinite:
        raise MitigationError(_INFINITE.format(split=split, columns=infinite))
    n = len(x)
    if not isinstance(data.sensitive, pd.Series):
        raise MitigationError(_NOT_SERIES.format(split=split, kind=type(data.sensitive).__name__))
    for name, field in (("y", data.y), ("scores", data.scores), ("sensitive", data.sensitive)):
        shape = np.shape(field)
        if len(shape) != 1 or shape[0] != n:
            raise MitigationError(_LENGTH.format(split=split, name=name, n=n, shape=shape))
    y = np.asarray(data.y)
    if y.dtype != np.bool_:
        bad = int(np.count_nonzero(~np.isin(y, [0, 1])))
        if bad:
            raise MitigationError(_NOT_BINARY.format(split=split, bad=bad, n=n))
    ones = int(np.count_nonzero(y == 1))
    if ones in (0, n):
        raise MitigationError(_ONE_CLASS.format(split=split, n=n, value=int(ones == n)))
    scores = np.asarray(data.scores)
    if not (np.issubdtype(scores.dtype, np.number) or scores.dtype == np.bool_):
        raise MitigationError(_NOT_NUMERIC_SCORES.format(split=split, dtype=scores.dtype))
    s = scores.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(s)))
    if bad:
        raise MitigationError(_NOT_FINITE.format(split=split, bad=bad, n=n))
    outside = int(np.count_nonzero((s < 0) | (s > 1)))
    if outside:
        raise MitigationError(_NOT_PROBABILITY.format(split=split, bad=outside, n=n))


def _sample(
    data: MitigationData,
    columns: list[Any],
    top_fraction: float,
    max_rows: int,
    stream: np.random.SeedSequence,
) -> _Split:
    """At most `max_rows` rows, drawn within each label in proportion; the order is kept.

    The model's decision (top fraction) is taken on the whole split first, so a sampled row
    keeps the decision the model would make for that person.
    """
    y = np.asarray(np.asarray(data.y) == 1, dtype=np.int64)
    scores = np.asarray(data.scores, dtype=np.float64)
    top = np.asarray(select(scores, top_fraction=top_fraction), dtype=np.int64)
    codes, names = group_codes(pd.DataFrame({"group": data.sensitive.to_numpy()}))["group"]
    groups = np.asarray(names, dtype=object)[codes]
    n = len(y)
    rows = np.arange(n)
    if n > max_rows:
        rng = np.random.default_rng(stream)
        positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        take = min(max(1, round(len(positives) * max_rows / n)), max_rows - 1)
        rows = np.sort(
            np.concatenate(
                [
                    rng.choice(positives, size=take, replace=False),
                    rng.choice(negatives, size=max_rows - take, replace=False),
                ]
            )
        )
    x = data.x.iloc[rows][columns].reset_index(drop=True)
    return _Split(x.astype(np.float64), y[rows], scores[rows], groups[rows], top[rows])


def _constrainable(train: _Split) -> frozenset[str]:
    """The groups Fairlearn can constrain on `train`.

    Fairlearn needs, in each group it constrains, someone with the outcome and someone
    without (a group with only one outcome has no ROC curve: ThresholdOptimizer refuses it
    as "degenerate labels"). That is not enough to set a threshold worth having: a group of
    ten with one outcome has an ROC curve of one step, and under equalized odds the lowest
    curve of all the groups sets everyone's rates, so one such group would throw every
    group's selection to chance. A group is constrained with at least
    :data:`MIN_GROUP_ROWS` people and :data:`~governance.audit.fairness.MIN_POSITIVES` with
    and without the outcome in `train` (the fairness section's "too small" rule); the others,
    and any group seen only in `test`, are listed with their counts and decided as the model
    decides them, never merged into another group.
    """
    table = pd.DataFrame({"group": train.groups.astype(str), "y": train.y})
    stats = table.groupby("group", sort=True)["y"].agg(["size", "sum"])
    enough = (
        (stats["size"] >= MIN_GROUP_ROWS)
        & (stats["sum"] >= MIN_POSITIVES)
        & (stats["size"] - stats["sum"] >= MIN_POSITIVES)
    )
    return frozenset(str(g) for g in stats.index[enough])
