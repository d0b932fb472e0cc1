"""The view of the rolling-origin evaluation: one row per test year, with intervals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.audit.formatting import DASH, fmt, text
from governance.audit.reading import field
from governance.audit.report.blocks import Table, row, table, unavailable

__all__ = ["RollingView", "rolling_view"]


@dataclass(frozen=True)
class RollingView:
    """The origins' table, or why there is none."""

    missing: str | None = None
    table: Table | None = None
    confidence: str | None = None


def _interval(low: Any, high: Any) -> str:
    if low is None or high is None:
        return DASH
    return f"{low:.3f} to {high:.3f}"


def rolling_view(section: Any) -> RollingView:
    """Each origin: what it trained on, its ROC AUC and O/E with their intervals."""
    missing = unavailable(section, "rolling-origin evaluation")
    if missing:
        return RollingView(missing)
    origins = field(section, "origins")
    if not isinstance(origins, list) or not origins:
        return RollingView("Training logged no origin.")
    rows = [
        row(
            text(field(o, "origin")),
            ", ".join(map(str, field(o, "train_dates") or [])),
            fmt(field(o, "train_rows"), "count"),
            fmt(field(o, "test_rows"), "count"),
            fmt(field(o, "outcomes"), "count"),
            fmt(field(o, "roc_auc"), "auc"),
            _interval(field(o, "roc_auc_low"), field(o, "roc_auc_high")),
            fmt(field(o, "observed_expected"), "decimal"),
            _interval(field(o, "observed_expected_low"), field(o, "observed_expected_high")),
        )
        for o in origins
    ]
    headers = [
        "Tested on (as-of)",
        "Trained on (as-of)",
        "Training rows",
        "Test rows",
        "Outcomes",
        "ROC AUC",
        "ROC AUC interval",
        "Observed / expected",
        "O/E interval",
    ]
    confidence = field(origins[0], "confidence")
    return RollingView(
        table=table(headers, rows, numeric=(2, 3, 4, 5, 6, 7, 8)),
        confidence=f"{100 * confidence:.0f}%" if isinstance(confidence, float) else None,
    )
