"""`vru serve` for real: swap releases twice under load, drop nothing, audit everything."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from governance.board.audit_log import AuditLog
from governance.contracts.release_schema import set_current_release
from serving.keys import create_key
from tests.serving.release_factory import T0, make_board, release_key, write_release

ROOT = Path(__file__).resolve().parents[2]
# `vru serve` as the lead wires it: a Typer app with register(app, keys_app)
SERVE = """
import sys, typer
from vru.serving_commands import register
app, keys = typer.Typer(), typer.Typer()
app.add_typer(keys, name="keys")
register(app, keys)
app(sys.argv[1:])
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Hammer(threading.Thread):
    """GET /v1/areas/W1 over one keep-alive connection until stopped; record every answer."""

    def __init__(self, port: int, token: str) -> None:
        super().__init__(daemon=True)
        self.port, self.token = port, token
        self.seen: list[str] = []  # the release id of each 200
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self.stop.is_set():
            try:
                conn.request("GET", "/v1/areas/W1", headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as err:
                self.failures.append(f"{type(err).__name__}: {err}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                continue
            if response.status != 200:
                self.failures.append(f"{response.status}: {body[:200]!r}")
            else:
                self.seen.append(json.loads(body)["release_id"])
        conn.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, object]]:
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    write_release(releases, board, release_id="r1")
    (tmp_path / "governance.yaml").write_text(
        yaml.safe_dump(
            {
                "board_public_key_b64": board.public_key_b64,
                "audit_log": str(tmp_path / "audit.jsonl"),
            }
        )
    )
    config = tmp_path / "serving.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "releases_dir": str(releases),
                "keys_file": str(tmp_path / "keys.json"),
                "governance_config": str(tmp_path / "governance.yaml"),
                "reload_poll_seconds": 0.3,
                "audit_flush_seconds": 0.1,
                "rate_limit": {"requests_per_minute": 10_000_000, "burst": 100_000},
                "release_public_key_b64": release_key().public_key_b64,
            }
        )
    )
    _, planner = create_key(tmp_path / "keys.json", role="planner", name="load")
    _, admin = create_key(tmp_path / "keys.json", role="admin", name="ops")
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "-c", str(config), "--port", str(port), "-q"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "VRU_SERVING_CONFIG"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "vru serve did not become ready"
            time.sleep(0.1)
        yield {
            "proc": proc,
            "port": port,
            "planner": planner,
            "admin": admin,
            "board": board,
            "releases": releases,
            "audit": tmp_path / "audit.jsonl",
            "log": tmp_path / "server.log",
        }
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        log.close()


def _wait_for(hammers: list[Hammer], release: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(h.seen and h.seen[-1] == release for h in hammers):
            return
        time.sleep(0.02)
    raise AssertionError(f"clients did not switch to {release}: {[h.seen[-1:] for h in hammers]}")


def test_swapping_releases_under_load_drops_nothing(server: dict[str, object]) -> None:
    port, releases, board = server["port"], server["releases"], server["board"]
    assert isinstance(port, int) and isinstance(releases, Path)
    hammers = [Hammer(port, str(server["planner"])) for _ in range(3)]
    for hammer in hammers:
        hammer.start()
    _wait_for(hammers, "r1")
    time.sleep(0.3)

    # swap 1: a new release, then the admin asks for it
    write_release(
        releases,
        board,
        release_id="r2",
        created=T0 + timedelta(days=30),  # type: ignore[arg-type]
        as_of="2024-05-01",
        shift=0.004,
        previous="r1",
        make_current=False,
    )
    set_current_release(releases, "r2")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/admin/reload", headers={"Authorization": f"Bearer {server['admin']}"})
    response = conn.getresponse()
    assert json.loads(response.read()) == {
        "release_id": "r2",
        "previous_release_id": "r1",
        "changed": True,
    }
    conn.close()
    _wait_for(hammers, "r2")
    time.sleep(0.3)

    # swap 2: only CURRENT changes; the poll finds it
    write_release(
        releases,
        board,
        release_id="r3",
        created=T0 + timedelta(days=60),  # type: ignore[arg-type]
        as_of="2024-06-01",
        shift=0.008,
        previous="r2",
    )
    _wait_for(hammers, "r3")
    time.sleep(0.3)
    for hammer in hammers:
        hammer.stop.set()
    for hammer in hammers:
        hammer.join(30)

    assert [h.failures for h in hammers] == [[], [], []]
    for hammer in hammers:
        assert len(hammer.seen) > 30
        switches = [r for i, r in enumerate(hammer.seen) if i == 0 or hammer.seen[i - 1] != r]
        assert switches == ["r1", "r2", "r3"]  # never back to an older release

    proc = server["proc"]
    assert isinstance(proc, subprocess.Popen)
    proc.send_signal(signal.SIGTERM)  # a clean stop flushes the request audit
    # uvicorn shuts down, then re-raises the signal it caught
    assert proc.wait(30) in (0, -signal.SIGTERM), Path(str(server["log"])).read_text()
    log = AuditLog(Path(str(server["audit"])))
    assert log.verify().ok
    served = [
        e
        for e in log.entries()
        if e["event"] == "api.request" and e["details"]["route"] == "/v1/areas/{code}"
    ]
    assert len(served) == sum(len(h.seen) for h in hammers)
    assert {e["details"]["status"] for e in served} == {200}
