"""The area section's view: expected counts against outcomes by area type, and allocation."""

from __future__ import annotations

import math
from typing import Any

from governance.audit.formatting import DASH, fmt, number
from governance.audit.reading import entries, field, is_record
from governance.audit.report.blocks import (
    WITHHELD,
    Badge,
    ByDimension,
    Row,
    row,
    table,
    unavailable,
)
from governance.audit.report.groups import GroupsView

__all__ = ["areas_view"]

_TYPE_HEADERS = (
    "Areas",
    "Areas in it",
    "Young people",
    "Recorded outcomes",
    "Expected",
    "Observed ÷ expected (recorded)",
    "True outcomes",
    "Observed ÷ expected (true)",
    "Judged",
)
_ALLOCATION_HEADERS = (
    "Do these areas get more than their outcomes warrant?",
    "Areas",
    "Outcomes",
    "Predicted ÷ outcomes, per standard deviation (interval)",
    "p-value",
    "Reading",
)
_NAMES = {"deprivation": "deprivation", "policing": "policing intensity"}


def areas_view(areas: Any) -> GroupsView:
    """The area-level audit for the board, in words and tables; says why when it is missing."""
    missing = unavailable(areas, "area-level audit")
    if missing:
        return GroupsView(missing)
    gated = str(field(areas, "gated_level"))
    levels = field(areas, "levels")
    level = field(levels, gated)
    if not is_record(level):
        return GroupsView("The area-level audit holds no figures for its gated level.")
    recorded, true = field(level, "recorded"), field(level, "true")
    min_outcomes = field(areas, "min_outcomes")
    said = [
        *_overall_sentences(level, recorded, true, areas),
        f"Policing intensity is measured by: {field(areas, 'policing_source')}.",
        f"An area type or group is judged with at least {fmt(min_outcomes, 'count')} "
        f"outcomes, an allocation figure with at least {fmt(field(areas, 'min_areas'), 'count')}"
        f" areas; the rest are shown with their counts, not judged. No area is named: areas "
        f"are counted into types. {field(areas, 'note')}",
        f"Method: {field(areas, 'method')}.",
    ]
    tables: list[ByDimension] = []
    chosen = true if is_record(true) else recorded
    tables.append(
        ByDimension(
            f"allocation ({'against true outcomes' if chosen is true else 'against recorded outcomes'})",
            table(_ALLOCATION_HEADERS, _allocation_rows(chosen), numeric=(1, 2, 3, 4)),
        )
    )
    if chosen is true:
        tables.append(
            ByDimension(
                "allocation (against recorded outcomes)",
                table(_ALLOCATION_HEADERS, _allocation_rows(recorded), numeric=(1, 2, 3, 4)),
            )
        )
    for name, parts in entries(field(recorded, "by_type")):
        truth_parts = field(field(true, "by_type"), str(name))
        rows = [
            _type_row(str(label), entry, field(truth_parts, str(label)), min_outcomes)
            for label, entry in entries(parts)
        ]
        title = f"area {_NAMES.get(str(name), str(name))}"
        tables.append(ByDimension(title, table(_TYPE_HEADERS, rows, numeric=range(1, 8))))
    for name, groups in entries(field(recorded, "by_group")):
        truth_groups = field(field(true, "by_group"), str(name))
        rows = [
            _type_row(str(label), entry, field(truth_groups, str(label)), min_outcomes)
            for label, entry in entries(groups)
        ]
        headers = ("Group", *_TYPE_HEADERS[1:])
        tables.append(
            ByDimension(f"{name} (young people)", table(headers, rows, numeric=range(1, 8)))
        )
    for other, found in entries(levels):
        if str(other) == gated or not is_record(found):
            continue
        other_chosen = (
            field(found, "true") if is_record(field(found, "true")) else field(found, "recorded")
        )
        tables.append(
            ByDimension(
                f"allocation at {other} level ({fmt(field(found, 'areas'), 'count')} areas; "
                "shown, not gated)",
                table(_ALLOCATION_HEADERS, _allocation_rows(other_chosen), numeric=(1, 2, 3, 4)),
            )
        )
    return GroupsView(sentences=tuple(said), by=tuple(tables))


