"""A small valid release built in code: a real board key pair, a real signed approval.

Each release is also signed as ``vru release`` signs it: the SHA-256 of its files and the
disclosure rules in its manifest, signed with a release key (one per test process,
:func:`release_key`, unless a test passes its own); :func:`serving_config` trusts that key.
:func:`london_sized_rows` is a city of London's size (4,835 LSOAs) for timing a load.

The city: 2 BCUs, 3 boroughs, 6 wards, 14 LSOAs. Two LSOAs are suppressed (one primary, one
complementary sibling), so are a ward's two LSOAs and that ward's figures stay published.
Figures follow the release contract (``governance.contracts.release_schema``): every published figure
is rounded, suppressed rows keep only their identity.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from governance.contracts.release_schema import (
    AREA_COLUMNS,
    ApprovalRecord,
    ReleaseManifest,
    factor_columns,
    release_file_hashes,
    set_current_release,
    sign_manifest,
)
from governance.contracts.signing import (
    Decision,
    artifacts_digest,
    generate_keypair,
    load_private_key,
    sign_decision,
)
from governance.disclosure import SUPPRESSION_REASON as _SUPPRESSION_REASON
from governance.disclosure import DisclosureConfig
from serving.config import RateLimit, ServingConfig
from tests.serving.programme_factory import write_programme

#: the one reason every suppressed area gives (as disclosure control writes it)
SUPPRESSION_REASON = _SUPPRESSION_REASON.format(min_count=10)

FACTORS = ("domestic_abuse", "persistent_absence", "child_in_need")
REPORT = "a" * 64
#: the model file the approval names (a release's approval must bind the model)
MODEL_FILES = {"MLmodel": "c" * 64}
T0 = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)

# (code, name, parent) per level; LSOAs carry their population
BCUS = [("BCU-N", "North", "city"), ("BCU-S", "South", "city")]
BOROUGHS = [("B1", "Ashby", "BCU-N"), ("B2", "Brent Cross", "BCU-N"), ("B3", "Camden", "BCU-S")]
WARDS = [
    ("W1", "Abbey", "B1"),
    ("W2", "Alder", "B1"),
    ("W3", "Birch", "B2"),
    ("W4", "Cedar", "B2"),
    ("W5", "Dale", "B3"),
    ("W6", "Elm", "B3"),
]
LSOAS = [
    ("L01", "Abbey 001", "W1", 120),
    ("L02", "Abbey 002", "W1", 85),
    ("L03", "Alder 001", "W2", 140),
    ("L04", "Alder 002", "W2", 6),  # primary suppression
    ("L05", "Alder 003", "W2", 40),  # complementary suppression
    ("L06", "Birch 001", "W3", 200),
    ("L07", "Birch 002", "W3", 95),
    ("L08", "Cedar 001", "W4", 60),
    ("L09", "Cedar 002", "W4", 75),
    ("L10", "Dale 001", "W5", 110),
    ("L11", "Dale 002", "W5", 130),
    ("L12", "Elm 001", "W6", 50),
    ("L13", "Elm 002", "W6", 70),
    ("L14", "Elm 003", "W6", 90),
]
SUPPRESSED = {
    "L04": SUPPRESSION_REASON,
    "L05": SUPPRESSION_REASON,
}
PUBLISHED_LSOAS = [c for c, *_ in LSOAS if c not in SUPPRESSED]


@dataclass(frozen=True)
class Board:
    """A board key pair in a temporary directory."""

    private_key_path: Path
    public_key_b64: str

    def sign(self, decision: Decision) -> str:
        return sign_decision(decision, load_private_key(self.private_key_path))


@dataclass(frozen=True)
class ReleaseKey:
    """An operator's release key pair (as `vru keys release-init` makes)."""

    private_key_path: Path
    public_key_b64: str


def make_release_key(directory: Path) -> ReleaseKey:
    directory.mkdir(parents=True, exist_ok=True)
    public = generate_keypair(directory / "release.pem", directory / "release.pub")
    return ReleaseKey(directory / "release.pem", public)


@functools.cache
def release_key() -> ReleaseKey:
    """The release key of this test process (made once, in a temporary directory)."""
    return make_release_key(Path(tempfile.mkdtemp(prefix="vru-release-key-")))


