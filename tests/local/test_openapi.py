"""`/api/openapi.json` stays true: every route is described, and live answers match the schemas."""
from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import jsonschema
import pytest

from loom_jupyter.local.app import all_routes, handler_modules


@pytest.fixture(scope="module")
def doc(loom_server) -> dict[str, Any]:
    resp = httpx.get(f"{loom_server.url}/api/openapi.json", timeout=10)
    assert resp.status_code == 200 and resp.json()["openapi"].startswith("3.0")
    return dict(resp.json())


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: `nullable` becomes a null type, refs point into the doc."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _response_schema(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    responses = doc["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return {**_to_json_schema(schema), "components": _to_json_schema(doc["components"])}


def _check(doc: dict[str, Any], path: str, method: str, resp: httpx.Response) -> None:
    schema = _response_schema(doc, path, method, resp.status_code)
    jsonschema.validate(resp.json(), schema, resolver=jsonschema.RefResolver("", schema))


def _openapi_path(tornado_pattern: str) -> str:
    names = iter(["{a}", "{b}", "{c}"])
    return re.sub(r"\([^)]*\)", lambda _: next(names), tornado_pattern.rstrip("$"))


def test_every_route_is_described(doc):
    described = {re.sub(r"\{[^}]+\}", "{}", p) for p in doc["paths"]}
    for pattern, _ in all_routes(handler_modules()):
        route = re.sub(r"\{[^}]+\}", "{}", _openapi_path(pattern))
        assert route in described, f"{pattern} is served but not in /api/openapi.json"


def test_live_answers_match_their_schemas(loom_server, doc):
    h = loom_server.headers()
    url = loom_server.url
    get = lambda path, **kw: httpx.get(f"{url}{path}", headers=h, timeout=10, **kw)  # noqa: E731
    _check(doc, "/health", "get", httpx.get(f"{url}/health", timeout=10))
    _check(doc, "/api/auth/me", "get", get("/api/auth/me"))
    _check(doc, "/api/orgs", "get", get("/api/orgs"))
    _check(doc, "/api/auth/ws-token", "get", get("/api/auth/ws-token"))
    created = httpx.post(f"{url}/api/weaver", headers=h, timeout=30, json={
        "image": "python:3.12", "org_id": loom_server.org_id, "command": ["sh", "-c", "exit 2"],
        "tags": {"suite": "openapi"}, "lifetime_hours": 1})
    _check(doc, "/api/weaver", "post", created)
    weaver_id = created.json()["id"]
    _check(doc, "/api/weavers", "get", get("/api/weavers", params={"tag": "suite:openapi"}))
    _check(doc, "/api/weaver/{weaver_id}", "get", get(f"/api/weaver/{weaver_id}"))
    cleanup = httpx.post(f"{url}/api/weavers/cleanup", params={"dry_run": "true"}, headers=h, timeout=10)
    _check(doc, "/api/weavers/cleanup", "post", cleanup)
    thread_id = f"T-{uuid.uuid4()}"
    stamp = "2025-01-01T00:00:00+00:00"
    thread = {"id": thread_id, "version": 1, "created_at": stamp, "updated_at": stamp,
              "last_activity_at": stamp, "metadata": {"title": "openapi probe"}}
    _check(doc, "/api/threads/{thread_id}", "put",
           httpx.put(f"{url}/api/threads/{thread_id}", json=thread, headers=h, timeout=10))
    _check(doc, "/api/threads", "get", get("/api/threads"))
    _check(doc, "/api/threads/search", "get", get("/api/threads/search", params={"q": "probe"}))
    _check(doc, "/api/threads/{thread_id}", "get", get(f"/api/threads/{thread_id}"))


@pytest.mark.parametrize(("method", "path", "template", "status"), [
    ("get", "/api/weaver/018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a", "/api/weaver/{weaver_id}", 404),
    ("get", "/api/weaver/nope", "/api/weaver/{weaver_id}", 400),
    ("get", "/api/threads/T-missing", "/api/threads/{thread_id}", 404),
    ("get", "/api/threads/search?q=", "/api/threads/search", 400),
    ("post", "/api/weaver", "/api/weaver", 400),
])
def test_error_answers_match_the_error_schema(loom_server, doc, method, path, template, status):
    resp = httpx.request(method.upper(), f"{loom_server.url}{path}", headers=loom_server.headers(),
                         json={} if method == "post" else None, timeout=10)
    assert resp.status_code == status
    _check(doc, template, method, resp)


def test_unauthenticated_answers_are_documented(loom_server, doc):
    resp = httpx.get(f"{loom_server.url}/api/weavers", timeout=10)
    assert resp.status_code == 401
    _check(doc, "/api/weavers", "get", resp)
