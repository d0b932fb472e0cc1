"""Attacks on the request gate and the request audit: each test names the change it catches.

Issue 15 found that ``/readyz`` could stop looking at the request audit and no test would
notice; the tests here fail on that change and on the others ``make mutation`` makes to
serving/gate.py and serving/audit.py (mutation/modules.toml).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from governance.board.audit_log import AuditLog
from serving import audit as audit_module
from serving import gate as gate_module
from serving.access import Access, AccessTable, is_page
from serving.app import create_app
from serving.audit import RequestAudit
from serving.config import AnonymousLimit, RateLimit
from serving.dependencies import OPEN_ROUTE, AdminKey, AnyKey
from serving.gate import Gate, RateLimiter
from serving.keys import KeyStore
from serving.metrics import Metrics
from tests.serving.conftest import make_world
from tests.serving.pages_helpers import HTTPS, sign_in

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
    assert refused.json()["type"] == "https://vru-risk.example/problems/forbidden"
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


def test_anonymous_refusals_are_whole_problems_with_their_headers(tmp_path: Path) -> None:
    """A 401 says how to authenticate, a 429 when to retry; both are counted under the route."""
    limit = AnonymousLimit(requests_per_minute=1, burst=1, audit_window_seconds=60.0)
    world = make_world(tmp_path, anonymous=limit)
    with TestClient(create_app(world.config)) as client:
        metrics = client.app.state.metrics  # type: ignore[attr-defined]
        unauthenticated, limited = (client.get("/v1/areas/W1") for _ in range(2))
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"] == 'Bearer realm="vru-risk"'
    assert "retry-after" not in unauthenticated.headers
    assert unauthenticated.json() == {
        "type": "https://vru-risk.example/problems/unauthenticated",
        "title": "Not authenticated",
        "status": 401,
        "detail": "This API needs a key: send 'Authorization: Bearer <token>' "
        "(an operator creates one with `vru keys create`).",
    }
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    assert "www-authenticate" not in limited.headers
    assert limited.json() == {
        "type": "https://vru-risk.example/problems/rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "Too many requests without a valid key from this address (1 a minute); "
        "send 'Authorization: Bearer <token>' with a valid key.",
    }
    for answer in (unauthenticated, limited):
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["content-length"] == str(len(answer.content))
    assert metrics.requests[("/v1/areas/{code}", "GET", 401)] == 1.0
    assert metrics.requests[("/v1/areas/{code}", "GET", 429)] == 1.0


def _requests(world: Any, client: TestClient) -> list[dict[str, Any]]:
    """The request entries written so far (the audit flushed first)."""
    assert client.app.state.audit.flush()  # type: ignore[attr-defined]
    entries = AuditLog(world.audit_log).entries()
    return [e for e in entries if e["event"] == "api.request"]


def test_the_hot_route_is_answered_and_audited_field_by_field(tmp_path: Path) -> None:
    """The gate's own answer for ``GET /v1/areas/{code}``: the app's bytes, one whole record."""
    world = make_world(tmp_path, audit_flush_seconds=60.0)
    with TestClient(create_app(world.config)) as client:
        answered = client.get("/v1/areas/W1", headers=world.headers())
        assert answered.status_code == 200 and answered.json()["area"]["code"] == "W1"
        assert answered.headers["content-type"] == "application/json"
        assert int(answered.headers["content-length"]) == len(answered.content)
        assert answered.headers["cache-control"] == "no-store"
        unknown = client.get("/v1/areas/NOPE", headers=world.headers("board"))
        assert unknown.status_code == 404  # not published: the app answers, and is audited
        hot, missed = _requests(world, client)[-2:]
    assert hot["actor"] == f"api:{world.key_ids['planner']}"
    details = dict(hot["details"])
    assert 0 <= details.pop("ms") < 60_000
    assert details == {
        "key_id": world.key_ids["planner"],
        "role": "planner",
        "method": "GET",
        "route": "/v1/areas/{code}",
        "params": {"code": "W1"},
        "status": 200,
    }
    assert missed["details"]["key_id"] == world.key_ids["board"]
    assert missed["details"]["role"] == "board"
    assert (missed["details"]["route"], missed["details"]["status"]) == ("/v1/areas/{code}", 404)
    assert missed["details"]["params"] == {"code": "NOPE"}


def test_query_parameters_are_audited_by_name_and_only_known_values(tmp_path: Path) -> None:
    world = make_world(tmp_path, audit_flush_seconds=60.0)
    with TestClient(create_app(world.config)) as client:
        listed = client.get("/v1/areas?level=ward&sort=rank", headers=world.headers())
        assert listed.status_code == 200
        refused = client.get("/v1/areas?level=ward&secret=P000123", headers=world.headers())
        assert refused.status_code == 400
        ok, bad = _requests(world, client)[-2:]
    assert ok["details"]["params"] == {"level": "ward", "sort": "rank"}
    assert ok["details"]["route"] == "/v1/areas" and ok["details"]["status"] == 200
    # an unknown parameter is named, its value never written
    assert bad["details"]["params"] == {"level": "ward", "other_query_names": ["secret"]}
    assert bad["details"]["status"] == 400
    assert "P000123" not in world.audit_log.read_text()


def test_a_page_is_audited_under_its_session_and_the_stylesheet_not_at_all(
    tmp_path: Path,
) -> None:
    """A signed-in page: the session's key, the route's template, the path's code, the status."""
    world = make_world(tmp_path, audit_flush_seconds=60.0)
    with TestClient(create_app(world.config), base_url=HTTPS) as client:
        assert sign_in(client, world.tokens["planner"]).status_code == 303
        before = len(_requests(world, client))
        page = client.get("/planner/areas/W1", headers=world.headers("admin"))
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        style = client.get("/static/style.css")
        assert style.status_code == 200
        listed = client.get("/planner?level=ward&sort=rank")
        assert listed.status_code == 200
        written = _requests(world, client)[before:]
    entry, listing = written  # the pages only: the stylesheet is not audited
    assert listing["details"]["route"] == "/planner"
    assert listing["details"]["key_id"] == world.key_ids["planner"]
    assert listing["details"]["params"] == {"level": "ward", "sort": "rank"}
    details = dict(entry["details"])
    assert 0 <= details.pop("ms") < 60_000
    assert details == {
        "key_id": world.key_ids["planner"],  # the session's key, not the Bearer header's
        "role": "planner",
        "method": "GET",
        "route": "/planner/areas/{code}",
        "params": {"code": "W1"},
        "status": 200,
    }


