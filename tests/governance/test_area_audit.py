"""The area-level audit: O/E by area type and group, allocation fairness, and its gates."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2
from sklearn.linear_model import PoissonRegressor

from governance.audit.area_audit import (
    AreaRows,
    AreaTruth,
    allocation_ratio,
    area_audit,
    area_figures,
    oe_entry,
    poisson_offset_fit,
)
from governance.audit.gates import AREA_FIGURES, evaluate_gates
from governance.contracts.audit_document import AreaReport
from governance.contracts.errors import AuditInputError
from governance.contracts.settings import AreaAuditSettings, Gates

SETTINGS = AreaAuditSettings(bootstrap=300)
GATES = Gates()
GROUPS = ("White", "Black", "Asian")


def _city(
    seed: int = 0, areas: int = 80, per_area: int = 400, base: float = 0.03
) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows in areas that differ in composition, deprivation and policing; the true risk."""
    rng = np.random.default_rng(seed)
    share_black = rng.beta(1.5, 4.0, areas)
    policing = rng.normal(0.0, 1.0, areas)
    decile = rng.integers(1, 11, areas)
    area = np.repeat(np.arange(areas), per_area)
    black = rng.random(len(area)) < share_black[area]
    ethnicity = np.where(black, "Black", rng.choice(["White", "Asian"], len(area), p=[0.7, 0.3]))
    # true need rises with deprivation, and varies from person to person
    logit = np.log(base / (1 - base)) + 0.08 * (5.5 - decile[area]) + rng.normal(0, 0.5, len(area))
    risk = 1.0 / (1.0 + np.exp(-logit))
    rows = pd.DataFrame(
        {
            "lsoa": np.array([f"E0100{a:04d}" for a in area]),
            "ward": np.array([f"W{a // 4:03d}" for a in area]),
            "decile": decile[area],
            "policing": policing[area],
            "ethnicity": ethnicity,
            "sex": rng.choice(["F", "M"], len(area)),
        }
    )
    return rows, risk


def _rows(frame: pd.DataFrame, y: np.ndarray, scores: np.ndarray) -> AreaRows:
    return AreaRows(
        levels={"lsoa": frame["lsoa"].to_numpy(), "ward": frame["ward"].to_numpy()},
        y=y,
        scores=scores,
        deprivation=frame["decile"].to_numpy(),
        policing=frame["policing"].to_numpy(),
        composition=frame["ethnicity"].to_numpy(),
        groups=frame[["ethnicity", "sex"]],
    )


def _audit(rows: AreaRows, truth: AreaTruth | None = None, seed: int = 0) -> AreaReport:
    return area_audit(
        rows,
        SETTINGS,
        truth=truth,
        policing_source="given",
        gated_level="lsoa",
        confidence=0.95,
        min_outcomes=30,
        withhold_below=10,
        seed=seed,
    )


def _gates(report: AreaReport) -> dict[str, bool]:
    return {
        g.figure: g.passed
        for g in evaluate_gates(GATES, area_figures(report))
        if g.figure in AREA_FIGURES
    }


# -- hand-worked tables ------------------------------------------------------------------------


