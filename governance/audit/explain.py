"""SHAP explanations of a LightGBM model, in aggregate, for the ethics board's report.

A *SHAP value* (TreeSHAP, tree-path-dependent) splits one row's raw score, on the log-odds
scale for a binary model, into a contribution per feature plus the *expected value* (the
bias), which is the same for every row: ``raw score = expected value + sum of contributions``.
:func:`shap_values` computes them with LightGBM's own TreeSHAP
(``Booster.predict(pred_contrib=True)``); :func:`check_against_shap` confirms that
``shap.TreeExplainer`` gives the same numbers.

The report holds aggregates only: mean absolute contributions per feature
(:func:`global_importance`), mean contributions per group (:func:`group_contributions`, with
small groups flagged ``too_small`` and given no values) and plots of distributions over many
rows (:func:`beeswarm_png`, :func:`dependence_png`), which refuse fewer than
:data:`MIN_PLOT_ROWS` rows and carry no identifier. The per-row array of
:func:`shap_values` is an intermediate: it must not leave the governance environment.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import lightgbm
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from governance.audit.fairness import NOT_RECORDED
from governance.contracts.errors import VruError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_TOLERANCE",
    "MIN_PLOT_ROWS",
    "SHAP_UNIT",
    "ExplainInputError",
    "ExplanationMismatchError",
    "Strategy",
    "beeswarm_png",
    "check_against_shap",
    "dependence_png",
    "expected_value",
    "global_importance",
    "group_contributions",
    "shap_values",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Json = dict[str, Any]
Strategy = Literal["per_tree", "single_call"]

#: Axis label of every SHAP value.
SHAP_UNIT = "SHAP value (log-odds)"
#: Largest difference from shap.TreeExplainer that :func:`check_against_shap` accepts.
DEFAULT_TOLERANCE = 1e-6
#: Plots are distributions: fewer rows than this are refused.
MIN_PLOT_ROWS = 100
#: Plots draw at most this many rows (a seeded random sample); aggregates use all rows.
DEFAULT_MAX_POINTS = 10_000
#: LightGBM treats |value| <= float32(1e-35) as zero; values this small are keyed exactly.
_TINY = 1e-30
#: Pattern keys are re-numbered densely before they would pass this (keeps them in int64).
_MAX_KEY_SPAN = 2**40
#: Dependence plots average SHAP values over groups of at least this many rows.
_MIN_MEAN_ROWS = 10

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
_BAD_X_SHAPE = "'x' must have the shape of 'values' {0}; got {1}"
_TOO_FEW_ROWS = (
    "A plot needs at least {min_rows} rows so that it shows a distribution, not people (got {rows})"
)
_UNKNOWN_FEATURE = "Feature {0!r} is not in 'names'; choose one of {1}"
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
    matrix = _check_values(values, names)
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
    matrix = _check_values(values, names)
    if len(groups) != matrix.shape[0]:
        raise ExplainInputError(_BAD_GROUPS.format(matrix.shape[0], len(groups)))
    _check_count(min_group_size, "min_group_size")
    _check_count(top, "top")
    chosen = [row["feature"] for row in global_importance(matrix, names)[:top]]
    columns = [list(names).index(f) for f in chosen]
    labels = _group_labels(groups)
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


def _group_labels(groups: pd.Series) -> NDArray[np.object_]:
    """Text labels, missing as "not recorded"; whole floats (a decile 3.0) as "3"."""
    column = pd.Series(groups).reset_index(drop=True)
    if pd.api.types.is_float_dtype(column.dtype):
        present = column.dropna().to_numpy(dtype=np.float64)
        if np.isfinite(present).all() and (present == np.floor(present)).all():
            column = column.astype("Int64")
    return column.astype("string").fillna(NOT_RECORDED).to_numpy(dtype=object)


def _check_values(values: Any, names: Sequence[str]) -> FloatArray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ExplainInputError(_NOT_2D.format(matrix.shape))
    if not np.isfinite(matrix).all():
        raise ExplainInputError(_NOT_FINITE.format(int((~np.isfinite(matrix)).sum())))
    if len(names) != matrix.shape[1] or len(set(names)) != len(names):
        raise ExplainInputError(_BAD_NAMES.format(matrix.shape[1], list(names)))
    return matrix


def _check_count(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ExplainInputError(_BAD_COUNT.format(name=name, value=value))


# --------------------------------------------------------------------------------------------
# plots


def beeswarm_png(
    values: FloatArray,
    x: pd.DataFrame,
    names: Sequence[str],
    path: Path | str,
    max_display: int = 15,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
    min_rows: int = MIN_PLOT_ROWS,
) -> Path:
    """Beeswarm of the SHAP values of the most important features, as a PNG file.

    One horizontal strip per feature, most important at the top: each dot is a row's SHAP
    value, spread vertically where dots are dense, coloured from blue (low feature value)
    to red (high); grey dots have no value. Drawn with matplotlib's Agg canvas (no pyplot,
    no display, no global state) rather than ``shap.plots.beeswarm``, because importing shap
    emits deprecation warnings under ``-W error`` and shap draws through pyplot.

    Parameters
    ----------
    values : numpy.ndarray
        SHAP values, shape (rows, features).
    x : pandas.DataFrame
        The feature values of the same rows, same shape, columns in the order of `names`.
    names : sequence of str
        Feature names, one per column.
    path : path-like
        Where to write the PNG.
    max_display : int, default 15
        How many features to show; the order comes from all rows.
    max_points : int, default 10,000
        Rows drawn: a random sample (seeded by `seed`) if there are more.
    seed : int, default 0
        Seed of the sample and of the vertical spread.
    min_rows : int, default 100
        Fewer rows are refused, so that a plot shows a distribution, not people.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ExplainInputError
        If the inputs do not match, there are fewer than `min_rows` rows, or an option is
        not an integer >= 1.
    """
    matrix = _check_plot_input(values, x, names, min_rows)
    _check_count(max_display, "max_display")
    _check_count(max_points, "max_points")
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    ranking = global_importance(matrix, names)
    shown = [list(names).index(r["feature"]) for r in ranking[:max_display]]
    rng = np.random.default_rng(seed)
    rows = _sample_rows(len(matrix), max_points, rng)
    fig, ax = _figure(width=8.0, height=1.6 + 0.42 * len(shown))
    for position, j in enumerate(reversed(shown)):
        shap_col = matrix[rows, j]
        colour = _colour_scale(x.iloc[rows, j])
        y = position + _swarm_offsets(shap_col, rng)
        known = ~np.isnan(colour)
        ax.scatter(shap_col[~known], y[~known], s=5, color="#9a9a9a", linewidths=0, rasterized=True)
        ax.scatter(
            shap_col[known],
            y[known],
            c=colour[known],
            cmap="coolwarm",
            vmin=0.0,
            vmax=1.0,
            s=5,
            alpha=0.8,
            linewidths=0,
            rasterized=True,
        )
    ax.axvline(0.0, color="#555555", linewidth=0.8, zorder=0)
    ax.set_yticks(range(len(shown)), [str(names[j]) for j in reversed(shown)])
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.set_xlabel(SHAP_UNIT)
    hidden = len(names) - len(shown)
    fig.suptitle(f"SHAP values of the {len(shown)} most important features", x=0.02, ha="left")
    ax.set_title(
        _sample_note(len(rows), len(matrix))
        + (f"; {hidden} less important features not shown" if hidden else ""),
        fontsize=9,
        loc="left",
    )
    bar = fig.colorbar(
        ScalarMappable(norm=Normalize(0.0, 1.0), cmap="coolwarm"),
        ax=ax,
        ticks=[0.0, 1.0],
        aspect=40,
    )
    bar.ax.set_yticklabels(["Low", "High"])
    bar.set_label("Feature value (5th to 95th percentile)")
    return _save(fig, path)


def dependence_png(
    values: FloatArray,
    x: pd.DataFrame,
    feature: str,
    path: Path | str,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
    min_rows: int = MIN_PLOT_ROWS,
) -> Path:
    """Dependence plot of one feature: its SHAP value against its value, as a PNG file.

    Dots are rows (a seeded sample of at most `max_points`); the line is the mean SHAP value
    over all rows in each twentieth of the feature's distribution (or at each distinct value,
    for a feature with at most 20 of them), drawn only where at least 10 rows contribute.
    Rows with no value are left out; the subtitle gives their number and mean SHAP value.
    Category columns are drawn at one position per category.

    Parameters
    ----------
    values : numpy.ndarray
        SHAP values, shape (rows, features), columns in the order of ``x.columns``.
    x : pandas.DataFrame
        The feature values of the same rows.
    feature : str
        The column to plot.
    path : path-like
        Where to write the PNG.
    max_points : int, default 10,000
        Rows drawn as dots.
    seed : int, default 0
        Seed of the sample and of the jitter of category positions.
    min_rows : int, default 100
        Fewer rows are refused.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ExplainInputError
        If the inputs do not match, `feature` is not a column, there are fewer than
        `min_rows` rows, or an option is not an integer >= 1.
    """
    names = [str(c) for c in x.columns]
    matrix = _check_plot_input(values, x, names, min_rows)
    _check_count(max_points, "max_points")
    if feature not in names:
        raise ExplainInputError(_UNKNOWN_FEATURE.format(feature, names))
    j = names.index(feature)
    column = x.iloc[:, j]
    shap_col = matrix[:, j]
    rng = np.random.default_rng(seed)
    categories: list[str] | None = None
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy(dtype=np.float64)
        position = np.where(codes < 0, np.nan, codes)
        categories = [str(c) for c in column.cat.categories]
    else:
        position = pd.to_numeric(column, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    known = ~np.isnan(position)
    with_value = np.flatnonzero(known)
    rows = with_value[_sample_rows(len(with_value), max_points, rng)]
    fig, ax = _figure(width=7.0, height=4.8)
    jitter = rng.uniform(-0.2, 0.2, len(rows)) if categories is not None else 0.0
    ax.scatter(
        position[rows] + jitter,
        shap_col[rows],
        s=6,
        color="#1f77b4",
        alpha=0.35,
        linewidths=0,
        rasterized=True,
        label="rows (sample)",
    )
    mean_x, mean_y = _binned_means(position[known], shap_col[known])
    if len(mean_x):
        ax.plot(
            mean_x, mean_y, color="black", linewidth=1.6, marker="o", markersize=3, label="mean"
        )
    ax.axhline(0.0, color="#555555", linewidth=0.8, zorder=0)
    if categories is not None:
        ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
    ax.set_xlabel(f"{feature} (value)" if categories is None else f"{feature} (category)")
    ax.set_ylabel(f"{SHAP_UNIT} of {feature}")
    ax.legend(loc="best", fontsize=8, frameon=False)
    missing = int((~known).sum())
    fig.suptitle(f"How {feature} moves the score", x=0.02, ha="left")
    ax.set_title(
        _sample_note(len(rows), len(with_value))
        + (
            f"; {missing:,} rows with no value (mean SHAP {shap_col[~known].mean():+.3f}) not shown"
            if missing
            else ""
        ),
        fontsize=9,
        loc="left",
    )
    return _save(fig, path)


def _check_plot_input(values: Any, x: Any, names: Sequence[str], min_rows: int) -> FloatArray:
    matrix = _check_values(values, names)
    if not isinstance(x, pd.DataFrame):
        raise ExplainInputError(_NOT_A_FRAME.format(name="x", kind=type(x).__name__))
    if x.shape != matrix.shape:
        raise ExplainInputError(_BAD_X_SHAPE.format(matrix.shape, x.shape))
    _check_count(min_rows, "min_rows")
    if len(matrix) < min_rows:
        raise ExplainInputError(_TOO_FEW_ROWS.format(min_rows=min_rows, rows=len(matrix)))
    return matrix


def _sample_rows(n: int, max_points: int, rng: np.random.Generator) -> IntArray:
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=max_points, replace=False)).astype(np.int64)


def _sample_note(drawn: int, total: int) -> str:
    if drawn == total:
        return f"Each dot is one of {total:,} rows"
    return f"Each dot is one row of a random sample of {drawn:,} of {total:,}"


def _swarm_offsets(shap_col: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Vertical offsets within ±0.4, wider where SHAP values are dense (a beeswarm's shape)."""
    lo, hi = float(shap_col.min()), float(shap_col.max())
    if hi <= lo:
        return rng.uniform(-0.4, 0.4, len(shap_col))
    bins = np.minimum(((shap_col - lo) / (hi - lo) * 60).astype(np.int64), 59)
    counts = np.bincount(bins, minlength=60).astype(np.float64)
    width = 0.4 * np.sqrt(counts[bins] / counts.max())
    return np.asarray(rng.uniform(-1.0, 1.0, len(shap_col)) * width, dtype=np.float64)


