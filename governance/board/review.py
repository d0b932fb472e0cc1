"""The ethics board's review: a signed decision on the exact report the reviewer read.

:func:`record_review` signs one board member's decision (model, version, report hash,
decision, time, review date, the member and their roster name as reviewer, reasons, waived
gates, and the SHA-256 of every file of the version's logged model, read through the
registry when the member decides) with the member's own private key, appends it to the audit
log and stores it, with its signature, as the member's tags on the model version.
:func:`record_revocation` records a member's signed revocation the same way, and as a file
the server reads. :func:`review_status` lists every version: audited or not, gates, each
member's decision on it and whether its signature still verifies, and which versions await
review.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board.approval import (
    REPORT_ARTIFACT,
    REPORT_TAG,
    as_roster,
    decision_tags,
    read_decision,
    read_decisions,
    revocation_tags,
)
from governance.board.audit_log import AuditLog
from governance.board.registry import ModelVersionInfo, Registry
from governance.board.revocation_log import REVOCATION_EVENT
from governance.board.verdict import audited_files_problem, read_verdict
from governance.contracts.errors import VruError
from governance.contracts.revocation import (
    Revocation,
    SignedRevocation,
    sign_revocation,
    write_revocation_file,
)
from governance.contracts.roster import BoardSettings, add_months
from governance.contracts.signing import (
    Decision,
    SignatureError,
    artifacts_digest,
    load_private_key,
    sign_decision,
    verify_decision,
)

__all__ = ["ReviewError", "record_review", "record_revocation", "review_status"]

MAX_REASONS = 2000
_NOT_AUDITED = (
    "{name} version {version} has no audit report; run `vru audit --model {name} "
    "--version {version}` and read the report before deciding"
)
_REPORT_CHANGED = (
    "{name} version {version}: the logged report hashes to {actual}, not to the tagged "
    "{tagged}; re-run the audit"
)
_UNKNOWN_GATE = "--waive: no gate named {gate!r} in the report; its gates: {names}"
_NO_BOARD = (
    "no board is configured (board, or board_public_key_b64, in the governance config): "
    "a decision cannot be checked against a roster"
)
_WRONG_REVIEWER = (
    "--reviewer: {given!r} is not the signing key's member; the key is {id!r}'s, whose "
    "roster name {name!r} is recorded as the reviewer (leave --reviewer out)"
)
_REVOKE_REASONS = "--reason: a revocation needs its reasons (1 to {n} characters)"
_PAST_DATE = "--valid-until: {given} is in the past (today is {today}, UTC)"
_FAR_DATE = (
    "--valid-until: {given} is after {latest}: a review date at most {months} months ahead "
    "(board.max_review_months)"
)
_LONG_REASONS = "--reason: at most {n} characters (got {got})"
_NO_MODEL_FILES = (
    "{name} version {version} has no logged model files to approve; a decision must name "
    "the model it is about"
)


class ReviewError(VruError, ValueError):
    """A review cannot be recorded (no audit, unknown gate, wrong key, ...)."""


def record_review(
    registry: Registry,
    log: AuditLog,
    info: ModelVersionInfo,
    *,
    decision: Literal["approve", "reject"],
    reasons: str,
    signing_key: Path | Ed25519PrivateKey,
    board: BoardSettings | str | None,
    reviewer: str | None = None,
    waive: tuple[str, ...] = (),
    valid_until: date | None = None,
    now: datetime | None = None,
) -> tuple[Decision, str]:
    """Sign and record one board member's decision on ``info``; nothing is written if a check fails.

    ``signing_key`` is the member's private key file, or the key itself already read (the
    board page reads it from the form, in memory, and never stores it). The member is the
    roster entry whose public key is the key's public half; the decision names them and its
    ``reviewer`` is their roster name. The member's decision replaces their earlier one.

    Parameters
    ----------
    board
        The roster (``GovernanceConfig.board_roster()``; a bare public key is a roster of one).
    reviewer
        Optional; if given it must be the signing member's roster name.
    valid_until
        The review date; default ``now`` plus the roster's ``review_months``. Not in the past,
        nor more than ``max_review_months`` ahead.

    Raises
    ------
    ReviewError, SignatureError
        If no board is configured, the key is unreadable or not a roster member's, the
        reviewer is not the member's name, the review date is out of range, the version has
        no (intact) audit report, a waived gate is not in it, the reasons are too long, or the
        version has no logged model files.
    """
    roster = as_roster(board)
    if roster is None:
        raise ReviewError(_NO_BOARD)
    report_hash, files = _checked_request(registry, info, reasons, waive)
    private = (
        signing_key if isinstance(signing_key, Ed25519PrivateKey) else load_private_key(signing_key)
    )
    try:
        member = roster.signer(private)
    except SignatureError as err:
        where = "the key given" if isinstance(signing_key, Ed25519PrivateKey) else signing_key
        raise ReviewError(f"--signing-key: {where}: {err}") from None
    if reviewer is not None and reviewer.strip() != member.name:
        raise ReviewError(_WRONG_REVIEWER.format(given=reviewer, name=member.name, id=member.id))
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    until = _review_date(roster, moment.date(), valid_until)
    signed = Decision(
        model=info.name,
        version=info.version,
        report_sha256=report_hash,
        decision=decision,
        reviewer=member.name,
        reasons=reasons,
        decided_at=moment.isoformat(timespec="seconds"),
        waived_gates=tuple(waive),
        model_artifacts=files,
        model_artifacts_sha256=artifacts_digest(files),
        member=member.id,
        valid_until=until.isoformat(),
    )
    signature = sign_decision(signed, private)
    _record(registry, log, info, signed, signature)
    return signed, signature


def _checked_request(
    registry: Registry, info: ModelVersionInfo, reasons: str, waive: tuple[str, ...]
) -> tuple[str, dict[str, str]]:
    """The intact report's hash and the model's files; refuse bad reasons or waivers."""
    report_hash, report = _intact_report(registry, info)
    if len(reasons) > MAX_REASONS:
        raise ReviewError(_LONG_REASONS.format(n=MAX_REASONS, got=len(reasons)))
    verdict = read_verdict(report.decode("utf-8"))
    gates = [g["figure"] for g in verdict["gates"]]
    for gate in waive:
        if gate not in gates:
            raise ReviewError(_UNKNOWN_GATE.format(gate=gate, names=gates))
    files = registry.model_files(info)
    if not files:
        raise ReviewError(_NO_MODEL_FILES.format(name=info.name, version=info.version))
    problem = audited_files_problem(verdict, files)
    if problem:
        raise ReviewError(f"{info.name} version {info.version}: {problem}")
    return report_hash, files


def _review_date(roster: BoardSettings, today: date, given: date | None) -> date:
    """The decision's review date: given (checked) or ``review_months`` from today."""
    if given is None:
        return add_months(today, roster.review_months)
    latest = add_months(today, roster.max_review_months)
    if given < today:
        raise ReviewError(_PAST_DATE.format(given=given, today=today))
    if given > latest:
        raise ReviewError(
            _FAR_DATE.format(given=given, latest=latest, months=roster.max_review_months)
        )
    return given


