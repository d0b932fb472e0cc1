"""Estimators of a programme's effect on an area x period panel, with 95% intervals.

Every estimate is the *relative* change in the treated wards' recorded outcome rate caused by
the programme (-0.15: 15% fewer than without it), with its 95% interval:

* ``poisson_imputation``: the imputation DiD (Borusyak, Jaravel and Spiess; Gardner's
  two-stage idea) on the scale the counts live on: a Poisson model with ward and period
  effects is fitted on the untreated ward-periods only (never-treated wards, and the treated
  wards before their start), the treated ward-periods' counts are predicted from it, and the
  effect is observed over predicted, minus one. Robust to staggered starts and effects that
  vary by wave and time; the interval is by in-space placebo (the same estimate with the
  programme's starts given to random untreated wards), which stays honest with few treated
  wards and over-dispersed counts where clustered standard errors do not.
* ``did2s``: Gardner's two-stage difference-in-differences (``pyfixest.did2s``), robust to
  staggered adoption and effects that vary by wave and time: ward and period effects are fitted
  on untreated ward-periods only, then the treated ward-periods' residuals give the effect;
  population-weighted, standard errors clustered by ward. The same fit by period since the
  start is the event study.
* ``synthetic_control``: for each wave, the treated wards' pooled rate against a demeaned
  synthetic control (convex weights on never-treated wards matching the path before the start,
  plus a level shift, as in synthetic DiD); the interval is by placebo: the same fit on random
  sets of untreated wards of the same size, whose "effects" show how large a gap arises by
  chance (an in-space placebo test); their median is taken off the estimate.
* ``naive``: the treated wards' rate after the start against before it (a Poisson rate ratio):
  what a before/after comparison reports, which mistakes trends and selection for an effect.

Hand-written here: the Poisson fit with ward and period effects (iterative proportional
fitting, the model's exact maximum-likelihood solution, checked against ``pyfixest.fepois`` in
the tests; pyfixest takes 0.1 s a fit, too slow for 40 placebos x 200 programmes), the naive rate ratio's interval (a textbook log rate-ratio interval), the
synthetic-control weights (scipy's ``nnls`` on the simplex: ``pysyncon.Synth`` solves the same
problem with SLSQP at 0.3-5 s a fit, too slow for placebos and the benchmark) and the placebo
interval around it (no package forms one for pooled waves).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from training.evaluation.programme_panel import NEVER

__all__ = [
    "EventPoint",
    "ProgrammeEstimate",
    "did2s_estimate",
    "false_start_placebo",
    "naive_estimate",
    "poisson_imputation_estimate",
    "synthetic_control_estimate",
]

_Z = 1.959963984540054
_MAX_DONORS = 50
# a donor ward's rate must rest on this many young people in every period: a ward of ten
# swings between 0 and 100 per 1,000, and no weighted mix of such swings is a control
_MIN_DONOR_POPULATION = 100


@dataclass(frozen=True)
class EventPoint:
    """The effect (a rate per 1,000 difference) k periods from the start, with its interval."""

    k: int
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class ProgrammeEstimate:
    """One estimator's answer: the relative effect with its 95% interval."""

    estimator: str
    effect: float  # relative change in the treated wards' rate (-0.15 = 15% fewer)
    low: float
    high: float
    p_value: float
    event_study: list[EventPoint] = field(default_factory=list)
    note: str = ""

    @property
    def significant(self) -> bool:
        """The interval excludes no effect."""
        return self.high < 0.0 or self.low > 0.0


def _prepared(panel: pd.DataFrame) -> pd.DataFrame:
    """Ward-periods with young people, of wards with two untreated periods to learn from.

    (A ward with one would be a singleton in the first stage, which pyfixest drops.)
    """
    frame = panel[panel["population"] > 0].copy()
    untreated = frame.loc[~frame["treated"], "ward_code"].value_counts()
    frame = frame[frame["ward_code"].isin(untreated.index[untreated >= 2])]
    frame["treat"] = frame["treated"].astype(int)
    return frame


