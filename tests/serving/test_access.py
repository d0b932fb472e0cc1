"""Each route declares who may call it, and the gate enforces exactly that declaration."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from serving.access import ANY_KEY, OPEN, Access, AccessTable
from serving.app import create_app
from serving.dependencies import AdminKey, AnyKey
from tests.serving.conftest import World


def _table(router: APIRouter) -> AccessTable:
    app = FastAPI()
    app.include_router(router)
    return AccessTable(app.routes, (app.openapi_url, app.docs_url, app.redoc_url))


def test_a_route_that_declares_no_access_stops_the_app_at_start_up() -> None:
    router = APIRouter()

    @router.get("/v1/forgotten")
    async def forgotten() -> dict[str, str]:  # declares neither a role nor a page
        return {}

    with pytest.raises(RuntimeError, match=r"/v1/forgotten \(forgotten\) declares no access"):
        _table(router)


def test_the_declared_roles_are_what_the_table_holds() -> None:
    router = APIRouter()

    @router.get("/v1/read")
    async def read(key: AnyKey) -> dict[str, str]:
        return {}

    @router.post("/v1/admin/act")
    async def act(key: AdminKey) -> dict[str, str]:
        return {}

    table = _table(router)
    assert table.by_template["/v1/read"] == ANY_KEY
    assert table.by_template["/v1/admin/act"] == Access("key", ("admin",))
    assert table.by_template["/openapi.json"] == OPEN


def test_every_route_of_the_app_declares_its_access(world: World) -> None:
    app = create_app(world.config)
    table: AccessTable = app.state.access
    assert table.by_template["/v1/areas/{code}"] == ANY_KEY  # the hot route, from its declaration
    assert table.by_template["/v1/admin/reload"].roles == ("admin",)
    assert table.by_template["/healthz"] == OPEN
    assert {a.kind for a in table.by_template.values()} <= {"open", "key", "page", "static"}


def test_an_admin_route_refuses_a_planner_whatever_its_path(world: World) -> None:
    """The role comes from the route, not a path prefix: a planner key gets 403 on reload."""
    with TestClient(create_app(world.config)) as client:
        refused = client.post("/v1/admin/reload", headers=world.headers("planner"))
        assert refused.status_code == 403
        assert client.post("/v1/admin/reload", headers=world.headers("admin")).status_code != 403
