"""Evaluate a linkage against whatever truth there is: the generator's, or a labelled column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
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
    groups: list[str] | None = None,
) -> dict[str, Any]:
    """Quality figures, or a statement that there is no truth to measure against.

    ``spine``: source, record_id, person_key. ``records``: source, record_id, unique_id (the
    profile), truth_id (a labelled person id, or empty), sex, and a column per mapped group
    (``groups``: with a truth column, the figures are given per group). ``pairs``: scored
    profile pairs.
    """
    labelled = records["truth_id"].notna().any()
    if labelled:
        mapped = list(groups or [])
        truth = records[["source", "record_id", "truth_id", "sex", *mapped]].rename(
            columns={"truth_id": "person_id"}
        )
        origin = "the mapping's truth column"
        groups = ["sex", *mapped]
    elif truth_available(data_dir):
        truth = _generated_truth(data_dir)
        origin = "the generator's ground truth"
        groups = ["sex", "ethnicity", "deprivation_quintile", "ethnicity_x_sex"]
    else:
        return {
            "available": False,
            "note": _NO_TRUTH,
        }

    df, prob, same, true_profile_pairs = _coded(spine, truth, records, pairs, groups)
    return {
        "available": True,
        "measured_against": origin,
        "records_with_truth": len(df),
        "overall": pairwise_quality(df),
        "by_source_pair": quality_by_source_pair(df),
        "by_group": {g: quality_by(df, g) for g in groups},
        "threshold_curve": threshold_curve(prob, same, true_profile_pairs, THRESHOLDS),
    }


def _coded(
    spine: pd.DataFrame,
    truth: pd.DataFrame,
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    groups: list[str],
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, int]:
    """Join spine, truth and profiles in DuckDB, with keys as integers so counting is fast.

    Returns the joined records, each scored pair's probability and whether its two profiles
    truly belong to one person, and the number of true profile pairs.
    """
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")  # order is irrelevant here; saves memory
    con.register("spine", spine)
    con.register("truth", truth)
    con.register("records", records[["source", "record_id", "unique_id"]])
    con.register("pairs", pairs[["unique_id_l", "unique_id_r", "match_probability"]])
    group_columns = "".join(f", t.{g}" for g in groups)
    con.execute(
        f"""CREATE TEMP TABLE joined AS
        SELECT dense_rank() OVER (ORDER BY s.person_key) AS person_key,
               dense_rank() OVER (ORDER BY CAST(t.person_id AS VARCHAR)) AS person_id,
               r.unique_id, s.source {group_columns}
        FROM spine s JOIN truth t USING (source, record_id) JOIN records r USING (source, record_id)"""
    )
    con.execute(
        """CREATE TEMP TABLE profile_person AS
        SELECT unique_id, arg_max(person_id, n) AS person_id
        FROM (SELECT unique_id, person_id, count(*) AS n FROM joined GROUP BY ALL) GROUP BY unique_id"""
    )
    scored = con.execute(
        """SELECT p.match_probability, coalesce(l.person_id = r.person_id, false) AS same
        FROM pairs p LEFT JOIN profile_person l ON l.unique_id = p.unique_id_l
        LEFT JOIN profile_person r ON r.unique_id = p.unique_id_r"""
    ).fetchnumpy()
    true_profile_pairs = con.execute(
        "SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM "
        "(SELECT count(*) AS n FROM profile_person GROUP BY person_id)"
    ).fetchall()[0][0]
    # categorical columns travel as integer codes: far faster than ten million strings
    categorical = ("source", *groups)
    labels = {
        c: [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT {c} FROM joined WHERE {c} IS NOT NULL ORDER BY 1"
            ).fetchall()
        ]
        for c in categorical
    }
    codes = ", ".join(
        f"CASE WHEN {c} IS NULL THEN -1 ELSE dense_rank() OVER (ORDER BY {c}) - 1 END AS {c}"
        for c in categorical
    )
    df = con.execute(f"SELECT person_key, person_id, {codes} FROM joined").df()
    con.close()
    for column in categorical:
        df[column] = pd.Categorical.from_codes(df[column].to_numpy(), categories=labels[column])
    return df, scored["match_probability"], scored["same"].astype(bool), int(true_profile_pairs)


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