def test_observed_expected_by_area_type_is_the_hand_worked_table() -> None:
    # four areas of 20 young people: two in decile 1 (Q1), two in decile 10 (Q5)
    frame = pd.DataFrame(
        {
            "lsoa": np.repeat(["a", "b", "c", "d"], 20),
            "ward": np.repeat(["w1", "w1", "w2", "w2"], 20),
            "decile": np.repeat([1, 1, 10, 10], 20),
            "policing": np.repeat([0.0, 1.0, 2.0, 3.0], 20),
            "ethnicity": np.tile(["Black", "White"], 40),
            "sex": "F",
        }
    )
    y = np.zeros(80)
    y[[0, 1, 2, 20, 21]] = 1  # Q1: 5 outcomes; Q5: 1
    y[45] = 1
    scores = np.full(80, 0.05)  # each area expects 1.0, each quintile 2.0
    report = _audit(_rows(frame, y, scores))
    level = report.levels["lsoa"]
    assert (level.areas, level.small_areas) == (4, 0)
    q1 = level.recorded.by_type["deprivation"]["Q1 most deprived"]
    q5 = level.recorded.by_type["deprivation"]["Q5 least deprived"]
    assert (q1.areas, q1.count, q1.observed, q1.expected) == (2, 40, 5, pytest.approx(2.0))
    assert q1.ratio == pytest.approx(2.5)
    assert q1.low == pytest.approx(chi2.ppf(0.025, 10) / 2 / 2.0)
    assert q1.high == pytest.approx(chi2.ppf(0.975, 12) / 2 / 2.0)
    assert (q5.observed, q5.ratio) == (1, pytest.approx(0.5))
    assert not q1.judged and not q5.judged  # fewer than 30 outcomes: shown, not judged
    overall = level.recorded.overall
    assert (overall.observed, overall.expected) == (6, pytest.approx(4.0))
    assert overall.ratio == pytest.approx(1.5)
    # policing in thirds of 4 areas: 2, 1, 1 areas
    thirds = level.recorded.by_type["policing"]
    assert [e.areas for e in thirds.values()] == [2, 1, 1]
    assert next(iter(thirds)) == "lowest third"
    # composition: every area is half Black
    share = level.recorded.by_type["share Black"]
    assert all("50%" in name for name in share)
    # by group: ethnicity, from the rows
    black = level.recorded.by_group["ethnicity"]["Black"]
    assert (black.count, black.observed, black.expected) == (40, 3, pytest.approx(2.0))
    assert black.areas is None
    # the ward level is there too, with 2 areas
    assert report.levels["ward"].areas == 2


def test_small_sets_keep_their_counts_only() -> None:
    entry = oe_entry(9, 3, 1.0, 1, 0.95, 30, 10)
    assert entry.withheld and entry.count == 9 and entry.observed is None and entry.ratio is None
    shown = oe_entry(10, 3, 1.0, 1, 0.95, 30, 10)
    assert not shown.withheld and shown.ratio == 3.0 and not shown.judged
    judged = oe_entry(1000, 30, 30.0, 5, 0.95, 30, 10)
    assert judged.judged and judged.low is not None and judged.low < 1.0 < judged.high


def test_the_poisson_fit_agrees_with_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    expected = rng.uniform(0.5, 8.0, 150)
    z = rng.normal(size=150)
    observed = rng.poisson(expected * np.exp(0.1 + 0.25 * z))
    alpha, beta = poisson_offset_fit(observed, expected, z)
    reference = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(
        z[:, None], observed / expected, sample_weight=expected
    )
    assert alpha[0] == pytest.approx(reference.intercept_, abs=1e-6)
    assert beta[0] == pytest.approx(reference.coef_[0], abs=1e-6)
    # several covariates at once: the same as scikit-learn with both columns
    x = np.column_stack([z, rng.normal(size=150)])
    alpha2, beta2 = poisson_offset_fit(observed, expected, x)
    reference2 = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(
        x, observed / expected, sample_weight=expected
    )
    assert alpha2[0] == pytest.approx(reference2.intercept_, abs=1e-6)
    assert beta2[0] == pytest.approx(reference2.coef_, abs=1e-6)


def test_allocation_ratio_reads_the_built_in_direction() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=120)
    expected = rng.uniform(1.0, 6.0, 120)
    # the model predicts exp(0.3 z) times what happens: areas high in z are scored up
    observed = rng.poisson(expected * np.exp(-0.3 * z))
    fit = allocation_ratio(observed, expected, z, bootstrap=400, confidence=0.95, seed=1)
    assert fit.ratio is not None and fit.low is not None and fit.high is not None
    assert 1.2 < fit.ratio < 1.5 and fit.low > 1.0 and fit.p_value is not None
    assert fit.p_value < 0.01
    assert fit.low <= fit.ratio <= fit.high


def test_allocation_ratio_cannot_be_measured_without_spread_or_outcomes() -> None:
    flat = allocation_ratio(
        [1, 2, 3], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0], bootstrap=100, confidence=0.95, seed=0
    )
    assert flat.ratio is None and flat.sd is None
    none = allocation_ratio(
        [0, 0, 0, 0], [1.0, 2.0, 3.0, 1.0], [0, 1, 2, 3], bootstrap=100, confidence=0.95, seed=0
    )
    assert none.ratio is None


