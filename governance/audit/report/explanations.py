"""Views of the sections that explain and adjust the model: mitigations and explainability."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from governance.audit.formatting import DASH, fmt, sci, sentence, signed, text
from governance.audit.reading import entries, field, is_record
from governance.audit.report.blocks import (
    TOO_SMALL,
    WITHHELD,
    Badge,
    ByDimension,
    Figure,
    GroupedTable,
    Row,
    Table,
    figure,
    result_badge,
    row,
    table,
    unavailable,
)
from governance.audit.report.groups import _p_value, _with_ci

__all__ = ["ExplainabilityView", "MitigationsView", "explainability_view", "mitigations_view"]

_OPTION_HEADERS = (
    "Method",
    "What it does",
    "Accuracy",
    "Balanced accuracy",
    "People selected",
    "Selected",
    "True positive rate",
    "False positive rate",
    "Equalized odds difference",
    "p-value of the gap",
    "Demographic parity difference",
)
_OPTION_GROUP_HEADERS = (
    "Method",
    "Group",
    "People",
    "With the outcome",
    "People selected",
    "Selected",
    "True positive rate",
    "False positive rate",
    "Constrained",
)
_PROXY_HEADERS = (
    "Attribute",
    "People used",
    "ROC AUC",
    "Chance",
    "Inputs that carry it (share)",
    "Groups too small to include",
)
_BINNED = ("shap_bins_", ".png")


@dataclass(frozen=True)
class MitigationsView:
    """How the options were fitted, how they compare, and how each does group by group."""

    missing: str | None = None
    sentences: tuple[str, ...] = ()
    options: Table | None = None
    by_group: GroupedTable | None = None


def _setup(m: Any) -> str:
    """One sentence: the constraint, its groups and objective, and the cohorts used."""
    setup = f"Fairness constraint: {text(field(m, 'constraint'))}"
    if field(m, "attribute") is not None:
        setup += f", across {field(m, 'attribute')} groups"
    if field(m, "objective") is not None:
        setup += f" (optimising {field(m, 'objective')})"
    setup += f"; fitted on the {text(field(m, 'fit_split'))} cohort"
    if field(m, "fit_rows") is not None:
        setup += f" ({fmt(field(m, 'fit_rows'), 'count')} young people)"
    setup += f"; evaluated on the {text(field(m, 'evaluated_on'))} cohort"
    if field(m, "evaluated_rows") is not None:
        setup += f" ({fmt(field(m, 'evaluated_rows'), 'count')} young people)"
    return setup + "."


def _option_row(r: Any) -> Row:
    note = field(r, "note")
    unconstrained = field(r, "not_constrained")
    said = text(field(r, "description")) + (f" Note: {sentence(str(note))}" if note else "")
    if isinstance(unconstrained, list) and unconstrained:
        said += " It could not constrain: " + ", ".join(map(str, unconstrained)) + "."
    return row(
        text(field(r, "method")),
        said,
        *(fmt(field(r, k), "rate") for k in ("accuracy", "balanced_accuracy")),
        fmt(field(r, "selected"), "count"),
        *(_with_ci(r, k) for k in ("selection_rate", "tpr", "fpr")),
        fmt(field(r, "equalized_odds_difference"), "decimal"),
        _p_value(field(r, "equalized_odds_p_value")),
        fmt(field(r, "demographic_parity_difference"), "decimal"),
    )


def _judged(g: Any) -> str:
    """Which of a group's rates are left out of the gaps for too few people, or ""."""
    said = []
    if field(g, "tpr_judged") is False:
        said.append("true positive rate")
    if field(g, "fpr_judged") is False:
        said.append("false positive rate")
    return f" ({' and '.join(said)} not judged: too few people)" if said else ""


def _constrained(g: Any) -> str:
    value = field(g, "constrained")
    return DASH if value is None else ("yes" if value else "no")


def _option_groups(r: Any) -> tuple[Row, ...]:
    return tuple(
        row(
            text(field(r, "method")) if i == 0 else "",
            (str(group), Badge("flag", WITHHELD)) if field(g, "withheld") else str(group),
            fmt(field(g, "count"), "count"),
            fmt(field(g, "outcomes"), "count"),
            fmt(field(g, "selected"), "count"),
            *(_with_ci(g, k) for k in ("selection_rate", "tpr", "fpr")),
            _constrained(g) + _judged(g),
        )
        for i, (group, g) in enumerate(entries(field(r, "by_group")))
    )


