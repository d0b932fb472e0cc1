"""Helpers of the page tests: sign in through the form, read a page's CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx2 import Response

HTTPS = "https://testserver"
"""The test client's address for pages: their cookie is ``Secure`` (environment production)."""
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    found = CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, token: str, next_page: str = "") -> Response:
    """Open the sign-in form and post ``token`` with its CSRF token (no redirect followed)."""
    form = client.get("/signin")
    assert form.status_code == 200
    return client.post(
        "/signin",
        data={"csrf_token": csrf_of(form.text), "api_key": token, "next": next_page},
        follow_redirects=False,
    )
