"""The generated city behaves like the causal structure and recording bias it documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.contracts.layout import DataLayout
from tests.helpers import make_config
from training.generate.run import run_generate


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_generate(make_config(persons=30_000), tmp_path_factory.mktemp("realism")).data_dir


@pytest.fixture(scope="module")
def persons(city: Path) -> pd.DataFrame:
    frame = pd.read_parquet(city / "truth/persons.parquet")
    geo = pd.read_parquet(DataLayout(city).geography).set_index("lsoa_code")
    return frame.assign(decile=frame["lsoa_code_at_end"].map(geo["deprivation_decile"]))


def test_recorded_violence_rises_with_deprivation_like_londons(
    city: Path, persons: pd.DataFrame
) -> None:
    police = pd.read_parquet(DataLayout(city).extract("police"))
    link = pd.read_parquet(city / "truth/record_person.parquet")
    serious = police[
        (police["role"] == "suspect")
        & police["offence_group"].isin(
            ["violence_against_person", "possession_of_weapons", "robbery"]
        )
    ].merge(link, on=["source", "record_id"])
    counts = serious.merge(persons, on="person_id").groupby("decile").size()
    rate = counts / persons.groupby("decile").size()
    most, least = rate.loc[[1, 2]].mean(), rate.loc[[9, 10]].mean()
    # London's recorded violence per resident: about 4.9x from IMD decile 1 to 10 (2019)
    assert 2.5 < most / least < 10


@pytest.mark.parametrize(
    ("cause", "effect"),
    [
        ("domestic_abuse", "child_in_need"),
        ("poverty", "persistent_absence"),
        ("persistent_absence", "exclusion"),
        ("looked_after", "missing_episodes"),
        ("exclusion", "true_involved"),
        ("domestic_abuse", "true_involved"),
    ],
)
def test_each_documented_cause_raises_its_effect(
    persons: pd.DataFrame, cause: str, effect: str
) -> None:
    rate = persons.groupby(cause)[effect].mean()
    assert rate[True] > 1.3 * rate[False]


def test_child_protection_and_care_only_follow_child_in_need(persons: pd.DataFrame) -> None:
    assert not (persons["child_protection"] & ~persons["child_in_need"]).any()
    assert not (persons["looked_after"] & ~persons["child_in_need"]).any()


def test_recording_bias_by_group_is_there_to_find(city: Path, persons: pd.DataFrame) -> None:
    violence = pd.read_parquet(city / "truth/violence.parquet")
    offences = violence[violence["perpetrator"]].merge(
        persons[["person_id", "ethnicity"]], on="person_id"
    )
    recorded = offences.groupby("ethnicity")["recorded_offence"].mean()
    assert recorded["Black"] > recorded["White"] + 0.05  # group_log_or Black 0.5 by default


def test_victims_reach_ae_evenly(city: Path, persons: pd.DataFrame) -> None:
    violence = pd.read_parquet(city / "truth/violence.parquet")
    victims = violence[violence["victim"]].merge(
        persons[["person_id", "ethnicity"]], on="person_id"
    )
    at_ae = victims.groupby("ethnicity")["at_ae"].mean()
    assert np.ptp(at_ae.to_numpy()) < 0.1


def test_a_recorded_outcome_is_in_the_extracts(city: Path, persons: pd.DataFrame) -> None:
    link = pd.read_parquet(city / "truth/record_person.parquet")
    health = pd.read_parquet(DataLayout(city).extract("health"))
    police = pd.read_parquet(DataLayout(city).extract("police"))
    assaults = health[health["diagnosis_category"].isin(["assault", "sharp_object_injury"])]
    proven = police[
        (police["role"] == "suspect")
        & police["outcome"].isin(["charge", "caution"])
        & police["offence_group"].isin(
            ["violence_against_person", "possession_of_weapons", "robbery"]
        )
    ]
    seen = set(pd.concat([assaults, proven])[["source", "record_id"]].merge(link)["person_id"])
    recorded = set(persons.loc[persons["recorded_involved"], "person_id"])
    assert recorded and recorded == seen
