"""The ethics board's HTML report: complete, self-contained, readable, escaped, aggregates only.

The audit is built in code from a small generated scored table run through the real fairness
audit, threshold sweep and calibration, plus hand-written sections for the rest.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governance.audit.fairness import audit_scored_table
from governance.audit.group_performance import calibration_by_group, threshold_sweep
from governance.audit.model_card import build_model_card, load_model_card
from governance.audit.report import DASH, render_report, report_sha256

ROOT = Path(__file__).resolve().parents[2]
N = 400
EVIL = "<script>alert('x')</script>"
SENSITIVE = ["sex", "ethnicity"]
HEADINGS = [
    "Promotion gates",
    "Model card",
    "Performance",
    "Fairness at the operating point",
    "Across thresholds",
    "Calibration by group",
    "Recording bias (ground truth)",
    "Linkage quality by group",
    "Mitigation options (compared, not applied)",
    "Explainability",
    "Drift and change since the champion",
    "Features and their policy",
]
SECTION_IDS = [
    "gates",
    "model-card",
    "performance",
    "fairness",
    "thresholds",
    "calibration",
    "recording-bias",
    "linkage",
    "mitigations",
    "explainability",
    "drift",
    "features",
]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(20250601)
    ethnicity = rng.choice(["White", "Black", "Asian"], size=N, p=[0.6, 0.25, 0.15]).astype(object)
    ethnicity[:12] = EVIL  # a tiny group with a hostile name: flagged and escaped
    ethnicity[12:15] = None
    sex = rng.choice(["female", "male"], size=N)
    score = 1 / (1 + np.exp(-rng.normal(-2.5, 1.0, size=N)))
    label = (rng.random(N) < score * 1.5).astype(int)
    return pd.DataFrame(
        {
            "person_id": [f"PERSONROW{i:05d}QZ" for i in range(N)],
            "sex": sex,
            "ethnicity": ethnicity,
            "label": label,
            "score": score,
        }
    )


@pytest.fixture(scope="module")
def audit(frame: pd.DataFrame) -> dict[str, Any]:
    y, s, groups = frame["label"].to_numpy(), frame["score"].to_numpy(), frame[SENSITIVE]
    fairness = audit_scored_table(
        frame,
        label="label",
        score="score",
        sensitive=SENSITIVE,
        top_fraction=0.1,
        min_group_size=30,
        n_boot=50,
        seed=3,
    )
    result: dict[str, Any] = {
        "schema_version": 1,
        "kind": "model",
        "created": "2025-06-01T10:00:00+00:00",
        "model": {
            "name": "vru-risk",
            "version": "7",
            "run_id": "run-abc",
            "git_commit": "0123abc",
            "features_sha256": "f" * 64,
            "inputs": ["assault_injury_12m", "exclusions_ever"],
        },
        "data": {
            "test_date": "2023-03-31",
            "validation_date": "2021-03-31",
            "train_dates": ["2016-03-31", "2017-03-31"],
            "rows": 12345,
            "positives": 617,
            "prevalence": 0.04998,
        },
        "operating_point": {"top_fraction": 0.1, **fairness["operating_point"]},
        "gates": [
            {
                "name": "minimum test ROC AUC",
                "figure": "test_roc_auc",
                "value": 0.81234,
                "limit": 0.7,
                "direction": "at least",
                "passed": True,
                "note": "",
            },
            {
                "name": "maximum calibration error (ECE)",
                "figure": "test_ece",
                "value": 0.0312,
                "limit": 0.02,
                "direction": "at most",
                "passed": False,
                "note": "",
            },
            {
                "name": "maximum equalized odds difference",
                "figure": "equalized_odds_difference",
                "value": None,
                "limit": 0.1,
                "direction": "at most",
                "passed": False,
                "note": "not measured",
            },
        ],
        "gates_passed": False,
        "performance": {
            "test_roc_auc": 0.81234,
            "baseline_test_roc_auc": 0.70111,
            "test_pr_auc": 0.2346,
            "baseline_test_pr_auc": 0.1111,
            "test_brier": 0.0411,
            "test_ece": 0.0312,
            "test_calibration_slope": 0.97,
            "test_precision_at_top_k": 0.3141,
            "test_recall_at_top_k": 0.2718,
            "baseline_test_precision_at_top_k": 0.2,
            "test_roc_auc_recomputed": 0.81234,
        },
        "fairness": fairness,
        "thresholds": threshold_sweep(
            y, s, groups, fractions=[0.01, 0.02, 0.05, 0.1, 0.2], min_group_size=30
        ),
        "calibration": calibration_by_group(y, s, groups, bins=10, min_group_size=30),
        "ground_truth": {
            "available": False,
            "reason": "No ground truth was given to this audit.",
        },
        "linkage": {
            "available": True,
            "overall": {"precision": 0.9876, "recall": 0.9512, "linked_pairs": 40213},
            "by_group": {
                "ethnicity": {
                    "White": {
                        "precision": 0.99,
                        "recall": 0.97,
                        "missed_link_rate": 0.03,
                        "false_link_rate": 0.01,
                        "records": 30000,
                    },
                    "Asian": {
                        "precision": 0.95,
                        "recall": 0.88,
                        "missed_link_rate": 0.12,
                        "false_link_rate": 0.05,
                        "records": 4000,
                    },
                }
            },
        },
        "explainability": {
            "available": True,
            "method": "TreeSHAP via LightGBM pred_contrib",
            "rows": 400,
            "rows_per_second": 4321.5,
            "check": {
                "rows_checked": 200,
                "max_abs_difference": 3e-12,
                "tolerance": 1e-6,
                "passed": True,
            },
            "importance": [
                {"rank": 1, "feature": "assault_injury_12m", "mean_abs_shap": 0.41, "share": 0.6},
                {"rank": 2, "feature": "exclusions_ever", "mean_abs_shap": 0.27, "share": 0.4},
            ],
            "by_group": {
                "sex": {
                    "female": {
                        "n": 210,
                        "too_small": False,
                        "mean_shap": {"assault_injury_12m": -0.05, "exclusions_ever": 0.02},
                    },
                    "male": {
                        "n": 190,
                        "too_small": False,
                        "mean_shap": {"assault_injury_12m": 0.06, "exclusions_ever": -0.01},
                    },
                    "not recorded": {"n": 3, "too_small": True, "mean_shap": None},
                }
            },
            "proxy": {
                "ethnicity": {
                    "attribute": "ethnicity",
                    "rows": 385,
                    "classes": ["Asian", "Black", "White"],
                    "dropped_classes": [],
                    "auc": 0.571,
                    "baseline_auc": 0.5,
                    "top_inputs": [{"feature": "exclusions_ever", "importance_share": 0.7}],
                }
            },
        },
        "drift": {
            "available": False,
            "reason": "No version is champion yet: there is no approved model to compare with.",
        },
        "features": [
            {
                "name": "assault_injury_12m",
                "description": "A&E attendances for assault",
                "source": "health",
                "window_months": 12,
                "policy": "allowed",
            },
            {
                "name": "exclusions_ever",
                "description": "Exclusions from school",
                "source": "education",
                "window_months": None,
                "policy": "expires_after 5 years",
            },
            {
                "name": "ethnicity",
                "description": "Ethnicity",
                "source": "person",
                "policy": "prohibited",
                "sensitive": True,
            },
        ],
        "timings": {"scoring": 0.123, "fairness": 1.5},
    }
    result["model_card"] = build_model_card(
        load_model_card(ROOT / "configs/model_card.yaml"), result
    )
    return result


@pytest.fixture(scope="module")
def figures() -> dict[str, bytes]:
    return {
        "thresholds_sex.png": PNG,
        "calibration_ethnicity.png": PNG + b"c",
        "shap_summary.png": PNG + b"b",
        "shap_bins_exclusions_ever.png": PNG + b"d1",
        "shap_bins_assault_injury_12m.png": PNG + b"d2",
    }


@pytest.fixture(scope="module")
def report(audit: dict[str, Any], figures: dict[str, bytes]) -> str:
    return render_report(audit, figures)


class _Checker(HTMLParser):
    """Parses the document and checks that every element is closed in order."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input", "col", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def _parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    return checker


