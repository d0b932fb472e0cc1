"""Whether a model version may be served: the board's signed approval, checked end to end.

Tags and aliases in MLflow can be changed by anyone with write access, so none of them is
trusted on its own. A version is approved only when all of these hold:

1. it was audited: the tag ``audit_report_sha256`` names a report, and the report logged
   with the version hashes to exactly that value;
2. the report's embedded verdict is about this model and version;
3. the board's decision on the version is signed, and the signature verifies against the
   public key in ``configs/governance.yaml``;
4. the signed decision is for this model, this version and this report hash (a decision
   copied from another version or another report is a replay and fails), and it approves;
5. every gate that failed in the report is waived, by name, in the signed decision;
6. the signed decision names the SHA-256 of every file of the version's logged model, and
   the files in the artifact store still hash to exactly those (none changed, added or
   missing): a model rewritten after the review is not the model the board approved.
   A decision signed before decisions named the files binds no model and is refused.

:func:`approval_problems` lists each condition that does not hold, in words a data
scientist can act on. :func:`promote` moves the ``champion`` alias only when the list is
empty; :func:`verify_serving_version` is what ``vru release`` runs, so an alias moved by hand
to an unapproved version achieves nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from governance.board.audit_log import AuditLog
from governance.board.registry import CHAMPION, ModelVersionInfo, Registry, RegistryError
from governance.board.verdict import VerdictError, read_verdict
from governance.contracts.errors import VruError
from governance.contracts.signing import (
    Decision,
    SignatureError,
    artifact_differences,
    verify_decision,
)

__all__ = [
    "DECISION_TAG",
    "REPORT_ARTIFACT",
    "REPORT_TAG",
    "SIGNATURE_TAG",
    "Approval",
    "ApprovalError",
    "approval_problems",
    "card_problems",
    "promote",
    "read_decision",
    "verify_serving_version",
]

REPORT_TAG = "audit_report_sha256"
DECISION_TAG = "board_decision"
SIGNATURE_TAG = "board_signature"
REPORT_ARTIFACT = "audit/report.html"

_NO_KEY = (
    "no board public key is configured (board_public_key_b64 in configs/governance.yaml); "
    "run `vru keys board-init` and paste the public key it prints"
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
    """A verified approval: the decision, its signature and the report it covers."""

    info: ModelVersionInfo
    decision: Decision
    signature: str
    report_sha256: str

    @property
    def files(self) -> dict[str, str]:
        """The signed ``path -> sha256`` of the model's files, to check again at loading."""
        return self.decision.model_artifacts


def read_decision(tags: dict[str, str]) -> tuple[Decision | None, str | None, str | None]:
    """The decision and signature recorded on a version; a problem description if malformed."""
    raw = tags.get(DECISION_TAG)
    if raw is None:
        return None, None, None
    try:
        fields: dict[str, Any] = json.loads(raw)
        fields["waived_gates"] = tuple(fields.get("waived_gates", ()))
        decision = Decision(**fields)
    except (ValueError, TypeError, SignatureError) as err:
        return None, None, f"the recorded decision (tag {DECISION_TAG}) is malformed: {err}"
    return decision, tags.get(SIGNATURE_TAG), None


def approval_problems(
    registry: Registry, info: ModelVersionInfo, public_key_b64: str | None
) -> tuple[list[str], Approval | None]:
    """Every reason ``info`` may not be served (empty when approved), and the approval."""
    problems: list[str] = []
    if not public_key_b64:
        problems.append(_NO_KEY)
    report_hash = info.tags.get(REPORT_TAG)
    verdict: dict[str, Any] | None = None
    if report_hash is None:
        problems.append(
            f"not audited: run `vru audit --model {info.name} --version {info.version}`"
        )
    else:
        try:
            report = registry.read_artifact(info, REPORT_ARTIFACT)
        except RegistryError as err:
            problems.append(f"the audit report is missing: {err}")
        else:
            actual = hashlib.sha256(report).hexdigest()
            if actual != report_hash:
                problems.append(
                    f"the logged report hashes to {actual}, not to the tagged {report_hash}: "
                    "the report or its tag was changed after the audit"
                )
            else:
                try:
                    verdict = read_verdict(report.decode("utf-8"))
                except VerdictError as err:
                    problems.append(f"the report's verdict cannot be read: {err}")
    if verdict is not None and (
        str(verdict.get("model")) != info.name or str(verdict.get("version")) != info.version
    ):
        problems.append(
            f"the report is about {verdict.get('model')} version {verdict.get('version')}, "
            f"not {info.name} version {info.version}"
        )

    decision, signature, malformed = read_decision(info.tags)
    if malformed:
        problems.append(malformed)
    elif decision is None:
        problems.append(
            "no board decision: the board has not reviewed this version "
            f"(`vru review --model {info.name} --version {info.version} ...`)"
        )
    else:
        problems += _decision_problems(info, decision, signature, report_hash, public_key_b64)
        problems += _binding_problems(registry, info, decision)
        if verdict is not None:
            failed = [g["figure"] for g in verdict.get("gates", []) if not g.get("passed")]
            unwaived = [g for g in failed if g not in decision.waived_gates]
            if unwaived:
                problems.append(
                    f"gate(s) failed and not waived by the board: {', '.join(unwaived)}"
                )
    if problems or decision is None or signature is None or report_hash is None:
        return problems, None
    return [], Approval(info, decision, signature, report_hash)