def _capacity(m: Any) -> list[str]:
    """The capacity every option selects, how it is held, and the groups not constrained."""
    said = []
    if field(m, "capacity") is not None:
        said.append(
            f"Every option is judged at the operating point in use: it selects "
            f"{fmt(field(m, 'capacity'), 'count')} young people, as many as the model's top "
            f"{fmt(field(m, 'top_fraction'), 'rate')}. {text(field(m, 'capacity_method'))}"
        )
    missing = field(m, "not_constrained")
    if isinstance(missing, list) and missing:
        said.append(
            "Groups an option could not constrain, with their numbers in the fit cohort: "
            + "; ".join(
                f"{text(field(g, 'group'))} ({fmt(field(g, 'fit_rows'), 'count')} young people, "
                f"{fmt(field(g, 'fit_outcomes'), 'count')} with the outcome; not constrained by "
                f"{', '.join(map(str, field(g, 'methods') or [])) or 'any option'})"
                for g in missing
            )
            + "."
        )
    if field(m, "confidence") is not None and field(m, "min_outcomes") is not None:
        said.append(
            f"Each rate is followed by its exact {fmt(field(m, 'confidence'), 'rate')} interval "
            f"(Clopper–Pearson). A group's rate enters the gaps only when at least "
            f"{fmt(field(m, 'min_outcomes'), 'count')} young people are in its denominator; "
            "the p-value says how often a gap this large would arise by chance if selection, "
            "once the outcome is known, did not depend on the group."
        )
    return said


def mitigations_view(mitigations: Any) -> MitigationsView:
    """The mitigation options compared (none applied), overall and by group."""
    missing = unavailable(mitigations, "mitigation comparison")
    if missing:
        return MitigationsView(missing)
    said = [_setup(mitigations)]
    merged = field(mitigations, "merged_small_groups")
    if isinstance(merged, list) and merged:
        said.append(
            "Groups too small to be constrained on their own, merged into one: "
            + ", ".join(map(str, merged))
            + "."
        )
    said += _capacity(mitigations)
    listed = field(mitigations, "rows")
    options = [r for r in listed if is_record(r)] if isinstance(listed, list) else []
    groups = tuple(rows for rows in map(_option_groups, options) if rows)
    return MitigationsView(
        None,
        tuple(said),
        table(_OPTION_HEADERS, map(_option_row, options), numeric=range(2, 11)),
        GroupedTable(_OPTION_GROUP_HEADERS, groups, 2) if groups else None,
    )


@dataclass(frozen=True)
class ExplainabilityView:
    """What drives the scores: the check, importance, plots, groups and the proxy check."""

    missing: str | None = None
    method: str = ""
    check: tuple[Badge, str] | None = None
    speed: str | None = None
    importance: Table | None = None
    summary: Figure | None = None
    binned: tuple[Figure | None, ...] = ()
    by: tuple[ByDimension, ...] = ()
    proxy: Table | None = None
    area_identifiers: tuple[str, ...] = ()


def _check(check: Any) -> tuple[Badge, str] | None:
    if not is_record(check):
        return None
    return result_badge(field(check, "passed"), "not checked"), (
        f" Check against the shap library on {fmt(field(check, 'rows_checked'), 'count')}"
        f" rows: largest difference {sci(field(check, 'max_abs_difference'))}, "
        f"tolerance {sci(field(check, 'tolerance'))}."
    )


def _importance(importance: Any) -> tuple[Table | None, list[str]]:
    """The importance table and the features in its order."""
    if not isinstance(importance, list) or not importance:
        return None, []
    rows = [
        row(
            fmt(field(r, "rank"), "count"),
            text(field(r, "feature")),
            fmt(field(r, "mean_abs_shap"), "decimal"),
            fmt(field(r, "share"), "rate"),
        )
        for r in importance
    ]
    headers = ["Rank", "Feature", "Mean absolute SHAP value", "Share of all contributions"]
    ranked = [str(field(r, "feature")) for r in importance]
    return table(headers, rows, numeric=(0, 2, 3)), ranked


def _binned(figures: Mapping[str, bytes], ranked: list[str]) -> tuple[Figure | None, ...]:
    """The binned plots by feature, most important first (None: an empty file, not shown)."""
    prefix, suffix = _BINNED
    names = [n for n in figures if n.startswith(prefix) and n.endswith(suffix)]
    rank = {name: i for i, name in enumerate(ranked)}
    names.sort(key=lambda n: (rank.get(n[len(prefix) : -len(suffix)], len(rank)), n))
    return tuple(
        figure(
            figures,
            name,
            f"Binned SHAP plot for {feature}: the mean contribution to the score, with its "
            f"interval, of the young people in each bin of {feature}'s value, and how many "
            "young people each bin holds (rounded)",
            f"Contribution of {feature} to the score, by bin of its value (bins of at least "
            "the threshold of young people; no point is a person).",
        )
        for name in names
        for feature in [name[len(prefix) : -len(suffix)]]
    )


