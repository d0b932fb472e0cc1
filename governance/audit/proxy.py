"""Proxy check: how well a model's inputs predict a sensitive attribute.

Leaving ethnicity (or sex, or age) out of a model's inputs does not leave it out of the model
when the inputs that remain predict it: an area code, a school or a pattern of contacts can
stand in for it. :func:`proxy_strength` measures that directly. It fits a small LightGBM
classifier from the inputs to the attribute in stratified cross-validation and reports the
out-of-fold ROC AUC (0.5 is chance, 1 a perfect stand-in) and the inputs that carry most of
the signal.

The AUC is pooled over the out-of-fold predictions of all folds; for more than two classes
it is the macro average of one-vs-rest AUCs, so every group counts the same whatever its
size. There is no agreed threshold: the AUC is read against the 0.5 of chance, and the top
inputs say which ones to question.

Rows whose attribute is missing are left out (missingness is not a class here), and a class
with fewer than ``2 × cv`` rows is dropped, and named, because cross-validation cannot score
it. What is returned holds aggregates only (counts, class names, an AUC, importance shares)
and is ready for :func:`json.dumps`.

An input can also stand in for *where* a young person lives, and so for ethnicity through
residential patterns, without any classifier finding it: an area-level score with one value
per LSOA is an area code by another name. :func:`area_identifiers` flags such inputs by a
plain rule. An input **identifies areas** when both

- it is constant within areas: at least ``min_constant_share`` (default 0.99) of the rows
  with a recorded value hold their area's most common value, and
- it takes at least ``min_distinct_share`` (default 0.5) times as many distinct values as
  there are areas, so that a value narrows a person down to one or two areas.

A continuous individual input fails the first test; a binary area flag (two values) or a
deprivation decile (ten) fails the second. Missing values, of the input or of the area, are
left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from governance.audit.arrays import FloatArray, IntArray, Json
from governance.contracts.errors import VruError

__all__ = [
    "BASELINE_AUC",
    "MODEL_PARAMS",
    "TOP_INPUTS",
    "ProxyInputError",
    "area_identifiers",
    "proxy_strength",
]


BASELINE_AUC = 0.5
TOP_INPUTS = 10
MODEL_PARAMS: Mapping[str, Any] = MappingProxyType(
    {
        "n_estimators": 100,
        "num_leaves": 15,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
)

_NOT_DATAFRAME = "'x' must be a pandas DataFrame (got {0})"
_NOT_SERIES = "'attribute' must be a pandas Series (got {0})"
_NO_INPUTS = "'x' has no columns; there is nothing to predict the attribute from"
_DUPLICATE_INPUTS = "'x' has duplicate column names: {0}"
_BAD_LENGTH = "'attribute' must have one value per row of 'x' ({0} rows); got {1}"
_BAD_INTEGER = "'{0}' must be an integer of at least {1} (got {2!r})"
_BAD_INPUT_TYPE = (
    "Column {0!r} of 'x' has dtype {1}; inputs must be numeric, boolean, categorical or text"
)
_BAD_AREA_LENGTH = "'area' must have one value per row of 'x' ({0} rows); got {1}"
_NOT_AREA_SERIES = "'area' must be a pandas Series (got {0})"
_BAD_SHARE = "'{0}' must be greater than 0 and at most 1 (got {1!r})"
_IDENTIFIER_REASON = (
    "{feature} takes {distinct} distinct values over {areas} areas of {area} and is the same "
    "for {constant:.1%} of people within an area: it identifies where a young person lives, "
    "so it can stand in for ethnicity through residential patterns"
)
_TOO_FEW_CLASSES = (
    "Attribute {name!r} needs at least two classes with {minimum} or more rows (2 × cv) "
    "among the {rows} rows used; got {kept} such class(es) {classes} and dropped {dropped}"
)


class ProxyInputError(VruError, ValueError):
    """The inputs, the attribute or an option given to the proxy check is not usable."""


def proxy_strength(
    x: pd.DataFrame,
    attribute: pd.Series,
    *,
    seed: int,
    max_rows: int = 50_000,
    cv: int = 3,
    num_threads: int = 2,
) -> Json:
    """How well the inputs ``x`` predict the sensitive ``attribute``, out of sample.

    Parameters
    ----------
    x : pandas.DataFrame
        The model's inputs, one row per person. Numeric and boolean columns are used as
        numbers (missing values allowed), categorical and text columns as categories.
    attribute : pandas.Series
        The sensitive attribute, one value per row of ``x`` in the same order (the index is
        not used to align them). Missing values are left out.
    seed : int
        Seeds the sample, the folds and the classifier; the same seed gives the same result.
    max_rows : int, default 50_000
        At most this many rows (with a recorded attribute), sampled without replacement, are
        used.
    cv : int, default 3
        Number of stratified cross-validation folds.
    num_threads : int, default 2
        Threads for LightGBM. More threads than idle cores slow LightGBM down badly (its
        OpenMP threads spin while they wait), so use 1 on a busy or small machine.

    Returns
    -------
    dict
        ``attribute``: the Series' name (as text, or None); ``rows``: rows used;
        ``classes``: the classes kept, as text, sorted; ``dropped_classes``: classes with
        fewer than ``2 × cv`` rows in the sample, as text, sorted; ``auc``: out-of-fold ROC
        AUC (macro one-vs-rest for more than two classes); ``baseline_auc``: 0.5, chance;
        ``top_inputs``: up to 10 ``{"feature", "importance_share"}``, the inputs with the
        largest share of the total split gain of a classifier fitted on all rows used,
        largest first.

    Raises
    ------
    ProxyInputError
        If ``x`` or ``attribute`` is of the wrong type or length, ``x`` has no, duplicate or
        unusable columns, an option is out of range, or fewer than two classes have
        ``2 × cv`` rows.

    Notes
    -----
    The classifier is small and fixed (:data:`MODEL_PARAMS`: 100 rounds of 15 leaves,
    deterministic, seeded with ``seed``), so the check measures what the inputs reveal with modest
    effort; a bigger model can only find more.
    """
    _check_options(seed=seed, max_rows=max_rows, cv=cv, num_threads=num_threads)
    inputs = _model_inputs(x)
    _check_attribute(attribute, len(inputs))

    name = None if attribute.name is None else str(attribute.name)
    rows, y, classes, dropped = _sample_classes(
        attribute, name, max_rows=max_rows, cv=cv, seed=seed
    )
    data = inputs.iloc[rows].reset_index(drop=True)

    params = {**MODEL_PARAMS, "random_state": seed, "n_jobs": num_threads}
    proba = _out_of_fold_proba(data, y, n_classes=len(classes), params=params, cv=cv, seed=seed)
    auc = _auc(y, proba, len(classes))
    final = LGBMClassifier(**params).fit(data, y)
    gain = np.asarray(final.booster_.feature_importance(importance_type="gain"), dtype=np.float64)
    return {
        "attribute": name,
        "rows": int(rows.size),
        "classes": classes,
        "dropped_classes": dropped,
        "auc": auc,
        "baseline_auc": BASELINE_AUC,
        "top_inputs": _top_inputs(gain, [str(c) for c in x.columns]),
    }


def _sample_classes(
    attribute: pd.Series, name: str | None, *, max_rows: int, cv: int, seed: int
) -> tuple[IntArray, IntArray, list[str], list[str]]:
    """The rows used (a seeded sample of the recorded ones) and their class codes.

    Classes with fewer than ``2 × cv`` sampled rows are dropped; fewer than two kept is refused.
    """
    rng = np.random.default_rng(seed)
    recorded = np.flatnonzero(attribute.notna().to_numpy())
    if recorded.size > max_rows:
        recorded = np.sort(rng.choice(recorded, size=max_rows, replace=False))
    labels = attribute.iloc[recorded].astype(str).to_numpy()
    names, counts = np.unique(labels, return_counts=True)
    keep = counts >= 2 * cv
    classes, dropped = [str(c) for c in names[keep]], [str(c) for c in names[~keep]]
    if len(classes) < 2:
        raise ProxyInputError(
            _TOO_FEW_CLASSES.format(
                name=name,
                minimum=2 * cv,
                rows=recorded.size,
                kept=len(classes),
                classes=classes,
                dropped=dropped,
            )
        )
    used = np.isin(labels, classes)
    rows = recorded[used]
    y = np.searchsorted(np.asarray(classes), labels[used]).astype(np.int64)
    return rows, y, classes, dropped


def _auc(y: IntArray, proba: FloatArray, n_classes: int) -> float:
    """Out-of-fold ROC AUC: binary, or the macro average of one-against-rest."""
    if n_classes == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(
        roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=range(n_classes))
    )


def _check_options(*, seed: object, max_rows: object, cv: object, num_threads: object) -> None:
    """Refuse an option that is not a whole number of at least its minimum."""
    _check_integer(seed, "seed", minimum=0)
    _check_integer(max_rows, "max_rows", minimum=1)
    _check_integer(cv, "cv", minimum=2)
    _check_integer(num_threads, "num_threads", minimum=1)


def _check_attribute(attribute: object, rows: int) -> None:
    """Refuse an attribute that is not a Series with one value per row of the inputs."""
    if not isinstance(attribute, pd.Series):
        raise ProxyInputError(_NOT_SERIES.format(type(attribute).__name__))
    if len(attribute) != rows:
        raise ProxyInputError(_BAD_LENGTH.format(rows, len(attribute)))


def _check_integer(value: object, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ProxyInputError(_BAD_INTEGER.format(name, minimum, value))


def _model_inputs(x: pd.DataFrame) -> pd.DataFrame:
    """The inputs as LightGBM takes them: float or category columns named ``x0, x1, ...``.

    Neutral names keep LightGBM away from characters it refuses in feature names; text
    becomes categories here, once, so that every fold shares the same category codes.
    """
    if not isinstance(x, pd.DataFrame):
        raise ProxyInputError(_NOT_DATAFRAME.format(type(x).__name__))
    if x.shape[1] == 0:
        raise ProxyInputError(_NO_INPUTS)
    if x.columns.has_duplicates:
        raise ProxyInputError(
            _DUPLICATE_INPUTS.format(sorted(set(x.columns[x.columns.duplicated()])))
        )
    columns: dict[str, Any] = {}
    for i, (column, values) in enumerate(x.items()):
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            columns[f"x{i}"] = values.array
        elif pd.api.types.is_numeric_dtype(dtype):
            columns[f"x{i}"] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        elif pd.api.types.is_string_dtype(dtype):
            columns[f"x{i}"] = pd.Categorical(values.to_numpy())
        else:
            raise ProxyInputError(_BAD_INPUT_TYPE.format(column, dtype))
    return pd.DataFrame(columns)


def _out_of_fold_proba(
    data: pd.DataFrame, y: IntArray, *, n_classes: int, params: dict[str, Any], cv: int, seed: int
) -> FloatArray:
    """Class probabilities for every row from the fold that did not train on it."""
    proba = np.zeros((y.size, n_classes), dtype=np.float64)
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    for train, test in folds.split(np.zeros(y.size), y):
        model = LGBMClassifier(**params).fit(data.iloc[train], y[train])
        proba[test] = np.asarray(model.predict_proba(data.iloc[test]), dtype=np.float64)
    return proba


def _top_inputs(gain: FloatArray, features: list[str]) -> list[Json]:
    """The inputs with the largest share of the total gain (ties by position), at most 10."""
    total = float(gain.sum())
    share = gain / total if total > 0 else np.zeros_like(gain)
    order = np.argsort(-share, kind="stable")[:TOP_INPUTS]
    return [{"feature": features[i], "importance_share": float(share[i])} for i in order]


def area_identifiers(
    x: pd.DataFrame,
    area: pd.Series,
    *,
    min_distinct_share: float = 0.5,
    min_constant_share: float = 0.99,
) -> Json:
    """The inputs of ``x`` that identify the areas of ``area`` (the rule: module docstring).

    Parameters
    ----------
    x : pandas.DataFrame
        The model's inputs, one row per person (any dtype: values are compared, not used).
    area : pandas.Series
        Each person's area (an LSOA code), aligned with ``x`` by position.
    min_distinct_share : float, default 0.5
        An identifier takes at least this many distinct values per area.
    min_constant_share : float, default 0.99
        An identifier holds its area's most common value for at least this share of rows.

    Returns
    -------
    dict
        ``area_column`` (the Series' name as text, or None), ``areas`` (areas with a recorded
        code), ``inputs_checked``, the two options, and ``identifiers``: one
        ``{"feature", "distinct_values", "constant_share", "reason"}`` per flagged input, in
        column order, ``reason`` saying it in words. Aggregates only.

    Raises
    ------
    ProxyInputError
        If ``x`` is not a DataFrame with columns, ``area`` not a Series of its length, or an
        option is not in (0, 1].
    """
    if not isinstance(x, pd.DataFrame) or x.shape[1] == 0:
        raise ProxyInputError(
            _NO_INPUTS if isinstance(x, pd.DataFrame) else _NOT_DATAFRAME.format(type(x).__name__)
        )
    if not isinstance(area, pd.Series):
        raise ProxyInputError(_NOT_AREA_SERIES.format(type(area).__name__))
    if len(area) != len(x):
        raise ProxyInputError(_BAD_AREA_LENGTH.format(len(x), len(area)))
    for name, share in (
        ("min_distinct_share", min_distinct_share),
        ("min_constant_share", min_constant_share),
    ):
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise ProxyInputError(_BAD_SHARE.format(name, share))
    area_name = None if area.name is None else str(area.name)
    area_codes, area_names = pd.factorize(area.to_numpy(dtype=object))
    areas = len(area_names)
    identifiers: list[Json] = []
    for column, values in x.items():
        distinct, constant = _area_pattern(area_codes, values)
        if constant >= min_constant_share and distinct >= min_distinct_share * areas > 0:
            identifiers.append(
                {
                    "feature": str(column),
                    "distinct_values": distinct,
                    "constant_share": constant,
                    "reason": _IDENTIFIER_REASON.format(
                        feature=column,
                        distinct=distinct,
                        areas=areas,
                        area=area_name,
                        constant=constant,
                    ),
                }
            )
    return {
        "area_column": area_name,
        "areas": areas,
        "inputs_checked": int(x.shape[1]),
        "min_distinct_share": float(min_distinct_share),
        "min_constant_share": float(min_constant_share),
        "identifiers": identifiers,
    }


def _area_pattern(area_codes: IntArray, values: pd.Series) -> tuple[int, float]:
    """An input's distinct values, and the share of rows holding their area's modal value.

    Rows with no area or no value are left out; with none left, the share is 0.
    """
    value_codes, _ = pd.factorize(values.to_numpy())
    keep = (area_codes >= 0) & (value_codes >= 0)
    if not keep.any():
        return 0, 0.0
    pairs = pd.DataFrame({"area": area_codes[keep], "value": value_codes[keep]})
    modal = pairs.value_counts().groupby(level="area").max().sum()
    distinct = int(np.unique(value_codes[keep]).size)
    return distinct, float(modal) / int(keep.sum())