def _record(
    registry: Registry, log: AuditLog, info: ModelVersionInfo, signed: Decision, signature: str
) -> None:
    """Append the decision to the audit log, then store it in the member's tags."""
    log.append(
        "review.decision",
        {**asdict(signed), "waived_gates": list(signed.waived_gates), "signature": signature},
        actor=f"board:{signed.member}",
    )
    decision_tag, signature_tag = decision_tags(signed.member)
    registry.set_tags(
        info.name,
        info.version,
        {
            decision_tag: json.dumps(asdict(signed), sort_keys=True),
            signature_tag: signature,
            "review_decision": signed.decision,
            "review_reviewer": signed.reviewer,
            "review_decided_at": signed.decided_at,
        },
    )


def _intact_report(registry: Registry, info: ModelVersionInfo) -> tuple[str, bytes]:
    """The tagged report hash and the logged report, which must hash to it."""
    report_hash = info.tags.get(REPORT_TAG)
    if report_hash is None:
        raise ReviewError(_NOT_AUDITED.format(name=info.name, version=info.version))
    report = registry.read_artifact(info, REPORT_ARTIFACT)
    actual = hashlib.sha256(report).hexdigest()
    if actual != report_hash:
        raise ReviewError(
            _REPORT_CHANGED.format(
                name=info.name, version=info.version, actual=actual, tagged=report_hash
            )
        )
    return report_hash, report


