"""The board's quorum rule attacked directly (found by mutation testing, `make mutation`).

Each test is a change an attacker or a careless edit could make to
:mod:`governance.contracts.roster` and what must then be refused: one member counted twice,
an outsider's or a forged signature counted, a rejection outvoted or replaced by an older
approval, an approval read on the day after its review date, a decision made at the moment
of a revocation surviving it, a roster that cannot reach its quorum. Pure functions: no
registry, so each runs in milliseconds.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from governance.contracts.roster import (
    LEGACY_MEMBER,
    BoardMember,
    BoardSettings,
    SignedDecision,
    add_months,
    quorum_problems,
    verified_decisions,
)
from governance.contracts.signing import Decision, SignatureError, sign_decision

REPORT = "ab" * 32
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEYS = {m: Ed25519PrivateKey.generate() for m in ("alice", "bob", "carol", "mallory")}


def _public(member: str) -> str:
    raw = (
        KEYS[member]
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode("ascii")


def _roster(quorum: int = 2, **settings: Any) -> BoardSettings:
    members = tuple(
        BoardMember(id=m, name=m.title(), public_key_b64=_public(m))
        for m in ("alice", "bob", "carol")
    )
    return BoardSettings(members=members, quorum=quorum, **settings)


def _signed(who: str, decision: str = "approve", **changes: Any) -> SignedDecision:
    member = who
    key = KEYS[changes.pop("key", member)]
    fields: dict[str, Any] = {
        "model": "vru-risk",
        "version": "3",
        "report_sha256": REPORT,
        "decision": decision,
        "reviewer": member.title(),
        "reasons": "Gaps within limits.",
        "decided_at": "2026-02-01T09:00:00+00:00",
        "member": member,
        "valid_until": "2026-12-31",
    }
    made = Decision(**{**fields, **changes})
    return SignedDecision(made, sign_decision(made, key))


def _problems(*decisions: SignedDecision, quorum: int = 2, **kw: Any) -> list[str]:
    return quorum_problems(decisions, _roster(quorum), kw.pop("now", NOW), **kw)[0]


# -- quorum ----------------------------------------------------------------------------------


def test_two_members_approving_meet_a_quorum_of_two_and_are_counted() -> None:
    alice, bob = _signed("alice"), _signed("bob")
    problems, counted = quorum_problems([alice, bob], _roster(), NOW)
    assert problems == []
    assert counted == [alice, bob]


def test_one_approval_is_refused_naming_the_quorum_and_who_approved() -> None:
    assert _problems(_signed("alice")) == ["2 of 3 board members must approve, have 1: alice"]


def test_a_refusal_names_every_member_who_approved() -> None:
    problems = _problems(_signed("bob"), _signed("alice"), quorum=3)
    assert problems == ["3 of 3 board members must approve, have 2: alice, bob"]


def test_no_approval_at_all_names_no_one() -> None:
    assert _problems(quorum=1) == ["1 of 3 board members must approve, have 0"]


def test_a_member_approving_twice_counts_once() -> None:
    first = _signed("alice", decided_at="2026-02-01T09:00:00+00:00")
    again = _signed("alice", decided_at="2026-02-02T09:00:00+00:00")
    problems, counted = quorum_problems([first, again], _roster(), NOW)
    assert problems == ["2 of 3 board members must approve, have 1: alice"]
    assert counted == [again]


def test_a_members_newest_decision_stands_in_either_order() -> None:
    approve = _signed("alice", decided_at="2026-02-01T09:00:00+00:00")
    reject = _signed("alice", "reject", decided_at="2026-02-02T09:00:00+00:00")
    for order in ([approve, reject], [reject, approve]):
        problems = _problems(*order, _signed("bob"))
        assert "Alice rejected this version (Gaps within limits.)" in problems[0]
    later = _signed("alice", decided_at="2026-02-03T09:00:00+00:00")
    assert _problems(reject, later, _signed("bob")) == []
    assert _problems(later, reject, _signed("bob")) == []


def test_of_two_decisions_at_the_same_time_the_first_recorded_stands() -> None:
    approve = _signed("alice")
    reject = _signed("alice", "reject")
    kept, _ = verified_decisions([approve, reject], _roster())
    assert kept == [approve]


def test_one_rejection_vetoes_a_quorum() -> None:
    problems = _problems(_signed("alice"), _signed("bob"), _signed("carol", "reject"))
    assert problems == [
        "Carol rejected this version (Gaps within limits.): one member's rejection is a veto"
    ]


# -- who may sign ----------------------------------------------------------------------------


def test_a_decision_by_someone_not_on_the_roster_is_named_and_not_counted() -> None:
    problems = _problems(_signed("mallory"), _signed("alice"))
    assert problems[0] == (
        "Mallory's decision names member 'mallory', who is not on the roster (alice, bob, carol)"
    )
    assert problems[1] == "2 of 3 board members must approve, have 1: alice"


def test_a_decision_signed_with_another_members_key_is_forged() -> None:
    problems = _problems(_signed("alice"), _signed("bob", key="alice"))
    assert problems[0].startswith(
        "approval does not verify: the signature of Bob's decision does not verify with the "
        "key of member 'bob': signature does not verify"
    )
    assert problems[1] == "2 of 3 board members must approve, have 1: alice"


def test_a_decision_without_member_or_review_date_counts_for_nothing() -> None:
    old = _signed("alice", **{"member": "", "valid_until": ""})
    problems = _problems(old, _signed("bob"))
    assert problems[0] == (
        "Alice's decision has no review date or member (signed before decisions lapsed): "
        "the board must review the version again"
    )
    assert problems[1] == "2 of 3 board members must approve, have 1: bob"


def test_verified_decisions_keeps_one_per_member_and_names_the_rest() -> None:
    alice = _signed("alice", decided_at="2026-02-02T09:00:00+00:00")
    older = _signed("alice")
    forged = _signed("bob", key="mallory")
    kept, problems = verified_decisions([older, alice, forged, _signed("mallory")], _roster())
    assert kept == [alice]
    assert len(problems) == 2
    assert "Bob's decision does not verify" in problems[0]
    assert "not on the roster" in problems[1]


# -- review dates ----------------------------------------------------------------------------


def test_an_approval_holds_on_its_review_date_and_lapses_the_day_after() -> None:
    decisions = (_signed("alice"), _signed("bob", valid_until="2026-06-30"))
    on_the_day = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    assert _problems(*decisions, now=on_the_day) == []
    after = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)
    assert _problems(*decisions, now=after) == [
        "the approval lapsed on 2026-06-30 (review date of Bob): the board must review the "
        "version again (`vru review`)"
    ]


# -- revocation ------------------------------------------------------------------------------


def test_a_revocation_withdraws_decisions_made_at_or_before_it() -> None:
    at = "2026-02-01T09:00:00+00:00"
    revoked = [(at, "carol", "A data-sharing agreement was withdrawn.")]
    problems, counted = quorum_problems(
        [_signed("alice", decided_at=at), _signed("bob")], _roster(), NOW, revoked
    )
    assert problems == [
        "the approval was revoked by Carol at 2026-02-01T09:00:00+00:00 (A data-sharing "
        "agreement was withdrawn.): one member's signed revocation withdraws it; the board "
        "must approve the version again",
        "2 of 3 board members must approve, have 0",
    ]
    assert counted == []


def test_decisions_after_the_latest_revocation_count_again() -> None:
    revoked = [
        ("2026-02-01T10:00:00+00:00", "carol", "first"),
        ("2026-02-05T10:00:00+00:00", "bob", "second"),
    ]
    middle = {"decided_at": "2026-02-03T09:00:00+00:00"}
    after = {"decided_at": "2026-02-06T09:00:00+00:00"}
    decisions = (_signed("alice", **after), _signed("bob", **middle), _signed("carol"))
    problems = _problems(*decisions, revoked=revoked)
    assert len(problems) == 3
    assert problems[0].startswith("the approval was revoked by Carol at 2026-02-01T10:00:00")
    assert problems[1].startswith("the approval was revoked by Bob at 2026-02-05T10:00:00")
    assert problems[2] == "2 of 3 board members must approve, have 1: alice"
    assert _problems(_signed("alice", **after), _signed("bob", **after), revoked=revoked) == []


def test_times_in_other_offsets_are_compared_as_instants() -> None:
    # 10:00+02:00 is 08:00 UTC: before the 09:00 UTC decisions, so it withdraws nothing
    revoked = [("2026-02-01T10:00:00+02:00", "carol", "why")]
    assert _problems(_signed("alice"), _signed("bob"), revoked=revoked) == []


def test_a_revocation_by_someone_off_the_roster_is_named_by_their_id() -> None:
    revoked = [("2026-02-02T09:00:00+00:00", "zed", "why")]
    problems = _problems(_signed("alice"), _signed("bob"), revoked=revoked)
    assert problems[0].startswith("the approval was revoked by zed at")


# -- the roster itself -----------------------------------------------------------------------


def test_the_roster_defaults_are_documented() -> None:
    roster = BoardSettings(members=_roster().members)
    assert (roster.quorum, roster.review_months, roster.max_review_months) == (1, 12, 36)
    assert roster.grace_days == 14
    assert roster.ids == ["alice", "bob", "carol"]
    assert roster.member("bob") is roster.members[1]
    assert roster.member("zed") is None


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"quorum": 0}, "quorum"),
        ({"review_months": 0}, "review_months"),
        ({"review_months": 37}, "review_months"),
        ({"max_review_months": 0}, "max_review_months"),
        ({"grace_days": -1}, "grace_days"),
    ],
)
def test_review_settings_out_of_range_are_refused(settings: dict[str, int], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        _roster(**{"quorum": 1, **settings})


def test_the_settings_range_limits_are_allowed() -> None:
    roster = _roster(quorum=3, review_months=36, max_review_months=1, grace_days=0)
    assert roster.quorum == 3
    assert _roster(quorum=1, review_months=1).review_months == 1


def test_a_quorum_the_roster_cannot_reach_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"board\.quorum: 4 is more than the 3 members"):
        _roster(quorum=4)


def test_duplicate_ids_and_shared_keys_are_refused() -> None:
    alice = BoardMember(id="alice", name="A", public_key_b64=_public("alice"))
    twin = BoardMember(id="alice", name="B", public_key_b64=_public("bob"))
    with pytest.raises(ValidationError, match=r"ids must be unique, got \['alice', 'alice'\]"):
        BoardSettings(members=(alice, twin))
    copy = BoardMember(id="bob", name="B", public_key_b64=_public("alice"))
    with pytest.raises(ValidationError, match="two members share a public key"):
        BoardSettings(members=(alice, copy))


def test_a_members_bad_key_is_refused_naming_the_field_and_whitespace_is_trimmed() -> None:
    with pytest.raises(ValidationError, match=r"board\.members\[\]\.public_key_b64"):
        BoardMember(id="alice", name="A", public_key_b64="not base64!")
    member = BoardMember(id="alice", name="A", public_key_b64=f"  {_public('alice')}\n")
    assert member.public_key_b64 == _public("alice")


def test_the_older_single_key_is_a_roster_of_one_named_board() -> None:
    roster = BoardSettings.single(_public("alice"))
    assert roster.ids == [LEGACY_MEMBER] == ["board"]
    assert roster.members[0].name == "board"
    assert roster.quorum == 1


def test_the_signer_is_found_by_key_and_an_outsider_is_refused() -> None:
    roster = _roster()
    assert roster.signer(KEYS["bob"]).id == "bob"
    with pytest.raises(SignatureError) as caught:
        roster.signer(KEYS["mallory"])
    assert str(caught.value) == (
        "the signing key is not the key of any member of the board's roster (members: alice, "
        "bob, carol); use your own member key, or add its public half to `board.members`"
    )


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 11, 30), 2, date(2027, 1, 30)),
        (date(2026, 3, 1), 12, date(2027, 3, 1)),
        (date(2026, 3, 1), 36, date(2029, 3, 1)),
    ],
)
def test_add_months_moves_whole_calendar_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_a_changed_review_date_or_member_is_not_counted() -> None:
    alice = _signed("alice")
    moved = SignedDecision(
        dataclasses.replace(alice.decision, valid_until="2030-01-01"), alice.signature
    )
    problems = _problems(moved, _signed("bob"))
    assert "Alice's decision does not verify" in problems[0]
