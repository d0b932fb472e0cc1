"""Fairness audit core: hand-computed counts and rates, Fairlearn agreement, intervals, errors."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score, roc_auc_score

from governance.audit.fairness import (
    NOT_RECORDED,
    AuditInputError,
    audit_scored_table,
    bootstrap_intervals,
    group_counts,
    group_metrics,
    select,
)
from governance.contracts.errors import VruError

# ----------------------------------------------------------------------------------------------
# A hand-computed example: 20 rows, 5 in each sex × ethnicity cell.
#
#   cell  y               pred            tp fp fn tn
#   F×A   1 1 1 0 0       1 1 0 1 0        2  1  1  1
#   F×B   1 1 0 0 0       1 0 0 0 0        1  0  1  3
#   M×A   1 1 0 0 0       1 1 1 1 0        2  2  0  1
#   M×B   1 1 1 0 0       0 0 0 0 0        0  0  3  2
#
#   F = F×A + F×B: n 10, pos 5, tp 3 fp 1 fn 2 tn 4
#       tpr 3/5 = .6, fpr 1/5 = .2, fnr 2/5 = .4, precision 3/4 = .75, selection 4/10 = .4
#   M = M×A + M×B: n 10, pos 5, tp 2 fp 2 fn 3 tn 3
#       tpr 2/5 = .4, fpr 2/5 = .4, fnr 3/5 = .6, precision 2/4 = .5,  selection 4/10 = .4
#   A = F×A + M×A: n 10, pos 5, tp 4 fp 3 fn 1 tn 2
#       tpr 4/5 = .8, fpr 3/5 = .6, fnr 1/5 = .2, precision 4/7,       selection 7/10 = .7
#   B = F×B + M×B: n 10, pos 5, tp 1 fp 0 fn 4 tn 5
#       tpr 1/5 = .2, fpr 0/5 = 0,  fnr 4/5 = .8, precision 1/1 = 1,   selection 1/10 = .1
#
# With min_group_size=10 every sex and ethnic group qualifies (n 10, 5 positives); the cells
# (n 5) are too small. All groups have n 10, so the reference is the first in sort order (F, A).
#   sex: M - F: selection 0, tpr -.2, fpr +.2, fnr +.2, precision -.25
#        M / F: selection 1, tpr 2/3, fpr 2, fnr 1.5, precision 2/3
#        equalized odds = max(|.6 - .4|, |.2 - .4|) = .2; demographic parity = 0
#   ethnicity: B - A: selection -.6, tpr -.6, fpr -.6, fnr +.6, precision 3/7
#        B / A: selection 1/7, tpr 1/4, fpr 0, fnr 4, precision 7/4
#        equalized odds = max(.6, .6) = .6; demographic parity = .6
# ----------------------------------------------------------------------------------------------

# five rows per cell, in the order F×A, F×B, M×A, M×B
HAND_Y = [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0]
HAND_PRED = [1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
HAND_GROUPS = pd.DataFrame({"sex": ["F"] * 10 + ["M"] * 10, "ethnicity": list("AAAAABBBBB") * 2})
INTERSECTION = "sex × ethnicity"


def _counts_row(counts: pd.DataFrame, dimension: str, group: str) -> dict[str, int]:
    row = counts[(counts["dimension"] == dimension) & (counts["group"] == group)]
    assert len(row) == 1
    return {k: int(row[k].iloc[0]) for k in ("n", "positives", "tp", "fp", "fn", "tn")}


def test_hand_counts_per_column_and_intersection() -> None:
    counts = group_counts(HAND_Y, HAND_PRED, HAND_GROUPS)
    assert list(counts["dimension"].unique()) == ["sex", "ethnicity", INTERSECTION]
    expected = {
        ("sex", "F"): (10, 5, 3, 1, 2, 4),
        ("sex", "M"): (10, 5, 2, 2, 3, 3),
        ("ethnicity", "A"): (10, 5, 4, 3, 1, 2),
        ("ethnicity", "B"): (10, 5, 1, 0, 4, 5),
        (INTERSECTION, "F × A"): (5, 3, 2, 1, 1, 1),
        (INTERSECTION, "F × B"): (5, 2, 1, 0, 1, 3),
        (INTERSECTION, "M × A"): (5, 2, 2, 2, 0, 1),
        (INTERSECTION, "M × B"): (5, 3, 0, 0, 3, 2),
    }
    assert len(counts) == len(expected)
    for (dimension, group), cells in expected.items():
        got = _counts_row(counts, dimension, group)
        assert tuple(got.values()) == cells, (dimension, group)


def test_hand_rates_differences_ratios_and_summaries() -> None:
    counts = group_counts(HAND_Y, HAND_PRED, HAND_GROUPS)
    metrics = group_metrics(counts, min_group_size=10, min_outcomes=5)

    sex = metrics["sex"]
    assert sex["reference"] == "F"
    f, m = sex["groups"]["F"], sex["groups"]["M"]
    assert f["count"] == 10 and f["base_rate"] == pytest.approx(0.5)
    assert (f["tpr"], f["fpr"], f["fnr"], f["precision"], f["selection_rate"]) == pytest.approx(
        (0.6, 0.2, 0.4, 0.75, 0.4)
    )
    assert (m["tpr"], m["fpr"], m["fnr"], m["precision"], m["selection_rate"]) == pytest.approx(
        (0.4, 0.4, 0.6, 0.5, 0.4)
    )
    assert m["difference"] == pytest.approx(
        {"selection_rate": 0.0, "tpr": -0.2, "fpr": 0.2, "fnr": 0.2, "precision": -0.25}
    )
    assert m["ratio"] == pytest.approx(
        {"selection_rate": 1.0, "tpr": 2 / 3, "fpr": 2.0, "fnr": 1.5, "precision": 2 / 3}
    )
    assert f["difference"] == pytest.approx(dict.fromkeys(f["difference"], 0.0))
    assert f["ratio"] == pytest.approx(dict.fromkeys(f["ratio"], 1.0))
    assert sex["equalized_odds_difference"] == pytest.approx(0.2)
    assert sex["true_positive_rate_gap"] == pytest.approx(0.2)
    assert sex["false_positive_rate_gap"] == pytest.approx(0.2)
    assert sex["demographic_parity_difference"] == pytest.approx(0.0)
    assert f["outcomes"] == 5 and f["tpr_judged"] and f["fpr_judged"]

    eth = metrics["ethnicity"]
    assert eth["reference"] == "A"
    a, b = eth["groups"]["A"], eth["groups"]["B"]
    assert a["precision"] == pytest.approx(4 / 7)
    assert (b["tpr"], b["fpr"], b["fnr"], b["precision"], b["selection_rate"]) == pytest.approx(
        (0.2, 0.0, 0.8, 1.0, 0.1)
    )
    assert b["difference"] == pytest.approx(
        {"selection_rate": -0.6, "tpr": -0.6, "fpr": -0.6, "fnr": 0.6, "precision": 3 / 7}
    )
    assert b["ratio"] == pytest.approx(
        {"selection_rate": 1 / 7, "tpr": 0.25, "fpr": 0.0, "fnr": 4.0, "precision": 7 / 4}
    )
    assert eth["equalized_odds_difference"] == pytest.approx(0.6)
    assert eth["demographic_parity_difference"] == pytest.approx(0.6)

    cells = metrics[INTERSECTION]
    assert all(g["too_small"] for g in cells["groups"].values())
    assert cells["reference"] is None
    assert cells["equalized_odds_difference"] is None
    assert cells["groups"]["M × B"]["precision"] is None  # nobody selected: undefined, not 0
    assert cells["groups"]["M × B"]["difference"]["tpr"] is None
    assert all(g["roc_auc"] is None for g in sex["groups"].values())  # no scores given

    # the default asks 30 with (and 30 without) the outcome before a rate is judged: none is
    unjudged = group_metrics(counts, min_group_size=10)["sex"]
    assert unjudged["equalized_odds_difference"] is None
    assert not any(g["tpr_judged"] or g["fpr_judged"] for g in unjudged["groups"].values())
    assert unjudged["demographic_parity_difference"] == pytest.approx(0.0)  # not a rate of outcomes


def test_missing_group_values_are_not_recorded_and_never_the_reference() -> None:
    groups = pd.DataFrame({"sex": ["F"] * 30 + [None] * 50, "quintile": [1.0] * 40 + [np.nan] * 40})
    y = np.tile([1, 0], 40)
    counts = group_counts(y, y, groups)
    assert set(counts.loc[counts["dimension"] == "sex", "group"]) == {"F", NOT_RECORDED}
    assert set(counts.loc[counts["dimension"] == "quintile", "group"]) == {"1", NOT_RECORDED}
    assert f"F × {NOT_RECORDED}" not in set(counts["group"])  # F rows all have quintile 1
    assert f"{NOT_RECORDED} × 1" in set(counts["group"])
    metrics = group_metrics(counts, min_group_size=10)
    assert metrics["sex"]["reference"] == "F"  # "not recorded" is larger but not a reference


def test_reference_is_the_largest_group_that_is_not_too_small() -> None:
    counts = pd.DataFrame(
        {
            "dimension": "d",
            "group": ["a", "b", "c", "d"],
            "tp": [10, 40, 3, 900],
            "fp": [10, 20, 30, 0],
            "fn": [10, 40, 1, 0],
            "tn": [70, 100, 200, 0],
        }
    )
    counts["n"] = counts[["tp", "fp", "fn", "tn"]].sum(axis=1)
    counts["positives"] = counts["tp"] + counts["fn"]
    metrics = group_metrics(counts, min_group_size=30)["d"]
    small = {g: v["too_small"] for g, v in metrics["groups"].items()}
    # c is large but has only 4 positives; d is the largest but has no negatives (fpr undefined)
    assert small == {"a": False, "b": False, "c": True, "d": False}
    assert metrics["reference"] == "d"
    # too-small c (tpr .75) is reported, but left out of the summary; d's fpr is undefined
    assert metrics["groups"]["c"]["tpr"] == pytest.approx(0.75)
    assert metrics["groups"]["d"]["fpr"] is None
    # tpr: a .5, b .5, d 1 -> .5; fpr: a .125, b 1/6 -> 1/24
    assert metrics["equalized_odds_difference"] == pytest.approx(0.5)


def test_too_small_groups_are_flagged_not_hidden() -> None:
    rng = np.random.default_rng(3)
    groups = pd.DataFrame({"area": ["big"] * 400 + ["tiny"] * 12 + ["few_positives"] * 100})
    y = np.r_[rng.integers(0, 2, 400), [1] * 6 + [0] * 6, [1] * 4 + [0] * 96]
    pred = rng.integers(0, 2, len(y))
    metrics = group_metrics(group_counts(y, pred, groups), min_group_size=30)["area"]
    assert set(metrics["groups"]) == {"big", "tiny", "few_positives"}
    assert not metrics["groups"]["big"]["too_small"]
    assert metrics["groups"]["tiny"]["too_small"]  # 12 rows < 30
    assert metrics["groups"]["few_positives"]["too_small"]  # 4 positives < 5
    assert metrics["groups"]["tiny"]["tpr"] is not None
    # a true positive rate needs 30 with the outcome: only "big" has them, nothing to compare
    assert metrics["true_positive_rate_gap"] is None
    assert not metrics["groups"]["few_positives"]["tpr_judged"]
    # a false positive rate needs 30 without: "few_positives" has 96, so it is compared
    big, few = metrics["groups"]["big"], metrics["groups"]["few_positives"]
    assert few["fpr_judged"] and not metrics["groups"]["tiny"]["fpr_judged"]  # 12 rows < 30
    assert metrics["equalized_odds_difference"] == pytest.approx(abs(big["fpr"] - few["fpr"]))


# ----------------------------------------------------------------------------------------------
# Agreement with Fairlearn and scikit-learn on a seeded 5,000-row table


@pytest.fixture(scope="module")
def scored() -> pd.DataFrame:
    rng = np.random.default_rng(20180919)
    n = 5000
    sex = rng.choice(["female", "male"], n)
    ethnicity = rng.choice(
        ["Asian", "Black", "Mixed", "Other", "White"], n, p=[0.2, 0.15, 0.1, 0.1, 0.45]
    )
    deprivation = rng.integers(1, 6, n)
    risk = -1.0 + 0.3 * (sex == "male") + 0.2 * deprivation + rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-risk))).astype(int)
    score = 1 / (1 + np.exp(-(risk + rng.normal(0, 1, n) + 0.4 * (ethnicity == "Black"))))
    return pd.DataFrame(
        {
            "outcome": y,
            "score": score,
            "sex": sex,
            "ethnicity": ethnicity,
            "deprivation": deprivation,
        }
    )


def _selection_precision(y_true: Any, y_pred: Any) -> float:
    return float(precision_score(y_true, y_pred, zero_division=0))


FAIRLEARN = {
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "fnr": false_negative_rate,
    "selection_rate": selection_rate,
    "precision": _selection_precision,
}


@pytest.mark.parametrize("columns", [["sex"], ["ethnicity"], ["sex", "ethnicity"]])
def test_rates_agree_with_fairlearn_metricframe(scored: pd.DataFrame, columns: list[str]) -> None:
    y = scored["outcome"].to_numpy()
    pred = select(scored["score"], threshold=0.6).astype(int)
    groups = scored[["sex", "ethnicity"]]
    metrics = group_metrics(
        group_counts(y, pred, groups),
        scores=scored["score"],
        y_true=y,
        groups=groups,
        min_group_size=30,
    )
    frame = MetricFrame(
        metrics=FAIRLEARN, y_true=y, y_pred=pred, sensitive_features=scored[columns]
    )
    dimension = " × ".join(columns)
    ours = metrics[dimension]["groups"]
    assert len(ours) == len(frame.by_group)
    for key, expected in frame.by_group.iterrows():
        name = " × ".join(key) if isinstance(key, tuple) else str(key)
        group = ours[name]
        assert not group["too_small"]
        for metric in FAIRLEARN:
            assert group[metric] == pytest.approx(expected[metric], abs=1e-12), (name, metric)
        values = key if isinstance(key, tuple) else (key,)
        mask = np.logical_and.reduce(
            [scored[c].to_numpy() == v for c, v in zip(columns, values, strict=True)]
        )
        assert group["count"] == int(mask.sum())
        assert group["roc_auc"] == pytest.approx(
            roc_auc_score(y[mask], scored["score"].to_numpy()[mask]), abs=1e-12
        )
    assert metrics[dimension]["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, pred, sensitive_features=scored[columns]), abs=1e-12
    )


def test_audit_overall_agrees_with_sklearn(scored: pd.DataFrame) -> None:
    report = audit_scored_table(
        scored, label="outcome", score="score", sensitive=["sex"], threshold=0.6, n_boot=50
    )
    y, pred = scored["outcome"], (scored["score"] >= 0.6).astype(int)
    overall = report["overall"]
    assert overall["count"] == 5000
    assert overall["base_rate"] == pytest.approx(y.mean())
    assert overall["tpr"] == pytest.approx(true_positive_rate(y, pred))
    assert overall["roc_auc"] == pytest.approx(roc_auc_score(y, scored["score"]))
    assert report["operating_point"] == {"threshold": 0.6, "selected": int(pred.sum())}


# ----------------------------------------------------------------------------------------------
# Bootstrap


def _counts_frame(cells: dict[str, list[int]], dimension: str = "d") -> pd.DataFrame:
    counts = pd.DataFrame(cells)
    counts.insert(0, "group", [f"g{i}" for i in range(len(counts))])
    counts.insert(0, "dimension", dimension)
    counts["n"] = counts[["tp", "fp", "fn", "tn"]].sum(axis=1)
    counts["positives"] = counts["tp"] + counts["fn"]
    return counts


def test_bootstrap_is_deterministic_by_seed(scored: pd.DataFrame) -> None:
    counts = group_counts(scored["outcome"], scored["score"] >= 0.6, scored[["sex", "ethnicity"]])
    first = bootstrap_intervals(counts, n_boot=200, seed=7)
    assert bootstrap_intervals(counts, n_boot=200, seed=7) == first
    assert bootstrap_intervals(counts, n_boot=200, seed=8) != first
    assert set(first) == {"sex", "ethnicity", INTERSECTION}


def test_intervals_contain_the_estimate_for_large_groups(scored: pd.DataFrame) -> None:
    counts = group_counts(scored["outcome"], scored["score"] >= 0.6, scored[["sex", "ethnicity"]])
    metrics = group_metrics(counts, min_group_size=30)
    intervals = bootstrap_intervals(counts, n_boot=500, seed=0)
    for dimension in ("sex", "ethnicity"):
        for group, values in metrics[dimension]["groups"].items():
            assert values["count"] >= 400
            for metric, (lo, hi) in intervals[dimension]["groups"][group].items():
                assert lo <= values[metric] <= hi, (dimension, group, metric)
        lo, hi = intervals[dimension]["equalized_odds_difference"]
        assert lo <= metrics[dimension]["equalized_odds_difference"] <= hi


def test_interval_width_shrinks_with_group_size() -> None:
    base = {"tp": [30], "fp": [20], "fn": [20], "tn": [130]}
    small = bootstrap_intervals(_counts_frame(base), n_boot=1000, seed=1)["d"]["groups"]["g0"]
    large = bootstrap_intervals(
        _counts_frame({k: [v[0] * 25] for k, v in base.items()}), n_boot=1000, seed=1
    )["d"]["groups"]["g0"]
    for metric in ("tpr", "fpr", "fnr", "precision", "selection_rate"):
        assert large[metric][1] - large[metric][0] < 0.5 * (small[metric][1] - small[metric][0])


def test_bootstrap_of_60_groups_and_1000_replicates_is_fast() -> None:
    rng = np.random.default_rng(0)
    counts = _counts_frame({k: list(rng.integers(1, 300, 60)) for k in ("tp", "fp", "fn", "tn")})
    bootstrap_intervals(counts, n_boot=10, seed=0)  # warm up
    start = time.perf_counter()
    result = bootstrap_intervals(counts, n_boot=1000, seed=0)
    assert time.perf_counter() - start < 1.0
    assert len(result["d"]["groups"]) == 60


def test_undefined_rates_in_every_replicate_give_none() -> None:
    counts = _counts_frame({"tp": [0, 10], "fp": [5, 10], "fn": [0, 10], "tn": [5, 10]})
    intervals = bootstrap_intervals(counts, n_boot=50, seed=0)["d"]
    assert intervals["groups"]["g0"]["tpr"] == [None, None]  # g0 has no positives
    assert intervals["equalized_odds_difference"] is None  # g0 is too small


# ----------------------------------------------------------------------------------------------
# Selection


def test_threshold_selects_scores_at_or_above() -> None:
    assert select([0.2, 0.5, 0.7], threshold=0.5).tolist() == [False, True, True]


def test_top_fraction_selects_that_many_with_stable_ties() -> None:
    scores = [0.5, 0.9, 0.5, 0.5, 0.1]
    assert select(scores, top_fraction=0.4).tolist() == [True, True, False, False, False]
    assert select(np.linspace(0, 1, 5000), top_fraction=0.1).sum() == 500
    assert select(np.zeros(10), top_fraction=0.3).tolist() == [True] * 3 + [False] * 7


def test_audit_top_fraction_reports_selected_count(scored: pd.DataFrame) -> None:
    report = audit_scored_table(
        scored, label="outcome", score="score", sensitive=["sex"], top_fraction=0.1, n_boot=20
    )
    assert report["operating_point"] == {"top_fraction": 0.1, "selected": 500}
    assert report["overall"]["selection_rate"] == pytest.approx(0.1)


# ----------------------------------------------------------------------------------------------
# Errors


def test_missing_columns_are_named_with_the_available_ones(scored: pd.DataFrame) -> None:
    with pytest.raises(AuditInputError) as err:
        audit_scored_table(
            scored, label="outcome", score="risk", sensitive=["sex", "age"], threshold=0.5
        )
    available = "['outcome', 'score', 'sex', 'ethnicity', 'deprivation']"
    assert str(err.value) == (
        f"Column 'risk' (score) is not in the table; its columns are {available}\n"
        f"Column 'age' (sensitive) is not in the table; its columns are {available}"
    )
    assert isinstance(err.value, VruError) and isinstance(err.value, ValueError)


def test_non_binary_label_reports_the_count_not_the_values(scored: pd.DataFrame) -> None:
    bad = scored.assign(outcome=scored["outcome"].astype(float))
    bad.loc[:2, "outcome"] = 7.0
    bad.loc[3, "outcome"] = np.nan
    with pytest.raises(AuditInputError) as err:
        audit_scored_table(bad, label="outcome", score="score", sensitive=["sex"], threshold=0.5)
    assert str(err.value) == (
        "Column 'outcome' (label) must hold only 0 and 1; 4 of 5000 values are not 0 or 1"
    )
    assert "7" not in str(err.value).replace("5000", "")


def test_bool_label_is_accepted(scored: pd.DataFrame) -> None:
    as_bool = scored.assign(outcome=scored["outcome"].astype(bool))
    report = audit_scored_table(
        as_bool, label="outcome", score="score", sensitive=["sex"], threshold=0.5, n_boot=10
    )
    assert report["overall"]["base_rate"] == pytest.approx(scored["outcome"].mean())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {},
            "Give exactly one of 'threshold' and 'top_fraction' (got threshold=None, top_fraction=None)",
        ),
        (
            {"threshold": 0.5, "top_fraction": 0.1},
            "Give exactly one of 'threshold' and 'top_fraction' (got threshold=0.5, top_fraction=0.1)",
        ),
        ({"top_fraction": 1.5}, "'top_fraction' must be greater than 0 and at most 1 (got 1.5)"),
        ({"top_fraction": 0}, "'top_fraction' must be greater than 0 and at most 1 (got 0)"),
        ({"threshold": float("nan")}, "'threshold' must be a finite number (got nan)"),
    ],
)
def test_operating_point_errors(
    scored: pd.DataFrame, options: dict[str, float], message: str
) -> None:
    threshold, top_fraction = options.get("threshold"), options.get("top_fraction")
    with pytest.raises(AuditInputError) as err:
        select(scored["score"], threshold=threshold, top_fraction=top_fraction)
    assert str(err.value) == message
    with pytest.raises(AuditInputError) as err:
        audit_scored_table(
            scored,
            label="outcome",
            score="score",
            sensitive=["sex"],
            threshold=threshold,
            top_fraction=top_fraction,
        )
    assert str(err.value) == message


def test_empty_table_non_numeric_and_missing_scores_are_refused(scored: pd.DataFrame) -> None:
    def audit(frame: pd.DataFrame) -> None:
        audit_scored_table(frame, label="outcome", score="score", sensitive=["sex"], threshold=0.5)

    with pytest.raises(
        AuditInputError, match=r"^The table has no rows; there is nothing to audit$"
    ):
        audit(scored.iloc[:0])
    with pytest.raises(AuditInputError) as err:
        audit(scored.assign(score=scored["score"].astype(str)))
    assert str(err.value).startswith("Column 'score' (score) must be numeric; its dtype is ")
    with pytest.raises(AuditInputError) as err:
        audit(scored.assign(score=scored["score"].where(scored.index >= 3)))
    assert str(err.value) == "Column 'score' (score) has 3 missing or infinite values of 5000"
    with pytest.raises(AuditInputError) as err:
        audit_scored_table(scored, label="outcome", score="score", sensitive=[], threshold=0.5)
    assert str(err.value) == "Give at least one sensitive column (got [])"


def test_core_functions_check_their_inputs() -> None:
    with pytest.raises(AuditInputError) as err:
        group_counts([0, 1, 2], [0, 1, 1], pd.DataFrame({"sex": ["F", "M", "F"]}))
    assert str(err.value) == "'y_true' must hold only 0 and 1; 1 of 3 values are not 0 or 1"
    with pytest.raises(AuditInputError) as err:
        group_counts([0, 1], [0, 1, 1], pd.DataFrame({"sex": ["F", "M", "F"]}))
    assert str(err.value) == (
        "'y_true' must be one-dimensional with one value per row of groups (3); got shape (2,)"
    )
    counts = group_counts(HAND_Y, HAND_PRED, HAND_GROUPS)
    with pytest.raises(AuditInputError) as err:
        group_metrics(counts, scores=np.zeros(20), min_group_size=10)
    assert (
        str(err.value) == "Give all of 'scores', 'y_true' and 'groups' for ROC AUC, or none of them"
    )
    with pytest.raises(AuditInputError) as err:
        bootstrap_intervals(counts, n_boot=0, seed=0)
    assert str(err.value) == "'n_boot' must be at least 1 (got 0)"
    with pytest.raises(AuditInputError) as err:
        bootstrap_intervals(counts.drop(columns="tn"), n_boot=10, seed=0)
    assert str(err.value) == "'counts' must be the output of group_counts; missing columns ['tn']"


# ----------------------------------------------------------------------------------------------
# The report: JSON-ready and aggregates only


def _lists(value: Any) -> list[list[Any]]:
    if isinstance(value, dict):
        return [found for v in value.values() for found in _lists(v)]
    if isinstance(value, list):
        return [value, *(found for v in value for found in _lists(v))]
    return []


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_report_is_json_ready_and_holds_no_rows(scored: pd.DataFrame) -> None:
    frame = scored.assign(ethnicity=scored["ethnicity"].where(scored.index % 50 != 0))
    report = audit_scored_table(
        frame,
        label="outcome",
        score="score",
        sensitive=["sex", "ethnicity", "deprivation"],
        threshold=0.6,
        n_boot=100,
    )
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert all(type(leaf) in (int, float, str, bool, type(None)) for leaf in _leaves(report))
    assert max(len(found) for found in _lists(report)) <= 100
    assert all(len(found) == 2 for found in _lists(report))  # only [lo, hi] intervals
    assert report["rows"] == 5000
    assert set(report["by"]) == {"sex", "ethnicity", "deprivation", "sex × ethnicity × deprivation"}
    assert NOT_RECORDED in report["by"]["ethnicity"]
    assert set(report["by"]["deprivation"]) == {"1", "2", "3", "4", "5"}
    group = report["by"]["sex"]["male"]
    assert set(group) == {
        "count", "outcomes", "base_rate", "selection_rate", "tpr", "fpr", "fnr", "precision",
        "roc_auc", "too_small", "tpr_judged", "fpr_judged", "withheld", "difference", "ratio",
        "ci", "aequitas",
    }  # fmt: skip
    summary = report["summary"]["ethnicity"]
    assert summary["reference"] == "White"
    assert 0 < summary["equalized_odds_p_value"] <= 1
    assert "equalized_odds_difference_ci" not in summary  # the biased interval is gone
    assert summary["demographic_parity_difference"] > 0


def test_groups_below_the_disclosure_threshold_keep_only_their_count(
    scored: pd.DataFrame,
) -> None:
    # three people of a group of their own: their rates would say who was selected and who
    # had the outcome, so only the count and the flags are shown
    frame = scored.assign(ethnicity=scored["ethnicity"].where(scored.index >= 3, "Gypsy"))
    options = {"label": "outcome", "score": "score", "threshold": 0.6, "n_boot": 20}
    shown = audit_scored_table(frame, sensitive=["ethnicity"], **options)
    hidden = audit_scored_table(frame, sensitive=["ethnicity"], withhold_below=10, **options)

    tiny = hidden["by"]["ethnicity"]["Gypsy"]
    assert tiny["count"] == 3 and tiny["too_small"] and tiny["withheld"]
    assert all(tiny[m] is None for m in ("base_rate", "selection_rate", "tpr", "fpr", "roc_auc"))
    assert set(tiny["difference"].values()) == {None} and set(tiny["ratio"].values()) == {None}
    assert all(bounds == [None, None] for bounds in tiny["ci"].values())
    assert shown["by"]["ethnicity"]["Gypsy"]["base_rate"] is not None
    assert not shown["by"]["ethnicity"]["Gypsy"]["withheld"]
    # groups at or above the threshold, and the summary, are untouched
    for name, group in hidden["by"]["ethnicity"].items():
        if name != "Gypsy":
            assert not group["withheld"] and group == shown["by"]["ethnicity"][name]
    assert hidden["summary"] == shown["summary"] and hidden["overall"] == shown["overall"]


# ----------------------------------------------------------------------------------------------
# two-way intersections

PAIRS = [["sex", "ethnicity"], ["sex", "quintile"], ["ethnicity", "quintile"]]


@pytest.fixture(scope="module")
def three_columns() -> pd.DataFrame:
    """3,000 scored rows with sex, ethnicity (one rare group) and a deprivation quintile."""
    rng = np.random.default_rng(5)
    n = 3_000
    return pd.DataFrame(
        {
            "sex": rng.choice(["female", "male"], n),
            "ethnicity": rng.choice(["A", "B", "C", "rare"], n, p=[0.6, 0.25, 0.145, 0.005]),
            "quintile": rng.choice(["Q1", "Q2", "Q3", "Q4", "Q5"], n),
            "label": rng.binomial(1, 0.2, n),
            "score": rng.uniform(size=n),
        }
    )


def test_every_pair_is_audited_beside_the_full_intersection(three_columns: pd.DataFrame) -> None:
    everything = ["sex", "ethnicity", "quintile"]
    result = audit_scored_table(
        three_columns,
        label="label",
        score="score",
        sensitive=everything,
        top_fraction=0.1,
        n_boot=20,
        withhold_below=10,
        intersections=[*PAIRS, everything],
    )
    assert list(result["by"]) == [
        *everything,
        "sex × ethnicity",
        "sex × quintile",
        "ethnicity × quintile",
        "sex × ethnicity × quintile",
    ]
    for dimension, groups in result["by"].items():
        assert sum(g["count"] for g in groups.values()) == len(three_columns), dimension
        assert dimension in result["summary"]
    pair = result["by"]["sex × ethnicity"]
    assert set(pair) == {f"{s} × {e}" for s in ("female", "male") for e in ("A", "B", "C", "rare")}
    rare = pair["female × rare"]
    assert rare["too_small"] is True
    assert rare["withheld"] == (rare["count"] < 10)
    big = pair["male × A"]
    assert big["too_small"] is False and big["withheld"] is False and big["tpr"] is not None
    assert big["roc_auc"] is not None  # the within-group AUC is computed for pairs too
    counts = group_counts(
        three_columns["label"], three_columns["score"] > 0.9, three_columns[everything], PAIRS
    )
    hand = three_columns.groupby(["ethnicity", "quintile"]).size()
    pairs_counted = counts[counts["dimension"] == "ethnicity × quintile"].set_index("group")["n"]
    assert pairs_counted["C × Q3"] == hand[("C", "Q3")]


def test_by_default_only_the_full_intersection_is_audited(three_columns: pd.DataFrame) -> None:
    result = audit_scored_table(
        three_columns,
        label="label",
        score="score",
        sensitive=["sex", "ethnicity", "quintile"],
        top_fraction=0.1,
        n_boot=5,
    )
    assert [d for d in result["by"] if " × " in d] == ["sex × ethnicity × quintile"]


@pytest.mark.parametrize("intersection", [["sex"], ["sex", "sex"], ["sex", "postcode"]], ids=str)
def test_an_intersection_that_is_not_of_sensitive_columns_is_refused(
    three_columns: pd.DataFrame, intersection: list[str]
) -> None:
    with pytest.raises(AuditInputError, match="must name two or more distinct sensitive columns"):
        audit_scored_table(
            three_columns,
            label="label",
            score="score",
            sensitive=["sex", "ethnicity"],
            top_fraction=0.1,
            n_boot=5,
            intersections=[intersection],
        )
