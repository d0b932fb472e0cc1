"""audit.json as a typed document: what the audit writes reads back, and writes back, unchanged.

A tiny LightGBM model on a generated table is audited twice, the second time against the
first as champion, so that every section (drift included) is filled. The document must
survive ``to_json_bytes`` then ``from_json`` byte for byte; keys a section did not set stay
absent and keys set to None stay null; an unknown key is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from governance.audit.fairness import audit_scored_table
from governance.audit.model_audit import (
    AuditOutcome,
    ChampionAudit,
    ModelAuditInputs,
    run_model_audit,
)
from governance.audit.model_card import load_model_card
from governance.board.registry import ModelVersionInfo
from governance.contracts.audit_document import (
    AuditDocument,
    DriftReport,
    ExplainabilityReport,
    MitigationReport,
    ScoredTableAudit,
    SectionUnavailable,
)
from governance.contracts.settings import GovernanceConfig

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["absence_rate", "prior_incidents", "age"]
TOP_LEVEL = {
    "areas",
    "area_baseline",
    "error_analysis",
    "calibration",
    "created",
    "data",
    "distributions",
    "drift",
    "explainability",
    "fairness",
    "fairness_use",
    "features",
    "gates",
    "gates_passed",
    "ground_truth",
    "kind",
    "linkage",
    "mitigations",
    "model",
    "model_card",
    "operating_point",
    "performance",
    "rolling_origins",
    "refit",
    "schema_version",
    "thresholds",
    "timings",
}


class TinyModel:
    """What training logs, in small: calibrated ``predict``, ``columns`` and ``scorer``."""

    def __init__(self, booster: lightgbm.Booster) -> None:
        self.scorer = booster
        self.columns = COLUMNS

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.scorer.predict(frame[self.columns]), dtype=np.float64)


def _rows(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "absence_rate": rng.beta(2, 8, n),
            "prior_incidents": rng.poisson(0.4, n).astype(float),
            "age": rng.integers(10, 18, n).astype(float),
            "sex": rng.choice(["F", "M"], n),
            "ethnicity": rng.choice(["Asian", "Black", "White"], n, p=[0.2, 0.2, 0.6]),
            "deprivation_decile": rng.integers(1, 11, n).astype(float),
        }
    )
    logit = -3.0 + 4.0 * frame["absence_rate"] + 0.9 * frame["prior_incidents"]
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _truth(scored: pd.DataFrame) -> dict[str, Any]:
    """A stand-in for evaluation code's ground-truth section (free-form)."""
    mean = float(scored["score"].mean())
    return {"available": True, "overall": {"count": len(scored), "mean": mean}, "note": None}


def _inputs(seed: int, champion: ChampionAudit | None = None) -> ModelAuditInputs:
    rng = np.random.default_rng(seed)
    train, test, validation = _rows(rng, 2000), _rows(rng, 1200), _rows(rng, 1200)
    booster = lightgbm.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 1, "deterministic": True},
        lightgbm.Dataset(train[COLUMNS], train["label"]),
        num_boost_round=20,
    )
    info = ModelVersionInfo(
        name="tiny",
        version=str(seed),
        run_id="run-tiny",
        aliases=(),
        tags={"git_commit": "abc"},
        metrics={"test_roc_auc": 0.75, "test_ece": 0.01, "baseline_test_roc_auc": 0.6},
        params={},
        run_tags={},
    )
    features = [
        {"name": "absence_rate", "description": "Absence", "source": "education"}
        | {"policy": "allowed", "window_months": 12, "aggregate": "mean", "condition": ""},
        {"name": "age", "description": "Age", "source": "person", "policy": "allowed"},
        {"name": "sex", "description": "Sex", "source": "person", "policy": "prohibited"}
        | {"sensitive": True},
    ]
    return ModelAuditInputs(
        info=info,
        model=TinyModel(booster),
        test=test,
        validation=validation,
        features=features,
        splits={"test": "2023-03-31", "validation": "2022-03-31", "train": ["2020-03-31"]},
        top_fraction=0.1,
        card=load_model_card(ROOT / "configs/model_card.yaml"),
        champion=champion,
        truth=_truth,
    )


@pytest.fixture(scope="module")
def config() -> GovernanceConfig:
    return GovernanceConfig(
        audit={"bootstrap": 30, "proxy_max_rows": 500, "dependence_plots": 1},
        mitigation={"max_rows": 800, "exponentiated_gradient_max_iter": 3},
    )


@pytest.fixture(scope="module")
def first(config: GovernanceConfig) -> AuditOutcome:
    return run_model_audit(_inputs(11), config, seed=5)


