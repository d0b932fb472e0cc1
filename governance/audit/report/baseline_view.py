"""The report's view of the area-rate baseline gate (``audit.area_baseline``).

Shown inside the performance section: the decision metric with its paired bootstrap
interval and the gate's result, the other metrics of both models (for reading, not decided
on), and how the baseline was fitted. Counts and figures only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.audit.formatting import DASH, fmt, number, text
from governance.audit.reading import entries, field
from governance.audit.report.blocks import Table, result_badge, row, table, unavailable

__all__ = ["BaselineView", "baseline_view"]

_NAMES = {
    "roc_auc": "ROC AUC (higher is better)",
    "average_precision": "Average precision (higher is better)",
    "brier": "Brier score (lower is better)",
    "log_loss": "Log loss (lower is better)",
}


@dataclass(frozen=True)
class BaselineView:
    """The decision, the other metrics and the fit; ``missing`` says why there are none."""

    missing: str | None
    decision: Table | None = None
    metrics: Table | None = None
    fit: Table | None = None
    method: str = ""


def baseline_view(section: Any) -> BaselineView:
    """The area-rate baseline section as tables (see the module docstring)."""
    missing = unavailable(section, "comparison with the area-rate baseline")
    if missing:
        return BaselineView(missing)
    metric = str(field(section, "metric"))
    level = fmt(field(section, "confidence"), "rate")
    decision = table(
        [
            "Decision metric",
            "This model",
            "Area-rate baseline",
            "Difference (positive: model better)",
            f"{level} paired bootstrap interval",
            "Must be above",
            "Result",
        ],
        [
            row(
                _NAMES.get(metric, metric),
                _g(field(section, "candidate")),
                _g(field(section, "baseline")),
                _g(field(section, "difference")),
                f"{_g(field(section, 'low'))} to {_g(field(section, 'high'))}",
                _g(field(section, "margin")),
                result_badge(field(section, "passed"), "unknown"),
            )
        ],
        numeric=(1, 2, 3, 4, 5),
    )
    metrics = table(
        ["Metric (not decided on)", "This model", "Area-rate baseline"],
        [
            row(
                _NAMES.get(str(name), str(name)),
                _g(field(v, "candidate")),
                _g(field(v, "baseline")),
            )
            for name, v in entries(field(section, "metrics"))
        ],
        numeric=(1, 2),
    )
    rated = field(section, "rated_at")
    fit = table(
        ["Item", "Value"],
        [
            row("Fitted on", f"the {text(field(section, 'fit_split'))} cohort's recorded outcomes"),
            row("Rows fitted on", fmt(field(section, "fit_rows"), "count")),
            row("… with the outcome", fmt(field(section, "fit_outcomes"), "count")),
            *(
                row(f"Areas with a rate: {level_name}", fmt(count, "count"))
                for level_name, count in entries(field(section, "areas"))
            ),
            *(
                row(f"Test rows given the rate of their {level_name}", fmt(count, "count"))
                for level_name, count in entries(rated)
            ),
            row(
                "Expected outcomes in the test cohort (model / baseline / recorded)",
                f"{fmt(field(section, 'expected_candidate'), 'count')} / "
                f"{fmt(field(section, 'expected_baseline'), 'count')} / "
                f"{fmt(field(section, 'outcomes'), 'count')}",
            ),
            row("Bootstrap resamples", fmt(field(section, "resamples"), "count")),
        ],
        numeric=(1,),
    )
    return BaselineView(None, decision, metrics, fit, text(field(section, "method")))


def _g(value: Any) -> str:
    """Four significant figures (differences of log loss are small), or a dash."""
    finite = number(value)
    return DASH if finite is None else f"{finite:.4g}"
