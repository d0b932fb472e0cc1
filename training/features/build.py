"""``vru features``: cohorts at each as-of date, their features and labels, written as Parquet.

Everything is one SQL session (DuckDB, or Spark with ``engine: spark``) over the extracts, the
spine and the geography, from one definition of each table (see :mod:`.engines`). Features
see only events strictly before the as-of date; the label sees only events from the as-of
date to the end of the label window. A row's label is complete when that window has ended
within the data.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.contracts.config import config_hash
from governance.contracts.errors import ConfigError, ExtractError
from governance.contracts.layout import SOURCES, DataLayout
from training.features.config import FeaturesConfig
from training.features.definitions import SENSITIVE, FeatureSpec, all_features, feature_sql
from training.features.engines import Step, run_duckdb, run_spark
from training.features.events import (
    events_sql,
    label_condition,
    person_facts_sql,
    persons_sql,
    residence_sql,
)
from training.spark import SparkConfig
from training.storage import file_sha256, staged_directory, write_json_atomic

__all__ = [
    "FEATURES_FILE",
    "FeatureSet",
    "cohort_sql",
    "context_features",
    "feature_definitions",
    "features_sql",
    "run_features",
    "ward_rate_feature",
]

logger = logging.getLogger("vru.features")
FEATURES_FILE = "features.parquet"
FEATURES_SCHEMA_VERSION = "1.0"
ID_COLUMNS: tuple[str, ...] = (
    "person_key",
    "as_of_date",
    "lsoa_code",
    "ward_code",
    "borough_code",
    "bcu_code",
)
LABEL_COLUMNS: tuple[str, ...] = ("label", "label_complete")

_NO_SPINE = "{path}: no linked spine; run `vru link --data {data}` first"
_NO_DATA_END = (
    "features.data_end is not set and {path} has no generation period; set features.data_end"
)


@dataclass(frozen=True)
class FeatureSet:
    """What ``vru features`` wrote."""

    path: Path
    manifest: dict[str, Any]


def context_features(config: FeaturesConfig) -> list[FeatureSpec]:
    """Person and area features computed beside the event features."""
    return [
        FeatureSpec(
            name="age",
            description="Age in whole years at the as-of date",
            source="person",
            condition="",
            aggregate="count",
            window_months=None,
        ),
        FeatureSpec(
            name="deprivation_score",
            description="Deprivation score of the home LSOA",
            source="area",
            condition="",
            aggregate="mean",
            window_months=None,
        ),
        FeatureSpec(
            name="deprivation_decile",
            description="Deprivation decile of the home LSOA (1 = most deprived)",
            source="area",
            condition="",
            aggregate="mean",
            window_months=None,
        ),
        ward_rate_feature(config),
    ]


def ward_rate_feature(config: FeaturesConfig) -> FeatureSpec:
    """The home ward's recent rate of serious violence (the last context feature)."""
    return FeatureSpec(
        name=f"ward_violence_rate_{config.area_rate_months}m",
        description=f"Serious violence events per 1,000 cohort members of the home ward in the "
        f"{config.area_rate_months} months before the as-of date",
        source="area",
        condition="",
        aggregate="mean",
        window_months=config.area_rate_months,
    )


def run_features(
    config: FeaturesConfig, data_dir: Path, *, spark: SparkConfig | None = None
) -> FeatureSet:
    """Build and write ``data_dir/features/``: features, labels and a manifest.

    ``config.engine`` chooses where the SQL runs; ``spark`` says how Spark runs (the pipeline's
    ``spark:`` section; its defaults when not given). Both engines write the same table.
    """
    started = time.perf_counter()
    layout = DataLayout(data_dir)
    inputs = _inputs(layout, data_dir)
    data_end = config.data_end or _data_end(layout.manifest)
    specs = all_features(config.windows_months)
    table = _run_sql(config, inputs, layout, specs, data_end, spark)
    per_date = _counts(table)
    for d in config.as_of_dates:
        if per_date.get(str(d), {}).get("rows", 0) == 0:
            raise ConfigError(
                f"features.as_of_dates: no young people aged {config.min_age}-{config.max_age} "
                f"are known to live in the city at {d}; the extracts cover up to {data_end}"
            )

    import pyarrow.parquet as pq

    with staged_directory(data_dir) as stage:
        out = stage / layout.features_dir.name
        out.mkdir()
        pq.write_table(table, out / FEATURES_FILE, compression="zstd")
        manifest = {
            "stage": "features",
            "schema_version": FEATURES_SCHEMA_VERSION,
            "config_hash": config_hash(config),
            "engine": config.engine,
            "as_of_dates": [str(d) for d in config.as_of_dates],
            "data_end": str(data_end),
            "label": {"outcome": config.outcome, "months": config.label_months},
            "rows": table.num_rows,
            "per_as_of_date": per_date,
            "inputs": {
                "spine_sha256": file_sha256(inputs.spine),
                **{f"{s}_sha256": file_sha256(p) for s, p in inputs.extracts.items()},
            },
            "features": feature_definitions(config, specs),
            "sha256": file_sha256(out / FEATURES_FILE),
            "seconds": round(time.perf_counter() - started, 2),
        }
        write_json_atomic(out / "manifest.json", manifest)
    logger.info("features: %d rows at %d as-of dates", table.num_rows, len(config.as_of_dates))
    return FeatureSet(path=layout.features_dir / FEATURES_FILE, manifest=manifest)