def _section(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, flags=re.S)
    assert match, anchor
    return match.group(1)


# ----------------------------------------------------------------------------------------------
# structure


def test_the_document_parses_with_every_element_closed(report: str) -> None:
    assert report.startswith("<!DOCTYPE html>")
    checker = _parse(report)
    assert checker.errors == []
    assert checker.stack == []
    assert report.rstrip().endswith("</html>")


def test_every_section_is_present_in_order_with_its_explanation(report: str) -> None:
    positions = [report.index(f'<section id="{anchor}">') for anchor in SECTION_IDS]
    assert positions == sorted(positions)
    for anchor, heading in zip(SECTION_IDS, HEADINGS, strict=True):
        body = _section(report, anchor)
        assert f"<h2>{heading}</h2>" in body.replace("&amp;", "&")
        assert '<p class="explain">' in body
    assert "<h1>Audit report: vru-risk version 7</h1>" in report
    assert "<footer>" in report and "aggregates only" in report


def test_no_script_and_nothing_external(report: str) -> None:
    assert "<script" not in report
    assert "http://" not in report and "https://" not in report
    for _, attrs in _parse(report).tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:image/png;base64,", "#")), value


def test_figures_are_embedded_as_data_uris_with_alt_text(
    report: str, figures: dict[str, bytes]
) -> None:
    images = [attrs for tag, attrs in _parse(report).tags if tag == "img"]
    assert len(images) == len(figures)
    for attrs in images:
        assert attrs["alt"] and len(attrs["alt"] or "") > 20
    for name, data in figures.items():
        assert f"data:image/png;base64,{base64.b64encode(data).decode()}" in report, name
    explain = _section(report, "explainability")
    first = explain.index(base64.b64encode(figures["shap_bins_assault_injury_12m.png"]).decode())
    second = explain.index(base64.b64encode(figures["shap_bins_exclusions_ever.png"]).decode())
    assert first < second  # binned plots in order of importance


