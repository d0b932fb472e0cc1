"""Run a linkage: read, standardise, profile, train, score, cluster, write the spine.

Reading, standardising and profiling run in DuckDB whatever the engine (one linear pass over
the extracts). The Splink model (training, scoring, clustering: the pairwise work that grows
with the square of the blocks) runs on the configured engine: DuckDB, or Spark through
Splink's Spark backend, with the same settings, training steps and thresholds.
"""

from __future__ import annotations

import logging
import os
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from splink import DuckDBAPI, Linker
from splink.internals.database_api import DatabaseAPI

from governance.contracts.errors import ExtractError
from training.linkage.config import LinkConfig, SourceMapping
from training.linkage.em import floored_em, level_labels
from training.linkage.invalid import InvalidColumn, count_invalid, judge_invalid
from training.linkage.model import settings, training_rules
from training.linkage.saved_model import SavedModel, apply_parameters, read_saved_model
from training.linkage.standardise import profiles_sql, standardised_sql
from training.spark import SparkConfig

if TYPE_CHECKING:
    from splink.internals.splink_dataframe import SplinkDataFrame

__all__ = ["PAIR_COLUMNS", "Linkage", "default_memory_limit", "high_water_mb", "link_extracts"]

logger = logging.getLogger("vru.link")

_MISSING_COLUMNS = "{path}: mapped column(s) {missing} not in the extract; columns are {columns}"
_EMPTY = "{path}: the extract has no rows"
PAIR_COLUMNS: tuple[str, ...] = (
    "unique_id_l",
    "unique_id_r",
    "match_probability",
    "match_weight",
    "source_l",
    "source_r",
)
#: DuckDB may hold this share of the machine's memory; the rest is for Python, Splink and the OS
MEMORY_SHARE = 0.5


@dataclass
class Linkage:
    """What a linkage produced, all in one DuckDB connection (spilling to disk) until written.

    Pairs and clusters stay tables in ``con``: at city scale they do not fit in Python memory.
    """

    con: duckdb.DuckDBPyConnection
    records: str  # table: source, record_id, unique_id, standardised fields, truth_id
    profiles: str  # table: one row per profile
    pairs: str  # table: scored candidate pairs above keep_pairs_above (PAIR_COLUMNS)
    clusters: str  # table: unique_id → cluster_id
    match_weights: dict[str, Any]  # the trained model's parameters (Splink's JSON)
    model_charts: dict[str, str]  # Splink's own charts of the model, as self-contained HTML
    invalid: list[InvalidColumn] = field(default_factory=list)  # unparseable values counted
    saved_model: SavedModel | None = None  # the model scored with, when not trained here
    em_floored: list[str] = field(default_factory=list)  # levels held at em_min_probability
    timings: dict[str, float] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)  # high_water_mb() after each step


def link_extracts(
    config: LinkConfig,
    data_dir: Path,
    seed: int,
    spark: SparkConfig | None = None,
    work_dir: Path | None = None,
) -> Linkage:
    """Link every configured extract under ``data_dir`` into clusters of profiles.

    ``config.engine`` chooses where Splink runs; ``spark`` says how Spark runs (the pipeline's
    ``spark:`` section; its defaults when not given). ``work_dir`` (made if missing; the
    caller removes it) takes what DuckDB spills beyond its memory limit, and, with Spark, the
    pairs and clusters on their way back to DuckDB.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    saved = None
    if config.model is not None:  # read first: a wrong model is refused before any work
        saved = read_saved_model(
            config.model if config.model.is_absolute() else data_dir / config.model
        )
    con = _connect(config.duckdb_memory_limit or default_memory_limit(), work_dir)
    parts = []
    invalid: list[InvalidColumn] = []
    groups = sorted({g for m in config.sources.values() for g in m.groups})
    for source, mapping in config.sources.items():
        path = mapping.path if mapping.path.is_absolute() else data_dir / mapping.path
        view = _register(con, source, path, mapping)
        invalid += count_invalid(
            con, view, source, path, mapping, config.postcode_format, config.comparisons
        )
        parts.append(
            standardised_sql(
                source,
                view,
                mapping,
                postcode_format=config.postcode_format,
                comparisons=config.comparisons,
                groups=groups,
            )
        )
    judge_invalid(invalid, config.max_invalid_share)  # every extract's counts, then one verdict
    con.execute("CREATE TABLE records AS " + " UNION ALL ".join(f"({p})" for p in parts))
    con.execute(
        "CREATE TABLE profiles AS "
        + profiles_sql("records", config.postcode_format, tuple(config.comparisons))
    )
    n_records, n_profiles = (
        con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("records", "profiles")
    )
    logger.info(
        "%d records, %d profiles from %d extracts", n_records, n_profiles, len(config.sources)
    )
    timings["standardise_s"] = time.perf_counter() - clock
    peaks = {"standardise": high_water_mb()}

    clock = time.perf_counter()
    db_api, table = _splink_backend(con, config, spark or SparkConfig())
    profiles = db_api.register(table)
    floored: list[str] = []
    if saved is not None:  # a model trained before: score and cluster with it, no training
        dialect = db_api.sql_dialect.sql_dialect_str
        target = settings(config).create_settings_dict(sql_dialect_str=dialect)
        linker = Linker(profiles, apply_parameters(target, saved), log_level=None)
        logger.info("scoring with the saved model %s (no training)", saved.path)
    else:
        linker = Linker(profiles, settings(config), log_level=None)
        floored = _train(linker, config, seed)
    timings["train_s"] = time.perf_counter() - clock
    charts = linker.visualisations  # parameters only: no record appears in these charts

    peaks["train"] = high_water_mb()
    clock = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=config.keep_pairs_above)
    timings["predict_s"] = time.perf_counter() - clock
    peaks["predict"] = high_water_mb()
    clock = time.perf_counter()
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=config.threshold
    )
    _into_duckdb(con, predictions, "pairs", PAIR_COLUMNS, config.engine, work_dir)
    _into_duckdb(con, clustered, "clusters", ("unique_id", "cluster_id"), config.engine, work_dir)
    match_weights = linker.misc.save_model_to_json()
    model_charts = {
        "splink_match_weights.html": charts.match_weights_chart().to_html(inline=True),
        "splink_m_u_parameters.html": charts.m_u_parameters_chart().to_html(inline=True),
    }
    linker.table_management.delete_tables_created_by_splink_from_db()  # their memory, freed
    timings["cluster_s"] = time.perf_counter() - clock
    peaks["cluster"] = high_water_mb()
    return Linkage(
        con=con,
        records="records",
        profiles="profiles",
        pairs="pairs",
        clusters="clusters",
        match_weights=match_weights,
        model_charts=model_charts,
        invalid=invalid,
        saved_model=saved,
        em_floored=floored,
        timings=timings,
        peaks=peaks,
    )


def _train(linker: Linker, config: LinkConfig, seed: int) -> list[str]:
    """Estimate the prior, u by random sampling and m by EM, on the linker's engine.

    Returns the levels whose EM estimate was held at ``link.em_min_probability``, in words.
    """
    rules = training_rules()
    linker.training.estimate_probability_two_random_records_match(
        rules["deterministic"], recall=config.recall_of_deterministic_rules
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=config.u_max_pairs, seed=seed, min_count_per_level=config.u_min_count_per_level
    )
    with floored_em(config.em_min_probability) as floored:
        for rule in rules["em"]:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, max_pairs=config.em_max_pairs, record_sample_proportion=1.0
            )
    labels = level_labels(linker.misc.save_model_to_json())
    held = [
        f"{kind} of '{name}': {labels.get((name, value), value)}"
        for name, value, kind in sorted(set(floored))
    ]
    for words in held:
        logger.info("EM estimate of %s held at link.em_min_probability", words)
    return held


def high_water_mb() -> float:
    """Peak resident memory of this process so far, in MiB (a machine figure, no data).

    Read after each step, the first step after which it rises is the step that set the peak.
    """
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def default_memory_limit() -> str:
    """DuckDB's memory limit when ``link.duckdb_memory_limit`` is empty: half the machine's RAM.

    DuckDB's own default (80%) leaves too little for Python and the OS beside it; beyond its
    limit DuckDB spills to its temporary directory instead of growing.
    """
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{int(total * MEMORY_SHARE / 2**20)}MB"


def _connect(memory_limit: str, work_dir: Path | None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection held to ``memory_limit`` that spills into ``work_dir``."""
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{work_dir / 'spill'}'")
    return con


