"""Views of the report's opening and closing sections: gates, model card, performance, footer.

The header and the rest of the footer read the audit directly in their templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.audit.formatting import difference, fmt, kind_of, seconds, text
from governance.audit.reading import entries, field, is_record
from governance.audit.report.blocks import Code, Table, result_badge, row, table, unavailable

__all__ = [
    "PERFORMANCE",
    "CardPart",
    "CardView",
    "GatesView",
    "PerformanceView",
    "card_view",
    "gates_view",
    "performance_view",
    "time_taken",
]

# Performance figures: name (without the test_/baseline_ prefix) -> (label, how to read it).
PERFORMANCE: dict[str, tuple[str, str]] = {
    "roc_auc": (
        "ROC AUC",
        "How well the model ranks: the chance that a young person with the outcome is ranked "
        "above one without. 0.5 is a coin toss, 1 is perfect.",
    ),
    "pr_auc": (
        "PR AUC",
        "How precise the ranking is among the highest scores. Compare it with the outcome "
        "rate: a model no better than chance scores about the outcome rate.",
    ),
    "brier": ("Brier score", "Average squared error of the predicted risks. Lower is better."),
    "ece": (
        "Calibration error (ECE)",
        "Average gap between predicted risk and the rate actually observed. 0 is perfect.",
    ),
    "calibration_slope": (
        "Calibration slope",
        "1 means predicted risks spread as much as real risks; below 1, too extreme; above 1, "
        "too timid.",
    ),
    "precision_at_top_k": (
        "Precision in the top k%",
        "Of the young people with the highest scores, the share who went on to have the outcome.",
    ),
    "precision_top_k": (
        "Precision in the top k%",
        "Of the young people with the highest scores, the share who went on to have the outcome.",
    ),
    "recall_at_top_k": (
        "Recall in the top k%",
        "Of all young people who had the outcome, the share found among the highest scores.",
    ),
    "recall_top_k": (
        "Recall in the top k%",
        "Of all young people who had the outcome, the share found among the highest scores.",
    ),
    "roc_auc_recomputed": (
        "ROC AUC, recomputed by the audit",
        "The same ROC AUC computed again by the audit from the test rows, as a check on "
        "training's own figure.",
    ),
}
_ORDER = {name: i for i, name in enumerate(PERFORMANCE)}


@dataclass(frozen=True)
class GatesView:
    """The gates' table, or None if the audit lists no gates (the verdict is read apart)."""

    table: Table | None


def gates_view(audit: Any) -> GatesView:
    """Each gate's measured figure, its requirement and its result."""
    gates = field(audit, "gates")
    if not isinstance(gates, list) or not gates:
        return GatesView(None)
    rows = []
    for gate in gates:
        figure = str(field(gate, "figure", ""))
        kind = kind_of(figure)
        note = field(gate, "note")
        rows.append(
            row(
                text(field(gate, "name")),
                Code(figure),
                fmt(field(gate, "value"), kind),
                f"{text(field(gate, 'direction'))} {fmt(field(gate, 'limit'), kind)}",
                result_badge(field(gate, "passed"), "unknown"),
                text(note) if note else "",
            )
        )
    headers = ["Gate", "Figure", "Measured", "Required", "Result", "Note"]
    return GatesView(table(headers, rows, numeric=(2, 3)))


@dataclass(frozen=True)
class CardPart:
    """One heading of the model card and its items."""

    heading: str
    table: Table


@dataclass(frozen=True)
class CardView:
    """The model card's parts, or why it cannot be shown."""

    missing: str | None = None
    parts: tuple[CardPart, ...] = ()


def card_view(card: Any) -> CardView:
    """The model card (built by :mod:`governance.audit.model_card`), heading by heading."""
    missing = unavailable(card, "model card")
    if missing:
        return CardView(missing)
    sections = field(card, "sections")
    if not isinstance(sections, list) or not sections:
        return CardView("The model card has no sections.")
    parts = []
    for part in sections:
        items = field(part, "items")
        rows = [
            row(text(field(i, "label")), text(field(i, "value")))
            for i in (items if isinstance(items, list) else [])
        ]
        table_ = table(["Item", "Entry"], rows, text=(1,))
        parts.append(CardPart(text(field(part, "heading")), table_))
    return CardView(parts=tuple(parts))


@dataclass(frozen=True)
class PerformanceView:
    """The test data's description, and the model's figures beside the baseline's."""

    data: Table | None
    missing: str | None
    figures: Table | None


def _data_table(data: Any) -> Table | None:
    if not is_record(data):
        return None
    train = field(data, "train_dates")
    rows = [
        row("Test cohort (date)", text(field(data, "test_date"))),
        row("Validation cohort (date)", text(field(data, "validation_date"))),
        row(
            "Training cohorts (dates)",
            ", ".join(map(str, train)) if isinstance(train, list) else text(train),
        ),
        row("Young people in the test cohort", fmt(field(data, "rows"), "count")),
        row("… of whom had the outcome", fmt(field(data, "positives"), "count")),
        row("Outcome rate", fmt(field(data, "prevalence"), "rate")),
    ]
    return table(["Item", "Value"], rows, numeric=(1,))


def _figure_names(performance: Any) -> list[str]:
    """The figures' names without prefixes, known ones first in :data:`PERFORMANCE` order."""
    names: list[str] = []
    for key, _ in entries(performance):
        name = str(key).removeprefix("baseline_").removeprefix("test_")
        if name not in names:
            names.append(name)
    return sorted(names, key=lambda n: (_ORDER.get(n, len(_ORDER)), names.index(n)))


def performance_view(audit: Any) -> PerformanceView:
    """The test cohort and each performance figure, model against baseline."""
    data = _data_table(field(audit, "data"))
    performance = field(audit, "performance")
    missing = unavailable(performance, "performance figures")
    if missing:
        return PerformanceView(data, missing, None)
    rows = []
    for name in _figure_names(performance):
        model = field(performance, f"test_{name}", field(performance, name))
        baseline = field(
            performance, f"baseline_test_{name}", field(performance, f"baseline_{name}")
        )
        label, meaning = PERFORMANCE.get(name, (name.replace("_", " "), ""))
        kind = kind_of(name)
        rows.append(
            row(
                label,
                meaning,
                fmt(model, kind),
                fmt(baseline, kind),
                difference(model, baseline, kind),
            )
        )
    headers = [
        "Figure",
        "How to read it",
        "This model",
        "Logistic-regression baseline (all inputs)",
        "Difference",
    ]
    return PerformanceView(data, None, table(headers, rows, numeric=(2, 3, 4)))


def time_taken(audit: Any) -> str:
    """The audit's steps and their durations, ``"scoring 0.1 s; fairness 0.6 s"``."""
    return "; ".join(f"{step} {seconds(s)}" for step, s in entries(field(audit, "timings")))
