"""The person spine: one row per extract record with the person it was linked to."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SPINE_COLUMNS", "build_spine"]

SPINE_COLUMNS: tuple[str, ...] = ("source", "record_id", "person_key", "match_probability")


def build_spine(
    records: pd.DataFrame, clusters: pd.DataFrame, pairs: pd.DataFrame, threshold: float
) -> pd.DataFrame:
    """Assign each record its cluster's opaque person key and its strongest accepted link.

    ``records`` has source, record_id and unique_id (the profile); ``clusters`` maps profiles to
    Splink cluster ids; ``pairs`` holds scored profile pairs. Person keys (``P`` and a number)
    are dense ranks of cluster ids: stable for the same input, and they carry no identifier.
    ``match_probability`` is the highest probability among the accepted links touching the
    record's profile; empty for a person found in one profile only.
    """
    cluster = records["unique_id"].map(clusters.set_index("unique_id")["cluster_id"])
    cluster = cluster.fillna(records["unique_id"])
    rank = pd.Series(np.arange(cluster.nunique()), index=np.sort(cluster.unique()))
    accepted = pairs[pairs["match_probability"] >= threshold]
    best = (
        pd.concat(
            [
                accepted[["unique_id_l", "match_probability"]].set_axis(["unique_id", "p"], axis=1),
                accepted[["unique_id_r", "match_probability"]].set_axis(["unique_id", "p"], axis=1),
            ]
        )
        .groupby("unique_id")["p"]
        .max()
    )
    return pd.DataFrame(
        {
            "source": records["source"].to_numpy(),
            "record_id": records["record_id"].to_numpy(),
            "person_key": "P"
            + cluster.map(rank).astype(np.int64).astype(str).str.zfill(9).to_numpy(),
            "match_probability": records["unique_id"].map(best).to_numpy(dtype=float),
        }
    )
