"""View of the fairness section's Aequitas figures: FDR, FOR, NPV and selected share by group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.audit.formatting import DASH, bounds, fmt, number
from governance.audit.reading import entries, field, is_record
from governance.audit.report.blocks import TOO_SMALL, WITHHELD, Badge, ByDimension, Row, row, table
from governance.audit.report.groups import _with_ci

__all__ = ["AequitasView", "aequitas_view"]

_HEADERS = (
    "Group",
    "People",
    "Selected",
    "False discovery rate",
    "False omission rate",
    "Negative predictive value",
    "Share of those selected",
    "Share of the cohort",
    "Selected share ÷ cohort share",
    "",
)


@dataclass(frozen=True)
class AequitasView:
    """What the figures mean, and one table per dimension."""

    sentences: tuple[str, ...] = ()
    by: tuple[ByDimension, ...] = ()


def _not_judged(a: Any, min_outcomes: Any) -> str:
    """Which figures rest on too few people to be judged, with the counts."""
    least = fmt(min_outcomes, "count")
    said = []
    if field(a, "fdr_judged") is False:
        said.append(
            f"false discovery rate and share not judged: {fmt(field(a, 'selected'), 'count')} "
            f"selected, fewer than {least} (or a group too small)"
        )
    if field(a, "for_judged") is False:
        said.append(
            f"false omission rate and NPV not judged: {fmt(field(a, 'not_selected'), 'count')} "
            f"not selected, fewer than {least} (or a group too small)"
        )
    return "; ".join(said)


def _row(group: Any, m: Any, min_outcomes: Any) -> Row:
    a = field(m, "aequitas")
    status: list[Badge | str] = [Badge("flag", TOO_SMALL)] if field(m, "too_small") else []
    if field(m, "withheld"):
        status.append(Badge("flag", WITHHELD))
    if not is_record(a):
        return row(str(group), fmt(field(m, "count"), "count"), *[DASH] * 7, tuple(status))
    reasons = _not_judged(a, min_outcomes)
    status += [reasons] if reasons else []
    ratio = field(a, "selected_share_ratio")
    return row(
        str(group),
        fmt(field(m, "count"), "count"),
        fmt(field(a, "selected"), "count"),
        _with_ci(a, "false_discovery_rate"),
        _with_ci(a, "false_omission_rate"),
        _with_ci(a, "negative_predictive_value"),
        _with_ci(a, "selected_share"),
        fmt(field(a, "population_share"), "rate"),
        fmt(ratio, "decimal") + bounds(field(field(a, "ci"), "selected_share_ratio"), "decimal"),
        tuple(status),
        small=bool(field(m, "too_small")),
    )


def aequitas_view(fairness: Any) -> AequitasView:
    """The Aequitas figures of every group that has them; empty for an older audit."""
    if field(fairness, "available") is False:
        return AequitasView()
    min_outcomes = field(fairness, "min_outcomes")
    by = []
    for dimension, groups in entries(field(fairness, "by")):
        members = entries(groups)
        if not any(is_record(field(m, "aequitas")) for _, m in members):
            continue
        rows = [_row(g, m, min_outcomes) for g, m in members]
        by.append(ByDimension(str(dimension), table(_HEADERS, rows, numeric=range(1, 9))))
    if not by:
        return AequitasView()
    least = fmt(min_outcomes, "count") if number(min_outcomes) is not None else DASH
    return AequitasView(
        (
            "The same decision read the other way round, as the Aequitas toolkit does. The false "
            "discovery rate is the share of a group's selected young people who did not go on to "
            "have the outcome; the false omission rate the share of those not selected who did "
            "(the negative predictive value is its complement). The share of those selected is "
            "set beside the group's share of the cohort: a ratio of 1 means the group is "
            "selected in proportion to its size, above 1 more often.",
            f"Each figure carries its exact interval (Clopper–Pearson). A figure is judged only "
            f"when the people it is a share of number at least {least} and the group is not too "
            "small; below that it is shown with its counts and marked not judged.",
        ),
        tuple(by),
    )
