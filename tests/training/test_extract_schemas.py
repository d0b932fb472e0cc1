"""Extract schemas: generated extracts pass; malformed ones fail clearly and write nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from governance.contracts.errors import ExtractError
from governance.contracts.layout import SOURCES, DataLayout
from training.extracts import read_extract
from training.extracts.schemas import COLUMNS


@pytest.mark.parametrize("source", SOURCES)
def test_generated_extracts_meet_their_schema(small_city_dir: Path, source: str) -> None:
    frame = read_extract(DataLayout(small_city_dir).extract(source), source)
    assert list(frame.columns) == list(COLUMNS[source])
    assert (frame["source"] == source).all()


def _copy(small_city_dir: Path, tmp_path: Path, source: str) -> pd.DataFrame:
    return pd.read_parquet(DataLayout(small_city_dir).extract(source))


def test_missing_column_names_file_and_column(small_city_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "health.parquet"
    _copy(small_city_dir, tmp_path, "health").drop(columns=["date_of_birth"]).to_parquet(path)
    with pytest.raises(
        ExtractError, match=r"health.parquet: missing column\(s\) \['date_of_birth'\]"
    ):
        read_extract(path, "health")


def test_bad_values_name_column_check_and_rows_but_not_values(
    small_city_dir: Path, tmp_path: Path
) -> None:
    frame = _copy(small_city_dir, tmp_path, "police")
    frame.loc[[3, 7], "address_postcode"] = "NOT A POSTCODE"
    frame.loc[5, "role"] = "bystander"
    frame.loc[9, "record_id"] = frame.loc[8, "record_id"]
    path = tmp_path / "police.parquet"
    frame.to_parquet(path)
    with pytest.raises(ExtractError) as err:
        read_extract(path, "police")
    message = str(err.value)
    assert "police.parquet: column 'address_postcode' failed 'str_matches" in message
    assert "(rows [3, 7])" in message
    assert "column 'role' failed 'isin" in message and "(rows [5])" in message
    assert "column 'record_id' failed 'unique'" in message
    assert (
        "NOT A POSTCODE" not in message and "bystander" not in message
    )  # values may identify people
    surname = frame.loc[3, "surname"]
    assert surname not in message


def test_csv_extract_with_unparseable_date(small_city_dir: Path, tmp_path: Path) -> None:
    frame = _copy(small_city_dir, tmp_path, "health")
    frame["arrival_date"] = frame["arrival_date"].astype(str)
    frame.loc[4, "arrival_date"] = "31/02/2020"
    path = tmp_path / "health.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(
        ExtractError,
        match=r"health.csv: column 'arrival_date' failed 'date YYYY-MM-DD' in 1 row\(s\) \(rows \[4\]\)",
    ):
        read_extract(path, "health")


def test_csv_extract_that_is_well_formed_loads(small_city_dir: Path, tmp_path: Path) -> None:
    frame = _copy(small_city_dir, tmp_path, "social_care")
    path = tmp_path / "social_care.csv"
    frame.to_csv(path, index=False)
    loaded = read_extract(path, "social_care")
    assert len(loaded) == len(frame)


def test_unknown_source_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match="unknown extract source 'prison'"):
        read_extract(tmp_path / "x.parquet", "prison")
    with pytest.raises(ExtractError, match=r"x\.parquet: extract file not found"):
        read_extract(tmp_path / "x.parquet", "health")