# ----------------------------------------------------------------------------------------------
# content


def test_the_gates_show_the_failure_in_words(report: str) -> None:
    gates = _section(report, "gates")
    assert 'class="verdict fail"' in gates and "FAIL" in gates
    rows = re.findall(r"<tr>(.*?)</tr>", gates, flags=re.S)
    ece = next(r for r in rows if "maximum calibration error" in r)
    assert '<span class="badge fail">fail</span>' in ece
    assert "0.031" in ece and "at most 0.020" in ece
    auc = next(r for r in rows if "minimum test ROC AUC" in r)
    assert '<span class="badge pass">pass</span>' in auc and "0.812" in auc
    odds = next(r for r in rows if "equalized odds" in r)
    assert DASH in odds and "not measured" in odds and "badge fail" in odds


def test_numbers_are_formatted_for_people(report: str, audit: dict[str, Any]) -> None:
    performance = _section(report, "performance")
    assert "12,345" in performance and "617" in performance and "5.0%" in performance
    assert "0.812" in performance and "0.701" in performance and "+0.111" in performance
    assert "31.4%" in performance and "+11.4 pts" in performance  # precision in the top k%
    assert "0.81234" not in report
    fairness = _section(report, "fairness")
    group = audit["fairness"]["by"]["sex"]["female"]
    low, high = group["ci"]["tpr"]
    # the exact interval, rounded outward so that the printed one still holds it
    expected = (
        f"{100 * group['tpr']:.1f}% "
        f"({math.floor(1000 * low) / 10:.1f}–{math.ceil(1000 * high) / 10:.1f}%)"
    )
    assert expected in fairness
    assert f"{group['count']:,}" in fairness


def test_a_too_small_group_is_shown_and_flagged(report: str, audit: dict[str, Any]) -> None:
    by = audit["fairness"]["by"]["ethnicity"]
    small = [g for g, m in by.items() if m["too_small"]]
    assert small and "not recorded" in small
    for anchor in ("fairness", "thresholds", "calibration", "explainability"):
        body = _section(report, anchor)
        assert '<span class="badge flag">too small to judge</span>' in body, anchor
    fairness = _section(report, "fairness")
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", fairness)
    row = next(r for r in rows if re.match(r"<td[^>]*>not recorded<", r))
    assert "too small to judge" in row
    assert '<span class="badge info">reference</span>' in fairness


