"""The model audit end to end: a real city, a trained and registered model, its report.

The session's trained city (tests/conftest.py: generated, linked, featured, a model trained
and registered), with a copy of its SQLite store; the audit then runs as `vru audit` runs
it. The tests check what the board relies on: every section present (with ground truth,
since the city is generated), the report self-contained and hashed on the version, no
individual's key or score anywhere in what is written, and the comparison with an approved
champion.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from governance.audit.gates import AREA_FIGURES, CALIBRATION_FIGURES, REFIT_GATE_FIGURES
from governance.audit.model_card import load_model_card
from governance.audit.version import AuditRecord, audit_version
from governance.board.approval import REPORT_TAG, promote
from governance.board.audit_log import AuditLog
from governance.board.registry import CHAMPION, Registry, RegistryError
from governance.board.review import record_review
from governance.board.verdict import read_verdict
from governance.contracts.audit_document import (
    AreaBaselineReport,
    AreaIdentifierCheck,
    AreaReport,
    AuditDocument,
    DriftReport,
    ExplainabilityReport,
    MitigationReport,
    RefitAudit,
    RollingOrigins,
)
from governance.contracts.errors import ExtractError
from governance.contracts.settings import GovernanceConfig
from governance.contracts.signing import artifacts_digest, generate_keypair
from tests.helpers import TrainedCity, copy_tree, sqlite_uri
from training.config import PipelineConfig
from training.evaluation.area_truth import area_truth
from training.evaluation.recording import linkage_by_group, truth_comparison
from training.model.config import ModelConfig
from training.model.train import run_train

ROOT = Path(__file__).resolve().parents[2]
NAME = "vru-risk"


class City:
    """The trained city's data, a copy of its store and a board, under ``root``."""

    def __init__(self, root: Path, data: Path, pipeline: PipelineConfig, public: str) -> None:
        self.root = root
        self.data = data
        self.pipeline = pipeline
        self.uri = sqlite_uri(root / "store")
        self.key = root / "board.pem"
        self.public = public
        self.config = GovernanceConfig(
            board_public_key_b64=self.public,
            audit_log=root / "log" / "audit.jsonl",
            audit={"bootstrap": 200, "proxy_max_rows": 3_000, "dependence_plots": 2},
            mitigation={"max_rows": 2_000, "exponentiated_gradient_max_iter": 5},
        )

    @classmethod
    def made(cls, root: Path, trained: TrainedCity) -> City:
        """The session's trained city (version 1 @candidate) with a board key pair."""
        trained.copy_store(root / "store")
        public = generate_keypair(root / "board.pem", root / "board.pub")
        return cls(root, trained.data, trained.pipeline, public)

    def copy(self, root: Path) -> City:
        """A copy under ``root`` (store, reports, log, keys) for one test to change."""
        copy_tree(self.root, root)
        return City(root, self.data, self.pipeline, self.public)

    def train(self, rounds: int, origins: tuple[str, ...] = ()) -> str:
        mlflow.set_tracking_uri(self.uri)
        config = ModelConfig(
            lightgbm={"max_rounds": rounds}, evaluation={"rolling_origins": list(origins)}
        )
        return run_train(self.pipeline, config, self.data).version

    def audit(self, version: str | None = None, out: Path | None = None) -> AuditRecord:
        mlflow.set_tracking_uri(self.uri)
        sensitive = list(self.config.audit.sensitive)

        def truth(manifest: dict[str, Any]) -> Any:
            return lambda rows: truth_comparison(
                self.data,
                rows,
                label_months=int(manifest["label"]["months"]),
                outcome=manifest["label"]["outcome"],
                group_columns=sensitive,
                min_group_size=self.config.gates.min_group_size,
            )

        return audit_version(
            Registry(self.uri),
            self.config,
            load_model_card(ROOT / "configs/model_card.yaml"),
            self.data,
            name=NAME,
            version=version,
            out=out or self.root / f"report-{version or 'candidate'}",
            seed=7,
            truth=truth,
            linkage=linkage_by_group(self.data),
            area_truth=lambda manifest: (
                lambda rows, levels: area_truth(
                    self.data,
                    rows,
                    levels,
                    label_months=int(manifest["label"]["months"]),
                    outcome=manifest["label"]["outcome"],
                    group_columns=sensitive,
                )
            ),
        )


@pytest.fixture(scope="module")
def city(trained_city: TrainedCity, tmp_path_factory: pytest.TempPathFactory) -> City:
    """The module's city: its candidate is audited once (``first``); tests read it."""
    return City.made(tmp_path_factory.mktemp("audit"), trained_city)


