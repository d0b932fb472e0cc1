"""The OpenAPI document tells the truth: schemathesis finds no 5xx and no schema violation."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans

from serving.app import create_app
from serving.config import AnonymousLimit
from tests.serving.conftest import make_world

# schemathesis' lazy loader (from_fixture) fails on pytest 9, so the app under test is built
# when the module is imported, in a directory of its own, and removed after the module's tests
_FUZZ_ROOT = Path(tempfile.mkdtemp(prefix="vru-fuzz-"))
# the fuzzer asks without a key many times a second: the anonymous limit is raised for it
_WORLD = make_world(_FUZZ_ROOT, anonymous=AnonymousLimit(requests_per_minute=10**6, burst=10**5))
_APP = create_app(_WORLD.config)
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@pytest.fixture(scope="module", autouse=True)
def _fuzzed_app() -> Iterator[None]:
    yield
    shutdown_lifespans()  # stops the app schemathesis started: the audit is flushed
    shutil.rmtree(_FUZZ_ROOT, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
def test_the_api_keeps_its_documented_contract(case: Any) -> None:
    case.call_and_validate(headers=_WORLD.headers("admin"))


def test_errors_are_documented_as_problems_and_no_default_422(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    document = TestClient(create_app(world.config)).get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"] or path == "/v1/aggregate", (path, method)
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (path, status)
            if path not in ("/healthz", "/readyz"):
                assert operation["security"] == [{"bearer": []}]
                assert "401" in operation["responses"] and "429" in operation["responses"]
    area = document["paths"]["/v1/areas/{code}"]["get"]
    assert set(area["responses"]) >= {"200", "400", "401", "404", "429", "503"}
    schemas = document["components"]["schemas"]
    assert schemas["AreaResponse"]["examples"][0]["area"]["code"] == "E09000002"
    assert schemas["Problem"]["examples"][0]["invalid_params"][0]["name"] == "level"