def _overall_sentences(level: Any, recorded: Any, true: Any, areas: Any) -> list[str]:
    overall = field(recorded, "overall")
    confidence = fmt(field(areas, "confidence"), "rate")
    said = [
        f"Across the {fmt(field(level, 'areas'), 'count')} areas "
        f"({field(level, 'area_column')}; {fmt(field(level, 'small_areas'), 'count')} of them "
        f"with fewer young people than the report shows figures for), the model expects "
        f"{fmt(field(overall, 'expected'), 'decimal')} outcomes where "
        f"{fmt(field(overall, 'observed'), 'count')} were recorded: observed ÷ expected "
        f"{_ratio(overall)} ({confidence} interval). Above 1 the areas' expected counts are "
        "too low, below 1 too high.",
    ]
    truth_overall = field(true, "overall")
    if is_record(truth_overall):
        said.append(
            f"Against what truly happened (generated data): "
            f"{fmt(field(truth_overall, 'observed'), 'count')} true outcomes, observed ÷ "
            f"expected {_ratio(truth_overall)}. A model trained on records expects fewer than "
            "truly happen wherever violence goes unrecorded."
        )
    return said


def _ratio(entry: Any) -> str:
    """``ratio (low–high)``, the bounds rounded outward so the printed interval still holds."""
    value, low, high = (number(field(entry, k)) for k in ("ratio", "low", "high"))
    if value is None:
        return DASH
    if low is None or high is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({math.floor(low * 100) / 100:.2f}–{math.ceil(high * 100) / 100:.2f})"


def _type_row(label: str, entry: Any, truth: Any, min_outcomes: Any) -> Row:
    if not is_record(entry) or field(entry, "withheld"):
        count = fmt(field(entry, "count"), "count")
        return row(
            label,
            fmt(field(entry, "areas"), "count"),
            count,
            DASH,
            DASH,
            DASH,
            DASH,
            DASH,
            Badge("info", WITHHELD),
            small=True,
        )
    judged = bool(field(entry, "judged"))
    badge = (
        _band_badge(entry)
        if judged
        else Badge("info", f"not judged: fewer than {fmt(min_outcomes, 'count')} outcomes")
    )
    return row(
        label,
        fmt(field(entry, "areas"), "count"),
        fmt(field(entry, "count"), "count"),
        fmt(field(entry, "observed"), "count"),
        fmt(field(entry, "expected"), "decimal"),
        _ratio(entry),
        fmt(field(truth, "observed"), "count") if is_record(truth) else DASH,
        _ratio(truth) if is_record(truth) else DASH,
        badge,
        small=not judged,
    )


def _band_badge(entry: Any) -> Badge:
    low, high = number(field(entry, "low")), number(field(entry, "high"))
    if low is not None and low > 1:
        return Badge("flag", "judged: expects too few")
    if high is not None and high < 1:
        return Badge("flag", "judged: expects too many")
    return Badge("pass", "judged: in line")


def _allocation_rows(comparison: Any) -> list[Row]:
    rows = []
    for _, a in entries(field(comparison, "allocation")):
        judged = bool(field(a, "judged"))
        ratio, low, high = (number(field(a, k)) for k in ("ratio", "low", "high"))
        if not judged or ratio is None:
            reading: Badge = Badge("info", "not judged: too few areas or outcomes")
        elif low is not None and low > 1:
            reading = Badge("flag", "scored up beyond chance")
        elif high is not None and high < 1:
            reading = Badge("flag", "scored down beyond chance")
        else:
            reading = Badge("pass", "no clear difference")
        sd = number(field(a, "attribute_sd"))
        per = "" if sd is None else f" (1 SD = {sd:.2g})"
        rows.append(
            row(
                f"{field(a, 'description')}{per}",
                fmt(field(a, "areas"), "count"),
                fmt(field(a, "observed"), "count"),
                _ratio(a),
                DASH if field(a, "p_value") is None else f"{float(field(a, 'p_value')):.3g}",
                reading,
                small=not judged,
            )
        )
    return rows
