"""Views of the sections on what the model reads and how it changed: drift and features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.audit.formatting import DASH, difference, fmt, kind_of, text
from governance.audit.reading import entries, field, is_record
from governance.audit.report.blocks import (
    Badge,
    BadgeKind,
    Part,
    Table,
    level_badge,
    row,
    table,
    unavailable,
)

__all__ = ["DriftView", "FeaturesView", "drift_view", "features_view"]

_POLICY_BADGES: dict[str, BadgeKind] = {"prohibited": "fail", "allowed": "pass"}


@dataclass(frozen=True)
class DriftView:
    """Changes since the champion; the champion's identity is read by the template."""

    missing: str | None = None
    score: tuple[str, Badge] | None = None
    features: Table | None = None
    figures: Table | None = None
    drivers: Table | None = None
    feature_list: str | None = None
    cohort: str | None = None
    paired: Table | None = None
    paired_missing: str | None = None


def _features_table(features: Any) -> Table | None:
    if not isinstance(features, list) or not features:
        return None
    rows = [
        row(
            text(field(f, "feature")),
            fmt(field(f, "psi"), "decimal"),
            level_badge(field(f, "level")),
        )
        for f in features
    ]
    return table(["Feature", "PSI", "Level"], rows, numeric=(1,))


def _figures_table(compared: Any) -> Table | None:
    if not isinstance(compared, list) or not compared:
        return None
    rows = []
    for f in compared:
        name = str(field(f, "figure"))
        kind = kind_of(name)
        champion, candidate = field(f, "champion"), field(f, "candidate")
        rows.append(
            row(
                name,
                fmt(champion, kind),
                fmt(candidate, kind),
                difference(candidate, champion, kind),
                text(field(f, "status")).replace("_", " "),
            )
        )
    headers = ["Figure", "Champion", "This version", "Change", "Compared"]
    return table(headers, rows, numeric=(1, 2, 3))


def _drivers_table(drivers: Any) -> Table | None:
    if not entries(drivers):
        return None
    old, new = field(drivers, "champion"), field(drivers, "candidate")
    old = old if isinstance(old, list) else []
    new = new if isinstance(new, list) else []
    rows = [
        row(
            str(i + 1),
            text(old[i]) if i < len(old) else DASH,
            text(new[i]) if i < len(new) else DASH,
        )
        for i in range(max(len(old), len(new)))
    ]
    return table(["Rank", "Champion", "This version"], rows, numeric=(0,))


def _cohort_sentence(cohort: Any) -> str | None:
    """What the drift compares, or why it could not (an old champion, no cohort)."""
    if not is_record(cohort):
        return None
    missing = field(cohort, "missing")
    if missing:
        return text(missing)
    return (
        f"Drift is measured from {text(field(cohort, 'reference'))} "
        f"({fmt(field(cohort, 'reference_rows'), 'count')} young people) to the cohort the "
        f"release will score: as-of {text(field(cohort, 'cohort_as_of'))}, "
        f"{fmt(field(cohort, 'cohort_rows'), 'count')} young people."
    )


_PAIRED_NAMES = {
    "roc_auc": "ROC AUC",
    "average_precision": "Average precision",
    "brier": "Brier score",
    "log_loss": "Log loss",
}


def _paired_table(paired: Any) -> Table | None:
    if not isinstance(paired, list) or not paired:
        return None
    rows = []
    for p in paired:
        low, high = field(p, "low"), field(p, "high")
        interval = DASH if low is None or high is None else f"{low:+.4f} to {high:+.4f}"
        better = (
            "candidate better"
            if low is not None and low > 0
            else "champion better"
            if high is not None and high < 0
            else "no clear difference"
        )
        rows.append(
            row(
                _PAIRED_NAMES.get(str(field(p, "metric")), text(field(p, "metric"))),
                f"{field(p, 'champion'):.4f}",
                f"{field(p, 'candidate'):.4f}",
                f"{field(p, 'difference'):+.4f}",
                interval,
                better,
            )
        )
    first = paired[0]
    confidence = f"{100 * field(first, 'confidence'):.0f}%"
    headers = [
        "Metric",
        "Champion",
        "This version",
        "Better by (positive: this version)",
        f"{confidence} paired interval",
        "Reading",
    ]
    return table(headers, rows, numeric=(1, 2, 3, 4))


def _listed(values: Any) -> str:
    return ", ".join(map(str, values)) if isinstance(values, list) and values else "none"


def drift_view(drift: Any) -> DriftView:
    """Drift of the scores and inputs, and the headline figures beside the champion's."""
    missing = unavailable(drift, "comparison with a champion")
    if missing:
        return DriftView(missing)
    score = field(drift, "score")
    changes = field(drift, "feature_list")
    return DriftView(
        score=(fmt(field(score, "psi"), "decimal"), level_badge(field(score, "level")))
        if is_record(score)
        else None,
        features=_features_table(field(drift, "features")),
        figures=_figures_table(field(drift, "figures")),
        drivers=_drivers_table(field(drift, "drivers")),
        feature_list=f"Inputs added: {_listed(field(changes, 'added'))}. Inputs removed: "
        f"{_listed(field(changes, 'removed'))}."
        if entries(changes)
        else None,
        cohort=_cohort_sentence(field(drift, "cohort")),
        paired=_paired_table(field(drift, "paired")),
        paired_missing=text(field(drift, "paired_missing"))
        if field(drift, "paired_missing")
        else None,
    )


@dataclass(frozen=True)
class FeaturesView:
    """Every feature and its policy, or why the list cannot be shown."""

    missing: str | None = None
    table: Table | None = None


def _policy_badge(policy: str) -> Badge:
    return Badge(_POLICY_BADGES.get(policy, "info"), policy)


def features_view(features: Any, inputs: Any) -> FeaturesView:
    """Each feature's meaning, source, look-back and policy, and whether the model reads it."""
    missing = unavailable(features, "feature list")
    if missing:
        return FeaturesView(missing)
    rows = []
    for f in features if isinstance(features, list) else []:
        name = text(field(f, "name"))
        window = field(f, "window_months")
        cells: list[Part] = [
            name,
            text(field(f, "description")),
            text(field(f, "source")),
            "ever" if window is None else f"{fmt(window, 'count')} months",
            _policy_badge(text(field(f, "policy"))),
        ]
        if isinstance(inputs, list):
            cells.append("yes" if name in inputs else "no")
        rows.append(row(*cells))
    headers = ["Feature", "Meaning", "Source", "Look-back", "Policy"]
    if isinstance(inputs, list):
        headers.append("Model input")
    return FeaturesView(table=table(headers, rows))
