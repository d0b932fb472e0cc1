"""SHAP explanations of a LightGBM model, in aggregate, for the ethics board's report.

A *SHAP value* (TreeSHAP, tree-path-dependent) splits one row's raw score, on the log-odds
scale for a binary model, into a contribution per feature plus the *expected value* (the
bias), which is the same for every row: ``raw score = expected value + sum of contributions``.
:func:`shap_values` computes them with LightGBM's own TreeSHAP
(``Booster.predict(pred_contrib=True)``); :func:`check_against_shap` confirms that
``shap.TreeExplainer`` gives the same numbers.

The report holds aggregates only: mean absolute contributions per feature
(:func:`global_importance`), mean contributions per group (:func:`group_contributions`, with
small groups flagged ``too_small`` and given no values) and plots of bins of young people by
a feature's value (:mod:`governance.audit.explain_plots`: each mark a bin's mean, never a
person). The per-row array of :func:`shap_values` is an intermediate: it must not leave the
governance environment.

Speed. TreeSHAP costs O(leaves × depth²) per tree and row: a 200-tree, 31-leaf model (depth
about 11) explains 700 to 1,400 rows a second on two cores, whether through one LightGBM call
or through shap, which hands the work to the same LightGBM call. :func:`shap_values`
therefore works tree by tree (``strategy="per_tree"``): the contributions of one tree depend
on a row only through the side of each of that tree's thresholds on which the row's values
fall, so rows that agree on all of them get identical contributions, and LightGBM is asked
once per distinct pattern. The result equals a single call (``strategy="single_call"``) up
to floating-point rounding (about 1e-14). ``bench/bench_shap.py`` measured 200,000 rows in
47 s (4,300 rows a second, 3.1 times shap) on features shaped like the project's, and
1.5 times a single call on continuous noise, the worst case.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from governance.audit.arrays import FloatArray, IntArray, Json
from governance.audit.fairness import NOT_RECORDED
from governance.contracts.errors import VruError

__all__ = [
    "DEFAULT_TOLERANCE",
    "SHAP_UNIT",
    "ExplainInputError",
    "ExplanationMismatchError",
    "Strategy",
    "check_against_shap",
    "check_count",
    "check_values",
    "expected_value",
    "global_importance",
    "group_contributions",
    "shap_values",
]

Strategy = Literal["per_tree", "single_call"]

#: Axis label of every SHAP value.
SHAP_UNIT = "SHAP value (log-odds)"
#: Largest difference from shap.TreeExplainer that :func:`check_against_shap` accepts.
DEFAULT_TOLERANCE = 1e-6
#: LightGBM treats |value| <= float32(1e-35) as zero; values this small are keyed exactly.
_TINY = 1e-30
#: Pattern keys are re-numbered densely before they would pass this (keeps them in int64).
_MAX_KEY_SPAN = 2**40

_NOT_A_FRAME = "'{name}' must be a pandas DataFrame (got {kind})"
_NO_ROWS = "'{name}' has no rows; there is nothing to explain"
_BAD_COLUMNS = (
    "'{name}' must have the model's {n} features in the model's order; "
    "missing {missing}, not in the model {extra}, first out of place {moved}"
)
_MULTI_OUTPUT = (
    "The model has {0} outputs per iteration (multiclass); only single-output models "
    "(binary or regression) can be explained here"
)
_BAD_STRATEGY = "'strategy' must be one of {allowed} (got {given!r})"
_BACKEND_FAILED = "LightGBM could not compute SHAP contributions: {0}"
_BAD_TOLERANCE = "'tolerance' must be a finite number >= 0 (got {0!r})"
_MISMATCH = (
    "SHAP values differ from shap.TreeExplainer(model_output='raw') by up to {diff:.3g} "
    "(tolerance {tolerance:g}) on {rows} rows; largest in {where}"
)
_SHAP_SHAPE = "shap.TreeExplainer returned SHAP values of shape {0}; expected ({1}, {2})"
_NOT_2D = "'values' must be a 2-D array (rows x features); got shape {0}"
_NOT_FINITE = "'values' has {0} missing or infinite entries"
_BAD_NAMES = "'names' must hold {0} distinct feature names, one per column of 'values' (got {1})"
_BAD_GROUPS = "'groups' must hold one label per row of 'values' ({0}); got {1}"
_BAD_COUNT = "'{name}' must be an integer >= 1 (got {value!r})"


class ExplainInputError(VruError, ValueError):
    """A model, table, array or option given to the explanations is not usable."""


class ExplanationMismatchError(VruError, RuntimeError):
    """Our SHAP values and shap.TreeExplainer's differ by more than the tolerance."""