def naive_estimate(panel: pd.DataFrame) -> ProgrammeEstimate:
    """Treated wards' rate after the start over before it, minus one (Poisson interval)."""
    frame = _prepared(panel)
    mine = frame[frame["first_treated"] != NEVER]
    after, before = mine[mine["treated"]], mine[~mine["treated"]]
    a, b = after["recorded"].sum(), before["recorded"].sum()
    if a == 0 or b == 0 or before.empty:
        return ProgrammeEstimate("naive", np.nan, np.nan, np.nan, np.nan, note="no counts")
    log_rr = np.log((a / after["population"].sum()) / (b / before["population"].sum()))
    se = np.sqrt(1.0 / a + 1.0 / b)
    from scipy.stats import norm

    p = float(2 * norm.sf(abs(log_rr) / se))
    return ProgrammeEstimate(
        "naive",
        float(np.expm1(log_rr)),
        float(np.expm1(log_rr - _Z * se)),
        float(np.expm1(log_rr + _Z * se)),
        p,
    )


def _did2s(frame: pd.DataFrame, second_stage: str) -> pd.DataFrame:
    import pyfixest as pf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.did2s(
            frame,
            yname="rate_per_1000",
            first_stage="~0|ward_code+period",
            second_stage=second_stage,
            treatment="treat",
            cluster="ward_code",
            weights="population",
        )
    tidy: pd.DataFrame = fit.tidy()
    return tidy


def _relative(att: float, treated: pd.DataFrame) -> float:
    """ATT on the rate over the treated ward-periods' counterfactual rate."""
    observed = np.average(treated["rate_per_1000"], weights=treated["population"])
    return float(att / (observed - att)) if observed - att > 0 else np.nan


def did2s_estimate(panel: pd.DataFrame, *, event_study: bool = True) -> ProgrammeEstimate:
    """Gardner's two-stage DiD (pyfixest): the relative effect, and the event study."""
    frame = _prepared(panel)
    treated = frame[frame["treated"]]
    if treated.empty or (frame["first_treated"] == NEVER).sum() == 0:
        return ProgrammeEstimate("did2s", np.nan, np.nan, np.nan, np.nan, note="no comparison")
    row = {str(k): v for k, v in _did2s(frame, "~treat").loc["treat"].to_dict().items()}
    att, low, high = float(row["Estimate"]), float(row["2.5%"]), float(row["97.5%"])
    points: list[EventPoint] = []
    if event_study:
        rel = np.where(
            frame["first_treated"] != NEVER, frame["period"] - frame["first_treated"], -1
        )
        frame = frame.assign(rel=rel.astype(float))
        tidy = _did2s(frame, "~i(rel, ref=-1.0)")
        for name, r in tidy.iterrows():
            k = int(float(str(name).split("::")[1]))
            points.append(EventPoint(k, float(r["Estimate"]), float(r["2.5%"]), float(r["97.5%"])))
        points.append(EventPoint(-1, 0.0, 0.0, 0.0))
        points.sort(key=lambda p: p.k)
    return ProgrammeEstimate(
        "did2s",
        _relative(att, treated),
        _relative(low, treated),
        _relative(high, treated),
        float(row["Pr(>|t|)"]),
        points,
    )


def false_start_placebo(
    panel: pd.DataFrame, shift: int = 2, *, placebos: int = 39, seed: int = 0
) -> ProgrammeEstimate:
    """The main estimate on the years before the programme only, started ``shift`` early.

    No programme ran then: an interval far from zero means the treated wards were already on
    a different path (the parallel-trends assumption fails).
    """
    frame = panel.copy()
    first = frame["first_treated"]
    treated_ward = first != NEVER
    keep = ~treated_ward | (frame["period"] < first)
    fake = np.where(treated_ward, first - shift, NEVER)
    frame = frame.assign(first_treated=fake)[keep]
    frame = frame[(frame["first_treated"] == NEVER) | (frame["first_treated"] >= 1)]
    frame["treated"] = (frame["first_treated"] != NEVER) & (
        frame["period"] >= frame["first_treated"]
    )
    if frame["treated"].sum() == 0:
        return ProgrammeEstimate("false_start", np.nan, np.nan, np.nan, np.nan, note="no room")
    estimate = poisson_imputation_estimate(frame, placebos=placebos, seed=seed)
    return ProgrammeEstimate(
        "false_start", estimate.effect, estimate.low, estimate.high, estimate.p_value
    )