def _decision_problems(
    info: ModelVersionInfo,
    decision: Decision,
    signature: str | None,
    report_hash: str | None,
    public_key_b64: str | None,
) -> list[str]:
    problems = []
    if decision.model != info.name or decision.version != info.version:
        problems.append(
            f"the recorded decision is for {decision.model} version {decision.version}, not "
            f"{info.name} version {info.version} (a decision copied from another version)"
        )
    if report_hash is not None and decision.report_sha256 != report_hash:
        problems.append(
            f"the decision was made on report {decision.report_sha256}, but the version's "
            f"report is now {report_hash}: the board must review the current report"
        )
    if signature is None:
        problems.append(f"the decision is not signed (no tag {SIGNATURE_TAG})")
    elif public_key_b64:
        try:
            verify_decision(decision, signature, public_key_b64)
        except SignatureError as err:
            problems.append(f"the board's signature does not verify: {err}")
    if decision.decision != "approve":
        problems.append(
            f"the board rejected this version ({decision.reviewer}: {decision.reasons})"
        )
    return problems


def _binding_problems(registry: Registry, info: ModelVersionInfo, decision: Decision) -> list[str]:
    """Whether the decision names the model's files and the store still holds exactly them."""
    if not decision.model_artifacts:
        return [_UNBOUND.format(name=info.name, version=info.version)]
    try:
        actual = registry.model_files(info)
    except RegistryError as err:
        return [f"the logged model cannot be read: {err}"]
    found = artifact_differences(decision.model_artifacts, actual)
    return [_FILES_CHANGED.format(found="; ".join(found))] if found else []


def card_problems(registry: Registry, info: ModelVersionInfo) -> list[str]:
    """The impact-assessment fields of the audited model card that are still placeholders.

    Read from the version's audit document (``audit/audit.json``, written with the report
    the board read): the items of its "Impact assessment" section whose text contains a
    :data:`PLACEHOLDER_MARKERS` entry (any case), named by their labels. A production
    deployment may not promote a model whose DPIA or equality impact assessment is unwritten.
    """
    try:
        audit = registry.read_json_artifact(info, AUDIT_JSON_ARTIFACT)
    except (RegistryError, ValueError):
        audit = None
    card = audit.get("model_card") if isinstance(audit, dict) else None
    sections = card.get("sections") if isinstance(card, dict) else None
    impact = [
        s for s in sections or [] if isinstance(s, dict) and s.get("heading") == IMPACT_HEADING
    ]
    if not impact:
        return [_NO_CARD.format(artifact=AUDIT_JSON_ARTIFACT)]
    unwritten = [
        str(item.get("label"))
        for item in impact[0].get("items", [])
        if any(m in str(item.get("value", "")).casefold() for m in PLACEHOLDER_MARKERS)
    ]
    return [_CARD_PLACEHOLDERS.format(fields=", ".join(unwritten))] if unwritten else []


def promote(
    registry: Registry,
    log: AuditLog,
    info: ModelVersionInfo,
    public_key_b64: str | None,
    *,
    actor: str,
    environment: Literal["production", "demo"] | None = None,
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
    problems, approval = approval_problems(registry, info, public_key_b64)
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
            "decided_by": approval.decision.reviewer,
            "decided_at": approval.decision.decided_at,
            "waived_gates": list(approval.decision.waived_gates),
            "model_artifacts_sha256": approval.decision.model_artifacts_sha256,
        },
        actor=actor,
    )
    registry.set_alias(info.name, CHAMPION, info.version)
    return approval


def verify_serving_version(registry: Registry, name: str, public_key_b64: str | None) -> Approval:
    """The ``champion`` version and its verified approval, or refuse (an alias moved by hand)."""
    version = registry.alias_version(name, CHAMPION)
    if version is None:
        raise ApprovalError(
            f"refused: model {name} has no {CHAMPION}",
            [f"promote an approved version first (`vru promote --model {name} --version V`)"],
        )
    info = registry.version(name, version)
    problems, approval = approval_problems(registry, info, public_key_b64)
    if approval is None:
        raise ApprovalError(
            f"refused: {CHAMPION} points at {name} version {version}, which is not approved "
            "(was the alias moved by hand?):",
            problems,
        )
    return approval
