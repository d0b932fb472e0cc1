"""Mitigation options compared on biased synthetic data: Fairlearn's rules narrow the gap."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from governance.audit.fairness import select
from governance.audit.mitigation import (
    SMALL_GROUPS,
    MitigationConfig,
    MitigationData,
    MitigationError,
    compare_mitigations,
)
from governance.contracts.errors import VruError

METHODS = [
    "unmitigated (top k%)",
    "unmitigated (best single threshold)",
    "ThresholdOptimizer",
    "ExponentiatedGradient",
]
FIGURES = (
    "accuracy",
    "balanced_accuracy",
    "selection_rate",
    "tpr",
    "fpr",
    "equalized_odds_difference",
    "demographic_parity_difference",
    "true_positive_rate_difference",
)
CONFIG = MitigationConfig(max_rows=3_000, exponentiated_gradient_max_iter=10)


def _split(n: int, seed: int) -> MitigationData:
    """Three groups with different base rates; the score under-rates group c's risk."""
    rng = np.random.default_rng(seed)
    group = pd.Series(rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]))
    x = pd.DataFrame(rng.normal(size=(n, 10)), columns=[f"f{i}" for i in range(10)])
    x.loc[rng.random(n) < 0.05, "f3"] = np.nan
    base = group.map({"a": -2.2, "b": -1.6, "c": -2.6}).to_numpy()
    z = base + 1.0 * x["f0"].to_numpy() + 0.6 * x["f1"].to_numpy() - 0.4 * x["f2"].to_numpy()
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    x["f9"] = (group == "c") + rng.normal(scale=0.5, size=n)  # a proxy of the group
    scores = 1 / (1 + np.exp(-(z - 1.2 * (group == "c").to_numpy())))
    return MitigationData(x, y, scores, group)


@pytest.fixture(scope="module")
def splits() -> tuple[MitigationData, MitigationData]:
    return _split(3_000, 1), _split(3_000, 2)


@pytest.fixture(scope="module")
def result(splits: tuple[MitigationData, MitigationData]) -> dict[str, object]:
    return compare_mitigations(*splits, CONFIG, top_fraction=0.1, seed=3)


def test_the_fairlearn_options_narrow_the_gap_of_the_best_single_threshold(
    result: dict[str, object],
) -> None:
    rows = {row["method"]: row for row in result["rows"]}  # type: ignore[attr-defined]
    assert list(rows) == METHODS
    best = rows["unmitigated (best single threshold)"]
    optimizer = rows["ThresholdOptimizer"]
    reduction = rows["ExponentiatedGradient"]
    assert best["equalized_odds_difference"] > 0.4  # the bias is there
    assert optimizer["equalized_odds_difference"] < best["equalized_odds_difference"] / 2
    assert reduction["equalized_odds_difference"] < best["equalized_odds_difference"]
    for row in rows.values():
        assert row["note"] is None
        assert isinstance(row["description"], str) and row["description"].endswith(".")
        assert all(isinstance(row[f], float) for f in FIGURES)
        assert set(row["by_group"]) == {"a", "b", "c"}
        assert all(not g["too_small"] for g in row["by_group"].values())


def test_the_result_is_plain_data_about_the_evaluated_split(result: dict[str, object]) -> None:
    assert result["available"] is True
    assert result["constraint"] == "equalized_odds"
    assert result["objective"] == "balanced_accuracy_score"
    assert result["attribute"] == "ethnicity"
    assert result["fit_rows"] == 3_000 and result["evaluated_rows"] == 3_000
    assert result["merged_small_groups"] == []
    assert result["small_groups_folded_into"] is None
    assert isinstance(result["seconds"], float)
    json.dumps(result)


def test_the_figures_agree_with_fairlearn(
    splits: tuple[MitigationData, MitigationData], result: dict[str, object]
) -> None:
    _, evaluate = splits
    top = select(evaluate.scores, top_fraction=0.1).astype(int)
    row = result["rows"][0]  # type: ignore[index]
    assert row["selection_rate"] == pytest.approx(0.1, abs=1e-9)
    assert row["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(evaluate.y, top, sensitive_features=evaluate.sensitive)
    )
    assert row["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(evaluate.y, top, sensitive_features=evaluate.sensitive)
    )
    c = evaluate.sensitive == "c"
    assert row["by_group"]["c"]["count"] == int(c.sum())
    assert row["by_group"]["c"]["tpr"] == pytest.approx(top[c & (evaluate.y == 1)].mean())


def test_same_seed_same_result() -> None:
    fit, evaluate = _split(2_000, 4), _split(2_000, 5)
    config = MitigationConfig(max_rows=1_500, exponentiated_gradient_max_iter=5)
    first = compare_mitigations(fit, evaluate, config, top_fraction=0.05, seed=9)
    again = compare_mitigations(fit, evaluate, config, top_fraction=0.05, seed=9)
    first.pop("seconds"), again.pop("seconds")
    assert first == again
    assert first["fit_rows"] == 1_500
    # sampled within each label: the outcome rate is kept
    assert first["rows"][0]["by_group"]


def test_small_groups_are_merged_for_the_constraint_and_still_reported() -> None:
    fit, evaluate = _split(2_000, 6), _split(2_000, 7)
    tiny_fit = fit.sensitive.copy()
    tiny_fit.iloc[:20] = "d"  # 20 rows in fit: too few to set thresholds for
    tiny_fit.iloc[20:25] = None  # missing: "not recorded", also small
    tiny_eval = evaluate.sensitive.copy()
    tiny_eval.iloc[:40] = "e"  # never seen in fit
    config = MitigationConfig(max_rows=2_000, exponentiated_gradient_max_iter=5)
    result = compare_mitigations(
        replace(fit, sensitive=tiny_fit),
        replace(evaluate, sensitive=tiny_eval),
        config,
        top_fraction=0.1,
        seed=1,
    )
    assert result["merged_small_groups"] == ["d", "e", "not recorded"]
    # the merged group (25 rows in fit) is itself too small: constrained with the largest
    assert result["small_groups_folded_into"] == "a"
    for row in result["rows"]:
        assert row["note"] is None
        # reported by the evaluated split's own groups, each flagged if too small to judge
        assert set(row["by_group"]) == {"a", "b", "c", "e"}
        assert row["by_group"]["e"]["count"] == 40
        assert SMALL_GROUPS not in row["by_group"]


