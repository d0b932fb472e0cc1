"""A London-shaped release built in code, for the browser tests and screenshots.

London's 33 boroughs with their real codes, names and police BCUs (the generator's table),
two generated wards per borough and two LSOAs per ward; in Camden one ward's two LSOAs are
suppressed (one primary, one complementary). Risks are deterministic, from the borough's
deprivation score and the LSOA's number, so two releases (``shift``) make a trend.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from governance.contracts.release_schema import factor_columns
from tests.serving.release_factory import (
    FACTORS,
    SUPPRESSION_REASON,
    blank_suppressed,
    rank_published,
    set_published_means,
)

ROOT = Path(__file__).resolve().parents[2]
BOROUGHS_CSV = ROOT / "training" / "generate" / "data" / "london_boroughs.csv"
SUPPRESSED_WARD = "X05000013"  # Camden's first ward
SUPPRESSED = {
    "X01000025": SUPPRESSION_REASON,
    "X01000026": SUPPRESSION_REASON,
}


def _tree() -> tuple[dict[str, dict[str, Any]], dict[str, int], dict[str, float]]:
    """Areas by code (level, name, parent), LSOA populations and LSOA risks."""
    areas: dict[str, dict[str, Any]] = {"city": {"level": "city", "name": "London", "parent": None}}
    population: dict[str, int] = {}
    risk: dict[str, float] = {}
    with BOROUGHS_CSV.open(newline="") as handle:
        boroughs = sorted(csv.DictReader(handle), key=lambda r: r["borough_code"])
    ward_no = lsoa_no = 0
    for b in boroughs:
        areas.setdefault(b["bcu_code"], {"level": "bcu", "name": b["bcu_name"], "parent": "city"})
        areas[b["borough_code"]] = {
            "level": "borough",
            "name": b["borough_name"],
            "parent": b["bcu_code"],
        }
        for w in range(2):
            ward_no += 1
            ward = f"X05{ward_no:06d}"
            areas[ward] = {
                "level": "ward",
                "name": f"{b['borough_name']} {'North' if w == 0 else 'South'}",
                "parent": b["borough_code"],
            }
            for i in range(2):
                lsoa_no += 1
                lsoa = f"X01{lsoa_no:06d}"
                areas[lsoa] = {
                    "level": "lsoa",
                    "name": f"{areas[ward]['name']} {i + 1:03d}",
                    "parent": ward,
                }
                population[lsoa] = 6 if lsoa == "X01000025" else 60 + (lsoa_no * 37) % 140
                wobble = ((lsoa_no * 53) % 17) / 17
                risk[lsoa] = 0.012 + 0.01 * (float(b["deprivation"]) + 1.2) + 0.008 * wobble
    return areas, population, risk


def london_rows(shift: float = 0.0) -> list[dict[str, Any]]:
    """Every area's published figures under the release contract (``shift``: another release)."""
    areas, population, risk = _tree()
    inside: dict[str, list[str]] = {code: [] for code in areas}
    for lsoa in population:
        node: str | None = lsoa
        while node is not None:
            inside[node].append(lsoa)
            node = areas[node]["parent"]
    rows: list[dict[str, Any]] = []
    for code, area in areas.items():
        members = inside[code]
        pop = sum(population[m] for m in members)
        expected = sum(population[m] * (risk[m] + shift) for m in members)
        mean = expected / pop
        n = int(code[3:]) if code.startswith("X0") else sum(map(ord, code))
        row: dict[str, Any] = {
            "level": area["level"],
            "code": code,
            "name": area["name"],
            "parent_code": area["parent"],
            "suppressed": code in SUPPRESSED,
            "suppression_reason": SUPPRESSED.get(code),
            "population": 5 * round(pop / 5),
            "expected": float(5 * math.floor(expected / 5 + 0.5)),
            "mean_risk": round(mean, 4),
            "risk_low": round(mean * 0.85, 4),
            "risk_high": round(mean * 1.15, 4),
            "rank": None,
            "decile": None,
            "change_mean_risk": round(shift, 4) if shift else None,
            "top_drivers": None,
        }
        set_published_means(row)
        contribs = {}
        for i, factor in enumerate(FACTORS):
            count_col, hidden_col, prev_col, contrib_col = factor_columns(factor)
            share = 0.04 + 0.03 * i + (n % 5) * 0.01
            row[count_col] = 5 * round(pop * share / 5)
            row[hidden_col] = False
            row[prev_col] = round(share, 3)
            contribs[factor] = round(0.03 * ((n + i) % 4) - 0.02, 4)
            row[contrib_col] = contribs[factor]
        ordered = sorted((f for f in FACTORS if contribs[f] > 0), key=lambda f: -contribs[f])
        row["top_drivers"] = ",".join(ordered)
        if code in SUPPRESSED:
            blank_suppressed(row)
        rows.append(row)
    rank_published(rows, key=lambda r: (-r["mean_risk"], r["code"]))
    return rows