def test_while_closed_the_stylesheet_is_served_and_retry_after_is_at_least_a_second(
    tmp_path: Path,
) -> None:
    """The stylesheet is not audited, so a closed audit does not withhold it; and a flush
    interval under a second still asks clients to wait one whole second, not two."""
    world = make_world(tmp_path, audit_flush_seconds=1.0, audit_max_backlog=1)
    with TestClient(create_app(world.config), base_url=HTTPS) as client:
        audit: RequestAudit = client.app.state.audit  # type: ignore[attr-defined]
        for _ in range(20):  # one queued record closes it, until the writer's next flush
            closed = client.get("/v1/areas/W1", headers=world.headers())
            if closed.status_code == 503:
                break
        assert closed.status_code == 503 and closed.headers["retry-after"] == "1"
        for _ in range(20):
            client.get("/v1/areas/W1", headers=world.headers())
            if audit.closed:
                break
        assert audit.closed
        assert client.get("/static/style.css").status_code == 200


def test_a_keys_retry_after_is_the_seconds_until_its_next_token(tmp_path: Path) -> None:
    """120 requests a minute is 2 tokens a second: the next one comes within a second."""
    limit = RateLimit(requests_per_minute=120, burst=1)
    world = make_world(tmp_path, rate_limit=limit)
    with TestClient(create_app(world.config)) as client:
        assert client.get("/v1/areas/W1", headers=world.headers()).status_code == 200
        refused = client.get("/v1/areas/W1", headers=world.headers())
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["detail"] == (
        f"Key {world.key_ids['planner']} is over its rate limit (120 requests per minute, burst 1)."
    )
    assert refused.json()["type"] == "https://vru-risk.example/problems/rate-limited"
    limited = [e for e in AuditLog(world.audit_log).entries() if e["event"] == "api.request"][-1]
    assert limited["actor"] == f"api:{world.key_ids['planner']}"  # audited under the key
    assert (limited["details"]["status"], limited["details"]["role"]) == (429, "planner")
    limiter = RateLimiter(120, 1)
    assert limiter.take("k", 100.0) == 0.0
    assert limiter.take("k", 100.0) == pytest.approx(0.5)  # (1 - 0 tokens) / 2 per second