def test_text_from_the_audit_is_escaped(report: str) -> None:
    assert EVIL not in report
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in report
    assert "A&amp;E attendances for assault" in report


def test_absent_and_unavailable_sections_say_why(report: str) -> None:
    truth = _section(report, "recording-bias")
    assert "No ground truth was given to this audit." in truth
    assert "Real agency extracts contain only what was recorded" in truth
    drift = _section(report, "drift")
    assert "No version is champion yet" in drift
    mitigations = _section(report, "mitigations")
    assert "This audit holds no mitigation comparison." in mitigations


def test_every_section_renders_from_an_empty_or_unavailable_audit() -> None:
    empty = render_report({}, {})
    assert _parse(empty).errors == []
    for anchor in SECTION_IDS:
        assert f'<section id="{anchor}">' in empty
    reason = "withheld <b>today</b>"
    unavailable = render_report(
        {
            key: {"available": False, "reason": reason}
            for key in (
                "model_card",
                "performance",
                "fairness",
                "thresholds",
                "calibration",
                "ground_truth",
                "linkage",
                "mitigations",
                "explainability",
                "drift",
                "features",
            )
        },
        {},
    )
    assert _parse(unavailable).errors == []
    escaped = "withheld &lt;b&gt;today&lt;/b&gt;"
    for anchor in SECTION_IDS[1:]:
        assert escaped in _section(unavailable, anchor), anchor
    garbled = render_report(
        {"fairness": "oops", "features": 3, "gates": "x", "performance": {"test_roc_auc": "?"}},
        {},
    )
    assert _parse(garbled).errors == []


def test_sections_with_every_part_available_render(audit: dict[str, Any]) -> None:
    full = copy.deepcopy(audit)
    full["ground_truth"] = {
        "available": True,
        "note": "Synthetic city: the truth is known.",
        "overall": {"recorded_rate": 0.05, "true_rate": 0.08, "recorded_to_true": 0.625},
        "by": {
            "ethnicity": {
                "Black": {
                    "count": 3000,
                    "recorded_rate": 0.07,
                    "true_rate": 0.08,
                    "recorded_to_true": 0.875,
                    "mean_predicted": 0.066,
                    "roc_auc_recorded": 0.8,
                    "roc_auc_true": 0.77,
                    "too_small": False,
                }
            }
        },
    }
    full["mitigations"] = {
        "available": True,
        "constraint": "equalized_odds",
        "objective": "balanced_accuracy_score",
        "attribute": "ethnicity",
        "fit_rows": 20000,
        "evaluated_rows": 19000,
        "merged_small_groups": ["Mixed"],
        "fit_split": "validation",
        "evaluated_on": "test",
        "rows": [
            {
                "method": "ThresholdOptimizer",
                "description": "Group-specific thresholds",
                "accuracy": 0.9,
                "balanced_accuracy": 0.7,
                "selection_rate": 0.1,
                "tpr": 0.5,
                "fpr": 0.08,
                "equalized_odds_difference": 0.04,
                "demographic_parity_difference": 0.02,
                "by_group": {
                    "Black": {"count": 4000, "selection_rate": 0.12, "tpr": 0.51, "fpr": 0.09}
                },
            },
            {
                "method": "ExponentiatedGradient",
                "description": "Reweighted training",
                "accuracy": None,
                "by_group": {},
                "note": "could not be fitted on these data: ValueError: one class",
            },
        ],
    }
    full["drift"] = {
        "available": True,
        "champion": {"version": "6", "approved_report_sha256": "a" * 64},
        "features": [{"feature": "exclusions_ever", "psi": 0.31, "level": "significant"}],
        "score": {"psi": 0.05, "level": "stable"},
        "figures": [
            {
                "figure": "test_roc_auc",
                "champion": 0.8,
                "candidate": 0.81234,
                "change": 0.01234,
                "status": "shared",
            },
            {
                "figure": "equalized_odds_difference (sex)",
                "champion": None,
                "candidate": 0.05,
                "change": None,
                "status": "candidate_only",
            },
        ],
        "drivers": {"champion": ["exclusions_ever"], "candidate": ["assault_injury_12m", "x"]},
        "feature_list": {"added": ["assault_injury_12m"], "removed": []},
    }
    html = render_report(full, {})
    assert _parse(html).errors == []
    truth = _section(html, "recording-bias")
    assert "Synthetic city: the truth is known." in truth and "0.88" in truth
    mitigations = _section(html, "mitigations")
    assert "ThresholdOptimizer" in mitigations
    assert "across ethnicity groups" in mitigations and "(20,000 young people)" in mitigations
    assert "merged into one: Mixed." in mitigations
    assert "Note: could not be fitted on these data: ValueError: one class." in mitigations
    assert "4,000" in mitigations and "51.0%" in mitigations
    drift = _section(html, "drift")
    assert "a" * 64 in drift
    assert '<span class="badge fail">significant</span>' in drift
    assert '<span class="badge pass">stable</span>' in drift
    assert "+0.012" in drift and "candidate only" in drift
    assert "Inputs added: assault_injury_12m. Inputs removed: none." in drift


