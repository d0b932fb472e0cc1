"""Programmes in the generator: where they run, what they truly do, and nothing else changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from governance.contracts.errors import ConfigError
from tests.helpers import make_config
from training.generate.programme_config import ProgrammeConfig
from training.generate.run import GenerateResult, run_generate

START = dt.date(2016, 4, 1)
_BIG = {"name": "big", "rule": "top_wards_by_deprivation", "top_share": 0.5, "reach": 1.0}


def _city(tmp_path: Path, name: str, programmes: list[dict[str, object]]) -> GenerateResult:
    return run_generate(make_config(persons=6000, programmes=programmes), tmp_path / name)


@pytest.fixture(scope="module")
def cities(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GenerateResult]:
    root = tmp_path_factory.mktemp("programme_cities")
    return {
        "none": _city(root, "none", []),
        "zero": _city(root, "zero", [{**_BIG, "start_dates": [START], "effect_on_outcome": 0.0}]),
        "big": _city(root, "big", [{**_BIG, "start_dates": [START], "effect_on_outcome": -0.8}]),
    }


def _hashes(result: GenerateResult) -> dict[str, str]:
    files = result.manifest["files"]
    assert isinstance(files, dict)
    return {name: meta["sha256"] for name, meta in files.items() if "programme" not in name}


def test_zero_effect_city_is_identical_to_one_without_programme(
    cities: dict[str, GenerateResult],
) -> None:
    assert _hashes(cities["zero"]) == _hashes(cities["none"])
    prevented = pd.read_parquet(cities["zero"].data_dir / "truth/programme_prevented.parquet")
    assert len(prevented) == 0


def _after_start_in_treated(result: GenerateResult, treated: set[str]) -> int:
    data = result.data_dir
    violence = pd.read_parquet(data / "truth/violence.parquet", columns=["date", "lsoa_code"])
    geography = pd.read_parquet(data / "geography.parquet", columns=["lsoa_code", "ward_code"])
    ward = violence["lsoa_code"].map(geography.set_index("lsoa_code")["ward_code"])
    return int(
        (ward.isin(treated) & (pd.to_datetime(violence["date"]) >= pd.Timestamp(START))).sum()
    )


def test_large_effect_cuts_true_incidents_in_treated_wards_after_start_by_about_it(
    cities: dict[str, GenerateResult],
) -> None:
    truth = pd.read_parquet(cities["big"].data_dir / "truth/programmes.parquet")
    treated = set(truth["ward_code"])
    n_wards = pd.read_parquet(cities["big"].data_dir / "geography.parquet")["ward_code"].nunique()
    assert len(treated) == int(np.ceil(0.5 * n_wards))
    # the most deprived half of the wards, by the generator's own deprivation
    assert truth["ward_deprivation"].min() > -0.5
    assert truth["area_effect"].eq(-0.8).all()
    without = _after_start_in_treated(cities["none"], treated)
    with_programme = _after_start_in_treated(cities["big"], treated)
    assert without > 100
    assert with_programme / without == pytest.approx(0.2, abs=0.08)
    prevented = pd.read_parquet(cities["big"].data_dir / "truth/programme_prevented.parquet")
    assert (pd.to_datetime(prevented["date"]) >= pd.Timestamp(START)).all()
    # prevented incidents never reach a record: fewer recorded people than without it
    persons = {
        k: pd.read_parquet(cities[k].data_dir / "truth/persons.parquet")["recorded_involved"].sum()
        for k in ("none", "big")
    }
    assert persons["big"] < persons["none"]


def test_staggered_waves_split_listed_wards_in_order() -> None:
    from training.generate.programmes import plan_programmes

    config = make_config(persons=3000)
    geography = pd.DataFrame(
        {
            "lsoa_code": ["L1", "L2", "L3", "L4"],
            "ward_code": ["W1", "W2", "W3", "W4"],
            "deprivation_score": [0.0, 1.0, 2.0, 3.0],
            "population_weight": [0.25] * 4,
        }
    )
    gen = config.generate.model_copy(
        update={
            "programmes": [
                ProgrammeConfig(
                    name="waves",
                    rule="top_wards_by_deprivation",
                    top_share=0.75,
                    start_dates=[dt.date(2015, 4, 1), dt.date(2017, 4, 1)],
                )
            ]
        }
    )
    (plan,) = plan_programmes(gen, geography)
    starts = plan.ward_start.astype("datetime64[D]")
    assert list(plan.ward_start.index) == ["W4", "W3", "W2"]
    assert str(starts["W4"])[:10] == str(starts["W3"])[:10] == "2015-04-01"
    assert str(starts["W2"])[:10] == "2017-04-01"


def test_bad_programme_config_names_the_field() -> None:
    with pytest.raises(ValidationError, match="either wards"):
        ProgrammeConfig(name="x", start_dates=[START])
    with pytest.raises(ValidationError, match="effect_on_outcome"):
        ProgrammeConfig(
            name="x", rule="top_wards_by_deprivation", start_dates=[START], effect_on_outcome=0.2
        )
    with pytest.raises(ValidationError, match="start date 2030-01-01"):
        make_config(programmes=[{"name": "late", "wards": ["X"], "start_dates": ["2030-01-01"]}])
    with pytest.raises(ValidationError, match="names must be unique"):
        make_config(programmes=[{**_BIG, "start_dates": [START]}, {**_BIG, "start_dates": [START]}])


def test_unknown_ward_code_is_a_config_error(tmp_path: Path) -> None:
    config = make_config(programmes=[{"name": "p", "wards": ["NOPE"], "start_dates": [START]}])
    with pytest.raises(ConfigError, match=r"wards: unknown ward code\(s\) \['NOPE'\]"):
        run_generate(config, tmp_path / "bad")
