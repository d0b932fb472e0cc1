"""The board's commands: ``review``, ``promote``, ``audit-log verify``, ``keys board-init|log-init|release-init``.

The board signs a decision on the exact report a version was audited with (``review``); only
an approved version becomes the champion (``promote``); every step is in the hash-chained
audit log, which ``audit-log verify`` checks; ``keys board-init`` makes the board's key pair,
``keys log-init`` the key that signs the logs' checkpoints, ``keys release-init`` the
operator's key that signs releases.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from governance.contracts.errors import ConfigError
from vru.console import (
    DEFAULT_MODEL_NAME,
    GovernanceOpt,
    ModelOpt,
    QuietOpt,
    default_tracking,
    err,
    governance_config,
    refuse,
    stage,
)

if TYPE_CHECKING:
    from governance.board.registry import Registry
    from governance.contracts.settings import GovernanceConfig

__all__ = [
    "DEMO_REVIEWER",
    "audit_log_verify",
    "board_init",
    "log_init",
    "promote",
    "release_init",
    "review",
]

DEMO_REVIEWER = "DEMO (not an ethics board)"
_DEMO_REASON = "Demo approval of a model of generated data; not a decision of an ethics board."


ReviewerOpt = Annotated[
    str | None,
    typer.Option(
        help="Optional check: the signing member's roster name (the reviewer recorded is "
        "always the roster name of the key's member)."
    ),
]
SigningKeyOpt = Annotated[
    Path | None, typer.Option(help="Your own member private key (from `vru keys board-init`).")
]
ValidUntilOpt = Annotated[
    str | None,
    typer.Option(
        help="The review date, YYYY-MM-DD (UTC): the approval lapses after it. Default: "
        "today plus board.review_months."
    ),
]
RevokeOpt = Annotated[
    bool,
    typer.Option(
        help="Withdraw the board's approval of --version, signed with your member key and "
        "with --reason; one member's revocation suffices. The server stops serving it."
    ),
]


def review(
    model: ModelOpt = DEFAULT_MODEL_NAME,
    version: Annotated[str | None, typer.Option(help="The version decided on.")] = None,
    decision: Annotated[str | None, typer.Option(help="approve or reject.")] = None,
    reviewer: ReviewerOpt = None,
    reason: Annotated[str | None, typer.Option(help="Why, in the reviewer's words.")] = None,
    signing_key: SigningKeyOpt = None,
    valid_until: ValidUntilOpt = None,
    waive: Annotated[
        list[str] | None,
        typer.Option(help="A failed gate the board accepts, by figure name (repeatable)."),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="Show versions awaiting review and past decisions.")
    ] = False,
    revoke: RevokeOpt = False,
    demo: Annotated[
        bool,
        typer.Option(
            help="A labelled demo approval (every failed gate waived); only with environment: demo."
        ),
    ] = False,
    governance: GovernanceOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Record the ethics board's signed decision on the report a version was audited with."""
    with stage(quiet):
        gov = governance_config(governance)
        default_tracking()
        from governance.board.audit_log import AuditLog
        from governance.board.registry import Registry
        from governance.board.review import record_review, review_status

        registry = Registry()
        if list_:
            _print_reviews(model, review_status(registry, model, gov.board_roster()))
            return
        if revoke:
            _revoke(registry, gov, model, version, reason, signing_key, quiet)
            return
        if demo:
            _require_demo(gov, signing_key)
            decision, reason = "approve", _DEMO_REASON
            waive = _failed_gates(registry, model, version)
        _check_review_arguments(
            version=version, decision=decision, reason=reason, signing_key=signing_key
        )
        assert version and reason and signing_key
        signed, _ = record_review(
            registry,
            AuditLog.from_config(gov),
            registry.version(model, version),
            decision=decision,  # type: ignore[arg-type]
            reviewer=reviewer,
            reasons=reason,
            signing_key=signing_key,
            board=gov.board_roster(),
            waive=tuple(waive or ()),
            valid_until=_review_date(valid_until),
        )
        if not quiet:
            err.print(
                f"recorded: {signed.decision} {model} version {signed.version} by {signed.reviewer} "
                f"({signed.member}) at {signed.decided_at}, review by {signed.valid_until}, for "
                f"report {signed.report_sha256[:12]}…"
                + (f"; waived: {', '.join(signed.waived_gates)}" if signed.waived_gates else ""),
                highlight=False,
            )


def _revoke(
    registry: Registry,
    gov: GovernanceConfig,
    model: str,
    version: str | None,
    reason: str | None,
    signing_key: Path | None,
    quiet: bool,
) -> None:
    """``vru review --revoke``: sign and record one member's revocation."""
    from governance.board.audit_log import AuditLog
    from governance.board.review import record_revocation

    missing = [
        k
        for k, v in {"--version": version, "--reason": reason, "--signing-key": signing_key}.items()
        if not v
    ]
    if missing:
        raise ConfigError(f"vru review --revoke needs {', '.join(missing)}")
    assert version and reason and signing_key
    revocation, _, path = record_revocation(
        registry,
        AuditLog.from_config(gov),
        registry.version(model, version),
        reasons=reason,
        signing_key=signing_key,
        board=gov.board_roster(),
        revocations_dir=gov.revocations_dir,
    )
    if not quiet:
        err.print(
            f"revoked: {model} version {version} by {revocation.member} at "
            f"{revocation.revoked_at}; written to {path}",
            highlight=False,
        )