@pytest.fixture(scope="module")
def first(city: City) -> AuditRecord:
    return city.audit()


def test_the_report_has_every_section_and_is_hashed_on_the_version(
    city: City, first: AuditRecord
) -> None:
    audit = first.outcome.audit
    for section in (
        "gates",
        "performance",
        "fairness",
        "thresholds",
        "calibration",
        "ground_truth",
        "linkage",
        "mitigations",
        "explainability",
        "drift",
        "model_card",
        "features",
    ):
        assert getattr(audit, section) is not None, section
    assert set(audit.fairness.by) >= {"sex", "ethnicity", "deprivation_quintile"}
    assert any(" × " in d for d in audit.fairness.by)  # the intersection
    assert audit.fairness.fairlearn_check.max_abs_difference < 1e-9
    # the fairness gate decides on each dimension's gap and its permutation p-value (issue 17)
    assert audit.fairness.min_outcomes == city.config.gates.min_outcomes
    assert audit.fairness.method is not None and "Clopper" in audit.fairness.method
    for dimension in ("sex", "ethnicity", "deprivation_quintile"):
        found = audit.fairness.summary[dimension]
        p = found.equalized_odds_p_value
        assert (p is None) == (found.equalized_odds_difference is None)
        assert p is None or 0 < p <= 1
    assert audit.ground_truth["available"] is True
    assert audit.linkage["available"] is True
    assert isinstance(audit.explainability, ExplainabilityReport)
    assert audit.explainability.check.passed is True
    assert audit.drift.available is False  # no champion yet
    assert [g.figure for g in audit.gates] == [
        "test_roc_auc",
        "test_ece",
        "equalized_odds_difference",
        "logged_figure_difference",
        *CALIBRATION_FIGURES,
        *AREA_FIGURES,
        "area_baseline_difference_low",
        *REFIT_GATE_FIGURES,
    ]
    # the served model is the refit, judged on the young people held out of it
    refit = audit.refit
    assert isinstance(refit, RefitAudit)
    assert refit.audited_rows > 0 and refit.rows["audit"] >= refit.audited_rows
    assert refit.as_of_dates[-1] == audit.data.test_date
    assert {c.metric for c in refit.comparisons} == {"log_loss", "roc_auc"}
    values = {g.figure: g.value for g in audit.gates}
    assert values["refit_calibration_slope_low"] == refit.check.slope_low
    log_loss = next(c for c in refit.comparisons if c.metric == "log_loss")
    assert values["refit_difference_high"] == log_loss.high
    assert refit.agreement is not None and refit.agreement.areas > 1
    # the area-rate baseline is fitted on the validation cohort and its gate reads its bound
    baseline = audit.area_baseline
    assert isinstance(baseline, AreaBaselineReport) and baseline.fit_split == "validation"
    assert baseline.rows == audit.data.rows and baseline.metric == "log_loss"
    assert {g.figure: g.value for g in audit.gates}["area_baseline_difference_low"] == (
        baseline.low
    )
    # the calibration gates judge the audit's own check, whose figures the document keeps
    check = audit.calibration.check
    assert check is not None and check.overall.observed == int(audit.data.positives)
    assert check.overall.low is not None and check.overall.high is not None
    assert check.overall.low < check.overall.ratio < check.overall.high  # type: ignore[operator]
    values = {g.figure: g.value for g in audit.gates}
    assert values["observed_expected_high"] == check.overall.high
    assert values["observed_expected_low"] == check.overall.low
    assert values["calibration_slope_low"] == check.slope_low
    assert set(check.by) == {"sex", "ethnicity", "deprivation_quintile"}
    # what training logged is what the audit recomputes from the model and the test rows
    agree = {g.figure: g for g in audit.gates}["logged_figure_difference"]
    assert agree.passed and agree.value is not None and agree.value < 1e-12
    assert audit.performance["test_ece"] == audit.performance["test_ece_recomputed"]
    assert isinstance(audit.mitigations, MitigationReport)
    methods = {row.method for row in audit.mitigations.rows}
    assert any("ThresholdOptimizer" in m for m in methods)
    assert any("ExponentiatedGradient" in m for m in methods)

    written = (first.directory / "audit.json").read_bytes()
    assert AuditDocument.from_json(written).to_json_bytes() == written
    html = (first.directory / "report.html").read_text()
    assert hashlib.sha256(html.encode()).hexdigest() == first.outcome.sha256
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert "data:image/png;base64," in html
    assert "Model against the area-rate baseline (a gate)" in html
    registry = Registry(city.uri)
    info = registry.version(NAME, first.info.version)
    assert info.tags[REPORT_TAG] == first.outcome.sha256
    logged = registry.read_artifact(info, "audit/report.html")
    assert hashlib.sha256(logged).hexdigest() == first.outcome.sha256
    assert json.loads(registry.read_artifact(info, "audit/audit.json"))["model"]["version"] == (
        first.info.version
    )
    log = AuditLog(city.config.audit_log)
    assert [e["event"] for e in log.entries()][-1] == "audit.report"


