"""Recorded against true outcomes by group, and linkage quality by group, for the audit."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governance.contracts.errors import VruError
from tests.helpers import make_config
from training.config import PipelineConfig
from training.evaluation.input_audit import bootstrap_means, input_audit
from training.evaluation.recording import AuditInputError, linkage_by_group, truth_comparison
from training.evaluation.recording_pathways import label_errors, pathway_figures
from training.evaluation.recording_stats import by_group_shares, clopper_pearson, katz_ratio
from training.evaluation.truth import read_truth
from training.features.build import run_features
from training.features.config import FeaturesConfig
from training.generate.config import RecordingConfig
from training.generate.run import run_generate
from training.linkage.stage import run_link

GROUPS = ["sex", "ethnicity", "deprivation_quintile"]
PROVEN_ALWAYS = {"charge": 1.0, "caution": 0.0, "community_resolution": 0.0, "nfa": 0.0}


def _rows(data: Path, seed: int = 0) -> pd.DataFrame:
    """Feature rows as the audit passes them: with a score and a deprivation quintile."""
    table = pd.read_parquet(data / "features" / "features.parquet")
    rng = np.random.default_rng(seed)
    score = np.clip(0.02 + 0.3 * table["label"] + 0.2 * rng.random(len(table)), 0.0, 1.0)
    return table.assign(
        score=score, deprivation_quintile=(table["deprivation_decile"].astype(int) + 1) // 2
    )


def _compare(data: Path, rows: pd.DataFrame, **options: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "label_months": 24,
        "outcome": "either",
        "group_columns": GROUPS,
        "min_group_size": 50,
    }
    return truth_comparison(data, rows, **{**kwargs, **options})


def _spine_from_truth(data: Path) -> None:
    """A perfect linkage (one person key per true person), so that only recording differs."""
    link = read_truth(data, "record_person")
    spine = link.assign(
        person_key="T" + link["person_id"].astype(str).str.zfill(9), match_probability=1.0
    )
    (data / "linked").mkdir()
    spine[["source", "record_id", "person_key", "match_probability"]].to_parquet(
        data / "linked" / "spine.parquet"
    )


@pytest.fixture(scope="module")
def featured_city(small_city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small city linked by Splink and featured, with the calls `vru link` and `vru features` make."""
    data = tmp_path_factory.mktemp("recording") / "data"
    shutil.copytree(small_city_dir, data)
    pipeline = PipelineConfig.model_validate({"link": {"u_max_pairs": 2e5, "em_max_pairs": 2e5}})
    run_link(pipeline, data)
    run_features(pipeline.features, data)
    return data


