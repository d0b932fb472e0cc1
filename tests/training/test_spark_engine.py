"""The Spark engine gives DuckDB's results: the same spine (up to cluster labels), the same features.

One local Spark session (two cores, few shuffle partitions) serves the module. The city is small
and u is estimated from every pair without stopping early, because Splink samples pairs by a
hash that differs between backends; with sampling off both engines train on the same pairs.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from governance.contracts.config import load_config
from governance.contracts.errors import ConfigError
from tests.helpers import assert_same_feature_tables, make_config
from training.config import PipelineConfig
from training.features.build import cohort_sql, features_sql, run_features
from training.features.config import FeaturesConfig
from training.features.definitions import all_features
from training.features.engines import to_spark_sql
from training.features.events import events_sql, person_facts_sql, persons_sql, residence_sql
from training.generate.run import run_generate
from training.linkage.stage import LinkResult, run_link
from training.spark import EngineUnavailableError, SparkConfig, spark_session
from vru.cli import app

pytestmark = [
    # PySpark 4.0 reads collect() and toArrow() results through a local socket that it leaves
    # to the garbage collector (pyspark/util.py, _load_from_socket): not a leak of ours
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]

SPARK = {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "2g"}
#: every pair for u, no early stop, no EM sampling: both engines see exactly the same pairs
EXACT = {"u_max_pairs": 1e8, "u_min_count_per_level": None, "em_max_pairs": 1e8}
# Splink's Spark Jaro-Winkler (its Scala UDF) counts transpositions in names with repeated
# letters differently from DuckDB's, which moves a few pairs across the 0.88 and 0.92 levels
# and so m and u by ~1e-4: the clusters are the same, probabilities agree to this tolerance.
PROBABILITY_ATOL = 1e-3


def _config(engine: str) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {"seed": 5, "link": {**EXACT, "engine": engine}, "spark": SPARK}
    )


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = spark_session(SparkConfig.model_validate(SPARK))
    yield session
    session.stop()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_generate(make_config(1000), tmp_path_factory.mktemp("spark-city")).data_dir


@pytest.fixture(scope="module")
def linked(
    city: Path, spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, LinkResult]]:
    out = {}
    for engine in ("duckdb", "spark"):
        data = tmp_path_factory.mktemp(f"linked-{engine}") / "data"
        shutil.copytree(city, data)
        out[engine] = (data, run_link(_config(engine), data))
    return out


def _partition(spine: pd.DataFrame) -> set[frozenset[tuple[str, str]]]:
    """The clusters as sets of (source, record_id): what a spine means, whatever its labels."""
    records = zip(spine["source"], spine["record_id"], strict=True)
    groups: dict[str, set[tuple[str, str]]] = {}
    for key, record in zip(spine["person_key"], records, strict=True):
        groups.setdefault(key, set()).add(record)
    return {frozenset(g) for g in groups.values()}


def test_spark_links_the_same_persons_as_duckdb(
    linked: dict[str, tuple[Path, LinkResult]],
) -> None:
    (duck_dir, duck), (spark_dir, spark) = linked["duckdb"], linked["spark"]
    a = pd.read_parquet(duck_dir / "linked/spine.parquet")
    b = pd.read_parquet(spark_dir / "linked/spine.parquet")
    assert (
        list(a.columns)
        == list(b.columns)
        == ["source", "record_id", "person_key", "match_probability"]
    )
    assert _partition(a) == _partition(b)
    merged = a.merge(b, on=["source", "record_id"], suffixes=("_duckdb", "_spark"), validate="1:1")
    assert len(merged) == len(a) == len(b)
    pa_, pb = merged["match_probability_duckdb"], merged["match_probability_spark"]
    assert (pa_.isna() == pb.isna()).all()
    np.testing.assert_allclose(pa_.dropna(), pb.dropna(), rtol=0, atol=PROBABILITY_ATOL)
    for key in ("records", "records_per_source", "profiles_per_source", "persons", "cluster_sizes"):
        assert duck.report[key] == spark.report[key], key
    assert duck.report["engine"] == "duckdb" and spark.report["engine"] == "spark"
    assert duck.report["config_hash"] == spark.report["config_hash"]  # the engine is not meaning
    for figure in ("precision", "recall", "f1"):
        assert duck.report["quality"]["overall"][figure] == pytest.approx(
            spark.report["quality"]["overall"][figure], abs=1e-3
        )
    assert (spark_dir / "linked/report.json").is_file() and (
        spark_dir / "linked/model.json"
    ).is_file()


def test_spark_features_are_duckdbs_exactly(
    linked: dict[str, tuple[Path, LinkResult]], tmp_path: Path
) -> None:
    source, _ = linked["duckdb"]
    tables, manifests = {}, {}
    for engine in ("duckdb", "spark"):
        data = tmp_path / engine
        shutil.copytree(source, data)
        config = FeaturesConfig(
            as_of_dates=[dt.date(2019, 3, 31), dt.date(2023, 3, 31)], engine=engine
        )
        result = run_features(config, data, spark=SparkConfig.model_validate(SPARK))
        tables[engine] = pq.read_table(result.path)
        manifests[engine] = result.manifest
    assert_same_feature_tables(tables["duckdb"], tables["spark"])
    assert manifests["duckdb"]["engine"] == "duckdb" and manifests["spark"]["engine"] == "spark"
    ignore = {"engine", "seconds", "sha256"}  # when it ran, and the file's bytes
    assert {k: v for k, v in manifests["duckdb"].items() if k not in ignore} == {
        k: v for k, v in manifests["spark"].items() if k not in ignore
    }


def test_every_feature_statement_transpiles_to_spark_sql() -> None:
    config = FeaturesConfig()
    relations = {s: f"extract_{s}" for s in ("health", "education", "social_care", "police")}
    statements = [
        events_sql(relations, "spine"),
        person_facts_sql(relations, "spine"),
        persons_sql("person_facts", config.as_of_dates),
        residence_sql(relations, "spine"),
        cohort_sql(config),
        features_sql(config, all_features(config.windows_months), dt.date(2025, 3, 31)),
    ]
    for sql in statements:
        spark_sql = to_spark_sql(sql)
        assert "read_parquet" not in spark_sql and "EXCLUDE" not in spark_sql.upper()


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["link.engine", "features.engine"])
def test_an_unknown_engine_is_refused_with_the_allowed_names(key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, PipelineConfig, {key: "sparkk"})
    assert f"'{key}' Input should be 'duckdb' or 'spark' (got 'sparkk')" in str(err.value)


@pytest.mark.parametrize("command", ["link", "features"])
def test_the_cli_refuses_an_unknown_engine_in_one_line(command: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [command, "--data", str(tmp_path), "--engine", "polars"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert f"'{command}.engine' Input should be 'duckdb' or 'spark' (got 'polars')" in lines[0]


def test_without_pyspark_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if it were not installed
    with pytest.raises(EngineUnavailableError, match=r"pip install -e \.\[spark\]"):
        spark_session(SparkConfig())


def test_without_java_17_the_error_names_the_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = tmp_path / "jdk11"
    (old / "bin").mkdir(parents=True)
    (old / "bin/java").write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    (old / "bin/java").chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(old))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    with pytest.raises(EngineUnavailableError) as err:
        spark_session(SparkConfig())
    assert "Java 17 is needed: scripts/ensure-java.sh" in str(err.value)
    assert f"{old}/bin/java: 11" in str(err.value)


def test_spark_scoring_with_duckdbs_trained_model_links_the_same_persons(
    spark: Any, tmp_path: Path
) -> None:
    """Trained once on DuckDB, saved with the spine; Spark scores and clusters with it.

    Another country's postcodes and every extra comparison method are in the model, so each
    of their levels is translated to Spark's SQL and given the saved parameters.
    """
    from tests.training.test_linkage_extracts import COMPARISONS, _people, _sources, _write

    rng = np.random.default_rng(11)
    (tmp_path / "duckdb").mkdir()
    _write(tmp_path / "duckdb", _people(200, rng), rng)
    shutil.copytree(tmp_path / "duckdb", tmp_path / "spark")
    link = {"postcode_format": "any", "comparisons": COMPARISONS, "sources": _sources()}
    trained = run_link(
        PipelineConfig.model_validate({"seed": 5, "link": link, "spark": SPARK}),
        tmp_path / "duckdb",
    )
    model = tmp_path / "duckdb/linked/model.json"
    scored = run_link(
        PipelineConfig.model_validate(
            {
                "seed": 5,
                "link": {**link, "engine": "spark", "model": str(model)},
                "spark": SPARK,
            }
        ),
        tmp_path / "spark",
    )
    a = pd.read_parquet(tmp_path / "duckdb/linked/spine.parquet")
    b = pd.read_parquet(tmp_path / "spark/linked/spine.parquet")
    assert len(a) == len(b) == 200 + 160 + 60
    assert _partition(a) == _partition(b)
    assert trained.report["model_trained"]["here"] is True
    assert scored.report["model_trained"]["here"] is False
    assert scored.report["model"] == trained.report["model"]  # the same parameters, not retrained