def test_the_report_names_the_model_files_it_audited(city: City, first: AuditRecord) -> None:
    """The digest of the files the audit scored with is in the verdict the board signs."""
    registry = Registry(city.uri)
    info = registry.version(NAME, first.info.version)
    files = registry.model_files(info)
    assert files and "MLmodel" in files
    digest = artifacts_digest(files)
    assert first.outcome.audit.model.model_artifacts_sha256 == digest
    verdict = read_verdict(first.outcome.html)
    assert verdict["model_artifacts_sha256"] == digest
    assert digest in first.outcome.html  # shown to the board beside the run


def test_the_proxy_check_flags_the_area_score_as_an_area_identifier(
    city: City, first: AuditRecord
) -> None:
    """deprivation_score has one value per LSOA: it says where a young person lives."""
    explained = first.outcome.audit.explainability
    assert isinstance(explained, ExplainabilityReport)
    check = explained.area_identifiers
    assert isinstance(check, AreaIdentifierCheck) and check.area_column == "lsoa_code"
    flagged = {f.feature: f for f in check.identifiers}
    assert "deprivation_score" in flagged
    assert flagged["deprivation_score"].distinct_values >= check.min_distinct_share * check.areas
    assert "age" not in flagged and "deprivation_decile" not in flagged
    html = (first.directory / "report.html").read_text()
    assert "Area identifier: deprivation_score takes" in html
    written = json.loads((first.directory / "audit.json").read_bytes())
    listed = written["explainability"]["area_identifiers"]["identifiers"]
    assert "deprivation_score" in [f["feature"] for f in listed]


def test_the_fairness_section_reports_every_pair_beside_the_full_intersection(
    city: City, first: AuditRecord
) -> None:
    fairness = first.outcome.audit.fairness
    html = (first.directory / "report.html").read_text()
    for dimension in (
        "sex × ethnicity",
        "sex × deprivation_quintile",
        "ethnicity × deprivation_quintile",
        "sex × ethnicity × deprivation_quintile",
    ):
        groups = fairness.by[dimension]
        assert sum(g.count for g in groups.values()) == fairness.rows, dimension
        assert dimension in fairness.summary
        assert all(g.withheld == (g.count < 10) for g in groups.values())
        assert f"By {dimension}" in html
    # the gates still judge each attribute alone, not its (smaller, noisier) intersections
    assert {g.figure for g in first.outcome.audit.gates} >= {"equalized_odds_difference"}


def test_nothing_about_a_person_is_written(city: City, first: AuditRecord) -> None:
    features = pd.read_parquet(city.data / "features/features.parquet")
    test_rows = features[features["as_of_date"].astype(str) == first.outcome.audit.data.test_date]
    written = (first.directory / "report.html").read_text() + (
        first.directory / "audit.json"
    ).read_text()
    keys = test_rows["person_key"].astype(str).unique()
    assert len(keys) > 500
    assert not [k for k in keys if len(k) >= 6 and k in written]
    # no score that points at a few people is printed with full precision (a score that
    # thousands share, e.g. everyone with no history in one area, may be a decile edge)
    model = Registry(city.uri).load_model(first.info)
    scores = model.predict(test_rows[model.columns].astype(float))
    values, counts = np.unique(scores, return_counts=True)
    printed = {f"{s:.12g}" for s in values[counts < 10]}
    assert len(printed) > 100
    assert not [s for s in printed if len(s) > 8 and s in written]
    # the SHAP figures are bins of young people, each checked for marks of a person when drawn
    shap = [n for n in first.outcome.figures if n.startswith("shap_")]
    assert "shap_summary.png" in shap and any(n.startswith("shap_bins_") for n in shap)
    assert not [n for n in shap if "beeswarm" in n or "dependence" in n]


