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
import logging
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.params import Path
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import HTMLResponse, Response

from governance.contracts.errors import VruError
from governance.contracts.settings import GovernanceConfig
from serving.config import ServingConfig
from serving.dependencies import BoardPageDep
from serving.pages.session import CSRF_FIELD, check_csrf
from serving.pages.web import SECURITY_HEADERS, PageError, PageGuard, Viewer

if TYPE_CHECKING:
    from serving.pages.board_data import BoardData, DecisionForm

__all__ = ["BoardStore", "router"]

VERSION_PATTERN = r"^[0-9]{1,9}$"
REPORT_HEADERS = {
    **SECURITY_HEADERS,
    # the report is shown as it was hashed; it runs nothing and loads nothing
    "content-security-policy": (
        "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'"
    ),
}
_NO_VERSION = "{model} has no version {version}."
_NO_VERSION_DO = "Choose a version from the list on the board page."
_CSRF = "This form has expired or did not come from this site, so nothing was recorded."
_CSRF_DO = "Reload the page, fill in the form again and send it."
_log = logging.getLogger("serving")
_REGISTRY_DOWN = "The model registry cannot be read; the details are in the server log."
_REGISTRY_DOWN_DO = (
    "Check that the MLflow tracking store (tracking_uri in the serving config, or "
    "MLFLOW_TRACKING_URI) is reachable, then reload the page."
)


class BoardStore:
    """The board's view of the registry and audit log, opened on the first board request.

    :mod:`serving.pages.board_data` imports MLflow's client, so the planners' server never
    loads it until a board member asks.
    """

    def __init__(self, config: ServingConfig, governance: GovernanceConfig) -> None:
        self.config = config
        self.governance = governance
        self._data: BoardData | None = None

    def data(self) -> BoardData:
        """The registry and audit log (opened once)."""
        if self._data is None:
            from serving.pages.board_data import BoardData

            self._data = BoardData(
                self.config.registry_uri(),
                self.config.pages.model_name,
                self.governance,
                self.config.pages.board_signing_key,
            )
        return self._data


async def _board_store(request: Request) -> BoardStore:
    store: BoardStore = request.app.state.board_store
    return store


BoardStoreDep = Annotated[BoardStore, Depends(_board_store)]
Version = Annotated[str, Path(pattern=VERSION_PATTERN)]

router = APIRouter(prefix="/board", include_in_schema=False)
"""The board's pages: only the ``board`` role reads them."""


def _read(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, a registry that cannot be read answered as a 503 page."""
    try:
        return fn(*args, **kwargs)
    except VruError as err:
        _log.warning("model registry: %s", err)
        raise PageError(503, _REGISTRY_DOWN, _REGISTRY_DOWN_DO) from None
    except Exception as err:  # MLflow's own errors: say so rather than a bare 500
        if type(err).__module__.startswith("mlflow"):
            _log.warning("model registry: %s", type(err).__name__)
            raise PageError(503, _REGISTRY_DOWN, _REGISTRY_DOWN_DO) from None
        raise


def _no_version(board: BoardData, version: str) -> PageError:
    return PageError(
        404, _NO_VERSION.format(model=board.model_name, version=version), _NO_VERSION_DO
    )


def _version_page(
    page: PageGuard,
    store: BoardStore,
    version: str,
    viewer: Viewer,
    *,
    recorded: bool = False,
    form: dict[str, Any] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """One version's page: gates, report, decision history and form (refilled after a refusal)."""
    board = store.data()
    view = _read(board.version, version)
    if view is None:
        raise _no_version(board, version)
    return page.pages.render(
        page.request,
        "board_version.html",
        {
            "viewer": viewer,
            "model": board.model_name,
            "v": view,
            "history": _read(board.decisions, version),
            "recorded": recorded,
            "server_key": board.server_key is not None,
            "form": form or {"decision": "", "reasons": "", "waive": []},
            "problem": problem,
        },
        status=status,
    )


@router.get("", response_class=HTMLResponse)
def board_home(request: Request, page: BoardPageDep, store: BoardStoreDep) -> Response:
    """Every version with its status, gates, date and decision; recent decisions."""
    viewer = page.signed_in()
    board = store.data()
    return page.pages.render(
        request,
        "board.html",
        {
            "viewer": viewer,
            "model": board.model_name,
            "versions": _read(board.versions),
            "decisions": _read(board.decisions)[:20],
        },
    )


@router.get("/versions/{version}", response_class=HTMLResponse)
def board_version(
    page: BoardPageDep,
    store: BoardStoreDep,
    version: Version,
    recorded: Annotated[bool, Query()] = False,
) -> Response:
    """One version: its gates, its report in the page, the decision form and history."""
    viewer = page.signed_in()
    return _version_page(page, store, version, viewer, recorded=recorded)


@router.get("/versions/{version}/report", response_class=HTMLResponse)
def board_report(page: BoardPageDep, store: BoardStoreDep, version: Version) -> Response:
    """The report exactly as audited (its hash checked), sandboxed: print it from here."""
    page.signed_in()
    board = store.data()
    if _read(board.version, version) is None:
        raise _no_version(board, version)
    try:
        report = board.report(version)
    except VruError as err:
        raise PageError(
            404,
            f"There is no report to show: {err}.",
            "Run 'vru audit' for this version (a data scientist does), then reload.",
        ) from None
    return HTMLResponse(report, headers=REPORT_HEADERS)


@router.post("/versions/{version}/decision", response_class=HTMLResponse)
async def board_decide(
    request: Request, page: BoardPageDep, store: BoardStoreDep, version: Version
) -> Response:
    """Check the form and the key, record the signed decision, show the version again."""
    viewer = page.signed_in()
    fields, key_bytes = await _decision_form(request, viewer)
    problem, form = _check(fields)
    if problem is None:
        assert form is not None
        problem = await run_in_threadpool(_decide, store.data(), version, form, key_bytes)
    del key_bytes  # the key is used once, above, and kept nowhere
    if problem is not None:
        return await run_in_threadpool(
            functools.partial(
                _version_page,
                page,
                store,
                version,
                viewer,
                form=fields,
                problem=problem,
                status=400,
            )
        )
    return page.pages.redirect(request, f"/board/versions/{version}?recorded=true#history")


async def _decision_form(request: Request, viewer: Viewer) -> tuple[dict[str, Any], bytes]:
    """The decision form's fields and the private key sent with it (file or pasted), CSRF-checked."""
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
            "reasons": str(raw.get("reasons") or "").strip(),
            "waive": [str(w) for w in raw.getlist("waive") if isinstance(w, str) and w],
        }
    return fields, key_bytes


@router.get("/audit-log", response_class=HTMLResponse)
def board_audit_log(
    request: Request,
    page: BoardPageDep,
    store: BoardStoreDep,
    requests: Annotated[bool, Query()] = False,
) -> Response:
    """The audit log, newest first, and whether its hash chain verifies."""
    viewer = page.signed_in()
    board = store.data()
    return page.pages.render(
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
    if not fields["reasons"]:
        problems.append("give the reasons for the decision (they are signed and published)")
    if problems:
        return "Nothing was recorded: " + "; ".join(problems) + ".", None
    return None, DecisionForm(
        decision=fields["decision"],
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
