"""What the board pages read and write: model versions, reports, decisions, the audit log.

Every read goes through governance (:mod:`governance.board.review`, :mod:`governance.board.registry`,
:mod:`governance.board.audit_log`), and a decision is recorded by :func:`governance.board.review.record_review`,
the same code as ``vru review``. This module imports MLflow (through the registry), so
:mod:`serving.pages.board` imports it only when a board page is first asked for: the API
alone starts without it. Nothing here reads individual-level data: a version's tags, its
audit report (aggregates only) and the governance log.

The private key a board member gives in the form is parsed here, in memory, used for one
signature and dropped: it is never written, logged or put in an error message.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board.approval import REPORT_ARTIFACT, REPORT_TAG
from governance.board.audit_log import AuditLog, AuditLogError, VerifyResult
from governance.board.registry import CHAMPION, ModelVersionInfo, Registry, RegistryError
from governance.board.review import record_review, review_status
from governance.board.verdict import VerdictError, read_verdict
from governance.contracts.errors import VruError
from governance.contracts.settings import GovernanceConfig
from governance.contracts.signing import Decision, SignatureError, load_private_key
from serving.pages.version_headline import Headline, headline_of

__all__ = [
    "AuditView",
    "BoardData",
    "DecisionForm",
    "Gate",
    "KeyFormError",
    "SignatureError",
    "VersionView",
    "parse_private_key",
]

REQUEST_EVENT = "api.request"
AUDIT_JSON = "audit/audit.json"
"""Where ``vru audit`` logs the audit document beside the report."""
MAX_KEY_BYTES = 10_000
_KEY_HELP = (
    "Give the board's private key as a PEM file (the board.pem 'vru keys board-init' wrote) "
    "or paste its text, from -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----."
)


class KeyFormError(VruError, ValueError):
    """The signing key given in the form cannot be used (the message never quotes it)."""


@dataclass(frozen=True)
class Gate:
    """One gate of a version's report, as the report's embedded verdict states it."""

    name: str
    figure: str
    value: float | None
    limit: float | None
    direction: str
    passed: bool


@dataclass
class VersionView:
    """One model version as the board sees it."""

    version: str
    status: str
    aliases: list[str]
    created: str
    audited: bool
    report_sha256: str | None
    gates_passed: bool | None
    failed_gates: list[str]
    decision: str | None
    reviewer: str | None
    decided_at: str | None
    reasons: str | None
    decision_is_for_current_report: bool
    signature: str
    gates: list[Gate] = field(default_factory=list)
    report_problem: str | None = None
    headline: Headline = field(default_factory=Headline)


@dataclass(frozen=True)
class AuditView:
    """The audit log's entries (newest first) and whether its chain verifies."""

    path: Path
    result: VerifyResult
    entries: list[dict[str, Any]]
    hidden_requests: int
    error: str | None = None


@dataclass(frozen=True)
class DecisionForm:
    """A decision as the board member filled it in (the key is passed apart, never kept)."""

    decision: Literal["approve", "reject"]
    reasons: str
    waive: tuple[str, ...]