def test_the_model_card_and_feature_policies_are_shown(report: str) -> None:
    card = _section(report, "model-card")
    assert "vru-data@example.gov.uk" in card
    assert "<h3>Model and performance</h3>" in card
    assert "0.812 (logistic-regression baseline 0.701)" in card
    features = _section(report, "features")
    assert '<span class="badge fail">prohibited</span>' in features
    assert '<span class="badge info">expires_after 5 years</span>' in features


# ----------------------------------------------------------------------------------------------
# privacy and identity


def test_nothing_from_a_row_reaches_the_report(report: str, frame: pd.DataFrame) -> None:
    assert "PERSONROW" not in report
    assert not [p for p in frame["person_id"] if p in report]
    printed = {f"{s:.12g}" for s in frame["score"]}
    assert not [s for s in printed if len(s) > 8 and s in report]


def test_the_report_and_its_hash_are_stable(
    report: str, audit: dict[str, Any], figures: dict[str, bytes]
) -> None:
    again = render_report(copy.deepcopy(audit), dict(figures))
    assert again == report
    assert report_sha256(again) == report_sha256(report)
    assert report_sha256(report) == hashlib.sha256(report.encode("utf-8")).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", report_sha256(report))
    changed = copy.deepcopy(audit)
    changed["gates_passed"] = True
    assert report_sha256(render_report(changed, figures)) != report_sha256(report)


def test_the_proxy_check_says_which_inputs_identify_areas_or_why_it_did_not_look() -> None:
    from governance.audit.report.explanations import explainability_view

    rule = {
        "available": True,
        "area_column": "lsoa_code",
        "areas": 66,
        "inputs_checked": 3,
        "min_distinct_share": 0.5,
        "min_constant_share": 0.99,
    }
    base = {"available": True, "method": "TreeSHAP", "proxy": {}}
    flagged = {
        "feature": "deprivation_score",
        "distinct_values": 66,
        "constant_share": 1.0,
        "reason": "deprivation_score takes 66 distinct values over 66 areas",
    }
    said = explainability_view(
        {**base, "area_identifiers": {**rule, "identifiers": [flagged]}}, {}
    ).area_identifiers
    assert "1 input(s) do" in said[0] and "66 areas (lsoa_code)" in said[0]
    assert said[1] == "Area identifier: deprivation_score takes 66 distinct values over 66 areas."
    none = explainability_view({**base, "area_identifiers": {**rule, "identifiers": []}}, {})
    assert none.area_identifiers[0].endswith("None of the 3 inputs does.")
    missing = {"available": False, "reason": "no area column 'lsoa_code'"}
    unavailable = explainability_view({**base, "area_identifiers": missing}, {})
    assert unavailable.area_identifiers == (
        "Area identifiers were not looked for: no area column 'lsoa_code'",
    )
