"""``vru link`` end to end: link, build the spine, evaluate, write everything atomically."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from governance.contracts.config import config_hash
from governance.contracts.layout import DataLayout
from training.config import PipelineConfig
from training.evaluation.linkage import evaluate_linkage
from training.linkage.invalid import invalid_report
from training.linkage.report import cluster_sizes, draw_charts, model_parameters, weight_histogram
from training.linkage.run import link_extracts
from training.linkage.spine import build_spine
from training.storage import staged_directory, write_json_atomic

__all__ = ["LinkResult", "run_link"]

logger = logging.getLogger("vru.link")
LINK_SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class LinkResult:
    """The report (as written to ``linked/report.json``) and where the outputs are."""

    report: dict[str, Any]
    directory: Path


def run_link(config: PipelineConfig, data_dir: Path) -> LinkResult:
    """Link the configured extracts in ``data_dir`` and write ``data_dir/linked/``."""
    started = time.perf_counter()
    cfg = config.link
    linkage = link_extracts(cfg, data_dir, seed=config.seed, spark=config.spark)
    groups = sorted({g for m in cfg.sources.values() for g in m.groups})
    group_columns = "".join(f", group_{g} AS {g}" for g in groups)
    records = linkage.con.execute(
        f"SELECT source, record_id, unique_id, truth_id, sex{group_columns} "
        "FROM records ORDER BY source, record_id"
    ).df()
    profiles = linkage.con.execute(
        "SELECT source, count(*) FROM profiles GROUP BY source ORDER BY source"
    ).fetchall()
    linkage.con.close()  # Splink's tables are done with: free their memory before evaluating
    spine = build_spine(records, linkage.clusters, linkage.pairs, cfg.threshold)
    clock = time.perf_counter()
    quality = evaluate_linkage(data_dir, spine, records, linkage.pairs, groups=groups)
    linkage.timings["evaluate_s"] = time.perf_counter() - clock
    report: dict[str, Any] = {
        "stage": "link",
        "schema_version": LINK_SCHEMA_VERSION,
        "seed": config.seed,
        "config_hash": config_hash(cfg),
        "threshold": cfg.threshold,
        "engine": cfg.engine,
        "records": len(spine),
        "records_per_source": {k: int(v) for k, v in spine.groupby("source").size().items()},
        "profiles_per_source": {k: int(v) for k, v in profiles},
        "persons": int(spine["person_key"].nunique()),
        "invalid_values": invalid_report(linkage.invalid),
        "scored_pairs_kept": len(linkage.pairs),
        "cluster_sizes": cluster_sizes(spine),
        "match_weights": weight_histogram(linkage.pairs, cfg.threshold),
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
    }
    layout = DataLayout(data_dir)
    with staged_directory(data_dir) as stage:
        out = stage / layout.linked_dir.name
        out.mkdir()
        table = pa.Table.from_pandas(spine, preserve_index=False)
        pq.write_table(table, out / "spine.parquet", compression="zstd")
        (out / "model.json").write_text(json.dumps(linkage.match_weights, indent=2) + "\n")
        report["charts"] = draw_charts(report, out / "charts")
        for name, html in linkage.model_charts.items():
            (out / "charts" / name).write_text(html)
            report["charts"].append(name)
        report["timings_s"]["total_s"] = round(time.perf_counter() - started, 2)
        write_json_atomic(out / "report.json", report)
    logger.info("linked %d records into %d persons", report["records"], report["persons"])
    return LinkResult(report=report, directory=layout.linked_dir)