@dataclass(frozen=True)
class _Inputs:
    """The linked spine and each agency's extract, checked to be there."""

    spine: Path
    extracts: dict[str, Path]  # by source, in the order of ``SOURCES``


def _inputs(layout: DataLayout, data_dir: Path) -> _Inputs:
    """The stage's input files, or :class:`ExtractError` naming the first one missing."""
    spine = layout.linked_dir / "spine.parquet"
    if not spine.is_file():
        raise ExtractError(_NO_SPINE.format(path=spine, data=data_dir))
    extracts = {s: layout.extract(s) for s in SOURCES}
    for path in extracts.values():
        if not path.is_file():
            raise ExtractError(f"{path}: extract file not found")
    return _Inputs(spine=spine, extracts=extracts)


def _run_sql(
    config: FeaturesConfig,
    inputs: _Inputs,
    layout: DataLayout,
    specs: list[FeatureSpec],
    data_end: Any,
    spark: SparkConfig | None,
) -> Any:
    """Run the SQL steps and the final query on the configured engine; an Arrow table."""
    views = {
        "spine": inputs.spine,
        "postcodes": layout.root / "postcodes.parquet",
        "geography": layout.geography,
        **{f"extract_{s}": p for s, p in inputs.extracts.items()},
    }
    relations = {s: f"extract_{s}" for s in inputs.extracts}
    steps = [
        Step("events", events_sql(relations, "spine")),
        Step("person_facts", person_facts_sql(relations, "spine")),
        Step("persons", persons_sql("person_facts", config.as_of_dates)),
        Step("residence", residence_sql(relations, "spine")),
        Step("cohort", cohort_sql(config)),
    ]
    query = features_sql(config, specs, data_end)
    if config.engine == "spark":
        return run_spark(views, steps, query, spark or SparkConfig())
    return run_duckdb(views, steps, query)


def feature_definitions(config: FeaturesConfig, specs: list[FeatureSpec]) -> list[dict[str, Any]]:
    """The manifest's ``features``: every column's definition and the policy applied to it."""
    return [
        {**s.as_dict(), "policy": _policy_label(config, s.name)}
        for s in [*context_features(config), *specs]
    ] + [
        {
            "name": s,
            "description": f"{s.title()} (most common across agencies)",
            "source": "person",
            "policy": _policy_label(config, s),
            "sensitive": True,
        }
        for s in SENSITIVE
    ]


def cohort_sql(config: FeaturesConfig) -> str:
    """Young people of the configured ages living in the city at each as-of date.

    Reads ``residence``, ``persons``, ``postcodes`` and ``geography``. Home is the postcode of a
    person's latest record before the date; records of the same day from two agencies go to the
    larger postcode, so that the choice is the same on every engine.
    """
    dates = " UNION ALL ".join(f"SELECT DATE '{d}' AS as_of_date" for d in config.as_of_dates)
    age = _complete_years("p.dob", "h.as_of_date")
    return f"""
        WITH as_of AS ({dates}),
        home AS (
            SELECT r.person_key, a.as_of_date,
                   arg_max(r.postcode, CAST(r.event_date AS VARCHAR) || r.postcode) AS postcode
            FROM residence r JOIN as_of a ON r.event_date < a.as_of_date
            GROUP BY r.person_key, a.as_of_date)
        SELECT h.person_key, h.as_of_date, g.lsoa_code, g.ward_code, g.borough_code, g.bcu_code,
               {age} AS age, p.sex, p.ethnicity, g.deprivation_score, g.deprivation_decile
        FROM home h
        JOIN persons p ON p.person_key = h.person_key AND p.as_of_date = h.as_of_date
        JOIN postcodes pc ON pc.postcode = h.postcode
        JOIN geography g ON g.lsoa_code = pc.lsoa_code
        WHERE {age} BETWEEN {config.min_age} AND {config.max_age}"""


