"""The linkage report: counts, cluster sizes, match weights, quality; JSON, charts and text.

Only aggregates: counts per source, size distributions, histogram bins, model parameters and
quality figures. No record, identifier or name appears in it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

__all__ = [
    "cluster_sizes",
    "draw_charts",
    "model_parameters",
    "size_summary",
    "summary_lines",
    "unit_bins",
    "weight_histogram",
]

_SIZE_BINS = [1, 2, 3, 5, 10, 20, 50, 100, np.inf]


def cluster_sizes(con: duckdb.DuckDBPyConnection, spine: str) -> dict[str, Any]:
    """How many records, and how many agencies, each linked person has (spine table in ``con``).

    DuckDB tallies persons by size; only those tallies (a few numbers) come to Python.
    """
    per_person = (
        f"SELECT count(*) AS n, count(DISTINCT source) AS a FROM {spine} GROUP BY person_key"
    )
    records = dict(con.execute(f"SELECT n, count(*) FROM ({per_person}) GROUP BY n").fetchall())
    agencies = dict(con.execute(f"SELECT a, count(*) FROM ({per_person}) GROUP BY a").fetchall())
    return size_summary(records, agencies)


def size_summary(records: dict[int, int], agencies: dict[int, int]) -> dict[str, Any]:
    """The cluster-size figures from tallies: persons with n records, persons with n agencies."""
    binned = dict.fromkeys(_size_labels(), 0)
    for n, persons in records.items():
        label = next(
            label
            for label, (lo, hi) in zip(binned, itertools.pairwise(_SIZE_BINS), strict=True)
            if lo <= n < hi
        )
        binned[label] += int(persons)
    n_persons = sum(records.values())
    return {
        "records_per_person": binned,
        "agencies_per_person": {str(k): int(agencies[k]) for k in sorted(agencies)},
        "largest_cluster_records": int(max(records, default=0)),
        "mean_records_per_person": (
            float(sum(n * c for n, c in records.items()) / n_persons) if n_persons else float("nan")
        ),
    }


def _size_labels() -> list[str]:
    """Labels of the records-per-person bins: 1, 2, 3-4, ..., 100+."""
    return [
        f"{lo}" if hi == lo + 1 else f"{lo}-{int(hi) - 1}" if np.isfinite(hi) else f"{lo}+"
        for lo, hi in itertools.pairwise(_SIZE_BINS)
    ]


def weight_histogram(
    con: duckdb.DuckDBPyConnection, pairs: str, threshold: float
) -> dict[str, Any]:
    """Match weights of the scored pairs kept (table ``pairs``), in bins of one unit.

    DuckDB counts pairs per whole unit of weight; bins are those of ``numpy.histogram`` with
    edges at whole numbers from the lowest weight's floor to the highest's ceiling.
    """
    lo, hi = con.execute(f"SELECT min(match_weight), max(match_weight) FROM {pairs}").fetchall()[0]
    units = con.execute(
        f"SELECT CAST(floor(match_weight) AS BIGINT), count(*) FROM {pairs} "
        "WHERE match_weight IS NOT NULL GROUP BY 1"
    ).fetchall()
    return {
        **unit_bins(dict(units), lo, hi),
        "threshold_probability": threshold,
        "threshold_weight": float(np.log2(threshold / (1 - threshold))),
    }


def unit_bins(units: dict[int, int], lo: float | None, hi: float | None) -> dict[str, list[Any]]:
    """Histogram edges and counts from counts per whole unit (``floor(weight)``).

    The same bins as ``numpy.histogram`` over edges ``floor(lo) .. ceil(hi)`` in steps of one:
    each bin holds its left edge, the last its right edge too. No weights: one empty bin [0, 1];
    one whole-number weight only: one bin of width one around it.
    """
    if lo is None or hi is None:
        return {"bin_edges": [0.0, 1.0], "counts": [0]}
    first, last = int(np.floor(lo)), int(np.ceil(hi))
    if first == last:
        return {"bin_edges": [first - 0.5, first + 0.5], "counts": [int(sum(units.values()))]}
    counts = [0] * (last - first)
    for unit, n in units.items():
        counts[min(unit - first, len(counts) - 1)] += int(n)
    return {"bin_edges": [float(e) for e in range(first, last + 1)], "counts": counts}


def model_parameters(model: dict[str, Any]) -> dict[str, Any]:
    """The trained m and u of each comparison level, and the prior, from Splink's model JSON."""
    out: dict[str, Any] = {
        "probability_two_random_records_match": model.get("probability_two_random_records_match")
    }
    for comparison in model.get("comparisons", []):
        levels = []
        for level in comparison.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            levels.append(
                {
                    "level": level.get("label_for_charts", level.get("sql_condition")),
                    "m": m,
                    "u": u,
                    "match_weight": float(np.log2(m / u)) if m and u else None,
                }
            )
        out[comparison.get("output_column_name", "?")] = levels
    return out