# --------------------------------------------------------------------------------------------
# contributions


def shap_values(
    booster: lightgbm.Booster, x: pd.DataFrame, *, strategy: Strategy = "per_tree"
) -> FloatArray:
    """TreeSHAP contribution of each feature to each row's raw score (log-odds).

    Parameters
    ----------
    booster : lightgbm.Booster
        A single-output model (binary or regression). Its ``best_iteration`` is used if set,
        as ``Booster.predict`` does.
    x : pandas.DataFrame
        The rows to explain, with the model's features as columns, in the model's order.
    strategy : {"per_tree", "single_call"}, default "per_tree"
        ``"per_tree"`` asks LightGBM once per tree, for one row of each pattern of that
        tree's thresholds (see the module notes); ``"single_call"`` is one
        ``predict(pred_contrib=True)`` over all rows. Both give the same values up to
        rounding.

    Returns
    -------
    numpy.ndarray
        Shape (rows, features), float64, without the bias column. With
        :func:`expected_value` it sums to ``booster.predict(x, raw_score=True)``. One row per
        person: keep it inside the governance environment.

    Raises
    ------
    ExplainInputError
        If `x` is not a non-empty DataFrame with the model's features in order, the model has
        several outputs, `strategy` is unknown, or LightGBM fails (its message is included).

    Examples
    --------
    >>> values = shap_values(booster, x)  # doctest: +SKIP
    >>> bias = expected_value(booster, x)  # doctest: +SKIP
    >>> np.allclose(values.sum(axis=1) + bias, booster.predict(x, raw_score=True))  # doctest: +SKIP
    True
    """
    if strategy not in ("per_tree", "single_call"):
        raise ExplainInputError(
            _BAD_STRATEGY.format(allowed=["per_tree", "single_call"], given=strategy)
        )
    iterations = _check_model_input(booster, x, "x")
    if strategy == "single_call":
        return _predict_contrib(booster, x, iterations=iterations)[:, :-1]
    return _per_tree_contributions(booster, x, iterations)[:, :-1]


def expected_value(booster: lightgbm.Booster, x: pd.DataFrame) -> float:
    """The expected value (bias) of the SHAP decomposition, on the raw (log-odds) scale.

    It is LightGBM's bias column: the cover-weighted mean of the raw score over the training
    data, the same for every row. Only the first row of `x` is used (to give LightGBM a
    well-formed input).

    Parameters
    ----------
    booster : lightgbm.Booster
        A single-output model.
    x : pandas.DataFrame
        At least one row with the model's features in the model's order.

    Returns
    -------
    float
        The bias, such that ``expected_value + shap_values(...).sum(axis=1)`` is the raw
        score.

    Raises
    ------
    ExplainInputError
        As :func:`shap_values`.
    """
    iterations = _check_model_input(booster, x, "x")
    return float(_predict_contrib(booster, x.iloc[:1], iterations=iterations)[0, -1])


