"""The generator on London's real geography (``generate.geography.source: london``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from governance.contracts.config import load_config
from governance.contracts.errors import ConfigError
from governance.contracts.layout import DataLayout
from governance.geography import london_lookup
from tests.helpers import make_config
from training.config import PipelineConfig
from training.generate.config import GeographyConfig
from training.generate.geography import GEOGRAPHY_COLUMNS, london_geography
from training.generate.run import run_generate

ROOT = Path(__file__).resolve().parents[2]
HACKNEY, RICHMOND = "E09000012", "E09000027"


def test_london_geography_is_the_shipped_lookup_with_imd_and_population() -> None:
    geo = london_geography(GeographyConfig(source="london"))
    lookup = london_lookup().set_index("lsoa_code")
    assert tuple(geo.columns) == GEOGRAPHY_COLUMNS
    assert len(geo) == 4835 and set(geo["lsoa_code"]) == set(lookup.index)
    assert geo["lsoa_code"].str.match(r"^E01\d{6}$").all()
    assert geo["ward_code"].str.match(r"^E05\d{6}$").all()
    assert geo["borough_code"].nunique() == 33
    by_code = geo.set_index("lsoa_code")
    lookup = lookup.loc[by_code.index]
    # the national IMD decile, and a score ordered as the IMD rank (1 = most deprived)
    assert (by_code["deprivation_decile"] == lookup["imd_decile"]).all()
    rank = lookup["imd_rank"].rank()
    assert np.corrcoef(rank, by_code["deprivation_score"].rank())[0, 1] < -0.999
    # people are placed by the ONS estimate of 0-25 year olds
    young = lookup["population_0_15"] + lookup["population_16_29"] * 10 / 14
    assert np.allclose(by_code["population_weight"], young / young.sum())
    assert by_code["population_weight"].sum() == pytest.approx(1.0)


def test_real_wards_hold_several_lsoas() -> None:
    geo = london_geography(GeographyConfig(source="london"))
    per_ward = geo.groupby("ward_code").size()
    assert per_ward.median() >= 6 and (per_ward >= 2).mean() > 0.95


def test_generating_on_london_puts_people_in_real_lsoas(tmp_path: Path) -> None:
    config = make_config(persons=500, geography={"source": "london"})
    result = run_generate(config, tmp_path / "city")
    assert result.manifest["geography_source"] == "london"
    geo = pd.read_parquet(DataLayout(result.data_dir).geography)
    assert len(geo) == 4835 and geo["lsoa_code"].str.startswith("E01").all()
    persons = pd.read_parquet(result.data_dir / "truth/persons.parquet")
    assert persons["lsoa_code_at_end"].isin(geo["lsoa_code"]).all()
    postcodes = pd.read_parquet(result.data_dir / "postcodes.parquet")
    assert set(postcodes["lsoa_code"]) == set(geo["lsoa_code"])


def test_a_few_boroughs_make_a_smaller_real_city() -> None:
    geo = london_geography(GeographyConfig(source="london", boroughs=(HACKNEY, RICHMOND)))
    assert set(geo["borough_code"]) == {HACKNEY, RICHMOND}
    lookup = london_lookup()
    assert len(geo) == lookup["borough_code"].isin([HACKNEY, RICHMOND]).sum()
    assert geo["population_weight"].sum() == pytest.approx(1.0)
    hackney = geo["borough_code"] == HACKNEY
    assert (
        geo.loc[hackney, "deprivation_score"].mean() > geo.loc[~hackney, "deprivation_score"].mean()
    )


def test_an_unknown_borough_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"generate.geography.boroughs: unknown .*'E09000099'"):
        london_geography(GeographyConfig(source="london", boroughs=("E09000099",)))


def test_boroughs_apply_to_london_only() -> None:
    with pytest.raises(ValidationError, match="boroughs applies to source 'london' only"):
        GeographyConfig(source="generated", boroughs=(HACKNEY,))


def test_the_shipped_demo_config_runs_on_london() -> None:
    cfg = load_config(ROOT / "configs/pipeline.yaml", PipelineConfig)
    assert cfg.generate.geography.source == "london"
    # and the code default stays the small generated city the tests use
    assert make_config().generate.geography.source == "generated"
