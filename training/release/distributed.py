"""Release scoring on Spark (``engine: spark``): the model goes to the data, LSOA sums come back.

The cohort (model inputs, LSOA and factor flags at the latest as-of date) is read by Spark
from the features table and stays in its partitions. The model travels the other way: it is
pickled once on the driver and broadcast, and each partition runs :func:`.score.score_cohort`
on its own rows (the same exact TreeSHAP with the same deduplication, within the partition)
through ``mapInPandas``. A partition returns only :func:`.aggregate.partial_sums`: one row per
LSOA of the additive sums the figures are made from. Spark adds the partitions' sums by LSOA,
and the driver receives one row per LSOA, which :func:`.aggregate.combine_sums` checks against
the geography; everything after that (shrinkage, intervals, disclosure control, writing) is
the code the in-process engine runs.

So per-person values never leave the scoring step except as area sums, on Spark as in
process. The figures equal the in-process engine's up to the order of floating-point
additions (population and counts exactly); the scoring statistics are summed over
partitions (a row pattern seen in two partitions is counted, and explained, in each).
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from governance.contracts.release_schema import ReleaseError
from training.release.aggregate import factor_present, partial_sums, sum_columns
from training.release.score import Dedup, ScoringStats, releasable_booster, score_cohort

if TYPE_CHECKING:
    from pyspark.broadcast import Broadcast
    from pyspark.sql import DataFrame, SparkSession

    from training.spark import SparkConfig

__all__ = ["spark_lsoa_sums"]

#: per partition, on its first output row (0 on the others); summed on the way back
_STATS: tuple[tuple[str, str], ...] = (
    ("_rows", "bigint"),
    ("_identical_rows", "bigint"),
    ("_patterns", "bigint"),
    ("_dedup_seconds", "double"),
    ("_score_seconds", "double"),
    ("_shap_seconds", "double"),
)
_SPARK_FAILED = "release on Spark: scoring failed ({err})"


def spark_lsoa_sums(
    config: SparkConfig,
    features: Path,
    as_of: str,
    model: Any,
    wanted: Sequence[str],
    factor_inputs: Mapping[str, Sequence[str]],
    present_when: Mapping[str, Sequence[str]],
    *,
    dedup: Dedup = "model_equivalent",
    version: str = "?",
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, ScoringStats]:
    """Score the cohort at ``as_of`` on Spark; its sums by LSOA, and how scoring went.

    Parameters
    ----------
    config
        Where Spark runs (the pipeline's ``spark:`` section).
    features
        The features table (Parquet) holding ``as_of_date``, ``lsoa_code`` and ``wanted``.
    model
        What :meth:`governance.board.registry.Registry.load_model` returns (a LightGBM scorer).
    wanted
        The columns to read: ``lsoa_code``, the model inputs and the factor flags.
    factor_inputs, present_when
        Per factor (in release order): its model inputs, and the flags that mark it present.

    Returns
    -------
    (sums, stats)
        ``lsoa_code`` and :func:`.aggregate.sum_columns`, one row per LSOA with young people
        (for :func:`.aggregate.combine_sums`), and the scoring statistics summed over
        partitions.

    Raises
    ------
    ReleaseError
        If the scorer is not LightGBM (before Spark starts) or scoring fails on Spark.
    """
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    from training.spark import spark_session

    say = progress or (lambda _: None)
    releasable_booster(model, version)
    factors = list(factor_inputs)
    columns = sum_columns(factors)
    schema = ", ".join(
        ["lsoa_code string", *(f"{c} double" for c in columns), *(f"{n} {t}" for n, t in _STATS)]
    )

    say(f"starting Spark ({config.master})")
    session = spark_session(config)
    shipped = session.sparkContext.broadcast(pickle.dumps(model))
    try:
        cohort, parts = _read_cohort(session, features, as_of, wanted)
        score = _score_partitions(
            shipped,
            {f: list(c) for f, c in factor_inputs.items()},
            {f: list(c) for f, c in present_when.items()},
            dedup,
            version,
        )
        summed = (
            cohort.mapInPandas(score, schema)
            .groupBy("lsoa_code")
            .agg(*(F.sum(c).alias(c) for c in [*columns, *(n for n, _ in _STATS)]))
        )
        say(f"scoring and exact TreeSHAP in {parts} Spark partitions")
        try:
            sums = summed.toArrow().to_pandas()
        except (PySparkException, Py4JJavaError) as err:
            first = next((line for line in str(err).splitlines() if line.strip()), "")
            raise ReleaseError(_SPARK_FAILED.format(err=first.strip())) from None
    finally:
        shipped.unpersist()
    return sums[["lsoa_code", *columns]], _summed_stats(sums, dedup)


def _read_cohort(
    session: SparkSession, features: Path, as_of: str, wanted: Sequence[str]
) -> tuple[DataFrame, int]:
    """The cohort's wanted columns at ``as_of``, in one even partition per core; the count.

    A small table is one Parquet row group (one split), a big one may be split unevenly by
    the as-of filter; the cohort's columns are cheap to move next to the cost of explaining
    them.
    """
    from pyspark.sql import functions as F

    cohort = (
        session.read.parquet(str(features))
        .where(F.col("as_of_date") == F.lit(dt.date.fromisoformat(as_of)))
        .select(*wanted)
    )
    parts = session.sparkContext.defaultParallelism
    return cohort.repartition(parts), parts


def _summed_stats(sums: pd.DataFrame, dedup: Dedup) -> ScoringStats:
    """The scoring statistics, summed over the partitions' first rows."""
    totals = sums[[n for n, _ in _STATS]].sum()
    return ScoringStats(
        rows=int(totals["_rows"]),
        identical_rows=int(totals["_identical_rows"]),
        patterns=int(totals["_patterns"]),
        dedup=dedup,
        dedup_seconds=float(totals["_dedup_seconds"]),
        score_seconds=float(totals["_score_seconds"]),
        shap_seconds=float(totals["_shap_seconds"]),
    )


def _score_partitions(
    shipped: Broadcast[bytes],
    factor_inputs: dict[str, list[str]],
    present_when: dict[str, list[str]],
    dedup: Dedup,
    version: str,
) -> Callable[[Iterable[pd.DataFrame]], Iterable[pd.DataFrame]]:
    """The function each partition runs (a closure Spark pickles: small arguments only)."""

    def score_partition(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        frames = [batch for batch in batches if len(batch)]
        if not frames:
            return
        # all of the partition at once: deduplication finds more repeats in more rows
        cohort = pd.concat(frames, ignore_index=True)
        model = pickle.loads(shipped.value)  # the driver pickled it from the registry
        scored = score_cohort(model, cohort, factor_inputs, dedup=dedup, version=version)
        present = factor_present(cohort, present_when)
        sums = partial_sums(
            cohort["lsoa_code"].astype(str).to_numpy(),
            scored.risk,
            present,
            scored.contributions,
            list(factor_inputs),
        )
        yield _with_stats(sums, scored.stats)

    return score_partition


def _with_stats(sums: pd.DataFrame, stats: ScoringStats) -> pd.DataFrame:
    """``sums`` with the partition's statistics on its first row (zeros on the others)."""
    values = (
        stats.rows,
        stats.identical_rows,
        stats.patterns,
        stats.dedup_seconds,
        stats.score_seconds,
        stats.shap_seconds,
    )
    out = sums.copy()
    for (name, kind), value in zip(_STATS, values, strict=True):
        column = np.zeros(len(out), dtype=np.int64 if kind == "bigint" else np.float64)
        column[0] = value
        out[name] = column
    return out
