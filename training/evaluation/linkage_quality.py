"""Linkage quality against the truth: pairwise precision and recall, for whom, at what threshold.

Pairwise figures count record pairs: a pair is *linked* when both records share a person key
and *true* when both belong to one person. Counting is done from cluster × person tallies, so
no pair is ever materialised. Figures by group attribute each true pair to its person's group
(recall) and each linked pair to the group of its cluster's most common person (precision).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["pairwise_quality", "quality_by", "quality_by_source_pair", "threshold_curve"]


def _pairs(counts: pd.Series) -> int:
    n = counts.to_numpy(dtype=np.int64)
    return int((n * (n - 1) // 2).sum())


def _scores(tp: int, linked: int, true: int) -> dict[str, float | int | None]:
    precision = tp / linked if linked else None
    recall = tp / true if true else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else None
    )
    return {
        "true_pairs": true,
        "linked_pairs": linked,
        "correct_pairs": tp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "missed_link_rate": None if recall is None else 1 - recall,
        "false_link_rate": None if precision is None else 1 - precision,
    }


def pairwise_quality(spine: pd.DataFrame) -> dict[str, Any]:
    """Overall figures for a spine with ``person_key`` and the true ``person_id`` per record."""
    tp = _pairs(spine.groupby(["person_key", "person_id"]).size())
    out: dict[str, Any] = _scores(
        tp, _pairs(spine.groupby("person_key").size()), _pairs(spine.groupby("person_id").size())
    )
    cell = spine.groupby(["person_key", "person_id"]).size()
    majority = cell.groupby(level="person_key").max()
    out["cluster_purity"] = float(majority.sum() / len(spine))
    clusters_per_person = spine.groupby("person_id")["person_key"].nunique()
    persons_per_cluster = spine.groupby("person_key")["person_id"].nunique()
    out["persons_split"] = float((clusters_per_person > 1).mean())
    out["clusters_merged"] = float((persons_per_cluster > 1).mean())
    out["true_persons"] = len(clusters_per_person)
    out["linked_persons"] = len(persons_per_cluster)
    return out


def quality_by(spine: pd.DataFrame, column: str) -> dict[str, dict[str, Any]]:
    """Pairwise figures per value of a person attribute (``column`` on every record).

    Recall counts true pairs by their person's group; precision counts linked pairs (and the
    correct ones among them) by the group of their cluster's most common person.
    """
    cell = (
        spine.groupby(["person_key", "person_id", column], dropna=False)
        .size()
        .rename("n")
        .reset_index()
    )
    true = spine.groupby(["person_id", column], dropna=False).size().rename("n").reset_index()
    top = cell.sort_values("n", ascending=False).drop_duplicates("person_key")
    cell = cell.merge(
        top[["person_key", column]].rename(columns={column: "cluster_group"}), on="person_key"
    )
    linked = (
        spine.groupby("person_key")
        .size()
        .rename("n")
        .reset_index()
        .merge(top[["person_key", column]], on="person_key")
    )
    out = {}
    for value in sorted(true[column].dropna().unique(), key=str):
        mine = cell[column] == value
        recall = _scores(
            _pairs(cell.loc[mine, "n"]), 0, _pairs(true.loc[true[column] == value, "n"])
        )
        precision = _scores(
            _pairs(cell.loc[cell["cluster_group"] == value, "n"]),
            _pairs(linked.loc[linked[column] == value, "n"]),
            0,
        )
        out[str(value)] = {
            "records": int(true.loc[true[column] == value, "n"].sum()),
            "true_pairs": recall["true_pairs"],
            "recall": recall["recall"],
            "missed_link_rate": recall["missed_link_rate"],
            "linked_pairs": precision["linked_pairs"],
            "precision": precision["precision"],
            "false_link_rate": precision["false_link_rate"],
        }
    return out


def quality_by_source_pair(spine: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Pairwise figures for pairs whose two records come from each pair of sources."""
    sources = sorted(spine["source"].unique())
    cell = spine.groupby(["person_key", "person_id", "source"]).size().unstack(fill_value=0)
    key = spine.groupby(["person_key", "source"]).size().unstack(fill_value=0)
    person = spine.groupby(["person_id", "source"]).size().unstack(fill_value=0)
    out = {}
    for i, a in enumerate(sources):
        for b in sources[i:]:
            out[f"{a}~{b}"] = _scores(_cross(cell, a, b), _cross(key, a, b), _cross(person, a, b))
    return out


def _cross(table: pd.DataFrame, a: str, b: str) -> int:
    x = table[a].to_numpy(dtype=np.int64)
    if a == b:
        return int((x * (x - 1) // 2).sum())
    return int((x * table[b].to_numpy(dtype=np.int64)).sum())


def threshold_curve(
    counts: list[tuple[float, int, int]], true_profile_pairs: int
) -> list[dict[str, float | None]]:
    """Precision and recall of scored profile pairs at each threshold (before clustering).

    ``counts`` gives, per threshold, the scored pairs at or above it and the correct ones
    among them (both profiles one person); ``true_profile_pairs`` counts the pairs of profiles
    that belong to one person. Clustering links transitively, so the spine's own recall is at
    least the recall shown here.
    """
    return [
        {
            "threshold": t,
            "pairs": n,
            "precision": tp / n if n else None,
            "recall": tp / true_profile_pairs if true_profile_pairs else None,
        }
        for t, n, tp in counts
    ]
