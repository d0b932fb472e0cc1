"""Views of the sections that compare groups.

Fairness, thresholds, calibration, ground truth and linkage.
Every group keeps its row; a group too small to judge is greyed out and carries a badge
saying so, rather than disappearing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from governance.audit.formatting import (
    DASH,
    bounds,
    fmt,
    kind_of,
    number,
    points,
    ratio,
    sci,
    sentence,
    text,
)
from governance.audit.reading import entries, field, is_record
from governance.audit.report.blocks import (
    TOO_SMALL,
    WITHHELD,
    Badge,
    ByDimension,
    Cell,
    GroupedTable,
    Row,
    Table,
    dimensions,
    figure,
    row,
    table,
    unavailable,
)

__all__ = [
    "FairnessView",
    "GroupsView",
    "calibration_view",
    "fairness_view",
    "linkage_view",
    "thresholds_view",
    "truth_view",
]

_MEASURES = (
    ("selection_rate", "Selected"),
    ("tpr", "True positive rate"),
    ("fpr", "False positive rate"),
    ("precision", "Precision"),
)
_FAIRNESS_HEADERS = (
    "Group",
    "People",
    "Outcomes",
    "Outcome rate",
    "Selected",
    "True positive rate",
    "False positive rate",
    "Precision",
    "ROC AUC",
    "TPR / FPR gap from reference",
    "Note",
)
_SUMMARY_HEADERS = (
    "Dimension",
    "Reference group",
    "Equalized odds difference",
    "Permutation p-value",
    "Rates not judged (too few outcomes)",
    "Demographic parity difference",
)
_CALIBRATION_HEADERS = (
    "Group",
    "People",
    "Mean predicted risk",
    "Observed rate",
    "Calibration error (ECE)",
    "Outcomes",
    "Expected",
    "Observed ÷ expected (interval)",
    "Note",
)
_TRUTH_HEADERS = (
    "Group",
    "People",
    "Recorded outcome rate",
    "True outcome rate",
    "Recorded ÷ true",
    "Mean predicted risk",
    "ROC AUC (recorded)",
    "ROC AUC (true)",
    "Note",
)
_LINKAGE_HEADERS = (
    "Group",
    "Records",
    "Precision",
    "Recall",
    "Missed links",
    "False links",
    "Note",
)


@dataclass(frozen=True)
class GroupsView:
    """A section made of sentences and one table per dimension; ``missing`` says why not."""

    missing: str | None = None
    sentences: tuple[str, ...] = ()
    overall: Table | None = None
    by: tuple[ByDimension, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the section is available but has nothing to show."""
        return not (self.missing or self.sentences or self.overall or self.by)


@dataclass(frozen=True)
class FairnessView:
    """The fairness section: operating point, overall figures, summary, groups."""

    missing: str | None = None
    sentences: tuple[str, ...] = ()
    summary: Table | None = None
    by: tuple[ByDimension, ...] = ()


def _small(group: Any) -> bool:
    return bool(field(group, "too_small"))


def _small_badge(group: Any) -> Badge | str:
    return Badge("flag", TOO_SMALL) if _small(group) else ""


def _with_ci(metrics: Any, rate: str) -> str:
    """``12.3% (10.1–14.6%)`` from a group's value and its ``ci`` entry.

    The bounds are rounded outward to 0.1%, so that the printed interval still holds the
    exact one (an upper bound of 0.04% is printed 0.1%, never 0.0%).
    """
    interval = field(field(metrics, "ci"), rate)
    if isinstance(interval, list | tuple) and len(interval) == 2:
        low, high = number(interval[0]), number(interval[1])
        if low is not None and high is not None:
            interval = (math.floor(low * 1000) / 1000, math.ceil(high * 1000) / 1000)
    return fmt(field(metrics, rate), "rate") + bounds(interval, "rate")


