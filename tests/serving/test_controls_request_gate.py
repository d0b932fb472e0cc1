"""Attacks on the request gate and the request audit: each test names the change it catches.

Issue 15 found that ``/readyz`` could stop looking at the request audit and no test would
notice; the tests here fail on that change and on the others ``make mutation`` makes to
serving/gate.py and serving/audit.py (mutation/modules.toml).
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from serving.app import create_app
from serving.audit import RequestAudit
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
