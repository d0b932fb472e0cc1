"""``vru link`` end to end: link, build the spine, evaluate, write everything atomically."""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from governance.contracts.config import config_hash
from governance.contracts.layout import DataLayout
from training.config import PipelineConfig
from training.evaluation.linkage import evaluate_linkage
from training.linkage.invalid import invalid_report
from training.linkage.report import cluster_sizes, draw_charts, model_parameters, weight_histogram
from training.linkage.run import Linkage, high_water_mb, link_extracts
from training.linkage.spine import build_spine
from training.storage import staged_directory, write_json_atomic

__all__ = ["LinkResult", "run_link"]

logger = logging.getLogger("vru.link")
LINK_SCHEMA_VERSION = "1.0"
_WORK = ".link-work"  # in the staging directory: DuckDB's spill files; removed before the move


@dataclass(frozen=True)
class LinkResult:
    """The report (as written to ``linked/report.json``) and where the outputs are."""

    report: dict[str, Any]
    directory: Path


def run_link(config: PipelineConfig, data_dir: Path) -> LinkResult:
    """Link the configured extracts in ``data_dir`` and write ``data_dir/linked/``.

    Records, pairs, clusters and the spine stay DuckDB tables, spilling beyond DuckDB's memory
    limit into the staging directory (removed before the outputs move into place).
    """
    started = time.perf_counter()
    layout = DataLayout(data_dir)
    with staged_directory(data_dir) as stage:
        out = stage / layout.linked_dir.name
        out.mkdir()
        work = stage / _WORK
        try:
            report = _link_into(config, data_dir, work, out)
        finally:
            shutil.rmtree(work, ignore_errors=True)  # spilled tables: never moved into place
        report["timings_s"]["total_s"] = round(time.perf_counter() - started, 2)
        write_json_atomic(out / "report.json", report)
    logger.info("linked %d records into %d persons", report["records"], report["persons"])
    return LinkResult(report=report, directory=layout.linked_dir)


def _link_into(config: PipelineConfig, data_dir: Path, work: Path, out: Path) -> dict[str, Any]:
    """Link with DuckDB spilling into ``work``; write the outputs into ``out``; the report."""
    linkage = link_extracts(
        config.link, data_dir, seed=config.seed, spark=config.spark, work_dir=work
    )
    try:
        return _write_outputs(config, data_dir, linkage, out)
    finally:
        linkage.con.close()


def _write_outputs(
    config: PipelineConfig, data_dir: Path, linkage: Linkage, out: Path
) -> dict[str, Any]:
    """Build the spine, evaluate, write spine, model and charts into ``out``; the report."""
    cfg = config.link
    con = linkage.con
    groups = sorted({g for m in cfg.sources.values() for g in m.groups})
    spine = build_spine(con, linkage.records, linkage.clusters, linkage.pairs, cfg.threshold)
    con.execute(f"COPY {spine} TO '{out / 'spine.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
    clock = time.perf_counter()
    quality = evaluate_linkage(data_dir, con, spine, linkage.records, linkage.pairs, groups=groups)
    linkage.timings["evaluate_s"] = time.perf_counter() - clock
    linkage.peaks["spine_and_evaluate"] = high_water_mb()

    def per_source(table: str) -> dict[str, int]:
        rows = con.execute(f"SELECT source, count(*) FROM {table} GROUP BY 1 ORDER BY 1")
        return {k: int(v) for k, v in rows.fetchall()}

    records = per_source(spine)
    report: dict[str, Any] = {
        "stage": "link",
        "schema_version": LINK_SCHEMA_VERSION,
        "seed": config.seed,
        "config_hash": config_hash(cfg),
        "threshold": cfg.threshold,
        "engine": cfg.engine,
        "records": sum(records.values()),
        "records_per_source": records,
        "profiles_per_source": per_source(linkage.profiles),
        "persons": _count(con, f"SELECT count(DISTINCT person_key) FROM {spine}"),
        "invalid_values": invalid_report(linkage.invalid),
        "scored_pairs_kept": _count(con, f"SELECT count(*) FROM {linkage.pairs}"),
        "cluster_sizes": cluster_sizes(con, spine),
        "match_weights": weight_histogram(con, linkage.pairs, cfg.threshold),
        "model": model_parameters(linkage.match_weights),
        "model_trained": (
            {"here": True, "em_floored_levels": linkage.em_floored}
            if linkage.saved_model is None
            else {
                "here": False,
                "saved_model": str(linkage.saved_model.path),
                "saved_model_sha256": linkage.saved_model.sha256,
            }
        ),
        "quality": quality,
        "timings_s": {k: round(v, 2) for k, v in linkage.timings.items()},
        "peak_rss_mb_after": linkage.peaks,
    }
    (out / "model.json").write_text(json.dumps(linkage.match_weights, indent=2) + "\n")
    report["charts"] = draw_charts(report, out / "charts")
    for name, html in linkage.model_charts.items():
        (out / "charts" / name).write_text(html)
        report["charts"].append(name)
    return report


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """The single number a counting query gives."""
    return int(con.execute(sql).fetchall()[0][0])
