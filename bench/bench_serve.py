"""Benchmark the planners' API hot route against a bare Starlette endpoint, with wrk.

What is compared, in the same run, on loopback:

* ``vru``: the real app (``serving.app:create_app``, uvicorn ``--factory``) serving a
  London-sized release (4,835 LSOAs, 625 wards, 33 boroughs, 12 BCUs, the city; 11 factors,
  about 3% of LSOAs suppressed), ``GET /v1/areas/{code}`` with a planner key: API-key check,
  role, rate limit (set high enough never to refuse), metrics, and every request audited to
  the hash-chained audit log by the background writer;
* ``starlette``: a bare Starlette app with one route returning the same JSON bytes from
  memory (:func:`baseline_app`).

Both run under uvicorn with uvloop and httptools and no access log, as subprocesses, side by
side (an idle server costs nothing). For workers 1 and 2 and 16 and 64 connections, after a
short warm-up of each, wrk (``-t2``, ``--duration`` seconds, default 10) hits them in turn,
``--rounds`` times (default 2), alternating, so that whatever else the machine is doing
weighs on both. Reported per run: requests per second, latency percentiles from wrk's
``--latency``, non-2xx responses and socket errors; per (workers, connections): the ratio
vru / starlette of the mean requests per second (and per round) and the worst p99 of the
rounds; and, to show the audit was on, the audit-log entries written after the servers
stopped, against the requests sent, and whether the chain verifies. wrk shares the machine's
cores with the servers, so absolute figures depend on the machine; the targets are the ratio
(>= 0.70) and p99 <= 15 ms at 16 connections.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from _measure import Json, log, publish, report_head

from governance.board.audit_log import AuditLog
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
from governance.disclosure import SUPPRESSION_REASON, DisclosureConfig
from serving.keys import create_key

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BIN = Path(sys.executable).parent
FACTORS = (
    "looked_after",
    "child_protection",
    "child_in_need",
    "domestic_abuse",
    "parental_adversity",
    "permanent_exclusion",
    "persistent_absence",
    "missing_episodes",
    "assault_injury",
    "crime_victim",
    "offending",
)
SIZES = {"bcu": 12, "borough": 33, "ward": 625, "lsoa": 4835}
CODE = "E01000123"  # the LSOA every request asks for
RELEASE_ID = "bench-release"
TARGET_RATIO, TARGET_P99_MS = 0.70, 15.0


# -- the baseline: a bare Starlette endpoint with the same bytes ---------------------------


def baseline_app() -> Any:
    """A Starlette app answering ``GET /v1/areas/{code}`` with the bytes in ``BENCH_BODY``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    body = Path(os.environ["BENCH_BODY"]).read_bytes()

    async def area(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/v1/areas/{code}", area)])


# -- a London-sized release ---------------------------------------------------------------


def _rows() -> list[dict[str, Any]]:
    """Every area with published figures of the release contract; deterministic."""
    rows: list[dict[str, Any]] = []
    parents = {"lsoa": "ward", "ward": "borough", "borough": "bcu", "bcu": "city"}
    prefix = {"lsoa": "E01", "ward": "E05", "borough": "E09", "bcu": "BCU"}
    for level, n in SIZES.items():
        above = parents[level]
        for i in range(n):
            code = f"{prefix[level]}{i:06d}"
            parent = "city" if above == "city" else f"{prefix[above]}{i % SIZES[above]:06d}"
            suppressed = level == "lsoa" and i % 33 == 7
            risk = 0.01 + 0.05 * ((i * 7919) % 1000) / 1000
            pop = 150 + (i * 31) % 900 if level == "lsoa" else 150 * (SIZES["lsoa"] // n)
            # the raw mean and rate as a release makes them (the server checks): the
            # published expected over the published population
            ratio = float(5 * round(pop * risk / 5)) / (5 * round(pop / 5))
            row: dict[str, Any] = {
                "level": level,
                "code": code,
                "name": f"{level.upper()} {i}",
                "parent_code": parent,
                "suppressed": suppressed,
                "suppression_reason": SUPPRESSION_REASON.format(min_count=10)
                if suppressed
                else None,
                "population": None if suppressed else 5 * round(pop / 5),
                "expected": None if suppressed else float(5 * round(pop * risk / 5)),
                "rate_per_1000": None if suppressed else round(1000 * ratio, 1),
                "mean_risk": None if suppressed else round(risk, 4),
                "mean_risk_raw": None if suppressed else round(ratio, 4),
                "risk_low": None if suppressed else round(risk * 0.82, 4),
                "risk_high": None if suppressed else round(risk * 1.18, 4),
                "rank": None,
                "decile": None,
                "band": None,
                "change_mean_risk": None if suppressed else round(0.001 * (i % 7 - 3), 4),
                "top_drivers": None
                if suppressed
                else "domestic_abuse,persistent_absence,offending",
            }
            for j, factor in enumerate(FACTORS):
                count, hidden, prevalence, contrib = factor_columns(factor)
                share = 0.07 + 0.01 * ((i + j) % 9)  # published counts of 10 or more
                row[count] = None if suppressed else 5 * round(pop * share / 5)
                row[hidden] = suppressed
                row[prevalence] = None if suppressed else round(share, 3)
                row[contrib] = None if suppressed else round(0.03 - 0.004 * j, 4)
            rows.append(row)
    city = dict(rows[-1], level="city", code="city", name="London", parent_code=None)
    rows.append(city)
    for level in (*SIZES, "city"):
        published = sorted(
            (r for r in rows if r["level"] == level and not r["suppressed"]),
            key=lambda r: -r["mean_risk"],
        )
        median = statistics.median(r["mean_risk"] for r in published)
        for rank, r in enumerate(published, start=1):
            r["rank"], r["decile"] = rank, max(1, -(-10 * rank // len(published)))
            low, high = r["risk_low"] > median, r["risk_high"] < median
            r["band"] = "higher" if low else "lower" if high else "similar"
    return rows


def write_release(releases: Path, board_dir: Path) -> tuple[str, str]:
    """Write the release with a real signed approval and a signed manifest; the public keys.

    Returns the board's public key and the release key's (as ``vru release`` signs).
    """
    public_b64 = generate_keypair(board_dir / "board.pem", board_dir / "board.pub")
    decision = Decision(
        model="vru-risk",
        version="1",
        report_sha256="b" * 64,
        decision="approve",
        reviewer="board",
        reasons="benchmark release of generated figures",
        decided_at="2024-06-01T09:00:00+00:00",
        model_artifacts={"MLmodel": "c" * 64},
        model_artifacts_sha256=artifacts_digest({"MLmodel": "c" * 64}),
        member="board",
        valid_until="2999-01-01",
    )
    signature = sign_decision(decision, load_private_key(board_dir / "board.pem"))
    rows = _rows()
    directory = releases / RELEASE_ID
    directory.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), directory / "areas.parquet")
    manifest = ReleaseManifest(
        release_id=RELEASE_ID,
        created="2024-06-02T09:00:00+00:00",
        environment="demo",
        model_name="vru-risk",
        model_version="1",
        report_sha256="b" * 64,
        approval=(
            ApprovalRecord(decision={**asdict(decision), "waived_gates": []}, signature=signature),
        ),
        as_of_date="2024-04-01",
        factors=list(FACTORS),
        rows=len(rows),
        files=release_file_hashes(directory),
        disclosure=DisclosureConfig().model_dump(mode="json"),
    )
    release_b64 = generate_keypair(board_dir / "release.pem", board_dir / "release.pub")
    manifest = sign_manifest(manifest, load_private_key(board_dir / "release.pem"))
    assert set(AREA_COLUMNS) <= set(rows[0])
    (directory / "manifest.json").write_text(json.dumps(manifest.model_dump(mode="json")))
    set_current_release(releases, RELEASE_ID)
    return public_b64, release_b64


# -- servers and wrk ----------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(target: str, workers: int, env: dict[str, str], probe: str) -> Iterator[str]:
    """Run uvicorn (uvloop, httptools, no access log) on a free port; yield its base URL."""
    port = free_port()
    cmd = [
        str(BIN / "uvicorn"),
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--app-dir",
        str(BENCH_DIR),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + probe, timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{target} did not start (exit {proc.poll()})")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # uvicorn shuts down; the audit writer flushes
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r} not understood")
    return float(match[1]) * _UNITS[match[2]]


def wrk(url: str, connections: int, seconds: int, token: str | None) -> Json:
    """Run wrk; parse requests per second, latency percentiles and errors."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result: Json = {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        "requests": int(re.search(r"(\d+) requests in", out)[1]),  # type: ignore[index]
    }
    for pct in ("50", "75", "90", "99"):
        result[f"p{pct}_ms"] = round(_ms(re.search(rf"\s{pct}%\s+(\S+)", out)[1]), 3)  # type: ignore[index]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(non2xx[1]) if non2xx else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(g) for g in errors.groups()) if errors else 0
    return result


# -- the benchmark's steps -----------------------------------------------------------------

#: a server under test: its base URL and the planner token to send (None: no key)
Target = tuple[str, str | None]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: wrk's duration and warm-up, workers, rounds, connections, output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of warm-up per server.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2, help="Alternating runs of each server.")
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    return parser.parse_args(argv)


def _configure(work: Path) -> tuple[Path, str, dict[str, str]]:
    """Write the release, the governance and serving configs and a planner key under ``work``.

    The rate limit is set high enough never to refuse a request. Returns the audit log's
    path, the planner's token and the environment the servers run with.
    """
    log("writing a London-sized release with a signed approval")
    public_b64, release_b64 = write_release(work / "releases", work / "board")
    audit_path = work / "audit" / "audit-log.jsonl"
    (work / "governance.yaml").write_text(
        json.dumps({"board_public_key_b64": public_b64, "audit_log": str(audit_path)})
    )
    (work / "serving.yaml").write_text(
        json.dumps(
            {
                "releases_dir": str(work / "releases"),
                "keys_file": str(work / "keys.json"),
                "governance_config": str(work / "governance.yaml"),
                "rate_limit": {"requests_per_minute": 1_000_000_000, "burst": 1_000_000},
                "reload_poll_seconds": 30,
                "release_public_key_b64": release_b64,
            }
        )
    )
    _, token = create_key(work / "keys.json", role="planner", name="bench")
    env = {"VRU_SERVING_CONFIG": str(work / "serving.yaml"), "BENCH_BODY": ""}
    return audit_path, token, env


def _save_body(base: str, token: str, body_path: Path) -> None:
    """Ask the real app for the area once and keep its bytes, for the baseline to serve."""
    request = urllib.request.Request(
        f"{base}/v1/areas/{CODE}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request) as response:
        body_path.write_bytes(response.read())


def _hit(
    targets: dict[str, Target], workers: int, connections: int, args: argparse.Namespace
) -> tuple[list[Json], int]:
    """Warm both servers up, then run wrk on each in turn, ``--rounds`` times.

    Alternating means a busy neighbour on the machine weighs on both. Returns one entry per
    timed run and the number of requests sent to vru (warm-up included), for the audit check.
    """
    sent = 0
    for name, (base, key) in targets.items():
        warm = wrk(f"{base}/v1/areas/{CODE}", connections, args.warmup, key)
        sent += warm["requests"] if name == "vru" else 0
    runs: list[Json] = []
    for round_ in range(1, args.rounds + 1):
        for name, (base, key) in targets.items():
            log(f"{name}: workers {workers}, {connections} connections, round {round_}")
            result = wrk(f"{base}/v1/areas/{CODE}", connections, args.duration, key)
            sent += result["requests"] if name == "vru" else 0
            log(
                f"  {result['requests_per_s']:,.0f} req/s, p99 "
                f"{result['p99_ms']} ms, non-2xx {result['non_2xx']}"
            )
            runs.append(
                {
                    "server": name,
                    "workers": workers,
                    "connections": connections,
                    "round": round_,
                    **result,
                }
            )
    return runs, sent


def _measure_workers(
    workers: int, args: argparse.Namespace, env: dict[str, str], token: str, body_path: Path
) -> tuple[list[Json], int]:
    """Start both servers with ``workers`` workers and hit them at every connection count.

    Returns every timed run and the number of requests sent to vru, the body fetch included.
    """
    runs: list[Json] = []
    sent = 0
    with contextlib.ExitStack() as servers:
        vru = servers.enter_context(server("serving.app:create_app", workers, env, "/readyz"))
        _save_body(vru, token, body_path)
        sent += 1
        bare = servers.enter_context(
            server(
                "bench_serve:baseline_app",
                workers,
                {**env, "BENCH_BODY": str(body_path)},
                f"/v1/areas/{CODE}",
            )
        )
        targets: dict[str, Target] = {"starlette": (bare, None), "vru": (vru, token)}
        for connections in args.connections:
            found, hits = _hit(targets, workers, connections, args)
            runs += found
            sent += hits
    return runs, sent


def _ratio(runs: list[Json], workers: int, connections: int, rounds: int) -> Json:
    """The vru / starlette figures at one (workers, connections): req/s ratios, worst p99s."""
    mine = [r for r in runs if (r["workers"], r["connections"]) == (workers, connections)]
    by_round = {
        round_: {r["server"]: r for r in mine if r["round"] == round_}
        for round_ in range(1, rounds + 1)
    }
    per_round = [
        round(p["vru"]["requests_per_s"] / p["starlette"]["requests_per_s"], 3)
        for p in by_round.values()
    ]
    vru_rps = statistics.mean(r["requests_per_s"] for r in mine if r["server"] == "vru")
    bare_rps = statistics.mean(r["requests_per_s"] for r in mine if r["server"] == "starlette")
    return {
        "workers": workers,
        "connections": connections,
        "ratio": round(vru_rps / bare_rps, 3),
        "ratio_per_round": per_round,
        "vru_requests_per_s": round(vru_rps),
        "starlette_requests_per_s": round(bare_rps),
        "vru_p99_ms": max(r["p99_ms"] for r in mine if r["server"] == "vru"),
        "starlette_p99_ms": max(r["p99_ms"] for r in mine if r["server"] == "starlette"),
    }


def _audit_check(audit_path: Path, requests_sent: int) -> Json:
    """Whether the audit was on: entries written against requests sent, and the chain's check."""
    verified = AuditLog(audit_path).verify()
    return {
        "entries": verified.entries,
        "requests_sent": requests_sent,
        "chain_ok": verified.ok,
        "every_request_audited": verified.entries >= requests_sent,
    }


def _targets(ratios: list[Json]) -> Json:
    """The targets, and whether every ratio and every p99 at 16 connections met them."""
    return {
        "ratio_at_least": TARGET_RATIO,
        "p99_ms_at_16_connections_at_most": TARGET_P99_MS,
        "ratio_met": all(r["ratio"] >= TARGET_RATIO for r in ratios),
        "p99_met": all(r["vru_p99_ms"] <= TARGET_P99_MS for r in ratios if r["connections"] == 16),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON report and write it under ``--out``."""
    args = _parse_args(argv)
    if shutil.which("wrk") is None:
        log("wrk is not installed")
        return 2

    work = Path(tempfile.mkdtemp(prefix="vru-bench-serve-"))
    try:
        audit_path, token, env = _configure(work)
        runs: list[Json] = []
        requests_to_vru = 0
        body_path = work / "body.json"
        for workers in args.workers:
            found, sent = _measure_workers(workers, args, env, token, body_path)
            runs += found
            requests_to_vru += sent

        ratios = [
            _ratio(runs, workers, connections, args.rounds)
            for workers in args.workers
            for connections in args.connections
        ]
        audit = _audit_check(audit_path, requests_to_vru)
        report: Json = report_head("serve")
        report["machine"]["load_average_at_end"] = list(os.getloadavg())
        report.update(
            {
                "route": "GET /v1/areas/{code}",
                "release_areas": sum(SIZES.values()) + 1,
                "response_bytes": body_path.stat().st_size,
                "duration_s": args.duration,
                "rounds": args.rounds,
                "runs": runs,
                "ratios": ratios,
                "audit": audit,
                "targets": _targets(ratios),
            }
        )
        publish(args.out, "serve", report)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