def _require_demo(gov: GovernanceConfig, signing_key: Path | None) -> None:
    """Refuse ``--demo`` unless this is a demo environment and the key a DEMO member's.

    The reviewer recorded is the member's roster name, so a demo approval is labelled only
    if that name says DEMO (``vru release`` refuses such an approval outside a demo).
    """
    if gov.environment != "demo":
        raise ConfigError(
            "--demo: allowed only when the governance config says environment: demo "
            f"(it says {gov.environment!r})"
        )
    roster = gov.board_roster()
    if signing_key is None or roster is None:
        return  # the missing option or board is named by the checks that follow
    from governance.contracts.signing import load_private_key

    member = roster.signer(load_private_key(signing_key))
    if not member.name.upper().startswith("DEMO"):
        raise ConfigError(
            f"--demo: the signing key is member {member.id!r}, whose roster name does not "
            "start with DEMO; a demo approval must be labelled (name demo members 'DEMO ...')"
        )


def _review_date(text: str | None) -> date | None:
    """``--valid-until`` as a date (its range is checked against the roster when signing)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--valid-until: expected a date YYYY-MM-DD, got {text!r}") from None


def _check_review_arguments(
    *,
    version: str | None,
    decision: str | None,
    reason: str | None,
    signing_key: Path | None,
) -> None:
    """Every option a decision needs, all missing ones named at once; a known decision."""
    needed = {
        "--version": version,
        "--decision": decision,
        "--reason": reason,
        "--signing-key": signing_key,
    }
    missing = [k for k, v in needed.items() if not v]
    if missing:
        raise ConfigError(f"vru review needs {', '.join(missing)} (or --list)")
    if decision not in ("approve", "reject"):
        raise ConfigError(f"--decision: expected 'approve' or 'reject', got {decision!r}")


def _failed_gates(registry: Registry, model: str, version: str | None) -> list[str]:
    """The figures whose gates failed in the report the version was audited with."""
    from governance.board.approval import REPORT_ARTIFACT
    from governance.board.verdict import read_verdict

    info = registry.version(model, version)
    verdict = read_verdict(registry.read_artifact(info, REPORT_ARTIFACT).decode("utf-8"))
    return [g["figure"] for g in verdict["gates"] if not g["passed"]]


def _print_reviews(model: str, rows: list[dict[str, Any]]) -> None:
    """One line per version, newest first."""
    if not rows:
        typer.echo(f"{model}: no versions")
    for row in rows:
        aliases = f" [{', '.join(row['aliases'])}]" if row["aliases"] else ""
        gates = {"true": "gates pass", "false": "gates FAIL"}.get(str(row["gates_passed"]), "")
        if row["decision"]:
            decided = (
                f"{row['decision']} by {row['reviewer']} at {row['decided_at']}, "
                f"signature {row['signature']}"
                + ("" if row["decision_is_for_current_report"] else " (for an earlier report)")
            )
        else:
            decided = "no decision"
        state = "AWAITING REVIEW" if row["awaiting_review"] else ""
        audited = "audited" if row["audited"] else "not audited"
        parts = [f"{model} v{row['version']}{aliases}", audited, gates, decided, state]
        typer.echo("  ".join(p for p in parts if p))
        for m in row.get("members", []):
            said = (
                f"{m['decision']} at {m['decided_at']}, review by {m['valid_until']}, "
                f"signature {m['signature']}"
                + ("" if m["for_current_report"] else " (for an earlier report)")
                if m["decision"]
                else "no decision"
            )
            typer.echo(f"    {m['member']} ({m['name']}): {said}")


def promote(
    model: ModelOpt = DEFAULT_MODEL_NAME,
    version: Annotated[str, typer.Option(help="The version to serve.")] = "",
    governance: GovernanceOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Move 'champion' to a version the board approved for its current report; logged.

    Refused (exit 1), with every missing condition listed, unless the version was audited,
    passed every gate or had it waived, and carries the board's approval of that very report
    and of the model's files as they are, with a signature that verifies against the
    configured public key. With environment: production, the audited model card's impact
    assessments must be written (no "TO BE COMPLETED"). Rolling back to an
    earlier approved version works the same way.
    """
    with stage(quiet):
        if not version:
            raise ConfigError("vru promote needs --version")
        gov = governance_config(governance)
        default_tracking()
        from governance.board.approval import ApprovalError
        from governance.board.approval import promote as promote_version
        from governance.board.audit_log import AuditLog
        from governance.board.registry import Registry

        registry = Registry()
        info = registry.version(model, version)
        try:
            approval = promote_version(
                registry,
                AuditLog.from_config(gov),
                info,
                gov.board_roster(),
                actor="cli:promote",
                environment=gov.environment,
                revocations_dir=gov.revocations_dir,
            )
        except ApprovalError as error:
            refuse(f"[red]{error}[/]")
        if not quiet:
            err.print(
                f"{model} version {approval.info.version} is now 'champion' (approved by "
                f"{', '.join(approval.reviewers)}; review by {approval.valid_until})",
                highlight=False,
            )