def check_against_shap(
    booster: lightgbm.Booster, x_sample: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE
) -> float:
    """Largest difference between :func:`shap_values` and ``shap.TreeExplainer``.

    shap is asked for raw-scale values (``model_output="raw"``, its default, with the
    default ``feature_perturbation="tree_path_dependent"`` and no background data): the
    log-odds scale on which LightGBM's contributions and bias add up to the raw score. Any
    other ``model_output`` ("probability", "log_loss") needs background data, explains a
    different quantity and would not match. shap (0.45 and later) computes these values for
    a LightGBM ``Booster`` by calling the same ``predict(pred_contrib=True)``, so this check
    guards our side (the per-tree strategy, column order, bias column, iteration count and
    the shape of shap's output), not the TreeSHAP algorithm itself.

    Parameters
    ----------
    booster : lightgbm.Booster
        A single-output model.
    x_sample : pandas.DataFrame
        Rows to compare on (a few thousand are plenty), with the model's features in order.
    tolerance : float, default 1e-6
        Largest difference accepted.

    Returns
    -------
    float
        The largest absolute difference over all contributions and the expected value.

    Raises
    ------
    ExplanationMismatchError
        If the difference is above `tolerance`; the message gives it and where it is largest.
    ExplainInputError
        As :func:`shap_values`, or if `tolerance` is not a finite number >= 0.
    """
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0):
        raise ExplainInputError(_BAD_TOLERANCE.format(tolerance))
    iterations = _check_model_input(booster, x_sample, "x_sample")
    ours = shap_values(booster, x_sample)
    ours_bias = expected_value(booster, x_sample)
    theirs, theirs_bias = _tree_explainer_values(booster, x_sample, iterations)

    gaps = np.abs(theirs - ours)
    bias_gap = abs(theirs_bias - ours_bias)
    row, col = np.unravel_index(int(np.argmax(gaps)), gaps.shape)
    diff = max(float(gaps[row, col]), bias_gap)
    if not diff <= tolerance:  # also catches NaN
        where = (
            "the expected value"
            if bias_gap >= gaps[row, col]
            else f"feature {x_sample.columns[int(col)]!r}"
        )
        raise ExplanationMismatchError(
            _MISMATCH.format(diff=diff, tolerance=tolerance, rows=len(x_sample), where=where)
        )
    return diff


def _tree_explainer_values(
    booster: lightgbm.Booster, x: pd.DataFrame, iterations: int
) -> tuple[FloatArray, float]:
    """shap.TreeExplainer's raw-scale values and expected value for the positive class."""
    import warnings

    with warnings.catch_warnings():
        # shap 0.51 calls Colormap.set_bad/set_over/set_under when imported, which matplotlib
        # 3.11 marks PendingDeprecationWarning: shap's code, not ours
        warnings.filterwarnings(
            "ignore", "The set_(bad|over|under) function", PendingDeprecationWarning
        )
        import shap  # imported here: slow to import, and only this check needs it

    if iterations < booster.current_iteration():
        # shap uses every tree of a LightGBM Booster, LightGBM's predict stops at
        # best_iteration: explain the same trees.
        booster = lightgbm.Booster(model_str=booster.model_to_string(num_iteration=iterations))
    explainer = shap.TreeExplainer(booster, model_output="raw")
    # The Explanation API (explainer(x)), not .shap_values(x): for a binary LightGBM model
    # the latter warns that its output "has changed to a list of ndarray", which has not been
    # true since shap 0.45 (shap/shap#3318).
    explanation = explainer(x)
    values = _positive_class(explanation.values)
    if values.shape != (len(x), x.shape[1]):
        raise ExplanationMismatchError(_SHAP_SHAPE.format(values.shape, len(x), x.shape[1]))
    base = np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)
    return values, float(base[-1])


def _positive_class(raw: Any) -> FloatArray:
    """(rows, features) from shap's binary output: a 2-D array, a list, or a 3-D array."""
    if isinstance(raw, list):  # shap < 0.45: one array per class
        raw = raw[-1]
    values = np.asarray(raw, dtype=np.float64)
    if values.ndim == 3:  # (rows, features, outputs): the last output is the positive class
        values = values[..., -1]
    return values