def _operating_point(point: Any, rows: Any) -> str:
    selected = field(point, "selected")
    of = (
        f" ({fmt(selected, 'count')} of {fmt(rows, 'count')} young people)"
        if selected is not None
        else ""
    )
    if field(point, "top_fraction") is not None:
        return (
            f"Operating point: the {fmt(field(point, 'top_fraction'), 'rate')} of the test "
            f"cohort with the highest predicted risk count as selected{of}."
        )
    if field(point, "threshold") is not None:
        return (
            f"Operating point: everyone with a predicted risk of at least "
            f"{fmt(field(point, 'threshold'), 'decimal')} counts as selected{of}."
        )
    return "The audit does not record its operating point."


def _fairness_sentences(fairness: Any) -> tuple[str, ...]:
    said = [_operating_point(field(fairness, "operating_point"), field(fairness, "rows"))]
    overall = field(fairness, "overall")
    if is_record(overall):
        said.append(
            f"Everyone: outcome rate {fmt(field(overall, 'base_rate'), 'rate')}; selected "
            f"{_with_ci(overall, 'selection_rate')}; true positive rate "
            f"{_with_ci(overall, 'tpr')}; false positive rate {_with_ci(overall, 'fpr')}; "
            f"precision {_with_ci(overall, 'precision')}; ROC AUC "
            f"{fmt(field(overall, 'roc_auc'), 'auc')}."
        )
    check = field(fairness, "fairlearn_check")
    if is_record(check):
        said.append(
            f"Cross-check with {text(field(check, 'method'))}: the largest difference from "
            f"the figures below is {sci(field(check, 'max_abs_difference'))}."
        )
    return tuple(said)


def _not_judged(m: Any, min_outcomes: Any) -> list[str]:
    """Which of a group's rates are left out of the gap for too few outcomes, with counts."""
    count, outcomes = number(field(m, "count")), number(field(m, "outcomes"))
    if field(m, "withheld") or count is None or outcomes is None or min_outcomes is None:
        return []
    said = []
    if field(m, "tpr_judged") is False and outcomes < min_outcomes:
        said.append(
            f"true positive rate not judged: {fmt(outcomes, 'count')} with the outcome, "
            f"fewer than {fmt(min_outcomes, 'count')}"
        )
    if field(m, "fpr_judged") is False and count - outcomes < min_outcomes:
        said.append(
            f"false positive rate not judged: {fmt(count - outcomes, 'count')} without the "
            f"outcome, fewer than {fmt(min_outcomes, 'count')}"
        )
    return said


def _fairness_row(group: Any, m: Any, reference: Any, min_outcomes: Any) -> Row:
    difference = field(m, "difference")
    status: list[Badge | str] = [Badge("flag", TOO_SMALL)] if _small(m) else []
    if field(m, "withheld"):
        status.append(Badge("flag", WITHHELD))
    if group == reference:
        status.append(Badge("info", "reference"))
    reasons = _not_judged(m, min_outcomes)
    status += ["; ".join(reasons)] if reasons else []
    gap = (
        "reference"
        if group == reference
        else f"{points(field(difference, 'tpr'))} / {points(field(difference, 'fpr'))}"
    )
    return row(
        str(group),
        fmt(field(m, "count"), "count"),
        fmt(field(m, "outcomes"), "count"),
        fmt(field(m, "base_rate"), "rate"),
        _with_ci(m, "selection_rate"),
        _with_ci(m, "tpr"),
        _with_ci(m, "fpr"),
        _with_ci(m, "precision"),
        fmt(field(m, "roc_auc"), "auc"),
        gap,
        tuple(status),
        small=_small(m),
    )


def fairness_view(fairness: Any) -> FairnessView:
    """Selection and error rates by group at the operating point, with their gaps."""
    missing = unavailable(fairness, "fairness figures")
    if missing:
        return FairnessView(missing)
    summary = field(fairness, "summary")
    min_outcomes = number(field(fairness, "min_outcomes"))
    summary_rows = [
        row(
            str(dimension),
            text(field(s, "reference")),
            fmt(field(s, "equalized_odds_difference"), "decimal")
            + bounds(field(s, "equalized_odds_difference_ci"), "decimal"),
            _p_value(field(s, "equalized_odds_p_value")),
            _unjudged_list(field(field(fairness, "by"), dimension), min_outcomes),
            fmt(field(s, "demographic_parity_difference"), "decimal"),
        )
        for dimension, s in entries(summary)
    ]
    by = []
    for dimension, groups in entries(field(fairness, "by")):
        reference = field(field(summary, dimension), "reference")
        rows = [_fairness_row(g, m, reference, min_outcomes) for g, m in entries(groups)]
        by.append(ByDimension(str(dimension), table(_FAIRNESS_HEADERS, rows, numeric=range(1, 10))))
    return FairnessView(
        None,
        _fairness_sentences(fairness) + _evidence_sentences(fairness),
        table(_SUMMARY_HEADERS, summary_rows, numeric=(2, 3, 5)) if summary_rows else None,
        tuple(by),
    )


