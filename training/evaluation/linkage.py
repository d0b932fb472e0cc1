"""Evaluate a linkage against whatever truth there is: the generator's, or a labelled column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from training.evaluation.linkage_quality import (
    pairwise_quality,
    quality_by,
    quality_by_source_pair,
    threshold_curve,
)
from training.evaluation.truth import truth_available, truth_path

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
    con: duckdb.DuckDBPyConnection,
    spine: str = "spine",
    records: str = "records",
    pairs: str = "pairs",
    groups: list[str] | None = None,
) -> dict[str, Any]:
    """Quality figures, or a statement that there is no truth to measure against.

    Tables of ``con``: ``spine`` (source, record_id, person_key); ``records`` (source,
    record_id, unique_id (the profile), truth_id (a labelled person id, or empty), sex, and a
    column ``group_<g>`` per mapped group: with a truth column, the figures are given per group);
    ``pairs`` (scored profile pairs). Pairs are counted in DuckDB; only one small integer row
    per record comes to Python.
    """
    labelled = con.execute(f"SELECT count(truth_id) > 0 FROM {records}").fetchall()[0][0]
    if labelled:
        mapped = list(groups or [])
        columns = "".join(f", group_{g} AS {g}" for g in mapped)
        truth = f"SELECT source, record_id, truth_id AS person_id, sex{columns} FROM {records}"
        origin = "the mapping's truth column"
        groups = ["sex", *mapped]
    elif truth_available(data_dir):
        truth = _generated_truth_sql(data_dir)
        origin = "the generator's ground truth"
        groups = ["sex", "ethnicity", "deprivation_quintile", "ethnicity_x_sex"]
    else:
        return {
            "available": False,
            "note": _NO_TRUTH,
        }

    df, counts, true_profile_pairs = _coded(con, spine, truth, records, pairs, groups)
    return {
        "available": True,
        "measured_against": origin,
        "records_with_truth": len(df),
        "overall": pairwise_quality(df),
        "by_source_pair": quality_by_source_pair(df),
        "by_group": {g: quality_by(df, g) for g in groups},
        "threshold_curve": threshold_curve(counts, true_profile_pairs),
    }


def _coded(
    con: duckdb.DuckDBPyConnection,
    spine: str,
    truth: str,
    records: str,
    pairs: str,
    groups: list[str],
) -> tuple[pd.DataFrame, list[tuple[float, int, int]], int]:
    """Join spine, truth and profiles in DuckDB, with keys as integers so counting is fast.

    Returns the joined records (integer codes), the scored pairs and the correct ones among
    them at each of :data:`THRESHOLDS`, and the number of true profile pairs.
    """
    group_columns = "".join(f", t.{g}" for g in groups)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE eval_joined AS
        SELECT CAST(dense_rank() OVER (ORDER BY s.person_key) AS INTEGER) AS person_key,
               CAST(dense_rank() OVER (ORDER BY CAST(t.person_id AS VARCHAR)) AS INTEGER)
                   AS person_id,
               r.unique_id, s.source {group_columns}
        FROM {spine} s JOIN ({truth}) t USING (source, record_id)
        JOIN (SELECT source, record_id, unique_id FROM {records}) r USING (source, record_id)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE eval_profile_person AS
        SELECT unique_id, arg_max(person_id, n) AS person_id
        FROM (SELECT unique_id, person_id, count(*) AS n FROM eval_joined GROUP BY ALL)
        GROUP BY unique_id"""
    )
    above = ", ".join(
        f"count(*) FILTER (WHERE p >= {t!r}), count(*) FILTER (WHERE p >= {t!r} AND same)"
        for t in THRESHOLDS
    )
    tallies = con.execute(
        f"""SELECT {above} FROM (
        SELECT p.match_probability AS p, coalesce(l.person_id = r.person_id, false) AS same
        FROM {pairs} p LEFT JOIN eval_profile_person l ON l.unique_id = p.unique_id_l
        LEFT JOIN eval_profile_person r ON r.unique_id = p.unique_id_r)"""
    ).fetchall()[0]
    counts = [(t, int(tallies[2 * i]), int(tallies[2 * i + 1])) for i, t in enumerate(THRESHOLDS)]
    true_profile_pairs = con.execute(
        "SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM "
        "(SELECT count(*) AS n FROM eval_profile_person GROUP BY person_id)"
    ).fetchall()[0][0]
    # categorical columns travel as integer codes: far faster than ten million strings
    categorical = ("source", *groups)
    labels = {
        c: [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT {c} FROM eval_joined WHERE {c} IS NOT NULL ORDER BY 1"
            ).fetchall()
        ]
        for c in categorical
    }
    codes = ", ".join(
        f"CAST(CASE WHEN {c} IS NULL THEN -1 ELSE dense_rank() OVER (ORDER BY {c}) - 1 END "
        f"AS INTEGER) AS {c}"
        for c in categorical
    )
    df = con.execute(f"SELECT person_key, person_id, {codes} FROM eval_joined").df()
    con.execute("DROP TABLE eval_joined; DROP TABLE eval_profile_person")
    for column in categorical:
        df[column] = pd.Categorical.from_codes(df[column].to_numpy(), categories=labels[column])
    return df, counts, int(true_profile_pairs)


def _generated_truth_sql(data_dir: Path) -> str:
    """SQL for the generator's truth per record: person, sex, ethnicity, deprivation quintile."""
    quintile = " ".join(f"WHEN {k} THEN '{v}'" for k, v in _QUINTILES.items())
    geography = Path(data_dir) / "geography.parquet"
    return f"""
    SELECT l.source, l.record_id, l.person_id, p.sex, p.ethnicity,
        CASE (CAST(g.deprivation_decile AS BIGINT) + 1) // 2 {quintile} END
            AS deprivation_quintile,
        p.ethnicity || ' ' || p.sex AS ethnicity_x_sex
    FROM read_parquet('{truth_path(data_dir, "record_person")}') l
    JOIN read_parquet('{truth_path(data_dir, "persons")}') p USING (person_id)
    LEFT JOIN read_parquet('{geography}') g ON g.lsoa_code = p.lsoa_code_at_end
    """