def _into_duckdb(
    con: duckdb.DuckDBPyConnection,
    table: SplinkDataFrame,
    name: str,
    columns: tuple[str, ...],
    engine: str,
    work_dir: Path | None,
) -> None:
    """Copy a Splink result into table ``name`` of ``con``, never through Python memory.

    DuckDB's Splink tables are already in ``con``; Spark's are written as parquet files under
    ``work_dir`` (a new temporary directory when not given) by Spark and read from there.
    """
    select = ", ".join(columns)
    if engine == "duckdb":
        con.execute(f"CREATE TABLE {name} AS SELECT {select} FROM {table.physical_name}")
        return
    path = (work_dir or Path(tempfile.mkdtemp(prefix="vru-link-"))) / "from-spark" / name
    table.as_spark_dataframe().select(*columns).write.parquet(str(path))
    con.execute(f"CREATE TABLE {name} AS SELECT {select} FROM read_parquet('{path}/*.parquet')")


def _splink_backend(
    con: duckdb.DuckDBPyConnection, config: LinkConfig, spark: SparkConfig
) -> tuple[DatabaseAPI[Any], str]:
    """Splink's database for the configured engine, and the name of the profiles table in it."""
    if config.engine == "duckdb":
        return DuckDBAPI(connection=con), "profiles"
    from splink.backends.spark import SparkAPI

    from training.spark import spark_session

    session = spark_session(spark)
    # the profiles go to Spark as Arrow: the same rows and types that DuckDB's Splink reads
    frame = session.createDataFrame(con.sql("SELECT * FROM profiles").to_arrow_table())
    frame.createOrReplaceTempView("vru_profiles")
    return SparkAPI(spark_session=session, break_lineage_method="parquet"), "vru_profiles"


def _register(
    con: duckdb.DuckDBPyConnection, source: str, path: Path, mapping: SourceMapping
) -> str:
    if not path.is_file():
        raise ExtractError(f"{path}: extract file not found (source '{source}')")
    reader = "read_csv" if path.suffix.lower() == ".csv" else "read_parquet"
    options = ", all_varchar = true" if reader == "read_csv" else ""
    view = f"raw_{source}"
    try:
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM {reader}('{path}'{options})")
        columns = [row[0] for row in con.execute(f"DESCRIBE {view}").fetchall()]
    except duckdb.Error as err:
        raise ExtractError(
            f"{path}: cannot be read as {reader[5:]} ({err.__class__.__name__})"
        ) from None
    missing = [c for c in mapping.mapped_columns().values() if c not in columns]
    if missing:
        raise ExtractError(_MISSING_COLUMNS.format(path=path, missing=missing, columns=columns))
    if con.execute(f"SELECT count(*) FROM {view}").fetchall()[0][0] == 0:
        raise ExtractError(_EMPTY.format(path=path))
    return view