def draw_charts(report: dict[str, Any], directory: Path) -> list[str]:
    """Match weight distribution and precision-recall against threshold, as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    hist = report["match_weights"]
    fig, ax = plt.subplots(figsize=(7, 4))
    edges = np.asarray(hist["bin_edges"])
    ax.bar(
        edges[:-1],
        hist["counts"],
        width=np.diff(edges),
        align="edge",
        color="#3b6ea8",
        edgecolor="white",
    )
    ax.axvline(
        hist["threshold_weight"],
        color="#c0392b",
        linestyle="--",
        label=f"threshold p = {hist['threshold_probability']}",
    )
    ax.set_yscale("log")
    ax.set_xlabel("match weight (log2 Bayes factor)")
    ax.set_ylabel("scored pairs (log scale)")
    ax.set_title("Match weights of scored candidate pairs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(directory / "match_weights.png", dpi=110)
    plt.close(fig)
    written.append("match_weights.png")

    quality = report["quality"]
    if quality.get("available"):
        curve = [c for c in quality["threshold_curve"] if c["precision"] is not None]
        fig, ax = plt.subplots(figsize=(7, 4))
        t = [c["threshold"] for c in curve]
        ax.plot(t, [c["precision"] for c in curve], marker="o", label="precision")
        ax.plot(t, [c["recall"] for c in curve], marker="s", label="recall")
        ax.axvline(
            hist["threshold_probability"],
            color="#c0392b",
            linestyle="--",
            label="configured threshold",
        )
        ax.set_xscale("logit")
        ax.set_xlabel("match probability threshold (logit scale)")
        ax.set_ylabel("pairwise precision / recall")
        ax.set_title("Precision and recall of scored pairs against threshold")
        ax.legend(loc="lower left")
        fig.tight_layout()
        fig.savefig(directory / "precision_recall.png", dpi=110)
        plt.close(fig)
        written.append("precision_recall.png")
    return written


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A short readable summary of the report (printed by ``vru link``)."""
    lines = [
        f"records {report['records']:,} in {len(report['records_per_source'])} extracts → "
        f"{report['persons']:,} persons (threshold {report['threshold']})",
        "records per source: "
        + ", ".join(f"{k} {v:,}" for k, v in report["records_per_source"].items()),
    ]
    invalid = [
        f"{source}.{column} {v['invalid']:,} ({100 * v['share']:.1f}%)"
        for source, columns in report.get("invalid_values", {}).items()
        for column, v in columns.items()
        if v["invalid"]
    ]
    if invalid:
        lines.append("values that do not parse, kept as missing: " + ", ".join(invalid))
    quality = report["quality"]
    if not quality.get("available"):
        lines.append(quality["note"])
        return lines
    o = quality["overall"]
    lines.append(
        f"against {quality['measured_against']}: precision {o['precision']:.4f}, "
        f"recall {o['recall']:.4f}, "
        f"F1 {o['f1']:.4f}, cluster purity {o['cluster_purity']:.4f}"
    )
    for group, values in quality["by_group"].items():
        if group == "ethnicity_x_sex":
            continue
        recalls = {k: v["recall"] for k, v in values.items() if v["recall"] is not None}
        if recalls:
            gap = max(recalls.values()) - min(recalls.values())
            lines.append(
                f"recall by {group}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in recalls.items())
                + f" (gap {gap:.4f})"
            )
    return lines
