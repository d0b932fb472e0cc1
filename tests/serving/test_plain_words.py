"""Plain words: every documented figure is described, every /docs example works on the demo.

The examples of the OpenAPI document (what /docs offers to "try it out") are called against a
London-shaped release like the demo's (tests/serving/city.py) and must each answer 200; every
field of every response model says what it is; no page or API text uses the team's jargon;
the definitions state the ages and outcome period the pipeline really uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import BaseModel

from serving import schemas
from serving.app import create_app
from serving.definitions import AGES, DEFINITIONS, OUTCOME_MONTHS
from tests.serving.city import london_rows
from tests.serving.conftest import World, make_world
from tests.serving.pages_helpers import HTTPS, sign_in
from tests.serving.release_factory import write_release

ROOT = Path(__file__).resolve().parents[2]
#: path parameters no fixed example can name on every demo (a release id is made when it runs)
NO_EXAMPLE = {("get", "/v1/releases/{release_id}")}
#: words a planner should not have to learn; field names may keep them, descriptions may not
JARGON = re.compile(
    r"label window|prevalence|\bcontrib\b|shrunk|shrinkage|\bcohort\b|calibrated|\bSHAP\b(?! values)",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A world serving a London-shaped release (real borough and BCU codes), as the demo does."""
    root = tmp_path_factory.mktemp("plain")
    world = make_world(root)
    write_release(root / "releases", world.board, release_id="london", rows=london_rows())
    return world


@pytest.fixture(scope="module")
def client(demo: World) -> Iterator[TestClient]:
    with TestClient(create_app(demo.config), base_url=HTTPS) as test_client:
        yield test_client


def _example(parameter: dict[str, Any]) -> Any:
    if "example" in parameter:
        return parameter["example"]
    if parameter.get("examples"):
        examples = parameter["examples"]
        return examples[0] if isinstance(examples, list) else next(iter(examples.values()))["value"]
    schema = parameter.get("schema", {})
    return schema["examples"][0] if schema.get("examples") else None


def _body_example(operation: dict[str, Any], document: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    schema = content["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert schema.get("examples"), f"the request body of {operation['operationId']} has no example"
    return schema["examples"][0]


def _calls(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], Any]]:
    """Every operation of the document with its examples: (method, url, query, body)."""
    calls = []
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            url, query, missing = template, {}, False
            for parameter in operation.get("parameters", []):
                value = _example(parameter)
                if parameter["in"] == "path":
                    if value is None:
                        missing = True
                        continue
                    url = url.replace("{" + parameter["name"] + "}", str(value))
                elif parameter["in"] == "query" and value is not None:
                    query[parameter["name"]] = value
            if missing:
                assert (method, template) in NO_EXAMPLE, f"{method} {template}: no example"
                continue
            calls.append((method, url, query, _body_example(operation, document)))
    return calls


def test_every_example_of_the_api_document_answers_200_on_a_demo_like_release(
    client: TestClient, demo: World
) -> None:
    document = client.get("/openapi.json").json()
    calls = _calls(document)
    assert len(calls) >= 8
    for method, url, query, body in calls:
        response = client.request(
            method.upper(), url, params=query, json=body, headers=demo.headers("admin")
        )
        assert response.status_code == 200, (method, url, query, body, response.text)
    # and the example listing is what it says: the wards of the example borough
    wards = client.get(
        "/v1/areas", params={"level": "ward", "parent": "E09000002"}, headers=demo.headers()
    ).json()
    assert wards["total"] > 0 and {a["parent_code"] for a in wards["items"]} == {"E09000002"}


def test_the_release_id_path_works_with_an_id_the_listing_gives(
    client: TestClient, demo: World
) -> None:
    listing = client.get("/v1/releases", headers=demo.headers()).json()
    rid = listing["current_release_id"]
    assert client.get(f"/v1/releases/{rid}", headers=demo.headers()).status_code == 200


def _response_models() -> list[type[Any]]:
    return [
        getattr(schemas, name)
        for name in schemas.__all__
        if isinstance(getattr(schemas, name), type)
        and issubclass(getattr(schemas, name), BaseModel)
        and name not in ("AggregateRequest",)
    ]


def test_every_field_of_every_response_model_says_what_it_is_with_an_example() -> None:
    missing = []
    for model in _response_models():
        for name, info in model.model_fields.items():
            if not info.description:
                missing.append(f"{model.__name__}.{name}: no description")
            nested = name in ("factors", "items", "points", "releases", "manifest", "area")
            if not nested and name != "comparison" and not info.examples:
                missing.append(f"{model.__name__}.{name}: no example")
    assert missing == []


def test_descriptions_and_pages_use_no_jargon(client: TestClient, demo: World) -> None:
    document = client.get("/openapi.json").json()
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("description", "summary") and isinstance(value, str):
                    texts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in ("AreaPublic", "AreaFactor", "AreaList", "AreaResponse", "Comparison"):
        walk(document["components"]["schemas"][name])
    assert [t for t in texts if JARGON.search(t)] == []
    assert sign_in(client, demo.tokens["planner"]).status_code == 303
    for path in ("/planner", "/planner?level=lsoa", "/planner/areas/E09000002", "/planner/map"):
        page = client.get(path).text
        visible = re.sub(r"<[^>]+>", " ", page)
        assert JARGON.findall(visible) == [], path


def test_every_page_defines_its_figures_in_plain_words(client: TestClient, demo: World) -> None:
    assert sign_in(client, demo.tokens["planner"]).status_code == 303
    for path in ("/planner", "/planner/areas/E09000002", "/planner/map"):
        page = client.get(path).text
        assert "What the figures mean" in page, path
        assert f"aged {AGES[0]} to {AGES[1]}" in page and f"next {OUTCOME_MONTHS} months" in page
        assert "known to local services" in page
        for definition in DEFINITIONS:
            assert definition.term in page, (path, definition.term)


def test_the_definitions_state_the_ages_and_period_the_pipeline_uses() -> None:
    """If features.min_age, max_age or label_months change, the words must change with them."""
    pipeline = yaml.safe_load((ROOT / "configs" / "pipeline.yaml").read_text()) or {}
    features = pipeline.get("features", {}) or {}
    from training.features.config import FeaturesConfig  # the tests may read training

    defaults = {name: info.default for name, info in FeaturesConfig.model_fields.items()}
    assert (
        features.get("min_age", defaults["min_age"]),
        features.get("max_age", defaults["max_age"]),
    ) == AGES
    assert features.get("label_months", defaults["label_months"]) == OUTCOME_MONTHS


def test_a_london_area_s_page_puts_the_ons_estimate_beside_its_young_people(
    client: TestClient, demo: World
) -> None:
    assert sign_in(client, demo.tokens["planner"]).status_code == 303
    page = client.get("/planner/areas/E09000002").text
    assert "Young people known to services" in page
    assert "the ONS mid-2019 estimate is about " in page and "this release counts" in page
    generated_ward = client.get("/planner/areas/X05000013").text  # not a London code
    assert "ONS mid-2019" not in generated_ward
