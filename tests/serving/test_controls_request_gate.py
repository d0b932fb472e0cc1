"""Attacks on the request gate and the request audit: each test names the change it catches.

Issue 15 found that ``/readyz`` could stop looking at the request audit and no test would
notice; the tests here fail on that change and on the others ``make mutation`` makes to
serving/gate.py and serving/audit.py (mutation/modules.toml).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from governance.board.audit_log import AuditLog
from serving import audit as audit_module
from serving import gate as gate_module
from serving.access import Access
from serving.app import create_app
from serving.audit import RequestAudit
from serving.config import AnonymousLimit
from serving.gate import RateLimiter
from tests.serving.conftest import make_world

NOT_READY = (
    "Requests cannot be audited right now, so none is served; the operator has the details "
    "in the server log."
)


def test_readyz_ignoring_a_failing_audit_is_caught(tmp_path: Path) -> None:
    """The attack: ``/readyz`` answers ready while the audit is closed (a full backlog here)."""
    world = make_world(tmp_path, audit_flush_seconds=60.0, audit_max_backlog=2)
    with TestClient(create_app(world.config)) as client:
        audit: RequestAudit = client.app.state.audit  # type: ignore[attr-defined]
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        for _ in range(2):
            client.get("/v1/areas/W1", headers=world.headers())
        assert audit.closed and not audit.healthy
        refused = client.get("/readyz")
        assert refused.status_code == 503
        assert refused.json()["detail"] == NOT_READY
        assert str(tmp_path) not in refused.text
        assert audit.flush()  # written: open again
        assert audit.healthy and client.get("/readyz").status_code == 200


def test_a_key_of_another_role_is_refused_naming_the_path_and_the_roles(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    with TestClient(create_app(world.config)) as client:
        refused = client.get("/metrics", headers=world.headers("planner"))
    assert refused.status_code == 403
    assert (
        refused.json()["detail"] == "/metrics needs the admin role; this key has the planner role."
    )
    several = Access(kind="key", roles=("board", "admin"))
    assert gate_module._not_allowed("/v1/x", several, "planner") == (
        "/v1/x needs the board or admin role; this key has the planner role."
    )


def test_anonymous_requests_are_limited_per_client_address(tmp_path: Path) -> None:
    """One address past its limit does not shut out another (nor share its bucket by port)."""
    limit = AnonymousLimit(requests_per_minute=1, burst=2, audit_window_seconds=60.0)
    world = make_world(tmp_path, anonymous=limit)
    app = create_app(world.config)
    with (
        TestClient(app, client=("192.0.2.1", 50000)) as first,
        TestClient(app, client=("192.0.2.2", 50000)) as second,
        TestClient(app, client=("192.0.2.1", 50001)) as first_again,
    ):
        assert [first.get("/v1/areas/W1").status_code for _ in range(3)] == [401, 401, 429]
        assert [second.get("/v1/areas/W1").status_code for _ in range(2)] == [401, 401]
        assert first_again.get("/v1/areas/W1").status_code == 429  # same address, other port


def test_a_limiter_forgets_exactly_the_buckets_that_are_full_again() -> None:
    """Pruning drops a bucket once refilled to its burst (at the boundary too), never sooner."""
    limiter = RateLimiter(120, 2, max_buckets=1)  # 2 tokens a second
    start = 1000.0
    assert limiter.take("a", start) == 0.0  # one token left, full again at start + 0.5
    limiter.take("b", start + 0.25)  # past the bound: "a" holds 1.5 tokens, kept
    assert set(limiter._buckets) == {"a", "b"}
    limiter.take("c", start + 0.75)  # "a" refilled (2.5 -> 2), "b" exactly full: both go
    assert set(limiter._buckets) == {"c"}


def test_user_text_is_cut_and_made_valid_utf8_for_the_audit() -> None:
    assert gate_module._safe("x" * 500) == "x" * 200
    assert gate_module._safe("Zoë") == "Zoë"
    assert gate_module._safe("a\ud800b") == "a?b"  # a lone surrogate cannot be written as UTF-8


def test_a_request_record_becomes_an_entry_naming_key_route_and_status() -> None:
    at = 1_714_555_800.0  # 2024-05-01T09:30:00Z
    event, details, actor, when = audit_module._entry(
        (at, "k1", "planner", "GET", "/v1/areas/{code}", "E01", 200, 1.23456)
    )
    assert (event, actor, when) == (
        "api.request",
        "api:k1",
        datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    )
    assert details == {
        "key_id": "k1",
        "role": "planner",
        "method": "GET",
        "route": "/v1/areas/{code}",
        "params": {"code": "E01"},
        "status": 200,
        "ms": 1.23,
    }
    _, anonymous, who, _ = audit_module._entry(
        (at, None, None, "GET", "/v1/areas", {"level": "ward"}, 401, 0.5)
    )
    assert who == "api:anonymous" and anonymous["params"] == {"level": "ward"}


def test_a_tally_record_becomes_an_aggregate_refusal_entry() -> None:
    at = 1_714_555_800.0
    params = {"count": 181, "window_seconds": 60.0}
    event, details, actor, when = audit_module._entry(
        (at, None, None, "*", "/v1/areas/{code}", params, 429, 0.0)
    )
    assert (event, actor) == ("api.refused", "api:anonymous")
    assert details == {
        "route": "/v1/areas/{code}",
        "status": 429,
        "count": 181,
        "window_seconds": 60.0,
    }
    assert when == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def test_a_closed_audit_answers_503_counted_under_the_route(tmp_path: Path) -> None:
    """While closed: a problem for the API, an HTML page for pages, Retry-After, counted."""
    world = make_world(tmp_path, audit_flush_seconds=60.0, audit_max_backlog=2)
    with TestClient(create_app(world.config), base_url="https://testserver") as client:
        audit: RequestAudit = client.app.state.audit  # type: ignore[attr-defined]
        metrics = client.app.state.metrics  # type: ignore[attr-defined]
        for _ in range(2):
            client.get("/v1/areas/W1", headers=world.headers())
        assert audit.closed
        api = client.get("/v1/areas/W1", headers=world.headers())
        page = client.get("/planner", follow_redirects=False)
        for answer in (api, page):
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "60"
            assert answer.headers["content-length"] == str(len(answer.content))
        assert api.headers["content-type"] == "application/problem+json"
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.text.startswith("<!doctype html>") and "Not available" in page.text
        assert metrics.requests[("/v1/areas/{code}", "GET", 503)] == 1.0
        assert metrics.requests[("/planner", "GET", 503)] == 1.0
        assert audit.flush(all_tallies=True)
    refused = sorted(
        (e["details"]["route"], e["details"]["status"], e["details"]["count"])  # type: ignore[index]
        for e in AuditLog(world.audit_log).entries()
        if e["event"] == "api.refused"
    )
    assert refused == [("/planner", 503, 1), ("/v1/areas/{code}", 503, 1)]