def _p_value(value: Any) -> str:
    """A p-value to three places; below 0.001 as ``< 0.001`` (never a bare 0.000)."""
    p = number(value)
    if p is None:
        return DASH
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _unjudged_list(groups: Any, min_outcomes: float | None) -> str:
    """Each group whose rates are left out of the gap, with its counts; withheld groups too."""
    said = []
    for group, m in entries(groups):
        count, outcomes = number(field(m, "count")), number(field(m, "outcomes"))
        if field(m, "withheld"):
            said.append(f"{group}: {fmt(count, 'count')} people, figures withheld")
        elif min_outcomes is not None and count is not None and outcomes is not None:
            if field(m, "tpr_judged") is False and outcomes < min_outcomes:
                said.append(f"{group}: {fmt(outcomes, 'count')} with the outcome")
            if field(m, "fpr_judged") is False and count - outcomes < min_outcomes:
                said.append(f"{group}: {fmt(count - outcomes, 'count')} without the outcome")
    return "; ".join(said) if said else "none"


def _evidence_sentences(fairness: Any) -> tuple[str, ...]:
    """What the exact intervals, the outcome counts and the p-values mean, in words."""
    confidence, min_outcomes = field(fairness, "confidence"), field(fairness, "min_outcomes")
    if number(confidence) is None or number(min_outcomes) is None:
        return ()
    level, least = fmt(confidence, "rate"), fmt(min_outcomes, "count")
    alpha = f"{1 - float(confidence):.2g}"
    return (
        f"Each rate is followed by its exact {level} interval (Clopper–Pearson): the range of "
        "true rates that could plausibly have given these counts. It is wide where a group "
        "is small: none of 5 is 0%, but the true rate could be anything up to 52%.",
        f"A group's true positive rate is judged (compared with other groups) only when at "
        f"least {least} of its young people had the outcome, and its false positive rate "
        f"only when at least {least} did not. Rates with fewer are shown with their counts "
        "and marked not judged: a gap built on them would be mostly noise.",
        "The p-value beside each dimension's gap says how often a model that treats every "
        "group alike, once the outcome is known, would show a gap at least as large by "
        "chance (found by shuffling which group each young person is in, among those with "
        f"the outcome and among those without). Below {alpha}, chance is an unlikely "
        "explanation; a large p-value means the gap could well be noise. The fairness gate "
        "fails a gap only when it is above its limit and its p-value, adjusted because "
        f"several dimensions are looked at, is below {alpha}.",
        f"Method: {text(field(fairness, 'method'))}.",
    )


def _threshold_rows(group: Any, g: Any, fractions: list[Any]) -> tuple[Row, ...]:
    badges = [Badge("flag", TOO_SMALL)] if _small(g) else []
    badges += [Badge("flag", WITHHELD)] if field(g, "withheld") else []
    label: Cell = (str(group), *badges)
    rows: list[Row] = []
    for key, name in _MEASURES:
        values = field(g, key)
        values = values if isinstance(values, list) else []
        cells = [fmt(values[i] if i < len(values) else None, "rate") for i in range(len(fractions))]
        rows.append(row(label if not rows else "", name, *cells, small=_small(g)))
    return tuple(rows)


