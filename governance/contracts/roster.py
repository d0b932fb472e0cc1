"""The ethics board's roster: its members' public keys and how many must approve.

A decision is signed by one member's key and names the member (``Decision.member``); it
counts only if the member is on the roster and the signature verifies with that member's
public key. A version is approved when at least ``quorum`` distinct members have a valid,
current approve decision on it, none has a current rejection (one member's rejection is a
veto: a board that disagrees has not approved), and the earliest review date
(``valid_until``) among the counted approvals has not passed.

The roster lives in the governance config (``board:``). A config that still has only the
older single ``board_public_key_b64`` means a roster of one member, id ``board``, quorum 1
(:meth:`BoardSettings.single`). The quorum rule is here, in the contracts layer, because
both promotion (:mod:`governance.board.approval`) and the server's check of a release
(:func:`governance.contracts.release_schema.verify_manifest`) apply it.
"""

from __future__ import annotations

import base64
import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from governance.contracts.signing import (
    Decision,
    SignatureError,
    load_public_key_b64,
    verify_decision,
)

__all__ = [
    "LEGACY_MEMBER",
    "BoardMember",
    "BoardSettings",
    "SignedDecision",
    "add_months",
    "quorum_problems",
    "verified_decisions",
]

#: the member id a config with only ``board_public_key_b64`` gives its one key
LEGACY_MEMBER = "board"
_NOT_ON_ROSTER = (
    "the signing key is not the key of any member of the board's roster "
    "(members: {ids}); use your own member key, or add its public half to `board.members`"
)
_UNKNOWN_MEMBER = "{who}'s decision names member {member!r}, who is not on the roster ({ids})"
_BAD_SIGNATURE = (
    "approval does not verify: the signature of {who}'s decision does not verify with the "
    "key of member {member!r}: {err}"
)
_NO_REVIEW_DATE = (
    "{who}'s decision has no review date or member (signed before decisions lapsed): "
    "the board must review the version again"
)
_VETO = "{who} rejected this version ({reasons}): one member's rejection is a veto"
_QUORUM = "{quorum} of {members} board members must approve, have {count}{names}"
_REVOKED = (
    "the approval was revoked by {who} at {at} ({reasons}): one member's signed revocation "
    "withdraws it; the board must approve the version again"
)
_LAPSED = (
    "the approval lapsed on {until} (review date of {who}): the board must review the "
    "version again (`vru review`)"
)


@dataclass(frozen=True)
class SignedDecision:
    """One member's decision and its signature, as recorded on a version or in a release."""

    decision: Decision
    signature: str


