"""The API documents itself: every operation has a written summary, a description and an
example of its answer, and every example is one the API could really send (pure, no server).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from autonama_alerts_api.app import create_app
from autonama_alerts_api.models import alerts as alert_models
from autonama_alerts_api.models import common as common_models
from autonama_alerts_api.models import market as market_models
from autonama_alerts_api.models import runs as run_models
from autonama_alerts_api.settings import Settings
from autonama_shared.notify import records as notify_records
from autonama_shared.notify import subscriptions as notify_subscriptions


def _spec() -> dict[str, Any]:
    return create_app(Settings()).openapi()


SPEC = _spec()
OPERATIONS = [
    (method.upper(), path, op) for path, ops in SPEC["paths"].items() for method, op in ops.items()
]


def _default_summary(op: dict[str, Any]) -> str:
    """What FastAPI writes when the route gives none: the function name, title-cased."""
    name = re.sub(r"_[a-z]+_(get|post|delete|put|patch)$", "", op["operationId"])
    name = name.split("_v1_")[0]
    return " ".join(w.capitalize() for w in name.split("_"))


def _example_of(content: dict[str, Any]) -> bool:
    if "example" in content or "examples" in content:
        return True
    schema = content.get("schema", {})
    if schema.get("format") == "binary":
        return True  # an image: nothing to show in JSON, the description says what it draws
    if schema.get("type") == "array":
        schema = schema["items"]
    if "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return "examples" in schema or "example" in schema


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=lambda v: str(v)[:40])
def test_every_operation_has_a_written_summary_and_description(
    method: str, path: str, op: dict[str, Any]
) -> None:
    assert op.get("summary"), f"{method} {path}: no summary"
    assert op["summary"] != _default_summary(op), f"{method} {path}: FastAPI's default summary"
    assert len(op.get("description", "")) >= 80, f"{method} {path}: a one-line description"


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=lambda v: str(v)[:40])
def test_every_operation_shows_an_example_answer(
    method: str, path: str, op: dict[str, Any]
) -> None:
    ok = [r for code, r in op["responses"].items() if code.startswith("2")]
    assert ok, f"{method} {path}: no success response documented"
    for code, response in op["responses"].items():
        if not code.startswith("2") or code == "204":  # 204: no content, by definition
            continue
        content = response.get("content")
        assert content, f"{method} {path}: the success response has no content type"
        for media, body in content.items():
            assert _example_of(body), f"{method} {path}: no example for {media}"


def test_the_default_summary_rule_matches_fastapi() -> None:
    # The rule above must recognise what FastAPI writes, or the summary test proves nothing.
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/things/top-buy")
    async def top_buy() -> dict[str, str]:
        return {}

    op = app.openapi()["paths"]["/v1/things/top-buy"]["get"]
    assert op["summary"] == _default_summary(op) == "Top Buy"


MODELS = [
    m
    for module in (
        alert_models,
        common_models,
        market_models,
        run_models,
        notify_records,
        notify_subscriptions,
    )
    for m in vars(module).values()
    if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == module.__name__
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_example_is_valid_for_its_model(model: type[BaseModel]) -> None:
    examples = model.model_json_schema().get("examples", [])
    for example in examples:
        model.model_validate(example)


def test_every_response_model_has_an_example() -> None:
    bare = [
        name
        for name, schema in SPEC["components"]["schemas"].items()
        if name in {m.__name__ for m in MODELS} and "examples" not in schema
    ]
    assert bare == [], f"models without an example: {bare}"


def test_the_documented_sse_example_parses_as_alerts() -> None:
    from autonama_alerts_api.routes.stream import SSE_EXAMPLE

    alerts = [
        line.removeprefix("data: ")
        for line in SSE_EXAMPLE.splitlines()
        if line.startswith("data: ")
    ]
    assert alerts
    for data in alerts:
        TypeAdapter(alert_models.Alert).validate_json(data)