@pytest.fixture(scope="module")
def second(config: GovernanceConfig, first: AuditOutcome) -> AuditOutcome:
    champion = ChampionAudit("11", first.sha256, AuditDocument.from_json(first.audit_json()))
    return run_model_audit(_inputs(12, champion), config, seed=5)


@pytest.mark.parametrize("which", ["first", "second"])
def test_the_document_reads_back_and_writes_back_unchanged(
    which: str, request: pytest.FixtureRequest
) -> None:
    outcome: AuditOutcome = request.getfixturevalue(which)
    written = outcome.audit_json()
    document = AuditDocument.from_json(written)
    assert document == outcome.audit
    assert document.to_json_bytes() == written
    plain = outcome.audit.model_dump(exclude_unset=True)
    assert written == (json.dumps(plain, indent=1, sort_keys=True) + "\n").encode()
    assert json.loads(written) == outcome.audit.to_dict()


def test_the_gates_do_not_take_the_runs_word_for_its_figures(first: AuditOutcome) -> None:
    """The tiny model's run "logged" ROC AUC 0.75 and ECE 0.01; the audit recomputes both."""
    gates = {g.figure: g for g in first.audit.gates}
    performance = first.audit.performance
    assert gates["test_roc_auc"].value == performance["test_roc_auc_recomputed"] != 0.75
    assert gates["test_ece"].value == performance["test_ece_recomputed"] != 0.01
    assert not gates["logged_figure_difference"].passed
    assert not first.audit.gates_passed


def test_every_section_is_written_with_its_own_keys(first: AuditOutcome) -> None:
    written = json.loads(first.audit_json())
    assert set(written) == TOP_LEVEL
    assert written["kind"] == "model" and written["schema_version"] == 1
    assert written["operating_point"] == {"top_fraction": 0.1, "selected": 120}
    assert set(written["fairness"]) == {
        "rows",
        "operating_point",
        "overall",
        "by",
        "summary",
        "fairlearn_check",
        "method",
        "confidence",
        "min_outcomes",
    }
    assert set(written["distributions"]) == {"score", *COLUMNS}
    assert list(written["timings"]) == sorted(first.audit.timings)
    # a key the producer did not set stays absent; one it set to None stays null
    age = next(f for f in written["features"] if f["name"] == "age")
    assert set(age) == {"name", "description", "source", "policy"}
    assert written["ground_truth"]["note"] is None
    assert written["model"]["features_sha256"] is None


def test_a_document_written_before_the_area_audit_still_reads(first: AuditOutcome) -> None:
    written = json.loads(first.audit_json())
    assert "available" in written["areas"]
    del written["areas"]
    old = AuditDocument.from_json(json.dumps(written))
    assert old.areas is None
    assert "areas" not in json.loads(old.to_json_bytes())


def test_sections_that_may_be_missing_say_so_and_why(
    first: AuditOutcome, second: AuditOutcome
) -> None:
    assert isinstance(first.audit.drift, SectionUnavailable)
    assert first.audit.drift.reason.startswith("No version is champion yet")
    assert isinstance(first.audit.explainability, ExplainabilityReport)
    assert isinstance(first.audit.mitigations, MitigationReport)
    drift = second.audit.drift
    assert isinstance(drift, DriftReport)
    assert drift.champion.version == "11"
    assert drift.champion.approved_report_sha256 == first.sha256
    # a champion that kept no training reference and no model: the section says so (issue 17)
    assert drift.features == [] and drift.cohort is not None
    assert "kept no reference bins" in (drift.cohort.missing or "")
    assert drift.paired == [] and "could not be loaded" in (drift.paired_missing or "")
    assert drift.drivers.champion == [r.feature for r in first.audit.explainability.importance]


def test_an_unknown_or_missing_key_is_refused(first: AuditOutcome) -> None:
    written = json.loads(first.audit_json())
    with pytest.raises(ValidationError, match="extra_forbidden"):
        AuditDocument.from_json(json.dumps({**written, "surprise": 1}))
    del written["gates_passed"]
    with pytest.raises(ValidationError, match="gates_passed"):
        AuditDocument.from_json(json.dumps(written))


def test_a_scored_table_audit_is_typed_too() -> None:
    rng = np.random.default_rng(3)
    frame = _rows(rng, 600).assign(score=lambda f: rng.random(len(f)))
    result = audit_scored_table(
        frame, label="label", score="score", sensitive=["sex", "ethnicity"], threshold=0.9
    )
    result["table"] = {"path": "scores.parquet", "label": "label", "score": "score"}
    document = ScoredTableAudit.model_validate(result)
    assert document.operating_point.threshold == 0.9
    assert json.loads(document.to_json_bytes()) == json.loads(json.dumps(result))
    assert "top_fraction" not in json.loads(document.to_json_bytes())["operating_point"]