def test_a_routes_access_reaches_its_error_handlers_pages_as_pages_the_api_as_problems(
    tmp_path: Path,
) -> None:
    """The gate leaves each request's access in its state, where the error handlers read it:
    a page's error is a page (the page's own headers, once), the API's a problem (its
    headers), each counted and audited under its route, method and status."""
    world = make_world(tmp_path, audit_flush_seconds=60.0)
    with TestClient(create_app(world.config), base_url=HTTPS) as client:
        metrics = client.app.state.metrics  # type: ignore[attr-defined]
        assert sign_in(client, world.tokens["planner"]).status_code == 303
        before = len(_requests(world, client))
        pages = [
            client.get("/planner?level=bogus"),
            client.get("/planner/nope/x"),
            client.post("/planner", follow_redirects=False),
            client.get("/static/nope.css"),
        ]
        auth = world.headers("board")
        api = [
            client.get("/v1/areas?level=bogus", headers=auth),
            client.get("/v1/nope", headers=auth),
            client.post("/v1/areas/W1", headers=auth),
        ]
        written = _requests(world, client)[before:]
    assert [p.status_code for p in pages] == [400, 404, 405, 404]
    for page in pages:
        assert page.headers["content-type"] == "text/html; charset=utf-8", page.url
        assert page.text.startswith("<!doctype html>")
        assert page.headers.get_list("cache-control") == ["no-store"]  # not the API's as well
        assert "content-security-policy" in page.headers
    assert [a.status_code for a in api] == [400, 404, 405]
    for answer in api:
        assert answer.headers["content-type"] == "application/problem+json", answer.url
        assert answer.json()["status"] == answer.status_code
        assert answer.headers.get_list("cache-control") == ["no-store"]
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"]
    counted = {key: n for key, n in metrics.requests.items() if key[2] >= 400}
    assert counted == {
        ("/planner", "GET", 400): 1.0,
        ("unmatched", "GET", 404): 2.0,  # a page path and an API path that match no route
        ("/planner", "POST", 405): 1.0,
        ("/v1/areas", "GET", 400): 1.0,
        ("/v1/areas/{code}", "POST", 405): 1.0,
    }
    seen = [
        (e["details"]["method"], e["details"]["route"], e["details"]["status"]) for e in written
    ]
    assert seen == [  # the stylesheet's directory is not audited
        ("GET", "/planner", 400),
        ("GET", "unmatched", 404),
        ("POST", "/planner", 405),
        ("GET", "/v1/areas", 400),
        ("GET", "unmatched", 404),
        ("POST", "/v1/areas/{code}", 405),
    ]
    # each took the app more than a few microseconds: its time is written in milliseconds
    assert all(0 < e["details"]["ms"] < 60_000 for e in written)
    # the API's under the Bearer key; a page refused before it read its session has no key
    assert {e["details"]["key_id"] for e in written[3:]} == {world.key_ids["board"]}


def test_every_api_answer_carries_the_lapse_warning_and_no_page_does(tmp_path: Path) -> None:
    """The release holder's warning (an approval lapsed, within grace) is on the hot route's
    own answer and on the app's, found or not; the pages are not API answers."""
    world = make_world(tmp_path, audit_flush_seconds=60.0)
    with TestClient(create_app(world.config), base_url=HTTPS) as client:
        client.app.state.holder.lapsed_on = "2026-03-01"  # type: ignore[attr-defined]
        warning = '299 - "approval lapsed on 2026-03-01; board review overdue"'
        auth = world.headers()
        for path in ("/v1/areas/W1", "/v1/areas?level=ward", "/v1/areas/NOPE", "/v1/releases"):
            answer = client.get(path, headers=auth)
            assert answer.status_code in (200, 404), path
            assert answer.headers.get_list("warning") == [warning], path
            assert answer.headers.get_list("cache-control") == ["no-store"], path
        assert sign_in(client, world.tokens["planner"]).status_code == 303
        page = client.get("/planner")
        assert page.status_code == 200 and "warning" not in page.headers


def _bare_gate(app: FastAPI, world: Any, audit: RequestAudit, **options: Any) -> Gate:
    """The gate in front of a small app of the test's own (its routes declare their access)."""
    return Gate(
        app,
        keys=KeyStore(world.config.keys_file),
        limiter=RateLimiter(600, 10),
        audit=audit,
        metrics=options.pop("metrics", Metrics()),
        access=AccessTable(app.routes, ()),
        anonymous=RateLimiter(60, 1),
        **options,
    )


