"""What changed since the ethics board last said yes: data drift and figures, side by side.

The *reference* sample is the approved champion's test data; the *current* sample is the
candidate's. Three functions compare them:

- :func:`psi` is the population stability index of one column,
  ``sum((current% - reference%) * ln(current% / reference%))`` over bins cut at the
  reference's quantiles. Missing values (NaN) are a bin of their own, so a change in how often
  a value is recorded counts as drift. A bin that one side leaves empty is given a share of
  ``EPSILON`` so the index stays finite.
- :func:`feature_drift` applies it to every numeric column the two samples share and labels
  each with the usual rule of thumb (:func:`drift_level`): below 0.1 *stable*, from 0.1 to
  below 0.25 *moderate*, from 0.25 *significant*. The thresholds are a convention from credit
  scoring, not a test: with a few hundred rows, sampling noise alone can reach 0.1.
- :func:`compare_figures` lays the champion's and the candidate's headline figures (AUC,
  calibration, fairness gaps, ...) side by side.

:func:`champion_drift` assembles the audit's drift section from the champion's own audit
(an :class:`~governance.contracts.audit_document.AuditDocument`, :class:`ChampionAudit`).

Everything returned is aggregates only: plain values ready for :func:`json.dumps`, or for
:func:`champion_drift` a typed section of the document.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from governance.audit.arrays import FloatArray, Json
from governance.contracts.audit_document import (
    AuditDocument,
    ChampionReference,
    DimensionSummary,
    DriftLevel,
    DriftReport,
    Drivers,
    ExplainabilityReport,
    FeatureDrift,
    FeatureListChange,
    FigureChange,
    ScoreDrift,
)
from governance.contracts.errors import VruError

__all__ = [
    "EPSILON",
    "HEADLINE",
    "MODERATE_FROM",
    "SIGNIFICANT_FROM",
    "ChampionAudit",
    "DriftInputError",
    "DriftLevel",
    "champion_drift",
    "compare_figures",
    "drift_level",
    "feature_drift",
    "headline_figures",
    "psi",
    "psi_against",
    "reference_bins",
]

FigureStatus = Literal["shared", "champion_only", "candidate_only"]

EPSILON = 1e-4
MODERATE_FROM = 0.1
SIGNIFICANT_FROM = 0.25
#: The figures compared between champion and candidate, besides each dimension's gaps.
HEADLINE = (
    "test_roc_auc",
    "test_pr_auc",
    "test_brier",
    "test_ece",
    "test_calibration_slope",
    "test_precision_at_top_k",
    "test_recall_at_top_k",
)
#: How many of each model's most important inputs the section lists.
TOP_DRIVERS = 10

_BAD_BINS = "'bins' must be an integer of at least 2 (got {0!r})"
_NOT_ONE_DIMENSIONAL = "'{0}' must be one-dimensional; got shape {1}"
_EMPTY_SAMPLE = "'{0}' has no values; population stability needs at least one"
_NOT_NUMERIC = "'{0}' must be numeric (got dtype {1})"
_NOT_DATAFRAME = "'{0}' must be a pandas DataFrame (got {1})"
_BAD_PSI = "'psi' must be a non-negative, finite number (got {0!r})"
_BAD_REFERENCE = "'reference' must be reference_bins' output ({{'cuts', 'shares'}}); got {0!r:.200}"
_NOT_A_FIGURE = "Figure {name!r} of the {side} must be a number or None (got {value!r})"


class DriftInputError(VruError, ValueError):
    """A sample or option given to a drift comparison is not usable."""


def psi(reference: ArrayLike, current: ArrayLike, *, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``.

    Parameters
    ----------
    reference : array-like of float
        The sample the bins are cut from (the approved champion's test data). NaN is allowed.
    current : array-like of float
        The sample to compare (the candidate's). NaN is allowed.
    bins : int, default 10
        Number of quantile bins of the reference. Quantiles that coincide (a column with a
        few distinct values) are merged, so there may be fewer.

    Returns
    -------
    float
        ``sum((c - r) * ln(c / r))`` over the bins, where ``r`` and ``c`` are the shares of
        each sample in a bin (at least ``EPSILON``). 0 for identical samples; it never is
        negative and never is infinite.

    Raises
    ------
    DriftInputError
        If ``bins`` is not an integer of at least 2, or a sample is empty, not
        one-dimensional or not numeric.

    Notes
    -----
    The bins are right-closed intervals between the reference's interior quantiles, and the
    outermost two are open-ended, so a current value beyond the reference's range falls in
    the first or last bin. Quantiles that coincide mark a point mass (a column of counts or
    flags); a point mass at the reference's maximum gets a bin of its own, so a constant
    column has three bins: below its value, its value, and above. Missing values form one
    more bin; infinite values count as very small or very large.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> before = rng.normal(size=10_000)
    >>> psi(before, before)
    0.0
    >>> round(psi(before, before + 1.0), 1)
    0.9
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 2:
        raise DriftInputError(_BAD_BINS.format(bins))
    ref = _as_float(reference, "reference")
    cur = _as_float(current, "current")
    cuts = _cut_points(ref, int(bins))
    ref_counts = _bin_counts(ref, cuts)
    cur_counts = _bin_counts(cur, cuts)
    r = np.maximum(ref_counts / ref.size, EPSILON)
    c = np.maximum(cur_counts / cur.size, EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def reference_bins(values: ArrayLike, *, bins: int = 10) -> Json:
    """A sample's bins and shares, kept so that a later sample can be compared with it.

    The champion's audit stores this for each feature and for the score, so the next
    candidate's drift is measured without keeping the champion's rows: ``{"cuts": [...],
    "shares": [...]}``, the right edges of :func:`psi`'s bins and each bin's share (the last
    share is that of missing values). Aggregates only.
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 2:
        raise DriftInputError(_BAD_BINS.format(bins))
    ref = _as_float(values, "values")
    cuts = _published_cuts(ref, _cut_points(ref, int(bins)))
    shares = _bin_counts(ref, cuts) / ref.size
    return {"cuts": [float(c) for c in cuts], "shares": [float(s) for s in shares]}


