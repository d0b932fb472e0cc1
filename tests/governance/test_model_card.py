"""The model card: the hand-written YAML validates, and the audit fills the model's figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from governance.audit.formatting import DASH
from governance.audit.model_card import (
    NOT_AVAILABLE,
    ModelCardConfig,
    build_model_card,
    load_model_card,
)
from governance.contracts.errors import ConfigError, VruError

ROOT = Path(__file__).resolve().parents[2]
CARD = ROOT / "configs/model_card.yaml"
HEADINGS = [
    "Owner and contact",
    "Purpose and scope",
    "How it is used and by whom",
    "Human oversight",
    "Data sources and linkage",
    "Model and performance",
    "Features and their policy",
    "Risks and mitigations",
    "Impact assessment",
]


@pytest.fixture(scope="module")
def card() -> ModelCardConfig:
    return load_model_card(CARD)


def _audit() -> dict[str, Any]:
    return {
        "created": "2025-06-01T10:00:00+00:00",
        "model": {
            "name": "vru-risk",
            "version": "7",
            "run_id": "abc123",
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
        "performance": {
            "test_roc_auc": 0.81234,
            "baseline_test_roc_auc": 0.70111,
            "test_pr_auc": 0.2346,
            "baseline_test_pr_auc": 0.1111,
            "test_ece": 0.0123,
            "baseline_test_ece": 0.0211,
        },
        "gates": [
            {"name": "minimum test ROC AUC", "figure": "test_roc_auc", "passed": True},
            {"name": "maximum calibration error (ECE)", "figure": "test_ece", "passed": False},
        ],
        "gates_passed": False,
        "operating_point": {"top_fraction": 0.05, "selected": 617},
        "linkage": {"available": True, "overall": {"precision": 0.9876, "recall": 0.9512}},
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
    }


def _items(built: dict[str, Any], heading: str) -> dict[str, str]:
    (section,) = [s for s in built["sections"] if s["heading"] == heading]
    return {i["label"]: i["value"] for i in section["items"]}


def _write(tmp_path: Path, change: dict[str, Any]) -> Path:
    raw = yaml.safe_load(CARD.read_text())
    for dotted, value in change.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


_DELETE = object()


# ----------------------------------------------------------------------------------------------
# loading


def test_the_real_card_loads_and_says_what_the_tool_is_not_for(card: ModelCardConfig) -> None:
    assert card.owner.contact_email == "vru-data@example.gov.uk"
    assert card.human_oversight.automated_decision is False
    assert any("individual" in use for use in card.purpose.not_for)
    agencies = " ".join(a.name for a in card.data.agencies).lower()
    for agency in ("health", "education", "social care", "police"):
        assert agency in agencies
    assert "Splink" in card.data.linkage
    risks = " ".join(r.risk for r in card.risks).lower()
    for risk in ("recording bias", "prox", "disclosure", "permanent", "feedback"):
        assert risk in risks
    assert card.impact_assessment.dpia.status == "to be completed by the organisation"
    with pytest.raises(ValueError, match="frozen"):
        card.title = "x"  # type: ignore[misc]


def test_an_unknown_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, {"owner.phone": "0123"})
    with pytest.raises(ConfigError) as err:
        load_model_card(path)
    assert str(path) in str(err.value)
    assert "'owner.phone' Extra inputs are not permitted (got '0123')" in str(err.value)
    assert isinstance(err.value, VruError) and isinstance(err.value, ValueError)


def test_a_bad_value_says_what_was_expected(tmp_path: Path) -> None:
    path = _write(tmp_path, {"owner.contact_email": "not an address"})
    with pytest.raises(ConfigError, match=r"'owner\.contact_email' .*expected an email address"):
        load_model_card(path)
    path = _write(tmp_path, {"impact_assessment.dpia.status": "done"})
    with pytest.raises(ConfigError, match=r"'impact_assessment\.dpia\.status' Input should be"):
        load_model_card(path)


def test_the_card_cannot_claim_automated_decisions(tmp_path: Path) -> None:
    path = _write(tmp_path, {"human_oversight.automated_decision": True})
    with pytest.raises(ConfigError, match=r"'human_oversight\.automated_decision'"):
        load_model_card(path)


def test_a_missing_key_and_a_missing_file_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path, {"purpose.not_for": _DELETE})
    with pytest.raises(ConfigError, match=r"card\.yaml: 'purpose\.not_for' Field required"):
        load_model_card(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_model_card(tmp_path / "absent.yaml")


# ----------------------------------------------------------------------------------------------
# building


def test_the_sections_follow_the_atrs_headings_and_are_plain_text(card: ModelCardConfig) -> None:
    built = build_model_card(card, _audit())
    assert [s["heading"] for s in built["sections"]] == HEADINGS
    for section in built["sections"]:
        assert section["items"], section["heading"]
        for item in section["items"]:
            assert isinstance(item["label"], str) and item["label"]
            assert isinstance(item["value"], str) and item["value"]
    assert json.loads(json.dumps(built)) == built
    assert built["contact_email"] == "vru-data@example.gov.uk"
    assert all(isinstance(v, str) for k, v in built.items() if k != "sections")


def test_model_and_performance_are_filled_from_the_audit(card: ModelCardConfig) -> None:
    items = _items(build_model_card(card, _audit()), "Model and performance")
    assert items["Model version"] == "vru-risk version 7 (run abc123)"
    assert items["Tested on the cohort of"] == "2023-03-31"
    assert items["Trained on the cohorts of"] == "2016-03-31, 2017-03-31"
    assert items["Test set"] == "12,345 young people, 617 with the outcome (5.0%)"
    assert (
        items["Test ROC AUC (ranking; 0.5 is chance, 1 is perfect)"]
        == "0.812 (logistic-regression baseline 0.701)"
    )
    assert (
        items["Test PR AUC (precision of the ranking)"]
        == "0.235 (logistic-regression baseline 0.111)"
    )
    assert (
        items["Test calibration error, ECE (0 is perfect)"]
        == "0.012 (logistic-regression baseline 0.021)"
    )
    assert items["Promotion gates"] == "Not all passed; failed: maximum calibration error (ECE)"
    assert items["Operating point for the audit"].startswith("The 5.0% of young people")
    assert "617 selected" in items["Operating point for the audit"]


def test_linkage_and_features_are_filled_from_the_audit(card: ModelCardConfig) -> None:
    built = build_model_card(card, _audit())
    data = _items(built, "Data sources and linkage")
    assert data["Measured linkage quality"].startswith("Precision 98.8%")
    assert "recall 95.1%" in data["Measured linkage quality"]
    features = _items(built, "Features and their policy")
    assert "policy: allowed" in features["assault_injury_12m"]
    assert "window: 12 months" in features["assault_injury_12m"]
    assert "window: ever; policy: expires_after 5 years" in features["exclusions_ever"]
    assert features["ethnicity"].endswith("policy: prohibited; not a model input")


def test_an_empty_audit_leaves_the_model_figures_marked_not_available(
    card: ModelCardConfig,
) -> None:
    built = build_model_card(card, {"linkage": {"available": False, "reason": "no truth"}})
    items = _items(built, "Model and performance")
    assert items["Model version"] == NOT_AVAILABLE
    assert items["Test ROC AUC (ranking; 0.5 is chance, 1 is perfect)"] == DASH
    assert items["Audited"] == DASH
    assert items["Promotion gates"] == NOT_AVAILABLE
    assert _items(built, "Features and their policy") == {"Features": NOT_AVAILABLE}
    linkage = _items(built, "Data sources and linkage")["Measured linkage quality"]
    assert linkage == "Not measured for this audit: no truth"
    impact = _items(built, "Impact assessment")
    assert (
        "Reference: to be completed by the organisation"
        in impact["Data protection impact assessment (DPIA)"]
    )


def test_a_missing_figure_reads_as_in_the_report(card: ModelCardConfig) -> None:
    """One rule with the audit report: a missing figure is a dash, not a sentence."""
    audit = _audit()
    del audit["data"]["positives"]
    audit["performance"]["test_pr_auc"] = float("nan")
    del audit["linkage"]["overall"]["recall"]
    audit["features"][0]["policy"] = None
    built = build_model_card(card, audit)
    items = _items(built, "Model and performance")
    assert items["Test set"] == f"12,345 young people, {DASH} with the outcome (5.0%)"
    assert (
        items["Test PR AUC (precision of the ranking)"]
        == f"{DASH} (logistic-regression baseline 0.111)"
    )
    quality = _items(built, "Data sources and linkage")["Measured linkage quality"]
    assert f"recall {DASH} (share" in quality
    assert (
        f"policy: {DASH}; a model input"
        in _items(built, "Features and their policy")["assault_injury_12m"]
    )
