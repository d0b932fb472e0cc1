"""Fairness mitigations, compared with the model and never applied to it.

The ethics board weighs what a fairer decision rule would cost. :func:`compare_mitigations`
fits each option on one split (``fit``, e.g. validation) and judges every rule on another
(``evaluate``, e.g. test), beside the model's own decision:

1. *unmitigated (top k%)*: the model as it is used, the top k% of scores;
2. *unmitigated (best single threshold)*: one threshold on the score, chosen on ``fit`` to
   maximise the configured objective (balanced accuracy by default). The mitigated rules
   optimise the same objective, so this, not the top k%, is their fair yardstick;
3. *ThresholdOptimizer* (Fairlearn): group-specific, possibly randomised thresholds on the
   model's own scores, chosen under the configured constraint (equalized odds or true
   positive rate parity);
4. *ExponentiatedGradient* (Fairlearn): a logistic regression on the model's inputs (mean
   imputed, standardised) retrained under the same constraint, with the objective's costs.

The rows are a sample of at most :attr:`MitigationConfig.max_rows` of each split, drawn
within each label so the outcome rate is kept. Every figure is computed on ``evaluate`` with
:mod:`fairlearn.metrics`; the disparities are taken over the groups that are large enough to
judge there (as :mod:`governance.audit.fairness` does, at least :data:`MIN_GROUP_ROWS` rows and
:data:`governance.fairness.MIN_POSITIVES` positives), while ``by_group`` lists every group
with a ``too_small`` flag.

Small groups. Fairlearn cannot set a threshold for a group without (enough) outcomes of both
kinds: a group with fewer than :data:`MIN_GROUP_ROWS` rows, or fewer than ``MIN_POSITIVES``
positives or negatives, in ``fit`` (or one absent from ``fit``) is constrained as part of
one group, ``"other (small groups)"``. If that group is itself too small, it is constrained
with the largest group instead; both are reported (``merged_small_groups``,
``small_groups_folded_into``). A method that Fairlearn still cannot fit on the data gives a
row of ``None`` figures with a ``note``, not an error. Everything returned is aggregates only.
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

from governance.audit.arithmetic import finite_or_none
from governance.audit.arrays import FloatArray, IntArray, Json
from governance.audit.fairness import MIN_POSITIVES, select
from governance.audit.group_performance import group_codes
from governance.contracts.errors import VruError
from governance.contracts.settings import MitigationConfig

__all__ = [
    "MIN_GROUP_ROWS",
    "SMALL_GROUPS",
    "MitigationConfig",
    "MitigationData",
    "MitigationError",
    "compare_mitigations",
]


MIN_GROUP_ROWS = 30
SMALL_GROUPS = "other (small groups)"

UNMITIGATED_TOP = "unmitigated (top k%)"
UNMITIGATED_BEST = "unmitigated (best single threshold)"
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

_OBJECTIVE_WORDS = {"balanced_accuracy_score": "balanced accuracy", "accuracy_score": "accuracy"}
_CONSTRAINT_WORDS = {
    "equalized_odds": (
        "true and false positive rates (how often people who did, and who did not, go on to "
        "have the outcome are flagged)"
    ),
    "true_positive_rate_parity": (
        "true positive rates (how often people who go on to have the outcome are flagged)"
    ),
}


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
    """A checked, sampled split: labels as 0/1 ints, groups as text, decision at top k%."""

    x: pd.DataFrame
    y: IntArray
    scores: FloatArray
    groups: NDArray[np.object_]
    top: IntArray


def compare_mitigations(
    fit: MitigationData,
    evaluate: MitigationData,
    config: MitigationConfig,
    *,
    top_fraction: float,
    seed: int,
    withhold_below: int = 0,
) -> Json:
    """Fit each mitigation on `fit` and judge it, beside the model's own rules, on `evaluate`.

    Parameters
    ----------
    fit : MitigationData
        The split the single threshold and both mitigations are fitted on.
    evaluate : MitigationData
        The split every rule is judged on. Its `x` must have the columns of `fit.x`.
    config : MitigationConfig
        Constraint, objective, sample size and ExponentiatedGradient's settings.
    top_fraction : float
        The model's operating point: the top fraction of `evaluate` by score (before
        sampling, as :func:`governance.fairness.select`) is the model's own decision.
    seed : int
        Seeds the sampling and the randomised predictions; the same seed gives the same result.
    withhold_below : int, default 0
        A group with fewer evaluated rows keeps its count and flags, with ``withheld: true``
        and its rates ``None`` (disclosure control, as in :mod:`governance.audit.fairness`).

    Returns
    -------
    dict
        ``{"available": True, "constraint", "objective", "attribute", "top_fraction",
        "fit_rows", "evaluated_rows", "merged_small_groups", "small_groups_folded_into",
        "rows", "seconds"}``. ``rows`` holds one entry per method, in the order above:
        ``{"method", "description", "accuracy", "balanced_accuracy", "selection_rate",
        "tpr", "fpr", "equalized_odds_difference", "demographic_parity_difference",
        "true_positive_rate_difference", "by_group": {group: {"count", "selection_rate",
        "tpr", "fpr", "too_small"}}, "note"}``. ``note`` is ``None`` unless the method could
        not be fitted, in which case its figures are ``None`` and the note says why.

    Raises
    ------
    MitigationError
        If a split is malformed (lengths differ, `y` is not 0/1 or has one class, scores
        are not finite probabilities, `x` is not numeric or has infinities, the splits'
        columns differ), or `top_fraction`, `seed` or `config` is not valid.
    """
    start = time.perf_counter()
    _check_options(config, top_fraction, seed)
    columns = _shared_columns(fit, evaluate)

    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    fit_stream, evaluate_stream = np.random.SeedSequence(int(seed)).spawn(2)
    train = _sample(fit, columns, top_fraction, config.max_rows, fit_stream)
    test = _sample(evaluate, columns, top_fraction, config.max_rows, evaluate_stream)
    constraint = _ConstraintGroups.from_fit(train)
    decisions = _decisions(train, test, constraint, config, seed)
    descriptions = _descriptions(config, top_fraction)
    # One BLAS thread: the many small regressions of ExponentiatedGradient run ten times
    # faster on one thread than on two contended ones (and the result is the same).
    with threadpool_limits(limits=1):
        rows = [
            _row(method, descriptions[method], test, decide) for method, decide in decisions.items()
        ]
    _mark_withheld(rows, withhold_below)
    return {
        "available": True,
        "constraint": config.constraint,
        "objective": config.objective,
        "attribute": config.attribute,
        "top_fraction": float(top_fraction),
        "fit_rows": len(train.y),
        "evaluated_rows": len(test.y),
        "merged_small_groups": constraint.merged(train.groups, test.groups),
        "small_groups_folded_into": constraint.folded_into,
        "rows": rows,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _decisions(
    train: _Split,
    test: _Split,
    constraint: _ConstraintGroups,
    config: MitigationConfig,
    seed: int,
) -> dict[str, Callable[[], IntArray]]:
    """Each method's decision on `test`, fitted on `train` when it is called."""
    fit_groups, test_groups = constraint.label(train.groups), constraint.label(test.groups)
    threshold = _best_threshold(train.y, train.scores, config.objective)
    return {
        UNMITIGATED_TOP: lambda: test.top,
        UNMITIGATED_BEST: lambda: np.asarray(test.scores >= threshold, dtype=np.int64),
        THRESHOLD_OPTIMIZER: lambda: _threshold_optimizer(
            train, test, fit_groups, test_groups, config, seed
        ),
        EXPONENTIATED_GRADIENT: lambda: _exponentiated_gradient(
            train, test, fit_groups, config, seed
        ),
    }


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
    """Flag each method's groups below `withhold_below` rows ``withheld``; blank their rates."""
    for row in rows:
        for group in (row.get("by_group") or {}).values():
            group["withheld"] = group["count"] < withhold_below
            if group["withheld"]:
                group.update(selection_rate=None, tpr=None, fpr=None)


