"""Attacks on the pages, the API's error bodies and its documentation (issue 15, finding 8).

Error bodies that leak paths, a session cookie without ``Secure`` in production, a session
that never idles out, anonymous rows in the signed-out table, and API documentation that
loads a third party's script: each test here failed on the code before the control was built.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from fastapi.testclient import TestClient

from serving.app import create_app
from tests.serving.conftest import World, make_world
from tests.serving.pages_helpers import csrf_of, sign_in

HTTPS = "https://testserver"


def test_not_ready_bodies_say_nothing_of_paths_or_exceptions(tmp_path: Path) -> None:
    world = make_world(tmp_path, releases_dir=tmp_path / "no-such-releases")
    with TestClient(create_app(world.config)) as client:
        for response in (
            client.get("/readyz"),
            client.get("/v1/areas?level=ward", headers=world.headers()),
        ):
            assert response.status_code == 503
            assert str(tmp_path) not in response.text
            assert "no-such-releases" not in response.text
            assert "Error" not in response.json()["detail"]
            assert "server log" in response.json()["detail"]


def _demo(world: World) -> None:
    """Turn the world's governance config to ``environment: demo``."""
    path = world.config.governance_config
    assert path is not None
    path.write_text(path.read_text() + "environment: demo\n")


def test_the_session_cookie_is_secure_in_production_whatever_the_headers_say(
    tmp_path: Path,
) -> None:
    world = make_world(tmp_path)  # governance's default environment: production
    with TestClient(create_app(world.config)) as client:  # plain http, no forwarded header
        assert "Secure" in sign_in(client, world.tokens["planner"]).headers["set-cookie"]
    _demo(world)
    forwarded = {"X-Forwarded-Proto": "https"}
    with TestClient(create_app(world.config), headers=forwarded) as client:
        assert "Secure" not in sign_in(client, world.tokens["planner"]).headers["set-cookie"]


def test_an_idle_session_expires(tmp_path: Path) -> None:
    world = make_world(tmp_path, pages={"idle_minutes": 0.03, "refresh_seconds": 0.0})
    with TestClient(create_app(world.config), base_url=HTTPS) as client:
        sign_in(client, world.tokens["planner"])
        for _ in range(3):  # in use: each page renews the idle clock
            time.sleep(0.5)
            assert client.get("/planner", follow_redirects=False).status_code == 200
        time.sleep(3.2)  # longer than 0.03 minutes (1.8 s) without a request
        gone = client.get("/planner", follow_redirects=False)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/signin")


def test_an_anonymous_sign_out_adds_no_row(fresh: World) -> None:
    with TestClient(create_app(fresh.config), base_url=HTTPS) as client:
        token = csrf_of(client.get("/signin").text)
        for _ in range(5):
            client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
        path = fresh.config.pages.signed_out_path(fresh.config.keys_file)
        rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM signed_out").fetchone()[0]
        assert rows == 0
        sign_in(client, fresh.tokens["planner"])
        page = client.get("/planner")
        client.post("/signout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
        rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM signed_out").fetchone()[0]
        assert rows == 1


def test_the_api_docs_load_no_script_from_another_site(world: World, client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200, path
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls and all(u.startswith("/") for u in urls), (path, urls)
        assert "cdn" not in page.text.lower() and "fonts.googleapis" not in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        for url in urls:
            assert client.get(url).status_code == 200, url
