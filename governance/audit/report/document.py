"""The report as one document: the template environment, the sections in order, the hash."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from governance.audit.formatting import DASH, text
from governance.audit.reading import field
from governance.audit.report.aequitas import aequitas_view
from governance.audit.report.areas import areas_view
from governance.audit.report.baseline_view import baseline_view
from governance.audit.report.blocks import Badge, Code
from governance.audit.report.board_views import (
    error_analysis_view,
    first_page_view,
    recording_view,
)
from governance.audit.report.changes import drift_view, features_view
from governance.audit.report.explanations import explainability_view, mitigations_view
from governance.audit.report.groups import (
    calibration_view,
    fairness_view,
    linkage_view,
    thresholds_view,
    truth_view,
)
from governance.audit.report.refit import refit_view
from governance.audit.report.rolling import rolling_view
from governance.audit.report.summary import card_view, gates_view, performance_view, time_taken

__all__ = ["SECTIONS", "environment", "render_report", "report_context", "report_sha256"]

SECTIONS: tuple[tuple[str, str], ...] = (
    ("first-page", "What the board is asked"),
    ("areas", "Area expected counts (the product's decision)"),
    ("gates", "Promotion gates"),
    ("model-card", "Model card"),
    ("performance", "Performance"),
    ("fairness", "Fairness at the operating point"),
    ("thresholds", "Across thresholds"),
    ("calibration", "Calibration by group"),
    ("recording-bias", "Recording bias (ground truth)"),
    ("error-analysis", "Where the model fails (error analysis)"),
    ("linkage", "Linkage quality by group"),
    ("mitigations", "Mitigation options (compared, not applied)"),
    ("explainability", "Explainability"),
    ("drift", "Drift and change since the champion"),
    ("rolling-origins", "Rolling-origin evaluation"),
    ("served-model", "The served model: refit on all labelled data"),
    ("features", "Features and their policy"),
)
"""Each section's anchor and title, in the order of the report and its contents list."""


def _escape(value: Any) -> Markup:
    """Every value printed by a template, escaped as :func:`html.escape` does (quotes too)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def _text(value: Any) -> str:
    """A value read from the audit by a template; absent or None reads as a dash."""
    return text(None if isinstance(value, jinja2.Undefined) else value)


def _prose(value: Any) -> Markup:
    """A template's own prose on one line: runs of white space become one space, escaped."""
    return _escape(" ".join(str(value).split()))


@cache
def environment() -> jinja2.Environment:
    """Templates from ``templates/``, autoescaped, reading the audit with chainable fields."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("governance.audit.report", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.ChainableUndefined,
        finalize=_escape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(text=_text, prose=_prose)
    env.globals["DASH"] = DASH
    env.tests.update(badge=lambda v: isinstance(v, Badge), code=lambda v: isinstance(v, Code))
    return env


def report_context(audit: Any, figures: Mapping[str, bytes]) -> dict[str, Any]:
    """Everything the templates read: the audit, the sections' titles and each section's view.

    Parameters
    ----------
    audit : mapping or typed audit document
        As for :func:`render_report`.
    figures : mapping of str to bytes
        As for :func:`render_report`.

    Returns
    -------
    dict
        Template variables by name: ``audit``, ``sections``, ``titles`` and one view per
        section (``gates``, ``card``, ``performance`` ... ``features``, ``time_taken``).
    """
    return {
        "audit": audit,
        "sections": SECTIONS,
        "titles": dict(SECTIONS),
        "areas": areas_view(field(audit, "areas")),
        "gates": gates_view(audit),
        "card": card_view(field(audit, "model_card")),
        "performance": performance_view(audit),
        "baseline": baseline_view(field(audit, "area_baseline")),
        "fairness": fairness_view(field(audit, "fairness")),
        "aequitas": aequitas_view(field(audit, "fairness")),
        "thresholds": thresholds_view(field(audit, "thresholds"), figures),
        "calibration": calibration_view(field(audit, "calibration"), figures),
        "ground_truth": truth_view(field(audit, "ground_truth")),
        "recording": recording_view(field(audit, "ground_truth")),
        "error_analysis": error_analysis_view(field(audit, "error_analysis")),
        "first_page": first_page_view(audit),
        "linkage": linkage_view(field(audit, "linkage")),
        "mitigations": mitigations_view(field(audit, "mitigations")),
        "explainability": explainability_view(field(audit, "explainability"), figures),
        "drift": drift_view(field(audit, "drift")),
        "rolling": rolling_view(field(audit, "rolling_origins")),
        "refit": refit_view(field(audit, "refit")),
        "features": features_view(field(audit, "features"), field(field(audit, "model"), "inputs")),
        "time_taken": time_taken(audit),
    }


def render_report(audit: Any, figures: Mapping[str, bytes]) -> str:
    """Render a model version's audit as one self-contained HTML5 document.

    Parameters
    ----------
    audit : mapping or typed audit document
        The audit (``audit.json``'s content). Sections read, each optional: ``model``,
        ``created``, ``gates``, ``gates_passed``, ``model_card``, ``performance``, ``data``,
        ``operating_point``, ``fairness``, ``thresholds``, ``calibration``,
        ``ground_truth``, ``linkage``, ``mitigations``, ``explainability``, ``drift``,
        ``features``, ``timings`` and ``schema_version``.
    figures : mapping of str to bytes
        PNG images by name: ``thresholds_<dimension>.png``, ``calibration_<dimension>.png``,
        ``shap_summary.png`` and ``shap_bins_<feature>.png``; each is embedded in its
        section as a ``data:image/png;base64`` URI. Others are not shown.

    Returns
    -------
    str
        The document. It references no external resource and runs no script; the same
        inputs always give the same text.
    """
    template = environment().get_template("document.html")
    return template.render(report_context(audit, figures))


def report_sha256(html: str) -> str:
    """SHA-256 (hex) of the report's UTF-8 bytes: the hash the board's decision names.

    Parameters
    ----------
    html : str
        The report, as returned by :func:`render_report` (and any later embedding).

    Returns
    -------
    str
        64 lowercase hexadecimal characters.
    """
    return hashlib.sha256(html.encode("utf-8")).hexdigest()
