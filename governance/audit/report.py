"""The ethics board's audit report: one self-contained HTML page, aggregates only.

:func:`render_report` turns a model version's audit (``audit.json``'s content) and its
figures (PNG bytes) into a single HTML5 document that a board member can open from an email
or a shared drive, read without a network connection or any script, and print. Every
figure is embedded as a ``data:`` URI; the style is one inline CSS block; nothing is fetched.

The readers are not programmers, so each section opens with a sentence or two saying what
it shows and how to read it; numbers are formatted for people (rates as percentages with
one decimal, AUCs with three, counts with thousands separators, a missing value as "—");
groups too small to judge keep their row, marked with a visible "too small to judge" badge,
rather than disappear; and pass/fail/flag badges carry words as well as colours.

Privacy. The renderer adds no data of its own: every value on the page comes from the audit
or the figures it is given, and the audit holds aggregates only (counts, rates, intervals,
means, plots of many rows). Every piece of text from the audit is escaped with
:func:`html.escape`, so a group called ``<script>`` is printed, not run.

Robustness. A section whose key is absent, or is ``{"available": false, "reason": ...}``,
is rendered as a plain sentence saying so (with the reason); a missing figure inside a
section is shown as "—". The same audit always gives the same bytes, so
:func:`report_sha256` identifies the report the board signed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

__all__ = ["DASH", "render_report", "report_sha256"]

Kind = Literal["rate", "auc", "decimal", "count", "text"]

DASH = "—"
TOO_SMALL = "too small to judge"
WITHHELD = "figures withheld: too few people to show"
_SKIP = frozenset({"available", "reason", "note"})
_RATE_TOKENS = frozenset(
    {"rate", "tpr", "fpr", "fnr", "precision", "recall", "prevalence", "share", "accuracy"}
)
_DECIMAL_TOKENS = frozenset({"difference", "ece", "brier", "slope", "psi", "ratio", "threshold"})

# Performance figures: name (without the test_/baseline_ prefix) -> (label, how to read it).
_PERFORMANCE: dict[str, tuple[str, str]] = {
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
_PERFORMANCE_ORDER = tuple(_PERFORMANCE)

_CSS = """
:root { --ink: #1b1f23; --muted: #57606a; --line: #d0d7de; --zebra: #f6f8fa;
  --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #b3261e; --fail-bg: #ffebe9;
  --flag: #7d4e00; --flag-bg: #fff1c2; --info: #0b4f9c; --info-bg: #ddf4ff; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 40px 0 6px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 22px 0 6px; }
p { margin: 6px 0 10px; }
p.explain { color: var(--muted); max-width: 80ch; }
p.notice { padding: 10px 14px; border-left: 4px solid var(--flag); background: var(--flag-bg); }
.meta { color: var(--muted); margin: 0 0 12px; }
.verdict { font-size: 1.1em; padding: 12px 16px; margin: 12px 0; border-radius: 6px;
  border: 2px solid var(--line); }
.verdict.pass { border-color: var(--pass); background: var(--pass-bg); }
.verdict.fail { border-color: var(--fail); background: var(--fail-bg); }
.verdict.flag { border-color: var(--flag); background: var(--flag-bg); }
nav ol { columns: 2; margin: 8px 0 0; padding-left: 22px; }
nav a { color: var(--info); }
.scroll { overflow-x: auto; margin: 8px 0 14px; }
table { border-collapse: collapse; font-size: 0.9em; min-width: 50%; }
caption { text-align: left; color: var(--muted); padding: 4px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; vertical-align: top;
  text-align: left; }
th { background: #eaeef2; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td { background: var(--zebra); }
tbody.group:nth-of-type(even) td { background: var(--zebra); }
tbody.group tr:nth-child(even) td { background: inherit; }
td.text { white-space: pre-line; }
tr.small td { color: var(--muted); }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 0.85em;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.badge.pass { color: var(--pass); background: var(--pass-bg); }
.badge.fail { color: var(--fail); background: var(--fail-bg); }
.badge.flag { color: var(--flag); background: var(--flag-bg); }
.badge.info { color: var(--info); background: var(--info-bg); }
figure { margin: 12px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.9em; }
code { font-size: 0.9em; word-break: break-all; }
footer { margin-top: 48px; padding-top: 12px; border-top: 2px solid var(--line);
  color: var(--muted); }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2, h3 { break-after: avoid; }
  tr, figure { break-inside: avoid; }
  .scroll { overflow: visible; }
  .badge, .verdict, th, td { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
""".strip()

_SECTIONS: tuple[tuple[str, str], ...] = (
    ("gates", "Promotion gates"),
    ("model-card", "Model card"),
    ("performance", "Performance"),
    ("fairness", "Fairness at the operating point"),
    ("thresholds", "Across thresholds"),
    ("calibration", "Calibration by group"),
    ("recording-bias", "Recording bias (ground truth)"),
    ("linkage", "Linkage quality by group"),
    ("mitigations", "Mitigation options (compared, not applied)"),
    ("explainability", "Explainability"),
    ("drift", "Drift and change since the champion"),
    ("features", "Features and their policy"),
)
_TITLES = dict(_SECTIONS)


def render_report(audit: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    """Render a model version's audit as one self-contained HTML5 document.

    Parameters
    ----------
    audit : mapping
        The audit (``audit.json``'s content). Sections read, each optional: ``model``,
        ``created``, ``gates``, ``gates_passed``, ``model_card``, ``performance``, ``data``,
        ``operating_point``, ``fairness``, ``thresholds``, ``calibration``,
        ``ground_truth`` (or ``truth``), ``linkage``, ``mitigations``, ``explainability``,
        ``drift``, ``features``, ``timings`` and ``schema_version``.
    figures : mapping of str to bytes
        PNG images by name: ``thresholds_<dimension>.png``, ``calibration_<dimension>.png``,
        ``shap_beeswarm.png`` and ``shap_dependence_<feature>.png``; each is embedded in its
        section as a ``data:image/png;base64`` URI. Others are not shown.

    Returns
    -------
    str
        The document. It references no external resource and runs no script; the same
        inputs always give the same text.
    """
    parts = [
        _header(audit),
        _gates(audit),
        _model_card(audit.get("model_card")),
        _performance(audit),
        _fairness(audit.get("fairness")),
        _thresholds(audit.get("thresholds"), figures),
        _calibration(audit.get("calibration"), figures),
        _truth(audit.get("ground_truth")),
        _linkage(audit.get("linkage")),
        _mitigations(audit.get("mitigations")),
        _explainability(audit.get("explainability"), figures),
        _drift(audit.get("drift")),
        _features(audit.get("features"), _get(audit.get("model"), "inputs")),
        _footer(audit),
    ]
    model = _mapping(audit.get("model"))
    title = f"Audit report: {model.get('name', 'model')} version {model.get('version', DASH)}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(parts)
        + "\n</main>\n</body>\n</html>\n"
    )


def report_sha256(html: str) -> str:
    """SHA-256 (hex) of the report's UTF-8 bytes: the hash the board's decision names.

    Parameters
    ----------
    html : str
        The report, as returned by :func:`render_report` (and any later embedding).

    Returns
    -------
    str
        64 lowercase hexadecimal characters.
    """
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


# -- sections --------------------------------------------------------------------------------


def _header(audit: Mapping[str, Any]) -> str:
    model = _mapping(audit.get("model"))
    name, version = model.get("name"), model.get("version")
    heading = f"Audit report: {_text(name)} version {_text(version)}"
    facts = [
        f"Audited {_text(audit.get('created'))}",
        f"training run {_text(model.get('run_id'))}",
    ]
    if model.get("git_commit"):
        facts.append(f"code commit {model['git_commit']}")
    nav = "".join(f'<li><a href="#{anchor}">{_e(title)}</a></li>' for anchor, title in _SECTIONS)
    return (
        f"<header>\n<h1>{_e(heading)}</h1>\n"
        f'<p class="meta">{_e("; ".join(facts))}</p>\n'
        '<p class="explain">This report is for the Violence Reduction Unit\'s ethics board. '
        "It shows how well this version of the risk model works, whether it treats groups of "
        "young people fairly, how it reaches its scores, and what has changed since the "
        "version the board last approved, so the board can decide whether it may be used. "
        "It contains aggregate figures only: no record about any young person.</p>\n"
        f'<nav aria-label="Contents"><strong>Contents</strong><ol>{nav}</ol></nav>\n</header>'
    )


def _gates(audit: Mapping[str, Any]) -> str:
    explain = (
        "Each gate is a minimum standard the model must meet before it can be used. A failed "
        "gate means the board must either reject this version or accept the failure "
        "explicitly, naming the gate and giving reasons."
    )
    passed = audit.get("gates_passed")
    if passed is True:
        verdict = _Html(
            '<div class="verdict pass">'
            + _badge("pass", "PASS")
            + " Every promotion gate passed.</div>"
        )
    elif passed is False:
        verdict = _Html(
            '<div class="verdict fail">'
            + _badge("fail", "FAIL")
            + " At least one promotion gate failed. This version may only be used if the "
            "board accepts each failed gate by name, with reasons.</div>"
        )
    else:
        verdict = _Html(
            '<div class="verdict flag">'
            + _badge("flag", "UNKNOWN")
            + " This audit records no overall gate verdict.</div>"
        )
    gates = audit.get("gates")
    if not isinstance(gates, list) or not gates:
        return _section("gates", explain, verdict + _notice("This audit lists no gates."))
    rows = []
    for gate in gates:
        g = _mapping(gate)
        figure = str(g.get("figure", ""))
        kind = _kind(figure)
        ok = g.get("passed")
        rows.append(
            [
                _text(g.get("name")),
                _Html(f"<code>{_e(figure)}</code>"),
                _fmt(g.get("value"), kind),
                f"{_text(g.get('direction'))} {_fmt(g.get('limit'), kind)}",
                _badge("pass", "pass")
                if ok is True
                else _badge("fail", "fail")
                if ok is False
                else _badge("flag", "unknown"),
                _text(g.get("note")) if g.get("note") else "",
            ]
        )
    table = _table(
        ["Gate", "Figure", "Measured", "Required", "Result", "Note"], rows, numeric=(2, 3)
    )
    return _section("gates", explain, verdict + table)


def _model_card(card: Any) -> str:
    explain = (
        "The model card describes the tool in the headings of the UK Algorithmic "
        "Transparency Recording Standard: who is responsible, what it is for and not for, "
        "who uses it, the data, this version's performance, and the known risks."
    )
    missing = _unavailable(card, "model card")
    if missing:
        return _section("model-card", explain, missing)
    sections = _get(card, "sections")
    if not isinstance(sections, list) or not sections:
        return _section("model-card", explain, _notice("The model card has no sections."))
    body: list[str] = []
    for part in sections:
        items = _get(part, "items")
        rows = [
            [
                _text(_get(i, "label")),
                _text(_get(i, "value")),
            ]
            for i in (items if isinstance(items, list) else [])
        ]
        body.append(f"<h3>{_e(_text(_get(part, 'heading')))}</h3>")
        body.append(_table(["Item", "Entry"], rows, text=(1,)))
    return _section("model-card", explain, "\n".join(body))


def _performance(audit: Mapping[str, Any]) -> str:
    explain = (
        "How well the model predicts on the test cohort, a later year it was not trained "
        "on, set beside a simple baseline that knows only each young person's area. The "
        "model is only worth using where it clearly beats the baseline."
    )
    body: list[str] = []
    data = audit.get("data")
    if isinstance(data, Mapping):
        train = data.get("train_dates")
        rows = [
            ["Test cohort (date)", _text(data.get("test_date"))],
            ["Validation cohort (date)", _text(data.get("validation_date"))],
            [
                "Training cohorts (dates)",
                ", ".join(map(str, train)) if isinstance(train, list) else _text(train),
            ],
            ["Young people in the test cohort", _fmt(data.get("rows"), "count")],
            ["… of whom had the outcome", _fmt(data.get("positives"), "count")],
            ["Outcome rate", _fmt(data.get("prevalence"), "rate")],
        ]
        body.append("<h3>Data</h3>" + _table(["Item", "Value"], rows, numeric=(1,)))
    performance = audit.get("performance")
    missing = _unavailable(performance, "performance figures")
    if missing:
        return _section("performance", explain, "\n".join([*body, missing]))
    perf = _mapping(performance)
    rows = []
    for name in _performance_names(perf):
        model = perf.get(f"test_{name}", perf.get(name))
        baseline = perf.get(f"baseline_test_{name}", perf.get(f"baseline_{name}"))
        label, meaning = _PERFORMANCE.get(name, (name.replace("_", " "), ""))
        kind = _kind(name)
        rows.append(
            [
                label,
                meaning,
                _fmt(model, kind),
                _fmt(baseline, kind),
                _difference(model, baseline, kind),
            ]
        )
    body.append(
        "<h3>Model against baseline</h3>"
        + _table(
            ["Figure", "How to read it", "This model", "Baseline", "Difference"],
            rows,
            numeric=(2, 3, 4),
        )
    )
    return _section("performance", explain, "\n".join(body))


def _fairness(fairness: Any) -> str:
    explain = (
        "The model is used to pick out the highest-risk part of the test cohort (the "
        "operating point). These tables show, for each group, how often its members are "
        "picked and how often the model is right or wrong about them. Large gaps between "
        "groups in the true positive rate (those with the outcome who are picked) or the "
        "false positive rate (those without it who are picked anyway) mean the model's "
        "errors fall unevenly. Brackets give a 95% interval: the range the figure could "
        "plausibly take."
    )
    missing = _unavailable(fairness, "fairness figures")
    if missing:
        return _section("fairness", explain, missing)
    body: list[str] = [
        _operating_point_text(_get(fairness, "operating_point"), _get(fairness, "rows"))
    ]
    overall = _get(fairness, "overall")
    if isinstance(overall, Mapping):
        body.append(
            _p(
                "Everyone: outcome rate "
                + _fmt(overall.get("base_rate"), "rate")
                + "; selected "
                + _with_ci(overall, "selection_rate")
                + "; true positive rate "
                + _with_ci(overall, "tpr")
                + "; false positive rate "
                + _with_ci(overall, "fpr")
                + "; precision "
                + _with_ci(overall, "precision")
                + "; ROC AUC "
                + _fmt(overall.get("roc_auc"), "auc")
                + "."
            )
        )
    check = _get(fairness, "fairlearn_check")
    if isinstance(check, Mapping):
        body.append(
            _p(
                f"Cross-check with {_text(check.get('method'))}: the largest difference from "
                f"the figures below is {_sci(check.get('max_abs_difference'))}."
            )
        )
    summary = _mapping(_get(fairness, "summary"))
    if summary:
        rows = [
            [
                dimension,
                _text(_get(s, "reference")),
                _fmt(_get(s, "equalized_odds_difference"), "decimal")
                + _bounds(_get(s, "equalized_odds_difference_ci"), "decimal"),
                _fmt(_get(s, "demographic_parity_difference"), "decimal"),
            ]
            for dimension, s in summary.items()
        ]
        body.append(
            "<h3>Summary by dimension</h3>"
            + _p(
                "The equalized odds difference is the larger of the biggest gap in true "
                "positive rate and the biggest gap in false positive rate between groups "
                "(0.10 means 10 percentage points); demographic parity difference is the "
                "biggest gap in the share selected. Groups too small to judge are left out."
            )
            + _table(
                [
                    "Dimension",
                    "Reference group",
                    "Equalized odds difference (95% interval)",
                    "Demographic parity difference",
                ],
                rows,
                numeric=(2, 3),
            )
        )
    by = _mapping(_get(fairness, "by"))
    for dimension, groups in by.items():
        reference = _get(summary.get(dimension), "reference")
        rows = []
        small: list[bool] = []
        for group, m in _mapping(groups).items():
            too_small = bool(_get(m, "too_small"))
            small.append(too_small)
            difference = _mapping(_get(m, "difference"))
            status = [_badge("flag", TOO_SMALL)] if too_small else []
            if _get(m, "withheld"):
                status.append(_badge("flag", WITHHELD))
            if group == reference:
                status.append(_badge("info", "reference"))
            rows.append(
                [
                    group,
                    _fmt(_get(m, "count"), "count"),
                    _fmt(_get(m, "base_rate"), "rate"),
                    _with_ci(m, "selection_rate"),
                    _with_ci(m, "tpr"),
                    _with_ci(m, "fpr"),
                    _with_ci(m, "precision"),
                    _fmt(_get(m, "roc_auc"), "auc"),
                    "reference"
                    if group == reference
                    else f"{_points(difference.get('tpr'))} / {_points(difference.get('fpr'))}",
                    _Html(" ".join(status)),
                ]
            )
        body.append(
            f"<h3>By {_e(dimension)}</h3>"
            + _table(
                [
                    "Group",
                    "People",
                    "Outcome rate",
                    "Selected",
                    "True positive rate",
                    "False positive rate",
                    "Precision",
                    "ROC AUC",
                    "TPR / FPR gap from reference",
                    "Note",
                ],
                rows,
                numeric=(1, 2, 3, 4, 5, 6, 7, 8),
                small=small,
            )
        )
    return _section("fairness", explain, "\n".join(body))


def _thresholds(thresholds: Any, figures: Mapping[str, bytes]) -> str:
    explain = (
        "The operating point is a choice. These tables show how each group's figures change "
        "as the share of the cohort picked out grows from the top 1% upwards, so the board "
        "can see whether a different choice would narrow or widen the gaps between groups."
    )
    missing = _unavailable(thresholds, "threshold comparison")
    if missing:
        return _section("thresholds", explain, missing)
    body: list[str] = []
    measures = (
        ("selection_rate", "Selected"),
        ("tpr", "True positive rate"),
        ("fpr", "False positive rate"),
        ("precision", "Precision"),
    )
    for dimension, result in _dimensions(thresholds):
        fractions = _get(result, "fractions")
        fractions = fractions if isinstance(fractions, list) else []
        headers = ["Group", "Measure", *(f"Top {_fmt(f, 'rate')}" for f in fractions)]
        groups: list[list[list[str]]] = []
        small: list[bool] = []
        for group, g in _mapping(_get(result, "groups")).items():
            too_small = bool(_get(g, "too_small"))
            small.append(too_small)
            badges = [TOO_SMALL] if too_small else []
            badges += [WITHHELD] if _get(g, "withheld") else []
            label = _Html(" ".join([_e(group), *(_badge("flag", b) for b in badges)]))
            rows: list[list[str]] = []
            for key, name in measures:
                values = _get(g, key)
                values = values if isinstance(values, list) else []
                cells = [
                    _fmt(values[i] if i < len(values) else None, "rate")
                    for i in range(len(fractions))
                ]
                rows.append([label if not rows else "", name, *cells])
            groups.append(rows)
        body.append(
            f"<h3>By {_e(dimension)}</h3>"
            + _figure(
                figures,
                f"thresholds_{dimension}.png",
                f"Line charts of selection rate, true positive rate, false positive rate and "
                f"precision for each {dimension} group as the top share selected grows",
                f"Figures by {dimension} as the share selected grows.",
            )
            + _grouped_table(headers, groups, numeric_from=2, small=small)
        )
    if not body:
        body.append(_notice("The threshold comparison has no dimensions."))
    return _section("thresholds", explain, "\n".join(body))


def _calibration(calibration: Any, figures: Mapping[str, bytes]) -> str:
    explain = (
        "A well-calibrated model's predicted risk means the same for every group: of young "
        "people given a 10% risk, about 10% should have the outcome, whatever their group. "
        "The calibration error (ECE) is the average gap between predicted and observed; "
        "closer to 0 is better. In the charts, points on the diagonal are well calibrated."
    )
    missing = _unavailable(calibration, "calibration figures")
    if missing:
        return _section("calibration", explain, missing)
    by = _get(calibration, "by")
    source = by if isinstance(by, Mapping) else calibration
    body: list[str] = []
    overall = _get(calibration, "overall")
    if isinstance(overall, Mapping):
        body.append(
            _p(
                f"Everyone: mean predicted risk {_fmt(overall.get('mean_predicted'), 'rate')}, "
                f"observed rate {_fmt(overall.get('observed_rate'), 'rate')}, calibration "
                f"error {_fmt(overall.get('ece'), 'decimal')}."
            )
        )
    for dimension, groups in _mapping(source).items():
        if dimension in _SKIP or not isinstance(groups, Mapping):
            continue
        rows = []
        small: list[bool] = []
        for group, g in groups.items():
            too_small = bool(_get(g, "too_small"))
            small.append(too_small)
            rows.append(
                [
                    group,
                    _fmt(_get(g, "count"), "count"),
                    _fmt(_get(g, "mean_predicted"), "rate"),
                    _fmt(_get(g, "observed_rate"), "rate"),
                    _fmt(_get(g, "ece"), "decimal"),
                    _badge("flag", TOO_SMALL) if too_small else "",
                ]
            )
        body.append(
            f"<h3>By {_e(dimension)}</h3>"
            + _figure(
                figures,
                f"calibration_{dimension}.png",
                f"Calibration chart for each {dimension} group: observed outcome rate "
                f"against mean predicted risk in each tenth of the scores",
                f"Observed against predicted risk by {dimension}.",
            )
            + _table(
                [
                    "Group",
                    "People",
                    "Mean predicted risk",
                    "Observed rate",
                    "Calibration error (ECE)",
                    "Note",
                ],
                rows,
                numeric=(1, 2, 3, 4),
                small=small,
            )
        )
    if not body:
        body.append(_notice("The calibration section has no groups."))
    return _section("calibration", explain, "\n".join(body))


def _truth(truth: Any) -> str:
    explain = (
        "The model learns from what agencies recorded, not from everything that happened. If "
        "one group's violence is recorded more often (for example because it is policed "
        "more), the model can overstate that group's risk. This section compares recorded "
        "outcomes with true outcomes, group by group. A recorded-to-true ratio below 1 means "
        "part of the group's violence goes unrecorded."
    )
    if _get(truth, "available") is False or truth is None:
        reason = _get(truth, "reason")
        return _section(
            "recording-bias",
            explain,
            _notice(
                "Not available for this audit"
                + (f": {_sentence(str(reason))}" if reason else ".")
                + " Real agency extracts contain only what was recorded; the true outcomes "
                "are known only for the synthetic test city, so this comparison cannot be "
                "made on real data."
            ),
        )
    body: list[str] = []
    note = _get(truth, "note")
    if note:
        body.append(_p(str(note)))
    overall = _get(truth, "overall")
    if isinstance(overall, Mapping):
        body.append(
            _p(
                f"Everyone: recorded rate {_fmt(overall.get('recorded_rate'), 'rate')}, true "
                f"rate {_fmt(overall.get('true_rate'), 'rate')}, recorded-to-true ratio "
                f"{_ratio(overall.get('recorded_to_true'))}."
            )
        )
    for dimension, groups in _mapping(_get(truth, "by")).items():
        rows = []
        small: list[bool] = []
        for group, g in _mapping(groups).items():
            too_small = bool(_get(g, "too_small"))
            small.append(too_small)
            rows.append(
                [
                    group,
                    _fmt(_get(g, "count"), "count"),
                    _fmt(_get(g, "recorded_rate"), "rate"),
                    _fmt(_get(g, "true_rate"), "rate"),
                    _ratio(_get(g, "recorded_to_true")),
                    _fmt(_get(g, "mean_predicted"), "rate"),
                    _fmt(_get(g, "roc_auc_recorded"), "auc"),
                    _fmt(_get(g, "roc_auc_true"), "auc"),
                    _badge("flag", TOO_SMALL) if too_small else "",
                ]
            )
        body.append(
            f"<h3>By {_e(dimension)}</h3>"
            + _table(
                [
                    "Group",
                    "People",
                    "Recorded outcome rate",
                    "True outcome rate",
                    "Recorded ÷ true",
                    "Mean predicted risk",
                    "ROC AUC (recorded)",
                    "ROC AUC (true)",
                    "Note",
                ],
                rows,
                numeric=(1, 2, 3, 4, 5, 6, 7),
                small=small,
            )
        )
    if not body:
        body.append(_notice("The ground-truth section has no figures."))
    return _section("recording-bias", explain, "\n".join(body))


def _linkage(linkage: Any) -> str:
    explain = (
        "Records from different agencies are joined by matching names, dates of birth and "
        "addresses, which makes mistakes. Precision is the share of links made that are "
        "right; recall is the share of true links that were found. If one group is linked "
        "less well, its histories look thinner and its risk may be understated."
    )
    missing = _unavailable(linkage, "linkage quality figures")
    if missing:
        return _section("linkage", explain, missing)
    body: list[str] = []
    overall = _get(linkage, "overall")
    if isinstance(overall, Mapping):
        rows = [
            [key.replace("_", " ").capitalize(), _fmt(value, _kind(key, default="count"))]
            for key, value in overall.items()
            if not isinstance(value, Mapping | list)
        ]
        body.append("<h3>Overall</h3>" + _table(["Figure", "Value"], rows, numeric=(1,)))
    for dimension, groups in _mapping(_get(linkage, "by_group")).items():
        rows = []
        small: list[bool] = []
        for group, g in _mapping(groups).items():
            too_small = bool(_get(g, "too_small"))
            small.append(too_small)
            rows.append(
                [
                    group,
                    _fmt(_get(g, "records"), "count"),
                    _fmt(_get(g, "precision"), "rate"),
                    _fmt(_get(g, "recall"), "rate"),
                    _fmt(_get(g, "missed_link_rate"), "rate"),
                    _fmt(_get(g, "false_link_rate"), "rate"),
                    _badge("flag", TOO_SMALL) if too_small else "",
                ]
            )
        body.append(
            f"<h3>By {_e(dimension)}</h3>"
            + _table(
                [
                    "Group",
                    "Records",
                    "Precision",
                    "Recall",
                    "Missed links",
                    "False links",
                    "Note",
                ],
                rows,
                numeric=(1, 2, 3, 4, 5),
                small=small,
            )
        )
    if not body:
        body.append(_notice("The linkage section has no figures."))
    return _section("linkage", explain, "\n".join(body))


def _mitigations(mitigations: Any) -> str:
    explain = (
        "Ways the model's decisions could be adjusted to narrow the gaps between groups, "
        "and what each would cost in accuracy. They are shown for comparison only: none has "
        "been applied to the model audited here. Each was fitted on one cohort and is "
        "judged on another."
    )
    missing = _unavailable(mitigations, "mitigation comparison")
    if missing:
        return _section("mitigations", explain, missing)
    m = _mapping(mitigations)
    setup = f"Fairness constraint: {_text(m.get('constraint'))}"
    if m.get("attribute") is not None:
        setup += f", across {m['attribute']} groups"
    if m.get("objective") is not None:
        setup += f" (optimising {m['objective']})"
    setup += f"; fitted on the {_text(m.get('fit_split'))} cohort"
    if m.get("fit_rows") is not None:
        setup += f" ({_fmt(m['fit_rows'], 'count')} young people)"
    setup += f"; evaluated on the {_text(m.get('evaluated_on'))} cohort"
    if m.get("evaluated_rows") is not None:
        setup += f" ({_fmt(m['evaluated_rows'], 'count')} young people)"
    body: list[str] = [_p(setup + ".")]
    merged = m.get("merged_small_groups")
    if isinstance(merged, list) and merged:
        body.append(
            _p(
                "Groups too small to be constrained on their own, merged into one: "
                + ", ".join(map(str, merged))
                + "."
            )
        )
    listed = m.get("rows")
    options = [r for r in listed if isinstance(r, Mapping)] if isinstance(listed, list) else []
    rows = [
        [
            _text(r.get("method")),
            _text(r.get("description"))
            + (f" Note: {_sentence(str(r['note']))}" if r.get("note") else ""),
            _fmt(r.get("accuracy"), "rate"),
            _fmt(r.get("balanced_accuracy"), "rate"),
            _fmt(r.get("selection_rate"), "rate"),
            _fmt(r.get("tpr"), "rate"),
            _fmt(r.get("fpr"), "rate"),
            _fmt(r.get("equalized_odds_difference"), "decimal"),
            _fmt(r.get("demographic_parity_difference"), "decimal"),
        ]
        for r in options
    ]
    body.append(
        _table(
            [
                "Method",
                "What it does",
                "Accuracy",
                "Balanced accuracy",
                "Selected",
                "True positive rate",
                "False positive rate",
                "Equalized odds difference",
                "Demographic parity difference",
            ],
            rows,
            numeric=(2, 3, 4, 5, 6, 7, 8),
        )
    )
    per_group = []
    for r in options:
        groups = _mapping(r.get("by_group"))
        per_group.append(
            [
                [
                    _text(r.get("method")) if i == 0 else "",
                    _Html(f"{_e(group)} {_badge('flag', WITHHELD)}")
                    if _get(g, "withheld")
                    else group,
                    _fmt(_get(g, "count"), "count"),
                    _fmt(_get(g, "selection_rate"), "rate"),
                    _fmt(_get(g, "tpr"), "rate"),
                    _fmt(_get(g, "fpr"), "rate"),
                ]
                for i, (group, g) in enumerate(groups.items())
            ]
        )
    per_group = [rows for rows in per_group if rows]
    if per_group:
        body.append(
            "<h3>Each option, group by group</h3>"
            + _grouped_table(
                [
                    "Method",
                    "Group",
                    "People",
                    "Selected",
                    "True positive rate",
                    "False positive rate",
                ],
                per_group,
                numeric_from=2,
                small=(),
            )
        )
    return _section("mitigations", explain, "\n".join(body))


def _explainability(explain_section: Any, figures: Mapping[str, bytes]) -> str:
    explain = (
        "Which pieces of information drive the model's scores, measured with SHAP values: "
        "how much each feature moves a score up or down, averaged over the test cohort. "
        "Positive values push risk up, negative values push it down. The proxy check asks whether the "
        "model's inputs could stand in for ethnicity or sex even though these are not used."
    )
    missing = _unavailable(explain_section, "explanations")
    if missing:
        return _section("explainability", explain, missing)
    body: list[str] = [_p(f"Method: {_text(_get(explain_section, 'method'))}.")]
    check = _get(explain_section, "check")
    if isinstance(check, Mapping):
        ok = check.get("passed")
        body.append(
            _Html(
                "<p>"
                + (
                    _badge("pass", "pass")
                    if ok is True
                    else _badge("fail", "fail")
                    if ok is False
                    else _badge("flag", "not checked")
                )
                + _e(
                    f" Check against the shap library on {_fmt(check.get('rows_checked'), 'count')}"
                    f" rows: largest difference {_sci(check.get('max_abs_difference'))}, "
                    f"tolerance {_sci(check.get('tolerance'))}."
                )
                + "</p>"
            )
        )
    speed = _get(explain_section, "rows_per_second")
    if speed is not None:
        body.append(_p(f"Speed: {_fmt(speed, 'count')} rows explained per second."))
    importance = _get(explain_section, "importance")
    ranked: list[str] = []
    if isinstance(importance, list) and importance:
        rows = []
        for row in importance:
            ranked.append(str(_get(row, "feature")))
            rows.append(
                [
                    _fmt(_get(row, "rank"), "count"),
                    _text(_get(row, "feature")),
                    _fmt(_get(row, "mean_abs_shap"), "decimal"),
                    _fmt(_get(row, "share"), "rate"),
                ]
            )
        body.append(
            "<h3>What drives the scores overall</h3>"
            + _table(
                ["Rank", "Feature", "Mean absolute SHAP value", "Share of all contributions"],
                rows,
                numeric=(0, 2, 3),
            )
        )
    body.append(
        _figure(
            figures,
            "shap_beeswarm.png",
            "Beeswarm plot of SHAP values for the most important features: each point is a "
            "contribution to a score, coloured by the feature's value",
            "How each important feature moves the scores (SHAP summary).",
        )
    )
    prefix, suffix = "shap_dependence_", ".png"
    dependence = [n for n in figures if n.startswith(prefix) and n.endswith(suffix)]
    rank = {name: i for i, name in enumerate(ranked)}
    dependence.sort(key=lambda n: (rank.get(n[len(prefix) : -len(suffix)], len(rank)), n))
    if dependence:
        body.append("<h3>How the main features act</h3>")
        for name in dependence:
            feature = name[len(prefix) : -len(suffix)]
            body.append(
                _figure(
                    figures,
                    name,
                    f"SHAP dependence plot for {feature}: its contribution to the score "
                    f"against its value",
                    f"Contribution of {feature} to the score, by its value.",
                )
            )
    by_group = _mapping(_get(explain_section, "by_group"))
    if by_group:
        body.append(
            "<h3>What drives the scores, group by group</h3>"
            + _p(
                "The average contribution of each main feature to the scores of each group, "
                "on the model's log-odds scale: positive raises the group's scores, negative "
                "lowers them. Different drivers for different groups are worth questioning."
            )
        )
    for dimension, groups in by_group.items():
        group_map = _mapping(groups)
        features: list[str] = []
        for g in group_map.values():
            shap = _get(g, "mean_shap")
            if isinstance(shap, Mapping):
                features = [str(f) for f in shap]
                break
        rows = []
        small: list[bool] = []
        for group, g in group_map.items():
            too_small = bool(_get(g, "too_small"))
            small.append(too_small)
            shap = _mapping(_get(g, "mean_shap"))
            rows.append(
                [
                    _Html(_e(group) + (" " + _badge("flag", TOO_SMALL) if too_small else "")),
                    _fmt(_get(g, "n"), "count"),
                    *(_signed(shap.get(f)) for f in features),
                ]
            )
        body.append(
            f"<h3>By {_e(dimension)}</h3>"
            + _table(
                ["Group", "People", *features],
                rows,
                numeric=tuple(range(1, 2 + len(features))),
                small=small,
            )
        )
    proxy = _mapping(_get(explain_section, "proxy"))
    if proxy:
        rows = []
        for attribute, p in proxy.items():
            top = _get(p, "top_inputs")
            inputs = ", ".join(
                f"{_text(_get(t, 'feature'))} ({_fmt(_get(t, 'importance_share'), 'rate')})"
                for t in (top if isinstance(top, list) else [])[:5]
            )
            dropped = _get(p, "dropped_classes")
            rows.append(
                [
                    attribute,
                    _fmt(_get(p, "rows"), "count"),
                    _fmt(_get(p, "auc"), "auc"),
                    _fmt(_get(p, "baseline_auc"), "auc"),
                    inputs or DASH,
                    ", ".join(map(str, dropped)) if isinstance(dropped, list) and dropped else DASH,
                ]
            )
        body.append(
            "<h3>Proxy check</h3>"
            + _p(
                "How well the model's inputs predict each attribute. 0.5 is chance; the "
                "closer to 1, the more the inputs could stand in for it. The inputs named "
                "carry most of that signal."
            )
            + _table(
                [
                    "Attribute",
                    "People used",
                    "ROC AUC",
                    "Chance",
                    "Inputs that carry it (share)",
                    "Groups too small to include",
                ],
                rows,
                numeric=(1, 2, 3),
            )
        )
    return _section("explainability", explain, "\n".join(body))


def _drift(drift: Any) -> str:
    explain = (
        "What has changed since the version the board last approved (the champion): whether "
        "the data look different (population stability index, PSI: below 0.1 stable, 0.1 to "
        "0.25 moderate, above 0.25 significant), how the headline figures moved, and whether "
        "different features now drive the scores."
    )
    missing = _unavailable(drift, "comparison with a champion")
    if missing:
        return _section("drift", explain, missing)
    body: list[str] = []
    champion = _mapping(_get(drift, "champion"))
    body.append(
        _Html(
            f"<p>Champion: version {_e(_text(champion.get('version')))}; the report the board "
            f"approved has SHA-256 <code>{_e(_text(champion.get('approved_report_sha256')))}"
            "</code>.</p>"
        )
    )
    score = _get(drift, "score")
    if isinstance(score, Mapping):
        body.append(
            _Html(
                f"<p>Scores: PSI {_e(_fmt(score.get('psi'), 'decimal'))} "
                f"{_level(score.get('level'))}</p>"
            )
        )
    features = _get(drift, "features")
    if isinstance(features, list) and features:
        rows = [
            [
                _text(_get(f, "feature")),
                _fmt(_get(f, "psi"), "decimal"),
                _level(_get(f, "level")),
            ]
            for f in features
        ]
        body.append("<h3>Inputs</h3>" + _table(["Feature", "PSI", "Level"], rows, numeric=(1,)))
    compared = _get(drift, "figures")
    if isinstance(compared, list) and compared:
        rows = []
        for f in compared:
            name = str(_get(f, "figure"))
            kind = _kind(name)
            rows.append(
                [
                    name,
                    _fmt(_get(f, "champion"), kind),
                    _fmt(_get(f, "candidate"), kind),
                    _difference(_get(f, "candidate"), _get(f, "champion"), kind),
                    _text(_get(f, "status")).replace("_", " "),
                ]
            )
        body.append(
            "<h3>Headline figures</h3>"
            + _table(
                ["Figure", "Champion", "This version", "Change", "Compared"],
                rows,
                numeric=(1, 2, 3),
            )
        )
    drivers = _mapping(_get(drift, "drivers"))
    if drivers:
        old, new = drivers.get("champion"), drivers.get("candidate")
        old = old if isinstance(old, list) else []
        new = new if isinstance(new, list) else []
        rows = [
            [
                str(i + 1),
                _text(old[i]) if i < len(old) else DASH,
                _text(new[i]) if i < len(new) else DASH,
            ]
            for i in range(max(len(old), len(new)))
        ]
        body.append(
            "<h3>Main drivers</h3>"
            + _table(["Rank", "Champion", "This version"], rows, numeric=(0,))
        )
    changes = _mapping(_get(drift, "feature_list"))
    if changes:
        added, removed = changes.get("added"), changes.get("removed")
        body.append(
            _p(
                "Inputs added: "
                + (", ".join(map(str, added)) if isinstance(added, list) and added else "none")
                + ". Inputs removed: "
                + (
                    ", ".join(map(str, removed))
                    if isinstance(removed, list) and removed
                    else "none"
                )
                + "."
            )
        )
    return _section("drift", explain, "\n".join(body))


def _features(features: Any, inputs: Any) -> str:
    explain = (
        "Every feature built from the agencies' records, what it means, where it comes from "
        "and the policy that governs it: allowed, prohibited (never a model input, such as "
        "ethnicity), or forgotten after a number of years so that old events do not mark a "
        "young person for ever."
    )
    missing = _unavailable(features, "feature list")
    if missing:
        return _section("features", explain, missing)
    rows = []
    for f in features if isinstance(features, list) else []:
        name = _text(_get(f, "name"))
        policy = _text(_get(f, "policy"))
        window = _get(f, "window_months")
        badge = (
            _badge("fail", policy)
            if policy == "prohibited"
            else _badge("pass", policy)
            if policy == "allowed"
            else _badge("info", policy)
        )
        row = [
            name,
            _text(_get(f, "description")),
            _text(_get(f, "source")),
            "ever" if window is None else f"{_fmt(window, 'count')} months",
            badge,
        ]
        if isinstance(inputs, list):
            row.append("yes" if name in inputs else "no")
        rows.append(row)
    headers = ["Feature", "Meaning", "Source", "Look-back", "Policy"]
    if isinstance(inputs, list):
        headers.append("Model input")
    return _section("features", explain, _table(headers, rows))


def _footer(audit: Mapping[str, Any]) -> str:
    timings = _mapping(audit.get("timings"))
    steps = "; ".join(f"{step} {_seconds(seconds)}" for step, seconds in timings.items())
    model = _mapping(audit.get("model"))
    lines = [
        "How this report was produced: by the vru-risk audit command (vru audit), from the model "
        "version's logged artefacts and its test and validation cohorts, inside the secure "
        "environment.",
        f"Audit schema version {_text(audit.get('schema_version'))}; features table SHA-256 "
        f"{_text(model.get('features_sha256'))}.",
    ]
    if steps:
        lines.append(f"Time taken: {steps}.")
    lines.append(
        "This report contains aggregates only (counts, rates, intervals, averages and charts "
        "of many people). It contains no record, identifier or score of any individual."
    )
    return "<footer>\n" + "\n".join(_p(line) for line in lines) + "\n</footer>"


# -- HTML helpers ----------------------------------------------------------------------------


class _Html(str):
    """Text that is already HTML, built here from escaped parts; never wrap outside text."""

    __slots__ = ()


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _p(text: str) -> _Html:
    return _Html(f"<p>{_e(text)}</p>")


def _notice(text: str) -> _Html:
    return _Html(f'<p class="notice">{_e(text)}</p>')


def _badge(kind: Literal["pass", "fail", "flag", "info"], text: str) -> _Html:
    return _Html(f'<span class="badge {kind}">{_e(text)}</span>')


def _level(level: Any) -> _Html:
    kinds: dict[Any, Literal["pass", "fail", "flag"]] = {
        "stable": "pass",
        "moderate": "flag",
        "significant": "fail",
    }
    return _badge(kinds.get(level, "flag"), _text(level))


def _section(anchor: str, explain: str, body: str) -> str:
    return (
        f'<section id="{anchor}">\n<h2>{_e(_TITLES[anchor])}</h2>\n'
        f'<p class="explain">{_e(explain)}</p>\n{body}\n</section>'
    )


def _cell(value: str, numeric: bool, text: bool) -> str:
    cls = ' class="num"' if numeric else ' class="text"' if text else ""
    content = value if isinstance(value, _Html) else _e(value)
    return f"<td{cls}>{content}</td>"


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    text: Sequence[int] = (),
    small: Sequence[bool] = (),
) -> _Html:
    """A table; cells that are not :class:`_Html` are escaped. ``small`` greys rows out."""
    body: list[str] = []
    for i, row in enumerate(rows):
        muted = ' class="small"' if i < len(small) and small[i] else ""
        cells = "".join(_cell(c, j in numeric, j in text) for j, c in enumerate(row))
        body.append(f"<tr{muted}>{cells}</tr>")
    if not body:
        return _notice("There is nothing to show in this table.")
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    return _Html(
        f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody>\n</table></div>"
    )


def _grouped_table(
    headers: Sequence[str],
    groups: Sequence[Sequence[Sequence[str]]],
    *,
    numeric_from: int,
    small: Sequence[bool],
) -> _Html:
    """A table whose rows come in groups (one ``tbody`` each), striped group by group."""
    if not groups:
        return _notice("There is nothing to show in this table.")
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    bodies = []
    for i, rows in enumerate(groups):
        muted = ' class="small"' if i < len(small) and small[i] else ""
        trs = "".join(
            f"<tr{muted}>"
            + "".join(_cell(c, j >= numeric_from, False) for j, c in enumerate(row))
            + "</tr>"
            for row in rows
        )
        bodies.append(f'<tbody class="group">{trs}</tbody>')
    return _Html(
        f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n'
        + "\n".join(bodies)
        + "\n</table></div>"
    )


def _figure(figures: Mapping[str, bytes], name: str, alt: str, caption: str) -> str:
    data = figures.get(name)
    if not data:
        return ""
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" alt="{_e(alt)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _unavailable(section: Any, what: str) -> _Html | None:
    """A notice saying why a section cannot be shown, or None if it can."""
    if section is None:
        return _notice(f"This audit holds no {what}.")
    if isinstance(section, Mapping) and section.get("available") is False:
        reason = section.get("reason")
        return _notice(
            f"Not available for this audit: {_sentence(reason or 'no reason was recorded')}"
        )
    if not isinstance(section, Mapping | list):
        return _notice(f"This audit's {what} could not be read.")
    return None


# -- values ----------------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


def _dimensions(section: Any) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for key, value in _mapping(section).items():
        if key not in _SKIP and isinstance(value, Mapping):
            yield str(key), value


def _performance_names(performance: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for key in performance:
        name = str(key).removeprefix("baseline_").removeprefix("test_")
        if name not in names:
            names.append(name)
    known = {name: i for i, name in enumerate(_PERFORMANCE_ORDER)}
    return sorted(names, key=lambda n: (known.get(n, len(known)), names.index(n)))


def _kind(name: str, default: Kind = "decimal") -> Kind:
    tokens = set(name.lower().replace("(", " ").replace(")", " ").replace("_", " ").split())
    if any("auc" in t for t in tokens):
        return "auc"
    if tokens & _DECIMAL_TOKENS:
        return "decimal"
    if tokens & _RATE_TOKENS:
        return "rate"
    return default


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any) -> str:
    return DASH if value is None else str(value)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


_FORMATS: dict[Kind, Callable[[float], str]] = {
    "rate": lambda v: f"{100 * v:.1f}%",
    "auc": lambda v: f"{v:.3f}",
    "decimal": lambda v: f"{v:.3f}",
    "count": lambda v: f"{round(v):,}",
    "text": str,
}


def _fmt(value: Any, kind: Kind) -> str:
    """A value for people: a percentage, three decimals or a count; None is a dash."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    number = _number(value)
    if number is None:
        return DASH if isinstance(value, float) else str(value)
    return _FORMATS[kind](number)


def _bounds(ci: Any, kind: Kind) -> str:
    if isinstance(ci, list | tuple) and len(ci) == 2:
        low, high = _number(ci[0]), _number(ci[1])
        if low is not None and high is not None:
            if kind == "rate":
                return f" ({100 * low:.1f}–{100 * high:.1f}%)"
            return f" ({_fmt(low, kind)}–{_fmt(high, kind)})"
    return ""


def _with_ci(metrics: Any, rate: str) -> str:
    """``12.3% (10.1–14.6%)`` from a group's value and its ``ci`` entry."""
    return _fmt(_get(metrics, rate), "rate") + _bounds(_get(_get(metrics, "ci"), rate), "rate")


def _points(value: Any) -> str:
    number = _number(value)
    return DASH if number is None else f"{100 * number:+.1f} pts"


def _signed(value: Any) -> str:
    number = _number(value)
    return DASH if number is None else f"{number:+.3f}"


def _ratio(value: Any) -> str:
    number = _number(value)
    return DASH if number is None else f"{number:.2f}"


def _seconds(value: Any) -> str:
    number = _number(value)
    return DASH if number is None else f"{number:.1f} s"


def _sci(value: Any) -> str:
    number = _number(value)
    return DASH if number is None else f"{number:.1e}"


def _difference(value: Any, reference: Any, kind: Kind) -> str:
    a, b = _number(value), _number(reference)
    if a is None or b is None:
        return DASH
    if kind == "rate":
        return f"{100 * (a - b):+.1f} pts"
    return f"{a - b:+.3f}"


def _operating_point_text(point: Any, rows: Any) -> _Html:
    selected = _get(point, "selected")
    of = (
        f" ({_fmt(selected, 'count')} of {_fmt(rows, 'count')} young people)"
        if selected is not None
        else ""
    )
    if _get(point, "top_fraction") is not None:
        text = (
            f"Operating point: the {_fmt(_get(point, 'top_fraction'), 'rate')} of the test "
            f"cohort with the highest predicted risk count as selected{of}."
        )
    elif _get(point, "threshold") is not None:
        text = (
            f"Operating point: everyone with a predicted risk of at least "
            f"{_fmt(_get(point, 'threshold'), 'decimal')} counts as selected{of}."
        )
    else:
        text = "The audit does not record its operating point."
    return _p(text)
