"""The board's first page, the error-analysis section and the recording-bias detail, rendered.

Built from small audit documents written here: the first page comes before everything else,
asks the board its question in plain words, says what changed since the champion (or that
there is none), names the cohorts and groups the model fails and the gates that failed.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from governance.audit.report import render_report
from governance.audit.report.board_views import first_page_view, recording_view

SLICE = {
    "name": "no school record",
    "available": True,
    "n": 1200,
    "outcomes": 40,
    "roc_auc": 0.61,
    "roc_auc_low": 0.52,
    "roc_auc_high": 0.70,
    "observed": 40,
    "expected": 20.0,
    "observed_expected": 2.0,
    "oe_low": 1.43,
    "oe_high": 2.72,
    "fails": True,
    "reasons": ["the model under-predicts: O/E interval excludes 1"],
    "note": None,
}
EVERYONE = {
    **SLICE,
    "name": "everyone",
    "fails": False,
    "reasons": [],
    "oe_low": 0.9,
    "oe_high": 1.1,
}
AUDIT: dict[str, Any] = {
    "schema_version": 1,
    "created": "2025-06-01T10:00:00+00:00",
    "model": {"name": "vru-risk", "version": "7", "run_id": "r1", "inputs": ["a_12m"]},
    "gates_passed": False,
    "gates": [
        {"name": "minimum AUC", "figure": "test_roc_auc", "value": 0.8, "limit": 0.7,
         "direction": "at least", "passed": True},
        {"name": "observed/expected by group", "figure": "oe", "value": 0.5, "limit": 0.8,
         "direction": "at least", "passed": False},
    ],
    "calibration": {
        "check": {
            "by": {
                "sex": {
                    "F": {"count": 900, "ratio": 1.67, "low": 1.2, "high": 2.2, "judged": True},
                    "M": {"count": 900, "ratio": 0.97, "low": 0.8, "high": 1.1, "judged": True},
                }
            }
        }
    },
    "error_analysis": {"method": "DeLong; exact Poisson", "slices": [EVERYONE, SLICE],
                       "failing": ["no school record"]},
    "drift": {"available": False, "reason": "no champion"},
}  # fmt: skip


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_first_page_comes_before_everything() -> None:
    html = render_report(AUDIT, {})
    first = html.index('id="first-page"')
    assert first < html.index("<header>") < html.index('id="gates"')
    page = _text(html[first : html.index("</section>", first)])
    for word in ("approve", "reject", "approve it with conditions", "reviewed"):
        assert word in page


def test_it_says_no_champion_yet_when_there_is_none() -> None:
    page = first_page_view(AUDIT)
    assert page.changed[0].startswith("No champion yet")
    with_champion = {
        **AUDIT,
        "drift": {
            "available": True,
            "champion": {"version": "6"},
            "figures": [
                {"figure": "test_roc_auc", "champion": 0.78, "candidate": 0.81, "status": "better"}
            ],
        },
    }
    changed = first_page_view(with_champion).changed
    assert "version 6" in changed[0] and "0.780 then, 0.810 now (better)" in changed[1]


def test_it_names_for_whom_the_model_fails_and_the_failed_gates() -> None:
    page = first_page_view(AUDIT)
    fails = " ".join(page.fails_for)
    assert "no school record: the model under-predicts" in fails
    assert "sex F: the model under-predicts" in fails and "sex M" not in fails
    assert "everyone" not in fails
    assert len(page.failed_gates) == 1 and "observed/expected by group" in page.failed_gates[0]
    assert page.verdict == "1 of 2 promotion gates failed."
    html = _text(render_report(AUDIT, {}))
    assert "no school record: the model under-predicts" in html


def test_a_model_that_fails_no_one_says_so() -> None:
    audit = copy.deepcopy(AUDIT)
    audit["error_analysis"]["slices"] = [EVERYONE]
    audit["calibration"]["check"]["by"]["sex"]["F"].update(low=0.9, high=1.1)
    audit["gates"][1]["passed"] = True
    audit["gates_passed"] = True
    page = first_page_view(audit)
    assert page.fails_for == ("No cohort or group was found where the model fails.",)
    assert page.failed_gates == () and page.verdict == "Every promotion gate passed."
    assert "None: every promotion gate passed." in _text(render_report(audit, {}))


def test_the_error_analysis_section_shows_every_cohort_with_intervals() -> None:
    html = render_report(AUDIT, {})
    start = html.index('id="error-analysis"')
    section = _text(html[start : html.index("</section>", start)])
    assert "The model fails for: no school record." in section
    assert "0.610 (0.520–0.700)" in section and "2.00 (1.43–2.72)" in section
    assert "1,200" in section


def test_without_an_error_analysis_it_says_so() -> None:
    audit = {k: v for k, v in AUDIT.items() if k != "error_analysis"}
    assert "This audit has no error analysis." in _text(render_report(audit, {}))


def _share(n: int, k: int, **more: Any) -> dict[str, Any]:
    return {"n": n, "k": k, "rate": k / n, "low": k / n - 0.05, "high": k / n + 0.05,
            "withheld": False, "ratio": None, "ratio_low": None, "ratio_high": None,
            "judged": False, "differs": None, **more}  # fmt: skip


TRUTH: dict[str, Any] = {
    "available": True,
    "pathways": {
        "police_offending": {
            "description": "Police: perpetrators whose offence the police recorded",
            "overall": _share(700, 400),
            "by": {
                "ethnicity": {
                    "reference": "White",
                    "groups": {
                        "Black": _share(390, 264, ratio=1.22, ratio_low=1.09, ratio_high=1.38,
                                        judged=True, differs=True),
                        "White": _share(325, 180, ratio=1.0),
                    },
                }
            },
        }
    },
    "label_errors": {"sensitivity": {"overall": _share(100, 70), "by": {}}},
    "input_audit": None,
}  # fmt: skip


def test_the_recording_detail_names_the_group_recorded_differently() -> None:
    view = recording_view(TRUTH)
    assert len(view.differs) == 1 and "ethnicity Black" in view.differs[0]
    assert "1.22 (1.09–1.38) to White" in view.differs[0]
    html = _text(render_report({**AUDIT, "ground_truth": TRUTH}, {}))
    assert "By pathway" in html and "differs from reference" in html
    assert "Sensitivity: share of the truly involved" in html
    assert recording_view({"available": False, "reason": "real data"}).pathways == ()


def test_a_dimension_whose_error_rates_differ_beyond_chance_is_named() -> None:
    fairness = {
        "confidence": 0.95,
        "summary": {
            "ethnicity": {"equalized_odds_difference": 0.38, "equalized_odds_p_value": 0.2},
            "sex": {"equalized_odds_difference": 0.15, "equalized_odds_p_value": 0.001},
        },
    }
    fails = " ".join(first_page_view({**AUDIT, "fairness": fairness}).fails_for)
    assert "sex: error rates differ" in fails and "p = 0.001" in fails
    assert "ethnicity" not in fails  # a large gap that chance explains (p = 0.2)


def test_inputs_recorded_differently_are_named() -> None:
    cell = {"n": 400, "mean": 0.3, "low": 0.25, "high": 0.35, "withheld": False}
    audit = {
        "inputs": ["offences_ever"],
        "by": {
            "ethnicity": {
                "reference": "White",
                "true_rate": {"Black": _share(1000, 20), "White": _share(2000, 40)},
                "strata": {
                    "all": {"offences_ever": {"Black": cell, "White": cell}},
                    "involved": {"offences_ever": {"Black": cell, "White": cell}},
                    "not_involved": {
                        "offences_ever": {
                            "Black": {**cell, "ratio": 2.5, "ratio_low": 2.0, "ratio_high": 3.1,
                                      "judged": True, "differs": True},
                            "White": {**cell, "ratio": 1.0},
                        }
                    },
                },
            }
        },
    }  # fmt: skip
    view = recording_view({**TRUTH, "input_audit": audit})
    assert view.input_differs == (
        "offences_ever, among those not involved: ethnicity Black at 2.50 (2.00–3.10) times White",
    )
    html = _text(render_report({**AUDIT, "ground_truth": {**TRUTH, "input_audit": audit}}, {}))
    assert "Inputs recorded differently from the reference group" in html
    assert "0.300 (0.250–0.350)" in html


def test_it_says_what_the_paired_comparison_and_the_cohort_drift_show() -> None:
    drift = {
        "available": True,
        "champion": {"version": "6"},
        "figures": [],
        "paired": [
            {"metric": "roc_auc", "difference": 0.03, "low": 0.01, "high": 0.05},
            {"metric": "log_loss", "difference": -0.002, "low": -0.004, "high": 0.001},
        ],
        "cohort": {"reference": "training split", "cohort_as_of": "2025-03-31"},
        "features": [
            {"feature": "injury_attendances_ever", "psi": 0.7, "level": "significant"},
            {"feature": "age", "psi": 0.01, "level": "stable"},
        ],
    }
    changed = first_page_view({**AUDIT, "drift": drift}).changed
    text = " ".join(changed)
    assert "roc auc: the candidate is better, by +0.030 (0.010 to 0.050)" in text
    assert "log loss: no clear difference, by -0.002 (-0.004 to 0.001)" in text
    assert (
        "drifted significantly since the champion's training data: injury_attendances_ever." in text
    )
    assert "age" not in text.split("drifted significantly")[1]