@pytest.fixture(scope="module")
def complete_rows(featured_city: Path) -> pd.DataFrame:
    rows = _rows(featured_city)
    return rows[rows["label_complete"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def perfect_city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    """Every true incident recorded (A&E always, offences always recorded and proven), and a
    perfect spine: any difference left between recorded and true is in the label window."""
    config = make_config(
        outcome={"base": 0.05},
        recording={
            "assault_attendance_recorded": 1.0,
            "offence_recorded_base": 0.999999,
            "proven_outcome_shares": PROVEN_ALWAYS,
        },
    )
    data = run_generate(config, tmp_path_factory.mktemp("perfect") / "data").data_dir
    _spine_from_truth(data)
    rows = {}
    for outcome in ("victim", "perpetrator", "either"):
        run_features(FeaturesConfig(outcome=outcome), data)
        rows[outcome] = _rows(data)
    return data, rows


def test_recording_loses_true_outcomes(featured_city: Path, complete_rows: pd.DataFrame) -> None:
    out = _compare(featured_city, complete_rows)
    assert out["available"] is True
    overall = out["overall"]
    assert overall["count"] == len(complete_rows) - out["unlinked_rows"]
    assert out["unlinked_rows"] == 0
    # A&E misses ~15% of victims and most offences are never proven: the records see less
    assert overall["recorded_rate"] < overall["true_rate"]
    assert overall["recorded_to_true"] < 0.9
    assert 0.0 <= overall["roc_auc_true"] <= 1.0
    assert set(out["by"]) == set(GROUPS)
    assert set(out["by"]["sex"]) == {"F", "M"}
    assert "recorded" in out["note"] and "true" in out["note"]


def test_a_recorded_outcome_is_a_true_outcome(
    featured_city: Path, complete_rows: pd.DataFrame
) -> None:
    recorded = complete_rows[complete_rows["label"] == 1]
    assert len(recorded) >= 20
    out = _compare(featured_city, recorded, min_group_size=1)
    assert out["overall"]["true_rate"] >= 0.9  # only linkage error may break it


@pytest.mark.parametrize("outcome", ["victim", "perpetrator", "either"])
def test_with_perfect_recording_true_equals_recorded(
    perfect_city: tuple[Path, dict[str, pd.DataFrame]], outcome: str
) -> None:
    data, all_rows = perfect_city
    rows = all_rows[outcome]  # every as-of date, windows past the data's end included
    overall = _compare(data, rows, outcome=outcome)["overall"]
    positives = _compare(data, rows[rows["label"] == 1], outcome=outcome, min_group_size=1)
    # every recorded outcome is true, and there are as many true as recorded: the same rows
    assert positives["overall"]["count"] >= 50
    assert positives["overall"]["true_rate"] == 1.0
    assert overall["true_rate"] == overall["recorded_rate"]
    assert overall["recorded_to_true"] == 1.0


def test_a_different_window_breaks_the_agreement(
    perfect_city: tuple[Path, dict[str, pd.DataFrame]],
) -> None:
    data, all_rows = perfect_city
    rows = all_rows["either"]
    overall = _compare(data, rows, label_months=36)["overall"]
    assert overall["true_rate"] > overall["recorded_rate"]


def test_recorded_to_true_follows_the_recording_bias_by_ethnic_group(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # the default disproportionality, tripled, in a city with more violence: readable at 4,000
    bias = {g: 3 * v for g, v in RecordingConfig().group_log_or.items()}
    config = make_config(
        persons=4000,
        outcome={"base": 0.15},
        recording={
            "group_log_or": bias,
            "offence_recorded_base": 0.3,
            "proven_outcome_shares": PROVEN_ALWAYS,
        },
    )
    data = run_generate(config, tmp_path_factory.mktemp("biased") / "data").data_dir
    _spine_from_truth(data)
    run_features(FeaturesConfig(outcome="perpetrator"), data)
    rows = _rows(data)
    rows = rows[rows["label_complete"]]
    by = _compare(data, rows, outcome="perpetrator", group_columns=["ethnicity"])["by"]["ethnicity"]
    most, least = max(bias, key=bias.__getitem__), min(bias, key=bias.__getitem__)
    assert (most, least) == ("Black", "White")
    assert not by[most]["too_small"] and not by[least]["too_small"]
    assert by[most]["recorded_to_true"] > by[least]["recorded_to_true"] + 0.2
    assert all(v["recorded_to_true"] < 1.0 for v in by.values() if not v["too_small"])


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def test_the_output_holds_no_identifier_and_only_plain_values(
    featured_city: Path, complete_rows: pd.DataFrame
) -> None:
    out = _compare(featured_city, complete_rows)
    assert _plain(out)
    text = json.dumps(out)
    keys = complete_rows["person_key"].astype(str).unique()
    assert len(keys) > 1000
    assert not [k for k in keys if k in text]


def test_rows_without_a_true_person_are_counted_and_left_out(
    featured_city: Path, complete_rows: pd.DataFrame
) -> None:
    stranger = complete_rows.head(7).assign(person_key="NOT-A-KEY")
    out = _compare(featured_city, pd.concat([complete_rows, stranger], ignore_index=True))
    assert out["unlinked_rows"] == 7
    assert out["overall"]["count"] == len(complete_rows)
    assert "NOT-A-KEY" not in json.dumps(out)


def test_without_ground_truth_it_says_so(
    featured_city: Path, complete_rows: pd.DataFrame, tmp_path: Path
) -> None:
    real = tmp_path / "real"
    shutil.copytree(featured_city, real, ignore=shutil.ignore_patterns("truth"))
    for data in (real, tmp_path / "empty"):
        out = _compare(data, complete_rows)
        assert out["available"] is False
        assert "ground truth" in out["reason"]
        assert set(out) == {"available", "reason"}


def test_too_small_groups_are_flagged_not_hidden(
    featured_city: Path, complete_rows: pd.DataFrame
) -> None:
    out = _compare(featured_city, complete_rows, min_group_size=1000)
    flags = [g["too_small"] for dim in out["by"].values() for g in dim.values()]
    assert any(flags) and not all(flags)
    for dim in out["by"].values():
        for group in dim.values():
            assert group["count"] > 0
            if group["count"] < 1000:
                assert group["too_small"] is True
            if group["too_small"]:
                figures = {k: v for k, v in group.items() if k not in ("count", "too_small")}
                assert set(figures.values()) == {None}
    assert sum(g["count"] for g in out["by"]["sex"].values()) == out["overall"]["count"]


@pytest.mark.parametrize("column", ["score", "person_key", "deprivation_quintile"])
def test_a_missing_column_is_named(
    featured_city: Path, complete_rows: pd.DataFrame, column: str
) -> None:
    with pytest.raises(AuditInputError, match=f"no column '{column}'") as err:
        _compare(featured_city, complete_rows.drop(columns=[column]))
    assert isinstance(err.value, VruError) and isinstance(err.value, ValueError)


def test_labels_and_scores_are_checked(featured_city: Path, complete_rows: pd.DataFrame) -> None:
    with pytest.raises(AuditInputError, match="'label' must hold 0 or 1 only; 1 row"):
        _compare(featured_city, complete_rows.assign(label=[2] + [0] * (len(complete_rows) - 1)))
    with pytest.raises(AuditInputError, match="'score' must hold probabilities"):
        _compare(featured_city, complete_rows.assign(score=1.5))
    with pytest.raises(AuditInputError, match="'as_of_date' must hold a date on every row; 1 row"):
        _compare(
            featured_city,
            complete_rows.assign(
                as_of_date=["soon"] + [dt.date(2019, 3, 31)] * (len(complete_rows) - 1)
            ),
        )
    with pytest.raises(AuditInputError, match="outcome: got 'both'"):
        _compare(featured_city, complete_rows, outcome="both")


def test_linkage_quality_by_group(featured_city: Path, tmp_path: Path) -> None:
    out = linkage_by_group(featured_city)
    assert out["available"] is True
    assert 0.9 < out["overall"]["precision"] <= 1.0
    assert {"sex", "ethnicity", "deprivation_quintile"} <= set(out["by_group"])
    assert "recall" in out["by_group"]["ethnicity"]["White"]

    assert linkage_by_group(tmp_path)["available"] is False
    (tmp_path / "linked").mkdir()
    report = {"quality": {"available": False, "note": "No ground truth here."}}
    (tmp_path / "linked" / "report.json").write_text(json.dumps(report))
    missing = linkage_by_group(tmp_path)
    assert missing == {
        "available": False,
        "reason": "The linkage report has no quality figures: No ground truth here.",
    }


# -- by pathway, label errors, inputs: the arithmetic against hand-worked values --------------


def test_clopper_pearson_matches_hand_worked_bounds() -> None:
    # k = 0: upper bound 1 - (alpha/2)^(1/n); k = n: lower bound (alpha/2)^(1/n)
    low, high = clopper_pearson(0, 10, 0.95)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-9)
    low, high = clopper_pearson(5, 5, 0.95)
    assert low == pytest.approx(0.025 ** (1 / 5), abs=1e-9) and high == 1.0
    with pytest.raises(ValueError, match="k=6, n=5"):
        clopper_pearson(6, 5, 0.95)


def test_katz_ratio_matches_a_hand_worked_interval() -> None:
    # 30/50 against 20/50: ratio 1.5, se(log) = sqrt(1/30 - 1/50 + 1/20 - 1/50) = 0.208167
    ratio, low, high = katz_ratio(30, 50, 20, 50, 0.95)
    se = (1 / 30 - 1 / 50 + 1 / 20 - 1 / 50) ** 0.5
    assert ratio == pytest.approx(1.5)
    assert low == pytest.approx(1.5 * np.exp(-1.959964 * se), rel=1e-6)
    assert high == pytest.approx(1.5 * np.exp(1.959964 * se), rel=1e-6)
    assert katz_ratio(20, 50, 0, 50, 0.95) == (None, None, None)  # no reference share


def test_katz_ratio_at_a_share_of_one_is_continuity_corrected() -> None:
    # 16 of 16 against 29 of 30: uncorrected, the first group would add no variance at all
    ratio, low, high = katz_ratio(16, 16, 29, 30, 0.95)
    assert ratio == pytest.approx(30 / 29)
    a, m, b, n = 16.5, 17, 29.5, 31
    se = (1 / a - 1 / m + 1 / b - 1 / n) ** 0.5
    centre = np.log((a / m) / (b / n))
    assert low == pytest.approx(np.exp(centre - 1.959964 * se), rel=1e-6)
    assert high == pytest.approx(np.exp(centre + 1.959964 * se), rel=1e-6)
    # none recorded in a group: a ratio of 0 with an interval, not a certainty
    ratio, low, high = katz_ratio(0, 40, 20, 50, 0.95)
    assert ratio == 0.0 and low is not None and 0 < low < high < 1


def _groups_of(sizes: dict[str, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """recorded, involved, group arrays with k recorded of n involved per group (and as many
    not involved)."""
    recorded, involved, groups = [], [], []
    for g, (k, n) in sizes.items():
        recorded += [1] * k + [0] * (n - k) + [0] * n
        involved += [1] * n + [0] * n
        groups += [g] * (2 * n)
    return np.array(recorded), np.array(involved), np.array(groups, dtype=object)


def test_by_group_shares_judges_only_with_enough_outcomes() -> None:
    recorded, involved, groups = _groups_of({"A": (60, 100), "B": (120, 300), "C": (9, 20)})
    out = by_group_shares(recorded, involved, groups, confidence=0.95, min_outcomes=30)
    assert out["reference"] == "B"  # the most truly involved
    a, b, c = (out["groups"][g] for g in "ABC")
    assert b["ratio"] == 1.0 and b["judged"] is False
    assert a["rate"] == 0.6 and a["ratio"] == pytest.approx(1.5)
    assert a["judged"] and a["differs"] is True and a["ratio_low"] > 1
    assert c["judged"] is False and c["differs"] is None  # 20 involved: shown, not judged
    assert c["low"] < c["rate"] < c["high"]
    chosen = by_group_shares(
        recorded, involved, groups, confidence=0.95, min_outcomes=30, reference="A"
    )
    assert chosen["reference"] == "A"
    assert chosen["groups"]["B"]["ratio"] == pytest.approx(1 / 1.5)


def test_equal_recording_is_not_called_different() -> None:
    recorded, involved, groups = _groups_of({"A": (50, 100), "B": (150, 300)})
    a = by_group_shares(recorded, involved, groups, confidence=0.95, min_outcomes=30)["groups"]
    assert a["A"]["ratio"] == pytest.approx(1.0) and a["A"]["differs"] is False


def test_a_group_with_under_five_involved_is_withheld() -> None:
    recorded, involved, groups = _groups_of({"A": (2, 4), "B": (150, 300)})
    a = by_group_shares(recorded, involved, groups, confidence=0.95, min_outcomes=30)["groups"]
    assert a["A"]["withheld"] and a["A"]["rate"] is None and a["A"]["k"] is None


def test_pathways_and_label_errors_from_flags() -> None:
    n = 400
    rng = np.random.default_rng(3)
    groups = {"g": np.where(np.arange(n) < n // 2, "X", "Y").astype(object)}
    true_victim = rng.random(n) < 0.5
    flags = pd.DataFrame(
        {
            "true_victim": true_victim,
            "ae_recorded": true_victim,  # every victim reaches A&E
            "police_victim": np.zeros(n, dtype=bool),
            "true_perpetrator": true_victim,
            "police_offence": true_victim & (np.arange(n) < n // 2),  # only group X recorded
        }
    )
    out = pathway_figures(flags, groups, confidence=0.95, min_outcomes=30)
    assert out["health"]["overall"]["rate"] == 1.0
    police = out["police_offending"]["by"]["g"]["groups"]
    assert police["X"]["rate"] == 1.0 and police["Y"]["rate"] == 0.0
    errors = label_errors(
        flags["ae_recorded"].to_numpy(), true_victim, groups, confidence=0.95, min_outcomes=30
    )
    assert errors["sensitivity"]["overall"]["rate"] == 1.0
    assert errors["false_recording"]["overall"]["rate"] == 0.0
    with pytest.raises(ValueError, match="police_offence"):
        pathway_figures(
            flags.drop(columns="police_offence"), groups, confidence=0.95, min_outcomes=30
        )


def test_input_audit_finds_an_input_recorded_more_for_one_group() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    group = np.where(rng.random(n) < 0.5, "A", "B").astype(object)
    involved = rng.random(n) < 0.2
    # the same truth, but group B's involvement is recorded twice as often
    recorded = involved & (rng.random(n) < np.where(group == "B", 0.8, 0.4))
    even = involved & (rng.random(n) < 0.6)
    inputs = pd.DataFrame({"biased": recorded.astype(int), "even": even.astype(int)})
    out = input_audit(
        inputs,
        involved,
        {"g": group},
        confidence=0.95,
        min_outcomes=30,
        replicates=200,
        seed=1,
        references={"g": "A"},
    )
    strata = out["by"]["g"]["strata"]["involved"]
    assert strata["biased"]["B"]["differs"] is True and strata["biased"]["B"]["ratio_low"] > 1.5
    assert strata["even"]["B"]["differs"] is False
    again = input_audit(
        inputs,
        involved,
        {"g": group},
        confidence=0.95,
        min_outcomes=30,
        replicates=200,
        seed=1,
        references={"g": "A"},
    )
    assert again == out  # seeded
    with pytest.raises(ValueError, match="missing values in biased"):
        input_audit(
            inputs.assign(biased=np.nan),
            involved,
            {"g": group},
            confidence=0.95,
            min_outcomes=30,
            replicates=200,
            seed=1,
        )


def test_the_city_audit_has_pathways_errors_and_inputs(
    featured_city: Path, complete_rows: pd.DataFrame
) -> None:
    out = _compare(featured_city, complete_rows, input_columns=["offences_ever", "not_a_column"])
    assert set(out["pathways"]) == {"health", "police_offending", "police_victimisation"}
    health = out["pathways"]["health"]["overall"]
    assert health["low"] <= health["rate"] <= health["high"]
    assert set(out["label_errors"]) == {"sensitivity", "false_recording"}
    assert out["input_audit"]["inputs"] == ["offences_ever"]
    assert _plain(out)


def test_bootstrap_means_spread_as_the_standard_error() -> None:
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.poisson(0.3, 5000), rng.random(5000) < 0.1]).astype(float)
    boot = bootstrap_means(x, 2000, np.random.default_rng(3))
    assert boot.shape == (2000, 2)
    assert boot.mean(axis=0) == pytest.approx(x.mean(axis=0), rel=0.01)
    se = x.std(axis=0, ddof=1) / np.sqrt(len(x))
    assert boot.std(axis=0) == pytest.approx(se, rel=0.1)


def test_an_input_almost_never_recorded_is_shown_not_judged() -> None:
    rng = np.random.default_rng(6)
    n = 3000
    group = np.where(np.arange(n) < n // 2, "A", "B").astype(object)
    rare = np.zeros(n)
    rare[:40] = 1  # group A: 40 with a record; group B: none
    out = input_audit(
        pd.DataFrame({"rare": rare}),
        rng.random(n) < 0.1,
        {"g": group},
        confidence=0.95,
        min_outcomes=30,
        replicates=100,
        seed=1,
        references={"g": "A"},
    )
    b = out["by"]["g"]["strata"]["all"]["rare"]["B"]
    assert b["mean"] == 0.0 and b["judged"] is False and b["differs"] is None
