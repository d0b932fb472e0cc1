"""The area-rate baseline and its gate: a version must beat it on the decision metric.

Issue 17 found the "area-only" baseline was a logistic regression on every individual input,
and no gate checked that a version beat anything. These tests build the baseline from small
hand-worked tables, check that a model equal to it fails, that a clearly better one passes,
that the interval is the paired bootstrap of the configured resamples and seed, and that bad
configuration names its key.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from governance.audit.baseline import (
    AreaBaselineError,
    apply_area_rates,
    area_baseline_section,
    baseline_gate_figure,
    compare_with_area_baseline,
    fit_area_rates,
    rated_at,
)
from governance.audit.gates import BASELINE_FIGURE, evaluate_gates, gate_figures
from governance.audit.model_card import build_model_card, load_model_card
from governance.audit.paired_bootstrap import Metric
from governance.audit.report.baseline_view import baseline_view
from governance.contracts.audit_document import AreaBaselineReport, SectionUnavailable
from governance.contracts.config import load_config
from governance.contracts.errors import ConfigError
from governance.contracts.settings import Gates, GovernanceConfig

ROOT = Path(__file__).resolve().parents[2]
LEVELS = ["ward_code", "borough_code"]


def _table() -> tuple[pd.DataFrame, np.ndarray]:
    """Three wards in two boroughs: W1 (B1) 1 of 4, W2 (B1) 0 of 2, W3 (B2) 2 of 4."""
    areas = pd.DataFrame(
        {
            "ward_code": ["W1"] * 4 + ["W2"] * 2 + ["W3"] * 4,
            "borough_code": ["B1"] * 6 + ["B2"] * 4,
        }
    )
    y = np.array([1, 0, 0, 0, 0, 0, 1, 1, 0, 0])
    return areas, y


def test_rates_are_shrunk_toward_the_parent_as_worked_by_hand() -> None:
    areas, y = _table()
    fitted = fit_area_rates(areas, y, levels=LEVELS, prior_rows=2.0)
    overall = (3 + 0.5) / (10 + 1)  # Jeffreys
    b1 = (1 + 2 * overall) / (6 + 2)
    b2 = (2 + 2 * overall) / (4 + 2)
    assert fitted.overall == pytest.approx(overall, abs=1e-15)
    assert fitted.rates[1] == pytest.approx({"B1": b1, "B2": b2}, abs=1e-15)
    assert fitted.rates[0] == pytest.approx(
        {"W1": (1 + 2 * b1) / 6, "W2": (0 + 2 * b1) / 4, "W3": (2 + 2 * b2) / 6}, abs=1e-15
    )
    assert (fitted.rows, fitted.outcomes) == (10, 3)


def test_an_unknown_ward_gets_its_borough_and_an_unknown_borough_the_overall_rate() -> None:
    areas, y = _table()
    fitted = fit_area_rates(areas, y, levels=LEVELS, prior_rows=2.0)
    scored = pd.DataFrame(
        {"ward_code": ["W3", "W9", None, "W8"], "borough_code": ["B2", "B1", "B2", "B7"]}
    )
    risk = apply_area_rates(fitted, scored)
    assert risk == pytest.approx(
        [fitted.rates[0]["W3"], fitted.rates[1]["B1"], fitted.rates[1]["B2"], fitted.overall]
    )
    assert rated_at(fitted, scored) == {"ward_code": 1, "borough_code": 2, "overall": 1}


def _city(rows: int, seed: int, signal: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Wards with different rates, and an individual factor worth ``signal`` in log-odds."""
    rng = np.random.default_rng(seed)
    ward = rng.integers(0, 40, rows)
    area_logit = -4.0 + 0.05 * ward
    x = rng.normal(size=rows)
    p = 1 / (1 + np.exp(-(area_logit + signal * x)))
    y = (rng.random(rows) < p).astype(int)
    frame = pd.DataFrame(
        {
            "ward_code": [f"W{w}" for w in ward],
            "borough_code": [f"B{w // 10}" for w in ward],
            "label": y,
        }
    )
    return frame, y, p


def test_a_model_no_better_than_the_baseline_fails_the_gate() -> None:
    """The model's risks ARE the baseline's: every resampled difference is 0, so it fails."""
    fit, y_fit, _ = _city(5_000, 1, 0.0)
    test, y, _ = _city(5_000, 2, 0.0)
    fitted = fit_area_rates(fit[LEVELS], y_fit, levels=LEVELS, prior_rows=100)
    same = apply_area_rates(fitted, test[LEVELS])
    result = compare_with_area_baseline(
        y, same, test[LEVELS], fitted, metric="log_loss", resamples=200, confidence=0.95, seed=3
    )
    assert result["low"] <= 0 <= result["high"] and not result["passed"]
    gate = _gate(result["low"])
    assert not gate.passed and "not clearly better" in gate.note


