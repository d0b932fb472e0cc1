"""Programme evaluation: the area panel (counts only) and the estimators against known answers."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import make_config
from training.config import PipelineConfig
from training.evaluation.programme_estimators import (
    did2s_estimate,
    false_start_placebo,
    naive_estimate,
    poisson_imputation_estimate,
    synthetic_control_estimate,
)
from training.evaluation.programme_panel import (
    NEVER,
    PANEL_COLUMNS,
    PanelError,
    build_panel,
    check_aggregate,
    panel_from_counts,
)
from training.evaluation.programme_simulation import fit_base, simulate_programme
from training.generate.programmes import plan_programmes
from training.generate.run import run_generate

PERSONS = 40_000
BIG = {
    "name": "big",
    "rule": "top_wards_by_deprivation",
    "top_share": 0.3,
    "reach": 1.0,
    "effect_on_outcome": -0.6,
    "start_dates": [dt.date(2017, 4, 1), dt.date(2019, 4, 1)],
}


def _config(effect: float) -> PipelineConfig:
    return make_config(persons=PERSONS, programmes=[{**BIG, "effect_on_outcome": effect}])


@pytest.fixture(scope="module")
def panels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """The same small city with the programme at -60% and at no effect: their ward panels."""
    out = {}
    for name, effect in (("big", -0.6), ("zero", 0.0)):
        config = _config(effect)
        data = run_generate(config, tmp_path_factory.mktemp(name)).data_dir
        geography = pd.read_parquet(data / "geography.parquet")
        (plan,) = plan_programmes(config.generate, geography)
        gen = config.generate
        out[name] = build_panel(
            data, plan.ward_start, np.datetime64(gen.start_date), np.datetime64(gen.end_date), name
        ).frame
        out[f"{name}_dir"] = data  # type: ignore[assignment]
    return out


def test_panel_holds_counts_per_ward_and_period_and_nothing_individual(
    panels: dict[str, pd.DataFrame],
) -> None:
    frame = panels["big"]
    assert tuple(frame.columns) == PANEL_COLUMNS
    wards = frame["ward_code"].nunique()
    assert len(frame) == wards * frame["period"].nunique()
    assert not frame.duplicated(["ward_code", "period"]).any()
    assert frame["recorded"].sum() > 0
    # the waves: a third of the wards, split in two, starting in periods 5 and 7 (April)
    first = frame.groupby("ward_code")["first_treated"].first()
    assert sorted(set(first) - {NEVER}) == [5, 7]
    assert str(frame.loc[frame["period"] == 5, "period_start"].iloc[0])[:10] == "2017-04-01"
    # no person key, no date of birth, no identifier of a record in the panel
    data: Path = panels["big_dir"]  # type: ignore[assignment]
    persons = pd.read_parquet(data / "truth/persons.parquet")
    individual = set(persons.columns) | {"record_id", "postcode", "nhs_number", "person_id"}
    assert not individual & set(frame.columns)
    with pytest.raises(PanelError, match=r"\['person_id'\] are not aggregate"):
        check_aggregate(frame.assign(person_id=0))


def test_panel_counts_match_an_independent_count_of_the_extracts(
    panels: dict[str, pd.DataFrame],
) -> None:
    data: Path = panels["big_dir"]  # type: ignore[assignment]
    health = pd.read_parquet(data / "extracts/health.parquet")
    police = pd.read_parquet(data / "extracts/police.parquet")
    known = set(pd.read_parquet(data / "postcodes.parquet")["postcode"])
    period0 = (pd.Timestamp("2012-04-01"), pd.Timestamp("2013-04-01"))
    n_health = (
        health["diagnosis_category"].isin(["assault", "sharp_object_injury"])
        & health["postcode"].isin(known)
        & pd.to_datetime(health["arrival_date"]).between(*period0, inclusive="left")
    ).sum()
    n_police = (
        police["offence_group"].isin(
            ["violence_against_person", "possession_of_weapons", "robbery"]
        )
        & (police["role"] == "suspect")
        & police["outcome"].isin(["charge", "caution"])
        & police["address_postcode"].isin(known)
        & pd.to_datetime(police["incident_date"]).between(*period0, inclusive="left")
    ).sum()
    frame = panels["big"]
    assert frame.loc[frame["period"] == 0, "recorded"].sum() == n_health + n_police


def test_did2s_recovers_a_large_effect_on_a_small_city(panels: dict[str, pd.DataFrame]) -> None:
    estimate = did2s_estimate(panels["big"])
    # records in the programme's wards after its start fall by a little less than 60%:
    # some carry a stale postcode, and movers bring incidents from elsewhere
    assert -0.8 < estimate.effect < -0.3
    assert estimate.high < 0
    ks = [p.k for p in estimate.event_study]
    assert -1 in ks and 0 in ks and max(ks) >= 3


def test_did2s_finds_nothing_where_the_programme_did_nothing(
    panels: dict[str, pd.DataFrame],
) -> None:
    estimate = did2s_estimate(panels["zero"], event_study=False)
    assert estimate.low < 0 < estimate.high
    assert not estimate.significant
    assert not false_start_placebo(panels["zero"]).significant


def _base(rate: float = 0.01, risk_sd: float = 0.4) -> pd.DataFrame:
    """A hand-made city panel: 80 wards of varied risk, 10 periods with a rising trend."""
    rng = np.random.default_rng(7)
    wards = [f"W{i:02d}" for i in range(80)]
    population = rng.integers(3000, 8000, len(wards))
    risk = rng.normal(0, risk_sd, len(wards))
    rows = []
    for w, n, r in zip(wards, population, risk, strict=True):
        for t in range(10):
            rows.append((w, t, rng.poisson(n * rate * np.exp(r + 0.04 * t)), n))
    counts = pd.DataFrame(rows, columns=["ward_code", "period", "recorded", "population"])
    return panel_from_counts(counts, counts, pd.Series(dtype=int), 10)


@pytest.mark.parametrize("placement", ["random", "high_risk"])
def test_estimators_find_a_simulated_effect_and_naive_is_fooled_by_the_trend(
    placement: str,
) -> None:
    base = fit_base(_base())
    frame = simulate_programme(
        base,
        share=0.25,
        placement=placement,  # type: ignore[arg-type]
        first_periods=[5],
        effect=-0.3,
        rng=np.random.default_rng(3),
    )
    did = did2s_estimate(frame, event_study=False)
    assert abs(did.effect + 0.3) < 0.06 and did.high < 0
    sc = synthetic_control_estimate(frame, placebos=19, seed=1)
    assert abs(sc.effect + 0.3) < 0.06 and sc.high < 0
    imputed = poisson_imputation_estimate(frame, placebos=19, seed=1)
    assert abs(imputed.effect + 0.3) < 0.06 and imputed.high < 0
    # the city's rates rise 4% a period: before/after sees less than the true fall
    naive = naive_estimate(frame)
    assert naive.effect > -0.3


def test_no_effect_simulated_passes_every_estimator() -> None:
    base = fit_base(_base())
    frame = simulate_programme(
        base,
        share=0.25,
        placement="random",
        first_periods=[4, 6],
        effect=0.0,
        rng=np.random.default_rng(11),
    )
    assert not did2s_estimate(frame, event_study=False).significant
    assert not synthetic_control_estimate(frame, placebos=19, seed=2).significant
    assert not poisson_imputation_estimate(frame, placebos=19, seed=2).significant
    # while a before/after comparison reports the city's trend as the programme's harm
    assert naive_estimate(frame).significant and naive_estimate(frame).effect > 0


def test_poisson_fit_is_the_maximum_likelihood_pyfixest_finds() -> None:
    import pyfixest as pf

    from training.evaluation.programme_estimators import poisson_fit

    frame = _base()
    frame = frame[frame["ward_code"] < "W30"].copy()
    fit_cells = ~((frame["ward_code"] < "W05") & (frame["period"] >= 6))
    y = frame.pivot(index="period", columns="ward_code", values="recorded").to_numpy(float)
    n = frame.pivot(index="period", columns="ward_code", values="population").to_numpy(float)
    mask = (
        frame.assign(f=fit_cells).pivot(index="period", columns="ward_code", values="f").to_numpy()
    )
    mine = poisson_fit(y, n, mask)
    data = frame[fit_cells].assign(log_pop=np.log(frame["population"]))
    with warnings.catch_warnings():  # pyfixest's own pandas deprecations
        warnings.simplefilter("ignore")
        reference = pf.fepois("recorded ~ 1 | ward_code + period", data=data, offset="log_pop")
        theirs = np.asarray(reference.predict(type="response"))
    # the same fitted counts on the cells it was fitted on (ward-major order, as the frame)
    assert np.allclose(mine.T.ravel()[fit_cells.to_numpy()], theirs, rtol=1e-4)


def test_wards_chosen_after_a_bad_year_fool_the_fit_unless_that_year_is_left_out() -> None:
    # about 3 a ward and year, wards alike: the wards with the worst year are chosen by chance
    base = fit_base(_base(rate=0.0005, risk_sd=0.0))
    biased, buffered = [], []
    for seed in range(6):
        frame = simulate_programme(
            base,
            share=0.1,
            placement="after_spike",
            first_periods=[6],
            effect=0.0,
            rng=np.random.default_rng(seed),
        )
        biased.append(poisson_imputation_estimate(frame, placebos=9, seed=seed).effect)
        buffered.append(
            poisson_imputation_estimate(frame, placebos=9, seed=seed, selection_buffer=1).effect
        )
    # regression to the mean looks like a fall of several per cent where nothing happened
    assert np.mean(biased) < -0.08
    assert abs(np.mean(buffered)) < 0.04
