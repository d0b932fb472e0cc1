"""Link and features on a standalone Spark cluster equal DuckDB's (the release: test_release).

A master and two workers are started on this machine by Spark's own daemon script
(``tests/spark_cluster.py``), not ``local[*]``: the work runs in executors of other JVMs.
The linkage model is trained once on DuckDB and saved with its spine; the cluster scores and
clusters with it (``link.model``), as a real deployment would.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.helpers import assert_same_feature_tables, make_config
from tests.spark_cluster import standalone_cluster, stop_spark
from training.config import PipelineConfig
from training.features.build import run_features
from training.features.config import FeaturesConfig
from training.generate.run import run_generate
from training.linkage.stage import run_link
from training.spark import SparkConfig

pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.cluster,  # `make test-cluster`: with it `make test` passed 15 minutes
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkConfig]:
    stop_spark()  # one session per process: another module's may still be active
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as master:
        yield SparkConfig.model_validate(
            {
                "master": master,
                "shuffle_partitions": 2,
                "driver_memory": "1g",
                "conf": {"spark.pyspark.python": sys.executable},
            }
        )
        stop_spark()


@pytest.fixture(scope="module")
def linked_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = run_generate(make_config(1000), tmp_path_factory.mktemp("cluster-city")).data_dir
    run_link(PipelineConfig.model_validate({"seed": 5}), data)
    return data


def _partition(spine_path: Path) -> set[frozenset[tuple[str, str]]]:
    spine = pq.read_table(spine_path).to_pandas()
    groups: dict[str, set[tuple[str, str]]] = {}
    for key, source, record in zip(
        spine["person_key"], spine["source"], spine["record_id"], strict=True
    ):
        groups.setdefault(key, set()).add((source, record))
    return {frozenset(g) for g in groups.values()}


def test_the_cluster_links_the_same_persons_with_duckdbs_model(
    cluster: SparkConfig, linked_city: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(linked_city, data)
    model = tmp_path / "model.json"
    shutil.copy(linked_city / "linked/model.json", model)
    config = PipelineConfig.model_validate(
        {
            "seed": 5,
            "link": {"engine": "spark", "model": str(model)},
            "spark": cluster.model_dump(mode="json", exclude_none=True),
        }
    )
    result = run_link(config, data)
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    assert session is not None and session.sparkContext.master == cluster.master
    assert result.report["engine"] == "spark" and result.report["model_trained"]["here"] is False
    assert _partition(data / "linked/spine.parquet") == _partition(
        linked_city / "linked/spine.parquet"
    )


def test_the_cluster_builds_duckdbs_features_exactly(
    cluster: SparkConfig, linked_city: Path, tmp_path: Path
) -> None:
    tables = {}
    for engine in ("duckdb", "spark"):
        data = tmp_path / engine
        shutil.copytree(linked_city, data)
        config = FeaturesConfig(
            as_of_dates=[dt.date(2019, 3, 31), dt.date(2023, 3, 31)], engine=engine
        )
        tables[engine] = pq.read_table(run_features(config, data, spark=cluster).path)
    assert_same_feature_tables(tables["duckdb"], tables["spark"])
