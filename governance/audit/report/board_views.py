"""Views of the recording-bias detail, the error analysis and the board's first page.

Built from the audit document only (no new figures are computed): each view turns the
document's figures into sentences and tables for the templates ``ground_truth.html``,
``error_analysis.html`` and ``first_page.html``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.audit.formatting import DASH, bounds, fmt, kind_of, ratio, sentence
from governance.audit.reading import entries, field, is_record
from governance.audit.report.blocks import Badge, ByDimension, Row, Table, row, table
from governance.audit.report.refit import refit_view

__all__ = [
    "ErrorAnalysisView",
    "FirstPageView",
    "RecordingView",
    "error_analysis_view",
    "first_page_view",
    "recording_view",
]

_SHARE_HEADERS = (
    "Group",
    "Truly involved",
    "Recorded",
    "Share recorded (interval)",
    "Ratio to reference (interval)",
    "Verdict",
)
_INPUT_HEADERS = (
    "Group",
    "True prior involvement (interval)",
    "Mean, everyone (interval)",
    "Mean, truly involved (interval)",
    "Ratio to reference, truly involved (interval)",
    "Mean, not involved (interval)",
    "Ratio to reference, not involved (interval)",
)
_SLICE_HEADERS = (
    "Cohort",
    "Young people",
    "Outcomes",
    "ROC AUC (interval)",
    "Observed / expected (interval)",
    "Verdict",
    "Note",
)
_ERROR_WORDS = {
    "sensitivity": "Sensitivity: share of the truly involved whom the label records",
    "false_recording": "False recording: share of those not truly involved whom the label records",
}


def _rate(figures: Any) -> str:
    value = field(figures, "rate")
    if value is None:
        return DASH
    return fmt(value, "rate") + bounds([field(figures, "low"), field(figures, "high")], "rate")


def _ratio(figures: Any, key: str = "ratio") -> str:
    value = field(figures, key)
    if value is None:
        return DASH
    low, high = field(figures, f"{key}_low"), field(figures, f"{key}_high")
    if low is None or high is None:
        return ratio(value)
    return f"{ratio(value)} ({ratio(low)}–{ratio(high)})"


def _verdict(figures: Any, reference: str, group: str) -> Badge | str:
    if group == reference:
        return "reference"
    if field(figures, "withheld"):
        return Badge("info", "withheld: fewer than 5")
    if field(figures, "differs") is True:
        return Badge("fail", "differs from reference")
    if field(figures, "judged"):
        return Badge("pass", "no clear difference")
    return Badge("info", "too few to judge")


def _share_tables(section: Any) -> tuple[ByDimension, ...]:
    out = []
    for dimension, by in entries(field(section, "by")):
        reference = str(field(by, "reference"))
        rows = [
            row(
                str(group),
                fmt(field(g, "n"), "count"),
                fmt(field(g, "k"), "count"),
                _rate(g),
                _ratio(g),
                _verdict(g, reference, str(group)),
                small=bool(field(g, "withheld")),
            )
            for group, g in entries(field(by, "groups"))
        ]
        title = f"{dimension} (reference: {reference})"
        out.append(ByDimension(title, table(_SHARE_HEADERS, rows, numeric=range(1, 5))))
    return tuple(out)


@dataclass(frozen=True)
class Block:
    """One titled part: a sentence and tables by dimension."""

    title: str
    said: str
    by: tuple[ByDimension, ...]


@dataclass(frozen=True)
class RecordingView:
    """By pathway, the label's errors, and the inputs by group; empty without the truth."""

    pathways: tuple[Block, ...] = ()
    errors: tuple[Block, ...] = ()
    inputs: tuple[Block, ...] = ()
    differs: tuple[str, ...] = ()
    input_differs: tuple[str, ...] = ()


def recording_view(truth: Any) -> RecordingView:
    """The recording-bias detail of the ground-truth section (generated data only)."""
    if not is_record(truth) or field(truth, "available") is not True:
        return RecordingView()
    pathways, errors, differs = [], [], []
    for name, p in entries(field(truth, "pathways")):
        overall = field(p, "overall")
        words = str(field(p, "description") or name)
        pathways.append(Block(words, f"Everyone: {_rate(overall)} recorded.", _share_tables(p)))
        differs += _differing(words, p)
    for name, e in entries(field(truth, "label_errors")):
        words = _ERROR_WORDS.get(str(name), str(name))
        errors.append(Block(words, f"Everyone: {_rate(field(e, 'overall'))}.", _share_tables(e)))
    inputs = []
    audit = field(truth, "input_audit")
    if is_record(audit):
        for column in field(audit, "inputs") or []:
            inputs.append(Block(str(column), "", _input_tables(audit, str(column))))
    return RecordingView(
        tuple(pathways), tuple(errors), tuple(inputs), tuple(differs), _inputs_differing(audit)
    )