def thresholds_view(thresholds: Any, figures: Mapping[str, bytes]) -> GroupsView:
    """Each group's figures as the share selected grows, with each dimension's chart."""
    missing = unavailable(thresholds, "threshold comparison")
    if missing:
        return GroupsView(missing)
    by = []
    for dimension, result in dimensions(thresholds):
        fractions = field(result, "fractions")
        fractions = fractions if isinstance(fractions, list) else []
        headers = ("Group", "Measure", *(f"Top {fmt(f, 'rate')}" for f in fractions))
        groups = tuple(
            _threshold_rows(k, g, fractions) for k, g in entries(field(result, "groups"))
        )
        chart = figure(
            figures,
            f"thresholds_{dimension}.png",
            f"Line charts of selection rate, true positive rate, false positive rate and "
            f"precision for each {dimension} group as the top share selected grows",
            f"Figures by {dimension} as the share selected grows.",
        )
        by.append(ByDimension(dimension, GroupedTable(headers, groups, 2), chart))
    return GroupsView(by=tuple(by))


def calibration_view(calibration: Any, figures: Mapping[str, bytes]) -> GroupsView:
    """Predicted against observed risk by group, with each dimension's chart."""
    missing = unavailable(calibration, "calibration figures")
    if missing:
        return GroupsView(missing)
    overall = field(calibration, "overall")
    said: tuple[str, ...] = ()
    if is_record(overall):
        said = (
            f"Everyone: mean predicted risk {fmt(field(overall, 'mean_predicted'), 'rate')}, "
            f"observed rate {fmt(field(overall, 'observed_rate'), 'rate')}, calibration "
            f"error {fmt(field(overall, 'ece'), 'decimal')}.",
        )
    check = field(calibration, "check")
    said += _check_sentences(check)
    checked = field(check, "by")
    by = field(calibration, "by")
    result = []
    for dimension, groups in dimensions(by if is_record(by) else calibration):
        oe = field(checked, dimension)
        rows = [
            row(
                str(group),
                fmt(field(g, "count"), "count"),
                fmt(field(g, "mean_predicted"), "rate"),
                fmt(field(g, "observed_rate"), "rate"),
                fmt(field(g, "ece"), "decimal"),
                *_oe_cells(field(oe, str(group)), field(check, "min_outcomes")),
                _small_badge(g),
                small=_small(g),
            )
            for group, g in entries(groups)
        ]
        chart = figure(
            figures,
            f"calibration_{dimension}.png",
            f"Calibration chart for each {dimension} group: observed outcome rate "
            f"against mean predicted risk in each tenth of the scores",
            f"Observed against predicted risk by {dimension}.",
        )
        result.append(
            ByDimension(
                dimension, table(_CALIBRATION_HEADERS, rows, numeric=(1, 2, 3, 4, 5, 6)), chart
            )
        )
    return GroupsView(sentences=said, by=tuple(result))


def _outward(entry: Any) -> str:
    """``ratio (low–high)``, the bounds rounded outward so the printed interval still holds."""
    value, low, high = (number(field(entry, k)) for k in ("ratio", "low", "high"))
    if value is None or low is None or high is None:
        return DASH
    return f"{value:.2f} ({math.floor(low * 100) / 100:.2f}–{math.ceil(high * 100) / 100:.2f})"


def _oe_cells(entry: Any, min_outcomes: Any) -> tuple[str, str, str]:
    """Outcomes, expected and O/E with its interval; why a group is not judged."""
    if not is_record(entry) or field(entry, "withheld"):
        return DASH, DASH, DASH
    observed = fmt(field(entry, "observed"), "count")
    expected = fmt(field(entry, "expected"), "decimal")
    if not field(entry, "judged"):
        return (
            observed,
            expected,
            f"{_outward(entry)}; not judged: fewer than {min_outcomes} outcomes",
        )
    return observed, expected, _outward(entry)


