"""The ethics board's pages: versions, a version's report and decision, the audit log.

==========================================  ================================================
``GET  /board``                             every version: status, gates, date, decisions
``GET  /board/versions/{v}``                one version: gates, its report, decision form
``GET  /board/versions/{v}/report``         the audit report itself (sandboxed, printable)
``POST /board/versions/{v}/decision``       record a signed decision (``vru review``'s code)
``GET  /board/audit-log``                   the audit log and whether its chain verifies
==========================================  ================================================

Only the ``board`` role reaches them. The registry and audit log are read in a worker thread
(MLflow's client blocks); :mod:`serving.pages.board_data` holds that logic and is imported on
the first board request.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.params import Path
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import HTMLResponse, Response

from governance.contracts.errors import VruError
from governance.contracts.settings import GovernanceConfig
from serving.config import ServingConfig
from serving.pages.session import CSRF_FIELD, check_csrf
from serving.pages.web import SECURITY_HEADERS, PageError, Pages

if TYPE_CHECKING:
    from serving.pages.board_data import BoardData, DecisionForm

__all__ = ["board_pages"]

BOARD = "board"
VERSION_PATTERN = r"^[0-9]{1,9}$"
REPORT_HEADERS = {
    **SECURITY_HEADERS,
    # the report is shown as it was hashed; it runs nothing and loads nothing
    "content-security-policy": (
        "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'"
    ),
}
_MAX_REVIEWER = 200
_NO_VERSION = "{model} has no version {version}."
_NO_VERSION_DO = "Choose a version from the list on the board page."
_CSRF = "This form has expired or did not come from this site, so nothing was recorded."
_CSRF_DO = "Reload the page, fill in the form again and send it."
_REGISTRY_DOWN = "The model registry cannot be read: {err}"
_REGISTRY_DOWN_DO = (
    "Check that the MLflow tracking store (tracking_uri in the serving config, or "
    "MLFLOW_TRACKING_URI) is reachable, then reload the page."
)


def board_pages(
    router: APIRouter, pages: Pages, config: ServingConfig, governance: GovernanceConfig
) -> None:
    """The board's pages."""

    @functools.cache
    def data() -> BoardData:
        from serving.pages.board_data import BoardData

        return BoardData(
            config.registry_uri(),
            config.pages.model_name,
            governance,
            config.pages.board_signing_key,
        )

    def read(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VruError as err:
            raise PageError(503, _REGISTRY_DOWN.format(err=err), _REGISTRY_DOWN_DO) from None
        except Exception as err:  # MLflow's own errors: say so rather than a bare 500
            if type(err).__module__.startswith("mlflow"):
                raise PageError(
                    503, _REGISTRY_DOWN.format(err=type(err).__name__), _REGISTRY_DOWN_DO
                ) from None
            raise

    def version_page(
        request: Request,
        version: str,
        *,
        recorded: bool = False,
        form: dict[str, Any] | None = None,
        problem: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        board = data()
        view = read(board.version, version)
        if view is None:
            raise PageError(
                404, _NO_VERSION.format(model=board.model_name, version=version), _NO_VERSION_DO
            )
        viewer = getattr(request.state, "page_viewer", None)
        return pages.render(
            request,
            "board_version.html",
            {
                "viewer": viewer,
                "model": board.model_name,
                "v": view,
                "history": read(board.decisions, version),
                "recorded": recorded,
                "server_key": board.server_key is not None,
                "form": form
                or {
                    "decision": "",
                    "reviewer": viewer.key.name if viewer else "",
                    "reasons": "",
                    "waive": [],
                },
                "problem": problem,
            },
            status=status,
        )

    @router.get("/board", include_in_schema=False, response_class=HTMLResponse)
    def board_home(request: Request) -> Response:
        """Every version with its status, gates, date and decision; recent decisions."""
        viewer = pages.signed_in(request, BOARD)
        board = data()
        return pages.render(
            request,
            "board.html",
            {
                "viewer": viewer,
                "model": board.model_name,
                "versions": read(board.versions),
                "decisions": read(board.decisions)[:20],
            },
        )

    @router.get("/board/versions/{version}", include_in_schema=False, response_class=HTMLResponse)
    def board_version(
        request: Request,
        version: Annotated[str, Path(pattern=VERSION_PATTERN)],
        recorded: Annotated[bool, Query()] = False,
    ) -> Response:
        """One version: its gates, its report in the page, the decision form and history."""
        request.state.page_viewer = pages.signed_in(request, BOARD)
        return version_page(request, version, recorded=recorded)

    @router.get(
        "/board/versions/{version}/report", include_in_schema=False, response_class=HTMLResponse
    )
    def board_report(
        request: Request, version: Annotated[str, Path(pattern=VERSION_PATTERN)]
    ) -> Response:
        """The report exactly as audited (its hash checked), sandboxed: print it from here."""
        pages.signed_in(request, BOARD)
        board = data()
        if read(board.version, version) is None:
            raise PageError(
                404, _NO_VERSION.format(model=board.model_name, version=version), _NO_VERSION_DO
            )
        try:
            report = board.report(version)
        except VruError as err:
            raise PageError(
                404,
                f"There is no report to show: {err}.",
                "Run 'vru audit' for this version (a data scientist does), then reload.",
            ) from None
        return HTMLResponse(report, headers=REPORT_HEADERS)

    @router.post(
        "/board/versions/{version}/decision", include_in_schema=False, response_class=HTMLResponse
    )
    async def board_decide(
        request: Request, version: Annotated[str, Path(pattern=VERSION_PATTERN)]
    ) -> Response:
        """Check the form and the key, record the signed decision, show the version again."""
        viewer = pages.signed_in(request, BOARD)
        request.state.page_viewer = viewer
        async with request.form(max_files=1, max_fields=60, max_part_size=64_000) as raw:
            if not check_csrf(viewer.session, raw.get(CSRF_FIELD)):
                raise PageError(403, _CSRF, _CSRF_DO)
            upload = raw.get("key_file")
            key_bytes = await upload.read() if isinstance(upload, UploadFile) else b""
            pasted = raw.get("key_text")
            if not key_bytes.strip() and isinstance(pasted, str):
                key_bytes = pasted.encode("utf-8", "replace")
            fields = {
                "decision": str(raw.get("decision") or ""),
                "reviewer": str(raw.get("reviewer") or "").strip(),
                "reasons": str(raw.get("reasons") or "").strip(),
                "waive": [str(w) for w in raw.getlist("waive") if isinstance(w, str) and w],
            }
        problem, form = _check(fields)
        if problem is None:
            assert form is not None
            problem = await run_in_threadpool(_decide, data(), version, form, key_bytes)
        del key_bytes  # the key is used once, above, and kept nowhere
        if problem is not None:
            return await run_in_threadpool(
                functools.partial(
                    version_page, request, version, form=fields, problem=problem, status=400
                )
            )
        return pages.redirect(request, f"/board/versions/{version}?recorded=true#history")

    @router.get("/board/audit-log", include_in_schema=False, response_class=HTMLResponse)
    def board_audit_log(request: Request, requests: Annotated[bool, Query()] = False) -> Response:
        """The audit log, newest first, and whether its hash chain verifies."""
        viewer = pages.signed_in(request, BOARD)
        board = data()
        return pages.render(
            request,
            "audit_log.html",
            {"viewer": viewer, "log": board.audit(include_requests=requests), "requests": requests},
        )


def _check(fields: dict[str, Any]) -> tuple[str | None, DecisionForm | None]:
    """The form's own checks (before the key and the registry): what is missing or wrong."""
    from serving.pages.board_data import DecisionForm

    problems = []
    if fields["decision"] not in ("approve", "reject"):
        problems.append("choose approve or reject")
    if not fields["reviewer"]:
        problems.append("give the reviewer's name")
    elif len(fields["reviewer"]) > _MAX_REVIEWER:
        problems.append(f"the reviewer's name is longer than {_MAX_REVIEWER} characters")
    if not fields["reasons"]:
        problems.append("give the reasons for the decision (they are signed and published)")
    if problems:
        return "Nothing was recorded: " + "; ".join(problems) + ".", None
    return None, DecisionForm(
        decision=fields["decision"],
        reviewer=fields["reviewer"],
        reasons=fields["reasons"],
        waive=tuple(fields["waive"]),
    )


def _decide(board: BoardData, version: str, form: DecisionForm, key_bytes: bytes) -> str | None:
    """Record the decision; the problem in words if it was refused (nothing written then)."""
    from serving.pages.board_data import parse_private_key

    try:
        key = (
            parse_private_key(key_bytes) if key_bytes.strip() or board.server_key is None else None
        )
        board.decide(version, form, key)
    except VruError as err:
        text = str(err).removeprefix("--signing-key: ").removeprefix("--reason: ")
        return f"Nothing was recorded: {text}"
    return None
