"""The report's templates: every name they read is given, they ship, and a typed audit renders.

The templates read the audit with attribute syntax and undefined names print as nothing (so
a missing audit field reads "—"); these tests make sure that leniency hides no typo in a
view's name, and that the same bytes come from a dict and from a typed document.
"""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from jinja2 import meta
from pydantic import BaseModel, ConfigDict

from governance.audit.formatting import DASH
from governance.audit.report import render_report
from governance.audit.report.document import environment, report_context

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "governance/audit/report/templates"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))

AUDIT: dict[str, Any] = {
    "schema_version": 1,
    "created": "2025-06-01T10:00:00+00:00",
    "model": {"name": "vru-risk", "version": "7", "run_id": "r1", "inputs": ["a_12m"]},
    "gates_passed": False,
    "gates": [
        {"name": "minimum AUC", "figure": "test_roc_auc", "value": 0.8, "limit": 0.7},
        {"name": "ECE", "figure": "test_ece", "value": None, "passed": False, "note": "n/a"},
    ],
    "data": {"test_date": "2023-03-31", "rows": 1000, "positives": 50, "prevalence": 0.05},
    "performance": {"test_roc_auc": 0.81, "baseline_test_roc_auc": 0.7, "test_ece": 0.02},
    "fairness": {
        "operating_point": {"top_fraction": 0.1, "selected": 100},
        "rows": 1000,
        "overall": {"base_rate": 0.05, "tpr": 0.4, "ci": {"tpr": [0.3, 0.5]}},
        "summary": {"sex": {"reference": "F", "equalized_odds_difference": 0.04}},
        "by": {
            "sex": {
                "F": {"count": 500, "tpr": 0.41, "too_small": False},
                "M": {"count": 20, "tpr": 0.3, "too_small": True, "difference": {"tpr": -0.1}},
            }
        },
    },
    "thresholds": {"sex": {"fractions": [0.05, 0.1], "groups": {"F": {"tpr": [0.2, 0.4]}}}},
    "calibration": {"by": {"sex": {"F": {"count": 500, "ece": 0.01}}}},
    "linkage": {"overall": {"precision": 0.98, "records": 1200}},
    "explainability": {
        "method": "TreeSHAP",
        "importance": [{"rank": 1, "feature": "a_12m", "share": 0.6}],
        "by_group": {"sex": {"F": {"n": 500, "mean_shap": {"a_12m": 0.1}}}},
    },
    "drift": {
        "champion": {"version": "6", "approved_report_sha256": "a" * 64},
        "score": {"psi": 0.05, "level": "stable"},
        "drivers": {"champion": ["a_12m"], "candidate": ["a_12m", "b"]},
    },
    "features": [{"name": "a_12m", "description": "A & B", "policy": "allowed"}],
    "timings": {"scoring": 0.5},
}


class _Document(BaseModel):
    """A stand-in for the typed audit document: fields as attributes, none declared."""

    model_config = ConfigDict(extra="allow", frozen=True)


def _typed(value: Any) -> Any:
    """``value`` with every dict whose keys are identifiers turned into a document."""
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if not isinstance(value, dict):
        return value
    converted = {k: _typed(v) for k, v in value.items()}
    if all(k.isidentifier() for k in value):
        return _Document(**converted)
    return converted


def test_every_name_a_template_reads_is_given() -> None:
    env = environment()
    given = set(report_context({}, {})) | {"DASH"}
    for path in TEMPLATES.glob("*.html"):
        read = meta.find_undeclared_variables(env.parse(path.read_text()))
        assert read <= given, (path.name, read - given)


def test_every_template_ships_with_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["governance.audit.report"]
    for path in TEMPLATES.iterdir():
        name = path.relative_to(TEMPLATES.parent).as_posix()
        assert any(fnmatch(name, p) for p in patterns), name


def test_a_typed_document_renders_the_same_bytes_as_its_dict() -> None:
    figures = {"thresholds_sex.png": PNG, "shap_summary.png": PNG + b"b"}
    typed = _typed(AUDIT)
    assert isinstance(typed, _Document)
    assert render_report(typed, figures) == render_report(AUDIT, figures)


def test_the_small_audit_reads_as_expected() -> None:
    html = render_report(AUDIT, {})
    assert "<h1>Audit report: vru-risk version 7</h1>" in html
    assert f'<td class="num">{DASH}</td>' in html  # the unmeasured ECE gate
    assert "A &amp; B" in html
    assert "SHA-256 <code>" + "a" * 64 + "</code>" in html
    assert "<p>Time taken: scoring 0.5 s.</p>" in html