def _descriptions(config: MitigationConfig, top_fraction: float) -> dict[str, str]:
    """One plain-English sentence per method, for the board."""
    attribute, objective = config.attribute, _OBJECTIVE_WORDS[config.objective]
    constraint = _CONSTRAINT_WORDS[config.constraint]
    return {
        UNMITIGATED_TOP: (
            f"The model as it would be used: the {100 * top_fraction:g}% of young people with "
            "the highest risk scores are selected, with no adjustment for fairness."
        ),
        UNMITIGATED_BEST: (
            f"The model with one score cut-off for everyone, chosen for the best {objective}; "
            "it is the fair yardstick for the two fairer options below, which aim for the same."
        ),
        THRESHOLD_OPTIMIZER: (
            f"The same risk scores with a separate cut-off for each {attribute} group "
            f"(sometimes chosen at random between two), set for the best {objective} that "
            f"keeps the groups' {constraint} equal; using it would mean using each young "
            f"person's {attribute} when deciding."
        ),
        EXPONENTIATED_GRADIENT: (
            f"A simpler model (a logistic regression on the same information) retrained so "
            f"that the {attribute} groups' {constraint} differ by no more than "
            f"{config.eps:g}, which usually costs some {objective}."
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
    fit_groups: NDArray[np.object_],
    test_groups: NDArray[np.object_],
    config: MitigationConfig,
    seed: int,
) -> IntArray:
    from fairlearn.postprocessing import ThresholdOptimizer

    optimizer = ThresholdOptimizer(
        estimator=_score_estimator(),
        constraints=config.constraint,
        objective=config.objective,
        prefit=True,
        predict_method="predict_proba",
    )
    optimizer.fit(train.scores.reshape(-1, 1), train.y, sensitive_features=fit_groups)
    predicted = optimizer.predict(
        test.scores.reshape(-1, 1), sensitive_features=test_groups, random_state=int(seed)
    )
    return np.asarray(predicted, dtype=np.int64)


def _exponentiated_gradient(
    train: _Split,
    test: _Split,
    fit_groups: NDArray[np.object_],
    config: MitigationConfig,
    seed: int,
) -> IntArray:
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

    # inputs prepared once, outside the reduction: ExponentiatedGradient passes sample_weight
    # to fit, which a Pipeline would not route to the regression
    prepare = make_pipeline(
        SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler()
    ).fit(train.x)
    prevalence = float(train.y.mean())
    # balanced error = ½·FN/positives + ½·FP/negatives, i.e. per row FN costs ½/prevalence
    costs = (
        {"fp": 0.5 / (1.0 - prevalence), "fn": 0.5 / prevalence}
        if config.objective == "balanced_accuracy_score"
        else {"fp": 1.0, "fn": 1.0}
    )
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
        reduction.fit(prepare.transform(train.x), train.y, sensitive_features=fit_groups)
    predicted = reduction.predict(prepare.transform(test.x), random_state=int(seed))
    return np.asarray(predicted, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# the figures of one rule


def _row(method: str, description: str, test: _Split, decide: Callable[[], IntArray]) -> Json:
    """One method's figures on `test`; if Fairlearn cannot fit it here, a note instead."""
    try:
        predicted = decide()
    except (ValueError, ArithmeticError, LookupError, np.linalg.LinAlgError) as err:
        if isinstance(err, VruError):
            raise
        return {
            "method": method,
            "description": description,
            **dict.fromkeys(
                (
                    "accuracy",
                    "balanced_accuracy",
                    "selection_rate",
                    "tpr",
                    "fpr",
                    "equalized_odds_difference",
                    "demographic_parity_difference",
                    "true_positive_rate_difference",
                )
            ),
            "by_group": {},
            "note": f"Could not be fitted on these data ({type(err).__name__}: {err}).",
        }
    return {"method": method, "description": description, **_figures(test, predicted)}


def _figures(test: _Split, predicted: IntArray) -> Json:
    """Accuracy, rates and disparities of one decision, overall and by group.

    One Fairlearn :class:`~fairlearn.metrics.MetricFrame` gives every group's rates; the
    disparities are its between-group differences over the groups large enough to judge
    (the equalized odds difference is the larger of the TPR and FPR differences, as
    :func:`fairlearn.metrics.equalized_odds_difference` defines it).
    """
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    y = test.y
    frame = MetricFrame(
        metrics={
            "count": count,
            "positives": _positives,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=y,
        y_pred=predicted,
        sensitive_features=pd.Series(test.groups, name="group"),
    )
    table = frame.by_group
    rows = table["count"].to_numpy(np.int64)
    positives = table["positives"].to_numpy(np.int64)
    judged = (rows >= MIN_GROUP_ROWS) & (positives >= MIN_POSITIVES)
    by_group = {
        str(name): {
            "count": int(rows[i]),
            "selection_rate": finite_or_none(table["selection_rate"].iloc[i]),
            # Fairlearn reports 0, not "undefined", for a rate with no one in its denominator
            "tpr": finite_or_none(table["tpr"].iloc[i]) if positives[i] else None,
            "fpr": finite_or_none(table["fpr"].iloc[i]) if rows[i] > positives[i] else None,
            "too_small": bool(not judged[i]),
        }
        for i, name in enumerate(table.index)
    }
    spread = dict.fromkeys(("selection_rate", "tpr", "fpr"))
    if np.count_nonzero(judged) >= 2:
        chosen = table.loc[judged]
        spread = {m: finite_or_none(chosen[m].max() - chosen[m].min()) for m in spread}
    tpr_gap, fpr_gap = spread["tpr"], spread["fpr"]
    return {
        "accuracy": finite_or_none(accuracy_score(y, predicted)),
        "balanced_accuracy": finite_or_none(balanced_accuracy_score(y, predicted)),
        "selection_rate": finite_or_none(frame.overall["selection_rate"]),
        "tpr": finite_or_none(frame.overall["tpr"]),
        "fpr": finite_or_none(frame.overall["fpr"]),
        "equalized_odds_difference": None
        if tpr_gap is None or fpr_gap is None
        else max(tpr_gap, fpr_gap),
        "demographic_parity_difference": spread["selection_rate"],
        "true_positive_rate_difference": tpr_gap,
        "by_group": by_group,
        "note": None,
    }


def _positives(y_true: Any, y_pred: Any) -> int:
    """Rows with outcome 1 (a MetricFrame metric)."""
    return int(np.count_nonzero(np.asarray(y_true) == 1))


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


@dataclass(frozen=True)
class _ConstraintGroups:
    """Which groups the constraint keeps apart, and where the small ones go."""

    kept: frozenset[str]
    folded_into: str | None

    @classmethod
    def from_fit(cls, train: _Split) -> _ConstraintGroups:
        table = pd.DataFrame({"group": train.groups, "y": train.y})
        stats = table.groupby("group", sort=True)["y"].agg(["size", "sum"])
        fittable = _fittable(stats["size"], stats["sum"])
        kept = frozenset(str(g) for g in stats.index[fittable])
        rest = ~stats.index.isin(list(kept))
        folded_into = None
        if (
            rest.any()
            and kept
            and not _fittable(stats["size"][rest].sum(), stats["sum"][rest].sum())
        ):
            folded_into = str(stats.loc[list(kept), "size"].sort_index().idxmax())
        return cls(kept, folded_into)

    def label(self, groups: NDArray[np.object_]) -> NDArray[np.object_]:
        """Each row's group for the constraint."""
        other = self.folded_into if self.folded_into is not None else SMALL_GROUPS
        return np.where(np.isin(groups, list(self.kept)), groups, other).astype(object)

    def merged(self, *splits: NDArray[np.object_]) -> list[str]:
        """The groups (in either split) that are constrained with others, sorted."""
        seen = set().union(*(set(map(str, g)) for g in splits))
        return sorted(seen - self.kept)


def _fittable(size: Any, positives: Any) -> Any:
    """Enough rows and outcomes of both kinds for Fairlearn to set a group's threshold."""
    return (
        (size >= MIN_GROUP_ROWS)
        & (positives >= MIN_POSITIVES)
        & (size - positives >= MIN_POSITIVES)
    )


def _best_threshold(y: IntArray, scores: FloatArray, objective: str) -> float:
    """The score threshold (select at or above it) that maximises the objective on these rows."""
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], y[order]
    tp = np.cumsum(t)
    fp = np.cumsum(1 - t)
    positives, negatives = tp[-1], fp[-1]
    if objective == "balanced_accuracy_score":
        value = 0.5 * (tp / positives + 1.0 - fp / negatives)
    else:
        value = (tp + (negatives - fp)) / len(t)
    last = np.r_[s[1:] != s[:-1], True]  # a cut can only fall between distinct scores
    return float(s[int(np.argmax(np.where(last, value, -np.inf)))])
