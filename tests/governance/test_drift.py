"""Drift between the champion's and the candidate's data: PSI, per-feature levels, figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from governance.audit.drift import (
    DriftInputError,
    compare_figures,
    drift_level,
    feature_drift,
    psi,
    psi_against,
    reference_bins,
)
from governance.contracts.errors import VruError

N = 5_000


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


@pytest.fixture(scope="module")
def reference(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=N)


# ----------------------------------------------------------------------------------------------
# psi


def test_identical_samples_have_zero_psi(reference: np.ndarray) -> None:
    assert psi(reference, reference) == 0.0
    assert psi(pd.Series(reference), reference.copy(), bins=20) == 0.0


def test_psi_grows_with_the_mean_shift(rng: np.random.Generator, reference: np.ndarray) -> None:
    fresh = rng.normal(size=N)  # a second sample of the same population, then shifted
    values = [psi(reference, fresh + shift) for shift in (0.0, 0.5, 1.0)]
    assert values[0] < values[1] < values[2]
    assert values[0] < 0.1  # sampling noise only
    assert values[2] > 0.25


def test_psi_is_roughly_symmetric(rng: np.random.Generator, reference: np.ndarray) -> None:
    shifted = rng.normal(loc=0.5, size=N)
    forward, backward = psi(reference, shifted), psi(shifted, reference)
    assert 0.05 < forward < 1.0
    assert 1 / 3 < forward / backward < 3  # bins differ, so only the order of magnitude matches


def test_constant_columns(rng: np.random.Generator) -> None:
    constant = np.full(200, 3.0)
    assert psi(constant, constant) == 0.0
    assert psi(constant, np.full(50, 3.0)) == 0.0
    above, below = psi(constant, np.full(50, 4.0)), psi(constant, np.full(50, 2.0))
    assert math.isfinite(above) and above > 0.25
    assert below == pytest.approx(above)  # a fall is seen as well as a rise
    assert psi(rng.normal(size=200), constant) > 0.25  # a column that became constant


def test_zero_inflated_column_keeps_its_point_mass_apart(rng: np.random.Generator) -> None:
    reference = np.where(rng.random(N) < 0.9, 0.0, rng.exponential(size=N))
    more_zeros = np.where(rng.random(N) < 0.5, 0.0, rng.exponential(size=N))
    assert psi(reference, reference[::-1].copy()) == 0.0
    assert psi(reference, more_zeros) > 0.25


@pytest.mark.parametrize("share", [0.05, 0.2, 0.95])
def test_flags_are_compared_value_by_value(rng: np.random.Generator, share: float) -> None:
    reference = rng.random(N) < share
    assert psi(reference, rng.random(N) < share) < 0.01
    assert psi(reference, rng.random(N) < 0.5) > 0.25  # whichever side the point mass is on


def test_missing_values_are_a_bin_of_their_own(rng: np.random.Generator) -> None:
    def with_missing(share: float) -> np.ndarray:
        values = rng.normal(size=N)
        values[rng.random(N) < share] = np.nan
        return values

    reference = with_missing(0.1)
    assert psi(reference, with_missing(0.1)) < 0.1
    assert psi(reference, with_missing(0.5)) > 0.25
    all_missing = np.full(100, np.nan)
    assert math.isfinite(psi(reference, all_missing)) and psi(reference, all_missing) > 1
    assert math.isfinite(psi(all_missing, reference))
    assert psi(all_missing, all_missing) == 0.0
    nullable = pd.Series([1, None, 3, 4, None], dtype="Int64")
    assert psi(nullable, nullable) == 0.0


def test_values_beyond_the_reference_range_fall_in_the_outer_bins(reference: np.ndarray) -> None:
    far = psi(reference, reference + 100.0)
    assert math.isfinite(far)
    assert far == pytest.approx(psi(reference, np.full(N, np.inf)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bins": 1}, "'bins' must be an integer of at least 2 (got 1)"),
        ({"bins": 2.5}, "'bins' must be an integer of at least 2 (got 2.5)"),
        ({"current": []}, "'current' has no values; population stability needs at least one"),
        ({"reference": ["a", "b"]}, "'reference' must be numeric (got dtype <U1)"),
        ({"current": pd.Series(["a"])}, "'current' must be numeric (got dtype str)"),
        ({"current": np.zeros((2, 2))}, "'current' must be one-dimensional; got shape (2, 2)"),
    ],
)
def test_psi_errors_name_the_parameter(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"reference": [1.0, 2.0, 3.0], "current": [1.0, 2.0], **kwargs}
    with pytest.raises(DriftInputError) as caught:
        psi(**arguments)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert isinstance(caught.value, VruError) and isinstance(caught.value, ValueError)


# ----------------------------------------------------------------------------------------------
# drift_level and feature_drift


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (0.0, "stable"),
        (0.0999, "stable"),
        (0.1, "moderate"),
        (0.2499, "moderate"),
        (0.25, "significant"),
        (3.0, "significant"),
    ],
)
def test_drift_level_rule_of_thumb(value: float, level: str) -> None:
    assert drift_level(value) == level


@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf])
def test_drift_level_refuses_impossible_values(value: float) -> None:
    with pytest.raises(DriftInputError, match="'psi' must be a non-negative, finite number"):
        drift_level(value)


def test_feature_drift_labels_sorts_and_lists_columns(rng: np.random.Generator) -> None:
    n = 4_000
    reference = pd.DataFrame(
        {
            "age": rng.normal(30, 10, n),
            "prior_contacts": rng.poisson(2.0, n),
            "school_moves": rng.normal(size=n),
            "excluded": rng.random(n) < 0.2,
            "ward": rng.choice(["W1", "W2"], n),
            "dropped_feature": rng.normal(size=n),
        }
    )
    current = pd.DataFrame(
        {
            "age": rng.normal(30, 10, n),  # same population
            "prior_contacts": rng.poisson(2.0, n) + 3,  # large shift
            "school_moves": rng.normal(0.4, 1.0, n),  # modest shift
            "excluded": rng.random(n) < 0.2,
            "ward": rng.choice(["W1", "W2"], n),  # not numeric: left out
            "new_feature": rng.normal(size=n),
        }
    )
    rows = feature_drift(reference, current)
    by_feature = {row["feature"]: row for row in rows}

    assert [row["feature"] for row in rows[:4]] == sorted(
        ["age", "prior_contacts", "school_moves", "excluded"], key=lambda f: -by_feature[f]["psi"]
    )
    assert [row["feature"] for row in rows[:2]] == ["prior_contacts", "school_moves"]
    assert by_feature["prior_contacts"]["level"] == "significant"
    assert by_feature["school_moves"]["level"] == "moderate"
    assert by_feature["age"]["level"] == "stable"
    assert by_feature["excluded"]["level"] == "stable"
    assert all(row["level"] == drift_level(row["psi"]) for row in rows[:4])
    assert "ward" not in by_feature
    assert rows[4:] == [
        {"feature": "dropped_feature", "psi": None, "level": "missing_in_current"},
        {"feature": "new_feature", "psi": None, "level": "new_in_current"},
    ]
    json.dumps(rows)


def test_feature_drift_refuses_non_frames() -> None:
    with pytest.raises(
        DriftInputError, match=r"^'current' must be a pandas DataFrame \(got list\)$"
    ):
        feature_drift(pd.DataFrame({"a": [1.0]}), [1.0])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# compare_figures


def test_compare_figures_side_by_side() -> None:
    champion = {"auc": 0.5, "brier": 0.25, "ece": None, "retired": 1.0}
    candidate = {"auc": 0.75, "brier": None, "ece": 0.03, "tpr_gap": 0.125}
    assert compare_figures(champion, candidate) == [
        {"figure": "auc", "champion": 0.5, "candidate": 0.75, "change": 0.25, "status": "shared"},
        {
            "figure": "brier",
            "champion": 0.25,
            "candidate": None,
            "change": None,
            "status": "shared",
        },
        {"figure": "ece", "champion": None, "candidate": 0.03, "change": None, "status": "shared"},
        {
            "figure": "retired",
            "champion": 1.0,
            "candidate": None,
            "change": None,
            "status": "champion_only",
        },
        {
            "figure": "tpr_gap",
            "champion": None,
            "candidate": 0.125,
            "change": None,
            "status": "candidate_only",
        },
    ]


def test_compare_figures_reads_numpy_numbers_and_nan_as_missing() -> None:
    champion = {"auc": np.float32(0.5), "n": 10}
    candidate = {"auc": math.nan, "n": np.int64(12)}
    rows = compare_figures(champion, candidate)  # type: ignore[arg-type]
    assert rows[0]["candidate"] is None and rows[0]["change"] is None
    assert rows[1]["change"] == 2.0
    json.dumps(rows)


def test_compare_figures_refuses_non_numbers() -> None:
    with pytest.raises(
        DriftInputError,
        match=r"^Figure 'auc' of the candidate must be a number or None \(got '0\.8'\)$",
    ):
        compare_figures({"auc": 0.7}, {"auc": "0.8"})  # type: ignore[dict-item]


def test_kept_bins_give_the_same_psi_as_the_reference_rows() -> None:
    rng = np.random.default_rng(3)
    before = np.where(rng.random(5_000) < 0.1, np.nan, rng.poisson(2.0, 5_000).astype(float))
    after = rng.poisson(2.6, 4_000).astype(float)
    kept = reference_bins(before)
    assert set(kept) == {"cuts", "shares"} and abs(sum(kept["shares"]) - 1) < 1e-12
    assert psi_against(kept, after) == pytest.approx(psi(before, after), abs=1e-12)
    assert psi_against(kept, before) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(DriftInputError, match="reference_bins"):
        psi_against({"cuts": [1.0]}, after)