def _simplex_weights(donors: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Synthetic-control weights: non-negative, summing to one, closest to ``target`` before.

    The classic problem (Abadie, Diamond and Hainmueller) with the pre-programme outcomes as
    the predictors: min ||target - donors @ w|| over the simplex, solved as non-negative least
    squares with the sum-to-one constraint as a heavily weighted extra row (scipy's ``nnls``).
    """
    from scipy.optimize import nnls

    scale = 1e3 * max(1.0, float(np.abs(donors).max()))
    a = np.vstack([donors, np.full(donors.shape[1], scale)])
    b = np.concatenate([target, [scale]])
    w, _ = nnls(a, b)
    return np.asarray(w / w.sum(), dtype=float)


def _synth_gap(
    recorded: pd.DataFrame, population: pd.DataFrame, treated: list[str], donors: list[str], g: int
) -> tuple[float, float]:
    """Relative effect of the pooled ``treated`` wards against a synthetic control; its weight."""
    pre, post = recorded.index < g, recorded.index >= g
    y1 = 1000.0 * recorded[treated].sum(axis=1) / population[treated].sum(axis=1)
    rates = 1000.0 * recorded[donors] / population[donors]
    rates = rates.loc[:, rates.notna().all()]
    # demeaned synthetic control: weights match the treated wards' path before the start, an
    # intercept their level (treated wards are often the riskiest, beyond any donor mix)
    donor_pre, treated_pre = rates[pre], y1[pre]
    shape = donor_pre - donor_pre.mean()
    target = treated_pre - treated_pre.mean()
    distance = (shape.sub(target, axis=0) ** 2).sum()
    pool = list(distance.nsmallest(_MAX_DONORS).index)
    weights = _simplex_weights(shape[pool].to_numpy(), target.to_numpy())
    level = float(treated_pre.mean() - donor_pre[pool].mean().to_numpy() @ weights)
    counterfactual = rates.loc[post, pool].to_numpy() @ weights + level
    gap = float(y1[post].sum() - counterfactual.sum())
    weight = float(population.loc[post, treated].to_numpy().sum())
    if not np.isfinite(gap) or counterfactual.sum() <= 0:  # empty wards, or no usable donor
        return np.nan, weight
    return gap / float(counterfactual.sum()), weight


def synthetic_control_estimate(
    panel: pd.DataFrame, *, placebos: int = 25, seed: int = 0
) -> ProgrammeEstimate:
    """Synthetic control per wave, pooled; the interval from in-space placebos."""
    frame = panel.copy()
    recorded = frame.pivot(index="period", columns="ward_code", values="recorded")
    population = frame.pivot(index="period", columns="ward_code", values="population")
    first = frame.groupby("ward_code")["first_treated"].first()
    smallest = frame.groupby("ward_code")["population"].min()
    donors = sorted(w for w in first.index[first == NEVER] if smallest[w] >= _MIN_DONOR_POPULATION)
    waves = sorted(int(g) for g in set(first) - {NEVER} if g >= 2)
    if not waves or len(donors) < 10:
        return ProgrammeEstimate(
            "synthetic_control",
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            note=f"too few periods, or fewer than 10 untreated wards of "
            f"{_MIN_DONOR_POPULATION}+ young people",
        )
    rng = np.random.default_rng(seed)
    effects, weights = [], []
    placebo = np.zeros((placebos, len(waves)))
    for j, g in enumerate(waves):
        treated = sorted(first.index[first == g])
        effect, weight = _synth_gap(recorded, population, treated, donors, g)
        effects.append(effect)
        weights.append(weight)
        size = min(len(treated), len(donors) // 2)
        for b in range(placebos):
            fake = list(rng.choice(donors, size=size, replace=False))
            rest = [d for d in donors if d not in set(fake)]
            placebo[b, j] = _synth_gap(recorded, population, fake, rest, g)[0]
    w = np.asarray(weights) / np.sum(weights)
    estimate = float(np.dot(w, effects))
    null = placebo @ w
    null = null[np.isfinite(null)]
    if not np.isfinite(estimate) or null.size < 9:
        return ProgrammeEstimate(
            "synthetic_control", np.nan, np.nan, np.nan, np.nan, note="wards too small"
        )
    # the gap the method finds where nothing happened is taken off the estimate, as from the
    # interval's ends: with few outcomes a ratio of small rates is skewed away from zero
    centre = float(np.median(null))
    low, high = estimate - np.quantile(null, 0.975), estimate - np.quantile(null, 0.025)
    p = float((1 + np.sum(np.abs(null - centre) >= abs(estimate - centre))) / (null.size + 1))
    return ProgrammeEstimate("synthetic_control", estimate - centre, float(low), float(high), p)


def poisson_fit(
    recorded: np.ndarray, population: np.ndarray, fit: np.ndarray, iterations: int = 200
) -> np.ndarray:
    """Expected counts (period x ward) of a Poisson model with ward and period effects.

    Fitted on the cells where ``fit`` is true only, by iterative proportional fitting: each
    step makes the model's totals per ward, then per period, equal the observed ones over the
    fitted cells, which is the Poisson likelihood's condition. Wards with no fitted cell get NaN.
    """
    y = np.where(fit, recorded, 0.0)
    n = np.where(fit, population, 0.0)
    period = np.full(y.shape[0], max(y.sum(), 1e-9) / max(n.sum(), 1e-9))
    ward = np.ones(y.shape[1])
    for _ in range(iterations):
        exposure = (n * period[:, None]).sum(axis=0)
        ward = np.where(exposure > 0, y.sum(axis=0) / np.where(exposure > 0, exposure, 1), np.nan)
        wn = np.nan_to_num(n * ward[None, :])
        previous = period
        period = y.sum(axis=1) / np.maximum(wn.sum(axis=1), 1e-12)
        if np.allclose(period, previous, rtol=1e-10, atol=0):
            break
    return np.asarray(population * period[:, None] * ward[None, :], dtype=float)


def _imputed_effect(
    recorded: np.ndarray,
    population: np.ndarray,
    first: np.ndarray,
    periods: np.ndarray,
    buffer: int = 0,
) -> float:
    """Observed over imputed counts of the treated ward-periods, minus one.

    The ``buffer`` periods just before each ward's start are left out of the fit; so are
    cells with no count (NaN: outside the panel).
    """
    observed = np.isfinite(recorded) & np.isfinite(population)
    recorded, population = np.nan_to_num(recorded), np.nan_to_num(population)
    ever = first[None, :] != NEVER
    treated = ever & (periods[:, None] >= first[None, :]) & observed
    left_out = ever & (periods[:, None] >= first[None, :] - buffer) & ~treated
    expected = poisson_fit(recorded, population, ~treated & ~left_out & observed)
    usable = treated & np.isfinite(expected)
    predicted = expected[usable].sum()
    return float(recorded[usable].sum() / predicted - 1.0) if predicted > 0 else np.nan


def poisson_imputation_estimate(
    panel: pd.DataFrame, *, placebos: int = 39, seed: int = 0, selection_buffer: int = 0
) -> ProgrammeEstimate:
    """Imputation DiD on the Poisson scale, with an in-space placebo interval.

    ``selection_buffer``: periods just before each start left out of the fit. Use 1 when
    wards were chosen for a bad year just before the programme: that year's excess would
    otherwise pass for the wards' usual level, and its fall back (regression to the mean)
    for an effect of the programme.
    """
    recorded = panel.pivot(index="period", columns="ward_code", values="recorded")
    population = panel.pivot(index="period", columns="ward_code", values="population")
    first_of = panel.groupby("ward_code")["first_treated"].first().reindex(recorded.columns)
    first = first_of.to_numpy().astype(int)
    periods = recorded.index.to_numpy()
    # a ward treated from the first period has nothing to impute from
    keep = (first == NEVER) | (first > periods.min() + selection_buffer)
    y, n, first = (
        recorded.to_numpy(float)[:, keep],
        population.to_numpy(float)[:, keep],
        first[keep],
    )
    untreated = np.flatnonzero(first == NEVER)
    starts = first[first != NEVER]
    # the placebos give the starts to as many untreated wards, and need a few more to compare
    if starts.size == 0 or untreated.size < starts.size + 3:
        return ProgrammeEstimate(
            "poisson_imputation", np.nan, np.nan, np.nan, np.nan, note="too few untreated wards"
        )
    estimate = _imputed_effect(y, n, first, periods, selection_buffer)
    rng = np.random.default_rng(seed)
    null = np.empty(placebos)
    for b in range(placebos):
        fake = np.full(untreated.size, NEVER)
        fake[rng.choice(untreated.size, size=starts.size, replace=False)] = starts
        null[b] = _imputed_effect(y[:, untreated], n[:, untreated], fake, periods, selection_buffer)
    # the placebo effects are ratios: the interval is formed on the log scale
    log_null = np.log1p(null[np.isfinite(null)])
    log_est = np.log1p(estimate)
    low = np.expm1(log_est - np.quantile(log_null, 0.975))
    high = np.expm1(log_est - np.quantile(log_null, 0.025))
    p = float((1 + np.sum(np.abs(log_null) >= abs(log_est))) / (log_null.size + 1))
    return ProgrammeEstimate("poisson_imputation", estimate, float(low), float(high), p)
