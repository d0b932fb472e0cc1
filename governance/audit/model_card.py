"""The model card: what the tool is, who answers for it, and how well the audited version does.

The card follows the headings of the UK Algorithmic Transparency Recording Standard (ATRS):
owner and contact, purpose and scope, use, human oversight, data and linkage, the model and
its performance, risks and mitigations, and impact assessments. Most of it is written by
people and kept in ``configs/model_card.yaml`` (validated by :class:`ModelCardConfig`); the
parts that change with every model version (its test figures, its gates, its features and
their policy, the measured linkage quality) are filled from the version's audit by
:func:`build_model_card`, so the published card can never describe a different model from
the one the board audited.

What :func:`build_model_card` returns is plain data (strings only inside the sections), in
the order the sections are read, and ready for :func:`json.dumps`; the audit report renders
it as it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from governance.audit.arrays import Json
from governance.audit.formatting import DASH, bounds, fmt, number, text
from governance.audit.reading import entries, field, is_record
from governance.contracts.config import load_config

__all__ = [
    "NOT_AVAILABLE",
    "Agency",
    "Assessment",
    "DataSources",
    "HumanOversight",
    "ImpactAssessment",
    "ModelCardConfig",
    "ModelDescription",
    "Owner",
    "Purpose",
    "Risk",
    "Use",
    "build_model_card",
    "load_model_card",
]


NOT_AVAILABLE = "not available in this audit"
TO_BE_COMPLETED = "to be completed by the organisation"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BAD_EMAIL = "expected an email address such as team@example.gov.uk"
_HEADLINE: tuple[tuple[str, str, Literal["auc", "rate", "decimal"]], ...] = (
    ("Test ROC AUC (ranking; 0.5 is chance, 1 is perfect)", "test_roc_auc", "auc"),
    ("Test PR AUC (precision of the ranking)", "test_pr_auc", "auc"),
    ("Test calibration error, ECE (0 is perfect)", "test_ece", "decimal"),
)


class _Card(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Owner(_Card):
    """Who is responsible for the tool and how to reach them (ATRS: owner and responsibility)."""

    organisation: str = Field(min_length=1)
    team: str = Field(min_length=1)
    contact_email: str = Field(description="A team mailbox, never a person's own address.")
    senior_responsible_owner: str = Field(
        min_length=1, description="The accountable role (not a person's name)."
    )

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.fullmatch(value):
            raise ValueError(_BAD_EMAIL)
        return value


class Purpose(_Card):
    """What the tool is for and, as plainly, what it is not for."""

    summary: str = Field(min_length=1)
    intended_uses: list[str] = Field(min_length=1)
    not_for: list[str] = Field(min_length=1, description="Uses that are out of scope.")
    outputs: str = Field(min_length=1, description="What the tool produces and at what level.")
    benefits: str = ""
    alternatives_considered: str = ""


class Use(_Card):
    """Who uses the outputs and how they enter decisions about services."""

    users: list[str] = Field(min_length=1)
    process: str = Field(min_length=1)
    frequency: str = Field(min_length=1)


class HumanOversight(_Card):
    """Who approves, who sees what, and how concerns are raised."""

    automated_decision: Literal[False] = Field(
        False, description="vru-risk makes no automated decision; the card cannot say otherwise."
    )
    approval: str = Field(min_length=1)
    who_sees_what: list[str] = Field(min_length=1)
    challenge: str = Field(min_length=1, description="How to question an output or the tool.")


class Agency(_Card):
    """One agency whose records the tool reads."""

    name: str = Field(min_length=1)
    records: str = Field(min_length=1, description="What is drawn from the agency, in words.")


class DataSources(_Card):
    """The agencies, how their records are linked, and on what basis they are held."""

    agencies: list[Agency] = Field(min_length=1)
    linkage: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    retention: str = Field(min_length=1)


class ModelDescription(_Card):
    """The parts of the model's description that do not change from version to version."""

    type: str = Field(min_length=1)
    outcome: str = Field(min_length=1, description="What is predicted, over what period.")
    baseline: str = Field(
        min_length=1, description="The simple models each version is compared with, in words."
    )
    limitations: list[str] = Field(min_length=1)


class Risk(_Card):
    """One known risk and what is done about it."""

    risk: str = Field(min_length=1)
    mitigation: str = Field(min_length=1)


class Assessment(_Card):
    """The status of one impact assessment; the organisation completes and references it."""

    status: Literal[
        "completed", "in progress", "not started", "to be completed by the organisation"
    ]
    reference: str | None = None
    notes: str = ""


