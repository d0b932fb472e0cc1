"""Error analysis: cohorts where the model fails, each with an interval valid at its size."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from governance.audit.error_analysis import delong_auc, error_analysis, error_section, slice_mask
from governance.contracts.errors import AuditInputError
from governance.contracts.settings import DEFAULT_ERROR_SLICES, ErrorSlice, GovernanceConfig

NO_SCHOOL = ErrorSlice(name="no school record", column="absence_rate_ever", missing=True)
YOUNG = ErrorSlice(name="aged 10 to 13", column="age", min=10, max=13)
OPTIONS = {"confidence": 0.95, "min_outcomes": 30, "withhold_below": 10}


def _cohort(seed: int = 0, n: int = 20_000) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A calibrated model for young people with a school record, and one that under-predicts
    (and ranks at random) those without one."""
    rng = np.random.default_rng(seed)
    no_school = rng.random(n) < 0.2
    risk = rng.beta(1, 12, n)
    y = (rng.random(n) < risk).astype(int)
    score = np.where(no_school, risk.mean() / 3 * rng.random(n) * 2, risk)
    frame = pd.DataFrame(
        {
            "absence_rate_ever": np.where(no_school, np.nan, rng.random(n)),
            "age": rng.integers(10, 18, n),
        }
    )
    return frame, y, score


def test_delong_matches_sklearn_and_a_hand_worked_variance() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    s = np.array([0.9, 0.6, 0.4, 0.5, 0.3, 0.2, 0.1])
    auc, low, high = delong_auc(y, s)
    assert auc == pytest.approx(roc_auc_score(y, s))
    # by hand: positives' placements (share of negatives below) 1, 1, 0.75; negatives'
    # (share of positives above) 2/3, 1, 1, 1; var = var(v10)/3 + var(v01)/4
    v10, v01 = np.array([1, 1, 0.75]), np.array([2 / 3, 1, 1, 1])
    se = np.sqrt(np.var(v10, ddof=1) / 3 + np.var(v01, ddof=1) / 4)
    assert auc == pytest.approx(v10.mean()) == pytest.approx(v01.mean())
    assert low == pytest.approx(max(0, auc - 1.959964 * se), rel=1e-6)
    assert high == pytest.approx(min(1, auc + 1.959964 * se), rel=1e-6)
    assert delong_auc(np.ones(4), np.arange(4)) is None


def test_delong_interval_covers_at_its_nominal_rate() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(200):
        y = np.r_[np.ones(40), np.zeros(400)]
        s = np.r_[rng.normal(1, 1, 40), rng.normal(0, 1, 400)]
        _, low, high = delong_auc(y, s)
        covered += low <= 0.7602 <= high  # Phi(1 / sqrt 2), the true AUC
    assert 0.90 <= covered / 200 <= 0.99


def test_the_cohort_without_a_school_record_fails_and_the_rest_pass() -> None:
    frame, y, score = _cohort()
    out = {r.name: r for r in error_analysis(frame, y, score, [NO_SCHOOL, YOUNG], **OPTIONS)}
    everyone, no_school, young = out["everyone"], out["no school record"], out["aged 10 to 13"]
    assert no_school.fails
    assert no_school.oe_low is not None and no_school.oe_low > 1  # under-predicted
    assert any("under-predicts" in r for r in no_school.reasons)
    assert any("ranks worse" in r for r in no_school.reasons)
    assert no_school.n == int(frame["absence_rate_ever"].isna().sum())
    assert no_school.outcomes == int(y[frame["absence_rate_ever"].isna()].sum())
    # the same model is calibrated for the young ones with a school record
    with_record = frame["absence_rate_ever"].notna().to_numpy()
    fine = error_analysis(
        frame[with_record], y[with_record], score[with_record], [YOUNG], **OPTIONS
    )
    assert not fine[1].fails and fine[1].oe_low < 1 < fine[1].oe_high
    assert everyone.roc_auc is not None and young.n is not None


def test_few_outcomes_withhold_the_auc_and_tiny_slices_everything() -> None:
    frame, y, score = _cohort(n=2000)
    tiny = ErrorSlice(name="aged 17", column="age", min=17, max=17)
    rows = frame.assign(age=np.where(np.arange(len(frame)) < 5, 17, 12))
    out = error_analysis(rows, y, score, [tiny, YOUNG], **{**OPTIONS, "min_outcomes": 10_000})
    assert out[1].n is None and out[1].roc_auc is None and "withheld" in (out[1].note or "")
    assert out[2].roc_auc is None and "fewer than 10000" in (out[2].note or "")
    assert out[2].observed_expected is not None  # O/E's exact interval holds at any count


def test_a_slice_on_an_absent_column_is_named_not_an_error() -> None:
    frame, y, score = _cohort(n=500)
    out = error_analysis(
        frame, y, score, [ErrorSlice(name="x", column="nope", missing=True)], **OPTIONS
    )
    assert out[1].available is False and "nope" in (out[1].note or "")


def test_bad_input_is_refused_by_name() -> None:
    frame, y, score = _cohort(n=100)
    with pytest.raises(AuditInputError, match="one value per row"):
        error_analysis(frame, y[:-1], score, [], **OPTIONS)
    with pytest.raises(AuditInputError, match="0 or 1"):
        error_analysis(frame, y * 2, score, [], **OPTIONS)
    with pytest.raises(AuditInputError, match="probabilities"):
        error_analysis(frame, y, score + 1, [], **OPTIONS)
    with pytest.raises(ValueError, match="either missing"):
        ErrorSlice(name="x", column="age", missing=True, min=1)
    with pytest.raises(ValueError, match="either missing"):
        ErrorSlice(name="x", column="age")


def test_slice_mask_ranges_are_inclusive_and_skip_missing() -> None:
    frame = pd.DataFrame({"age": [9, 10, 13, 14, None]})
    assert slice_mask(frame, YOUNG).tolist() == [False, True, True, False, False]


def test_the_section_is_plain_aggregates_with_the_failing_named() -> None:
    frame, y, score = _cohort()
    section = error_section(frame, y, score, [NO_SCHOOL, YOUNG], **OPTIONS)
    # the under-predicted cohort drags everyone's O/E, and that of the ages it spans
    assert section["failing"][0] == "everyone" and "no school record" in section["failing"]
    assert section["failing"] == [s["name"] for s in section["slices"] if s["fails"]]
    assert "DeLong" in section["method"] and "Poisson" in section["method"]
    text = json.dumps(section)  # plain values only
    assert str(float(score[0])) not in text


def test_the_default_slices_are_the_configured_ones() -> None:
    names = [s.name for s in GovernanceConfig().audit.error_slices]
    assert names == [s.name for s in DEFAULT_ERROR_SLICES]
    assert "no school record" in names and "no health record" in names