def _check_model_input(booster: lightgbm.Booster, x: Any, name: str) -> int:
    """Validate a model and its input table; return the number of iterations predict uses."""
    if not isinstance(x, pd.DataFrame):
        raise ExplainInputError(_NOT_A_FRAME.format(name=name, kind=type(x).__name__))
    if len(x) == 0:
        raise ExplainInputError(_NO_ROWS.format(name=name))
    outputs = booster.num_model_per_iteration()
    if outputs != 1:
        raise ExplainInputError(_MULTI_OUTPUT.format(outputs))
    expected = booster.feature_name()
    given = [str(c) for c in x.columns]
    if given != expected:
        moved = next((g for g, e in zip(given, expected, strict=False) if g != e), None)
        raise ExplainInputError(
            _BAD_COLUMNS.format(
                name=name,
                n=len(expected),
                missing=sorted(set(expected) - set(given)),
                extra=sorted(set(given) - set(expected)),
                moved=repr(moved),
            )
        )
    best = booster.best_iteration
    return best if best > 0 else booster.current_iteration()


def _predict_contrib(
    booster: lightgbm.Booster,
    data: pd.DataFrame | FloatArray,
    *,
    iterations: int,
    start: int = 0,
) -> FloatArray:
    """LightGBM's contributions plus bias column for trees ``start .. start + iterations``."""
    try:
        out = booster.predict(
            data, pred_contrib=True, start_iteration=start, num_iteration=iterations
        )
    except lightgbm.basic.LightGBMError as err:
        raise ExplainInputError(_BACKEND_FAILED.format(err)) from err
    return np.asarray(out, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# the per-tree strategy


@dataclass(frozen=True)
class _FeatureCodes:
    """Each row's value of one feature as an integer code (see :func:`_feature_codes`).

    ``thresholds`` are all the model's thresholds on the feature, sorted; ``None`` marks a
    feature coded by exact value (categorical splits or a non-numeric column).
    ``codes`` are ``0 .. K`` (how many thresholds lie below the value), ``K + 1`` for NaN and
    ``K + 2 + j`` for the j-th distinct value within ``_TINY`` of zero; or exact-value codes.
    """

    codes: IntArray
    thresholds: FloatArray | None
    n_tiny: int
    span: int


def _per_tree_contributions(
    booster: lightgbm.Booster, x: pd.DataFrame, iterations: int
) -> FloatArray:
    """Contributions (with the bias column) tree by tree, once per threshold pattern.

    LightGBM sends a value left at a node when ``value <= threshold`` (NaN and zero may
    instead follow the node's default direction), so two values of a feature on the same
    side of every threshold, both NaN, or equal, take the same path through every tree. A
    row's contributions from one tree depend only on the paths its values take at that
    tree's nodes; rows that agree on all of them share their contributions.
    """
    trees = _tree_splits(booster, iterations)
    exact = set().union(*(exact_features for _, exact_features in trees))
    codes: dict[int, _FeatureCodes] = {}
    for f in sorted(set().union(*({*splits, *exact_features} for splits, exact_features in trees))):
        column = x.iloc[:, f]
        if f in exact or not _is_plain_numeric(column):
            codes[f] = _feature_codes(column, None)
        else:
            thresholds = set().union(*(splits.get(f, set()) for splits, _ in trees))
            codes[f] = _feature_codes(column, np.array(sorted(thresholds), dtype=np.float64))
    # LightGBM reads a numeric frame as these float64 values; category columns need the frame.
    # Row-major, so that taking rows reads memory in order (pandas hands out column-major).
    plain = all(_is_plain_numeric(x[c]) for c in x.columns)
    matrix = np.ascontiguousarray(x.to_numpy(np.float64, na_value=np.nan)) if plain else None
    n, m = x.shape
    out = np.zeros((m + 1, n), dtype=np.float64)  # one row per feature, then the bias
    for tree, (splits, exact_features) in enumerate(trees):
        used = sorted({*splits, *exact_features})
        inverse, first = _patterns([_local_codes(codes[f], splits.get(f)) for f in used], n)
        rows = np.take(matrix, first, axis=0) if matrix is not None else x.iloc[first]
        contrib = _predict_contrib(booster, rows, iterations=1, start=tree)
        columns = [*used, m]
        for j, per_pattern in zip(columns, contrib[:, columns].T.copy(), strict=True):
            out[j] += per_pattern[inverse]
    return out.T


def _is_plain_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column.dtype) and not isinstance(
        column.dtype, pd.CategoricalDtype
    )