def _complete_years(start: str, end: str) -> str:
    """Whole years from ``start`` to ``end`` (a 29 February birthday counts on 1 March)."""
    return (
        f"CAST(year({end}) - year({start}) - CASE WHEN month({end}) * 100 + day({end}) "
        f"< month({start}) * 100 + day({start}) THEN 1 ELSE 0 END AS BIGINT)"
    )


def features_sql(config: FeaturesConfig, specs: list[FeatureSpec], data_end: Any) -> str:
    """One row per cohort member and as-of date: ids, context, features, sensitive, label.

    Reads tables ``cohort`` and ``events``. Features aggregate events strictly before the
    as-of date; the label looks at events from the as-of date to the end of its window.
    """
    aggregates = ",\n".join(
        f'{feature_sql(s, config.expiry_years(s.name))} AS "{s.name}"' for s in specs
    )
    label = label_condition(config.outcome)
    area = ward_rate_feature(config).name
    return f"""
        WITH history AS (
            SELECT c.person_key, c.as_of_date, {aggregates}
            FROM cohort c LEFT JOIN events e
              ON e.person_key = c.person_key AND e.event_date < c.as_of_date
            GROUP BY c.person_key, c.as_of_date),
        outcome AS (
            SELECT c.person_key, c.as_of_date,
                   CAST(count(e.person_key) > 0 AS INTEGER) AS label
            FROM cohort c LEFT JOIN events e
              ON e.person_key = c.person_key AND e.event_date >= c.as_of_date
             AND e.event_date < c.as_of_date + INTERVAL {config.label_months} MONTH AND {label}
            GROUP BY c.person_key, c.as_of_date),
        ward_rate AS (
            SELECT c.ward_code, c.as_of_date,
                   1000.0 * CAST(count(e.person_key) AS DOUBLE) / count(DISTINCT c.person_key) AS rate
            FROM cohort c LEFT JOIN events e
              ON e.person_key = c.person_key AND e.event_date < c.as_of_date
             AND e.event_date >= c.as_of_date - INTERVAL {config.area_rate_months} MONTH AND {label}
            GROUP BY c.ward_code, c.as_of_date)
        SELECT {", ".join(f"c.{col}" for col in ID_COLUMNS)},
               c.age, c.deprivation_score, c.deprivation_decile, w.rate AS "{area}",
               {", ".join(f'h."{s.name}"' for s in specs)},
               {", ".join(f"c.{s}" for s in SENSITIVE)},
               o.label,
               c.as_of_date + INTERVAL {config.label_months} MONTH <= DATE '{data_end}' AS label_complete
        FROM cohort c
        JOIN history h USING (person_key, as_of_date)
        JOIN outcome o USING (person_key, as_of_date)
        JOIN ward_rate w ON w.ward_code = c.ward_code AND w.as_of_date = c.as_of_date
        ORDER BY c.as_of_date, c.person_key
        """


def _policy_label(config: FeaturesConfig, name: str) -> str:
    years = config.expiry_years(name)
    if years is not None:
        return f"expires_after {years} years"
    policy = config.policy.get(name, "allowed")
    return policy if isinstance(policy, str) else "allowed"


def _data_end(manifest: Path) -> Any:
    import datetime as dt

    if manifest.is_file():
        period = json.loads(manifest.read_text()).get("period")
        if period:
            return dt.date.fromisoformat(period["end"])
    raise ConfigError(_NO_DATA_END.format(path=manifest))


def _counts(table: Any) -> dict[str, dict[str, float]]:
    frame = table.select(["as_of_date", "label", "label_complete"]).to_pandas()
    out = {}
    for d, g in frame.groupby("as_of_date"):
        out[str(d)] = {
            "rows": len(g),
            "positives": int(g["label"].sum()),
            "prevalence": round(float(g["label"].mean()), 5),
            "label_complete": bool(g["label_complete"].all()),
        }
    return out
