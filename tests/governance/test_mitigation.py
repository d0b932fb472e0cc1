"""Mitigation options compared on biased synthetic data: Fairlearn's rules narrow the gap."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    true_positive_rate,
)
from scipy.stats import beta

from governance.audit.fairness import select
from governance.audit.mitigation import (
    MitigationConfig,
    MitigationData,
    MitigationError,
    compare_mitigations,
)
from governance.contracts.errors import VruError

METHODS = ["unmitigated (top k%)", "ThresholdOptimizer", "ExponentiatedGradient"]
FIGURES = (
    "accuracy",
    "balanced_accuracy",
    "selection_rate",
    "tpr",
    "fpr",
    "equalized_odds_difference",
    "equalized_odds_p_value",
    "demographic_parity_difference",
    "true_positive_rate_difference",
)
CONFIG = MitigationConfig(max_rows=3_000, exponentiated_gradient_max_iter=10)
BOTH = ["ThresholdOptimizer", "ExponentiatedGradient"]


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


def test_every_option_selects_the_model_capacity(result: dict[str, object]) -> None:
    # the finding: options were compared at 16-24% selection while 5% is in use
    assert result["capacity"] == 300  # round(0.1 x 3,000), the model's own top 10%
    rows = result["rows"]  # type: ignore[index]
    assert [row["method"] for row in rows] == METHODS
    for row in rows:
        assert row["selected"] == 300
        assert sum(g["selected"] for g in row["by_group"].values()) == 300
        assert row["selection_rate"] == pytest.approx(0.1)


@pytest.mark.parametrize("top_fraction", [0.05, 0.2])
def test_the_capacity_is_held_at_other_operating_points(
    splits: tuple[MitigationData, MitigationData], top_fraction: float
) -> None:
    config = MitigationConfig(max_rows=1_500, exponentiated_gradient_max_iter=5)
    result = compare_mitigations(*splits, config, top_fraction=top_fraction, seed=4)
    capacity = int(np.floor(top_fraction * 3_000 + 0.5))
    assert result["capacity"] == capacity
    assert [row["selected"] for row in result["rows"]] == [capacity] * 3


def test_the_fairlearn_options_narrow_the_gap_at_the_same_capacity(
    result: dict[str, object],
) -> None:
    rows = {row["method"]: row for row in result["rows"]}  # type: ignore[attr-defined]
    top = rows["unmitigated (top k%)"]
    optimizer = rows["ThresholdOptimizer"]
    reduction = rows["ExponentiatedGradient"]
    assert top["equalized_odds_difference"] > 0.3  # the bias is there ...
    assert top["equalized_odds_p_value"] < 0.01  # ... and not chance
    assert optimizer["equalized_odds_difference"] < top["equalized_odds_difference"] / 2
    assert reduction["equalized_odds_difference"] < top["equalized_odds_difference"] / 2
    for row in rows.values():
        assert row["note"] is None
        assert isinstance(row["description"], str) and row["description"].endswith(".")
        assert all(isinstance(row[f], float) for f in FIGURES)
        assert set(row["by_group"]) == {"a", "b", "c"}
        assert all(not g["too_small"] for g in row["by_group"].values())
        constrained = row["method"] != "unmitigated (top k%)"
        assert all(g["constrained"] is constrained for g in row["by_group"].values())


def test_every_figure_has_an_exact_interval_around_it(result: dict[str, object]) -> None:
    for row in result["rows"]:  # type: ignore[attr-defined]
        for figures in (row, *row["by_group"].values()):
            for metric in ("selection_rate", "tpr", "fpr"):
                low, high = figures["ci"][metric]
                assert 0.0 <= low <= figures[metric] <= high <= 1.0
        group = row["by_group"]["c"]
        low, high = group["ci"]["selection_rate"]
        k, n = group["selected"], group["count"]
        # Clopper-Pearson from the beta distribution, by hand
        assert low == pytest.approx(beta.ppf(0.025, k, n - k + 1) if k else 0.0)
        assert high == pytest.approx(beta.ppf(0.975, k + 1, n - k) if k < n else 1.0)


def test_the_result_is_plain_data_about_the_evaluated_split(result: dict[str, object]) -> None:
    assert result["available"] is True
    assert result["constraint"] == "equalized_odds"
    assert result["objective"] == "balanced_accuracy_score"
    assert result["attribute"] == "ethnicity"
    assert result["fit_rows"] == 3_000 and result["evaluated_rows"] == 3_000
    assert result["fit_rows_sampled"] == 3_000
    assert result["constrained_groups"] == ["a", "b", "c"]
    assert result["not_constrained"] == []
    assert "exactly as many" in result["capacity_method"]  # type: ignore[operator]
    assert (result["confidence"], result["min_outcomes"]) == (0.95, 30)
    assert isinstance(result["seconds"], float)
    json.dumps(result)


def test_the_figures_agree_with_fairlearn(
    splits: tuple[MitigationData, MitigationData], result: dict[str, object]
) -> None:
    _, evaluate = splits
    top = select(evaluate.scores, top_fraction=0.1).astype(int)
    row = result["rows"][0]  # type: ignore[index]
    assert row["selection_rate"] == pytest.approx(0.1, abs=1e-9)
    # every group here has 30 people with and without the outcome: every rate is judged
    assert row["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(evaluate.y, top, sensitive_features=evaluate.sensitive)
    )
    assert row["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(evaluate.y, top, sensitive_features=evaluate.sensitive)
    )
    frame = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=evaluate.y,
        y_pred=top,
        sensitive_features=evaluate.sensitive,
    )
    for group in ("a", "b", "c"):
        assert row["by_group"][group]["tpr"] == pytest.approx(frame.by_group.loc[group, "tpr"])
        assert row["by_group"][group]["fpr"] == pytest.approx(frame.by_group.loc[group, "fpr"])
    c = evaluate.sensitive == "c"
    assert row["by_group"]["c"]["count"] == int(c.sum())


def test_same_seed_same_result() -> None:
    fit, evaluate = _split(2_000, 4), _split(2_000, 5)
    config = MitigationConfig(max_rows=1_500, exponentiated_gradient_max_iter=5)
    first = compare_mitigations(fit, evaluate, config, top_fraction=0.05, seed=9)
    again = compare_mitigations(fit, evaluate, config, top_fraction=0.05, seed=9)
    first.pop("seconds"), again.pop("seconds")
    assert first == again
    # ExponentiatedGradient's fit rows are sampled within each label; ThresholdOptimizer
    # reads them all ...
    assert (first["fit_rows"], first["fit_rows_sampled"]) == (2_000, 1_500)
    assert first["evaluated_rows"] == 2_000  # ... the evaluated one is judged whole


def test_a_small_group_is_constrained_on_its_own_never_merged() -> None:
    fit, evaluate = _split(2_000, 6), _split(2_000, 7)
    small_fit, small_eval = fit.sensitive.copy(), evaluate.sensitive.copy()
    # 40 rows in fit, 6 of them with the outcome: few, but enough to set its own thresholds
    small_fit.iloc[:40] = "d"
    y_fit = fit.y.copy()
    y_fit[:40] = 0
    y_fit[:6] = 1
    small_eval.iloc[:40] = "d"
    # 25 rows in fit, with 3 outcomes: too few to set thresholds worth having
    small_fit.iloc[40:65] = "f"
    y_fit[40:65] = 0
    y_fit[40:43] = 1
    small_eval.iloc[40:70] = "f"
    small_eval.iloc[70:110] = "e"  # never seen in fit
    config = MitigationConfig(max_rows=2_000, exponentiated_gradient_max_iter=5)
    result = compare_mitigations(
        replace(fit, sensitive=small_fit, y=y_fit),
        replace(evaluate, sensitive=small_eval),
        config,
        top_fraction=0.1,
        seed=1,
    )
    assert result["constrained_groups"] == ["a", "b", "c", "d"]
    assert result["not_constrained"] == [
        {"group": "e", "fit_rows": 0, "fit_outcomes": 0, "methods": BOTH},  # not in fit
        {"group": "f", "fit_rows": 25, "fit_outcomes": 3, "methods": BOTH},
    ]
    assert "f" in result["capacity_method"] and "decided as the model" in result["capacity_method"]
    assert "merged_small_groups" not in result and "small_groups_folded_into" not in result
    top = next(r for r in result["rows"] if r["method"] == "unmitigated (top k%)")
    for row in result["rows"]:
        assert row["note"] is None
        assert row["selected"] == result["capacity"] == 200
        assert set(row["by_group"]) == {"a", "b", "c", "d", "e", "f"}
        mitigated = row["method"] != "unmitigated (top k%)"
        assert row["by_group"]["d"]["constrained"] is mitigated  # its own thresholds
        assert row["by_group"]["e"]["constrained"] is False
        assert row["by_group"]["f"]["constrained"] is False
        assert row["not_constrained"] == (["e", "f"] if mitigated else [])
        # members of a group no method could constrain are decided as the model decides them
        assert row["by_group"]["f"]["selected"] == top["by_group"]["f"]["selected"]
        assert row["by_group"]["e"]["selected"] == top["by_group"]["e"]["selected"]


def test_intervals_are_exact_at_small_counts() -> None:
    fit, evaluate = _split(2_000, 11), _split(2_000, 12)
    sensitive, y = evaluate.sensitive.copy(), evaluate.y.copy()
    scores = evaluate.scores.copy()
    # group "s": 12 people, 5 with the outcome, none selected (scores at the bottom)
    sensitive.iloc[:12] = "s"
    y[:12] = 0
    y[:5] = 1
    scores[:12] = 0.0
    config = MitigationConfig(max_rows=1_000, exponentiated_gradient_max_iter=3)
    result = compare_mitigations(
        fit, replace(evaluate, sensitive=sensitive, y=y, scores=scores), config,
        top_fraction=0.1, seed=2,
    )  # fmt: skip
    s = result["rows"][0]["by_group"]["s"]
    assert (s["count"], s["outcomes"], s["selected"]) == (12, 5, 0)
    assert s["tpr"] == 0.0
    # 0 of 5: the exact interval is [0, 1 - 0.025^(1/5)] = [0, 0.5218], never [0, 0]
    assert s["ci"]["tpr"] == [0.0, pytest.approx(1 - 0.025 ** (1 / 5))]
    assert s["ci"]["fpr"] == [0.0, pytest.approx(1 - 0.025 ** (1 / 7))]
    assert s["too_small"] is True and s["tpr_judged"] is False and s["fpr_judged"] is False
    # a group this small is shown, not judged: it does not enter the gap
    others = {g: v for g, v in result["rows"][0]["by_group"].items() if v["tpr_judged"]}
    assert "s" not in others


def test_a_method_that_cannot_constrain_any_group_gives_a_note() -> None:
    fit, evaluate = _split(1_000, 13), _split(1_000, 14)
    # in fit, each group holds one outcome only: no group has a ROC curve to constrain
    groups = pd.Series(np.where(fit.y == 1, "with", "without"))
    config = MitigationConfig(max_rows=1_000, exponentiated_gradient_max_iter=3)
    result = compare_mitigations(
        replace(fit, sensitive=groups), evaluate, config, top_fraction=0.1, seed=3
    )
    assert result["constrained_groups"] == []
    # nor can the evaluated groups, none of which is in fit
    names = [g["group"] for g in result["not_constrained"]]
    assert names == ["a", "b", "c", "with", "without"]
    top, *mitigated = result["rows"]
    assert top["note"] is None and top["selected"] == 100
    for row in mitigated:
        assert all(row[f] is None for f in FIGURES) and row["by_group"] == {}
        assert row["selected"] is None
        assert "none could be constrained" in row["note"]


def test_true_positive_rate_parity_at_the_capacity() -> None:
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
    assert "true positive rates" in rows["ThresholdOptimizer"]["description"]
    assert [row["selected"] for row in rows.values()] == [150] * 3
    assert (
        rows["ThresholdOptimizer"]["true_positive_rate_difference"]
        < rows["unmitigated (top k%)"]["true_positive_rate_difference"]
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
    for option, value, message in (
        ("min_outcomes", 0, r"'min_outcomes' must be a whole number of at least 1 \(got 0\)"),
        ("confidence", 1.0, r"'confidence' must be between 0 and 1 \(got 1.0\)"),
        ("permutations", 0, r"'permutations' must be a whole number of at least 1"),
    ):
        with pytest.raises(MitigationError, match=message):
            compare_mitigations(good, good, CONFIG, top_fraction=0.1, seed=1, **{option: value})
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
        assert tiny["selected"] is None and tiny["outcomes"] is None
        assert tiny["ci"]["tpr"] == [None, None]
        assert all(not g["withheld"] and g["selection_rate"] is not None
                   for name, g in row["by_group"].items() if name != "e")  # fmt: skip


def test_the_document_and_the_report_carry_the_capacity_and_the_intervals(
    result: dict[str, object],
) -> None:
    from governance.audit.report.explanations import mitigations_view
    from governance.contracts.audit_document import MitigationReport

    document = MitigationReport.model_validate(
        {**result, "fit_split": "validation", "evaluated_on": "test"}
    )
    assert document.capacity == 300 and all(r.selected == 300 for r in document.rows)
    view = mitigations_view(document)
    said = " ".join(view.sentences)
    assert "it selects 300 young people, as many as the model's top 10.0%" in said
    assert "exact 95.0% interval" in said and "at least 30" in said
    assert view.options is not None and view.by_group is not None
    cells = [" ".join(map(str, c)) for r in view.options.rows for c in r.cells]
    assert any(c.startswith("10.0% (") for c in cells)  # the selection rate with its interval


def test_a_tiny_group_does_not_throw_the_others_to_chance() -> None:
    # ten people with one outcome in each split: constrained, its one-step ROC curve would set
    # every group's rates under equalized odds; it is listed as not constrained instead
    fit, evaluate = _split(3_000, 1), _split(3_000, 2)
    tiny_fit, tiny_eval = fit.sensitive.copy(), evaluate.sensitive.copy()
    y_fit, y_eval = fit.y.copy(), evaluate.y.copy()
    tiny_fit.iloc[:10], tiny_eval.iloc[:10] = "t", "t"
    y_fit[:10], y_eval[:10] = [1] + [0] * 9, [1] + [0] * 9
    result = compare_mitigations(
        replace(fit, sensitive=tiny_fit, y=y_fit),
        replace(evaluate, sensitive=tiny_eval, y=y_eval),
        CONFIG,
        top_fraction=0.1,
        seed=3,
    )
    assert result["not_constrained"] == [
        {"group": "t", "fit_rows": 10, "fit_outcomes": 1, "methods": BOTH}
    ]
    top, optimizer, reduction = result["rows"]
    assert optimizer["equalized_odds_difference"] < top["equalized_odds_difference"] / 2
    assert reduction["equalized_odds_difference"] < top["equalized_odds_difference"] / 2
    assert optimizer["by_group"]["t"]["selected"] == top["by_group"]["t"]["selected"]


def test_a_group_big_enough_in_all_the_fit_rows_but_not_in_the_sample() -> None:
    # ThresholdOptimizer reads all 3,000 fit rows, ExponentiatedGradient a sample of 1,500:
    # 40 people with 6 outcomes are enough for the one, about 20 with 3 too few for the other
    fit, evaluate = _split(3_000, 1), _split(3_000, 2)
    groups, y = fit.sensitive.copy(), fit.y.copy()
    groups.iloc[:40] = "d"
    y[:40] = 0
    y[:6] = 1
    config = MitigationConfig(max_rows=1_500, exponentiated_gradient_max_iter=5)
    result = compare_mitigations(
        replace(fit, sensitive=groups, y=y), evaluate, config, top_fraction=0.1, seed=3
    )
    assert result["not_constrained"] == [
        {"group": "d", "fit_rows": 40, "fit_outcomes": 6, "methods": ["ExponentiatedGradient"]}
    ]
    assert result["constrained_groups"] == ["a", "b", "c"]  # by both
    _, optimizer, reduction = result["rows"]
    assert optimizer["not_constrained"] == [] and reduction["not_constrained"] == ["d"]
    assert [row["selected"] for row in result["rows"]] == [300] * 3