def review_status(
    registry: Registry, name: str, board: BoardSettings | str | None
) -> list[dict[str, Any]]:
    """One row per version, newest first: audit, gates, the newest decision, awaiting.

    ``members`` gives each roster member's decision on it (or none) and its signature's state.
    """
    roster = as_roster(board)
    aliases = registry.aliases(name)
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append(alias)
    rows = []
    for info in reversed(registry.all_versions(name)):
        decision, signature, malformed = read_decision(info.tags)
        report = info.tags.get(REPORT_TAG)
        current = decision is not None and decision.report_sha256 == report
        rows.append(
            {
                "version": info.version,
                "aliases": sorted(by_version.get(info.version, [])),
                "audited": report is not None,
                "report_sha256": report,
                "gates_passed": info.tags.get("audit_gates_passed"),
                "decision": None if decision is None else decision.decision,
                "reviewer": None if decision is None else decision.reviewer,
                "decided_at": None if decision is None else decision.decided_at,
                "reasons": None if decision is None else decision.reasons,
                "decision_is_for_current_report": current,
                "signature": _signature_state(decision, signature, malformed, roster),
                "awaiting_review": report is not None and not current,
                "members": _member_rows(info, roster),
            }
        )
    return rows


def _member_rows(info: ModelVersionInfo, roster: BoardSettings | None) -> list[dict[str, Any]]:
    """Each roster member's decision on the version (None fields if they have not decided)."""
    recorded = {s.decision.member: s for s in read_decisions(info.tags)[0]}
    rows = []
    for member in roster.members if roster is not None else ():
        signed = recorded.get(member.id)
        d = None if signed is None else signed.decision
        rows.append(
            {
                "member": member.id,
                "name": member.name,
                "decision": None if d is None else d.decision,
                "decided_at": None if d is None else d.decided_at,
                "valid_until": None if d is None else d.valid_until,
                "for_current_report": d is not None
                and d.report_sha256 == info.tags.get(REPORT_TAG),
                "signature": _signature_state(
                    d, None if signed is None else signed.signature, None, roster
                ),
            }
        )
    return rows


def _signature_state(
    decision: Decision | None,
    signature: str | None,
    malformed: str | None,
    roster: BoardSettings | None,
) -> str:
    if malformed:
        return "malformed"
    if decision is None:
        return "none"
    if signature is None:
        return "unsigned"
    if roster is None:
        return "unchecked (no board configured)"
    member = roster.member(decision.member)
    if member is None:
        return "NOT A MEMBER"
    try:
        verify_decision(decision, signature, member.public_key_b64)
    except SignatureError:
        return "INVALID"
    return "valid"


def record_revocation(
    registry: Registry,
    log: AuditLog,
    info: ModelVersionInfo,
    *,
    reasons: str,
    signing_key: Path | Ed25519PrivateKey,
    board: BoardSettings | str | None,
    revocations_dir: Path,
    now: datetime | None = None,
) -> tuple[Revocation, str, Path]:
    """Sign and record one member's revocation of the board's approval of ``info``.

    Recorded in the audit log, on the version (tags :data:`REVOCATION_TAG`/<member> and its
    signature) and as a signed file in ``revocations_dir``, which the server reads. One
    member's revocation withdraws every decision on the version made before it.

    Raises
    ------
    ReviewError, SignatureError
        If no board is configured, the key is not a roster member's, the version was never
        audited (there is no approval to revoke), or the reasons are empty or too long;
        nothing is written then.
    """
    roster = as_roster(board)
    if roster is None:
        raise ReviewError(_NO_BOARD)
    if not reasons.strip() or len(reasons) > MAX_REASONS:
        raise ReviewError(_REVOKE_REASONS.format(n=MAX_REASONS))
    report_hash = info.tags.get(REPORT_TAG)
    if report_hash is None:
        raise ReviewError(_NOT_AUDITED.format(name=info.name, version=info.version))
    private = (
        signing_key if isinstance(signing_key, Ed25519PrivateKey) else load_private_key(signing_key)
    )
    try:
        member = roster.signer(private)
    except SignatureError as err:
        raise ReviewError(f"--signing-key: {err}") from None
    revocation = Revocation(
        model=info.name,
        version=info.version,
        report_sha256=report_hash,
        member=member.id,
        reasons=reasons,
        revoked_at=(now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
    )
    signature = sign_revocation(revocation, private)
    log.append(
        REVOCATION_EVENT,
        {**asdict(revocation), "revocation_signature": signature},
        actor=f"board:{member.id}",
    )
    tag, signature_tag = revocation_tags(member.id)
    registry.set_tags(
        info.name,
        info.version,
        {tag: json.dumps(asdict(revocation), sort_keys=True), signature_tag: signature},
    )
    path = write_revocation_file(revocations_dir, SignedRevocation(revocation, signature))
    return revocation, signature, path
