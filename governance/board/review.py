"""The ethics board's review: a signed decision on the exact report the reviewer read.

:func:`record_review` signs the decision (model, version, report hash, decision, time,
reviewer, reasons, waived gates, and the SHA-256 of every file of the version's logged
model, read through the registry when the board decides) with the board's private key, appends it to the audit log
and stores it, with its signature, as tags on the model version. :func:`review_status`
lists every version: audited or not, gates, the decision on it and whether its signature
still verifies, and which versions await review.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board.approval import (
    DECISION_TAG,
    REPORT_ARTIFACT,
    REPORT_TAG,
    SIGNATURE_TAG,
    read_decision,
)
from governance.board.audit_log import AuditLog
from governance.board.registry import ModelVersionInfo, Registry
from governance.board.verdict import read_verdict
from governance.contracts.errors import VruError
from governance.contracts.signing import (
    Decision,
    SignatureError,
    artifacts_digest,
    load_private_key,
    sign_decision,
    verify_decision,
)

__all__ = ["ReviewError", "record_review", "review_status"]

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
_WRONG_KEY = (
    "--signing-key: {path} is not the board's key: its signature does not verify against "
    "board_public_key_b64 in the governance config"
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
    reviewer: str,
    reasons: str,
    signing_key: Path | Ed25519PrivateKey,
    public_key_b64: str | None,
    waive: tuple[str, ...] = (),
    now: datetime | None = None,
) -> tuple[Decision, str]:
    """Sign and record the board's decision on ``info``; nothing is written if a check fails.

    ``signing_key`` is the board's private key file, or the key itself already read (the
    board page reads it from the form, in memory, and never stores it).

    Raises
    ------
    ReviewError, SignatureError
        If the version has no (intact) audit report, a waived gate is not in it, the reasons
        are too long, the version has no logged model files, or the key is unreadable or is not the configured board key.
    """
    report_hash, report = _intact_report(registry, info)
    if len(reasons) > MAX_REASONS:
        raise ReviewError(_LONG_REASONS.format(n=MAX_REASONS, got=len(reasons)))
    gates = [g["figure"] for g in read_verdict(report.decode("utf-8"))["gates"]]
    for gate in waive:
        if gate not in gates:
            raise ReviewError(_UNKNOWN_GATE.format(gate=gate, names=gates))
    files = registry.model_files(info)
    if not files:
        raise ReviewError(_NO_MODEL_FILES.format(name=info.name, version=info.version))
    when = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    signed = Decision(
        model=info.name,
        version=info.version,
        report_sha256=report_hash,
        decision=decision,
        reviewer=reviewer,
        reasons=reasons,
        decided_at=when,
        waived_gates=tuple(waive),
        model_artifacts=files,
        model_artifacts_sha256=artifacts_digest(files),
    )
    private = (
        signing_key if isinstance(signing_key, Ed25519PrivateKey) else load_private_key(signing_key)
    )
    signature = sign_decision(signed, private)
    if public_key_b64:
        try:
            verify_decision(signed, signature, public_key_b64)
        except SignatureError:
            where = "the key given" if isinstance(signing_key, Ed25519PrivateKey) else signing_key
            raise ReviewError(_WRONG_KEY.format(path=where)) from None
    log.append(
        "review.decision",
        {**asdict(signed), "waived_gates": list(signed.waived_gates), "signature": signature},
        actor=f"board:{reviewer}",
    )
    registry.set_tags(
        info.name,
        info.version,
        {
            DECISION_TAG: json.dumps(asdict(signed), sort_keys=True),
            SIGNATURE_TAG: signature,
            "review_decision": decision,
            "review_reviewer": reviewer,
            "review_decided_at": when,
        },
    )
    return signed, signature


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
    registry: Registry, name: str, public_key_b64: str | None
) -> list[dict[str, Any]]:
    """One row per version, newest first: audit, gates, decision, signature, awaiting."""
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
                "signature": _signature_state(decision, signature, malformed, public_key_b64),
                "awaiting_review": report is not None and not current,
            }
        )
    return rows


def _signature_state(
    decision: Decision | None, signature: str | None, malformed: str | None, key: str | None
) -> str:
    if malformed:
        return "malformed"
    if decision is None:
        return "none"
    if signature is None:
        return "unsigned"
    if not key:
        return "unchecked (no public key configured)"
    try:
        verify_decision(decision, signature, key)
    except SignatureError:
        return "INVALID"
    return "valid"