_BOARD_KEY_WHERE = (
    "private key: {private} (mode 600); public key: {public}\n"
    "add a member to board.members in configs/governance.yaml with the line above as "
    "its public_key_b64 (or, for a board of one, set it as board_public_key_b64)"
)

_LOG_KEY_WHERE = (
    "private key: {private} (mode 600); public key: {public}\n"
    "in configs/governance.yaml put the line above as audit_log_public_key_b64 and "
    "{private} as audit_log_key (start with new, empty logs: a writer refuses "
    "to sign over a log that has no checkpoint yet)"
)

_RELEASE_KEY_WHERE = (
    "private key: {private} (mode 600; give it to `vru release --release-key` "
    "or release.yaml release_key); public key: {public}\n"
    "put the line above in configs/serving.yaml as release_public_key_b64"
)

PublicKeyOpt = Annotated[Path, typer.Option(help="Where the public key (PEM) goes.")]
ForceOpt = Annotated[bool, typer.Option(help="Overwrite existing key files.")]


def _init_key(private_key: Path, public_key: Path, force: bool, quiet: bool, where: str) -> None:
    """Write an Ed25519 key pair (private 0600), print the public key, say where it goes."""
    with stage(quiet):
        from governance.contracts.signing import generate_keypair

        public_b64 = generate_keypair(private_key, public_key, overwrite=force)
        typer.echo(public_b64)
        if not quiet:
            err.print(where.format(private=private_key, public=public_key), highlight=False)


def board_init(
    private_key: Annotated[
        Path,
        typer.Option(
            help="Where the board's private key goes (keep it off this machine's shared disks)."
        ),
    ],
    public_key: PublicKeyOpt,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create the board's Ed25519 key pair; print the public key for configs/governance.yaml."""
    _init_key(private_key, public_key, force, quiet, _BOARD_KEY_WHERE)


def log_init(
    private_key: Annotated[
        Path,
        typer.Option(
            help="Where the logs' private key goes: readable by the log writers only, on "
            "another disk or account than the logs."
        ),
    ],
    public_key: PublicKeyOpt,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create the audit logs' Ed25519 key pair, which signs a checkpoint after every append."""
    _init_key(private_key, public_key, force, quiet, _LOG_KEY_WHERE)


def release_init(
    private_key: Annotated[
        Path, typer.Option(help="Where the release private key goes (for `vru release`).")
    ],
    public_key: PublicKeyOpt,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create the operator's Ed25519 release key pair; print the public key for serving.

    ``vru release`` signs each manifest (the files' SHA-256, the disclosure rules, the
    board's approval) with the private key; the server serves only releases whose manifest
    verifies with the public key in its config (``release_public_key_b64``). The board
    approves models; this key signs each night's data, and can be rotated without the board.
    """
    _init_key(private_key, public_key, force, quiet, _RELEASE_KEY_WHERE)


def audit_log_verify(
    governance: GovernanceOpt = None,
    log: Annotated[
        Path | None,
        typer.Option(help="Another log signed with the same key, e.g. the API's request log."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Check the chain, the board signatures in it and its signed checkpoint (exit 1 if any fails).

    Every problem is one line: an altered entry, a signature that does not verify, a log cut
    short below its checkpoint, re-chained, a forged or missing anchor, entries no checkpoint
    covers. Without ``audit_log_public_key_b64`` in the config only the chain and the
    signatures are checked, and a warning says so.
    """
    with stage(quiet):
        from governance.board.audit_log import AuditLog

        gov = governance_config(governance)
        target = AuditLog.from_config(gov.model_copy(update={"audit_log_key": None}), log)
        result = target.verify(
            gov.audit_log_public_key_b64, board_public_key_b64=gov.board_roster()
        )
        if result.ok:
            if quiet:
                return
            anchored = result.checkpoint
            err.print(
                f"{target.path}: {result.entries} entries, chain intact"
                + (
                    f", signed checkpoint at seq {anchored.seq} (hash {anchored.hash}, {anchored.at})"
                    if anchored is not None
                    else ""
                ),
                highlight=False,
            )
            _warn_unchecked(gov, result.signed_entries)
            return
        lines = "\n".join(f"  {problem}" for problem in result.problems)
        refuse(f"[red]{target.path}: tampered[/] — {len(result.problems)} problem(s):\n{lines}")


def _warn_unchecked(gov: GovernanceConfig, signed_entries: int) -> None:
    """Say what ``audit-log verify`` could not check for want of a configured key."""
    if gov.audit_log_public_key_b64 is None:
        err.print(
            "[yellow]warning[/]: no audit_log_public_key_b64 configured: a log cut short or "
            "re-chained is not detected",
            highlight=False,
        )
    if signed_entries and gov.board_roster() is None:
        err.print(
            f"[yellow]warning[/]: {signed_entries} entries carry board signatures, not checked: "
            "no board (roster) configured",
            highlight=False,
        )
