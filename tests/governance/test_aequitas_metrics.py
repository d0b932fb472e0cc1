"""Aequitas' FDR, FOR, NPV and selected share, by group, against hand-worked tables and Fairlearn."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from scipy.stats import beta

from governance.audit.aequitas import aequitas_figures
from governance.audit.fairness import audit_scored_table
from governance.contracts.audit_document import GroupFairness

# A hand-worked table: each group's confusion cells (selected = tp + fp).
#           tp  fp  fn   tn    n  selected  not selected
#   A        6  14   4  176  200        20           180
#   B        2   3  10   85  100         5            95
#   C        4   0   1   20   25         4            21
CELLS = {"A": (6, 14, 4, 176), "B": (2, 3, 10, 85), "C": (4, 0, 1, 20)}
# worked by hand: FDR = fp / selected, FOR = fn / not selected, NPV = tn / not selected,
# selected share = selected / 29, population share = n / 325, ratio = their quotient
HAND = {
    "A": (14 / 20, 4 / 180, 176 / 180, 20 / 29, 200 / 325, (20 / 29) / (200 / 325)),
    "B": (3 / 5, 10 / 95, 85 / 95, 5 / 29, 100 / 325, (5 / 29) / (100 / 325)),
    "C": (0 / 4, 1 / 21, 20 / 21, 4 / 29, 25 / 325, (4 / 29) / (25 / 325)),
}
NAMES = (
    "false_discovery_rate",
    "false_omission_rate",
    "negative_predictive_value",
    "selected_share",
    "population_share",
    "selected_share_ratio",
)


def _figures(min_outcomes: int = 30) -> dict[str, dict[str, object]]:
    tp, fp, fn, tn = (np.array([CELLS[g][i] for g in CELLS]) for i in range(4))
    found = aequitas_figures(
        tp, fp, fn, tn, min_group_size=30, min_outcomes=min_outcomes, confidence=0.95
    )
    return dict(zip(CELLS, found, strict=True))


def _rows() -> pd.DataFrame:
    """One row per person, with the decision as a 0/1 score (selected at or above 0.5)."""
    parts = []
    for group, (tp, fp, fn, tn) in CELLS.items():
        for y, chosen, count in ((1, 1, tp), (0, 1, fp), (1, 0, fn), (0, 0, tn)):
            parts.append(pd.DataFrame({"y": [y] * count, "score": [float(chosen)] * count}))
            parts[-1]["group"] = group
    return pd.concat(parts, ignore_index=True)


def test_the_figures_match_the_hand_worked_table() -> None:
    found = _figures()
    for group, expected in HAND.items():
        assert [found[group][name] for name in NAMES] == pytest.approx(list(expected))
        tp, fp, fn, tn = CELLS[group]
        assert (found[group]["selected"], found[group]["not_selected"]) == (tp + fp, fn + tn)
    # proportional selection would be a ratio of 1: A is over-selected, B under
    assert found["A"]["selected_share_ratio"] == pytest.approx(1.1207, abs=1e-4)
    assert found["B"]["selected_share_ratio"] == pytest.approx(0.5603, abs=1e-4)


def test_every_figure_has_an_exact_interval_that_holds_it() -> None:
    found = _figures()
    for group, (tp, fp, fn, tn) in CELLS.items():
        ci = found[group]["ci"]
        for name, (k, n) in {
            "false_discovery_rate": (fp, tp + fp),
            "false_omission_rate": (fn, fn + tn),
            "negative_predictive_value": (tn, fn + tn),
            "selected_share": (tp + fp, 29),
        }.items():
            low, high = ci[name]
            assert low <= found[group][name] <= high
            assert low == pytest.approx(beta.ppf(0.025, k, n - k + 1) if k else 0.0)
            assert high == pytest.approx(beta.ppf(0.975, k + 1, n - k) if k < n else 1.0)
        low, high = ci["selected_share_ratio"]
        share_low, share_high = ci["selected_share"]
        population = found[group]["population_share"]
        assert (low, high) == pytest.approx((share_low / population, share_high / population))
    # at a small count the interval is exact, not a point: 0 false discoveries of 4 selected
    assert found["C"]["ci"]["false_discovery_rate"] == [
        0.0,
        pytest.approx(1 - 0.025 ** (1 / 4)),  # 0.602, by hand
    ]


def test_the_30_outcome_rule_shows_small_counts_without_judging_them() -> None:
    strict = _figures(min_outcomes=30)
    # FDR rests on the selected: 20, 5 and 4 people, all under 30
    assert [strict[g]["fdr_judged"] for g in CELLS] == [False, False, False]
    assert [strict[g]["share_judged"] for g in CELLS] == [False, False, False]
    # FOR and NPV rest on the not selected: 180 and 95 are enough; C has 25 people only
    assert [strict[g]["for_judged"] for g in CELLS] == [True, True, False]
    # shown either way: the figure is there with its interval
    assert strict["B"]["false_discovery_rate"] == pytest.approx(0.6)
    loose = _figures(min_outcomes=5)
    assert [loose[g]["fdr_judged"] for g in CELLS] == [True, True, False]  # C: 25 < 30 people


def test_the_audit_of_a_table_carries_them_for_each_group_and_overall() -> None:
    audit = audit_scored_table(
        _rows(), label="y", score="score", sensitive=["group"], threshold=0.5, permutations=10
    )
    for group, expected in HAND.items():
        figures = audit["by"]["group"][group]["aequitas"]
        assert [figures[name] for name in NAMES] == pytest.approx(list(expected))
        GroupFairness.model_validate(audit["by"]["group"][group])  # the document accepts it
    overall = audit["overall"]["aequitas"]
    assert overall["false_discovery_rate"] == pytest.approx(17 / 29)
    assert overall["false_omission_rate"] == pytest.approx(15 / 296)
    assert overall["selected_share"] == 1.0 and overall["population_share"] == 1.0
    json.dumps(audit)


def test_a_withheld_group_shows_no_aequitas_figure() -> None:
    audit = audit_scored_table(
        _rows(),
        label="y",
        score="score",
        sensitive=["group"],
        threshold=0.5,
        permutations=10,
        withhold_below=30,
    )
    assert audit["by"]["group"]["C"]["withheld"] is True
    assert audit["by"]["group"]["C"]["aequitas"] is None
    assert audit["by"]["group"]["A"]["aequitas"] is not None


def _fdr(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    selected = np.asarray(y_pred) == 1
    return float(np.mean(np.asarray(y_true)[selected] == 0)) if selected.any() else np.nan


def _for(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    passed = np.asarray(y_pred) == 0
    return float(np.mean(np.asarray(y_true)[passed] == 1)) if passed.any() else np.nan


def _npv(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    passed = np.asarray(y_pred) == 0
    return float(np.mean(np.asarray(y_true)[passed] == 0)) if passed.any() else np.nan


def _selected(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return int(np.count_nonzero(np.asarray(y_pred) == 1))


def test_the_figures_agree_with_fairlearn_metric_frame_with_custom_metrics() -> None:
    rng = np.random.default_rng(17)
    n = 5_000
    group = rng.choice(["Asian", "Black", "Mixed", "White"], n, p=[0.2, 0.15, 0.1, 0.55])
    y = (rng.random(n) < 0.05 + 0.05 * (group == "Black")).astype(int)
    score = y * 1.2 + rng.normal(size=n) + 0.3 * (group == "Mixed")
    frame = pd.DataFrame({"y": y, "score": score, "ethnicity": group})
    audit = audit_scored_table(
        frame, label="y", score="score", sensitive=["ethnicity"], top_fraction=0.1, permutations=10
    )
    chosen = np.zeros(n, dtype=int)
    chosen[np.argsort(-score, kind="stable")[:500]] = 1
    metrics = MetricFrame(
        metrics={"fdr": _fdr, "for": _for, "npv": _npv, "selected": _selected},
        y_true=y,
        y_pred=chosen,
        sensitive_features=pd.Series(group, name="ethnicity"),
    )
    total = metrics.overall["selected"]
    for name, row in metrics.by_group.iterrows():
        ours = audit["by"]["ethnicity"][str(name)]["aequitas"]
        assert ours["false_discovery_rate"] == pytest.approx(row["fdr"], abs=1e-15)
        assert ours["false_omission_rate"] == pytest.approx(row["for"], abs=1e-15)
        assert ours["negative_predictive_value"] == pytest.approx(row["npv"], abs=1e-15)
        assert ours["selected_share"] == pytest.approx(row["selected"] / total, abs=1e-15)
        assert ours["population_share"] == pytest.approx(np.mean(group == name), abs=1e-15)


def test_the_report_shows_them_with_intervals_and_the_judging_rule() -> None:
    from governance.audit.report.aequitas import aequitas_view

    audit = audit_scored_table(
        _rows(), label="y", score="score", sensitive=["group"], threshold=0.5, permutations=10
    )
    view = aequitas_view({**audit, "available": True})
    assert [b.dimension for b in view.by] == ["group"]
    cells = [" ".join(map(str, c)) for r in view.by[0].table.rows for c in r.cells]
    # A's FDR, 14 of 20: [0.4572, 0.8811], printed rounded outward so it still holds it
    assert "70.0% (45.7–88.2%)" in cells
    assert any("not judged" in c and "20 selected" in c for c in cells)
    said = " ".join(view.sentences)
    assert "false discovery rate" in said and "at least 30" in said


def test_the_fairness_section_of_the_report_holds_the_aequitas_table() -> None:
    import re

    from governance.audit.report import render_report

    audit = audit_scored_table(
        _rows(), label="y", score="score", sensitive=["group"], threshold=0.5, permutations=10
    )
    html = render_report({"fairness": audit}, {})
    section = re.search(r'<section id="fairness">(.*?)</section>', html, flags=re.S)
    assert section is not None
    fairness = section.group(1)
    assert "Aequitas" in fairness and "False omission rate" in fairness
    assert "70.0% (45.7–88.2%)" in fairness
    # an older audit without the figures renders without the table
    for group in audit["by"]["group"].values():
        group.pop("aequitas")
    assert "False omission rate" not in render_report({"fairness": audit}, {})
