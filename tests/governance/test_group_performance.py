"""Calibration and threshold sweeps by group: hand counts, known calibration, the fairness tables."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.audit.fairness import NOT_RECORDED, audit_scored_table
from governance.audit.group_performance import (
    GroupPerformanceError,
    calibration_by_group,
    calibration_png,
    group_codes,
    threshold_sweep,
    thresholds_png,
)
from governance.contracts.errors import VruError

PNG = b"\x89PNG\r\n\x1a\n"

# ----------------------------------------------------------------------------------------------
# A hand-computed example: 20 rows, 2 bins (the median of the scores, 0.4, splits them).
#
#   rows   score  y               group
#   0-4    0.1    1 1 1 0 0       a
#   5-9    0.1    0 0 0 0 0       b
#   10-14  0.7    1 1 1 1 1       a
#   15-19  0.7    0 0 0 0 0       b
#
#   overall: low bin  mean 0.1, observed 3/10 = 0.3 -> |0.1 - 0.3| = 0.2
#            high bin mean 0.7, observed 5/10 = 0.5 -> |0.7 - 0.5| = 0.2
#            ECE = 10/20 × 0.2 + 10/20 × 0.2 = 0.2
#   a:       low  0.1 vs 3/5 = 0.6 -> 0.5;  high 0.7 vs 5/5 = 1.0 -> 0.3
#            ECE = 5/10 × 0.5 + 5/10 × 0.3 = 0.4
#   b:       no positives: too small (fewer than 5), ECE not computed
# ----------------------------------------------------------------------------------------------
HAND_Y = np.array([1, 1, 1, 0, 0] + [0] * 5 + [1] * 5 + [0] * 5)
HAND_S = np.array([0.1] * 10 + [0.7] * 10)
HAND_GROUPS = pd.DataFrame({"g": ["a"] * 5 + ["b"] * 5 + ["a"] * 5 + ["b"] * 5})


def _city(n: int = 6_000, seed: int = 5) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Three groups with different base rates; the score over-predicts group b."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1])
    sex = rng.choice(["F", "M"], size=n)
    quintile = np.where(rng.random(n) < 0.05, np.nan, rng.integers(1, 6, n).astype(float))
    risk = rng.beta(1, 12, n) * np.where(group == "c", 1.5, 1.0)
    y = (rng.random(n) < risk).astype(int)
    score = np.where(group == "b", np.minimum(risk * 1.8, 1.0), risk)
    return y, score, pd.DataFrame({"group": group, "sex": sex, "quintile": quintile})


def test_ece_and_bins_equal_the_hand_computation() -> None:
    result = calibration_by_group(HAND_Y, HAND_S, HAND_GROUPS, bins=2, min_group_size=1)
    overall = result["overall"]
    assert overall["ece"] == pytest.approx(0.2)
    assert overall["count"] == 20 and overall["positives"] == 8
    assert overall["mean_predicted"] == pytest.approx(0.4)
    assert overall["observed_rate"] == pytest.approx(0.4)
    assert overall["deciles"] == [
        {"predicted": pytest.approx(0.1), "observed": pytest.approx(0.3), "count": 10},
        {"predicted": pytest.approx(0.7), "observed": pytest.approx(0.5), "count": 10},
    ]
    a, b = result["by"]["g"]["a"], result["by"]["g"]["b"]
    assert a["ece"] == pytest.approx(0.4) and a["too_small"] is False
    assert [d["count"] for d in a["deciles"]] == [5, 5]
    # flagged, not hidden: the count stays; figures about its few people are withheld
    assert b == {
        "count": 10,
        "positives": None,
        "mean_predicted": None,
        "observed_rate": None,
        "ece": None,
        "too_small": True,
        "deciles": None,
    }
    json.dumps(result)


def test_calibrated_scores_have_small_ece_and_miscalibrated_ones_do_not() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    s = rng.uniform(0.01, 0.5, n)
    groups = pd.DataFrame({"g": rng.choice(["x", "y"], n)})
    calibrated = (rng.random(n) < s).astype(int)
    halved = (rng.random(n) < s / 2).astype(int)
    good = calibration_by_group(calibrated, s, groups, min_group_size=30)
    bad = calibration_by_group(halved, s, groups, min_group_size=30)
    assert good["overall"]["ece"] < 0.01
    assert bad["overall"]["ece"] > 0.1
    assert len(good["overall"]["deciles"]) == 10
    assert all(abs(d["count"] - n / 10) <= 1 for d in good["overall"]["deciles"])
    for g in ("x", "y"):
        assert good["by"]["g"][g]["ece"] < 0.015 < bad["by"]["g"][g]["ece"]


def test_the_over_predicted_group_is_found_and_small_groups_are_flagged() -> None:
    y, s, groups = _city()
    result = calibration_by_group(y, s, groups, min_group_size=700)
    by = result["by"]
    assert by["group"]["b"]["ece"] > 3 * by["group"]["a"]["ece"]
    assert by["group"]["c"]["too_small"] is True and by["group"]["c"]["ece"] is None
    assert by["group"]["c"]["count"] == int(np.sum(groups["group"] == "c"))
    # dimensions and group names as the fairness audit names them
    assert list(by) == ["group", "sex", "quintile", "group × sex × quintile"]
    assert list(by["quintile"]) == ["1", "2", "3", "4", "5", NOT_RECORDED]
    assert "b × F × 3" in by["group × sex × quintile"]
    assert sum(e["count"] for e in by["group × sex × quintile"].values()) == len(y)


def test_the_sweep_equals_the_fairness_table_at_each_fraction() -> None:
    y, s, groups = _city()
    fractions = [0.2, 0.01, 0.05]  # reported in the order given
    sweep = threshold_sweep(y, s, groups, fractions=fractions, min_group_size=30)
    table = groups.assign(label=y, score=s)
    for i, fraction in enumerate(fractions):
        audit = audit_scored_table(
            table,
            label="label",
            score="score",
            sensitive=["group", "sex", "quintile"],
            top_fraction=fraction,
            n_boot=1,
        )
        assert list(audit["by"]) == list(sweep)
        for dimension, members in audit["by"].items():
            assert sweep[dimension]["fractions"] == fractions
            assert list(members) == list(sweep[dimension]["groups"])
            for name, row in members.items():
                ours = sweep[dimension]["groups"][name]
                assert ours["count"] == row["count"]
                assert ours["too_small"] == row["too_small"]
                for rate in ("selection_rate", "tpr", "fpr", "precision"):
                    if row[rate] is None:
                        assert ours[rate][i] is None, (dimension, name, rate)
                    else:
                        assert ours[rate][i] == pytest.approx(row[rate], abs=1e-12)
    json.dumps(sweep)


def test_undefined_rates_are_none() -> None:
    sweep = threshold_sweep(HAND_Y, HAND_S, HAND_GROUPS, fractions=[0.05, 1.0], min_group_size=1)
    b = sweep["g"]["groups"]["b"]
    assert b["too_small"] is True
    assert b["tpr"] == [None, None]  # no positives
    assert b["precision"][0] is None  # no one selected at the top 5%
    assert b["selection_rate"] == [0.0, 1.0] and b["fpr"] == [0.0, 1.0]


def test_sweep_withholds_the_rates_of_groups_below_the_threshold() -> None:
    sweep = threshold_sweep(
        HAND_Y, HAND_S, HAND_GROUPS, fractions=[0.05, 1.0], min_group_size=1, withhold_below=10
    )
    both = sweep["g"]["groups"]
    assert both["a"]["withheld"] is False and both["a"]["selection_rate"] == [0.1, 1.0]
    sweep = threshold_sweep(
        HAND_Y, HAND_S, HAND_GROUPS, fractions=[0.05, 1.0], min_group_size=1, withhold_below=11
    )
    a = sweep["g"]["groups"]["a"]
    assert a["count"] == 10 and a["withheld"] is True
    assert all(a[rate] == [None, None] for rate in ("selection_rate", "tpr", "fpr", "precision"))


def test_intersection_of_many_groups_is_fast() -> None:
    rng = np.random.default_rng(1)
    n = 200_000
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "ethnicity": rng.choice(list("ABCDE"), n),
            "quintile": rng.integers(1, 7, n),
        }
    )
    s = rng.beta(1, 10, n)
    y = (rng.random(n) < s).astype(int)
    start = time.perf_counter()
    calibration = calibration_by_group(y, s, groups, min_group_size=30)
    sweep = threshold_sweep(y, s, groups, fractions=[0.01, 0.02, 0.05, 0.1, 0.2], min_group_size=30)
    elapsed = time.perf_counter() - start
    assert len(calibration["by"]["sex × ethnicity × quintile"]) == 60
    assert len(sweep["sex × ethnicity × quintile"]["groups"]) == 60
    assert elapsed < 5.0  # about 0.2 s; generous for a busy machine


def test_group_codes_match_the_fairness_labels() -> None:
    frame = pd.DataFrame({"s": ["M", None, "F"], "q": [2.0, np.nan, 2.0]})
    codes = group_codes(frame)
    names = {d: [labels[c] for c in index] for d, (index, labels) in codes.items()}
    assert names == {
        "s": ["M", NOT_RECORDED, "F"],
        "q": ["2", NOT_RECORDED, "2"],
        "s × q": ["M × 2", f"{NOT_RECORDED} × {NOT_RECORDED}", "F × 2"],
    }
    assert codes["s"][1] == ["F", "M", NOT_RECORDED]


def test_figures_are_png_and_skip_small_groups(tmp_path: Path) -> None:
    y, s, groups = _city(2_000)
    calibration = calibration_by_group(y, s, groups, min_group_size=30)
    sweep = threshold_sweep(y, s, groups, fractions=[0.01, 0.1, 0.05], min_group_size=30)
    paths = [
        calibration_png(calibration, "group", tmp_path / "calibration.png"),
        thresholds_png(sweep, "group", tmp_path / "thresholds.png"),
        # every intersectional cell of the hand example is too small: still a figure
        calibration_png(
            calibration_by_group(HAND_Y, HAND_S, HAND_GROUPS, bins=2, min_group_size=50),
            "g",
            str(tmp_path / "empty.png"),
        ),
    ]
    for path in paths:
        assert isinstance(path, Path)
        assert path.read_bytes()[:8] == PNG


def test_bad_input_names_the_parameter(tmp_path: Path) -> None:
    y, s, groups = _city(500)
    with pytest.raises(
        GroupPerformanceError,
        match=r"'scores' must be one-dimensional .* \(500\); got shape \(3,\)",
    ):
        threshold_sweep(y, s[:3], groups, fractions=[0.1], min_group_size=30)
    with pytest.raises(GroupPerformanceError, match=r"'y_true' must hold only 0 and 1; 1 of 500"):
        calibration_by_group(np.r_[y[:-1], 2], s, groups, min_group_size=30)
    with pytest.raises(
        GroupPerformanceError, match=r"'scores' has 1 missing or infinite values of 500"
    ):
        calibration_by_group(y, np.r_[s[:-1], np.inf], groups, min_group_size=30)
    with pytest.raises(GroupPerformanceError, match=r"'fractions' must be numbers .*; got 0.0"):
        threshold_sweep(y, s, groups, fractions=[0.1, 0.0], min_group_size=30)
    with pytest.raises(GroupPerformanceError, match=r"'fractions' must hold at least one"):
        threshold_sweep(y, s, groups, fractions=[], min_group_size=30)
    with pytest.raises(
        GroupPerformanceError, match=r"'bins' must be a whole number of at least 1 \(got 0\)"
    ):
        calibration_by_group(y, s, groups, bins=0, min_group_size=30)
    with pytest.raises(GroupPerformanceError, match=r"'groups' must have at least one column"):
        calibration_by_group(y, s, groups[[]], min_group_size=30)
    sweep = threshold_sweep(y, s, groups, fractions=[0.1], min_group_size=30)
    with pytest.raises(
        GroupPerformanceError,
        match=r"'dimension' 'age' is not in the result; its dimensions are \['group'",
    ):
        thresholds_png(sweep, "age", tmp_path / "x.png")
    with pytest.raises(
        VruError, match=r"'calibration_result' is not the output of calibration_by_group"
    ):
        calibration_png(sweep, "group", tmp_path / "x.png")
    assert issubclass(GroupPerformanceError, ValueError)


def test_group_codes_and_the_sweep_give_each_chosen_pair() -> None:
    """Pairs of sensitive columns are coded as the fairness audit counts them."""
    rng = np.random.default_rng(3)
    n = 400
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["female", "male"], n),
            "ethnicity": rng.choice(["A", "B", None], n),
            "quintile": rng.choice([1.0, 2.0, np.nan], n),
        }
    )
    pairs = [["sex", "ethnicity"], ["ethnicity", "quintile"]]
    coded = group_codes(groups, pairs)
    assert list(coded) == [
        "sex",
        "ethnicity",
        "quintile",
        "sex × ethnicity",
        "ethnicity × quintile",
    ]
    codes, names = coded["ethnicity × quintile"]
    expected = (
        groups["ethnicity"].fillna("not recorded")
        + " × "
        + (groups["quintile"].astype("Int64").astype("string").fillna("not recorded"))
    )
    assert [names[c] for c in codes] == expected.tolist()
    assert names == sorted(names, key=lambda g: tuple(g.split(" × ")))
    y = rng.binomial(1, 0.3, n)
    sweep = threshold_sweep(
        y,
        rng.uniform(size=n),
        groups,
        fractions=[0.1],
        min_group_size=30,
        withhold_below=10,
        intersections=pairs,
    )
    counted = sweep["sex × ethnicity"]["groups"]
    assert sum(g["count"] for g in counted.values()) == n
    with pytest.raises(VruError, match="must name two or more distinct sensitive columns"):
        group_codes(groups, [["sex", "age"]])
