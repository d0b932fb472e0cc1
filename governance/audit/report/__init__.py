"""The ethics board's audit report: one self-contained HTML page, aggregates only.

:func:`render_report` turns a model version's audit (``audit.json``'s content, or the typed
document it is read into) and its figures (PNG bytes) into a single HTML5 document that a
board member can open from an email or a shared drive, read without a network connection or
any script, and print. Every figure is embedded as a ``data:`` URI; the style is one inline
CSS block; nothing is fetched.

How it is built. Each section of the report is a Jinja2 template in ``templates/`` (the
header, twelve sections, the footer, put together by ``document.html``), and a small view
module per group of sections prepares what its templates show: numbers formatted for people
(:mod:`governance.audit.formatting`), badges chosen, tables laid out (:mod:`.blocks`).

- :mod:`.summary`: gates, model card, performance and the footer's timings;
- :mod:`.groups`: fairness, thresholds, calibration, ground truth, linkage;
- :mod:`.explanations`: mitigations and explainability;
- :mod:`.changes`: drift and features;
- :mod:`.document`: the template environment, :func:`render_report`, :func:`report_sha256`.

The views read the audit only through :mod:`governance.audit.reading`, and the templates with
attribute syntax (``audit.model.name``), so both work on a dict and on a typed document.

The readers are not programmers, so each section opens with a sentence or two saying what
it shows and how to read it; numbers are formatted for people (rates as percentages with
one decimal, AUCs with three, counts with thousands separators, a missing value as "—");
groups too small to judge keep their row, marked with a visible "too small to judge" badge,
rather than disappear; and pass/fail/flag badges carry words as well as colours.

Privacy. The renderer adds no data of its own: every value on the page comes from the audit
or the figures it is given, and the audit holds aggregates only (counts, rates, intervals,
means, plots of many rows). Autoescaping is on and every value is escaped as
:func:`html.escape` does, so a group called ``<script>`` is printed, not run.

Robustness. A section whose key is absent, or is ``{"available": false, "reason": ...}``,
is rendered as a plain sentence saying so (with the reason); a missing figure inside a
section is shown as "—". The same audit always gives the same bytes, so
:func:`report_sha256` identifies the report the board signed.
"""

from __future__ import annotations

from governance.audit.formatting import DASH
from governance.audit.report.document import render_report, report_sha256

__all__ = ["DASH", "render_report", "report_sha256"]