def test_a_model_with_only_noise_added_fails_on_its_interval() -> None:
    """A model that knows nothing more than the area, with noise on top, does not pass."""
    fit, y_fit, _ = _city(5_000, 1, 0.0)
    test, y, _ = _city(5_000, 2, 0.0)
    fitted = fit_area_rates(fit[LEVELS], y_fit, levels=LEVELS, prior_rows=100)
    noisy = apply_area_rates(fitted, test[LEVELS]) * np.exp(
        np.random.default_rng(4).normal(0, 0.3, len(y))
    )
    for metric in ("log_loss", "roc_auc"):
        result = compare_with_area_baseline(
            y, noisy, test[LEVELS], fitted, metric=metric, resamples=200, confidence=0.95, seed=3
        )
        assert not result["passed"], metric
        assert not _gate(result["low"]).passed


@pytest.mark.parametrize("metric", ["log_loss", "brier", "roc_auc", "average_precision"])
def test_a_clearly_better_model_passes_the_gate(metric: Metric) -> None:
    fit, y_fit, _ = _city(20_000, 1, 1.5)
    test, y, truth = _city(20_000, 2, 1.5)
    fitted = fit_area_rates(fit[LEVELS], y_fit, levels=LEVELS, prior_rows=100)
    result = compare_with_area_baseline(
        y, truth, test[LEVELS], fitted, metric=metric, resamples=200, confidence=0.95, seed=3
    )
    assert result["passed"] and result["low"] > 0 and result["difference"] > 0
    assert _gate(result["low"], Gates(baseline_metric=metric)).passed


