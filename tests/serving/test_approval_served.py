"""The running server stops serving a release whose board approval was revoked or lapsed.

Attacks and events at the server's periodic re-check, with a fixed clock (no sleeping): a
member's signed revocation dropped into the revocations directory; a revocation signed by
someone not on the roster; an approval past its review date, within and beyond the grace
period. The server goes on with the newest earlier release whose approval holds, or answers
503 with a generic body.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from governance.board.audit_log import AuditLog
from governance.contracts.release_schema import ReleaseError
from governance.contracts.revocation import (
    Revocation,
    SignedRevocation,
    sign_revocation,
    write_revocation_file,
)
from governance.contracts.signing import generate_keypair, load_private_key
from serving.app import create_app
from serving.keys import create_key
from serving.releases import ReleaseHolder, ReleaseLibrary
from tests.serving.release_factory import (
    REPORT,
    T0,
    make_board,
    release_key,
    serving_config,
    write_release,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _holder(
    releases: Path, board: Any, revocations: Path, log: Path | None = None
) -> ReleaseHolder:
    library = ReleaseLibrary(
        releases,
        board.public_key_b64,
        release_key_b64=release_key().public_key_b64,
        revocations_dir=revocations,
        revocation_log=log,
    )
    return ReleaseHolder(library)


def _revoke(directory: Path, key: Path, version: str, member: str = "board") -> None:
    revocation = Revocation(
        "vru-risk", version, REPORT, member, "Agreement withdrawn.", "2026-02-01T00:00:00+00:00"
    )
    signature = sign_revocation(revocation, load_private_key(key))
    write_revocation_file(directory, SignedRevocation(revocation, signature))


@pytest.fixture
def world(tmp_path: Path) -> tuple[Any, Path, Path]:
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    write_release(releases, board, release_id="r1", model_version="2", make_current=False)
    write_release(releases, board, release_id="r2", created=T0 + timedelta(days=7))
    return board, releases, tmp_path / "revocations"


def test_a_revoked_release_gives_way_to_the_earlier_one_then_to_none(
    world: tuple[Any, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    board, releases, revocations = world
    holder = _holder(releases, board, revocations)
    catalog, _ = holder.reload(now=NOW)
    assert catalog.release_id == "r2"
    _revoke(revocations, board.private_key_path, "3")
    with caplog.at_level(logging.WARNING, "serving"), pytest.raises(ReleaseError):
        holder.reload(now=NOW)
    assert holder.catalog is not None and holder.catalog.release_id == "r1"
    assert set(holder.catalog.manifests) == {"r1"}  # r2 no longer listed as verified
    assert "the approval was revoked by board" in caplog.text
    assert "serving the earlier release r1" in (holder.last_error or "")
    with pytest.raises(ReleaseError, match="revoked"):  # CURRENT still names r2: refused
        holder.reload(now=NOW)
    assert holder.catalog.release_id == "r1"  # and r1 stays
    _revoke(revocations, board.private_key_path, "2")
    with pytest.raises(ReleaseError, match="revoked"):
        holder.reload(now=NOW)
    assert holder.catalog is None
    assert (holder.last_error or "").endswith("no approved release is being served")


def test_a_revocation_whose_file_was_deleted_still_stops_the_release_from_the_log(
    world: tuple[Any, Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Deleting the revocation's file (beside the releases) does not bring the release back."""
    board, releases, revocations = world
    log = AuditLog(tmp_path / "governance-log.jsonl")
    holder = _holder(releases, board, revocations, log.path)
    assert holder.reload(now=NOW)[0].release_id == "r2"
    revocation = Revocation(
        "vru-risk", "3", REPORT, "board", "Agreement withdrawn.", "2026-02-01T00:00:00+00:00"
    )
    signature = sign_revocation(revocation, load_private_key(board.private_key_path))
    log.append(
        "review.revocation",
        {**asdict(revocation), "revocation_signature": signature},
        actor="board:board",
    )  # as `vru review --revoke` records it; its file is deleted by the attacker
    assert not revocations.exists()
    with pytest.raises(ReleaseError, match="revoked"):
        holder.reload(now=NOW)
    assert holder.catalog is not None and holder.catalog.release_id == "r1"
    # a revocation in the log that its member did not sign is ignored, and said so
    generate_keypair(tmp_path / "forger.pem", tmp_path / "forger.pub")
    forged = Revocation("vru-risk", "2", REPORT, "board", "Forged.", "2026-02-01T00:00:00+00:00")
    log.append(
        "review.revocation",
        {
            **asdict(forged),
            "revocation_signature": sign_revocation(
                forged, load_private_key(tmp_path / "forger.pem")
            ),
        },
        actor="board:board",
    )
    with caplog.at_level(logging.WARNING, "serving"), pytest.raises(ReleaseError):
        holder.reload(now=NOW)
    assert holder.catalog is not None and holder.catalog.release_id == "r1"
    assert "does not verify with the member's key; ignored" in caplog.text


def test_a_revocation_not_signed_by_a_member_is_ignored_and_logged(
    world: tuple[Any, Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    board, releases, revocations = world
    holder = _holder(releases, board, revocations)
    holder.reload(now=NOW)
    generate_keypair(tmp_path / "outsider.pem", tmp_path / "outsider.pub")
    _revoke(revocations, tmp_path / "outsider.pem", "3")
    _revoke(revocations, tmp_path / "outsider.pem", "3", member="mallory")
    with caplog.at_level(logging.WARNING, "serving"):
        catalog, _ = holder.reload(now=NOW)
    assert catalog.release_id == "r2"
    assert "by 'board' does not verify with the member's key; ignored" in caplog.text
    assert "names 'mallory', who is not on the roster; ignored" in caplog.text


def test_a_lapsed_approval_is_served_with_a_warning_within_grace_then_refused(
    tmp_path: Path,
) -> None:
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    write_release(releases, board, release_id="r1", valid_until="2026-03-01")
    config = serving_config(tmp_path, board)
    _, token = create_key(config.keys_file, role="planner", name="test planner")
    auth = {"Authorization": f"Bearer {token}"}
    app = create_app(config)
    holder: ReleaseHolder = app.state.holder
    # the server reads revocations from the governance log too, not only their directory
    assert holder.library.revocation_log == config.governance().audit_log
    with TestClient(app) as client:
        holder.reload(now=NOW)
        assert holder.lapsed_on is None
        assert "warning" not in client.get("/v1/areas/L03", headers=auth).headers
        holder.reload(now=NOW + timedelta(days=1))  # lapsed, within the 14 days of grace
        assert holder.lapsed_on == "2026-03-01"
        warning = '299 - "approval lapsed on 2026-03-01; board review overdue"'
        for path in ("/v1/areas/L03", "/v1/areas?level=borough"):  # the hot route and another
            served = client.get(path, headers=auth)
            assert served.status_code == 200 and served.headers["warning"] == warning
        ready = client.get("/readyz").json()
        assert ready["warning"] == (
            "the board's approval lapsed on 2026-03-01; board review overdue"
        )
        holder.reload(now=NOW + timedelta(days=14))
        assert holder.catalog is not None
        with pytest.raises(ReleaseError, match="the approval lapsed on 2026-03-01"):
            holder.reload(now=NOW + timedelta(days=15))
        assert holder.catalog is None
        closed = client.get("/v1/areas/L03", headers=auth)
        assert closed.status_code == 503 and "lapsed" not in closed.text
        assert "warning" not in closed.headers
        refused = client.get("/readyz")
        assert refused.status_code == 503
        assert "2026-03-01" not in refused.text and "lapsed" not in refused.text  # generic