def _positions(column: pd.Series) -> tuple[FloatArray, list[str] | None]:
    """A column as floats (NaN if missing); a category column as codes, with its categories."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = np.asarray(column.cat.codes, dtype=np.float64)
        codes[codes < 0] = np.nan
        return codes, [str(c) for c in column.cat.categories]
    numbers = pd.to_numeric(column, errors="coerce")
    return np.asarray(numbers.to_numpy(dtype=np.float64, na_value=np.nan)), None


def _colour_scale(column: pd.Series) -> FloatArray:
    """Feature values mapped to 0..1 between their 5th and 95th percentiles; NaN if missing."""
    raw, _ = _positions(column)
    present = raw[~np.isnan(raw)]
    if len(present) == 0:
        return raw
    lo, hi = np.percentile(present, [5, 95])
    if hi <= lo:
        lo, hi = float(present.min()), float(present.max())
    if hi <= lo:
        return np.where(np.isnan(raw), np.nan, 0.5)
    return np.asarray(np.clip((raw - lo) / (hi - lo), 0.0, 1.0), dtype=np.float64)


def _binned_means(position: FloatArray, shap_col: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean position and SHAP value per distinct value (<= 20 of them) or per twentieth."""
    distinct = np.unique(position)
    if len(distinct) <= 20:
        bins = np.searchsorted(distinct, position)
    else:
        edges = np.unique(np.quantile(position, np.linspace(0.0, 1.0, 21))[1:-1])
        bins = np.searchsorted(edges, position, side="right")
    frame = pd.DataFrame({"bin": bins, "x": position, "y": shap_col}).groupby("bin")
    stats = frame.agg(n=("x", "size"), x=("x", "mean"), y=("y", "mean"))
    stats = stats[stats["n"] >= _MIN_MEAN_ROWS]
    return stats["x"].to_numpy(np.float64), stats["y"].to_numpy(np.float64)


def _figure(*, width: float, height: float) -> tuple[Figure, Axes]:
    """A figure on the Agg canvas, outside pyplot (no display, no global figure list)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path | str) -> Path:
    target = Path(path)
    fig.savefig(target, format="png", dpi=150)
    return target
