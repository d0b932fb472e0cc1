"""Evaluate a linkage against whatever truth there is: the generator's, or a labelled column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from training.evaluation.linkage_quality import (
    pairwise_quality,
    quality_by,
    quality_by_source_pair,
    threshold_curve,
)
from training.evaluation.truth import read_truth, truth_available

__all__ = ["THRESHOLDS", "evaluate_linkage"]

_NO_TRUTH = "No ground truth: quality figures need generated data or a truth column in the mapping."
_QUINTILES = {1: "Q1 most deprived", 2: "Q2", 3: "Q3", 4: "Q4", 5: "Q5 least deprived"}
THRESHOLDS: list[float] = [
    0.01,
    0.05,
    0.1,
    0.2,
    0.3,
    0.5,
    0.7,
    0.8,
    0.9,
    0.95,
    0.98,
    0.99,
    0.995,
    0.999,
]


def evaluate_linkage(
    data_dir: Path,
    spine: pd.DataFrame,
    records: pd.DataFrame,
    pairs: pd.DataFrame,
) -> dict[str, Any]:
    """Quality figures, or a statement that there is no truth to measure against.

    ``spine``: source, record_id, person_key. ``records``: source, record_id, unique_id (the
    profile), truth_id (a labelled person id, or empty), sex. ``pairs``: scored profile pairs.
    """
    labelled = records["truth_id"].notna().any()
    if labelled:
        truth = records[["source", "record_id", "truth_id", "sex"]].rename(
            columns={"truth_id": "person_id"}
        )
        origin = "the mapping's truth column"
        groups = ["sex"]
    elif truth_available(data_dir):
        truth = _generated_truth(data_dir)
        origin = "the generator's ground truth"
        groups = ["sex", "ethnicity", "deprivation_quintile", "ethnicity_x_sex"]
    else:
        return {
            "available": False,
            "note": _NO_TRUTH,
        }

    df = spine.merge(truth, on=["source", "record_id"], how="inner")
    df = df.merge(records[["source", "record_id", "unique_id"]], on=["source", "record_id"])
    profile_person = df.groupby("unique_id")["person_id"].agg(lambda s: s.mode().iloc[0])
    profiles_per_person = profile_person.value_counts()
    true_profile_pairs = int((profiles_per_person * (profiles_per_person - 1) // 2).sum())
    return {
        "available": True,
        "measured_against": origin,
        "records_with_truth": len(df),
        "overall": pairwise_quality(df),
        "by_source_pair": quality_by_source_pair(df),
        "by_group": {g: quality_by(df, g) for g in groups},
        "threshold_curve": threshold_curve(pairs, profile_person, true_profile_pairs, THRESHOLDS),
    }


def _generated_truth(data_dir: Path) -> pd.DataFrame:
    link = read_truth(data_dir, "record_person")
    persons = read_truth(data_dir, "persons", ["person_id", "sex", "ethnicity", "lsoa_code_at_end"])
    geo = pd.read_parquet(
        Path(data_dir) / "geography.parquet", columns=["lsoa_code", "deprivation_decile"]
    )
    decile = persons["lsoa_code_at_end"].map(geo.set_index("lsoa_code")["deprivation_decile"])
    persons["deprivation_quintile"] = ((decile.astype(int) + 1) // 2).map(_QUINTILES)
    persons["ethnicity_x_sex"] = persons["ethnicity"] + " " + persons["sex"]
    return link.merge(persons.drop(columns=["lsoa_code_at_end"]), on="person_id")
