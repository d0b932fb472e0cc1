"""Score the cohort and explain each score once per distinct model input, exactly.

The release needs, for every young person of the cohort, the calibrated risk and the SHAP
contribution of each risk factor; it publishes only area sums of them. Both are functions of
the path a row takes through the trees, so rows that take the same path everywhere need
computing once:

* ``identical`` rows (the same value in every input column) obviously share everything;
* ``model_equivalent`` rows lie on the same side of every threshold the model splits on,
  feature by feature (NaN, and values LightGBM may treat as zero, are kept apart). LightGBM
  sends a value left at a node when ``value <= threshold``, so such rows reach the same leaf
  in every tree: the same raw score, the same calibrated risk and, because tree-path-dependent
  TreeSHAP depends on a row only through the branch it takes at each node, the same SHAP
  values. This is exact, not an approximation; the tests compare it with scoring every row.

:func:`score_cohort` groups the rows into such patterns, scores and explains one
representative of each (LightGBM's TreeSHAP, through :func:`governance.explain.shap_values`,
which in turn asks LightGBM once per distinct pattern *of each tree*), and hands each row the
values of its pattern. Per-person arrays never leave this process: the caller aggregates them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from governance.audit.explain import shap_values
from governance.contracts.errors import ExtractError
from governance.contracts.release_schema import ReleaseError

__all__ = [
    "Dedup",
    "ScoredCohort",
    "ScoringStats",
    "releasable_booster",
    "row_patterns",
    "score_cohort",
]

logger = logging.getLogger("training.release")

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Dedup = Literal["model_equivalent", "identical", "none"]

#: LightGBM treats |value| <= float32(1e-35) as zero; such values are keyed by exact value.
_TINY = 1e-30
#: Pattern keys are re-numbered densely before they would pass this (keeps them in int64).
_MAX_KEY = 2**62

_NOT_LIGHTGBM = (
    "model version {version}: its scorer is a {kind}, not a LightGBM booster; a release needs "
    "exact TreeSHAP contributions, so only LightGBM models can be released"
)
_COLUMNS = "the model's input column(s) {missing} are not in the features table"


@dataclass(frozen=True)
class ScoringStats:
    """How much work deduplication saved; counts and seconds only."""

    rows: int
    identical_rows: int  # distinct rows when every input value must match
    patterns: int  # distinct rows actually scored and explained (per the dedup mode)
    dedup: str
    dedup_seconds: float
    score_seconds: float
    shap_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """For the audit log and the command's summary."""
        return {
            "rows": self.rows,
            "identical_rows": self.identical_rows,
            "patterns": self.patterns,
            "dedup": self.dedup,
            "dedup_seconds": round(self.dedup_seconds, 3),
            "score_seconds": round(self.score_seconds, 3),
            "shap_seconds": round(self.shap_seconds, 3),
        }


@dataclass(frozen=True)
class ScoredCohort:
    """Per-person risk and factor contributions (inside this process only)."""

    risk: FloatArray  # (rows,) calibrated risk
    contributions: FloatArray  # (rows, factors) SHAP sum of each factor's inputs, log-odds
    factors: tuple[str, ...]
    stats: ScoringStats


def score_cohort(
    model: Any,
    cohort: pd.DataFrame,
    factor_inputs: Mapping[str, Sequence[str]],
    *,
    dedup: Dedup = "model_equivalent",
    version: str = "?",
    progress: Callable[[str], None] | None = None,
) -> ScoredCohort:
    """Calibrated risk and factor contributions for every row of ``cohort``.

    Parameters
    ----------
    model
        What :meth:`governance.board.registry.Registry.load_model` returns: ``columns``,
        ``predict(frame)`` (calibrated) and ``scorer`` (a LightGBM booster).
    cohort
        One row per young person, with the model's input columns.
    factor_inputs
        Each factor's model inputs; its contribution is the sum of their SHAP values.
    dedup
        Which rows count as the same (see the module notes); all give the same values.

    Raises
    ------
    ReleaseError
        If the scorer is not LightGBM.
    ExtractError
        If an input column of the model is not in ``cohort``.
    """
    say = progress or (lambda _: None)
    booster = releasable_booster(model, version)
    columns = list(model.columns)
    missing = [c for c in columns if c not in cohort.columns]
    if missing:
        raise ExtractError(_COLUMNS.format(missing=missing))
    x = np.ascontiguousarray(cohort[columns].to_numpy(np.float64, na_value=np.nan))

    say(f"grouping {len(x):,} rows into distinct model inputs")
    started = time.perf_counter()
    identical_first, _ = row_patterns(x, None, "identical")
    first, inverse = row_patterns(x, booster, dedup)
    dedup_s = time.perf_counter() - started
    representatives = pd.DataFrame(x[first], columns=columns)

    say(f"scoring {len(first):,} distinct rows")
    started = time.perf_counter()
    risk = np.asarray(model.predict(representatives), dtype=np.float64)
    score_s = time.perf_counter() - started

    say(f"exact TreeSHAP on {len(first):,} distinct rows")
    started = time.perf_counter()
    per_pattern = _per_factor(shap_values(booster, representatives), columns, factor_inputs)
    shap_s = time.perf_counter() - started

    stats = ScoringStats(
        rows=len(x),
        identical_rows=len(identical_first),
        patterns=len(first),
        dedup=dedup,
        dedup_seconds=dedup_s,
        score_seconds=score_s,
        shap_seconds=shap_s,
    )
    logger.info(
        "scored %d rows: %d identical-distinct, %d %s patterns; SHAP %.1f s",
        stats.rows,
        stats.identical_rows,
        stats.patterns,
        dedup,
        shap_s,
    )
    return ScoredCohort(
        risk=risk[inverse],
        contributions=per_pattern[inverse],
        factors=tuple(factor_inputs),
        stats=stats,
    )


