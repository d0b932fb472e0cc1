"""Mitigation options compared on biased synthetic data: Fairlearn's rules narrow the gap."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from governance.config import MitigationConfig
from governance.mitigation import MitigationData, MitigationError, compare_mitigations


def _split(n: int, seed: int) -> MitigationData:
    """Group b's outcomes are as likely as a's, but the score over-rates them."""
    rng = np.random.default_rng(seed)
    group = pd.Series(rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.35, 0.05]))
    x = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"f{i}" for i in range(6)])
    x.loc[rng.random(n) < 0.05, "f2"] = np.nan
    z = -3.0 + 1.2 * x["f0"].to_numpy() + 0.6 * x["f1"].fillna(0).to_numpy()
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    bias = np.where(group == "b", 1.0, 0.0)
    x["f5"] = bias + rng.normal(scale=0.3, size=n)  # a proxy of the group among the inputs
    scores = 1 / (1 + np.exp(-(z + bias)))
    return MitigationData(x, y, scores, group)


CONFIG = MitigationConfig(max_rows=4_000, exponentiated_gradient_max_iter=10)


def test_fairlearn_options_narrow_the_gap_of_the_best_single_threshold() -> None:
    result = compare_mitigations(
        _split(5_000, 1), _split(5_000, 2), CONFIG, top_fraction=0.1, seed=3
    )
    rows = {row["method"]: row for row in result["rows"]}
    assert list(rows) == [
        "unmitigated (top k%)",
        "unmitigated (best single threshold)",
        "ThresholdOptimizer",
        "ExponentiatedGradient",
    ]
    assert rows["unmitigated (top k%)"]["selection_rate"] == pytest.approx(0.1, abs=1e-3)
    base = rows["unmitigated (best single threshold)"]["equalized_odds_difference"]
    assert rows["ThresholdOptimizer"]["equalized_odds_difference"] < base
    assert rows["ExponentiatedGradient"]["equalized_odds_difference"] is not None
    for row in rows.values():
        assert set(row["by_group"]) == {"a", "b", "c"}
    assert result["fit_rows"] == 4_000 and result["merged_small_groups"] == []
    json.dumps(result)  # plain data only


def test_same_seed_same_figures_and_small_groups_merged() -> None:
    fit, evaluate = _split(3_000, 4), _split(3_000, 5)
    tiny = fit.sensitive.copy()
    tiny.iloc[:10] = "d"
    fit = MitigationData(fit.x, fit.y, fit.scores, tiny)
    first = compare_mitigations(fit, evaluate, CONFIG, top_fraction=0.05, seed=9)
    again = compare_mitigations(fit, evaluate, CONFIG, top_fraction=0.05, seed=9)
    first.pop("seconds"), again.pop("seconds")
    assert first == again
    assert "d" in first["merged_small_groups"]


def test_bad_input_names_the_split_and_field() -> None:
    good = _split(500, 6)
    short = MitigationData(good.x, good.y[:10], good.scores, good.sensitive)
    with pytest.raises(MitigationError, match=r"fit.y has 10 rows; expected 500"):
        compare_mitigations(short, good, CONFIG, top_fraction=0.1, seed=1)
    nan = MitigationData(good.x, good.y, np.full(500, np.nan), good.sensitive)
    with pytest.raises(MitigationError, match=r"evaluate\.scores has missing"):
        compare_mitigations(good, nan, CONFIG, top_fraction=0.1, seed=1)
    with pytest.raises(MitigationError, match=r"top_fraction must be in"):
        compare_mitigations(good, good, CONFIG, top_fraction=1.5, seed=1)