def test_a_method_fairlearn_cannot_fit_gives_a_note(
    splits: tuple[MitigationData, MitigationData], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fairlearn.postprocessing import ThresholdOptimizer

    def degenerate(*args: object, **kwargs: object) -> None:
        raise ValueError("Degenerate labels for sensitive feature value c")

    monkeypatch.setattr(ThresholdOptimizer, "fit", degenerate)
    config = MitigationConfig(max_rows=1_000, exponentiated_gradient_max_iter=3)
    result = compare_mitigations(*splits, config, top_fraction=0.1, seed=3)
    row = result["rows"][2]
    assert row["method"] == "ThresholdOptimizer"
    assert all(row[f] is None for f in FIGURES) and row["by_group"] == {}
    assert "Degenerate labels" in row["note"]
    assert result["rows"][3]["note"] is None


def test_true_positive_rate_parity_and_accuracy() -> None:
    config = MitigationConfig(
        constraint="true_positive_rate_parity",
        objective="accuracy_score",
        max_rows=1_500,
        exponentiated_gradient_max_iter=5,
    )
    result = compare_mitigations(
        _split(1_500, 8), _split(1_500, 9), config, top_fraction=0.1, seed=0
    )
    rows = {row["method"]: row for row in result["rows"]}
    assert result["constraint"] == "true_positive_rate_parity"
    assert "accuracy" in rows["ThresholdOptimizer"]["description"]
    assert (
        rows["ThresholdOptimizer"]["true_positive_rate_difference"]
        < rows["unmitigated (best single threshold)"]["true_positive_rate_difference"]
    )


def test_bad_input_names_the_parameter() -> None:
    good = _split(500, 10)
    cases: list[tuple[MitigationData, MitigationData, str]] = [
        (
            replace(good, y=good.y[:10]),
            good,
            r"'fit.y' must be one-dimensional with one value per row of 'fit.x' \(500\); got shape \(10,\)",
        ),
        (
            good,
            replace(good, y=np.r_[good.y[:-1], 2]),
            r"'evaluate.y' must hold only 0 and 1; 1 of 500",
        ),
        (replace(good, y=np.zeros(500, dtype=int)), good, r"'fit.y' must hold both outcomes"),
        (good, replace(good, scores=np.full(500, np.nan)), r"'evaluate.scores' has 500 missing"),
        (
            replace(good, scores=good.scores * 3),
            good,
            r"'fit.scores' must be probabilities in \[0, 1\]",
        ),
        (
            good,
            replace(good, x=good.x.drop(columns="f9")),
            r"'evaluate.x' must have the columns of 'fit.x'; missing \['f9'\], extra \[\]",
        ),
        (
            replace(good, x=good.x.assign(f0="text")),
            good,
            r"'fit.x' must be numeric; columns \['f0'\]",
        ),
        (
            replace(good, sensitive=good.sensitive.to_numpy()),
            good,
            r"'fit.sensitive' must be a pandas Series",
        ),
    ]
    for fit, evaluate, message in cases:
        with pytest.raises(MitigationError, match=message):
            compare_mitigations(fit, evaluate, CONFIG, top_fraction=0.1, seed=1)
    with pytest.raises(
        MitigationError, match=r"'top_fraction' must be greater than 0 and at most 1 \(got 1.5\)"
    ):
        compare_mitigations(good, good, CONFIG, top_fraction=1.5, seed=1)
    with pytest.raises(VruError, match=r"'seed' must be a whole number"):
        compare_mitigations(good, good, CONFIG, top_fraction=0.1, seed=0.5)  # type: ignore[arg-type]
    assert issubclass(MitigationError, ValueError)


def test_the_config_forbids_unknown_keys_and_is_frozen() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        MitigationConfig(constrain="equalized_odds")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="constraint"):
        MitigationConfig(constraint="demographic_parity")  # type: ignore[arg-type]
    config = MitigationConfig()
    assert (config.max_rows, config.exponentiated_gradient_max_iter, config.eps) == (
        20_000,
        20,
        0.01,
    )
    with pytest.raises(ValueError, match="frozen"):
        config.eps = 0.1  # type: ignore[misc]


def test_groups_below_the_disclosure_threshold_show_only_their_count() -> None:
    fit, evaluate = _split(2_000, 6), _split(2_000, 7)
    tiny_eval = evaluate.sensitive.copy()
    tiny_eval.iloc[:4] = "e"  # four people: their selection would say who was picked
    config = MitigationConfig(max_rows=2_000, exponentiated_gradient_max_iter=5)
    result = compare_mitigations(
        fit, replace(evaluate, sensitive=tiny_eval), config, top_fraction=0.1, seed=1,
        withhold_below=10,
    )  # fmt: skip
    for row in result["rows"]:
        tiny = row["by_group"]["e"]
        assert tiny["count"] == 4 and tiny["withheld"] is True
        assert tiny["selection_rate"] is None and tiny["tpr"] is None and tiny["fpr"] is None
        assert all(not g["withheld"] and g["selection_rate"] is not None
                   for name, g in row["by_group"].items() if name != "e")  # fmt: skip
