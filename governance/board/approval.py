"""Whether a model version may be served: the board's signed approval, checked end to end.

Tags and aliases in MLflow can be changed by anyone with write access, so none of them is
trusted on its own. A version is approved only when all of these hold:

1. it was audited: the tag ``audit_report_sha256`` names a report, and the report logged
   with the version hashes to exactly that value;
2. the report's embedded verdict is about this model and version;
3. at least ``quorum`` distinct members of the board's roster (``board`` in
   ``configs/governance.yaml``) have each signed, with their own key, a decision that names
   them; each signature verifies against that member's public key, and a member counts once
   (:func:`governance.contracts.roster.quorum_problems`);
4. each counted decision is for this model, this version and this report hash (a decision
   copied from another version or another report is a replay and does not count), and
   approves; a current rejection by any member is a veto;
5. every gate that failed in the report is waived, by name, in each counted decision;
   the approval has not lapsed: today is not after the earliest review date
   (``valid_until``) among the counted decisions;
6. the signed decision names the SHA-256 of every file of the version's logged model, and
   the files in the artifact store still hash to exactly those (none changed, added or
   missing): a model rewritten after the review is not the model the board approved.
   A decision signed before decisions named the files binds no model and is refused.

:func:`approval_problems` lists each condition that does not hold, in words a data
scientist can act on. It reads what the registry and the revocations directory hold about
the version once (:func:`read_version_record`, the only I/O) and judges that record with the
pure :func:`judge_approval`, so every condition can be attacked with records built in code. :func:`promote` moves the ``champion`` alias only when the list is
empty; :func:`verify_serving_version` is what ``vru release`` runs, so an alias moved by hand
to an unapproved version achieves nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from governance.board.audit_log import AuditLog
from governance.board.registry import CHAMPION, ModelVersionInfo, Registry, RegistryError
from governance.board.verdict import VerdictError, audited_files_problem, read_verdict
from governance.contracts.errors import VruError
from governance.contracts.revocation import (
    Revocation,
    SignedRevocation,
    read_revocation_files,
    verified_revocations,
)
from governance.contracts.roster import (
    BoardSettings,
    SignedDecision,
    quorum_problems,
    verified_decisions,
)
from governance.contracts.signing import (
    Decision,
    SignatureError,
    artifact_differences,
)

__all__ = [
    "DECISION_TAG",
    "REPORT_ARTIFACT",
    "REPORT_TAG",
    "REVOCATION_SIGNATURE_TAG",
    "REVOCATION_TAG",
    "SIGNATURE_TAG",
    "Approval",
    "ApprovalError",
    "VersionRecord",
    "approval_problems",
    "as_roster",
    "card_problems",
    "card_problems_in",
    "decision_tags",
    "judge_approval",
    "promote",
    "read_decision",
    "read_decisions",
    "read_version_record",
    "revocation_tags",
    "revocations_in",
    "revocations_of",
    "verify_serving_version",
]

REPORT_TAG = "audit_report_sha256"
DECISION_TAG = "board_decision"
SIGNATURE_TAG = "board_signature"
REPORT_ARTIFACT = "audit/report.html"
REVOCATION_TAG = "board_revocation"
REVOCATION_SIGNATURE_TAG = "board_revocation_signature"

_NO_KEY = (
    "no board is configured (neither a roster `board` nor board_public_key_b64 in "
    "configs/governance.yaml): run `vru keys board-init` for each member and list the "
    "public keys it prints under board.members"
)


_UNBOUND = (
    "the board's decision does not name the model's files (it was signed before decisions "
    "bound the model): a decision that does not bind the model cannot promote; the board "
    "must review {name} version {version} again (`vru review`)"
)
#: where the version's audit document keeps the model card, and what marks an unwritten field
AUDIT_JSON_ARTIFACT = "audit/audit.json"
IMPACT_HEADING = "Impact assessment"
PLACEHOLDER_MARKERS: tuple[str, ...] = ("to be completed", "to be confirmed")
_CARD_PLACEHOLDERS = (
    "environment: production needs a completed model card, but its impact assessment still "
    "reads as a placeholder in: {fields}; complete them in configs/model_card.yaml and audit "
    "the version again"
)
_NO_CARD = (
    "environment: production needs a completed model card, but the version's audit holds no "
    "model card with an impact assessment ({artifact}); audit the version again"
)
_FILES_CHANGED = (
    "the logged model is not the one the board approved ({found}): restore the approved "
    "files, or have the board review the version again"
)


class ApprovalError(VruError, PermissionError):
    """A version may not be promoted or served; the message lists every missing condition."""

    def __init__(self, headline: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(headline + "".join(f"\n  - {p}" for p in problems))


@dataclass(frozen=True)
class Approval:
    """A verified approval: the counted members' decisions and signatures, and the report."""

    info: ModelVersionInfo
    decisions: tuple[SignedDecision, ...]
    report_sha256: str

    @property
    def decision(self) -> Decision:
        """One counted decision (the first member's); all of them name the same files."""
        return self.decisions[0].decision

    @property
    def reviewers(self) -> list[str]:
        """The counted members' roster names."""
        return [s.decision.reviewer for s in self.decisions]

    @property
    def valid_until(self) -> str:
        """The earliest review date among the counted approvals: the approval's own."""
        return min(s.decision.valid_until for s in self.decisions)

    @property
    def waived_gates(self) -> list[str]:
        """The failed gates the counted members waived (each waived every failed one)."""
        return sorted({g for s in self.decisions for g in s.decision.waived_gates})

    @property
    def files(self) -> dict[str, str]:
        """The signed ``path -> sha256`` of the model's files, to check again at loading."""
        return self.decision.model_artifacts


