"""Fairness mitigations, compared with the model and never applied to it.

The board weighs what a fairer decision rule would cost. :func:`compare_mitigations` fits
each option on one split (validation) and judges all of them on another (test), beside the
model's own decision:

- *unmitigated (top k%)*: the model's operating point, the top k% of scores;
- *unmitigated (best single threshold)*: one threshold chosen on the fit split to maximise
  the configured objective (balanced accuracy by default) — the fair yardstick for the
  mitigated rules, which optimise the same objective;
- *ThresholdOptimizer* (Fairlearn): group-specific, possibly randomised thresholds on the
  model's own scores, chosen under the configured constraint (equalized odds or
  true-positive-rate parity);
- *ExponentiatedGradient* (Fairlearn): a logistic regression on the model's inputs, retrained
  under the same constraint with the objective's costs (false negatives weighted by the rarity
  of the outcome, as balanced accuracy does).

Everything returned is aggregates only. Groups with fewer than :data:`MIN_FIT_ROWS` rows or
fewer than :data:`governance.fairness.MIN_POSITIVES` positives in the fit split are merged into
one group, "other (small groups)", for the constraint: Fairlearn cannot set a threshold for a
group it has (almost) no outcomes for.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.errors import Pandas4Warning
from sklearn.base import BaseEstimator, ClassifierMixin

from governance.config import MitigationConfig
from governance.contracts.errors import VruError
from governance.fairness import MIN_POSITIVES, NOT_RECORDED

__all__ = ["MIN_FIT_ROWS", "MitigationData", "MitigationError", "compare_mitigations"]

Json = dict[str, Any]
MIN_FIT_ROWS = 30
SMALL_GROUPS = "other (small groups)"

_LENGTH = "{split}.{name} has {got} rows; expected {n} (one per row of x)"
_NOT_BINARY = "{split}.y must hold only 0 and 1"
_NOT_FINITE = "{split}.scores has missing or infinite values"
_ONE_CLASS = "{split}.y has only one class; mitigations need positives and negatives"
_BAD_FRACTION = "top_fraction must be in (0, 1]; got {0!r}"

_DESCRIPTIONS = {
    "unmitigated (top k%)": "The model as it would be used: the highest-scoring share of young people.",
    "unmitigated (best single threshold)": (
        "The model with one threshold for everyone, chosen for the best balanced accuracy: "
        "the yardstick for the two options below."
    ),
    "ThresholdOptimizer": (
        "The same scores, but a different threshold for each group, chosen so that the "
        "groups' error rates are equal; needs the sensitive attribute at the time of use."
    ),
    "ExponentiatedGradient": (
        "A simpler model retrained so that its error rates are nearly equal across groups; "
        "usually costs some accuracy."
    ),
}


class MitigationError(VruError, ValueError):
    """The data given for the mitigation comparison is not usable."""


@dataclass(frozen=True)
class MitigationData:
    """One split: the model's inputs, outcomes, the model's scores and the sensitive group."""

    x: pd.DataFrame
    y: NDArray[np.int64]
    scores: NDArray[np.float64]
    sensitive: pd.Series


class _Scores(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A fitted 'classifier' whose probability is the model's score (column 0 of X)."""

    def __init__(self) -> None:
        self.classes_ = np.array([0, 1])

    def fit(self, x: Any, y: Any, **_: Any) -> _Scores:
        return self

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        s = np.asarray(x, dtype=np.float64)[:, 0]
        return np.column_stack([1.0 - s, s])

    def predict(self, x: Any) -> NDArray[np.int64]:
        return (np.asarray(x, dtype=np.float64)[:, 0] >= 0.5).astype(np.int64)

    def __sklearn_is_fitted__(self) -> bool:
        return True


