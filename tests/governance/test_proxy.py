"""Proxy check: inputs that stand in for a sensitive attribute are found; noise is not."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governance.audit.proxy import ProxyInputError, area_identifiers, proxy_strength
from governance.contracts.errors import VruError

N = 900
THREADS = 1  # more threads than idle cores makes LightGBM crawl on a busy test machine


def _noise(rng: np.random.Generator, n: int, k: int) -> pd.DataFrame:
    return pd.DataFrame({f"noise_{i}": rng.normal(size=n) for i in range(k)})


@pytest.fixture(scope="module")
def binary_case() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    attribute = pd.Series(rng.choice(["group_a", "group_b"], N, p=[0.7, 0.3]), name="ethnicity")
    x = _noise(rng, N, 4)
    x["postcode_index"] = (attribute == "group_b").to_numpy() + rng.normal(scale=0.3, size=N)
    x["school"] = pd.Series(rng.choice(["s1", "s2", "s3"], N), dtype="str")  # text input
    return x, attribute


@pytest.fixture(scope="module")
def binary_result(binary_case: tuple[pd.DataFrame, pd.Series]) -> dict[str, Any]:
    x, attribute = binary_case
    return proxy_strength(x, attribute, seed=3, num_threads=THREADS)


def test_a_noisy_copy_of_the_attribute_is_a_strong_proxy(binary_result: dict[str, Any]) -> None:
    assert binary_result["auc"] > 0.9
    assert binary_result["baseline_auc"] == 0.5
    assert binary_result["attribute"] == "ethnicity"
    assert binary_result["rows"] == N
    assert binary_result["classes"] == ["group_a", "group_b"]
    assert binary_result["dropped_classes"] == []
    top = binary_result["top_inputs"]
    assert top[0]["feature"] == "postcode_index"
    assert top[0]["importance_share"] > 0.5
    assert {row["feature"] for row in top} == {f"noise_{i}" for i in range(4)} | {
        "postcode_index",
        "school",
    }
    shares = [row["importance_share"] for row in top]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1.0)
    json.dumps(binary_result)


def test_same_seed_same_result(
    binary_case: tuple[pd.DataFrame, pd.Series], binary_result: dict[str, Any]
) -> None:
    x, attribute = binary_case
    assert proxy_strength(x, attribute, seed=3, num_threads=THREADS) == binary_result


def test_pure_noise_is_no_proxy() -> None:
    rng = np.random.default_rng(11)
    attribute = pd.Series(rng.choice(["female", "male"], N), name="sex")
    result = proxy_strength(_noise(rng, N, 12), attribute, seed=0, num_threads=THREADS)
    assert 0.4 < result["auc"] < 0.6
    assert len(result["top_inputs"]) == 10


def test_multi_class_drops_small_classes_and_missing_rows() -> None:
    rng = np.random.default_rng(5)
    n = 600
    groups = rng.choice(["A", "B", "C"], n).astype(object)
    groups[:5] = "rare"  # 5 < 2 × cv rows: cannot be scored
    groups[5:45] = None  # not recorded: left out
    attribute = pd.Series(groups, name="ethnicity")
    x = _noise(rng, n, 3)
    code = attribute.map({"A": 0.0, "B": 1.0, "C": 2.0, "rare": 1.0}).to_numpy()
    x["area"] = code + rng.normal(scale=0.3, size=n)

    result = proxy_strength(x, attribute, seed=1, num_threads=THREADS)

    assert result["classes"] == ["A", "B", "C"]
    assert result["dropped_classes"] == ["rare"]
    assert result["rows"] == n - 5 - 40
    assert result["auc"] > 0.9
    assert result["top_inputs"][0]["feature"] == "area"


def test_at_most_max_rows_are_used(binary_case: tuple[pd.DataFrame, pd.Series]) -> None:
    x, attribute = binary_case
    result = proxy_strength(x, attribute, seed=3, max_rows=300, cv=2, num_threads=THREADS)
    assert result["rows"] == 300
    assert result["auc"] > 0.8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"attribute": pd.Series(["a", "b"])},
            "'attribute' must have one value per row of 'x' (900 rows); got 2",
        ),
        ({"x": np.zeros((N, 2))}, "'x' must be a pandas DataFrame (got ndarray)"),
        ({"x": pd.DataFrame(index=range(N))}, "'x' has no columns; there is nothing to predict"),
        ({"cv": 1}, "'cv' must be an integer of at least 2 (got 1)"),
        ({"seed": -1}, "'seed' must be an integer of at least 0 (got -1)"),
        ({"max_rows": 0}, "'max_rows' must be an integer of at least 1 (got 0)"),
        (
            {"x": pd.DataFrame({"when": pd.date_range("2024-01-01", periods=N)})},
            "Column 'when' of 'x' has dtype datetime64",
        ),
        (
            {"attribute": pd.Series(["a"] * (N - 3) + ["b"] * 3, name="sex")},
            "Attribute 'sex' needs at least two classes with 6 or more rows (2 × cv) among the "
            "900 rows used; got 1 such class(es) ['a'] and dropped ['b']",
        ),
    ],
)
def test_errors_name_the_parameter(
    binary_case: tuple[pd.DataFrame, pd.Series], change: dict[str, Any], message: str
) -> None:
    x, attribute = binary_case
    arguments: dict[str, Any] = {"x": x, "attribute": attribute, "seed": 0, **change}
    with pytest.raises(ProxyInputError) as caught:
        proxy_strength(**arguments)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, VruError) and isinstance(caught.value, ValueError)


def test_duplicate_input_names_are_refused() -> None:
    x = pd.DataFrame([[1.0, 2.0]] * 20, columns=["a", "a"])
    with pytest.raises(ProxyInputError, match=r"^'x' has duplicate column names: \['a'\]$"):
        proxy_strength(x, pd.Series(["p", "q"] * 10), seed=0)


# -- area identifiers ---------------------------------------------------------------------------

AREAS = 66


@pytest.fixture(scope="module")
def area_case() -> tuple[pd.DataFrame, pd.Series]:
    """66 LSOAs of 30 people; an area score with one value per LSOA, and inputs that are not."""
    rng = np.random.default_rng(11)
    lsoa = pd.Series(np.repeat([f"E0100{i:04d}" for i in range(AREAS)], 30), name="lsoa_code")
    area_index = lsoa.str[-4:].astype(int).to_numpy()
    score = rng.uniform(0, 60, size=AREAS).round(2)
    x = pd.DataFrame(
        {
            "deprivation_score": score[area_index],
            "age": rng.normal(14, 2, size=lsoa.size),
            "urban_flag": (area_index % 2).astype(float),
        }
    )
    return x, lsoa


def test_a_score_with_one_value_per_lsoa_is_flagged_as_an_area_identifier(
    area_case: tuple[pd.DataFrame, pd.Series],
) -> None:
    x, lsoa = area_case
    found = area_identifiers(x, lsoa, min_distinct_share=0.5, min_constant_share=0.99)
    assert found["area_column"] == "lsoa_code"
    assert found["areas"] == AREAS
    assert found["inputs_checked"] == 3
    assert [f["feature"] for f in found["identifiers"]] == ["deprivation_score"]
    flagged = found["identifiers"][0]
    assert flagged["distinct_values"] == AREAS
    assert flagged["constant_share"] == 1.0
    assert "deprivation_score" in flagged["reason"] and "66 areas" in flagged["reason"]
    json.dumps(found)


def test_individual_inputs_and_binary_area_flags_are_not_identifiers(
    area_case: tuple[pd.DataFrame, pd.Series],
) -> None:
    x, lsoa = area_case
    found = area_identifiers(x[["age", "urban_flag"]], lsoa)
    assert found["identifiers"] == []


def test_an_identifier_with_missing_values_or_a_few_stray_rows_is_still_flagged(
    area_case: tuple[pd.DataFrame, pd.Series],
) -> None:
    x, lsoa = area_case
    score = x["deprivation_score"].copy()
    score.iloc[::40] = np.nan  # unrecorded for some
    found = area_identifiers(score.to_frame(), lsoa)
    assert [f["feature"] for f in found["identifiers"]] == ["deprivation_score"]
    score.iloc[1] = 999.0  # one stray value of 1,980 rows: still constant within areas
    assert area_identifiers(score.to_frame(), lsoa, min_constant_share=0.99)["identifiers"]
    assert not area_identifiers(score.to_frame(), lsoa, min_constant_share=1.0)["identifiers"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("min_distinct_share", 0.0, "'min_distinct_share' must be greater than 0 and at most 1"),
        ("min_constant_share", 1.5, "'min_constant_share' must be greater than 0 and at most 1"),
    ],
)
def test_area_identifier_options_out_of_range_are_refused(
    area_case: tuple[pd.DataFrame, pd.Series], option: str, value: float, message: str
) -> None:
    x, lsoa = area_case
    with pytest.raises(ProxyInputError, match=message):
        area_identifiers(x, lsoa, **{option: value})


def test_an_area_column_of_the_wrong_length_is_refused(
    area_case: tuple[pd.DataFrame, pd.Series],
) -> None:
    x, lsoa = area_case
    with pytest.raises(ProxyInputError, match=r"'area' must have one value per row of 'x'"):
        area_identifiers(x, lsoa.iloc[:-1])