def as_roster(board: BoardSettings | str | None) -> BoardSettings | None:
    """The roster to check against; a bare public key (older callers) is a roster of one."""
    if isinstance(board, str):
        return BoardSettings.single(board) if board else None
    return board


def decision_tags(member: str) -> tuple[str, str]:
    """The tags holding one member's decision and signature on a version."""
    return f"{DECISION_TAG}/{member}", f"{SIGNATURE_TAG}/{member}"


def revocation_tags(member: str) -> tuple[str, str]:
    """The tags holding one member's revocation and its signature on a version."""
    return f"{REVOCATION_TAG}/{member}", f"{REVOCATION_SIGNATURE_TAG}/{member}"


def revocations_of(
    info: ModelVersionInfo, roster: BoardSettings, revocations_dir: Path | None
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The verified revocations of ``info``, from its tags and the revocations directory.

    Returns ``(revoked_at, member, reasons)`` of each, and a line for each one ignored (not
    signed by the roster member it names, or unreadable).
    """
    files, problems = read_revocation_files(revocations_dir, info.name, info.version)
    revoked, ignored = revocations_in(info, files, roster)
    return revoked, problems + ignored


def revocations_in(
    info: ModelVersionInfo, files: Sequence[SignedRevocation], roster: BoardSettings
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The verified revocations of ``info`` among ``files`` and its tags; the ignored ones.

    Returns ``(revoked_at, member, reasons)`` of each, and a line for each one ignored
    (malformed, unsigned, or not signed by the roster member it names).
    """
    found = list(files)
    problems: list[str] = []
    prefix = REVOCATION_TAG + "/"
    for key in sorted(k for k in info.tags if k.startswith(prefix)):
        try:
            revocation = Revocation.from_fields(json.loads(info.tags[key]))
        except (ValueError, SignatureError) as err:
            problems.append(f"the revocation in tag {key} is malformed: {err}; ignored")
            continue
        signature_tag = revocation_tags(key.removeprefix(prefix))[1]
        if signature_tag not in info.tags:
            problems.append(
                f"the revocation in tag {key} is not signed (no tag {signature_tag}); ignored"
            )
            continue
        found.append(SignedRevocation(revocation, info.tags[signature_tag]))
    valid, ignored = verified_revocations(found, roster)
    mine = [r for r in valid if (r.model, r.version) == (info.name, info.version)]
    return [(r.revoked_at, r.member, r.reasons) for r in mine], problems + ignored


def read_decisions(tags: dict[str, str]) -> tuple[list[SignedDecision], list[str]]:
    """Every member decision recorded on a version, with its signature; malformed ones named.

    A decision whose tag names another member than the decision itself, or that has no
    signature tag, is a problem, not a decision.
    """
    found: list[SignedDecision] = []
    problems: list[str] = []
    prefix = DECISION_TAG + "/"
    for key in sorted(k for k in tags if k.startswith(prefix)):
        member = key.removeprefix(prefix)
        try:
            fields = json.loads(tags[key])
            if not isinstance(fields, dict):
                raise TypeError(f"expected a JSON object, got {type(fields).__name__}")
            fields["waived_gates"] = tuple(fields.get("waived_gates", ()))
            decision = Decision(**fields)
        except (ValueError, TypeError, SignatureError) as err:
            problems.append(f"the recorded decision (tag {key}) is malformed: {err}")
            continue
        signature = tags.get(decision_tags(member)[1])
        if decision.member != member:
            problems.append(
                f"the decision in tag {key} names member {decision.member!r}: a decision "
                "moved from another member's tag does not count"
            )
        elif signature is None:
            problems.append(f"{member}'s decision is not signed (no tag {SIGNATURE_TAG}/{member})")
        else:
            found.append(SignedDecision(decision, signature))
    return found, problems


def read_decision(tags: dict[str, str]) -> tuple[Decision | None, str | None, str | None]:
    """The newest member decision on a version and its signature, for one-line summaries."""
    found, problems = read_decisions(tags)
    if not found:
        return None, None, (problems[0] if problems else None)
    newest = max(found, key=lambda s: s.decision.decided_at)
    return newest.decision, newest.signature, None


@dataclass(frozen=True)
class VersionRecord:
    """What the registry and the revocations directory hold about one version, read once.

    The input of :func:`judge_approval`. ``report`` is the logged audit report's bytes (None
    with ``report_error`` when it cannot be read, or when the version has no report tag);
    ``model_files`` the SHA-256 of each file of the logged model as the store holds it now
    (None with ``model_files_error`` when unreadable, or when no decision is recorded and
    nothing needs them); ``revocation_files`` the signed revocation files naming the version,
    not yet verified, and a line for each file that could not be parsed.
    """

    info: ModelVersionInfo
    report: bytes | None = None
    report_error: str | None = None
    model_files: dict[str, str] | None = None
    model_files_error: str | None = None
    revocation_files: tuple[SignedRevocation, ...] = ()
    revocation_file_problems: tuple[str, ...] = ()


def read_version_record(
    registry: Registry, info: ModelVersionInfo, revocations_dir: Path | None = None
) -> VersionRecord:
    """Read everything :func:`judge_approval` needs about ``info``; the approval's only I/O."""
    report, report_error = None, None
    if REPORT_TAG in info.tags:
        try:
            report = registry.read_artifact(info, REPORT_ARTIFACT)
        except RegistryError as err:
            report_error = str(err)
    files, files_error = None, None
    if any(key.startswith(DECISION_TAG + "/") for key in info.tags):
        try:
            files = registry.model_files(info)
        except RegistryError as err:
            files_error = str(err)
    revocations, unreadable = read_revocation_files(revocations_dir, info.name, info.version)
    return VersionRecord(
        info, report, report_error, files, files_error, tuple(revocations), tuple(unreadable)
    )


def _report_problems(
    record: VersionRecord,
) -> tuple[str | None, dict[str, Any] | None, list[str]]:
    """The tagged report hash, the report's verdict if intact and about this version, problems."""
    info = record.info
    report_hash = info.tags.get(REPORT_TAG)
    if report_hash is None:
        return (
            None,
            None,
            [f"not audited: run `vru audit --model {info.name} --version {info.version}`"],
        )
    if record.report is None:
        return report_hash, None, [f"the audit report is missing: {record.report_error}"]
    actual = hashlib.sha256(record.report).hexdigest()
    if actual != report_hash:
        return (
            report_hash,
            None,
            [
                f"the logged report hashes to {actual}, not to the tagged {report_hash}: "
                "the report or its tag was changed after the audit"
            ],
        )
    try:
        verdict = read_verdict(record.report.decode("utf-8"))
    except (VerdictError, UnicodeDecodeError) as err:
        return report_hash, None, [f"the report's verdict cannot be read: {err}"]
    if str(verdict.get("model")) != info.name or str(verdict.get("version")) != info.version:
        return (
            report_hash,
            verdict,
            [
                f"the report is about {verdict.get('model')} version {verdict.get('version')}, "
                f"not {info.name} version {info.version}"
            ],
        )
    return report_hash, verdict, []


def approval_problems(
    registry: Registry,
    info: ModelVersionInfo,
    board: BoardSettings | str | None,
    *,
    now: datetime | None = None,
    revocations_dir: Path | None = None,
) -> tuple[list[str], Approval | None]:
    """Every reason ``info`` may not be served (empty when approved), and the approval.

    Parameters
    ----------
    board
        The roster (``GovernanceConfig.board_roster()``); a bare public key means a roster
        of one; None refuses (no board configured).
    now
        When to judge lapse; the current time if None.
    revocations_dir
        Where signed revocation files are (the governance config's ``revocations_dir``);
        revocations recorded on the version's tags are read too.
    """
    record = read_version_record(registry, info, revocations_dir)
    return judge_approval(record, as_roster(board), now or datetime.now(UTC))


def judge_approval(
    record: VersionRecord, roster: BoardSettings | None, now: datetime
) -> tuple[list[str], Approval | None]:
    """Every reason the recorded version may not be served (empty when approved), and the approval.

    The conditions of this module's docstring, judged on ``record`` alone: no registry, no
    files, no clock (``now`` decides lapse).
    """
    info = record.info
    problems = [] if roster is not None else [_NO_KEY]
    report_hash, verdict, report_problems = _report_problems(record)
    problems += report_problems
    recorded, malformed = read_decisions(info.tags)
    problems += malformed
    if not recorded and not malformed:
        problems.append(
            "no board decision: the board has not reviewed this version "
            f"(`vru review --model {info.name} --version {info.version} ...`)"
        )
    if roster is None or not recorded:
        return problems, None
    signed, forged = verified_decisions(recorded, roster)
    problems += forged
    current, notes = _current_decisions(record, signed, report_hash, verdict)
    revoked, _ = revocations_in(info, record.revocation_files, roster)
    found, counted = quorum_problems(current, roster, now, revoked)
    problems += found + (notes if found else [])
    if problems or report_hash is None:
        return problems, None
    return [], Approval(info, tuple(counted), report_hash)


def _current_decisions(
    record: VersionRecord,
    recorded: list[SignedDecision],
    report_hash: str | None,
    verdict: dict[str, Any] | None,
) -> tuple[list[SignedDecision], list[str]]:
    """The decisions about this version, its report and (approvals) its files, gates waived.

    An approval must name the files the store holds now and the files the report's audit
    scored (the verdict's digest): a model changed between the audit and the review was
    approved unaudited. Others do not count (nor veto); why each does not is returned, to
    show when the board's approval is then incomplete.
    """
    info = record.info
    failed = [g["figure"] for g in (verdict or {}).get("gates", []) if not g.get("passed")]
    current: list[SignedDecision] = []
    notes: list[str] = []
    for signed in recorded:
        decision = signed.decision
        found = _decision_problems(info, decision, report_hash)
        if not found and decision.decision == "approve":
            found = _binding_problems(record, decision)
            unaudited = (
                None
                if verdict is None
                else audited_files_problem(verdict, decision.model_artifacts)
            )
            if unaudited and decision.model_artifacts:
                found.append(unaudited)
            unwaived = [g for g in failed if g not in decision.waived_gates]
            if unwaived:
                found.append(
                    f"gate(s) failed and not waived by the board: {', '.join(unwaived)} "
                    f"(in {decision.reviewer}'s decision)"
                )
        if found:
            notes += [n for n in found if n not in notes]
        else:
            current.append(signed)
    return current, notes


def _decision_problems(
    info: ModelVersionInfo, decision: Decision, report_hash: str | None
) -> list[str]:
    """Whether a decision is about this model, version and report."""
    problems = []
    if decision.model != info.name or decision.version != info.version:
        problems.append(
            f"the recorded decision is for {decision.model} version {decision.version}, not "
            f"{info.name} version {info.version} (a decision copied from another version)"
        )
    if report_hash is not None and decision.report_sha256 != report_hash:
        problems.append(
            f"{decision.reviewer}'s decision was made on report {decision.report_sha256}, but "
            f"the version's report is now {report_hash}: the board must review the current report"
        )
    return problems


def _binding_problems(record: VersionRecord, decision: Decision) -> list[str]:
    """Whether the decision names the model's files and the store still holds exactly them."""
    if not decision.model_artifacts:
        return [_UNBOUND.format(name=record.info.name, version=record.info.version)]
    if record.model_files is None:
        return [f"the logged model cannot be read: {record.model_files_error}"]
    found = artifact_differences(decision.model_artifacts, record.model_files)
    return [_FILES_CHANGED.format(found="; ".join(found))] if found else []


def card_problems(registry: Registry, info: ModelVersionInfo) -> list[str]:
    """The impact-assessment fields of the version's audited model card still unwritten.

    Read from the version's audit document (``audit/audit.json``, written with the report
    the board read) and judged by :func:`card_problems_in`.
    """
    try:
        audit = registry.read_json_artifact(info, AUDIT_JSON_ARTIFACT)
    except (RegistryError, ValueError):
        audit = None
    return card_problems_in(audit)


def card_problems_in(audit: Any) -> list[str]:
    """The impact-assessment fields of an audit document's model card that are placeholders.

    The items of the card's "Impact assessment" section whose text is empty or contains a
    :data:`PLACEHOLDER_MARKERS` entry (any case), named by their labels; a document with no
    such section, or a section with no items, is a problem too. A production deployment may not promote a model whose DPIA
    or equality impact assessment is unwritten.
    """
    card = audit.get("model_card") if isinstance(audit, dict) else None
    sections = card.get("sections") if isinstance(card, dict) else None
    impact = [
        s for s in sections or [] if isinstance(s, dict) and s.get("heading") == IMPACT_HEADING
    ]
    items = impact[0].get("items") if impact else None
    if not isinstance(items, list) or not items:
        return [_NO_CARD.format(artifact=AUDIT_JSON_ARTIFACT)]
    unwritten = [
        str(item.get("label")) for item in items if isinstance(item, dict) and _unwritten(item)
    ]
    return [_CARD_PLACEHOLDERS.format(fields=", ".join(unwritten))] if unwritten else []


def _unwritten(item: dict[str, Any]) -> bool:
    """An item with no text, or text that is still a placeholder."""
    value = str(item.get("value") or "").strip().casefold()
    return not value or any(marker in value for marker in PLACEHOLDER_MARKERS)


def promote(
    registry: Registry,
    log: AuditLog,
    info: ModelVersionInfo,
    board: BoardSettings | str | None,
    *,
    actor: str,
    environment: Literal["production", "demo"] | None = None,
    now: datetime | None = None,
    revocations_dir: Path | None = None,
) -> Approval:
    """Move ``champion`` to ``info`` if it is approved; log the promotion.

    Parameters
    ----------
    environment
        The governance config's ``environment``. In ``production`` the audited model card's
        impact assessments must be written (:func:`card_problems`); ``vru promote`` always
        passes it. ``None`` (library callers such as tests) checks the approval only.

    Raises
    ------
    ApprovalError
        Listing every missing condition; nothing is changed then.
    """
    problems, approval = approval_problems(
        registry, info, board, now=now, revocations_dir=revocations_dir
    )
    if environment == "production":
        problems += card_problems(registry, info)
    if approval is None or problems:
        raise ApprovalError(
            f"refused: {info.name} version {info.version} cannot become {CHAMPION}:", problems
        )
    previous = registry.alias_version(info.name, CHAMPION)
    log.append(
        "model.promote",
        {
            "model": info.name,
            "version": info.version,
            "previous_champion": previous,
            "report_sha256": approval.report_sha256,
            "decided_by": approval.reviewers,
            "members": [s.decision.member for s in approval.decisions],
            "decided_at": [s.decision.decided_at for s in approval.decisions],
            "valid_until": approval.valid_until,
            "waived_gates": approval.waived_gates,
            "model_artifacts_sha256": approval.decision.model_artifacts_sha256,
        },
        actor=actor,
    )
    registry.set_alias(info.name, CHAMPION, info.version)
    return approval


def verify_serving_version(
    registry: Registry,
    name: str,
    board: BoardSettings | str | None,
    *,
    now: datetime | None = None,
    revocations_dir: Path | None = None,
) -> Approval:
    """The ``champion`` version and its verified approval, or refuse.

    Refused when the alias was moved by hand to an unapproved version, or its approval has
    lapsed since promotion.
    """
    version = registry.alias_version(name, CHAMPION)
    if version is None:
        raise ApprovalError(
            f"refused: model {name} has no {CHAMPION}",
            [f"promote an approved version first (`vru promote --model {name} --version V`)"],
        )
    info = registry.version(name, version)
    problems, approval = approval_problems(
        registry, info, board, now=now, revocations_dir=revocations_dir
    )
    if approval is None:
        raise ApprovalError(
            f"refused: {CHAMPION} points at {name} version {version}, which is not approved "
            "(was the alias moved by hand, or has the approval lapsed?):",
            problems,
        )
    return approval
