"""Evaluation code's true outcomes by area: refusals and data without a ground truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from governance.contracts.errors import AuditInputError
from training.evaluation.area_truth import area_truth

ROWS = pd.DataFrame(
    {
        "person_key": ["P1", "P2"],
        "as_of_date": ["2024-03-31", "2024-03-31"],
        "label": [0, 1],
        "score": [0.1, 0.2],
        "lsoa_code": ["A", "B"],
        "sex": ["F", "M"],
    }
)


def _call(data: Path, rows: pd.DataFrame, levels: list[str]) -> dict[str, object]:
    return area_truth(data, rows, levels, label_months=24, outcome="either", group_columns=["sex"])


def test_real_data_has_no_truth_and_says_so(tmp_path: Path) -> None:
    found = _call(tmp_path, ROWS, ["lsoa_code"])
    assert found["available"] is False and "no ground truth" in str(found["reason"])


def test_a_missing_area_or_group_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(AuditInputError, match="ward_code"):
        _call(tmp_path, ROWS, ["lsoa_code", "ward_code"])
    with pytest.raises(AuditInputError, match="sex"):
        _call(tmp_path, ROWS.drop(columns="sex"), ["lsoa_code"])