def _check_sentences(check: Any) -> tuple[str, ...]:
    """What the calibration gates judge, in words."""
    if not is_record(check):
        return ()
    overall = field(check, "overall")
    level = f"{fmt(field(check, 'confidence'), 'rate')}"
    said = [
        f"Expected against recorded outcomes (what an area's expected count rests on): the "
        f"model expects {fmt(field(overall, 'expected'), 'decimal')} outcomes where "
        f"{fmt(field(overall, 'observed'), 'count')} were recorded, observed ÷ expected "
        f"{_outward(overall)} ({level} interval). Above 1 the model expects too few, below "
        "1 too many; the calibration gates fail only when the whole interval lies outside "
        "their band.",
    ]
    slope = number(field(check, "slope"))
    if slope is None:
        said.append(
            "The calibration slope cannot be estimated (every prediction, or every outcome, "
            "is the same): the slope gates fail as not measured."
        )
    else:
        said.append(
            f"Calibration slope {slope:.2f} ({fmt(field(check, 'slope_low'), 'decimal')}–"
            f"{fmt(field(check, 'slope_high'), 'decimal')}), intercept "
            f"{fmt(field(check, 'intercept'), 'decimal')}: a slope of 1 means risks spread as "
            "much as outcomes do; below 1 they are too extreme, above 1 too timid."
        )
    said.append(
        f"A group is judged with at least {fmt(field(check, 'min_outcomes'), 'count')} "
        f"recorded outcomes; smaller groups are shown with their counts. Method: "
        f"{field(check, 'method')}."
    )
    return tuple(said)


def truth_view(truth: Any) -> GroupsView:
    """Recorded against true outcomes by group; unavailable on real data, and says why."""
    if field(truth, "available") is False or truth is None:
        reason = field(truth, "reason")
        return GroupsView(
            "Not available for this audit"
            + (f": {sentence(str(reason))}" if reason else ".")
            + " Real agency extracts contain only what was recorded; the true outcomes "
            "are known only for the synthetic test city, so this comparison cannot be "
            "made on real data."
        )
    said = []
    note = field(truth, "note")
    if note:
        said.append(str(note))
    overall = field(truth, "overall")
    if is_record(overall):
        said.append(
            f"Everyone: recorded rate {fmt(field(overall, 'recorded_rate'), 'rate')}, true "
            f"rate {fmt(field(overall, 'true_rate'), 'rate')}, recorded-to-true ratio "
            f"{ratio(field(overall, 'recorded_to_true'))}."
        )
    by = []
    for dimension, groups in entries(field(truth, "by")):
        rows = [
            row(
                str(group),
                fmt(field(g, "count"), "count"),
                fmt(field(g, "recorded_rate"), "rate"),
                fmt(field(g, "true_rate"), "rate"),
                ratio(field(g, "recorded_to_true")),
                fmt(field(g, "mean_predicted"), "rate"),
                fmt(field(g, "roc_auc_recorded"), "auc"),
                fmt(field(g, "roc_auc_true"), "auc"),
                _small_badge(g),
                small=_small(g),
            )
            for group, g in entries(groups)
        ]
        by.append(ByDimension(str(dimension), table(_TRUTH_HEADERS, rows, numeric=range(1, 8))))
    return GroupsView(sentences=tuple(said), by=tuple(by))


def linkage_view(linkage: Any) -> GroupsView:
    """Linkage precision and recall overall and by group."""
    missing = unavailable(linkage, "linkage quality figures")
    if missing:
        return GroupsView(missing)
    overall = field(linkage, "overall")
    overall_table = None
    if is_record(overall):
        rows = [
            row(str(key).replace("_", " ").capitalize(), fmt(value, kind_of(key, "count")))
            for key, value in entries(overall)
            if not (is_record(value) or isinstance(value, list))
        ]
        overall_table = table(["Figure", "Value"], rows, numeric=(1,))
    by = []
    for dimension, groups in entries(field(linkage, "by_group")):
        rows = [
            row(
                str(group),
                fmt(field(g, "records"), "count"),
                fmt(field(g, "precision"), "rate"),
                fmt(field(g, "recall"), "rate"),
                fmt(field(g, "missed_link_rate"), "rate"),
                fmt(field(g, "false_link_rate"), "rate"),
                _small_badge(g),
                small=_small(g),
            )
            for group, g in entries(groups)
        ]
        by.append(ByDimension(str(dimension), table(_LINKAGE_HEADERS, rows, numeric=range(1, 6))))
    return GroupsView(overall=overall_table, by=tuple(by))