def _inputs_differing(audit: Any) -> tuple[str, ...]:
    """Sentences naming each input and group judged different from the reference group."""
    words = {"involved": "among the truly involved", "not_involved": "among those not involved"}
    out = []
    for dimension, by in entries(field(audit, "by")):
        for stratum, said in words.items():
            for column, groups in entries(field(field(by, "strata"), stratum)):
                for group, g in entries(groups):
                    if field(g, "differs") is True:
                        out.append(
                            f"{column}, {said}: {dimension} {group} at {_ratio(g)} times "
                            f"{field(by, 'reference')}"
                        )
    return tuple(out)


def _differing(words: str, pathway: Any) -> list[str]:
    """Sentences naming each group recorded differently from its reference, in this pathway."""
    out = []
    for dimension, by in entries(field(pathway, "by")):
        for group, g in entries(field(by, "groups")):
            if field(g, "differs") is True:
                out.append(
                    f"{words}: {dimension} {group} recorded at {_rate(g)}, ratio "
                    f"{_ratio(g)} to {field(by, 'reference')}"
                )
    return out


def _input_tables(audit: Any, column: str) -> tuple[ByDimension, ...]:
    out = []
    for dimension, by in entries(field(audit, "by")):
        strata = field(by, "strata")
        true_rate = field(by, "true_rate")
        rows = []
        for group, truth in entries(true_rate):
            cells = [field(field(field(strata, s), column), str(group)) for s in _STRATA]
            every, involved, not_involved = cells
            rows.append(
                row(
                    str(group),
                    _rate(truth),
                    _mean(every),
                    _mean(involved),
                    _ratio(involved),
                    _mean(not_involved),
                    _ratio(not_involved),
                )
            )
        title = f"{dimension} (reference: {field(by, 'reference')})"
        out.append(ByDimension(title, table(_INPUT_HEADERS, rows, numeric=range(1, 7))))
    return tuple(out)


#: The strata of the inputs audit, in table order.
_STRATA = ("all", "involved", "not_involved")


def _mean(figures: Any) -> str:
    value = field(figures, "mean")
    if value is None:
        return DASH
    low, high = field(figures, "low"), field(figures, "high")
    return f"{value:.3f} ({low:.3f}–{high:.3f})"


# -- error analysis -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorAnalysisView:
    """The cohorts table and what it says; ``missing`` when the audit has no such section."""

    missing: str | None = None
    method: str = ""
    table: Table | None = None
    failing: tuple[str, ...] = ()


def _slice_row(s: Any) -> Row:
    auc = field(s, "roc_auc")
    auc_text = (
        DASH
        if auc is None
        else fmt(auc, "auc") + bounds([field(s, "roc_auc_low"), field(s, "roc_auc_high")], "auc")
    )
    verdict: Badge | str
    if not field(s, "available") or field(s, "n") is None:
        verdict = Badge("info", "not shown")
    elif field(s, "fails"):
        verdict = Badge("fail", "fails")
    else:
        verdict = Badge("pass", "no failure found")
    notes = [*(field(s, "reasons") or []), *([field(s, "note")] if field(s, "note") else [])]
    return row(
        str(field(s, "name")),
        fmt(field(s, "n"), "count"),
        fmt(field(s, "outcomes"), "count"),
        auc_text,
        _ratio(
            {
                "ratio": field(s, "observed_expected"),
                "ratio_low": field(s, "oe_low"),
                "ratio_high": field(s, "oe_high"),
            }
        ),
        verdict,
        "; ".join(str(n) for n in notes) or DASH,
        small=field(s, "n") is None,
    )


def error_analysis_view(section: Any) -> ErrorAnalysisView:
    """The error analysis: one row per cohort, everyone first."""
    if not is_record(section):
        return ErrorAnalysisView(missing="This audit has no error analysis.")
    rows = [_slice_row(s) for s in field(section, "slices") or []]
    return ErrorAnalysisView(
        method=str(field(section, "method") or ""),
        table=table(_SLICE_HEADERS, rows, numeric=range(1, 5)),
        failing=tuple(str(f) for f in field(section, "failing") or []),
    )


# -- the board's first page ---------------------------------------------------------------------


@dataclass(frozen=True)
class FirstPageView:
    """What the board is asked, what changed, for whom the model fails, which gates failed."""

    asked: str
    changed: tuple[str, ...]
    fails_for: tuple[str, ...]
    failed_gates: tuple[str, ...]
    verdict: str
    served: str = ""


_ASKED = (
    "The board is asked to decide whether {name} version {version} may be used: approve it, "
    "reject it, or approve it with conditions (each condition stated), and to set the date by "
    "which the decision is reviewed."
)


