"""Where the feature SQL runs: DuckDB in this process, or Spark SQL transpiled from the same text.

The feature SQL is written once, in DuckDB's dialect (:mod:`.events`, :mod:`.definitions`,
:mod:`.build`). Both runners take the same inputs: Parquet files to expose as views, named
steps (``CREATE TABLE name AS select``) and a final query; they return the final table as
Arrow. For Spark each statement goes through sqlglot (DuckDB → Spark SQL), which refuses what
it cannot translate rather than guessing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot

from governance.contracts.errors import VruError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from training.spark import SparkConfig

__all__ = ["Step", "TranspileError", "run_duckdb", "run_spark", "to_spark_sql"]


class Step(NamedTuple):
    """One intermediate table: its name and the SELECT (DuckDB dialect) that fills it."""

    name: str
    sql: str


#: The final query's ORDER BY: Spark writes its parts in this order, read back as one table
_ORDER = ("as_of_date", "person_key")

_NOT_PORTABLE = (
    "features: step '{step}' does not transpile from DuckDB to Spark SQL ({err}); "
    "write it in the portable subset (see training/features/events.py)"
)
_SPARK_FAILED = "features: Spark SQL failed in step '{step}': {err}"


class TranspileError(VruError, ValueError):
    """A feature SQL statement uses a DuckDB construct that has no Spark SQL translation."""


def to_spark_sql(sql: str, step: str = "query") -> str:
    """Translate one DuckDB statement to Spark SQL, or raise :class:`TranspileError`."""
    try:
        return sqlglot.transpile(
            sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE
        )[0]
    except sqlglot.errors.SqlglotError as err:
        first = str(err).strip().splitlines()[0]
        raise TranspileError(_NOT_PORTABLE.format(step=step, err=first)) from None


def run_duckdb(views: dict[str, Path], steps: list[Step], query: str) -> pa.Table:
    """Run the steps and the final query in a fresh DuckDB connection."""
    con = duckdb.connect()
    try:
        for name, path in views.items():
            con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM read_parquet('{path}')")
        for step in steps:
            con.execute(f"CREATE TEMP TABLE {step.name} AS {step.sql}")
        return con.sql(query).to_arrow_table()
    finally:
        con.close()


def run_spark(
    views: dict[str, Path], steps: list[Step], query: str, config: SparkConfig
) -> pa.Table:
    """Run the same steps and query as Spark SQL; each step is cached as a temporary view."""
    from training.spark import spark_session

    translated = [Step(s.name, to_spark_sql(s.sql, s.name)) for s in steps]
    final = to_spark_sql(query, "features")
    session = spark_session(config)
    cached = []
    try:
        for name, path in views.items():
            session.read.parquet(str(path)).createOrReplaceTempView(name)
        for step in translated:
            frame = _spark_sql(session, step.sql, step.name).cache()
            frame.createOrReplaceTempView(step.name)
            cached.append(frame)
        # written by the executors and read back here: the table never sits whole in the JVM
        out = Path(tempfile.mkdtemp(prefix="vru-features-", dir=config.checkpoint_dir))
        try:
            _spark_sql(session, final, "features").write.mode("overwrite").parquet(str(out / "t"))
            table = pq.read_table(out / "t")
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return table.sort_by([(c, "ascending") for c in _ORDER]).replace_schema_metadata(None)
    finally:
        for frame in cached:
            frame.unpersist()
        for name in [*views, *(step.name for step in steps)]:
            session.catalog.dropTempView(name)


def _spark_sql(session: SparkSession, sql: str, step: str) -> DataFrame:
    from pyspark.errors import PySparkException

    try:
        return session.sql(sql)
    except PySparkException as err:
        first = str(err).strip().splitlines()[0]
        raise TranspileError(_SPARK_FAILED.format(step=step, err=first)) from None