def test_a_route_receives_the_key_the_gate_checked_and_no_other(tmp_path: Path) -> None:
    """``AnyKey``/``AdminKey`` hand a route the key the gate checked (its id and role),
    which a route that acts on its caller's identity relies on."""
    world = make_world(tmp_path)
    app = FastAPI()

    @app.get("/v1/who")
    async def who(key: AnyKey) -> dict[str, str | None]:
        return {"key_id": None if key is None else key.key_id, "role": getattr(key, "role", None)}

    @app.get("/v1/admin/who")
    async def admin_who(key: AdminKey) -> dict[str, str | None]:
        return {"key_id": None if key is None else key.key_id}

    audit = RequestAudit(tmp_path / "requests.jsonl", flush_seconds=60.0)
    gate = _bare_gate(app, world, audit, hot_route="/v1/who")
    with TestClient(gate) as client:
        for role in ("planner", "board"):
            answer = client.get("/v1/who", headers=world.headers(role))
            assert answer.status_code == 200
            assert answer.json() == {"key_id": world.key_ids[role], "role": role}
        admin = client.get("/v1/admin/who", headers=world.headers("admin"))
        assert admin.json() == {"key_id": world.key_ids["admin"]}
        assert client.get("/v1/who").status_code == 401  # no key reaches the route
    assert audit.backlog == 3  # each answered request queued once


def test_open_routes_keep_their_own_headers_and_add_the_apis(tmp_path: Path) -> None:
    """The probes and the OpenAPI document answer with their own type and length, plus
    ``no-store`` and ``nosniff``; they are neither counted nor audited."""
    world = make_world(tmp_path, audit_flush_seconds=60.0)
    with TestClient(create_app(world.config)) as client:
        metrics = client.app.state.metrics  # type: ignore[attr-defined]
        for path in ("/healthz", "/readyz", "/openapi.json"):
            answer = client.get(path)
            assert answer.status_code == 200, path
            assert answer.headers["content-type"] == "application/json", path
            assert answer.headers["content-length"] == str(len(answer.content)), path
            assert answer.headers.get_list("cache-control") == ["no-store"], path
            assert answer.headers.get_list("x-content-type-options") == ["nosniff"], path
        assert metrics.requests == {}
        assert client.app.state.audit.backlog == 0  # type: ignore[attr-defined]


def test_an_addresss_retry_after_is_the_seconds_until_its_next_token(tmp_path: Path) -> None:
    """Anonymous: 120 a minute is 2 tokens a second, so the next one comes within a second;
    a request with no client address at all (a Unix socket) is limited under one shared name,
    not let through and not a crash."""
    limit = AnonymousLimit(requests_per_minute=120, burst=1, audit_window_seconds=60.0)
    world = make_world(tmp_path, anonymous=limit)
    app = create_app(world.config)
    with TestClient(app) as client:
        assert client.get("/v1/areas/W1").status_code == 401
        limited = client.get("/v1/areas/W1")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    with TestClient(app, client=None) as socket:  # type: ignore[arg-type]
        assert [socket.get("/v1/areas/W1").status_code for _ in range(2)] == [401, 429]