class BoardMember(BaseModel):
    """One member of the board: an id for tags and files, a name shown as the reviewer, a key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=64, description="Roster id.")
    name: str = Field(min_length=1, max_length=200, description="Shown as the reviewer.")
    public_key_b64: str = Field(description="`vru keys board-init` prints it.")

    @field_validator("public_key_b64")
    @classmethod
    def _key(cls, value: str) -> str:
        """A valid base64 of a 32-byte Ed25519 public key (the error names the field)."""
        try:
            load_public_key_b64(value, field="board.members[].public_key_b64")
        except SignatureError as err:
            raise ValueError(str(err)) from None
        return value.strip()


class BoardSettings(BaseModel):
    """``board:`` in the governance config: the roster, the quorum and the review rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    members: tuple[BoardMember, ...] = Field(min_length=1)
    quorum: int = Field(default=1, ge=1, description="Distinct members who must approve.")
    review_months: int = Field(
        default=12, ge=1, le=36, description="Default months until a decision's review date."
    )
    max_review_months: int = Field(
        default=36, ge=1, description="The latest review date a member may set, in months."
    )
    grace_days: int = Field(
        default=14,
        ge=0,
        description="Days the server goes on serving a release after its approval lapsed "
        "(with a warning header), before refusing it.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Unique ids and keys; a quorum the roster can reach."""
        ids = [m.id for m in self.members]
        if len(set(ids)) != len(ids):
            raise ValueError(f"board.members: ids must be unique, got {ids}")
        keys = [m.public_key_b64 for m in self.members]
        if len(set(keys)) != len(keys):
            raise ValueError("board.members: two members share a public key")
        if self.quorum > len(self.members):
            raise ValueError(
                f"board.quorum: {self.quorum} is more than the {len(self.members)} members"
            )
        return self

    @classmethod
    def single(cls, public_key_b64: str) -> BoardSettings:
        """The roster an older config means: its one board key, id ``board``, quorum 1."""
        member = BoardMember(id=LEGACY_MEMBER, name=LEGACY_MEMBER, public_key_b64=public_key_b64)
        return cls(members=(member,), quorum=1)

    @property
    def ids(self) -> list[str]:
        """The members' ids, in roster order."""
        return [m.id for m in self.members]

    def member(self, member_id: str) -> BoardMember | None:
        """The member with this id, or None."""
        return next((m for m in self.members if m.id == member_id), None)

    def signer(self, private_key: Ed25519PrivateKey) -> BoardMember:
        """The member whose public key is the public half of ``private_key``.

        Raises
        ------
        SignatureError
            If no member has that key; the message names the roster's ids, never a key.
        """
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        public = base64.b64encode(raw).decode("ascii")
        for member in self.members:
            if member.public_key_b64 == public:
                return member
        raise SignatureError(_NOT_ON_ROSTER.format(ids=", ".join(self.ids)))


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _who(roster: BoardSettings, decision: Decision) -> str:
    member = roster.member(decision.member)
    return member.name if member is not None else (decision.member or decision.reviewer)


def _valid_member_decisions(
    decisions: Sequence[SignedDecision], roster: BoardSettings
) -> tuple[dict[str, Decision], list[str]]:
    """The decisions from roster members whose signature verifies (by member), and problems."""
    valid: dict[str, Decision] = {}
    problems: list[str] = []
    for signed in decisions:
        decision = signed.decision
        who = decision.reviewer
        if not decision.member or not decision.valid_until:
            problems.append(_NO_REVIEW_DATE.format(who=who))
            continue
        member = roster.member(decision.member)
        if member is None:
            problems.append(
                _UNKNOWN_MEMBER.format(who=who, member=decision.member, ids=", ".join(roster.ids))
            )
            continue
        try:
            verify_decision(decision, signed.signature, member.public_key_b64)
        except SignatureError as err:
            problems.append(_BAD_SIGNATURE.format(who=who, member=member.id, err=err))
            continue
        if member.id in valid and valid[member.id].decided_at >= decision.decided_at:
            continue  # a member counts once: their newest decision stands
        valid[member.id] = decision
    return valid, problems


def verified_decisions(
    decisions: Sequence[SignedDecision], roster: BoardSettings
) -> tuple[list[SignedDecision], list[str]]:
    """The decisions signed by the roster member each names (one per member, their newest).

    Every other decision is a problem in words: no member or review date, a member not on
    the roster, a signature that does not verify with the member's key.
    """
    valid, problems = _valid_member_decisions(decisions, roster)
    kept = [s for s in decisions if valid.get(s.decision.member) is s.decision]
    return kept, problems


def _withdrawn(
    valid: dict[str, Decision], revoked: Sequence[tuple[str, str, str]], roster: BoardSettings
) -> list[str]:
    """A problem for each revocation that withdraws decisions made before it."""
    if not revoked:
        return []
    return [
        _REVOKED.format(who=_who_id(roster, member), at=at, reasons=reasons)
        for at, member, reasons in sorted(revoked)
        if any(_t(d.decided_at) <= _t(at) for d in valid.values())
    ]


def _t(text: str) -> datetime:
    """An ISO-8601 time with its offset, to compare times written in different forms."""
    return datetime.fromisoformat(text)


def _who_id(roster: BoardSettings, member_id: str) -> str:
    member = roster.member(member_id)
    return member.name if member is not None else member_id


def quorum_problems(
    decisions: Sequence[SignedDecision],
    roster: BoardSettings,
    now: datetime,
    revoked: Sequence[tuple[str, str, str]] = (),
) -> tuple[list[str], list[SignedDecision]]:
    """Whether ``decisions`` (already about this version and report) make a board approval.

    Parameters
    ----------
    decisions
        Every member decision recorded for the version, for its current report.
    roster
        The board's roster from the governance config.
    now
        The time to judge lapse at (a parameter so tests fix it).
    revoked
        ``(revoked_at, member, reasons)`` of each verified revocation of the version: every
        decision made at or before the latest one is withdrawn (one member's revocation
        suffices; the board approves again with new decisions).

    Returns
    -------
    tuple
        Every unmet condition in words (empty when approved), and the counted approvals.
    """
    valid, problems = _valid_member_decisions(decisions, roster)
    withdrawn = _withdrawn(valid, revoked, roster)
    problems += withdrawn
    if withdrawn:
        latest = max(_t(r[0]) for r in revoked)
        valid = {m: d for m, d in valid.items() if _t(d.decided_at) > latest}
    for decision in valid.values():
        if decision.decision == "reject":
            problems.append(_VETO.format(who=_who(roster, decision), reasons=decision.reasons))
    approvals = {m: d for m, d in valid.items() if d.decision == "approve"}
    if len(approvals) < roster.quorum:
        names = ": " + ", ".join(sorted(approvals)) if approvals else ""
        problems.append(
            _QUORUM.format(
                quorum=roster.quorum,
                members=len(roster.members),
                count=len(approvals),
                names=names,
            )
        )
    for decision in approvals.values():
        if now.date() > date.fromisoformat(decision.valid_until):
            problems.append(_LAPSED.format(until=decision.valid_until, who=_who(roster, decision)))
    counted = [s for s in decisions if approvals.get(s.decision.member) is s.decision]
    return problems, counted