class ImpactAssessment(_Card):
    """Data protection and equality impact assessments."""

    dpia: Assessment
    equality_impact_assessment: Assessment
    other: str = ""


class ModelCardConfig(_Card):
    """The hand-written part of the model card (``configs/model_card.yaml``)."""

    card_version: Literal[1] = 1
    title: str = Field(min_length=1)
    owner: Owner
    purpose: Purpose
    use: Use
    human_oversight: HumanOversight
    data: DataSources
    model: ModelDescription
    risks: list[Risk] = Field(min_length=1)
    impact_assessment: ImpactAssessment


def load_model_card(path: Path) -> ModelCardConfig:
    """Read and validate the model card's YAML file.

    Parameters
    ----------
    path : pathlib.Path
        The YAML file, usually ``configs/model_card.yaml``.

    Returns
    -------
    ModelCardConfig
        The validated, frozen card.

    Raises
    ------
    ConfigError
        If the file is missing or not YAML, or a key is unknown, missing or has a value
        that is not allowed; the message names the file, every such key, what was expected
        and what was given.
    """
    return load_config(path, ModelCardConfig)


def build_model_card(card: ModelCardConfig, audit: Any) -> Json:
    """The model card of one audited version, as ordered ATRS sections of labelled text.

    Parameters
    ----------
    card : ModelCardConfig
        The hand-written part, from :func:`load_model_card`.
    audit : mapping or typed audit document
        The version's audit (``audit.json`` as built by the model audit, or the document it
        is read into), read through :mod:`governance.audit.reading`. Read, if present:
        ``model`` (``name``, ``version``, ``run_id``, ``inputs``), ``created``, ``data``
        (``test_date``, ``validation_date``, ``train_dates``, ``rows``, ``positives``,
        ``prevalence``), ``performance`` (``test_roc_auc``, ``test_pr_auc``, ``test_ece`` and
        their ``baseline_`` twins, the logistic-regression baseline's), ``area_baseline``
        (the area-rate baseline gate), ``fairness_use``, ``gates`` and ``gates_passed``, ``operating_point`` (or
        ``fairness.operating_point``), ``linkage`` (``available``, ``reason``, ``overall``)
        and ``features`` (``[{name, description, source, window_months, policy}]``). Figures
        are written by :mod:`governance.audit.formatting`, as in the audit report: a missing
        figure or date reads "—"; an item the audit cannot fill at all (the model's identity,
        the test set, the operating point, the gates, the features, the linkage quality)
        reads "not available in this audit".

    Returns
    -------
    dict
        ``{"sections": [{"heading", "items": [{"label", "value"}]}], "title",
        "organisation", "contact_email", "purpose", "not_for"}``: every label and value is a
        string. The top-level strings repeat the card's headline for places (such as a
        release manifest) that keep only short scalar fields.
    """
    sections = [
        *_written_opening(card),
        _section("Data sources and linkage", _data_items(card, audit)),
        _section("Model and performance", _model_items(card, audit)),
        _section("Features and their policy", _feature_items(audit)),
        _section("Risks and mitigations", [(r.risk, r.mitigation) for r in card.risks]),
        _section("Impact assessment", _impact_items(card.impact_assessment)),
    ]
    return {
        "sections": sections,
        "title": card.title,
        "organisation": card.owner.organisation,
        "contact_email": card.owner.contact_email,
        "purpose": card.purpose.summary,
        "not_for": "; ".join(card.purpose.not_for),
    }


# -- sections written by people ----------------------------------------------------------------


def _written_opening(card: ModelCardConfig) -> list[Json]:
    """The four opening sections, all from the hand-written card."""
    return [
        _section(
            "Owner and contact",
            [
                ("Organisation", card.owner.organisation),
                ("Team", card.owner.team),
                ("Contact", card.owner.contact_email),
                ("Senior responsible owner (role)", card.owner.senior_responsible_owner),
            ],
        ),
        _section(
            "Purpose and scope",
            [
                ("What the tool is for", card.purpose.summary),
                ("Intended uses", _lines(card.purpose.intended_uses)),
                ("What the tool is not for", _lines(card.purpose.not_for)),
                ("Outputs", card.purpose.outputs),
                ("Expected benefits", card.purpose.benefits),
                ("Alternatives considered", card.purpose.alternatives_considered),
            ],
        ),
        _section(
            "How it is used and by whom",
            [
                ("Users", _lines(card.use.users)),
                ("How the outputs are used", card.use.process),
                ("How often", card.use.frequency),
            ],
        ),
        _section(
            "Human oversight",
            [
                (
                    "Automated decisions",
                    "None. The tool makes no decision about any person; people decide how "
                    "services are planned.",
                ),
                ("Approval of each version", card.human_oversight.approval),
                ("Who sees what", _lines(card.human_oversight.who_sees_what)),
                ("Raising a concern", card.human_oversight.challenge),
            ],
        ),
    ]


