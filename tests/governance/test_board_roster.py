"""The board's roster, quorum and review dates, attacked as a member or an outsider would.

Three members (alice, bob, carol), quorum 2. Each test is an attack on one rule: a key not on
the roster, one approval where two are needed, a member counted twice, a decision moved into
another member's tag, a rejection outvoted, an approval past its review date, a report that
is about another version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from governance.board.approval import (
    REPORT_TAG,
    ApprovalError,
    approval_problems,
    decision_tags,
    promote,
    revocations_of,
    verify_serving_version,
)
from governance.board.review import ReviewError, record_revocation, review_status
from governance.board.verdict import embed_verdict
from governance.contracts.revocation import (
    Revocation,
    SignedRevocation,
    sign_revocation,
    write_revocation_file,
)
from governance.contracts.roster import BoardMember, BoardSettings, add_months
from governance.contracts.settings import GovernanceConfig
from governance.contracts.signing import (
    Decision,
    generate_keypair,
    load_private_key,
    sign_decision,
)
from tests.governance.test_approval import NAME, Board

MEMBERS = ("alice", "bob", "carol")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Roster:
    """A :class:`Board` registry and log, with three member keys and a 2-of-3 roster."""

    def __init__(self, root: Path, quorum: int = 2) -> None:
        self.board = Board(root)
        self.keys: dict[str, Path] = {}
        members = []
        for member in MEMBERS:
            self.keys[member] = root / f"{member}.pem"
            public = generate_keypair(self.keys[member], root / f"{member}.pub")
            members.append(BoardMember(id=member, name=member.title(), public_key_b64=public))
        self.settings = BoardSettings(members=tuple(members), quorum=quorum)

    def review(self, version: str, member: str, decision: str = "approve", **kw: Any) -> Decision:
        return self.board.review(
            version,
            decision,
            signing_key=kw.pop("signing_key", self.keys[member]),
            board=self.settings,
            now=kw.pop("now", NOW),
            **kw,
        )

    def problems(self, version: str, now: datetime = NOW) -> list[str]:
        with pytest.raises(ApprovalError) as caught:
            self.promote(version, now)
        return caught.value.problems

    def promote(self, version: str, now: datetime = NOW) -> None:
        info = self.board.registry.version(NAME, version)
        promote(self.board.registry, self.board.log, info, self.settings, actor="t", now=now)


@pytest.fixture
def roster(tmp_path: Path) -> Roster:
    return Roster(tmp_path)


def _text(problems: list[str]) -> str:
    return " | ".join(problems)


def test_two_members_approve_and_the_reviewers_are_their_roster_names(roster: Roster) -> None:
    version = roster.board.new_version()
    first = roster.review(version, "alice")
    assert (first.member, first.reviewer) == ("alice", "Alice")
    assert first.valid_until == add_months(NOW.date(), 12).isoformat() == "2027-03-01"
    assert "2 of 3 board members must approve, have 1: alice" in roster.problems(version)
    roster.review(version, "bob")
    roster.promote(version)
    entry = roster.board.log.entries()[-1]["details"]
    assert entry["decided_by"] == ["Alice", "Bob"] and entry["valid_until"] == "2027-03-01"


def test_one_approval_when_the_quorum_is_two_is_refused(roster: Roster) -> None:
    version = roster.board.new_version()
    roster.review(version, "alice")
    assert "2 of 3 board members must approve, have 1: alice" in roster.problems(version)


def test_a_member_counts_once_however_often_they_decide(roster: Roster) -> None:
    version = roster.board.new_version()
    roster.review(version, "alice")
    roster.review(version, "alice", now=NOW + timedelta(hours=1))
    assert "2 of 3 board members must approve, have 1: alice" in roster.problems(version)
    # alice's signed decision copied into bob's tags: a decision moved from another member
    tags = roster.board.registry.version(NAME, version).tags
    alice, bob = decision_tags("alice"), decision_tags("bob")
    roster.board.registry.set_tags(NAME, version, {bob[0]: tags[alice[0]], bob[1]: tags[alice[1]]})
    problems = roster.problems(version)
    assert any("names member 'alice'" in p for p in problems), problems
    assert "2 of 3 board members must approve, have 1: alice" in problems


def test_a_key_not_on_the_roster_cannot_sign_or_be_counted(roster: Roster, tmp_path: Path) -> None:
    version = roster.board.new_version()
    outsider = tmp_path / "outsider.pem"
    generate_keypair(outsider, tmp_path / "outsider.pub")
    with pytest.raises(ReviewError, match="members: alice, bob, carol"):
        roster.review(version, "alice", signing_key=outsider)
    assert roster.board.log.entries() == []
    # a decision forged to name bob, signed with the outsider's key, written to bob's tags
    roster.review(version, "alice")
    mine = json.loads(roster.board.registry.version(NAME, version).tags[decision_tags("alice")[0]])
    forged = Decision(**{**mine, "waived_gates": (), "member": "bob", "reviewer": "Bob"})
    signature = sign_decision(forged, load_private_key(outsider))
    roster.board.registry.set_tags(
        NAME,
        version,
        {decision_tags("bob")[0]: json.dumps(asdict(forged)), decision_tags("bob")[1]: signature},
    )
    problems = roster.problems(version)
    assert any("does not verify with the key of member 'bob'" in p for p in problems), problems
    assert "2 of 3 board members must approve, have 1: alice" in problems


def test_a_reviewer_name_must_be_the_signing_members(roster: Roster) -> None:
    version = roster.board.new_version()
    with pytest.raises(ReviewError, match="roster name 'Alice' is recorded as the reviewer"):
        roster.review(version, "alice", reviewer="Somebody Else")
    assert roster.review(version, "alice", reviewer="Alice").reviewer == "Alice"


def test_one_members_rejection_is_a_veto(roster: Roster) -> None:
    version = roster.board.new_version()
    roster.review(version, "alice")
    roster.review(version, "bob")
    roster.review(version, "carol", "reject", reasons="Calibration poor for a small group.")
    problems = roster.problems(version)
    assert any("Carol rejected this version" in p and "veto" in p for p in problems), problems


def test_an_approval_lapses_after_its_earliest_review_date(roster: Roster) -> None:
    version = roster.board.new_version()
    roster.review(version, "alice", valid_until=date(2026, 6, 30))
    roster.review(version, "bob")  # a year
    on_the_day = datetime(2026, 6, 30, 23, 59, tzinfo=UTC)
    after = on_the_day + timedelta(minutes=1)
    assert "the approval lapsed on 2026-06-30 (review date of Alice)" in _text(
        roster.problems(version, after)
    )
    roster.promote(version, on_the_day)


def test_review_dates_in_the_past_or_too_far_ahead_are_refused(roster: Roster) -> None:
    version = roster.board.new_version()
    with pytest.raises(ReviewError, match=r"--valid-until: 2026-02-28 is in the past"):
        roster.review(version, "alice", valid_until=date(2026, 2, 28))
    with pytest.raises(ReviewError, match=r"at most 36 months ahead"):
        roster.review(version, "alice", valid_until=date(2029, 3, 2))
    assert roster.board.log.entries() == []


def test_a_report_about_another_version_is_refused(roster: Roster) -> None:
    version = roster.board.new_version()
    info = roster.board.registry.version(NAME, version)
    html = embed_verdict("<html></html>", {"model": NAME, "version": "99", "gates": []})
    roster.board.registry.log_artifacts(info, {"report.html": html.encode()})
    roster.board.registry.set_tags(
        NAME, version, {REPORT_TAG: hashlib.sha256(html.encode()).hexdigest()}
    )
    assert f"the report is about {NAME} version 99, not {NAME} version {version}" in (
        roster.problems(version)
    )


def test_review_status_shows_each_member(roster: Roster) -> None:
    version = roster.board.new_version()
    roster.review(version, "alice")
    row = review_status(roster.board.registry, NAME, roster.settings)[0]
    by_member = {m["member"]: m for m in row["members"]}
    assert by_member["alice"]["decision"] == "approve"
    assert by_member["alice"]["signature"] == "valid"
    assert by_member["bob"]["decision"] is None


# -- the roster in the governance config -------------------------------------------------------


def _member(member_id: str, key: str) -> dict[str, str]:
    return {"id": member_id, "name": member_id.title(), "public_key_b64": key}


@pytest.mark.parametrize(
    ("board", "message"),
    [
        ({"members": [], "quorum": 1}, "members"),
        ({"members": [_member("Alice!", "K")], "quorum": 1}, "id"),
        ({"members": [_member("alice", "bm90IGEga2V5")]}, "decodes to 9 bytes"),
        ({"members": [_member("alice", "K"), _member("alice", "L")]}, "ids must be unique"),
        ({"members": [_member("alice", "K")], "quorum": 2}, "board.quorum: 2 is more than"),
        ({"members": [_member("alice", "K")], "quorum": 0}, "quorum"),
    ],
)
def test_a_bad_roster_is_refused_naming_the_field(
    tmp_path: Path, board: dict[str, Any], message: str
) -> None:
    keys = {
        "K": generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub"),
        "L": generate_keypair(tmp_path / "l.pem", tmp_path / "l.pub"),
    }
    for member in board["members"]:
        member["public_key_b64"] = keys.get(member["public_key_b64"], member["public_key_b64"])
    with pytest.raises(ValidationError, match=message):
        GovernanceConfig.model_validate({"board": board})


def test_the_older_single_key_is_a_roster_of_one(tmp_path: Path) -> None:
    key = generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub")
    roster = GovernanceConfig(board_public_key_b64=key).board_roster()
    assert roster is not None and roster.ids == ["board"] and roster.quorum == 1
    assert GovernanceConfig().board_roster() is None
    both = {"board_public_key_b64": key, "board": {"members": [_member("alice", key)]}}
    with pytest.raises(ValidationError, match="both set"):
        GovernanceConfig.model_validate(both)
    with pytest.raises(ValidationError, match="board_public_key_b64: decodes to 9 bytes"):
        GovernanceConfig(board_public_key_b64="bm90IGEga2V5")
    text = yaml.safe_dump({"board": {"members": [_member("alice", key)], "quorum": 1}})
    assert GovernanceConfig.model_validate(yaml.safe_load(text)).board_roster() is not None


def test_a_review_date_or_member_changed_after_signing_breaks_the_signature(
    roster: Roster,
) -> None:
    version = roster.board.new_version()
    signed = roster.review(version, "alice")
    tag = decision_tags("alice")[0]
    for change in ({"valid_until": "2036-01-01"}, {"member": "bob"}):
        edited = {**asdict(signed), **change}
        roster.board.registry.set_tags(NAME, version, {tag: json.dumps(edited)})
        problems = roster.problems(version)
        assert any("approval does not verify" in p or "names member" in p for p in problems)
    stretched = replace(signed, valid_until="2036-01-01")
    assert stretched.payload() != signed.payload() and b'"valid_until"' in signed.payload()


# -- revocation ---------------------------------------------------------------------------------


def _revoke(roster: Roster, version: str, member: str, root: Path, **kw: Any) -> Path:
    _, _, path = record_revocation(
        roster.board.registry,
        roster.board.log,
        roster.board.registry.version(NAME, version),
        reasons=kw.pop("reasons", "A data-sharing agreement was withdrawn."),
        signing_key=kw.pop("signing_key", roster.keys[member]),
        board=roster.settings,
        revocations_dir=root / "revocations",
        now=kw.pop("now", NOW + timedelta(days=1)),
    )
    return path


def _promote_problems(roster: Roster, version: str, root: Path) -> list[str]:
    info = roster.board.registry.version(NAME, version)
    problems, _ = approval_problems(
        roster.board.registry,
        info,
        roster.settings,
        now=NOW + timedelta(days=2),
        revocations_dir=root / "revocations",
    )
    return problems


def test_one_members_revocation_withdraws_the_approval_at_promote_and_release(
    roster: Roster, tmp_path: Path
) -> None:
    version = roster.board.new_version()
    roster.review(version, "alice")
    roster.review(version, "bob")
    roster.promote(version)
    path = _revoke(roster, version, "carol", tmp_path)
    assert path.parent == tmp_path / "revocations" and path.is_file()
    assert not list(path.parent.glob("*.tmp"))
    withdrawn = "the approval was revoked by Carol"
    assert withdrawn in _text(_promote_problems(roster, version, tmp_path))
    with pytest.raises(ApprovalError) as caught:
        verify_serving_version(
            roster.board.registry,
            NAME,
            roster.settings,
            now=NOW + timedelta(days=2),
            revocations_dir=tmp_path / "revocations",
        )
    assert withdrawn in _text(caught.value.problems)
    events = [e["event"] for e in roster.board.log.entries()]
    assert events[-1] == "review.revocation" and roster.board.log.verify().ok
    # the file alone suffices (tags removed), and the tags alone (file removed)
    tags = [k for k in roster.board.registry.version(NAME, version).tags if "revocation" in k]
    roster.board.registry.delete_tags(NAME, version, tags)
    assert withdrawn in _text(_promote_problems(roster, version, tmp_path))
    path.unlink()
    assert withdrawn not in _text(_promote_problems(roster, version, tmp_path))
    _revoke(roster, version, "carol", tmp_path)
    path.unlink()
    assert withdrawn in _text(_promote_problems(roster, version, tmp_path))


def test_the_board_can_approve_again_after_a_revocation(roster: Roster, tmp_path: Path) -> None:
    version = roster.board.new_version()
    roster.review(version, "alice")
    roster.review(version, "bob")
    _revoke(roster, version, "alice", tmp_path)
    later = NOW + timedelta(days=1, hours=1)
    roster.review(version, "alice", now=later)
    assert "have 1: alice" in _text(_promote_problems(roster, version, tmp_path))
    roster.review(version, "bob", now=later)
    assert _promote_problems(roster, version, tmp_path) == []


def test_a_revocation_not_signed_by_a_member_is_ignored_and_reported(
    roster: Roster, tmp_path: Path
) -> None:
    version = roster.board.new_version()
    roster.review(version, "alice")
    roster.review(version, "bob")
    outsider = tmp_path / "outsider.pem"
    generate_keypair(outsider, tmp_path / "outsider.pub")
    with pytest.raises(ReviewError, match="not the key of any member"):
        _revoke(roster, version, "carol", tmp_path, signing_key=outsider)
    # forged: a revocation naming carol, signed with the outsider's key, dropped in the directory
    report = roster.board.registry.version(NAME, version).tags[REPORT_TAG]
    forged = Revocation(NAME, version, report, "carol", "forged", "2026-03-02T00:00:00+00:00")
    signature = sign_revocation(forged, load_private_key(outsider))
    write_revocation_file(tmp_path / "revocations", SignedRevocation(forged, signature))
    assert _promote_problems(roster, version, tmp_path) == []
    revoked, ignored = revocations_of(
        roster.board.registry.version(NAME, version), roster.settings, tmp_path / "revocations"
    )
    assert revoked == []
    assert ignored == [
        f"a revocation of {NAME} version {version} by 'carol' does not verify with the "
        "member's key; ignored"
    ]


def test_the_audit_log_checks_each_decision_with_its_members_key(roster: Roster) -> None:
    version = roster.board.new_version()
    roster.review(version, "alice")
    roster.review(version, "bob")
    result = roster.board.log.verify(board_public_key_b64=roster.settings)
    assert result.ok and result.signed_entries == 2
    without_bob = BoardSettings(members=roster.settings.members[:1] + roster.settings.members[2:])
    result = roster.board.log.verify(board_public_key_b64=without_bob)
    assert not result.ok
    assert any("names 'bob', who is not on the roster" in p for p in result.problems)


def test_the_audit_log_checks_each_revocation_with_its_members_key(
    roster: Roster, tmp_path: Path
) -> None:
    version = roster.board.new_version()
    roster.review(version, "alice")
    _revoke(roster, version, "carol", tmp_path)
    result = roster.board.log.verify(board_public_key_b64=roster.settings)
    assert result.ok and result.signed_entries == 2
    # a roster on which carol's key is another: her logged revocation no longer verifies
    other = generate_keypair(tmp_path / "forger.pem", tmp_path / "forger.pub")
    members = [
        m if m.id != "carol" else BoardMember(id="carol", name="Carol", public_key_b64=other)
        for m in roster.settings.members
    ]
    result = roster.board.log.verify(board_public_key_b64=BoardSettings(members=tuple(members)))
    assert not result.ok
    [problem] = result.problems
    assert problem.startswith("entry ") and "embedded signature does not verify" in problem
    gone = BoardSettings(members=tuple(m for m in roster.settings.members if m.id != "carol"))
    result = roster.board.log.verify(board_public_key_b64=gone)
    assert any(
        "the revocation names 'carol', who is not on the roster" in p for p in result.problems
    )