def _by_group(by_group: Any) -> tuple[ByDimension, ...]:
    """Each group's mean contribution of each main feature, dimension by dimension."""
    result = []
    for dimension, groups in entries(by_group):
        features: list[str] = []
        for _, g in entries(groups):
            shap = field(g, "mean_shap")
            if is_record(shap):
                features = [str(f) for f, _ in entries(shap)]
                break
        rows = [
            row(
                (str(group), Badge("flag", TOO_SMALL)) if field(g, "too_small") else str(group),
                fmt(field(g, "n"), "count"),
                *(signed(field(field(g, "mean_shap"), f)) for f in features),
                small=bool(field(g, "too_small")),
            )
            for group, g in entries(groups)
        ]
        headers = ["Group", "People", *features]
        result.append(
            ByDimension(str(dimension), table(headers, rows, numeric=range(1, 2 + len(features))))
        )
    return tuple(result)


def _proxy(proxy: Any) -> Table | None:
    """How well the inputs predict each sensitive attribute, and which inputs carry it."""
    rows = []
    for attribute, p in entries(proxy):
        top = field(p, "top_inputs")
        inputs = ", ".join(
            f"{text(field(t, 'feature'))} ({fmt(field(t, 'importance_share'), 'rate')})"
            for t in (top if isinstance(top, list) else [])[:5]
        )
        dropped = field(p, "dropped_classes")
        rows.append(
            row(
                str(attribute),
                fmt(field(p, "rows"), "count"),
                fmt(field(p, "auc"), "auc"),
                fmt(field(p, "baseline_auc"), "auc"),
                inputs or DASH,
                ", ".join(map(str, dropped)) if isinstance(dropped, list) and dropped else DASH,
            )
        )
    return table(_PROXY_HEADERS, rows, numeric=(1, 2, 3)) if rows else None


def _area_identifiers(check: Any) -> tuple[str, ...]:
    """The proxy check's area identifiers in words: each flagged input, or that none was."""
    if not is_record(check):
        return ()
    if field(check, "available") is False:
        return (f"Area identifiers were not looked for: {text(field(check, 'reason'))}",)
    found = field(check, "identifiers")
    found = found if isinstance(found, list) else []
    rule = (
        f"An input identifies areas when it is the same for at least "
        f"{fmt(field(check, 'min_constant_share'), 'rate')} of the people within each of the "
        f"{fmt(field(check, 'areas'), 'count')} areas ({text(field(check, 'area_column'))}) and "
        f"takes at least {fmt(field(check, 'min_distinct_share'), 'decimal')} distinct values "
        f"per area."
    )
    if not found:
        return (f"{rule} None of the {fmt(field(check, 'inputs_checked'), 'count')} inputs does.",)
    return (
        f"{rule} {len(found)} input(s) do: the model can tell where a young person lives from "
        f"them, and so stand in for ethnicity through residential patterns. Question them.",
        *(f"Area identifier: {text(field(f, 'reason'))}." for f in found),
    )


def explainability_view(explained: Any, figures: Mapping[str, bytes]) -> ExplainabilityView:
    """SHAP importance overall and by group, its plots, and the proxy check."""
    missing = unavailable(explained, "explanations")
    if missing:
        return ExplainabilityView(missing)
    speed = field(explained, "rows_per_second")
    importance, ranked = _importance(field(explained, "importance"))
    summary = figure(
        figures,
        "shap_summary.png",
        "Summary of SHAP values for the most important features: each point is the mean "
        "contribution of the young people in one bin of the feature's value, with its interval, "
        "coloured from the lowest bin to the highest",
        "How each important feature moves the scores, by bin of its value (SHAP summary; "
        "no point is a person).",
    )
    return ExplainabilityView(
        method=f"Method: {text(field(explained, 'method'))}.",
        check=_check(field(explained, "check")),
        speed=None if speed is None else f"Speed: {fmt(speed, 'count')} rows explained per second.",
        importance=importance,
        summary=summary,
        binned=_binned(figures, ranked),
        by=_by_group(field(explained, "by_group")),
        proxy=_proxy(field(explained, "proxy")),
        area_identifiers=_area_identifiers(field(explained, "area_identifiers")),
    )
