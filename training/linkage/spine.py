"""The person spine: one row per extract record with the person it was linked to."""

from __future__ import annotations

import duckdb

__all__ = ["SPINE_COLUMNS", "build_spine", "spine_sql"]

SPINE_COLUMNS: tuple[str, ...] = ("source", "record_id", "person_key", "match_probability")


def spine_sql(records: str, clusters: str, pairs: str, threshold: float) -> str:
    """SQL giving each record its cluster's opaque person key and its strongest accepted link.

    ``records`` has source, record_id and unique_id (the profile); ``clusters`` maps profiles to
    Splink cluster ids (a profile without one is its own cluster); ``pairs`` holds scored
    profile pairs. Person keys (``P`` and a number of at least nine digits) are dense ranks of
    cluster ids in byte order: stable for the same input, and they carry no identifier.
    ``match_probability`` is the highest probability among the accepted links touching the
    record's profile; empty for a person found in one profile only. Rows come in source and
    record_id order.
    """
    return f"""
    WITH profile_cluster AS (
        SELECT p.unique_id, coalesce(c.cluster_id, p.unique_id) AS cluster_id
        FROM (SELECT DISTINCT unique_id FROM {records}) p
        LEFT JOIN {clusters} c USING (unique_id)
    ),
    person AS (
        SELECT cluster_id, dense_rank() OVER (ORDER BY cluster_id) - 1 AS rank
        FROM (SELECT DISTINCT cluster_id FROM profile_cluster)
    ),
    accepted AS (
        SELECT unique_id_l AS unique_id, match_probability AS p FROM {pairs}
        WHERE match_probability >= {float(threshold)!r}
        UNION ALL
        SELECT unique_id_r AS unique_id, match_probability AS p FROM {pairs}
        WHERE match_probability >= {float(threshold)!r}
    ),
    best AS (SELECT unique_id, max(p) AS p FROM accepted GROUP BY unique_id)
    SELECT r.source, r.record_id, printf('P%09d', k.rank) AS person_key,
           CAST(b.p AS DOUBLE) AS match_probability
    FROM {records} r
    JOIN profile_cluster c USING (unique_id)
    JOIN person k USING (cluster_id)
    LEFT JOIN best b USING (unique_id)
    ORDER BY r.source, r.record_id
    """


def build_spine(
    con: duckdb.DuckDBPyConnection,
    records: str,
    clusters: str,
    pairs: str,
    threshold: float,
    into: str = "spine",
) -> str:
    """Build the spine as table ``into`` of ``con`` (see :func:`spine_sql`); its name.

    In DuckDB, so that a city's records, pairs and clusters never sit in Python memory.
    """
    con.execute(
        f"CREATE OR REPLACE TABLE {into} AS {spine_sql(records, clusters, pairs, threshold)}"
    )
    return into