def _impact_items(impact: ImpactAssessment) -> list[tuple[str, str]]:
    return [
        ("Data protection impact assessment (DPIA)", _assessment(impact.dpia)),
        ("Equality impact assessment", _assessment(impact.equality_impact_assessment)),
        ("Other assessments", impact.other),
    ]


# -- sections filled from the audit ----------------------------------------------------------


def _data_items(card: ModelCardConfig, audit: Any) -> list[tuple[str, str]]:
    items = [(f"Agency: {a.name}", a.records) for a in card.data.agencies]
    items.append(("Linkage method", card.data.linkage))
    items.append(("Measured linkage quality", _linkage_quality(field(audit, "linkage"))))
    items.append(("Legal basis", card.data.legal_basis))
    items.append(("Retention", card.data.retention))
    return items


def _linkage_quality(linkage: Any) -> str:
    if not is_record(linkage):
        return NOT_AVAILABLE
    if field(linkage, "available") is False:
        reason = field(linkage, "reason")
        return f"Not measured for this audit: {reason or 'no reason recorded'}"
    overall = field(linkage, "overall")
    if not is_record(overall):
        return NOT_AVAILABLE
    return (
        f"Precision {fmt(field(overall, 'precision'), 'rate')} (share of the links made that "
        f"are right); recall {fmt(field(overall, 'recall'), 'rate')} (share of the true links "
        "found)"
    )


def _identity(model: Any) -> str:
    name, version, run_id = field(model, "name"), field(model, "version"), field(model, "run_id")
    if name is None or version is None:
        return NOT_AVAILABLE
    return f"{name} version {version}" + (f" (run {run_id})" if run_id else "")


def _test_set(data: Any) -> str:
    if field(data, "rows") is None:
        return NOT_AVAILABLE
    return (
        f"{fmt(field(data, 'rows'), 'count')} young people, "
        f"{fmt(field(data, 'positives'), 'count')} with the outcome "
        f"({fmt(field(data, 'prevalence'), 'rate')})"
    )


def _headline(performance: Any) -> list[tuple[str, str]]:
    """Each headline test figure, with the logistic-regression baseline's beside it if known."""
    items = []
    for label, key, kind in _HEADLINE:
        value = field(performance, key)
        baseline = field(performance, f"baseline_{key}")
        shown = fmt(value, kind)
        if value is not None and baseline is not None:
            shown += f" (logistic-regression baseline {fmt(baseline, kind)})"
        items.append((label, shown))
    return items


def _model_items(card: ModelCardConfig, audit: Any) -> list[tuple[str, str]]:
    data = field(audit, "data")
    items = [
        ("Model type", card.model.type),
        ("Outcome predicted", card.model.outcome),
        ("Model version", _identity(field(audit, "model"))),
        ("Audited", text(field(audit, "created"))),
        ("Trained on the cohorts of", _dates(field(data, "train_dates"))),
        ("Validated on the cohort of", text(field(data, "validation_date"))),
        ("Tested on the cohort of", text(field(data, "test_date"))),
        ("Test set", _test_set(data)),
        ("The model a release scores with", _served(field(audit, "refit"))),
        ("Baseline", card.model.baseline),
        *_headline(field(audit, "performance")),
        ("Against the area-rate baseline (a gate)", _area_baseline(field(audit, "area_baseline"))),
        ("Which fairness measure fits which use", _fairness_use(field(audit, "fairness_use"))),
        ("Operating point for the audit", _operating_point(audit)),
        ("Promotion gates", _gates(audit)),
        ("Known limitations", _lines(card.model.limitations)),
    ]
    return items


def _served(refit: Any) -> str:
    """Which model is served: the refit on all labelled data, and how it was judged."""
    if not is_record(refit) or field(refit, "available") is not True:
        return "The model described above: it was not refit on later data."
    check = field(field(refit, "check"), "overall")
    return (
        f"The same configuration refit on the cohorts of {_dates(field(refit, 'as_of_dates'))}, "
        f"with {100 * (field(refit, 'audit_fraction') or 0):.0f}% of the young people kept out "
        f"of it; on them it expects outcomes at an observed/expected ratio of "
        f"{fmt(field(check, 'ratio'), 'decimal')}{bounds([field(check, 'low'), field(check, 'high')], 'decimal')}. "
        f"The test figures above are the evaluated model's, trained on earlier cohorts only."
    )


