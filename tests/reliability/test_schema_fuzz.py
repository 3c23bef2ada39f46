"""schemathesis against the local server's live `/api/openapi.json`: every HTTP operation gets
valid and invalid examples; no 5xx, answers match their documented status, content type and
schema, and a rejected request changes no stored state (weavers, threads, API keys).

Bounded: a few examples per operation and mode (LOOM_LONG_TESTS=1: many more).
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from loom_jupyter.local.app import handler_modules
from loom_jupyter.local.openapi import build_document
from tests.fixtures.loom_server import LocalLoom, start_local_loom

from .conftest import LONG, admin_get, state_of

EXAMPLES = 150 if LONG else 6
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
_DOC = build_document(handler_modules())
# WebSocket routes (101) are exercised by the attack and load tests, not by an HTTP fuzzer.
OPERATIONS = [(method.upper(), path) for path, item in _DOC["paths"].items() for method in item
              if "101" not in item[method]["responses"]]
# Negative examples need something to make invalid: a parameter or a body.
CASES = [(m, p, mode) for m, p in OPERATIONS for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or _DOC["paths"][p][m.lower()].get("parameters")
         or _DOC["paths"][p][m.lower()].get("requestBody")]
_TRUE = shutil.which("true") or "/bin/true"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLoom]:
    server = start_local_loom(tmp_path_factory.mktemp("schema-fuzz") / "data")
    try:
        yield server
    finally:
        for weaver in _get(server, "/api/weavers")["weavers"]:
            httpx.delete(f"{server.url}/api/weaver/{weaver['id']}", headers=server.headers(),
                         timeout=10)
        server.stop()


@pytest.fixture(scope="module")
def schema(fuzz_server: LocalLoom) -> Any:
    loaded = schemathesis.openapi.from_url(f"{fuzz_server.url}/api/openapi.json")
    live = {(m.upper(), p) for p, item in loaded.raw_schema["paths"].items() for m in item}
    assert set(OPERATIONS) <= live  # the live document is the one this module was built from
    return loaded


def _get(server: LocalLoom, path: str) -> Any:
    return admin_get(server, path)


def _defuse(case: Any, admin_key_id: str) -> None:
    """Generated weavers run `true`, never a generated program; the fuzzer keeps its own key."""
    body = case.body
    if isinstance(body, dict):
        command = body.get("command")
        if isinstance(command, list) and command and all(isinstance(c, str) for c in command):
            body["command"] = [_TRUE]
        if isinstance(body.get("workdir"), str):
            body["workdir"] = body["workdir"].replace("..", "__")
    params = case.path_parameters or {}
    if params.get("key_id") == admin_key_id:
        params["key_id"] = "00000000-0000-7000-8000-000000000000"


@pytest.mark.parametrize(("method", "path", "mode"), CASES,
                         ids=[f"{m} {p} {mode.value}" for m, p, mode in CASES])
def test_operation_survives_generated_requests(fuzz_server, schema, method, path, mode):
    operation = schema[path][method]
    auth = fuzz_server.headers()
    admin_key_id = next(k["id"] for k in _get(fuzz_server, f"/api/orgs/{fuzz_server.org_id}/api-keys")
                        ["api_keys"] if k["name"] == "admin")
    mutating = method in ("POST", "PUT", "PATCH", "DELETE")
    statuses: list[int] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        _defuse(case, admin_key_id)
        before = state_of(fuzz_server, statuses=False) if mutating else None
        response = case.call(base_url=fuzz_server.url, headers={**(case.headers or {}), **auth},
                             timeout=30)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)
        if mutating and response.status_code >= 400:
            assert state_of(fuzz_server, statuses=False) == before, f"{case.method} {case.path} -> " \
                f"{response.status_code} changed stored state"

    check()
    assert statuses and all(s < 500 for s in statuses)
    if mode is GenerationMode.NEGATIVE and _has_input(operation):
        assert any(s >= 400 for s in statuses), "no invalid example was rejected"


def _has_input(operation: Any) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("requestBody") or any(
        p.get("in") in ("query", "path") and p.get("schema", {}).get("type") != "string"
        for p in definition.get("parameters", [])))


def test_server_stays_healthy_after_the_fuzzing(fuzz_server):
    r = httpx.get(f"{fuzz_server.url}/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] in ("healthy", "degraded")
    assert "Traceback" not in fuzz_server.log_text()
