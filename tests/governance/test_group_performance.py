"""Calibration and threshold sweeps by group, against hand counts and the fairness tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.fairness import audit_scored_table
from governance.group_performance import (
    GroupPerformanceError,
    calibration_by_group,
    calibration_png,
    threshold_sweep,
    thresholds_png,
)


def _biased(n: int = 6_000, seed: int = 5) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1])
    sex = rng.choice(["F", "M"], size=n)
    risk = rng.beta(1, 12, n)
    y = (rng.random(n) < risk).astype(int)
    score = np.where(group == "b", np.minimum(risk * 1.8, 1.0), risk)  # over-predicts b
    return y, score, pd.DataFrame({"group": group, "sex": sex})


def test_ece_by_hand_on_a_tiny_example() -> None:
    # five copies of eight rows, so that the group has enough positives to be judged
    y = np.tile([0, 0, 1, 0, 1, 1, 0, 1], 5)
    s = np.tile([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9], 5)
    groups = pd.DataFrame({"g": ["x"] * 40})
    result = calibration_by_group(y, s, groups, bins=2, min_group_size=1)
    # bins: lower half {0.1..0.4} mean 0.25 observed 0.25; upper {0.6..0.9} mean 0.75 obs 0.75
    overall = result["overall"]
    assert overall["ece"] == pytest.approx(0.0)
    y2 = np.tile([1, 1, 1, 1, 0, 0, 0, 0], 5)
    r2 = calibration_by_group(y2, s, groups, bins=2, min_group_size=1)["overall"]
    assert r2["ece"] == pytest.approx(0.5 * abs(0.25 - 1.0) + 0.5 * abs(0.75 - 0.0))
    assert [d["count"] for d in r2["deciles"]] == [20, 20]


def test_miscalibration_of_one_group_is_found_and_small_groups_flagged() -> None:
    y, s, groups = _biased()
    result = calibration_by_group(y, s, groups, min_group_size=700)
    by = result["by"]["group"]
    assert by["b"]["ece"] > 3 * by["a"]["ece"]
    assert by["c"]["too_small"] is True and by["c"]["ece"] is None and by["c"]["count"] > 0
    assert "group × sex" in result["by"]


def test_the_sweep_equals_the_fairness_table_at_each_fraction() -> None:
    y, s, groups = _biased()
    sweep = threshold_sweep(y, s, groups, fractions=[0.05, 0.2], min_group_size=30)
    for i, fraction in enumerate([0.05, 0.2]):
        table = audit_scored_table(
            groups.assign(label=y, score=s),
            label="label",
            score="score",
            sensitive=["group", "sex"],
            top_fraction=fraction,
            n_boot=1,
        )
        for dimension, members in table["by"].items():
            for name, row in members.items():
                ours = sweep[dimension]["groups"][name]
                for rate in ("selection_rate", "tpr", "fpr", "precision"):
                    assert ours[rate][i] == pytest.approx(row[rate]), (dimension, name, rate)


def test_figures_and_bad_input(tmp_path: Path) -> None:
    y, s, groups = _biased(2_000)
    cal = calibration_by_group(y, s, groups, min_group_size=30)
    sweep = threshold_sweep(y, s, groups, fractions=[0.01, 0.1], min_group_size=30)
    for path in (
        calibration_png(cal, "group", tmp_path / "c.png"),
        thresholds_png(sweep, "group", tmp_path / "t.png"),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(GroupPerformanceError, match="'scores' has 3 values"):
        threshold_sweep(y, s[:3], groups, fractions=[0.1], min_group_size=30)
    with pytest.raises(GroupPerformanceError, match="'fractions' must be numbers in"):
        threshold_sweep(y, s, groups, fractions=[0.0], min_group_size=30)
    with pytest.raises(GroupPerformanceError, match="no dimension 'age'"):
        thresholds_png(sweep, "age", tmp_path / "x.png")
