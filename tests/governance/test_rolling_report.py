"""The report's rolling-origin table: one row per origin with intervals, or why there is none."""

from __future__ import annotations

from governance.audit.model_audit import _rolling
from governance.audit.report import render_report
from governance.contracts.audit_document import RollingOrigins, SectionUnavailable

ORIGIN = {
    "origin": "2021-03-31",
    "train_dates": ["2016-03-31", "2017-03-31"],
    "train_rows": 4000,
    "held_out_rows": 1000,
    "test_rows": 2500,
    "outcomes": 40,
    "roc_auc": 0.7512,
    "roc_auc_low": 0.6801,
    "roc_auc_high": 0.8123,
    "observed_expected": 0.91,
    "observed_expected_low": 0.65,
    "observed_expected_high": 1.24,
    "best_iteration": 33,
    "confidence": 0.95,
}


def test_the_table_shows_each_origin_with_its_intervals() -> None:
    section = _rolling({"origins": [ORIGIN, {**ORIGIN, "origin": "2023-03-31"}]})
    assert isinstance(section, RollingOrigins) and len(section.origins) == 2
    html = render_report({"rolling_origins": section.model_dump()}, {})
    assert "Rolling-origin evaluation" in html
    assert "2021-03-31" in html and "2023-03-31" in html
    assert "0.680 to 0.812" in html and "0.650 to 1.240" in html
    assert "95%" in html


def test_no_rolling_evaluation_is_said() -> None:
    section = _rolling(None)
    assert isinstance(section, SectionUnavailable)
    html = render_report({"rolling_origins": section.model_dump()}, {})
    assert "evaluation.rolling_origins" in html
