"""The OpenAPI description (web/openapi.py) keeps up with the routes: every /api operation is in
the served document, every handler that decodes a typed body has that body described, and the
document is one schemathesis accepts."""

from __future__ import annotations

import inspect
import re
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.core.result import Ok

from linli.config import Settings
from web.app import create_starlette
from web.openapi import OPENAPI_PATH, api_routes, describe, reading


@pytest.fixture(scope="module")
def app():
    # No lifespan: the document needs the routes only, not a runtime.
    return create_starlette(Settings(database_url="sqlite:///unused.sqlite3"))


async def served(app) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as client:
        response = await client.get(OPENAPI_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()  # type: ignore[no-any-return]


async def test_every_api_route_is_described(app) -> None:
    doc = await served(app)
    operations = list(api_routes(app.routes))
    assert len(operations) > 200  # every feature's routes, not only the core's
    for path, method, _ in operations:
        template = path.replace(":int", "").replace(":path", "").replace(":str", "")
        assert method.lower() in doc["paths"].get(template, {}), f"{method} {path} missing"
    described = sum(len(ops) for ops in doc["paths"].values())
    assert described == len(operations)
    assert OPENAPI_PATH in doc["paths"]


def _decodes_a_body(fn: object, seen: set[int] | None = None) -> bool:
    """Whether the handler, or a function of its module it calls, decodes a body: the same
    question as ``reading`` answers, asked of the plain text."""
    seen = seen if seen is not None else set()
    if not inspect.isfunction(fn) or id(fn) in seen:
        return False
    seen.add(id(fn))
    source = inspect.getsource(fn)
    if "decode_body(" in source or "decode(raw" in source:
        return True
    names = fn.__globals__
    return any(
        _decodes_a_body(value, seen)
        for name, value in names.items()
        if inspect.isfunction(value)
        and value.__module__ == fn.__module__
        and re.search(rf"(?<![.\w]){re.escape(name)}\(", source)
    )


def test_every_decoded_body_is_described(app) -> None:
    doc = describe(app.routes, version="test")
    undescribed = []
    for path, method, route in api_routes(app.routes):
        if method == "GET" or not _decodes_a_body(route.endpoint):
            continue
        found = reading(route.endpoint)
        if found.upload:
            continue  # described as the file's bytes
        if not found.bodies:
            undescribed.append(f"{method} {path}")
            continue
        template = path.replace(":int", "").replace(":path", "")
        body = doc["paths"][template][method.lower()]["requestBody"]
        assert body["content"]["application/json"]["schema"] != {"type": "object"}
    assert not undescribed, "bodies decoded in a way web/openapi.py cannot read: " + ", ".join(
        undescribed
    )


def test_a_body_is_its_structs_schema(app) -> None:
    doc = describe(app.routes, version="test")
    login = doc["paths"]["/api/login"]["post"]["requestBody"]["content"]["application/json"]
    ref = login["schema"]["$ref"].rsplit("/", 1)[1]
    schema = doc["components"]["schemas"][ref]
    assert set(schema["required"]) == {"username", "password"}
    cancel = doc["paths"]["/api/events/{event_id}/cancel"]["post"]["parameters"][0]
    assert cancel["in"] == "path" and cancel["schema"]["type"] == "integer"
    assert cancel["schema"]["maximum"] == 10**18 - 1
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert "not_found" in error["properties"]["code"]["enum"]


def test_schemathesis_accepts_the_document(app) -> None:
    schema = schemathesis.openapi.from_dict(describe(app.routes, version="test"))
    results = list(schema.get_all_operations())
    failed = [r for r in results if not isinstance(r, Ok)]
    assert not failed
    assert len(results) == len(list(api_routes(app.routes)))