def withhold_small_counts(rows: list[dict[str, Any]], min_count: int = 10) -> None:
    """Withhold factor counts below ``min_count`` in place, as disclosure control would."""
    for row in rows:
        for factor in FACTORS:
            count_col, hidden_col, prev_col, contrib_col = factor_columns(factor)
            count = row.get(count_col)
            if count is not None and count < min_count:
                row.update({count_col: None, hidden_col: True, prev_col: None})
            if row.get(hidden_col):  # the contribution is withheld with its count
                row[contrib_col] = None


def make_board(directory: Path) -> Board:
    directory.mkdir(parents=True, exist_ok=True)
    public = generate_keypair(directory / "board.pem", directory / "board.pub")
    return Board(directory / "board.pem", public)


def _risk(code: str, shift: float) -> float:
    """A deterministic risk per LSOA between about 0.01 and 0.06."""
    n = int(code[1:])
    return round(0.01 + 0.05 * ((n * 37) % 14) / 13 + shift, 4)


def area_rows(shift: float = 0.0) -> list[dict[str, Any]]:
    """Every area with its published figures (the contract's columns)."""
    lsoa_pop = {c: p for c, _, _, p in LSOAS}
    lsoa_risk = {c: _risk(c, shift) for c, *_ in LSOAS}
    parent = {c: p for c, _, p, _ in LSOAS}
    parent.update({c: p for c, _, p in WARDS + BOROUGHS + BCUS})
    names = {c: n for c, n, *_ in LSOAS + WARDS + BOROUGHS + BCUS}
    names["city"] = "Testville"
    levels = {c: "lsoa" for c, *_ in LSOAS}
    levels.update({c: "ward" for c, *_ in WARDS})
    levels.update({c: "borough" for c, *_ in BOROUGHS})
    levels.update({c: "bcu" for c, *_ in BCUS})
    levels["city"] = "city"

    def members(code: str) -> list[str]:
        """The LSOAs within an area."""
        out = []
        for lsoa in lsoa_pop:
            node: str | None = lsoa
            while node is not None:
                if node == code:
                    out.append(lsoa)
                    break
                node = parent.get(node)
        return out

    rows: list[dict[str, Any]] = []
    for code in [*lsoa_pop, *(c for c, *_ in WARDS + BOROUGHS + BCUS), "city"]:
        inside = members(code)
        pop = sum(lsoa_pop[m] for m in inside)
        expected = sum(lsoa_pop[m] * lsoa_risk[m] for m in inside)
        risk = expected / pop
        row: dict[str, Any] = {
            "level": levels[code],
            "code": code,
            "name": names[code],
            "parent_code": parent.get(code),
            "suppressed": code in SUPPRESSED,
            "suppression_reason": SUPPRESSED.get(code),
            "population": 5 * round(pop / 5),
            "expected": float(5 * math.floor(expected / 5 + 0.5)),
            "mean_risk": round(risk, 4),
            "risk_low": round(risk * 0.8, 4),
            "risk_high": round(risk * 1.2, 4),
            "rank": None,
            "decile": None,
            "change_mean_risk": None,
            "top_drivers": None,
        }
        set_published_means(row)
        contribs = {}
        for i, factor in enumerate(FACTORS):
            count_col, hidden_col, prev_col, contrib_col = factor_columns(factor)
            share = 0.05 + 0.04 * i + (int(code[-1]) % 3) * 0.01 if code[-1].isdigit() else 0.08
            hide = factor == "child_in_need" and code == "L01"  # one factor hidden alone
            row[count_col] = None if hide else 5 * round(pop * share / 5)
            row[hidden_col] = hide
            row[prev_col] = None if hide else round(share, 3)
            contribs[factor] = round(0.02 * (3 - i) * (1 + shift) - (0.05 if i == 2 else 0), 4)
            row[contrib_col] = contribs[factor]
        positive = sorted((f for f in FACTORS if contribs[f] > 0), key=lambda f: -contribs[f])
        row["top_drivers"] = ",".join(positive)
        if code in SUPPRESSED:
            blank_suppressed(row)
        rows.append(row)
    rank_published(rows, key=lambda r: -r["mean_risk"])
    withhold_small_counts(rows)
    return rows


