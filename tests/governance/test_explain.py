"""SHAP explanations: additivity, agreement with shap and with brute-force Shapley values, the
per-tree strategy against a single call, aggregates, plots and error messages."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from governance.audit import explain
from governance.audit.explain import (
    ExplainInputError,
    ExplanationMismatchError,
    check_against_shap,
    expected_value,
    global_importance,
    group_contributions,
    shap_values,
)
from governance.audit.explain_plots import binned_dependence_png, summary_png
from governance.contracts.errors import VruError
from governance.contracts.settings import ShapBinSettings

FEATURES = ["driver", "age", "noise_a", "noise_b", "noise_c", "noise_d"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BINS = {"settings": ShapBinSettings(), "min_count": 10}
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "num_leaves": 15,
    "learning_rate": 0.1,
    "seed": 7,
    "deterministic": True,
    "num_threads": 1,
    "verbose": -1,
}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    """2,000 rows, 6 features; 'driver' sets the label, 'age' nudges it, the rest is noise."""
    rng = np.random.default_rng(20240611)
    x = pd.DataFrame(rng.normal(size=(2_000, 6)), columns=FEATURES)
    logit = 3.0 * x["driver"] + 0.4 * x["age"] - 0.5
    y = (rng.random(len(x)) < 1.0 / (1.0 + np.exp(-logit))).astype(int).to_numpy()
    return x, y


@pytest.fixture(scope="module")
def booster(data: tuple[pd.DataFrame, np.ndarray]) -> lgb.Booster:
    x, y = data
    return lgb.train(PARAMS, lgb.Dataset(x, y), num_boost_round=60)


@pytest.fixture(scope="module")
def values(booster: lgb.Booster, data: tuple[pd.DataFrame, np.ndarray]) -> np.ndarray:
    return shap_values(booster, data[0])


# ----------------------------------------------------------------------------------------------
# contributions


def test_contributions_and_expected_value_add_up_to_the_raw_score(booster, data, values):
    x, _ = data
    assert values.shape == (2_000, 6)
    raw = booster.predict(x, raw_score=True)
    np.testing.assert_allclose(
        values.sum(axis=1) + expected_value(booster, x), raw, rtol=0, atol=1e-6
    )


def test_best_iteration_is_respected_as_predict_does(booster, data):
    x, _ = data
    early = lgb.Booster(model_str=booster.model_to_string())
    early.best_iteration = 20
    raw = early.predict(x, raw_score=True)
    assert not np.allclose(raw, booster.predict(x, raw_score=True))
    total = shap_values(early, x).sum(axis=1) + expected_value(early, x)
    np.testing.assert_allclose(total, raw, rtol=0, atol=1e-6)


def test_matches_brute_force_shapley_values(booster, data, values):
    """Exact path-dependent Shapley values from the tree dump: every subset of the 6 features."""
    x, _ = data
    rows = x.to_numpy()[:40]
    trees = [t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    m = len(FEATURES)
    game = {
        subset: sum(_conditional_value(tree, rows, set(subset)) for tree in trees)
        for r in range(m + 1)
        for subset in itertools.combinations(range(m), r)
    }
    phi = np.zeros((len(rows), m))
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for r in range(m):
            weight = math.factorial(r) * math.factorial(m - r - 1) / math.factorial(m)
            for subset in itertools.combinations(others, r):
                with_i = tuple(sorted((*subset, i)))
                phi[:, i] += weight * (game[with_i] - game[subset])
    np.testing.assert_allclose(values[:40], phi, rtol=0, atol=1e-9)
    np.testing.assert_allclose(game[()], expected_value(booster, x), rtol=0, atol=1e-9)


def _conditional_value(node: dict[str, Any], rows: np.ndarray, known: set[int]) -> np.ndarray:
    """E[tree(x) | x_known], path-dependent: unknown features follow the training cover."""
    if "split_index" not in node:
        return np.full(len(rows), node["leaf_value"])
    left = _conditional_value(node["left_child"], rows, known)
    right = _conditional_value(node["right_child"], rows, known)
    feature = node["split_feature"]
    if feature in known:
        return np.where(rows[:, feature] <= node["threshold"], left, right)
    n_left, n_right = _cover(node["left_child"]), _cover(node["right_child"])
    return (n_left * left + n_right * right) / (n_left + n_right)


def _cover(node: dict[str, Any]) -> float:
    return float(node["internal_count"] if "split_index" in node else node["leaf_count"])


@pytest.mark.parametrize(
    "extra",
    [{}, {"zero_as_missing": True}, {"use_missing": False}],
    ids=["nan-missing", "zero-missing", "no-missing"],
)
def test_per_tree_strategy_equals_a_single_call(extra):
    """Missing values, zeros, a category column and values exactly at and beside thresholds."""
    rng = np.random.default_rng(5)
    n = 3_000
    x = pd.DataFrame(
        {
            "count": rng.poisson(0.4, n).astype(float),
            "rate": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "flag": (rng.random(n) < 0.3).astype(float),
            "score": rng.gamma(2.0, 2.0, n),
            "area": pd.Categorical(rng.choice(["a", "b", "c", "d", None], n)),
        }
    )
    logit = x["count"] + np.nan_to_num(x["rate"]) - x["flag"] + 0.2 * x["score"] - 1.5
    logit = logit + (x["area"] == "c").to_numpy() * 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    model = lgb.train({**PARAMS, "min_data_in_leaf": 5, **extra}, lgb.Dataset(x, y), 40)

    probe = x.copy()
    at = 0
    for info in model.dump_model()["tree_info"]:
        stack = [info["tree_structure"]]
        while stack and at < n - 3:
            node = stack.pop()
            if "split_index" not in node:
                continue
            stack += [node["left_child"], node["right_child"]]
            if node["decision_type"] == "<=":
                column, t = x.columns[node["split_feature"]], float(node["threshold"])
                probe.loc[at : at + 2, column] = [
                    t,
                    np.nextafter(t, -np.inf),
                    np.nextafter(t, np.inf),
                ]
                at += 3
    probe.loc[at : at + 2, "score"] = [0.0, -0.0, 1e-36]

    per_tree = shap_values(model, probe)
    single = shap_values(model, probe, strategy="single_call")
    np.testing.assert_allclose(per_tree, single, rtol=0, atol=1e-12)
    total = per_tree.sum(axis=1) + expected_value(model, probe)
    np.testing.assert_allclose(total, model.predict(probe, raw_score=True), rtol=0, atol=1e-9)


def test_agrees_with_shap_tree_explainer(booster, data):
    x, _ = data
    assert check_against_shap(booster, x.iloc[:500]) <= 1e-6


def test_agrees_with_shap_when_best_iteration_is_set(booster, data):
    early = lgb.Booster(model_str=booster.model_to_string())
    early.best_iteration = 20
    assert check_against_shap(early, data[0].iloc[:200]) <= 1e-6


def test_a_difference_from_shap_is_named(booster, data, monkeypatch):
    x = data[0].iloc[:100]
    original = explain.shap_values
    monkeypatch.setattr(explain, "shap_values", lambda b, frame: original(b, frame) + 1e-3)
    with pytest.raises(
        ExplanationMismatchError, match=r"by up to 0\.001 \(tolerance 1e-06\) on 100 rows"
    ):
        check_against_shap(booster, x)


# ----------------------------------------------------------------------------------------------
# aggregates


def test_driving_feature_ranks_first(values):
    ranking = global_importance(values, FEATURES)
    assert [r["feature"] for r in ranking][:1] == ["driver"]
    assert [r["rank"] for r in ranking] == list(range(1, 7))
    means = [r["mean_abs_shap"] for r in ranking]
    assert means == sorted(means, reverse=True)
    assert ranking[0]["mean_abs_shap"] == pytest.approx(np.abs(values[:, 0]).mean())
    assert sum(r["share"] for r in ranking) == pytest.approx(1.0)
    assert ranking[0]["share"] > 0.5


def test_group_contributions_flag_small_groups(values):
    groups = pd.Series(["north"] * 1_000 + ["south"] * 960 + ["east"] * 25 + [None] * 15)
    report = group_contributions(values, FEATURES, groups, min_group_size=30, top=3)
    assert list(report) == ["east", "north", "not recorded", "south"]
    assert report["east"] == {"n": 25, "too_small": True, "mean_shap": None}
    assert report["not recorded"] == {"n": 15, "too_small": True, "mean_shap": None}
    north = report["north"]
    assert (north["n"], north["too_small"]) == (1_000, False)
    top3 = [r["feature"] for r in global_importance(values, FEATURES)[:3]]
    assert list(north["mean_shap"]) == top3
    assert north["mean_shap"]["driver"] == pytest.approx(values[:1_000, 0].mean())
    assert report["south"]["mean_shap"]["driver"] == pytest.approx(values[1_000:1_960, 0].mean())


# ----------------------------------------------------------------------------------------------
# plots


def test_pngs_are_written(values, data, tmp_path: Path):
    x, _ = data
    bees = summary_png(values, x, FEATURES, tmp_path / "summary.png", max_display=4, **BINS)
    dep = binned_dependence_png(values, x, "driver", tmp_path / "bins.png", **BINS)
    for path in (bees, dep):
        content = path.read_bytes()
        assert content.startswith(PNG_MAGIC)
        assert len(content) > 5_000


def test_plots_handle_missing_values_and_categories(tmp_path: Path):
    rng = np.random.default_rng(3)
    n = 400
    x = pd.DataFrame(
        {
            "area": pd.Categorical(rng.choice(["a", "b", None], n)),
            "rate": np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),
            "flag": rng.integers(0, 2, n).astype(float),
        }
    )
    values = rng.normal(size=(n, 3))
    names = list(x.columns)
    summary = summary_png(values, x, names, tmp_path / "b.png", **BINS)
    assert summary.read_bytes().startswith(PNG_MAGIC)
    for feature in names:
        path = binned_dependence_png(values, x, feature, tmp_path / f"{feature}.png", **BINS)
        assert path.read_bytes().startswith(PNG_MAGIC)


# ----------------------------------------------------------------------------------------------
# errors


def test_columns_out_of_order_are_refused(booster, data):
    x = data[0][["age", "driver", *FEATURES[2:]]]
    with pytest.raises(ExplainInputError) as err:
        shap_values(booster, x)
    assert isinstance(err.value, VruError) and isinstance(err.value, ValueError)
    assert str(err.value) == (
        "'x' must have the model's 6 features in the model's order; "
        "missing [], not in the model [], first out of place 'age'"
    )


def test_multiclass_models_are_refused(data):
    x, _ = data
    labels = np.digitize(x["driver"], [-0.5, 0.5])
    model = lgb.train(
        {**PARAMS, "objective": "multiclass", "num_class": 3}, lgb.Dataset(x, labels), 3
    )
    with pytest.raises(
        ExplainInputError, match=r"^The model has 3 outputs per iteration \(multiclass\)"
    ):
        shap_values(model, x)


def test_plots_refuse_too_few_rows(values, data, tmp_path: Path):
    x, _ = data
    with pytest.raises(ExplainInputError) as err:
        summary_png(values[:50], x.iloc[:50], FEATURES, tmp_path / "b.png", **BINS)
    assert str(err.value) == (
        "A plot needs at least 100 rows so that it shows a distribution, not people (got 50)"
    )
    assert not (tmp_path / "b.png").exists()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda v: global_importance(v, FEATURES[:5]),
            "'names' must hold 6 distinct feature names, one per column of 'values' (got "
            "['driver', 'age', 'noise_a', 'noise_b', 'noise_c'])",
        ),
        (
            lambda v: group_contributions(v, FEATURES, pd.Series(["a"] * 10), min_group_size=5),
            "'groups' must hold one label per row of 'values' (2000); got 10",
        ),
        (
            lambda v: group_contributions(v, FEATURES, pd.Series(["a"] * 2_000), min_group_size=0),
            "'min_group_size' must be an integer >= 1 (got 0)",
        ),
        (
            lambda v: global_importance(v[:, 0], FEATURES),
            "'values' must be a 2-D array (rows x features); got shape (2000,)",
        ),
    ],
    ids=["names", "groups", "min-group-size", "one-dimensional"],
)
def test_bad_aggregate_inputs_are_named(values, call, message):
    with pytest.raises(ExplainInputError) as err:
        call(values)
    assert str(err.value) == message
