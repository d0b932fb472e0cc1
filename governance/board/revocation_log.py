"""The board's revocations as the governance audit log records them.

``vru review --revoke`` writes each signed revocation to three places: a tag on the model
version, a file in ``revocations_dir`` and a ``review.revocation`` entry in the governance
audit log. The server cannot read the registry, so it reads the directory *and* the log:
an attacker who deletes the file from the directory (often beside the releases) still
leaves the revocation in the log, whose chain and signed checkpoints show an entry cut
from it. Each revocation found is verified against the roster by the caller.
"""

from __future__ import annotations

from pathlib import Path

from governance.board.audit_log import AuditLog, AuditLogError
from governance.contracts.revocation import Revocation, SignedRevocation
from governance.contracts.signing import SignatureError

__all__ = ["REVOCATION_EVENT", "logged_revocations"]

REVOCATION_EVENT = "review.revocation"
#: where a logged revocation keeps its member's signature (review.record_revocation)
_SIGNATURE_FIELD = "revocation_signature"
_UNREADABLE_LOG = "{path}: the governance log cannot be read for revocations: {err}"
_MALFORMED = "{path}: entry {seq}: a revocation that cannot be read ({err}); ignored"


def logged_revocations(
    log_path: Path | None, model: str, version: str
) -> tuple[list[SignedRevocation], list[str]]:
    """The revocations of ``model`` ``version`` in the log (not yet verified), and problems.

    A missing log holds none; an unreadable log or entry is reported, never fatal: the
    revocations directory is still read by the caller.
    """
    if log_path is None or not Path(log_path).is_file():
        return [], []
    try:
        entries = AuditLog(Path(log_path)).entries()
    except (AuditLogError, OSError) as err:
        return [], [_UNREADABLE_LOG.format(path=log_path, err=err)]
    found: list[SignedRevocation] = []
    problems: list[str] = []
    for entry in entries:
        details = entry.get("details")
        if entry.get("event") != REVOCATION_EVENT or not isinstance(details, dict):
            continue
        fields = {k: v for k, v in details.items() if k != _SIGNATURE_FIELD}
        try:
            revocation = Revocation.from_fields(fields)
        except SignatureError as err:
            problems.append(_MALFORMED.format(path=log_path, seq=entry.get("seq"), err=err))
            continue
        if (revocation.model, revocation.version) == (model, version):
            found.append(SignedRevocation(revocation, str(details.get(_SIGNATURE_FIELD, ""))))
    return found, problems