def london_sized_rows(lsoas: int = 4835) -> list[dict[str, Any]]:
    """A city of London's size: ``lsoas`` LSOAs, 5 per ward, 20 wards per borough, 17 per BCU."""
    rows: list[dict[str, Any]] = []
    wards, boroughs = -(-lsoas // 5), -(-lsoas // 100)
    tiers = (("lsoa", lsoas, "W", 5), ("ward", wards, "B", 20), ("borough", boroughs, "P", 17))
    prefix = {"lsoa": "L", "ward": "W", "borough": "B"}
    for level, n, up, per in tiers:
        for i in range(n):
            pop = 150 + (i * 31) % 900
            rows.append(_sized_row(level, f"{prefix[level]}{i:05d}", f"{up}{i // per:05d}", pop))
    for i in range(-(-boroughs // 17)):
        rows.append(_sized_row("bcu", f"P{i:05d}", "city", 50_000))
    rows.append(_sized_row("city", "city", None, 100_000))
    rank_published(rows, key=lambda r: (-r["mean_risk"], r["code"]))
    return rows


def _sized_row(level: str, code: str, parent: str | None, pop: int) -> dict[str, Any]:
    """One published area of :func:`london_sized_rows`; counts at least 10."""
    n = sum(map(ord, code))
    risk = 0.01 + 0.05 * (n % 100) / 100
    row: dict[str, Any] = {
        "level": level,
        "code": code,
        "name": f"{level} {code}",
        "parent_code": parent,
        "suppressed": False,
        "suppression_reason": None,
        "population": 5 * round(pop / 5),
        "expected": float(5 * math.floor(pop * risk / 5 + 0.5)),
        "mean_risk": round(risk, 3),
        "risk_low": round(risk * 0.8, 3),
        "risk_high": round(risk * 1.2, 3),
        "rank": None,
        "decile": None,
        "change_mean_risk": None,
        "top_drivers": ",".join(FACTORS),
    }
    set_published_means(row)
    for i, factor in enumerate(FACTORS):
        count_col, hidden_col, prev_col, contrib_col = factor_columns(factor)
        share = 0.1 + 0.02 * i
        row[count_col] = 5 * round(pop * share / 5)
        row[hidden_col] = False
        row[prev_col] = round(row[count_col] / row["population"], 3)
        row[contrib_col] = round(0.03 - 0.01 * i, 2)
    return row


def set_published_means(row: dict[str, Any]) -> None:
    """``mean_risk_raw`` and ``rate_per_1000`` as a release makes them: from the published
    expected over the published population (the server refuses anything else)."""
    ratio = row["expected"] / row["population"]
    row["mean_risk_raw"] = round(ratio, 4)
    row["rate_per_1000"] = round(1000 * ratio, 1)


def blank_suppressed(row: dict[str, Any]) -> None:
    """A suppressed area's row as a release publishes it: its flags kept, every figure null."""
    for column in AREA_COLUMNS[6:]:
        row[column] = None
    for factor in FACTORS:
        count_col, hidden_col, prev_col, contrib_col = factor_columns(factor)
        row.update({count_col: None, hidden_col: True, prev_col: None, contrib_col: None})


def rank_published(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> None:
    """Rank (1 first by `key`), decile and band of each level's published areas, in place.

    The band is the interval against the median of the level's published mean risks:
    ``higher`` wholly above it, ``lower`` wholly below, ``similar`` otherwise.
    """
    for level in ("lsoa", "ward", "borough", "bcu", "city"):
        published = sorted(
            (r for r in rows if r["level"] == level and not r["suppressed"]), key=key
        )
        if not published:
            continue
        median = round(statistics.median(r["mean_risk"] for r in published), 12)
        for i, r in enumerate(published, start=1):
            r["rank"] = i
            r["decile"] = max(1, min(10, math.ceil(10 * i / len(published))))
            r["band"] = (
                "higher"
                if r["risk_low"] > median
                else "lower"
                if r["risk_high"] < median
                else "similar"
            )


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    types: dict[str, pa.DataType] = {
        "level": pa.string(),
        "code": pa.string(),
        "name": pa.string(),
        "parent_code": pa.string(),
        "suppressed": pa.bool_(),
        "suppression_reason": pa.string(),
        "population": pa.int64(),
        "rank": pa.int64(),
        "decile": pa.int64(),
        "band": pa.string(),
        "top_drivers": pa.string(),
    }
    columns = [*AREA_COLUMNS, *(c for f in FACTORS for c in factor_columns(f))]
    fields = []
    for column in columns:
        if column in types:
            kind = types[column]
        elif column.endswith("_suppressed"):
            kind = pa.bool_()
        elif column.startswith("count_"):
            kind = pa.int64()
        else:
            kind = pa.float64()
        fields.append(pa.field(column, kind))
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def write_release(
    releases_dir: Path,
    board: Board,
    *,
    release_id: str,
    created: datetime = T0,
    as_of: str = "2024-04-01",
    shift: float = 0.0,
    model_version: str = "3",
    previous: str | None = None,
    make_current: bool = True,
    rows: list[dict[str, Any]] | None = None,
    signed_version: str | None = None,
    disclosure: DisclosureConfig | None = None,
    signer: ReleaseKey | None = None,
    valid_until: str | None = None,
) -> ReleaseManifest:
    """Write ``<releases_dir>/<release_id>/`` with a signed approval; point CURRENT at it.

    The approval is the board's one member's (``board``, as a config with only
    ``board_public_key_b64`` means), naming a model file, with a review date ``valid_until``
    (default: a year from today, so the server's clock finds it current).

    The manifest lists the files' SHA-256 and ``disclosure`` (default: the threshold rules,
    which the made-up rows follow: counts in multiples of 5) and is
    signed with ``signer`` (default: :func:`release_key`).
    """
    directory = releases_dir / release_id
    directory.mkdir(parents=True)
    if rows is not None:
        rows = [dict(r) for r in rows]
        withhold_small_counts(rows)
    table = _table(rows if rows is not None else area_rows(shift))
    pq.write_table(table, directory / "areas.parquet")
    decision = Decision(
        model="vru-risk",
        version=signed_version or model_version,
        report_sha256=REPORT,
        decision="approve",
        reviewer="board",
        reasons="Fair across groups; calibrated.",
        decided_at=(created - timedelta(days=1)).isoformat(),
        model_artifacts=MODEL_FILES,
        model_artifacts_sha256=artifacts_digest(MODEL_FILES),
        member="board",
        valid_until=valid_until or (datetime.now(UTC) + timedelta(days=365)).date().isoformat(),
    )
    manifest = ReleaseManifest(
        release_id=release_id,
        created=created.isoformat(timespec="seconds"),
        model_name="vru-risk",
        model_version=model_version,
        report_sha256=REPORT,
        approval=(
            ApprovalRecord(
                decision={**asdict(decision), "waived_gates": []}, signature=board.sign(decision)
            ),
        ),
        as_of_date=as_of,
        previous_release_id=previous,
        factors=list(FACTORS),
        suppression={"areas_suppressed_primary": 1, "areas_suppressed_complementary": 1},
        methods={"interval": "normal approximation"},
        model_card_summary={"model": "vru-risk", "version": model_version, "test_roc_auc": 0.78},
        rows=table.num_rows,
        files=release_file_hashes(directory),
        disclosure=(disclosure or DisclosureConfig(method="threshold")).model_dump(mode="json"),
    )
    manifest = sign_manifest(manifest, load_private_key((signer or release_key()).private_key_path))
    (directory / "manifest.json").write_text(
        json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True)
    )
    if make_current:
        set_current_release(releases_dir, release_id)
    return manifest


def resign(directory: Path, signer: ReleaseKey | None = None, **changes: Any) -> None:
    """Give a release's manifest ``changes`` and its files' current hashes, and sign it again.

    What an operator holding the release key could do: the server must still refuse what
    the key signs if it breaks a rule that is not the key's to waive (the disclosure floor).
    """
    path = directory / "manifest.json"
    manifest = ReleaseManifest.model_validate_json(path.read_text())
    manifest = manifest.model_copy(update={"files": release_file_hashes(directory), **changes})
    manifest = sign_manifest(manifest, load_private_key((signer or release_key()).private_key_path))
    path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True))


def serving_config(root: Path, board: Board, **overrides: Any) -> ServingConfig:
    """A governance YAML with the board key and a serving config, all under ``root``."""
    governance = root / "governance.yaml"
    governance.write_text(
        yaml.safe_dump(
            {
                "board_public_key_b64": board.public_key_b64,
                "audit_log": str(root / "audit" / "audit-log.jsonl"),
            }
        )
    )
    settings: dict[str, Any] = {
        "releases_dir": root / "releases",
        "keys_file": root / "keys" / "keys.json",
        "governance_config": governance,
        "reload_poll_seconds": 0,
        "keys_check_seconds": 0,
        "audit_flush_seconds": 0.05,
        "rate_limit": RateLimit(requests_per_minute=100_000, burst=10_000),
        "release_public_key_b64": release_key().public_key_b64,
        "programmes_dir": root / "programmes",
    }
    settings.update(overrides)
    if not (root / "programmes").exists():  # one signed programme evaluation, as the demo's
        write_programme(root / "programmes", release_key().private_key_path)
    return ServingConfig(**settings)