def test_the_gate_answers_a_published_area_itself_and_leaves_the_rest_to_the_app(
    tmp_path: Path,
) -> None:
    """The hot route: ``GET`` of one published code, with no query, is answered with the
    holder's bytes (and audited as the app's answer would be); anything else goes on to the
    app: another method, a query, a longer path, an empty or unknown code."""
    world = make_world(tmp_path)
    app = FastAPI()

    @app.api_route("/v1/areas/{code:path}", methods=["GET", "POST"])
    async def by_app(code: str, _: AnyKey) -> dict[str, str]:
        return {"answered_by": "app", "code": code}

    published = {"W1": b'{"answered_by":"gate"}'}
    metrics = Metrics()
    audit = RequestAudit(tmp_path / "requests.jsonl", flush_seconds=60.0)
    gate = _bare_gate(
        app,
        world,
        audit,
        metrics=metrics,
        hot_route="/v1/areas/{code:path}",
        hot_area=published.get,
        extra_headers=lambda: ((b"warning", b'299 - "test"'),),
    )
    auth = world.headers()
    with TestClient(gate) as client:
        hot = client.get("/v1/areas/W1", headers=auth)
        assert hot.status_code == 200 and hot.content == published["W1"]
        assert hot.headers["content-type"] == "application/json"
        assert hot.headers["content-length"] == str(len(published["W1"]))
        assert hot.headers["cache-control"] == "no-store" and hot.headers["warning"]
        for method, path in (
            ("POST", "/v1/areas/W1"),
            ("GET", "/v1/areas/W1?level=ward"),
            ("GET", "/v1/areas/W1/history"),
            ("GET", "/v1/areas/"),
            ("GET", "/v1/areas/NOPE"),
        ):
            answer = client.request(method, path, headers=auth)
            assert answer.json()["answered_by"] == "app", (method, path)
            assert answer.headers["warning"] == '299 - "test"'
        assert client.get("/v1/areas/W1").status_code == 401  # the key is checked first
    assert metrics.requests == {
        ("/v1/areas/{code:path}", "GET", 200): 5.0,
        ("/v1/areas/{code:path}", "POST", 200): 1.0,
        ("/v1/areas/{code:path}", "GET", 401): 1.0,
    }
    assert audit.close()
    records = [e for e in AuditLog(audit.path).entries() if e["event"] == "api.request"]
    details = dict(records[0]["details"])
    assert 0 <= details.pop("ms") < 60_000
    assert records[0]["actor"] == f"api:{world.key_ids['planner']}"
    assert details == {
        "key_id": world.key_ids["planner"],
        "role": "planner",
        "method": "GET",
        "route": "/v1/areas/{code:path}",
        "params": {"code": "W1"},
        "status": 200,
    }
    assert [r["details"]["params"] for r in records[1:]] == [
        {"code": "W1"},
        {"code": "W1", "level": "ward"},
        {"code": "W1/history"},
        {"code": ""},
        {"code": "NOPE"},
    ]