def _per_factor(
    values: FloatArray, columns: Sequence[str], factor_inputs: Mapping[str, Sequence[str]]
) -> FloatArray:
    """Each factor's contribution: the sum of its inputs' SHAP values (rows x factors)."""
    mapping = np.zeros((len(columns), len(factor_inputs)), dtype=np.float64)
    position = {c: i for i, c in enumerate(columns)}
    for j, inputs in enumerate(factor_inputs.values()):
        for column in inputs:
            mapping[position[column], j] = 1.0
    result: FloatArray = values @ mapping
    return result


def releasable_booster(model: Any, version: str = "?") -> lightgbm.Booster:
    """The model's LightGBM booster, or :class:`ReleaseError`: only LightGBM has exact TreeSHAP."""
    booster = model.scorer
    if not isinstance(booster, lightgbm.Booster):
        raise ReleaseError(_NOT_LIGHTGBM.format(version=version, kind=type(booster).__name__))
    return booster


def row_patterns(
    x: FloatArray, booster: lightgbm.Booster | None, dedup: Dedup
) -> tuple[IntArray, IntArray]:
    """Group rows: the first row of each group, and each row's group.

    Returns
    -------
    (first, inverse)
        ``x[first][inverse]`` stands for ``x``: ``first`` holds one row index per group
        (ordered by group key), ``inverse`` the group of each row.
    """
    n, m = x.shape
    if dedup == "none" or n == 0:
        index = np.arange(n, dtype=np.int64)
        return index, index
    if dedup == "model_equivalent":
        if booster is None:
            raise ValueError("model_equivalent grouping needs the booster")
        thresholds = _thresholds(booster)
        codes = [
            _threshold_codes(x[:, j], thresholds[j])
            for j in range(m)
            if j in thresholds  # a feature no tree splits on cannot tell rows apart
        ]
    else:
        codes = [_exact_codes(x[:, j]) for j in range(m)]
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for code in codes:
        width = int(code.max()) + 1
        if span * width >= _MAX_KEY:
            key, uniques = pd.factorize(key)
            key = key.astype(np.int64)
            span = len(uniques)
        key = key * width + code
        span *= width
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first.astype(np.int64), inverse.reshape(-1).astype(np.int64)


def _thresholds(booster: lightgbm.Booster) -> dict[int, FloatArray | None]:
    """Every threshold the model splits on, per feature; None for a categorical feature."""
    found: dict[int, set[float]] = {}
    categorical: set[int] = set()
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                continue
            feature = int(node["split_feature"])
            if node.get("decision_type") == "<=":
                found.setdefault(feature, set()).add(float(node["threshold"]))
            else:  # a categorical split: rows must match by value
                categorical.add(feature)
            stack += [node["left_child"], node["right_child"]]
    out: dict[int, FloatArray | None] = {
        f: np.array(sorted(t), dtype=np.float64) for f, t in found.items()
    }
    out.update(dict.fromkeys(categorical))
    return out


def _threshold_codes(values: FloatArray, thresholds: FloatArray | None) -> IntArray:
    """``0..K``: how many thresholds lie below the value; ``K+1`` NaN; ``K+2+j`` near zero."""
    if thresholds is None:
        return _exact_codes(values)
    k = len(thresholds)
    codes = np.searchsorted(thresholds, values, side="left").astype(np.int64)
    nan = np.isnan(values)
    codes[nan] = k + 1
    tiny = ~nan & (np.abs(values) <= _TINY)
    if tiny.any():
        codes[tiny] = k + 2 + pd.factorize(values[tiny], sort=True)[0]
    return codes


def _exact_codes(values: FloatArray) -> IntArray:
    """One code per distinct value (NaN its own)."""
    codes, _ = pd.factorize(values, sort=True, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    return np.where(codes < 0, codes.max(initial=-1) + 1, codes)
