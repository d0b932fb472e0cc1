"""Known answer: the recording-bias audit finds the generator's bias by group when it is on,
and no difference when it is off.

Two small cities from the same seed, identical but for ``recording.group_log_or``: all zero
(no disproportionality) or the default (Black young people's offences recorded at log odds
+0.5 against White). Nearly half the population White, half Black, so that a few thousand young
people give each group hundreds of truly involved; one as-of date, so every young person is
one row (the intervals assume independent rows); a perfect spine, so only recording differs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import make_config
from tests.training.test_recording import _spine_from_truth
from training.evaluation.recording import truth_comparison
from training.features.build import run_features
from training.features.config import FeaturesConfig
from training.generate.config import ETHNIC_GROUPS, RecordingConfig
from training.generate.run import run_generate

AS_OF = dt.date(2016, 3, 31)
MONTHS = 108  # to the end of the extracts: more of each young person's violence is seen
# nearly half and half (a zero share is not allowed: the generator takes its log)
HALF_AND_HALF = {g: 0.485 if g in ("White", "Black") else 0.01 for g in ETHNIC_GROUPS}
POLICE_INPUTS = ["offences_ever", "violent_offences_ever"]


def _audit(root: Path, *, bias: bool) -> dict[str, Any]:
    recording = {} if bias else {"group_log_or": dict.fromkeys(ETHNIC_GROUPS, 0.0)}
    config = make_config(
        persons=12000,
        outcome={"base": 0.4},
        population={"ethnicity": HALF_AND_HALF},
        recording=recording,
    )
    data = run_generate(config, root / "data").data_dir
    _spine_from_truth(data)
    run_features(
        FeaturesConfig(as_of_dates=[AS_OF], min_age=10, max_age=24, label_months=MONTHS), data
    )
    rows = pd.read_parquet(data / "features" / "features.parquet")
    assert rows["person_key"].is_unique  # one row per young person
    rows = rows.assign(score=np.full(len(rows), 0.5))
    return truth_comparison(
        data,
        rows,
        label_months=MONTHS,
        outcome="either",
        group_columns=["ethnicity"],
        min_group_size=50,
        min_outcomes=30,
        confidence=0.95,
        input_columns=POLICE_INPUTS,
        replicates=200,
        seed=7,
        reference_groups={"ethnicity": "White"},
    )


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, dict[str, Any]]:
    return {
        bias: _audit(tmp_path_factory.mktemp(f"bias-{bias}"), bias=bias) for bias in (False, True)
    }


def _black(out: dict[str, Any], pathway: str) -> dict[str, Any]:
    by = out["pathways"][pathway]["by"]["ethnicity"]
    assert by["reference"] == "White"
    return by["groups"]["Black"]


def test_the_default_bias_is_the_one_the_issue_names() -> None:
    bias = RecordingConfig().group_log_or
    assert bias["Black"] > bias["White"] == 0.0


def test_with_the_bias_off_no_pathway_differs_between_groups(
    audits: dict[bool, dict[str, Any]],
) -> None:
    for pathway in ("health", "police_offending", "police_victimisation"):
        black = _black(audits[False], pathway)
        assert black["judged"], pathway  # hundreds truly involved: a verdict is possible
        assert black["differs"] is False, (pathway, black)
        assert black["ratio_low"] < 1.0 < black["ratio_high"]


def test_with_the_bias_on_police_recording_of_black_young_people_is_higher(
    audits: dict[bool, dict[str, Any]],
) -> None:
    police = _black(audits[True], "police_offending")
    assert police["differs"] is True
    assert police["ratio_low"] > 1.0  # the built-in direction: Black > White
    white = audits[True]["pathways"]["police_offending"]["by"]["ethnicity"]["groups"]["White"]
    assert police["rate"] > white["rate"]
    # the health pathway carries no group bias in the generator, and the audit sees none
    assert _black(audits[True], "health")["differs"] is False


def test_the_bias_changes_only_the_police_pathway(audits: dict[bool, dict[str, Any]]) -> None:
    off, on = audits[False]["pathways"], audits[True]["pathways"]
    white = {k: v["by"]["ethnicity"]["groups"]["White"] for k, v in on.items()}
    white_off = {k: v["by"]["ethnicity"]["groups"]["White"] for k, v in off.items()}
    assert white == white_off  # same seed, White untouched
    assert _black(audits[True], "health") == _black(audits[False], "health")
    assert (
        _black(audits[True], "police_offending")["k"]
        > _black(audits[False], "police_offending")["k"]
    )


def test_label_error_rates_carry_intervals(audits: dict[bool, dict[str, Any]]) -> None:
    for out in audits.values():
        errors = out["label_errors"]
        for kind in ("sensitivity", "false_recording"):
            for figures in errors[kind]["by"]["ethnicity"]["groups"].values():
                assert figures["low"] <= figures["rate"] <= figures["high"]
        # a perfect spine: nothing is recorded that did not happen
        assert errors["false_recording"]["overall"]["k"] == 0
        assert 0.5 < errors["sensitivity"]["overall"]["rate"] < 1.0


def test_the_police_inputs_are_shown_by_group_against_the_truth(
    audits: dict[bool, dict[str, Any]],
) -> None:
    # few had violence before 2016 inside the extracts' period: the inputs' figures stand
    # with their intervals, but too few are truly involved to judge them here
    on = audits[True]["input_audit"]["by"]["ethnicity"]
    assert on["reference"] == "White"
    assert set(on["strata"]) == {"all", "involved", "not_involved"}
    for column in POLICE_INPUTS:
        for stratum in on["strata"].values():
            black = stratum[column]["Black"]
            if not black["withheld"]:
                assert black["low"] <= black["mean"] <= black["high"]
    true = on["true_rate"]["Black"]
    assert true["low"] <= true["rate"] <= true["high"]