def test_without_a_published_area_function_every_request_goes_to_the_app(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    app = FastAPI()

    @app.get("/v1/areas/{code}")
    async def by_app(code: str, _: AnyKey) -> dict[str, str]:
        return {"answered_by": "app"}

    audit = RequestAudit(tmp_path / "requests.jsonl", flush_seconds=60.0)
    gate = _bare_gate(app, world, audit, hot_route="/v1/areas/{code}")
    with TestClient(gate) as client:
        answer = client.get("/v1/areas/W1", headers=world.headers())
    assert answer.json() == {"answered_by": "app"}


def _recording(app: Any, names: list[bytes]) -> Any:
    """``app`` behind an outer ASGI layer that notes every response header name sent."""

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                names.extend(name for name, _ in message.get("headers", ()))
            await send(message)

        await app(scope, receive, sending)

    return outer


def test_every_answer_names_its_headers_in_lower_case(tmp_path: Path) -> None:
    """ASGI requires lower-case header names (HTTP/2 refuses a response with any other), and
    every answer the gate makes itself (hot route, refusals, 503s) or passes on keeps them so;
    and each answer's latency is counted as its duration, not a clock reading."""
    limit = RateLimit(requests_per_minute=60, burst=1)
    anonymous = AnonymousLimit(requests_per_minute=60, burst=1, audit_window_seconds=60.0)
    world = make_world(
        tmp_path,
        audit_flush_seconds=60.0,
        audit_max_backlog=4,  # the fourth record closes it
        rate_limit=limit,
        anonymous=anonymous,
    )
    app = create_app(world.config)
    names: list[bytes] = []
    with TestClient(_recording(app, names), base_url=HTTPS) as client:
        statuses = [
            client.get("/healthz").status_code,
            client.get("/v1/areas/W1", headers=world.headers()).status_code,  # the hot route
            client.get("/v1/areas/W1", headers=world.headers()).status_code,  # the key's 429
            client.get("/metrics", headers=world.headers("board")).status_code,
            client.get("/v1/areas/W1").status_code,
            client.get("/v1/areas/W1").status_code,  # the address's 429
            client.get("/v1/releases", headers=world.headers("admin")).status_code,
            client.get("/v1/areas/W1", headers=world.headers("admin")).status_code,  # closed
            client.get("/planner", follow_redirects=False).status_code,  # closed, a page
        ]
        latency = app.state.metrics.latency
    assert statuses == [200, 200, 429, 403, 401, 429, 200, 503, 503]
    assert names and all(name == name.lower() for name in names), sorted(set(names))
    assert set(latency) == {"/v1/areas/{code}", "/metrics", "/v1/releases", "/planner"}
    for route, counts in latency.items():
        assert 0 < counts[-1] < 60, route  # the seconds summed over the route's requests


def test_an_open_route_with_a_path_parameter_is_open_unaudited_with_the_api_headers(
    tmp_path: Path,
) -> None:
    """An open route is open whatever its path: one with a parameter (matched, not looked up
    by its exact path) answers without a key, is neither counted nor audited, and carries
    the API's headers; the route beside it still needs a key."""
    world = make_world(tmp_path)
    app = FastAPI()

    @app.get("/v1/guide/{page}", dependencies=[OPEN_ROUTE])
    async def guide(page: str) -> dict[str, str]:
        return {"page": page}

    @app.get("/v1/areas/{code}")
    async def area(code: str, _: AnyKey) -> dict[str, str]:
        return {"code": code}

    metrics = Metrics()
    audit = RequestAudit(tmp_path / "requests.jsonl", flush_seconds=60.0)
    gate = _bare_gate(app, world, audit, metrics=metrics, hot_route="/v1/areas/{code}")
    with TestClient(gate) as client:
        answer = client.get("/v1/guide/start")
        assert answer.status_code == 200 and answer.json() == {"page": "start"}
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers.get_list("cache-control") == ["no-store"]
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"]
        assert client.get("/v1/areas/W1").status_code == 401
    assert metrics.requests == {("/v1/areas/{code}", "GET", 401): 1.0}
    assert audit.backlog == 0


def _damaged_log(path: Path) -> bytes:
    """A log whose last entry is cut, so appends are refused; its intact bytes."""
    AuditLog(path).append("x", {}, actor="a")
    good = path.read_bytes()
    path.write_bytes(good[:-10])
    return good


def test_the_operator_is_told_how_many_records_wait_and_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each failed write is counted and logged with the number of records kept and the
    reason; a shutdown that cannot write them says how many are lost; a write that then
    succeeds clears the reason."""
    path = tmp_path / "audit.jsonl"
    good = _damaged_log(path)
    audit = RequestAudit(path, flush_seconds=60)
    audit.start()
    for i in range(3):
        audit.record("k1", "planner", "GET", "/v1/areas/{code}", f"E{i}", 200, 0.4, time.time())
    with caplog.at_level("ERROR", logger="serving"):
        assert not audit.close()  # two tries (the second with a new writer), both refused
    failures = [r.getMessage() for r in caplog.records]
    assert len(failures) == 3 and audit.failures == 2
    for message in failures[:2]:
        assert message.startswith("audit: 3 record(s) not written: AuditLogError: ")
        assert "damaged" in message
    assert failures[2] == "audit: 3 request record(s) could not be written at shutdown"
    assert audit.last_error is not None and "damaged" in audit.last_error
    path.write_bytes(good)  # the operator restores the log
    caplog.clear()
    with caplog.at_level("ERROR", logger="serving"):
        assert audit.close()
    assert not caplog.records
    assert audit.last_error is None and audit.written == 3 and audit.failures == 2


def test_a_dead_writer_is_reported_as_stopped_and_one_that_cannot_start_leaks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = RequestAudit(tmp_path / "audit.jsonl", flush_seconds=60)
    audit.start()
    assert audit.writer_pid is not None and audit._process is not None
    os.kill(audit.writer_pid, signal.SIGKILL)
    audit._process.wait(10)
    audit.record("k1", "planner", "GET", "/v1/areas/{code}", "E1", 200, 0.4, time.time())
    assert not audit.flush()
    assert re.fullmatch(
        r"audit writer process stopped \((EOFError|BrokenPipeError|ConnectionResetError)\)",
        str(audit.last_error),
    )
    assert audit.closed and audit.backlog == 1

    def cannot_start(*args: object, **kwargs: object) -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(audit_module.subprocess, "Popen", cannot_start)
    opened = len(os.listdir("/proc/self/fd"))
    assert not audit.flush()  # kept, and reported, as for a writer that died
    assert audit.last_error == "audit writer process stopped (OSError)"
    assert len(os.listdir("/proc/self/fd")) == opened  # both pipes' ends closed again
    monkeypatch.undo()
    assert audit.close() and audit.backlog == 0


def test_refusals_are_written_once_their_window_has_passed_and_a_new_window_starts(
    tmp_path: Path,
) -> None:
    """Counted refusals wait for ``tally_seconds`` (not written at an earlier flush), then
    become one entry naming the window's length; the next window starts then."""
    path = tmp_path / "audit.jsonl"
    audit = RequestAudit(path, flush_seconds=60, tally_seconds=1.0)
    audit.start()
    audit.tally("/v1/areas/{code}", 401, time.time())
    assert audit.flush() and audit.written == 0  # within its window: still counted
    time.sleep(1.05)
    assert audit.flush() and audit.written == 1
    for _ in range(2):  # the writer is running now: the next windows are timed without it
        audit.tally("/v1/areas/{code}", 401, time.time())
    time.sleep(1.05)
    assert audit.flush() and audit.written == 2
    audit.tally("/v1/areas/{code}", 429, time.time())
    assert audit.flush() and audit.written == 2  # a new window, begun at the last write
    assert audit.close()  # at shutdown, whatever is counted is written
    entries = [dict(e["details"]) for e in AuditLog(path).entries() if e["event"] == "api.refused"]
    windows = [entry.pop("window_seconds") for entry in entries]
    assert entries == [
        {"route": "/v1/areas/{code}", "status": 401, "count": 1},
        {"route": "/v1/areas/{code}", "status": 401, "count": 2},
        {"route": "/v1/areas/{code}", "status": 429, "count": 1},
    ]
    assert 1.0 <= windows[0] < 10.0 and 1.0 <= windows[1] < 10.0
    assert 0.0 <= windows[2] < 1.0


def test_only_a_bearer_credential_is_a_key_whatever_the_schemes_case_or_spacing(
    tmp_path: Path,
) -> None:
    """The scheme is case-insensitive and the token may be padded (RFC 6750); a valid token
    under another scheme, or an empty one, is no key (401)."""
    world = make_world(tmp_path)
    token = world.tokens["planner"]
    with TestClient(create_app(world.config)) as client:
        for header in (f"Bearer {token}", f"bearer {token}", f"BEARER   {token}  "):
            answer = client.get("/v1/releases", headers={"Authorization": header})
            assert answer.status_code == 200, header
        for header in (f"Basic {token}", "Bearer ", "Bearer", token):
            refused = client.get("/v1/releases", headers={"Authorization": header})
            assert refused.status_code == 401, header
            assert refused.json()["detail"] == (
                "This API needs a key: send 'Authorization: Bearer <token>' "
                "(an operator creates one with `vru keys create`)."
            )
        unknown = client.get("/v1/releases", headers={"Authorization": "Bearer vru_x_y"})
        assert unknown.status_code == 401
        assert unknown.json()["detail"] == (
            "The API key is not valid: unknown, malformed or revoked."
        )


def test_a_key_is_held_to_its_rate_and_idle_buckets_are_bounded() -> None:
    """Over ten seconds at four requests a second, a key of 60 a minute with a burst of 3 is
    allowed its burst and then one a second; past ``max_buckets`` the refilled buckets go."""
    limiter = RateLimiter(60, 3)
    allowed = sum(limiter.take("k", 100.0 + i * 0.25) == 0.0 for i in range(41))
    assert allowed == 3 + 10
    assert limiter.take("k", 110.25) == pytest.approx(0.75)  # 0.25 of a token is back
    bounded = RateLimiter(60, 1, max_buckets=2)
    bounded.take("a", 0.0)
    bounded.take("b", 0.0)
    assert set(bounded._buckets) == {"a", "b"}
    bounded.take("c", 5.0)  # at the bound: "a" and "b" are full again and dropped
    assert set(bounded._buckets) == {"c"}


def test_a_blank_unknown_query_parameter_is_still_named_in_the_audit(tmp_path: Path) -> None:
    world = make_world(tmp_path, audit_flush_seconds=60.0)
    with TestClient(create_app(world.config)) as client:
        refused = client.get("/v1/areas?level=ward&debug=&sort=", headers=world.headers())
        assert refused.status_code == 400
        (entry,) = _requests(world, client)[-1:]
    assert entry["details"]["params"] == {
        "level": "ward",
        "sort": "",
        "other_query_names": ["debug"],
    }


def _asgi_call(gate: Gate, path: str, token: str | None = None) -> list[dict[str, Any]]:
    """One ``GET`` through ``gate`` as a bare ASGI server sends it: no ``state`` in the scope
    (it is optional in ASGI), no test client in between; the messages the gate sent."""
    headers = [] if token is None else [(b"authorization", f"Bearer {token}".encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("192.0.2.9", 40000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(gate(scope, receive, send))
    return sent


def test_the_gate_serves_any_asgi_server_and_app(tmp_path: Path) -> None:
    """A scope without ``state``, a response start without ``headers`` (both optional in
    ASGI), and an app that fails before it answers: the access still reaches the app, the
    API headers are still added, and the failure is counted and audited as the 500 the
    server then answers."""
    world = make_world(tmp_path)
    declared = FastAPI()  # what the routes declare; the app behind the gate is a bare one

    @declared.get("/healthz", dependencies=[OPEN_ROUTE])
    async def healthz() -> None: ...

    @declared.get("/guide/{page}", dependencies=[OPEN_ROUTE])
    async def guide(page: str) -> None: ...

    @declared.get("/v1/ok")
    async def ok(_: AnyKey) -> None: ...

    @declared.get("/v1/fail")
    async def fail(_: AnyKey) -> None: ...

    (tmp_path / "static").mkdir()
    declared.mount("/static", StaticFiles(directory=tmp_path / "static"), name="static")
    seen: dict[str, bool] = {}

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        seen[scope["path"]] = is_page(scope)
        assert (await receive())["type"] == "http.request"  # the request's body reaches it
        if scope["path"] == "/v1/fail":
            raise RuntimeError("the app failed before answering")
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"{}"})

    metrics = Metrics()
    audit = RequestAudit(tmp_path / "requests.jsonl", flush_seconds=60.0)
    gate = Gate(
        bare,
        keys=KeyStore(world.config.keys_file),
        limiter=RateLimiter(600, 10),
        audit=audit,
        metrics=metrics,
        access=AccessTable(declared.routes, ()),
        hot_route="/v1/ok",
        anonymous=RateLimiter(60, 1),
    )
    token = world.tokens["planner"]
    paths = (("/healthz", None), ("/guide/start", None), ("/v1/ok", token), ("/static/a.css", None))
    for path, key in paths:
        start = _asgi_call(gate, path, key)[0]
        assert start["status"] == 200, path
        expected = [] if path.startswith("/static") else list(gate_module.API_HEADERS)
        assert list(start.get("headers", [])) == expected, path
    with pytest.raises(RuntimeError, match="failed before answering"):
        _asgi_call(gate, "/v1/fail", token)
    assert seen == {
        "/healthz": False,
        "/guide/start": False,
        "/v1/ok": False,
        "/static/a.css": True,
        "/v1/fail": False,
    }
    assert metrics.requests == {("/v1/ok", "GET", 200): 1.0, ("/v1/fail", "GET", 500): 1.0}
    assert audit.close()
    statuses = [e["details"]["status"] for e in AuditLog(audit.path).entries()]
    assert statuses == [200, 500]


def test_close_tells_the_writer_to_stop_and_reaps_it(tmp_path: Path) -> None:
    """At shutdown the writer is told to stop, exits at once (not after the 30-second grace)
    and is reaped: no writer process is left behind."""
    audit = RequestAudit(tmp_path / "audit.jsonl", flush_seconds=60)
    audit.start()
    audit.record("k1", "planner", "GET", "/v1/areas/{code}", "E1", 200, 0.4, time.time())
    pid = audit.writer_pid
    assert pid is not None
    began = time.monotonic()
    assert audit.close()
    assert time.monotonic() - began < 10.0
    assert audit.writer_pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone, not a zombie


def test_a_path_below_the_hot_route_is_counted_and_audited_under_its_own_route(
    tmp_path: Path,
) -> None:
    """Only ``/v1/areas/<code>`` is the hot route: an area's history, or the listing with a
    trailing slash (redirected), is not counted or audited as ``/v1/areas/{code}``."""
    world = make_world(tmp_path, audit_flush_seconds=60.0)
    with TestClient(create_app(world.config)) as client:
        metrics = client.app.state.metrics  # type: ignore[attr-defined]
        history = client.get("/v1/areas/W1/history", headers=world.headers())
        slashed = client.get("/v1/areas/", headers=world.headers(), follow_redirects=False)
        assert (history.status_code, slashed.status_code) == (200, 307)
        routes = [e["details"]["route"] for e in _requests(world, client)]
    assert metrics.requests == {
        ("/v1/areas/{code}/history", "GET", 200): 1.0,
        ("unmatched", "GET", 307): 1.0,
    }
    assert routes == ["/v1/areas/{code}/history", "unmatched"]