def test_a_fair_allocation_is_rarely_called_unfair() -> None:
    # 30 areas, few outcomes each, expected counts correlated with the attribute
    rng = np.random.default_rng(7)
    rejected = 0
    runs = 120
    for i in range(runs):
        z = rng.normal(size=30)
        expected = rng.gamma(2.0, 1.5, 30) * np.exp(0.3 * z)
        fit = allocation_ratio(
            rng.poisson(expected), expected, z, bootstrap=200, confidence=0.95, seed=i
        )
        rejected += fit.p_value is not None and fit.p_value < 0.05
    assert rejected / runs <= 0.12  # nominal 5%, with room for the simulation's own noise


# -- the whole audit and its gates -------------------------------------------------------------


def test_a_calibrated_model_passes_every_area_gate() -> None:
    frame, risk = _city(seed=1)
    y = (np.random.default_rng(11).random(len(risk)) < risk).astype(float)
    report = _audit(_rows(frame, y, risk))
    figures = area_figures(report)
    assert all(figures[k] is not None for k in AREA_FIGURES)
    assert _gates(report) == dict.fromkeys(AREA_FIGURES, True)
    allocation = report.levels["lsoa"].recorded.allocation
    assert set(allocation) == {"deprivation", "policing", "share Black", "share White"}
    assert all(a.judged for a in allocation.values())


def test_a_model_that_scores_black_majority_and_policed_areas_up_fails_allocation() -> None:
    frame, risk = _city(seed=2)
    y = (np.random.default_rng(12).random(len(risk)) < risk).astype(float)
    share = frame.groupby("lsoa")["ethnicity"].transform(lambda s: (s == "Black").mean())
    # scores inflated with the area's share of Black young people and its policing
    scores = np.clip(
        risk * np.exp(2.0 * share.to_numpy() + 0.4 * frame["policing"].to_numpy()), 0, 1
    )
    report = _audit(_rows(frame, y, scores))
    allocation = report.levels["lsoa"].recorded.allocation
    assert allocation["share Black"].low is not None and allocation["share Black"].low > 1.0
    assert allocation["policing"].low is not None and allocation["policing"].low > 1.25
    assert (
        allocation["share Black"].p_value is not None and allocation["share Black"].p_value < 0.01
    )
    gates = _gates(report)
    assert gates["area_allocation_low"] is False
    # the O/E of the most-policed third is clearly below 1: too many expected there
    top = report.levels["lsoa"].recorded.by_type["policing"]["highest third"]
    assert top.judged and top.high is not None and top.high < 1.0


def test_a_model_expecting_three_times_too_many_fails_the_area_observed_expected_gate() -> None:
    frame, risk = _city(seed=3)
    y = (np.random.default_rng(13).random(len(risk)) < risk).astype(float)
    gates = _gates(_audit(_rows(frame, y, np.clip(3 * risk, 0, 1))))
    assert gates["area_observed_expected_high"] is False
    assert gates["area_allocation_low"] and gates["area_allocation_high"]  # even-handed still


def test_a_model_predicting_zero_fails_as_not_measured() -> None:
    frame, risk = _city(seed=4, areas=30, per_area=100)
    y = (np.random.default_rng(14).random(len(risk)) < risk).astype(float)
    report = _audit(_rows(frame, y, np.zeros(len(risk))))
    outcomes = [g for g in evaluate_gates(GATES, area_figures(report)) if g.figure in AREA_FIGURES]
    assert outcomes and all(not g.passed and g.note == "not measured" for g in outcomes)


def test_no_report_fails_the_area_gates_and_no_area_figures_leave_them_out() -> None:
    assert area_figures(None) == dict.fromkeys(AREA_FIGURES)
    judged = {g.figure for g in evaluate_gates(GATES, area_figures(None))}
    assert set(AREA_FIGURES) <= judged
    assert not set(AREA_FIGURES) & {g.figure for g in evaluate_gates(GATES, {})}