def compare_mitigations(
    fit: MitigationData,
    evaluate: MitigationData,
    config: MitigationConfig,
    *,
    top_fraction: float,
    seed: int,
) -> Json:
    """Fit each option on ``fit`` and judge every rule on ``evaluate``; aggregates only."""
    if not 0 < top_fraction <= 1:
        raise MitigationError(_BAD_FRACTION.format(top_fraction))
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    fit = _sample(_check(fit, "fit"), config.max_rows, rng)
    evaluate = _sample(_check(evaluate, "evaluate"), config.max_rows, rng)
    groups_fit, keep = _constraint_groups(fit)
    groups_eval = _relabel(evaluate.sensitive, keep)

    rows: list[Json] = []
    k = int(np.floor(top_fraction * len(evaluate.scores) + 0.5))
    top = np.zeros(len(evaluate.scores), dtype=np.int64)
    top[np.argsort(-evaluate.scores, kind="stable")[:k]] = 1
    rows.append(_row("unmitigated (top k%)", evaluate.y, top, groups_eval))

    threshold = _best_threshold(fit.y, fit.scores, config.objective)
    single = (evaluate.scores >= threshold).astype(np.int64)
    rows.append(_row("unmitigated (best single threshold)", evaluate.y, single, groups_eval))

    rows.append(
        _guarded(
            "ThresholdOptimizer",
            lambda: _threshold_optimizer(fit, evaluate, groups_fit, groups_eval, config, seed),
            evaluate.y,
            groups_eval,
        )
    )
    rows.append(
        _guarded(
            "ExponentiatedGradient",
            lambda: _exponentiated_gradient(fit, evaluate, groups_fit, config, seed),
            evaluate.y,
            groups_eval,
        )
    )
    return {
        "available": True,
        "constraint": config.constraint,
        "objective": config.objective,
        "attribute": config.attribute,
        "fit_rows": len(fit.y),
        "evaluated_rows": len(evaluate.y),
        "merged_small_groups": sorted(set(fit.sensitive.astype(str)) - set(keep)),
        "rows": rows,
        "seconds": round(time.perf_counter() - start, 3),
    }


# -- the options --------------------------------------------------------------------------------


def _threshold_optimizer(
    fit: MitigationData,
    evaluate: MitigationData,
    groups_fit: pd.Series,
    groups_eval: pd.Series,
    config: MitigationConfig,
    seed: int,
) -> NDArray[np.int64]:
    from fairlearn.postprocessing import ThresholdOptimizer

    optimizer = ThresholdOptimizer(
        estimator=_Scores(),
        constraints=config.constraint,
        objective=config.objective,
        prefit=True,
        predict_method="predict_proba",
    )
    with warnings.catch_warnings():
        # our score wrapper has no feature names; Fairlearn warns when X is a DataFrame
        warnings.filterwarnings("ignore", message=".*feature names.*")
        optimizer.fit(fit.scores.reshape(-1, 1), fit.y, sensitive_features=groups_fit)
        predicted = optimizer.predict(
            evaluate.scores.reshape(-1, 1), sensitive_features=groups_eval, random_state=seed
        )
    return np.asarray(predicted, dtype=np.int64)


def _exponentiated_gradient(
    fit: MitigationData,
    evaluate: MitigationData,
    groups_fit: pd.Series,
    config: MitigationConfig,
    seed: int,
) -> NDArray[np.int64]:
    from fairlearn.reductions import (
        EqualizedOdds,
        ErrorRate,
        ExponentiatedGradient,
        TruePositiveRateParity,
    )
    from sklearn.linear_model import LogisticRegression

    mean = fit.x.mean().fillna(0.0)
    scale = fit.x.std().replace(0.0, 1.0).fillna(1.0)

    def prepare(x: pd.DataFrame) -> NDArray[np.float64]:
        return ((x.fillna(mean) - mean) / scale).to_numpy(dtype=np.float64)

    prevalence = float(fit.y.mean())
    costs = (
        {"fp": prevalence, "fn": 1.0 - prevalence}
        if config.objective == "balanced_accuracy_score"
        else {"fp": 1.0, "fn": 1.0}
    )
    constraint = (
        EqualizedOdds() if config.constraint == "equalized_odds" else TruePositiveRateParity()
    )
    reduction = ExponentiatedGradient(
        LogisticRegression(max_iter=500, random_state=seed),
        constraints=constraint,
        objective=ErrorRate(costs=costs),
        eps=config.eps,
        max_iter=config.exponentiated_gradient_max_iter,
    )
    with warnings.catch_warnings():
        # the weighted sub-problems can stop short of lbfgs's tolerance: harmless here
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*lbfgs failed to converge.*")
        # Fairlearn 0.15's moments use pandas idioms that pandas 3 deprecates (.at on a new
        # key, setting a float Series to bools): still correct today, and not our code
        warnings.simplefilter("ignore", Pandas4Warning)
        reduction.fit(prepare(fit.x), fit.y, sensitive_features=groups_fit)
        predicted = reduction.predict(prepare(evaluate.x), random_state=seed)
    return np.asarray(predicted, dtype=np.int64)


# -- figures --------------------------------------------------------------------------------------