def test_the_interval_is_the_paired_bootstrap_worked_by_hand() -> None:
    """Resample rows with the seed's generator, the same rows for both, take the quantiles."""
    areas, y = _table()
    fitted = fit_area_rates(areas, y, levels=LEVELS, prior_rows=2.0)
    scores = np.array([0.5, 0.1, 0.2, 0.1, 0.05, 0.1, 0.6, 0.4, 0.3, 0.1])
    baseline = apply_area_rates(fitted, areas)
    resamples, seed, confidence = 30, 11, 0.9
    result = compare_with_area_baseline(
        y,
        scores,
        areas,
        fitted,
        metric="log_loss",
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    drawn = np.random.default_rng(seed).integers(0, len(y), size=(resamples, len(y)))
    differences = [
        log_loss(y[rows], baseline[rows], labels=[0, 1])
        - log_loss(y[rows], scores[rows], labels=[0, 1])
        for rows in drawn
    ]
    assert result["low"] == pytest.approx(np.quantile(differences, 0.05), abs=1e-12)
    assert result["high"] == pytest.approx(np.quantile(differences, 0.95), abs=1e-12)
    assert result["difference"] == pytest.approx(
        log_loss(y, baseline) - log_loss(y, scores), abs=1e-12
    )
    assert result["metrics"]["roc_auc"]["candidate"] == pytest.approx(roc_auc_score(y, scores))


def _gate(low: float | None, gates: Gates | None = None):  # type: ignore[no-untyped-def]
    gates = gates or Gates()
    figures = gate_figures({}, {}, [], None, None, low)
    return {g.figure: g for g in evaluate_gates(gates, figures)}[BASELINE_FIGURE]


def test_the_gate_needs_the_lower_bound_strictly_above_the_margin() -> None:
    gates = Gates(min_baseline_improvement=0.125)
    at = _gate(0.125, gates)
    assert not at.passed and at.limit == 0.125 and at.value == 0.125
    assert _gate(0.125 + 2**-20, gates).passed
    assert not _gate(0.0).passed and _gate(2**-30).passed
    unmeasured = _gate(None)
    assert not unmeasured.passed and unmeasured.note == "not measured"
    assert "log loss" in unmeasured.name


def _config(**audit: object) -> GovernanceConfig:
    return GovernanceConfig.model_validate({"audit": {"bootstrap": 100, **audit}})


def test_the_audit_step_fits_on_validation_and_says_so_without_rows_or_codes() -> None:
    validation, _, _ = _city(8_000, 1, 1.5)
    test, _, truth = _city(8_000, 2, 1.5)
    section = area_baseline_section(test, validation, truth, _config(), seed=5)
    assert isinstance(section, AreaBaselineReport)
    assert section.fit_split == "validation" and section.evaluated_on == "test"
    assert section.metric == "log_loss" and section.resamples == 100 and section.seed == 5
    assert section.fit_rows == 8_000 and section.rows == 8_000
    assert sum(section.rated_at.values()) == 8_000
    assert baseline_gate_figure(section) == section.low
    written = section.model_dump_json()
    assert not any(code in written for code in ("W1", "B0", 'W3"'))
    view = baseline_view(section)
    assert view.missing is None and view.decision is not None


def test_without_an_area_column_the_section_says_why_and_the_gate_fails() -> None:
    validation, _, _ = _city(500, 1, 1.5)
    test, _, truth = _city(500, 2, 1.5)
    section = area_baseline_section(
        test.drop(columns=["ward_code"]), validation, truth, _config(), seed=5
    )
    assert isinstance(section, SectionUnavailable)
    assert "ward_code" in section.reason and "audit.area_baseline.levels" in section.reason
    assert baseline_gate_figure(section) is None
    assert not _gate(baseline_gate_figure(section)).passed
    assert "Not available" in str(baseline_view(section).missing)


def test_bad_inputs_name_what_was_expected() -> None:
    areas, y = _table()
    with pytest.raises(AreaBaselineError, match="'lsoa_code'"):
        fit_area_rates(areas, y, levels=["lsoa_code"], prior_rows=1.0)
    with pytest.raises(AreaBaselineError, match="prior_rows"):
        fit_area_rates(areas, y, levels=LEVELS, prior_rows=0.0)
    with pytest.raises(AreaBaselineError, match="y: expected 10 values"):
        fit_area_rates(areas, y[:3], levels=LEVELS, prior_rows=1.0)
    fitted = fit_area_rates(areas, y, levels=LEVELS, prior_rows=1.0)
    with pytest.raises(AreaBaselineError, match="scores: expected 10 values"):
        compare_with_area_baseline(
            y, y[:4], areas, fitted, metric="brier", resamples=10, confidence=0.9, seed=1
        )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("gates:\n  baseline_metric: auc\n", "gates.baseline_metric"),
        ("gates:\n  min_baseline_improvement: -0.1\n", "gates.min_baseline_improvement"),
        ("audit:\n  area_baseline:\n    prior_rows: 0\n", "audit.area_baseline.prior_rows"),
        ("audit:\n  area_baseline:\n    levels: []\n", "audit.area_baseline.levels"),
        ("audit:\n  bootstrap: 0\n", "audit.bootstrap"),
        ("audit:\n  fairness_use: [{use: x}]\n", "audit.fairness_use.0.measure"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "governance.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path, GovernanceConfig)


def test_the_shipped_config_sets_the_gate_and_the_fairness_uses() -> None:
    config = load_config(ROOT / "configs/governance.yaml", GovernanceConfig)
    assert config.gates.baseline_metric == "log_loss"
    assert config.audit.area_baseline.levels == ("ward_code", "borough_code")
    measures = [u.measure for u in config.audit.fairness_use]
    assert measures == ["Calibration within groups", "Recall (true positive rate) parity"]


def test_the_model_card_states_the_baseline_and_which_fairness_measure_fits_which_use() -> None:
    validation, _, _ = _city(4_000, 1, 1.5)
    test, _, truth = _city(4_000, 2, 1.5)
    config = _config()
    section = area_baseline_section(test, validation, truth, config, seed=5)
    audit = {
        "area_baseline": json.loads(section.model_dump_json()),
        "fairness_use": [u.model_dump() for u in config.audit.fairness_use],
    }
    card = build_model_card(load_model_card(ROOT / "configs/model_card.yaml"), audit)
    items = {
        i["label"]: i["value"]
        for s in card["sections"]
        if s["heading"] == "Model and performance"
        for i in s["items"]
    }
    assert "logistic-regression baseline" in items["Baseline"]
    assert "only each young person's area" not in items["Baseline"]
    assert items["Against the area-rate baseline (a gate)"].startswith(
        "The model beats it on log loss"
    )
    uses = items["Which fairness measure fits which use"]
    assert "Area allocation" in uses and "Calibration within groups" in uses
    assert "Recall (true positive rate) parity" in uses


def test_the_report_shows_the_decision_with_its_interval_and_no_area_code() -> None:
    from governance.audit.report.document import environment

    validation, _, _ = _city(4_000, 1, 1.5)
    test, _, truth = _city(4_000, 2, 1.5)
    section = area_baseline_section(test, validation, truth, _config(), seed=5)
    assert isinstance(section, AreaBaselineReport)
    html = environment().get_template("baseline.html").render(baseline=baseline_view(section))
    assert "Log loss (lower is better)" in html and "95.0% paired bootstrap interval" in html
    assert f"{section.low:.4g} to {section.high:.4g}" in html
    assert '<span class="badge pass">pass</span>' in html
    assert "W1" not in html and "B0" not in html