def test_the_audit_of_a_new_candidate_compares_it_with_the_champion(
    city: City, first: AuditRecord, tmp_path: Path
) -> None:
    city = city.copy(tmp_path / "city")  # promotes and trains: on a copy of its own
    registry = Registry(city.uri)
    log = AuditLog(city.config.audit_log)
    info = registry.version(NAME, first.info.version)
    waive = tuple(g.figure for g in first.outcome.audit.gates if not g.passed)
    record_review(
        registry,
        log,
        info,
        decision="approve",
        reasons="Synthetic test city.",
        signing_key=city.key,
        board=city.public,
        waive=waive,
    )
    promote(registry, log, registry.version(NAME, info.version), city.public, actor="test")
    assert registry.alias_version(NAME, CHAMPION) == info.version

    second = city.train(rounds=40, origins=("2021-03-31", "2023-03-31"))
    record = city.audit(second)
    # training's rolling-origin evaluation, read back by the audit and shown as a table
    rolling = record.outcome.audit.rolling_origins
    assert isinstance(rolling, RollingOrigins)
    assert [o.origin for o in rolling.origins] == ["2021-03-31", "2023-03-31"]
    for origin in rolling.origins:
        assert origin.roc_auc_low is not None and origin.roc_auc_high is not None
        assert origin.roc_auc_low <= (origin.roc_auc or 0) <= origin.roc_auc_high
    assert "Rolling-origin evaluation" in (record.directory / "report.html").read_text()
    drift = record.outcome.audit.drift
    assert isinstance(drift, DriftReport)
    assert drift.champion.version == info.version
    assert drift.champion.approved_report_sha256 == first.outcome.sha256
    # issue 17: drift runs from the champion's training data to the cohort the release scores
    # (the latest as-of date), not between two audits of the same test rows (all 0.000)
    assert drift.cohort is not None and drift.cohort.missing is None, drift.cohort
    assert drift.cohort.cohort_rows and drift.cohort.reference_rows
    assert drift.features and not all(row.psi < 1e-9 for row in drift.features)
    assert drift.score is not None
    # the champion scored beside the candidate on its test rows, with paired intervals
    assert [row.metric for row in drift.paired] == [
        "roc_auc",
        "average_precision",
        "brier",
        "log_loss",
    ]
    for row in drift.paired:
        assert row.low is not None and row.high is not None
        assert row.low <= row.difference <= row.high
    html = (record.directory / "report.html").read_text()
    assert "paired interval" in html and "the cohort the release will score" in html
    shared = {row.figure: row for row in drift.figures if row.status == "shared"}
    assert "test_roc_auc" in shared and shared["test_roc_auc"].change is not None
    assert log.verify().ok


def test_an_audit_refuses_other_data_or_unknown_versions(
    city: City, first: AuditRecord, tmp_path: Path
) -> None:
    with pytest.raises(RegistryError, match=r"has no version '99'; its versions: \['1'"):
        city.audit("99")
    other = tmp_path / "data"
    (other / "features").mkdir(parents=True)
    manifest = json.loads((city.data / "features/manifest.json").read_text())
    (other / "features/manifest.json").write_text(json.dumps({**manifest, "sha256": "0" * 64}))
    before = Registry(city.uri).version(NAME, "1").tags[REPORT_TAG]  # ``first``'s report
    elsewhere = City(city.root, other, city.pipeline, city.public)  # the same store
    with pytest.raises(ExtractError, match="is not the one vru-risk version 1 was trained on"):
        elsewhere.audit("1")
    assert Registry(city.uri).version(NAME, "1").tags[REPORT_TAG] == before


def test_the_area_audit_comes_first_with_recorded_and_true_outcomes(first: AuditRecord) -> None:
    audit = first.outcome.audit
    areas = audit.areas
    assert isinstance(areas, AreaReport) and areas.gated_level == "lsoa_code"
    assert set(areas.levels) == {"lsoa_code", "ward_code"}
    level = areas.levels["lsoa_code"]
    assert level.recorded.overall.observed == int(audit.data.positives)
    assert level.true is not None and level.true.overall.observed is not None
    assert set(level.recorded.by_type) >= {"deprivation", "policing", "share Black", "share White"}
    assert areas.policing_source.startswith("the generator's true policing")
    assert set(level.true.allocation) == set(level.recorded.allocation)
    values = {g.figure: g.value for g in audit.gates}
    assert set(AREA_FIGURES) <= set(values)
    assert "areas" in audit.timings
    html = first.outcome.html
    assert html.index('id="areas"') < html.index('id="gates"')
    assert "the product&#x27;s decision" in html or "the product's decision" in html