def _published_cuts(sample: FloatArray, cuts: FloatArray) -> FloatArray:
    """Each cut moved to halfway between the sample's values on either side of it.

    A quantile of a column is often one person's value (their score, say); the midpoint of
    two adjacent distinct values is nobody's, and it splits the sample exactly as the
    quantile did. A cut with no value below it (a constant column) is kept.
    """
    known = np.unique(sample[np.isfinite(sample)])
    at = np.searchsorted(known, cuts, side="right")  # first value above each cut
    moved = cuts.copy()
    inside = (at > 0) & (at < known.size)
    moved[inside] = (known[at[inside] - 1] + known[at[inside]]) / 2
    return moved


def psi_against(reference: Mapping[str, Any], current: ArrayLike) -> float:
    """:func:`psi` of ``current`` against bins kept by :func:`reference_bins`.

    Equal to ``psi(reference_sample, current)``, except that a current value lying strictly
    between two adjacent reference values may fall in the neighbouring bin.
    """
    try:
        cuts = np.asarray(reference["cuts"], dtype=np.float64)
        shares = np.asarray(reference["shares"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise DriftInputError(_BAD_REFERENCE.format(reference)) from None
    if shares.shape != (cuts.size + 2,):
        raise DriftInputError(_BAD_REFERENCE.format(reference))
    cur = _as_float(current, "current")
    r = np.maximum(shares, EPSILON)
    c = np.maximum(_bin_counts(cur, cuts) / cur.size, EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def drift_level(value: float) -> DriftLevel:
    """Label a population stability index with the usual rule of thumb.

    Parameters
    ----------
    value : float
        A population stability index (see :func:`psi`).

    Returns
    -------
    {"stable", "moderate", "significant"}
        ``"stable"`` below ``MODERATE_FROM`` (0.1), ``"moderate"`` from 0.1 to below
        ``SIGNIFICANT_FROM`` (0.25), ``"significant"`` from 0.25.

    Raises
    ------
    DriftInputError
        If ``value`` is negative, NaN or infinite.
    """
    if not (math.isfinite(value) and value >= 0):
        raise DriftInputError(_BAD_PSI.format(value))
    if value < MODERATE_FROM:
        return "stable"
    if value < SIGNIFICANT_FROM:
        return "moderate"
    return "significant"


def feature_drift(reference: pd.DataFrame, current: pd.DataFrame, *, bins: int = 10) -> list[Json]:
    """Population stability of every numeric column, plus the columns that came or went.

    Parameters
    ----------
    reference : pandas.DataFrame
        The approved champion's test data.
    current : pandas.DataFrame
        The candidate's.
    bins : int, default 10
        Number of quantile bins (see :func:`psi`).

    Returns
    -------
    list of dict
        First one row per column that is numeric (booleans included) in both samples,
        ``{"feature", "psi", "level"}``, sorted by ``psi`` from largest (ties by name); the
        level is :func:`drift_level`'s. Then one row per column in the reference only,
        ``{"feature", "psi": None, "level": "missing_in_current"}``, and one per column in
        the current sample only, ``{"feature", "psi": None, "level": "new_in_current"}``,
        each group in the order of its sample's columns. Columns that both samples hold but
        that are not numeric in both are left out.

    Raises
    ------
    DriftInputError
        If a sample is not a DataFrame, or as :func:`psi`.
    """
    for name, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise DriftInputError(_NOT_DATAFRAME.format(name, type(frame).__name__))
    in_current = set(current.columns)
    in_reference = set(reference.columns)
    rows: list[Json] = []
    for column in reference.columns:
        if column in in_current and _is_numeric(reference[column]) and _is_numeric(current[column]):
            value = psi(reference[column], current[column], bins=bins)
            rows.append({"feature": str(column), "psi": value, "level": drift_level(value)})
    rows.sort(key=lambda row: (-row["psi"], row["feature"]))
    rows += [
        {"feature": str(column), "psi": None, "level": "missing_in_current"}
        for column in reference.columns
        if column not in in_current
    ]
    rows += [
        {"feature": str(column), "psi": None, "level": "new_in_current"}
        for column in current.columns
        if column not in in_reference
    ]
    return rows


def compare_figures(
    champion: Mapping[str, float | None], candidate: Mapping[str, float | None]
) -> list[Json]:
    """Put the champion's and the candidate's figures side by side.

    Parameters
    ----------
    champion : mapping of str to float or None
        Headline figures of the approved model (``{"auc": 0.81, "brier": 0.12, ...}``).
        None (or NaN) means the figure was not computed.
    candidate : mapping of str to float or None
        The same for the candidate.

    Returns
    -------
    list of dict
        One row per figure name, in the champion's order and then the candidate's new
        names: ``{"figure", "champion", "candidate", "change", "status"}``. ``change`` is
        ``candidate - champion``, or None when either side is None. ``status`` is
        ``"shared"``, ``"champion_only"`` or ``"candidate_only"``; on the side a figure is
        absent from, its value is None. NaN is reported as None.

    Raises
    ------
    DriftInputError
        If a value is neither a real number nor None.

    Examples
    --------
    >>> rows = compare_figures({"auc": 0.5, "brier": 0.25}, {"auc": 0.75, "ece": 0.0})
    >>> rows[0]
    {'figure': 'auc', 'champion': 0.5, 'candidate': 0.75, 'change': 0.25, 'status': 'shared'}
    >>> [(row["figure"], row["status"]) for row in rows[1:]]
    [('brier', 'champion_only'), ('ece', 'candidate_only')]
    """
    old = {name: _figure(value, name, "champion") for name, value in champion.items()}
    new = {name: _figure(value, name, "candidate") for name, value in candidate.items()}
    rows: list[Json] = []
    for name in [*old, *(name for name in new if name not in old)]:
        status: FigureStatus = (
            "shared"
            if name in old and name in new
            else "champion_only"
            if name in old
            else "candidate_only"
        )
        before, after = old.get(name), new.get(name)
        change = None if before is None or after is None else after - before
        rows.append(
            {
                "figure": name,
                "champion": before,
                "candidate": after,
                "change": change,
                "status": status,
            }
        )
    return rows


def _as_float(values: ArrayLike, name: str) -> FloatArray:
    """A sample as a one-dimensional float array, NaN for missing; refuse anything else."""
    if isinstance(values, pd.Series | pd.Index):
        if not _is_numeric(values):
            raise DriftInputError(_NOT_NUMERIC.format(name, values.dtype))
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        raw = np.asarray(values)
        if raw.dtype.kind not in "biuf":
            raise DriftInputError(_NOT_NUMERIC.format(name, raw.dtype))
        array = raw.astype(np.float64)
    if array.ndim != 1:
        raise DriftInputError(_NOT_ONE_DIMENSIONAL.format(name, array.shape))
    if array.size == 0:
        raise DriftInputError(_EMPTY_SAMPLE.format(name))
    return array


def _is_numeric(values: pd.Series | pd.Index) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values.dtype))


def _cut_points(reference: FloatArray, bins: int) -> FloatArray:
    """Right edges of the reference's bins, without the open-ended last one."""
    known = reference[np.isfinite(reference)]
    if known.size == 0:
        return np.empty(0, dtype=np.float64)
    quantiles = np.quantile(known, np.linspace(0.0, 1.0, bins + 1))
    cuts = np.unique(quantiles[1:-1])
    top = quantiles[-1]
    if cuts[-1] == top:  # a point mass at the maximum: a bin of its own (a constant column too)
        cuts = np.unique(np.append(cuts, np.nextafter(top, -np.inf)))
    return cuts


def _bin_counts(values: FloatArray, cuts: FloatArray) -> FloatArray:
    """Count values per bin: ``len(cuts) + 1`` value bins, then one for NaN."""
    missing = np.isnan(values)
    codes = np.where(missing, cuts.size + 1, np.searchsorted(cuts, values, side="left"))
    return np.bincount(codes, minlength=cuts.size + 2).astype(np.float64)


def _figure(value: float | None, name: str, side: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise DriftInputError(_NOT_A_FIGURE.format(name=name, side=side, value=value))
    number = float(value)
    return number if math.isfinite(number) else None


# -- the audit's drift section ---------------------------------------------------------------


@dataclass(frozen=True)
class ChampionAudit:
    """The approved champion's own audit, for the "what changed" section.

    ``training_reference`` is what its training run kept of its training data
    (:func:`governance.audit.cohort_drift.training_reference`; None when it kept none) and
    ``model`` the champion itself (``predict``, ``columns``; None when not loaded), so that
    drift is measured from its training data and it is scored beside the candidate.
    """

    version: str
    report_sha256: str | None
    audit: AuditDocument
    training_reference: Json | None = None
    model: Any = None


def headline_figures(
    performance: Mapping[str, float | None], summary: Mapping[str, DimensionSummary]
) -> dict[str, float | None]:
    """The figures compared: :data:`HEADLINE`, then each dimension's two fairness gaps."""
    figures: dict[str, float | None] = {k: performance.get(k) for k in HEADLINE}
    for dimension, gaps in summary.items():
        figures[f"equalized_odds_difference ({dimension})"] = gaps.equalized_odds_difference
        figures[f"demographic_parity_difference ({dimension})"] = gaps.demographic_parity_difference
    return figures


def champion_drift(
    champion: ChampionAudit,
    x: pd.DataFrame,
    scores: ArrayLike,
    *,
    candidate: Mapping[str, float | None],
    drivers: Sequence[str],
) -> DriftReport:
    """What changed since the champion: input and score drift, figures, drivers, inputs.

    Parameters
    ----------
    champion : ChampionAudit
        The champion's audit; its kept distributions are the reference samples.
    x : pandas.DataFrame
        The candidate's inputs on its test split, one column per model input.
    scores : array-like of float
        The candidate's scores on the same rows.
    candidate : mapping of str to float or None
        The candidate's :func:`headline_figures`.
    drivers : sequence of str
        The candidate's inputs, most important first.

    Returns
    -------
    DriftReport
        Features sorted by PSI from largest; the score's PSI if the champion kept its
        distribution; :func:`compare_figures` of the two sets of figures.
    """
    old = champion.audit
    kept = old.distributions
    columns = [str(c) for c in x.columns]
    values = {c: psi_against(kept[c].model_dump(), x[c].to_numpy()) for c in columns if c in kept}
    score_psi = psi_against(kept["score"].model_dump(), scores) if "score" in kept else None
    before = old.explainability
    old_drivers = before.importance if isinstance(before, ExplainabilityReport) else []
    return DriftReport(
        available=True,
        champion=ChampionReference(
            version=champion.version, approved_report_sha256=champion.report_sha256
        ),
        features=[
            FeatureDrift(feature=c, psi=v, level=drift_level(v))
            for c, v in sorted(values.items(), key=lambda item: -item[1])
        ],
        score=None
        if score_psi is None
        else ScoreDrift(psi=score_psi, level=drift_level(score_psi)),
        figures=[
            FigureChange.model_validate(row)
            for row in compare_figures(
                headline_figures(old.performance, old.fairness.summary), candidate
            )
        ],
        drivers=Drivers(
            champion=[r.feature for r in old_drivers[:TOP_DRIVERS]],
            candidate=list(drivers[:TOP_DRIVERS]),
        ),
        feature_list=FeatureListChange(
            added=[c for c in columns if c not in old.model.inputs],
            removed=[c for c in old.model.inputs if c not in columns],
        ),
    )
