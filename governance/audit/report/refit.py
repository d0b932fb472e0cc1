"""The view of the served model's own audit: the refit, judged on young people held out of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.audit.formatting import DASH, fmt, signed, text
from governance.audit.reading import field
from governance.audit.report.blocks import Table, row, table, unavailable

__all__ = ["RefitView", "refit_view"]

_BETTER = {
    "log_loss": "lower log loss is better",
    "roc_auc": "higher ROC AUC is better",
    "brier": "lower Brier score is better",
    "average_precision": "higher average precision is better",
}


_AREA_WORDS = {"ward_code": "wards", "lsoa_code": "LSOAs", "borough_code": "boroughs"}


@dataclass(frozen=True)
class RefitView:
    """What the refit learnt from, how it was judged, and its tables; or why there is none."""

    missing: str | None = None
    dates: str = ""
    shares: str = ""
    held_out: Table | None = None
    comparisons: Table | None = None
    agreement: str | None = None
    summary: str = ""


def _interval(low: Any, high: Any, kind: str = "decimal") -> str:
    if low is None or high is None:
        return DASH
    return f"{fmt(low, kind)} to {fmt(high, kind)}"  # type: ignore[arg-type]


def refit_view(section: Any) -> RefitView:
    """The refit's data, its figures on held-out young people, and its paired comparison."""
    missing = unavailable(section, "audit of the served model")
    if missing:
        return RefitView(missing)
    check = field(section, "check")
    overall = field(check, "overall")
    confidence = field(check, "confidence")
    level = f"{100 * confidence:.0f}%" if isinstance(confidence, float) else "95%"
    figures = (  # (name, record, value, low, high, kind)
        ("Observed / expected outcomes", overall, "ratio", "low", "high", "decimal"),
        ("Calibration slope", check, "slope", "slope_low", "slope_high", "decimal"),
        ("ROC AUC", section, "roc_auc", "roc_auc_low", "roc_auc_high", "auc"),
    )
    rows_seen = fmt(field(section, "audited_rows"), "count")
    outcomes_seen = fmt(field(section, "audited_outcomes"), "count")
    held_out = table(
        ["Figure", "Value", f"{level} interval", "Rows", "Outcomes"],
        [
            row(
                name,
                fmt(field(record, value), kind),  # type: ignore[arg-type]
                _interval(field(record, low), field(record, high)),
                rows_seen,
                outcomes_seen,
            )
            for name, record, value, low, high, kind in figures
        ],
        numeric=(1, 2, 3, 4),
    )
    compared = field(section, "comparisons") or []
    comparisons = table(
        ["Metric", "Evaluated model", "Served (refit)", "Refit better by", "Interval", "Rows"],
        [
            row(
                f"{text(field(c, 'metric')).replace('_', ' ')} "
                f"({_BETTER.get(str(field(c, 'metric')), '')})",
                fmt(field(c, "evaluated"), "decimal"),
                fmt(field(c, "refit"), "decimal"),
                signed(field(c, "difference")),
                _interval(field(c, "low"), field(c, "high")),
                fmt(field(c, "rows"), "count"),
            )
            for c in compared
        ],
        numeric=(1, 2, 3, 4, 5),
    )
    rows, persons = field(section, "rows") or {}, field(section, "persons") or {}
    shares = (
        f"{fmt(persons.get('fit'), 'count')} young people ({fmt(rows.get('fit'), 'count')} rows) "
        f"and {fmt(persons.get('stopping'), 'count')} more "
        f"({100 * (field(section, 'stopping_fraction') or 0):.0f}%), on whom its boosting was "
        "stopped early, fitted it, and its calibrator was cross-fitted on all of them; "
        f"{fmt(persons.get('audit'), 'count')} were kept out of it entirely "
        f"({100 * (field(section, 'audit_fraction') or 0):.0f}%) and judge it below."
    )
    return RefitView(
        dates=", ".join(map(str, field(section, "as_of_dates") or [])),
        shares=shares,
        held_out=held_out,
        comparisons=comparisons if compared else None,
        agreement=_agreement(field(section, "agreement")),
        summary=_summary(overall, compared, level),
    )


def _agreement(agreement: Any) -> str | None:
    if agreement is None:
        return None
    ratio = field(agreement, "ratio")
    words = (
        f"On the {fmt(field(agreement, 'rows'), 'count')} young people of "
        f"{text(field(agreement, 'cohort_date'))} (the cohort a release scores), the refit "
        f"expects {fmt(field(agreement, 'expected_refit'), 'decimal')} outcomes where the "
        f"evaluated model expects {fmt(field(agreement, 'expected_evaluated'), 'decimal')} "
        f"(ratio {fmt(ratio, 'decimal')})."
    )
    rho = field(agreement, "rank_correlation")
    if rho is not None:
        words += (
            f" Over its {fmt(field(agreement, 'areas'), 'count')} "
            f"{_AREA_WORDS.get(str(field(agreement, 'area_column')), 'areas')}, the two models' "
            "expected counts rank "
            f"the areas with a Spearman correlation of {fmt(rho, 'decimal')}."
        )
    return words


def _summary(overall: Any, compared: list[Any], level: str) -> str:
    """One plain sentence for the board's first page."""
    ratio = field(overall, "ratio")
    parts = [
        f"On young people it never saw, it expects outcomes at an observed/expected ratio of "
        f"{fmt(ratio, 'decimal')} ({level} interval "
        f"{_interval(field(overall, 'low'), field(overall, 'high'))})"
    ]
    first = compared[0] if compared else None
    if first is not None:
        low, high = field(first, "low"), field(first, "high")
        if isinstance(high, float) and high < 0:
            verdict = "is clearly worse than the evaluated model"
        elif isinstance(low, float) and low > 0:
            verdict = "is clearly better than the evaluated model"
        else:
            verdict = "is neither clearly better nor clearly worse than the evaluated model"
        parts.append(
            f"on {text(field(first, 'metric')).replace('_', ' ')} it {verdict} on rows neither "
            f"learnt from"
        )
    return "; ".join(parts) + "."