def test_against_the_truth_it_sees_what_the_records_hide() -> None:
    frame, risk = _city(seed=5)
    rng = np.random.default_rng(15)
    true = (rng.random(len(risk)) < risk).astype(float)
    # recording: heavily policed areas record far more of what happens
    recorded_p = 1.0 / (1.0 + np.exp(-(0.0 + 0.8 * frame["policing"].to_numpy())))
    y = true * (rng.random(len(risk)) < recorded_p)
    # a model calibrated to the records: the true risk times the recording probability
    scores = risk * recorded_p
    truth = AreaTruth(
        levels={
            level: {
                str(a): (len(g), int(true[g.index].sum()), float(scores[g.index].sum()))
                for a, g in frame.groupby(level)
            }
            for level in ("lsoa", "ward")
        },
        groups={"ethnicity": {}},
    )
    report = _audit(_rows(frame, y, scores), truth)
    level = report.levels["lsoa"]
    assert level.true is not None
    recorded, against_truth = (
        level.recorded.allocation["policing"],
        level.true.allocation["policing"],
    )
    assert recorded.low is not None and recorded.low < 1.0 < (recorded.high or 0)
    assert against_truth.low is not None and against_truth.low > 1.25
    assert level.true.overall.ratio is not None and level.true.overall.ratio > 1.5
    # the allocation gate reads the truth when there is one
    assert _gates(report)["area_allocation_low"] is False


def test_the_report_names_no_area_and_holds_no_row() -> None:
    frame, risk = _city(seed=6, areas=40, per_area=200)
    y = (np.random.default_rng(16).random(len(risk)) < risk).astype(float)
    text = json.dumps(_audit(_rows(frame, y, risk)).model_dump(mode="json"))
    assert not [a for a in frame["lsoa"].unique() if a in text]
    assert not [w for w in frame["ward"].unique() if w in text]


def test_bad_input_is_refused_naming_the_field() -> None:
    frame, risk = _city(seed=0, areas=10, per_area=20)
    y = np.zeros(len(risk))
    with pytest.raises(AuditInputError, match="scores"):
        _audit(_rows(frame, y, risk[:-1]))
    with pytest.raises(AuditInputError, match="gated_level"):
        area_audit(
            _rows(frame, y, risk),
            SETTINGS,
            truth=None,
            policing_source="given",
            gated_level="borough",
            confidence=0.95,
            min_outcomes=30,
            withhold_below=10,
            seed=0,
        )
    with pytest.raises(AuditInputError, match="y must"):
        _audit(_rows(frame, np.full(len(risk), 2.0), risk))
    with pytest.raises(AuditInputError, match="area truth"):
        AreaTruth.from_json({"levels": {}})


def test_the_truth_is_read_from_plain_json() -> None:
    truth = AreaTruth.from_json(
        {
            "available": True,
            "levels": {"lsoa": {"a": {"count": 3, "true": 1, "expected": 0.5}}},
            "groups": {"sex": {"F": {"count": 3, "true": 1, "expected": 0.5}}},
        }
    )
    assert truth.levels["lsoa"]["a"] == (3, 1, 0.5)
    assert truth.groups["sex"]["F"] == (3, 1, 0.5)


def test_the_report_shows_the_area_section_first_in_plain_words() -> None:
    from governance.audit.report import render_report

    frame, risk = _city(seed=8, areas=40, per_area=300)
    y = (np.random.default_rng(18).random(len(risk)) < risk).astype(float)
    report = _audit(_rows(frame, y, risk))
    html = render_report({"areas": report.model_dump(mode="json")}, {})
    assert html.index('id="areas"') < html.index('id="gates"')
    assert "the product" in html and "By allocation (against recorded outcomes)" in html
    assert "By area deprivation" in html and "Q1 most deprived" in html
    assert "no clear difference" in html or "scored up beyond chance" in html
    assert not [a for a in frame["lsoa"].unique() if a in html]
    missing = render_report({"areas": {"available": False, "reason": "no area column"}}, {})
    assert "no area column" in missing
