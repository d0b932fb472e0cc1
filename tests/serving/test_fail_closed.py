"""Attacks on the request audit and the API's answers (issue 15, findings 6, 7 and 8).

An audit log that cannot be written, a backlog past its bound, a flood of anonymous
requests, a page asked with someone else's Bearer key, error bodies that leak paths, and
missing headers: each test here failed on the code before the control was built.
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from governance.board.audit_log import AuditLog
from serving.app import create_app
from serving.audit import RequestAudit
from serving.config import AnonymousLimit
from serving.gate import RateLimiter
from tests.serving.conftest import World, make_world
from tests.serving.pages_helpers import sign_in

HTTPS = "https://testserver"


def _requests(path: Path) -> list[dict[str, object]]:
    return [e for e in AuditLog(path).entries() if e["event"].startswith("api.")]


def _wait(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_an_unwritable_audit_log_closes_the_data_routes_until_it_is_writable(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the log's directory should be\n")
    world = make_world(tmp_path / "w", audit_log=blocker / "requests.jsonl")
    with TestClient(create_app(world.config)) as client:
        audit: RequestAudit = client.app.state.audit  # type: ignore[attr-defined]
        client.get("/v1/areas/W1", headers=world.headers())  # its record cannot be written
        _wait(lambda: audit.closed)
        for path in ("/v1/areas/W1", "/v1/areas?level=ward", "/v1/releases"):
            refused = client.get(path, headers=world.headers())
            assert refused.status_code == 503, path
            assert refused.headers["content-type"] == "application/problem+json"
            assert "cannot be audited" in refused.json()["detail"]
            assert str(tmp_path) not in refused.text and "Error" not in refused.text
        page = client.get("/planner", follow_redirects=False)  # the pages are closed too
        assert page.status_code == 503 and "cannot be audited" in page.text
        assert page.headers["content-type"].startswith("text/html")
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200  # alive, just not serving data
        blocker.unlink()  # the operator repairs the log's directory
        blocker.mkdir()
        _wait(lambda: not audit.closed)
        assert client.get("/v1/areas/W1", headers=world.headers()).status_code == 200
        assert client.get("/readyz").status_code == 200
    entries = _requests(blocker / "requests.jsonl")
    refused_503 = [e for e in entries if e["details"]["status"] == 503]  # type: ignore[index]
    assert refused_503 and all(e["event"] == "api.refused" for e in refused_503)
    assert sum(e["details"]["count"] for e in refused_503) == 4  # type: ignore[index]


def test_a_backlog_past_its_bound_closes_the_data_routes(tmp_path: Path) -> None:
    world = make_world(tmp_path, audit_flush_seconds=60.0, audit_max_backlog=5)
    with TestClient(create_app(world.config)) as client:
        audit: RequestAudit = client.app.state.audit  # type: ignore[attr-defined]
        statuses = [
            client.get("/v1/areas/W1", headers=world.headers()).status_code for _ in range(8)
        ]
        assert statuses[:5] == [200] * 5
        assert statuses[5:] == [503] * 3
        assert audit.backlog <= 5
        assert audit.flush()
        assert not audit.closed
        assert client.get("/v1/areas/W1", headers=world.headers()).status_code == 200


def test_the_audit_queue_itself_is_bounded(tmp_path: Path) -> None:
    audit = RequestAudit(tmp_path / "a.jsonl", max_backlog=3)
    for i in range(3):
        assert not audit.closed
        audit.record("k", "planner", "GET", "/v1/areas/{code}", f"E{i}", 200, 0.1, time.time())
    assert audit.closed


def test_anonymous_refusals_are_rate_limited_and_logged_in_aggregate(tmp_path: Path) -> None:
    # one token a minute: no refill while the test runs, however loaded the machine
    limit = AnonymousLimit(requests_per_minute=1, burst=20, audit_window_seconds=60.0)
    world = make_world(tmp_path, anonymous=limit)
    with TestClient(create_app(world.config)) as client:
        statuses = [client.get("/v1/areas/W1").status_code for _ in range(100)]
        statuses += [
            client.get("/v1/areas", headers={"Authorization": "Bearer vru_0_guess"}).status_code
            for _ in range(100)
        ]
        assert statuses[:20] == [401] * 20
        assert set(statuses[20:]) == {429}
        too_many = client.get("/v1/areas/W1")
        assert "Retry-After" in too_many.headers
        assert "Too many requests without a valid key" in too_many.json()["detail"]
        # a valid key is not held back by the anonymous limit
        assert client.get("/v1/areas/W1", headers=world.headers()).status_code == 200
    entries = _requests(world.audit_log)
    assert len(entries) <= 5, [e["details"] for e in entries]
    refused = [e for e in entries if e["event"] == "api.refused"]
    counts = {e["details"]["status"]: 0 for e in refused}  # type: ignore[index]
    for e in refused:
        counts[e["details"]["status"]] += e["details"]["count"]  # type: ignore[index]
    assert counts == {401: 20, 429: 181}
    assert all(e["actor"] == "api:anonymous" for e in refused)
    assert "guess" not in world.audit_log.read_text()


def test_a_page_with_a_board_cookie_and_a_planner_bearer_is_audited_as_the_board(
    fresh: World,
) -> None:
    with TestClient(create_app(fresh.config), base_url=HTTPS) as client:
        assert sign_in(client, fresh.tokens["board"]).status_code == 303
        page = client.get("/board", headers=fresh.headers("planner"))
        assert page.status_code == 200
    board, planner = fresh.key_ids["board"], fresh.key_ids["planner"]
    pages = [e for e in _requests(fresh.audit_log) if e["details"]["route"] == "/board"]  # type: ignore[index]
    assert [e["details"]["key_id"] for e in pages] == [board]  # type: ignore[index]
    assert all(e["details"]["key_id"] != planner for e in pages)  # type: ignore[index]


def test_api_json_is_not_cached_or_sniffed(world: World, client: TestClient) -> None:
    for response in (
        client.get("/v1/areas/W1", headers=world.headers()),  # the gate's own answer
        client.get("/v1/areas?level=ward", headers=world.headers()),
        client.get("/v1/areas/NOPE", headers=world.headers()),
        client.get("/v1/areas/W1"),  # refused
        client.get("/readyz"),
    ):
        assert response.headers["cache-control"] == "no-store", response.url
        assert response.headers["x-content-type-options"] == "nosniff", response.url


def test_the_anonymous_limiter_forgets_idle_addresses_only() -> None:
    limiter = RateLimiter(60, 2, max_buckets=2)
    assert limiter.take("a", 0.0) == 0.0 and limiter.take("a", 0.0) == 0.0
    assert limiter.take("a", 0.0) > 0  # "a" is spent
    assert limiter.take("b", 0.0) == 0.0
    assert limiter.take("c", 100.0) == 0.0  # past the bound: the refilled buckets go
    assert len(limiter._buckets) <= 2
    limiter = RateLimiter(60, 2, max_buckets=1)
    limiter.take("a", 0.0), limiter.take("a", 0.0)
    limiter.take("b", 0.0)  # "a" is still spent: it is kept
    assert limiter.take("a", 0.0) > 0