def _row(
    method: str, y: NDArray[np.int64], predicted: NDArray[np.int64], groups: pd.Series
) -> Json:
    from fairlearn.metrics import (
        MetricFrame,
        count,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    frame = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=y,
        y_pred=predicted,
        sensitive_features=groups,
    )
    by_group = {
        str(name): {
            "count": int(values["count"]),
            "selection_rate": _plain(values["selection_rate"]),
            "tpr": _plain(values["tpr"]),
            "fpr": _plain(values["fpr"]),
        }
        for name, values in frame.by_group.iterrows()
    }
    tpr_values = [v["tpr"] for v in by_group.values() if v["tpr"] is not None]
    return {
        "method": method,
        "description": _DESCRIPTIONS[method],
        "accuracy": float(accuracy_score(y, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
        "selection_rate": float(np.mean(predicted)),
        "tpr": _plain(true_positive_rate(y, predicted)),
        "fpr": _plain(false_positive_rate(y, predicted)),
        "equalized_odds_difference": _plain(
            equalized_odds_difference(y, predicted, sensitive_features=groups)
        ),
        "demographic_parity_difference": _plain(
            demographic_parity_difference(y, predicted, sensitive_features=groups)
        ),
        "true_positive_rate_difference": max(tpr_values) - min(tpr_values) if tpr_values else None,
        "by_group": by_group,
    }


def _guarded(method: str, predict: Any, y: NDArray[np.int64], groups: pd.Series) -> Json:
    """One option's row; if Fairlearn cannot fit it on these data, say so instead."""
    try:
        return _row(method, y, predict(), groups)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:
        figures = ("accuracy", "balanced_accuracy", "selection_rate", "tpr", "fpr")
        disparities = (
            "equalized_odds_difference",
            "demographic_parity_difference",
            "true_positive_rate_difference",
        )
        return {
            "method": method,
            "description": _DESCRIPTIONS[method],
            **dict.fromkeys((*figures, *disparities)),
            "by_group": {},
            "note": f"could not be fitted on these data: {err.__class__.__name__}: {err}",
        }


# -- inputs -----------------------------------------------------------------------------------------


def _check(data: MitigationData, split: str) -> MitigationData:
    n = len(data.x)
    y = np.asarray(data.y)
    scores = np.asarray(data.scores, dtype=np.float64)
    for name, values in (("y", y), ("scores", scores), ("sensitive", data.sensitive)):
        if len(values) != n:
            raise MitigationError(_LENGTH.format(split=split, name=name, got=len(values), n=n))
    if not np.isin(y, (0, 1)).all():
        raise MitigationError(_NOT_BINARY.format(split=split))
    if not np.isfinite(scores).all():
        raise MitigationError(_NOT_FINITE.format(split=split))
    if y.min() == y.max():
        raise MitigationError(_ONE_CLASS.format(split=split))
    sensitive = data.sensitive.astype(object).where(data.sensitive.notna(), NOT_RECORDED)
    return MitigationData(
        data.x.reset_index(drop=True),
        y.astype(np.int64),
        scores,
        sensitive.astype(str).reset_index(drop=True),
    )


def _sample(data: MitigationData, max_rows: int, rng: np.random.Generator) -> MitigationData:
    """At most ``max_rows`` rows, every positive kept while they fit (outcomes are rare)."""
    n = len(data.y)
    if n <= max_rows:
        return data
    positives = np.flatnonzero(data.y == 1)
    negatives = np.flatnonzero(data.y == 0)
    share = max_rows / n
    take_pos = rng.choice(positives, size=max(1, round(len(positives) * share)), replace=False)
    take_neg = rng.choice(negatives, size=max_rows - len(take_pos), replace=False)
    rows = np.sort(np.concatenate([take_pos, take_neg]))
    return MitigationData(
        data.x.iloc[rows].reset_index(drop=True),
        data.y[rows],
        data.scores[rows],
        data.sensitive.iloc[rows].reset_index(drop=True),
    )


def _constraint_groups(fit: MitigationData) -> tuple[pd.Series, set[str]]:
    frame = pd.DataFrame({"g": fit.sensitive, "y": fit.y})
    stats = frame.groupby("g")["y"].agg(["size", "sum"])
    keep = {
        str(g)
        for g, row in stats.iterrows()
        if row["size"] >= MIN_FIT_ROWS and row["sum"] >= MIN_POSITIVES
    }
    return _relabel(fit.sensitive, keep), keep


def _relabel(groups: pd.Series, keep: set[str]) -> pd.Series:
    return groups.where(groups.isin(keep), SMALL_GROUPS)


def _best_threshold(y: NDArray[np.int64], scores: NDArray[np.float64], objective: str) -> float:
    """The score threshold (select ≥ it) that maximises the objective on these rows."""
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], y[order]
    tp = np.cumsum(t)
    fp = np.cumsum(1 - t)
    positives, negatives = tp[-1], fp[-1]
    last = np.r_[s[1:] != s[:-1], True]  # cut only between distinct scores
    if objective == "balanced_accuracy_score":
        value = 0.5 * (tp / positives + 1.0 - fp / negatives)
    else:
        value = (tp + (negatives - fp)) / len(t)
    value = np.where(last, value, -np.inf)
    return float(s[int(np.argmax(value))])


def _plain(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None
