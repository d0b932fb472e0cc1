"""The audit's verdict (model, version, gates), embedded in the report as inert JSON.

Promotion reads the gates from the very report whose SHA-256 the board signed, not from
version tags that anyone with write access to MLflow could edit. The block is a
``<script type="application/json">``: browsers never execute it and it shows nothing.
"""

from __future__ import annotations

import html
import json
from typing import Any

from governance.contracts.errors import VruError
from governance.contracts.signing import artifacts_digest

__all__ = [
    "VERDICT_BLOCK_ID",
    "VerdictError",
    "audited_files_problem",
    "embed_verdict",
    "read_verdict",
]

VERDICT_BLOCK_ID = "vru-audit-verdict"
_START = f'<script type="application/json" id="{VERDICT_BLOCK_ID}">'
_END = "</script>"


class VerdictError(VruError, ValueError):
    """A report holds no readable verdict."""


def embed_verdict(report: str, verdict: dict[str, Any]) -> str:
    """``report`` with ``verdict`` embedded just before ``</body>``."""
    text = html.escape(json.dumps(verdict, sort_keys=True), quote=False)
    block = f"{_START}{text}{_END}\n"
    at = report.rfind("</body>")
    return report[:at] + block + report[at:] if at >= 0 else report + block


def read_verdict(report: str) -> dict[str, Any]:
    """The verdict embedded by :func:`embed_verdict`."""
    start = report.rfind(_START)
    end = report.find(_END, start + len(_START)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise VerdictError("the report holds no embedded verdict; re-run `vru audit`")
    try:
        parsed = json.loads(html.unescape(report[start + len(_START) : end]))
    except ValueError as err:
        raise VerdictError(f"the report's embedded verdict is not valid JSON: {err}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("gates"), list):
        raise VerdictError("the report's embedded verdict has no list of gates")
    return parsed


_UNNAMED_FILES = (
    "the audit report does not name the model files it audited (made before audits did): "
    "run `vru audit` on the version again before the board decides"
)
_OTHER_FILES = (
    "the model's files ({found}) are not the ones the audit scored ({audited}): the model was "
    "changed after the audit; restore it, or audit the version again before the board decides"
)


def audited_files_problem(verdict: dict[str, Any], files: dict[str, str]) -> str | None:
    """Why ``files`` (``path -> sha256``) are not the model files the verdict's audit scored.

    The audit records the digest of the files it loaded (``model_artifacts_sha256``); a board
    decision about other files would approve a model nobody audited. None when they agree.
    """
    audited = verdict.get("model_artifacts_sha256")
    if not isinstance(audited, str) or not audited:
        return _UNNAMED_FILES
    found = artifacts_digest(files)
    return None if found == audited else _OTHER_FILES.format(found=found, audited=audited)