def _tree_splits(
    booster: lightgbm.Booster, iterations: int
) -> list[tuple[dict[int, set[float]], set[int]]]:
    """Per tree: the numeric thresholds of each feature, and the features split by category."""
    trees: list[tuple[dict[int, set[float]], set[int]]] = []
    for info in booster.dump_model(num_iteration=iterations)["tree_info"]:
        splits: dict[int, set[float]] = {}
        exact: set[int] = set()
        stack = [info["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" not in node:
                continue
            feature = int(node["split_feature"])
            if node["decision_type"] == "<=":
                splits.setdefault(feature, set()).add(float(node["threshold"]))
            else:
                exact.add(feature)
            stack.extend((node["left_child"], node["right_child"]))
        trees.append((splits, exact))
    return trees


def _feature_codes(column: pd.Series, thresholds: FloatArray | None) -> _FeatureCodes:
    """Code one column's values; rows with equal codes take the same path in every tree."""
    if thresholds is None:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        return _FeatureCodes(np.asarray(codes, np.int64) + 1, None, 0, len(uniques) + 1)
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    k = len(thresholds)
    codes = np.searchsorted(thresholds, values, side="left").astype(np.int64)
    codes[np.isnan(values)] = k + 1
    tiny = np.abs(values) <= _TINY
    tiny_codes, tiny_values = pd.factorize(values[tiny])
    codes[tiny] = k + 2 + np.asarray(tiny_codes, np.int64)
    return _FeatureCodes(codes, thresholds, len(tiny_values), k + 2 + len(tiny_values))


def _local_codes(feature: _FeatureCodes, local: set[float] | None) -> tuple[IntArray, int]:
    """Coarsen a feature's codes to one tree's thresholds; return codes and their span."""
    if feature.thresholds is None or local is None:
        return feature.codes, feature.span
    ours = np.array(sorted(local))
    lo = len(ours)
    # model-wide code c means thresholds[c - 1] < value <= thresholds[c]: the tree's
    # thresholds below the value are those <= thresholds[c - 1]
    below = np.searchsorted(ours, feature.thresholds, side="right")
    lookup = np.concatenate([[0], below, [lo + 1], lo + 2 + np.arange(feature.n_tiny)]).astype(
        np.int64
    )
    return lookup[feature.codes], lo + 2 + feature.n_tiny


def _patterns(parts: list[tuple[IntArray, int]], n: int) -> tuple[IntArray, IntArray]:
    """Group rows by their codes in all `parts`; return each row's group and one row per group."""
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for codes, radix in parts:
        if span * radix > _MAX_KEY_SPAN:  # re-number the groups so far densely, then go on
            dense, uniques = pd.factorize(key)
            key, span = np.asarray(dense, np.int64), len(uniques)
        key = key * radix + codes
        span *= radix
    inverse, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.int64)
    # Any row of a group will do, as they are all alike. Written backwards, numpy in practice
    # keeps each group's first row, and groups are numbered in order of first appearance:
    # `first` then ascends, and taking those rows reads the matrix in order.
    first[inverse[::-1]] = np.arange(n - 1, -1, -1)
    return np.asarray(inverse, np.int64), first


# --------------------------------------------------------------------------------------------
# aggregates


def global_importance(values: FloatArray, names: Sequence[str]) -> list[Json]:
    """Mean absolute SHAP value of each feature over all rows, largest first.

    Parameters
    ----------
    values : numpy.ndarray
        SHAP values, shape (rows, features), as from :func:`shap_values`.
    names : sequence of str
        Feature names, one per column of `values`.

    Returns
    -------
    list of dict
        ``{"rank", "feature", "mean_abs_shap", "share"}`` per feature, sorted by
        ``mean_abs_shap`` descending (ties by name). ``share`` is the feature's part of the sum
        of all features' mean absolute values (0 when that sum is 0). Plain floats and ints.

    Raises
    ------
    ExplainInputError
        If `values` is not a finite 2-D array with at least one row, or `names` does not name
        its columns.
    """
    matrix = check_values(values, names)
    mean_abs = np.abs(matrix).mean(axis=0)
    total = float(mean_abs.sum())
    order = sorted(range(len(names)), key=lambda j: (-mean_abs[j], names[j]))
    return [
        {
            "rank": rank,
            "feature": str(names[j]),
            "mean_abs_shap": float(mean_abs[j]),
            "share": float(mean_abs[j] / total) if total > 0 else 0.0,
        }
        for rank, j in enumerate(order, start=1)
    ]


def group_contributions(
    values: FloatArray,
    names: Sequence[str],
    groups: pd.Series,
    *,
    min_group_size: int,
    top: int = 10,
) -> dict[str, Json]:
    """Mean SHAP value of the most important features within each group.

    Parameters
    ----------
    values : numpy.ndarray
        SHAP values, shape (rows, features).
    names : sequence of str
        Feature names, one per column of `values`.
    groups : pandas.Series
        One group label per row, aligned with `values` by position. Missing labels form the
        group ``"not recorded"``.
    min_group_size : int
        Groups with fewer rows are flagged ``too_small`` and get no values.
    top : int, default 10
        How many features, the most important over all rows (:func:`global_importance`).

    Returns
    -------
    dict
        ``{group: {"n", "too_small", "mean_shap"}}`` with groups sorted by label;
        ``mean_shap`` is ``{feature: mean SHAP value}`` for the `top` features in order of
        importance, or ``None`` for a group that is too small.

    Raises
    ------
    ExplainInputError
        If `values` or `names` are not usable, `groups` does not have one label per row,
        or `min_group_size` or `top` is not an integer >= 1.
    """
    matrix = check_values(values, names)
    if len(groups) != matrix.shape[0]:
        raise ExplainInputError(_BAD_GROUPS.format(matrix.shape[0], len(groups)))
    check_count(min_group_size, "min_group_size")
    check_count(top, "top")
    chosen = [row["feature"] for row in global_importance(matrix, names)[:top]]
    columns = [list(names).index(f) for f in chosen]
    labels = group_labels(groups)
    frame = pd.DataFrame(matrix[:, columns], columns=chosen)
    stats = frame.groupby(labels, sort=True)
    sizes = stats.size().to_numpy(dtype=np.int64)
    means = stats.mean().to_numpy(dtype=np.float64)
    report: dict[str, Json] = {}
    for i, label in enumerate(stats.size().index):
        small = bool(sizes[i] < min_group_size)
        report[str(label)] = {
            "n": int(sizes[i]),
            "too_small": small,
            "mean_shap": None if small else dict(zip(chosen, map(float, means[i]), strict=True)),
        }
    return report


def group_labels(groups: pd.Series) -> NDArray[np.object_]:
    """Text labels, missing as "not recorded"; whole floats (a decile 3.0) as "3"."""
    column = pd.Series(groups).reset_index(drop=True)
    if pd.api.types.is_float_dtype(column.dtype):
        present = column.dropna().to_numpy(dtype=np.float64)
        if np.isfinite(present).all() and (present == np.floor(present)).all():
            column = column.astype("Int64")
    return column.astype("string").fillna(NOT_RECORDED).to_numpy(dtype=object)


def check_values(values: Any, names: Sequence[str]) -> FloatArray:
    """SHAP values as a finite 2-D float array whose columns `names` names; else refuse."""
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ExplainInputError(_NOT_2D.format(matrix.shape))
    if not np.isfinite(matrix).all():
        raise ExplainInputError(_NOT_FINITE.format(int((~np.isfinite(matrix)).sum())))
    if len(names) != matrix.shape[1] or len(set(names)) != len(names):
        raise ExplainInputError(_BAD_NAMES.format(matrix.shape[1], list(names)))
    return matrix


def check_count(value: Any, name: str) -> None:
    """Refuse an option `name` that is not an integer of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ExplainInputError(_BAD_COUNT.format(name=name, value=value))