def parse_private_key(data: bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM ``data`` (from an upload or a paste).

    Raises
    ------
    KeyFormError
        If nothing was given, it is too long, not an unencrypted PEM private key, or not
        Ed25519. The message says which, and never repeats what was given.
    """
    data = data.strip()
    if not data:
        raise KeyFormError("No signing key was given. " + _KEY_HELP)
    if len(data) > MAX_KEY_BYTES:
        raise KeyFormError("The signing key given is far too long to be a key. " + _KEY_HELP)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFormError(
            "The signing key given is encrypted with a passphrase; the board's key from "
            "'vru keys board-init' is not. " + _KEY_HELP
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFormError("The signing key given is not a PEM private key. " + _KEY_HELP) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormError(
            "The signing key given is not an Ed25519 key, so it cannot be the board's. " + _KEY_HELP
        )
    return key


def _gates(report: bytes) -> list[Gate]:
    verdict = read_verdict(report.decode("utf-8"))
    gates = []
    for g in verdict["gates"]:
        gates.append(
            Gate(
                name=str(g.get("name", g.get("figure", "?"))),
                figure=str(g.get("figure", "?")),
                value=g.get("value"),
                limit=g.get("limit"),
                direction=str(g.get("direction", "")),
                passed=bool(g.get("passed")),
            )
        )
    return gates


class BoardData:
    """The board's view of one registered model, its audit log and the board key.

    Parameters
    ----------
    tracking_uri
        The MLflow tracking store holding the model registry.
    model_name
        The registered model.
    governance
        Governance settings: the board's public key and the audit log.
    server_key
        The board's private key file, when the server is configured to hold it.
    """

    def __init__(
        self,
        tracking_uri: str,
        model_name: str,
        governance: GovernanceConfig,
        server_key: Path | None = None,
    ) -> None:
        # MLflow draws a progress bar on stderr for every artifact read: not in a server's log
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.registry = Registry(tracking_uri)
        self.model_name = model_name
        self.governance = governance
        self.server_key = server_key
        self.log = AuditLog.from_config(governance)

    # -- reads -----------------------------------------------------------------------------

    def _promoted(self) -> set[str]:
        """Versions of the model ever promoted to champion (from the audit log)."""
        try:
            entries = self.log.entries()
        except AuditLogError:
            return set()
        return {
            str(e["details"].get("version"))
            for e in entries
            if e.get("event") == "model.promote"
            and isinstance(e.get("details"), dict)
            and e["details"].get("model") == self.model_name
        }

    def _created(self) -> dict[str, str]:
        found = self.registry.client.search_model_versions(f"name = '{self.model_name}'")
        out = {}
        for mv in found:
            stamp = getattr(mv, "creation_timestamp", None)
            if stamp:
                when = datetime.fromtimestamp(int(stamp) / 1000, tz=UTC)
                out[str(mv.version)] = when.strftime("%Y-%m-%d %H:%M UTC")
        return out

    def versions(self) -> list[VersionView]:
        """Every version, newest first, with its status.

        Status: ``champion`` (served now), ``retired`` (approved and served before),
        ``approved`` or ``rejected`` (the board's decision on the current report),
        ``candidate`` (audited, awaiting a decision) or ``not audited``.
        """
        if not self.registry.versions(self.model_name):  # not registered yet: nothing to list
            return []
        rows = review_status(self.registry, self.model_name, self.governance.board_roster())
        promoted = self._promoted()
        created = self._created()
        views = []
        for row in rows:
            version = str(row["version"])
            current = bool(row["decision_is_for_current_report"])
            if CHAMPION in row["aliases"]:
                status = "champion"
            elif current and row["decision"] == "approve":
                status = "retired" if version in promoted else "approved"
            elif current and row["decision"] == "reject":
                status = "rejected"
            elif row["audited"]:
                status = "candidate"
            else:
                status = "not audited"
            passed = row["gates_passed"]
            views.append(
                VersionView(
                    version=version,
                    status=status,
                    aliases=list(row["aliases"]),
                    created=created.get(version, ""),
                    audited=bool(row["audited"]),
                    report_sha256=row["report_sha256"],
                    gates_passed=None if passed is None else passed == "true",
                    failed_gates=[],
                    decision=row["decision"],
                    reviewer=row["reviewer"],
                    decided_at=row["decided_at"],
                    reasons=row["reasons"],
                    decision_is_for_current_report=current,
                    signature=str(row["signature"]),
                )
            )
        for view in views:
            info = self._info(view.version)
            failed = info.tags.get("audit_failed_gates")
            if failed and failed != "none":
                view.failed_gates = failed.split(",")
            view.headline = headline_of(
                info.metrics, self._audit_json(info) if view.audited else None
            )
        return views

    def _audit_json(self, info: ModelVersionInfo) -> bytes | None:
        """The version's ``audit/audit.json``, or None if its audit did not log one."""
        try:
            return self.registry.read_artifact(info, AUDIT_JSON)
        except RegistryError:
            return None

    def _info(self, version: str) -> ModelVersionInfo:
        return self.registry.version(self.model_name, version)

    def version(self, version: str) -> VersionView | None:
        """One version with its gates read from its report (None if there is no such version)."""
        view = next((v for v in self.versions() if v.version == version), None)
        if view is None or not view.audited:
            return view
        try:
            report = self.report(version)
            view.gates = _gates(report)
            view.failed_gates = [g.figure for g in view.gates if not g.passed]
        except (RegistryError, VerdictError) as err:
            view.report_problem = str(err)
        return view

    def report(self, version: str) -> bytes:
        """The version's audit report, checked against its tagged hash.

        Raises
        ------
        RegistryError
            If the version has no report, or it no longer hashes to the tagged value.
        """
        info = self._info(version)
        tagged = info.tags.get(REPORT_TAG)
        if tagged is None:
            raise RegistryError(f"{self.model_name} version {version} has no audit report yet")
        report = self.registry.read_artifact(info, REPORT_ARTIFACT)
        if hashlib.sha256(report).hexdigest() != tagged:
            raise RegistryError(
                f"{self.model_name} version {version}: the logged report does not hash to the "
                "tagged value; it was changed after the audit, so it is not shown"
            )
        return report

    def audit(self, *, include_requests: bool = False, limit: int = 500) -> AuditView:
        """The audit log's entries (newest first; API requests left out unless asked)."""
        result = self.log.verify(
            self.governance.audit_log_public_key_b64,
            board_public_key_b64=self.governance.board_roster(),
        )
        try:
            entries = self.log.entries()
        except AuditLogError as err:
            return AuditView(self.log.path, result, [], 0, str(err))
        shown = [e for e in entries if include_requests or e.get("event") != REQUEST_EVENT]
        hidden = len(entries) - len(shown)
        return AuditView(self.log.path, result, list(reversed(shown))[:limit], hidden)

    def decisions(self, version: str | None = None) -> list[dict[str, Any]]:
        """Board decisions recorded in the audit log, newest first (of one version if given)."""
        try:
            entries = self.log.entries()
        except AuditLogError:
            return []
        out = []
        for e in reversed(entries):
            d = e.get("details")
            if e.get("event") != "review.decision" or not isinstance(d, dict):
                continue
            if d.get("model") != self.model_name:
                continue
            if version is not None and str(d.get("version")) != version:
                continue
            out.append({"seq": e.get("seq"), "at": e.get("at"), **d})
        return out

    # -- the decision ----------------------------------------------------------------------

    def decide(self, version: str, form: DecisionForm, key: Ed25519PrivateKey | None) -> Decision:
        """Record the decision through :func:`record_review` (``vru review``'s code).

        ``key`` is the key from the form; None uses the key the server holds (if configured).

        Raises
        ------
        ReviewError, SignatureError, RegistryError, KeyFormError
            As ``vru review`` would refuse; nothing is written then.
        """
        signing: Path | Ed25519PrivateKey
        if key is not None:
            signing = key
        elif self.server_key is not None:
            signing = load_private_key(self.server_key)
        else:
            raise KeyFormError("No signing key was given. " + _KEY_HELP)
        signed, _ = record_review(
            self.registry,
            self.log,
            self._info(version),
            decision=form.decision,
            reasons=form.reasons,
            signing_key=signing,
            board=self.governance.board_roster(),
            waive=form.waive,
        )
        return signed