def _area_baseline(section: Any) -> str:
    """The area-rate baseline gate in words: the decision metric, the difference, its interval."""
    if not is_record(section):
        return NOT_AVAILABLE
    if field(section, "available") is False:
        return f"Not measured for this audit: {field(section, 'reason') or 'no reason recorded'}"
    metric = str(field(section, "metric")).replace("_", " ")
    verdict = "beats it" if field(section, "passed") else "does not clearly beat it"
    return (
        f"The model {verdict} on {metric}: {_g(field(section, 'candidate'))} "
        f"against {_g(field(section, 'baseline'))} for the recorded rate of each "
        f"young person's area; difference {_g(field(section, 'difference'))} "
        f"(positive: the model is better), {fmt(field(section, 'confidence'), 'rate')} paired "
        f"bootstrap interval {_g(field(section, 'low'))} to "
        f"{_g(field(section, 'high'))}"
    )


def _g(value: Any) -> str:
    """Four significant figures (log loss and Brier differences are small), or a dash."""
    finite = number(value)
    return DASH if finite is None else f"{finite:.4g}"


def _fairness_use(uses: Any) -> str:
    """Each use of the scores and the fairness measure that fits it, one line each."""
    if not isinstance(uses, list) or not uses:
        return NOT_AVAILABLE
    return _lines(
        [
            f"{text(field(u, 'use'))}: {text(field(u, 'measure'))}. {text(field(u, 'meaning'))}"
            for u in uses
            if is_record(u)
        ]
    )


def _operating_point(audit: Any) -> str:
    point = field(audit, "operating_point")
    if not entries(point):
        point = field(field(audit, "fairness"), "operating_point")
    selected = field(point, "selected")
    of = f" ({fmt(selected, 'count')} selected in the test set)" if selected is not None else ""
    if field(point, "top_fraction") is not None:
        return (
            f"The {fmt(field(point, 'top_fraction'), 'rate')} of young people with the highest "
            f"predicted risk count as selected when error rates are measured{of}"
        )
    if field(point, "threshold") is not None:
        return f"A predicted risk of at least {fmt(field(point, 'threshold'), 'decimal')}{of}"
    return NOT_AVAILABLE


def _gates(audit: Any) -> str:
    gates = field(audit, "gates")
    passed = field(audit, "gates_passed")
    if not isinstance(gates, list) or passed is None:
        return NOT_AVAILABLE
    if passed:
        return f"All {len(gates)} passed"
    failed = [
        str(field(g, "name") or field(g, "figure"))
        for g in gates
        if is_record(g) and not field(g, "passed")
    ]
    return f"Not all passed; failed: {', '.join(failed) or 'unknown'}"


def _feature_items(audit: Any) -> list[tuple[str, str]]:
    features = field(audit, "features")
    if not isinstance(features, list) or not features:
        return [("Features", NOT_AVAILABLE)]
    inputs = field(field(audit, "model"), "inputs")
    items = []
    for feature in features:
        if not is_record(feature):
            continue
        name = str(field(feature, "name"))
        window = field(feature, "window_months")
        parts = [
            text(field(feature, "description")),
            f"source: {text(field(feature, 'source'))}",
            f"window: {'ever' if window is None else f'{window} months'}",
            f"policy: {text(field(feature, 'policy'))}",
        ]
        if isinstance(inputs, list):
            parts.append("a model input" if name in inputs else "not a model input")
        items.append((name, "; ".join(parts)))
    return items


def _assessment(assessment: Assessment) -> str:
    parts = [f"Status: {assessment.status}"]
    parts.append(f"Reference: {assessment.reference or TO_BE_COMPLETED}")
    if assessment.notes:
        parts.append(assessment.notes)
    return "\n".join(parts)


# -- small helpers ---------------------------------------------------------------------------


def _section(heading: str, items: Sequence[tuple[str, str]]) -> Json:
    return {
        "heading": heading,
        "items": [{"label": label, "value": value} for label, value in items if value],
    }


def _lines(values: Sequence[str]) -> str:
    return "\n".join(f"- {v}" for v in values)


def _dates(values: Any) -> str:
    if isinstance(values, list) and values:
        return ", ".join(map(str, values))
    return text(values)
