"""Linkage at city scale: spine, histogram and sizes built in DuckDB agree with pandas; spilling.

The references below are the pandas code that built these before pairs and clusters stayed in
DuckDB; the SQL must give the same figures on small examples built here.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from training.config import PipelineConfig
from training.linkage.report import cluster_sizes, unit_bins, weight_histogram
from training.linkage.spine import build_spine
from training.linkage.stage import run_link

FAST = {"u_max_pairs": 2e5, "em_max_pairs": 2e5}


def _pandas_spine(
    records: pd.DataFrame, clusters: pd.DataFrame, pairs: pd.DataFrame, threshold: float
) -> pd.DataFrame:
    """The spine as pandas built it (the reference)."""
    cluster = records["unique_id"].map(clusters.set_index("unique_id")["cluster_id"])
    cluster = cluster.fillna(records["unique_id"])
    rank = pd.Series(np.arange(cluster.nunique()), index=np.sort(cluster.unique()))
    accepted = pairs[pairs["match_probability"] >= threshold]
    ends = [
        accepted[[f"unique_id_{side}", "match_probability"]].set_axis(["unique_id", "p"], axis=1)
        for side in "lr"
    ]
    best = pd.concat(ends).groupby("unique_id")["p"].max()
    key = cluster.map(rank).astype(np.int64).astype(str).str.zfill(9)
    return pd.DataFrame(
        {
            "source": records["source"].to_numpy(),
            "record_id": records["record_id"].to_numpy(),
            "person_key": ("P" + key).to_numpy(),
            "match_probability": records["unique_id"].map(best).to_numpy(dtype=float),
        }
    )


def _example(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Records of 300 profiles in 2 sources, clusters (some profiles missing), scored pairs."""
    profiles = [f"{s}:{i}" for s in ("a", "b") for i in range(150)]
    records = pd.DataFrame(
        {
            "source": [p.split(":")[0] for p in profiles for _ in range(2)],
            "record_id": [f"r{i:04d}" for i in range(2 * len(profiles))],
            "unique_id": [p for p in profiles for _ in range(2)],
        }
    ).sample(frac=1.0, random_state=1)  # out of order: the spine sorts
    records = records.sort_values(["source", "record_id"], ignore_index=True)
    clusters = pd.DataFrame(
        {
            "unique_id": profiles[:-20],  # the last 20: no cluster row, their own person
            "cluster_id": [profiles[rng.integers(0, 280)] for _ in profiles[:-20]],
        }
    )
    left, right = rng.integers(0, 300, 500), rng.integers(0, 300, 500)
    pairs = pd.DataFrame(
        {
            "unique_id_l": [profiles[i] for i in left],
            "unique_id_r": [profiles[i] for i in right],
            "match_probability": rng.uniform(0.01, 1.0, 500),
            "match_weight": rng.normal(0.0, 8.0, 500),
        }
    )
    return records, clusters, pairs


def test_the_spine_built_in_sql_is_the_pandas_spine() -> None:
    records, clusters, pairs = _example(np.random.default_rng(3))
    con = duckdb.connect()
    for name, frame in {"records": records, "clusters": clusters, "pairs": pairs}.items():
        con.from_df(frame).create(name)
    table = build_spine(con, "records", "clusters", "pairs", 0.9)
    sql = con.execute(f"SELECT * FROM {table}").df()
    expected = _pandas_spine(records, clusters, pairs, 0.9)
    pd.testing.assert_frame_equal(sql, expected, check_dtype=False)
    assert sql["match_probability"].isna().any() and sql["match_probability"].notna().any()


@pytest.mark.parametrize(
    "weights",
    [
        np.random.default_rng(1).normal(0, 9, 1000),
        np.array([-3.0, 0.5, 7.0]),  # the top weight a whole number: it falls in the last bin
        np.array([4.0, 4.0]),  # one whole number only
        np.array([]),
    ],
)
def test_the_weight_histogram_has_numpys_bins(weights: np.ndarray) -> None:
    con = duckdb.connect()
    con.from_df(pd.DataFrame({"match_weight": weights.astype(float)})).create("pairs")
    got = weight_histogram(con, "pairs", 0.9)
    lo, hi = (np.floor(weights.min()), np.ceil(weights.max())) if len(weights) else (0.0, 1.0)
    edges = np.arange(lo, hi + 1.0, 1.0)
    counts, edges = np.histogram(weights, bins=edges if len(edges) > 1 else 1)
    assert got["bin_edges"] == [float(e) for e in edges]
    assert got["counts"] == [int(c) for c in counts]
    assert unit_bins({}, None, None) == {"bin_edges": [0.0, 1.0], "counts": [0]}


def test_cluster_sizes_from_tallies_match_pandas() -> None:
    rng = np.random.default_rng(7)
    spine = pd.DataFrame(
        {
            "person_key": [f"P{k:09d}" for k in rng.zipf(1.6, 2000) % 500],
            "source": rng.choice(["health", "police", "school"], 2000),
        }
    )
    con = duckdb.connect()
    con.from_df(spine).create("spine")
    got = cluster_sizes(con, "spine")
    records = spine.groupby("person_key").size()
    bins = [1, 2, 3, 5, 10, 20, 50, 100, np.inf]
    labels = [
        f"{lo}" if hi == lo + 1 else f"{lo}-{int(hi) - 1}" if np.isfinite(hi) else f"{lo}+"
        for lo, hi in itertools.pairwise(bins)
    ]
    binned = pd.cut(records, bins=[b - 0.5 for b in bins], labels=labels)
    sources = spine.groupby("person_key")["source"].nunique()
    assert got == {
        "records_per_person": {str(k): int(v) for k, v in binned.value_counts(sort=False).items()},
        "agencies_per_person": {
            str(k): int(v) for k, v in sources.value_counts().sort_index().items()
        },
        "largest_cluster_records": int(records.max()),
        "mean_records_per_person": float(records.mean()),
    }


def test_a_tiny_memory_limit_spills_and_links_the_same(
    small_city_dir: Path, tmp_path: Path
) -> None:
    """A tight limit (128 MB; at 64 MB Splink cannot block): the same persons, no work files left."""
    results = {}
    for limit in ("4GB", "128MB"):
        data = tmp_path / limit
        shutil.copytree(small_city_dir, data)
        config = PipelineConfig.model_validate(
            {"seed": 5, "link": {**FAST, "duckdb_memory_limit": limit}}
        )
        report = run_link(config, data).report
        results[limit] = (pd.read_parquet(data / "linked/spine.parquet"), report)
        assert sorted(p.name for p in data.iterdir() if p.name.startswith(".")) == []
    (roomy, roomy_report), (tight, tight_report) = results["4GB"], results["128MB"]
    pd.testing.assert_frame_equal(
        roomy.drop(columns="match_probability"), tight.drop(columns="match_probability")
    )
    # sums in another order (DuckDB partitions its work by its memory): the last bits may move
    np.testing.assert_allclose(roomy["match_probability"], tight["match_probability"], rtol=1e-9)
    for key in ("persons", "scored_pairs_kept", "cluster_sizes"):
        assert roomy_report[key] == tight_report[key], key
    assert roomy_report["quality"]["overall"] == pytest.approx(tight_report["quality"]["overall"])
