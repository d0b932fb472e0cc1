"""Each version's headline figures for the board's list (issue 18)."""

from __future__ import annotations

import json

from serving.pages.version_headline import headline_of

AUDIT = {
    "schema_version": 3,
    "calibration": {
        "overall": {"ece": 0.01},
        "check": {
            "confidence": 0.95,
            "overall": {"ratio": 1.0412, "low": 0.9534, "high": 1.1351, "count": 900},
        },
    },
}


def test_the_headline_is_the_logged_auc_and_the_audits_oe_with_its_interval() -> None:
    headline = headline_of({"test_roc_auc": 0.78123}, json.dumps(AUDIT).encode())
    assert headline.text == "ROC AUC 0.781 · O/E 1.04 (95% 0.95–1.14)"


def test_what_was_not_logged_is_left_out() -> None:
    assert headline_of({}, None).text == "not logged"
    assert headline_of({"test_roc_auc": 0.7}, None).text == "ROC AUC 0.700"
    assert headline_of({}, b'{"calibration": {"check": null}}').text == "not logged"
    assert headline_of({}, b"not json").text == "not logged"
    no_interval = {"calibration": {"check": {"overall": {"ratio": 0.9}}}}
    assert headline_of({}, json.dumps(no_interval).encode()).text == "O/E 0.90"