def first_page_view(audit: Any) -> FirstPageView:
    """The first page, from the document's gates, drift, calibration, fairness and errors."""
    model = field(audit, "model")
    gates = [g for g in field(audit, "gates") or [] if is_record(g)]
    failed = tuple(
        sentence(
            f"{field(g, 'name')}: {fmt(field(g, 'value'), 'decimal')} "
            f"({field(g, 'direction')} {field(g, 'limit')})"
        )
        for g in gates
        if field(g, "passed") is False
    )
    passed = field(audit, "gates_passed")
    verdict = (
        "Every promotion gate passed."
        if passed is True
        else f"{len(failed)} of {len(gates)} promotion gates failed."
    )
    return FirstPageView(
        asked=_ASKED.format(name=field(model, "name"), version=field(model, "version")),
        changed=_changed(field(audit, "drift")),
        fails_for=_fails_for(audit),
        failed_gates=failed,
        verdict=verdict,
        served=_served(field(audit, "refit")),
    )


def _served(refit: Any) -> str:
    """Which model a release would score with, in a sentence or two."""
    if not is_record(refit) or field(refit, "available") is not True:
        return (
            "A release would score with the model judged in this report (it was not refit on "
            "later data)."
        )
    dates = field(refit, "as_of_dates") or []
    return (
        f"A release would score with this model refit on every labelled year "
        f"({dates[0] if dates else DASH} to {dates[-1] if dates else DASH}), not with the "
        f"model the figures below judge; its own audit is in the section "
        f"\u201cThe served model\u201d. {refit_view(refit).summary}"
    )


def _changed(drift: Any) -> tuple[str, ...]:
    champion = field(drift, "champion")
    if not is_record(drift) or field(drift, "available") is False or not is_record(champion):
        return ("No champion yet: this is the first version the board is asked about.",)
    said = [f"Compared with the champion, version {field(champion, 'version')}:"]
    for f in field(drift, "figures") or []:
        figure = str(field(f, "figure"))
        kind = kind_of(figure)
        said.append(
            f"{figure}: {fmt(field(f, 'champion'), kind)} then, "
            f"{fmt(field(f, 'candidate'), kind)} now ({field(f, 'status')})."
        )
    said += _paired(drift)
    said += _cohort(drift)
    return tuple(said)


def _paired(drift: Any) -> list[str]:
    """Each headline metric's paired difference on the same test rows, in words."""
    said = []
    for d in field(drift, "paired") or []:
        low, high, diff = field(d, "low"), field(d, "high"), field(d, "difference")
        if not isinstance(diff, float | int):
            continue
        span = f" ({low:.3f} to {high:.3f})" if low is not None and high is not None else ""
        if low is not None and low > 0:
            reading = "the candidate is better"
        elif high is not None and high < 0:
            reading = "the champion is better"
        else:
            reading = "no clear difference"
        said.append(
            f"On the same test rows, {str(field(d, 'metric')).replace('_', ' ')}: "
            f"{reading}, by {diff:+.3f}{span}."
        )
    return said


def _cohort(drift: Any) -> list[str]:
    """How far the cohort to be scored has moved from the champion's training data."""
    cohort = field(drift, "cohort")
    if not is_record(cohort) or field(cohort, "missing"):
        return []
    moved = [
        str(field(f, "feature"))
        for f in field(drift, "features") or []
        if field(f, "level") == "significant"
    ]
    if not moved:
        return [
            "No input of the cohort to be scored has drifted significantly since the "
            "champion's training data."
        ]
    shown = ", ".join(moved[:5]) + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
    return [f"Inputs that drifted significantly since the champion's training data: {shown}."]


def _fails_for(audit: Any) -> tuple[str, ...]:
    said = []
    errors = field(audit, "error_analysis")
    if is_record(errors):
        for s in field(errors, "slices") or []:
            if field(s, "fails"):
                reasons = "; ".join(str(r) for r in field(s, "reasons") or [])
                said.append(sentence(f"{field(s, 'name')}: {reasons}"))
    check = field(field(audit, "calibration"), "check")
    for dimension, groups in entries(field(check, "by")):
        for group, g in entries(groups):
            low, high = field(g, "low"), field(g, "high")
            judged = field(g, "judged") and low is not None and high is not None
            if judged and (low > 1 or high < 1):
                word = "under-predicts" if low > 1 else "over-predicts"
                figures = {"ratio": field(g, "ratio"), "ratio_low": low, "ratio_high": high}
                said.append(
                    f"{dimension} {group}: the model {word} (observed/expected {_ratio(figures)})."
                )
    fairness = field(audit, "fairness")
    confidence = field(fairness, "confidence")
    alpha = 1 - confidence if isinstance(confidence, float) else 0.05
    for dimension, s in entries(field(fairness, "summary")):
        p = field(s, "equalized_odds_p_value")
        gap = field(s, "equalized_odds_difference")
        if p is not None and gap is not None and p < alpha:
            said.append(
                f"{dimension}: error rates differ between groups (equalized-odds gap "
                f"{fmt(gap, 'decimal')}, permutation p {'< 0.001' if p < 0.001 else f'= {p:.3f}'})."
            )
    return tuple(said) or ("No cohort or group was found where the model fails.",)
