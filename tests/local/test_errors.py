"""Domain errors of the local server reach the caller as Loom's status and error body (§2)."""
from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from loom_jupyter.client.models.ids import new_thread_id
from loom_jupyter.local import errors
from loom_jupyter.local.base import wire_error
from tests.fixtures.loom_server import LocalLoom

# Status and code of each domain error, as loom-api.md §1.3, §1.5, §2, §4.2 and §5.4 give them (the
# local server's documented choices: `version_conflict`, `rate_limited`).
LOOM_CODES: list[tuple[type[errors.LocalError], int, str]] = [
    (errors.LocalError, 500, "internal_error"),
    (errors.InvalidRequest, 400, "bad_request"),
    (errors.InvalidLifetime, 400, "invalid_lifetime"),
    (errors.InvalidName, 400, "invalid_name"),
    (errors.InvalidScopes, 400, "invalid_scopes"),
    (errors.InvalidDeviceCode, 400, "invalid_device_code"),
    (errors.InvalidUserCode, 400, "invalid_user_code"),
    (errors.BodyTooLarge, 413, "payload_too_large"),
    (errors.UnsupportedMediaType, 415, "unsupported_media_type"),
    (errors.NotAuthenticated, 401, "unauthorized"),
    (errors.NotAllowed, 403, "forbidden"),
    (errors.NotFound, 404, "not_found"),
    (errors.WeaverNotFound, 404, "weaver_not_found"),
    (errors.VersionConflict, 409, "version_conflict"),
    (errors.AlreadyRevoked, 409, "already_revoked"),
    (errors.TooManyWeavers, 429, "too_many_weavers"),
    (errors.ProvisionFailed, 500, "provisioner_error"),
    (errors.UpstreamFailed, 502, "upstream_error"),
    (errors.RateLimited, 503, "rate_limited"),
    (errors.UpstreamTimeout, 504, "upstream_timeout"),
]


def test_every_domain_error_class_has_a_loom_status_and_code():
    defined = {value for value in vars(errors).values()
               if isinstance(value, type) and issubclass(value, errors.LocalError)}
    assert defined == {cls for cls, _, _ in LOOM_CODES}, "a new error class needs a row above"


@pytest.mark.parametrize(("cls", "status", "code"), LOOM_CODES,
                         ids=[cls.__name__ for cls, _, _ in LOOM_CODES])
def test_a_domain_error_becomes_its_status_and_body(cls, status, code):
    assert wire_error(cls("what went wrong")) == (status, {"error": code,
                                                           "message": "what went wrong"})
    # details (a conflict's versions) are top-level keys, never nulls of absent ones
    answer = wire_error(cls("why", server_version=6, client_version=5))
    assert answer[1] == {"error": code, "message": "why", "server_version": 6, "client_version": 5}


def _call(server: LocalLoom, method: str, path: str, key: str | None = None,
          **kw: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", headers={**server.headers(key),
                                                                  **kw.pop("headers", {})},
                         timeout=15, **kw)


@pytest.fixture(scope="module")
def revoked_key_id(loom_server: LocalLoom) -> str:
    made = loom_server.make_user("user", name="errors-revoked")
    path = f"/api/orgs/{loom_server.org_id}/api-keys/{made['id']}"
    assert _call(loom_server, "DELETE", path).status_code == 200
    return str(made["id"])


@pytest.fixture(scope="module")
def thread_at_version_3(loom_server: LocalLoom, user_key: str) -> str:
    thread_id = new_thread_id()
    body = {"id": thread_id, "version": 3, "conversation": {"messages": []}}
    assert _call(loom_server, "PUT", f"/api/threads/{thread_id}", user_key,
                 json=body).status_code == 200
    return thread_id


UNKNOWN = str(uuid.UUID(int=7))


def test_domain_errors_over_http_are_loom_error_bodies(loom_server, user_key, revoked_key_id,
                                                       thread_at_version_3):
    org = loom_server.org_id
    cases: list[tuple[tuple[str, str, str | None], dict[str, Any], int, dict[str, Any]]] = [
        (("GET", f"/api/weaver/{UNKNOWN}", user_key), {}, 404,
         {"error": "weaver_not_found", "message": f"Weaver not found: {UNKNOWN}"}),
        (("GET", "/api/weaver/not-a-uuid", user_key), {}, 400,
         {"error": "bad_request", "message": "invalid id: 'not-a-uuid'"}),
        (("POST", "/api/weaver", user_key),
         {"json": {"image": "python:3.12", "org_id": org, "lifetime_hours": 49}}, 400,
         {"error": "invalid_lifetime", "message": "49 hours exceeds max 48 hours"}),
        (("POST", "/api/weavers/cleanup", user_key), {}, 403,
         {"error": "forbidden", "message": "System admin access required for cleanup operations"}),
        (("GET", "/api/threads/T-none", user_key), {}, 404,
         {"error": "not_found", "message": "Thread not found: T-none"}),
        (("PUT", f"/api/threads/{thread_at_version_3}", user_key),
         {"json": {"id": thread_at_version_3, "version": 4}, "headers": {"If-Match": "2"}}, 409,
         {"error": "version_conflict", "message": "Version conflict: expected 3, got 2",
          "server_version": 3, "client_version": 2}),
        (("DELETE", f"/api/orgs/{org}/api-keys/{revoked_key_id}", None), {}, 409,
         {"error": "already_revoked", "message": "API key is already revoked"}),
        (("POST", f"/api/orgs/{org}/api-keys", None), {"json": {"name": " "}}, 400,
         {"error": "invalid_name", "message": "name must be a non-empty string"}),
        (("GET", f"/api/orgs/{org}/api-keys", user_key), {}, 403,
         {"error": "forbidden", "message": "Insufficient permissions"}),
        (("GET", "/api/weavers", user_key), {"params": {"tag": "nocolon"}}, 400,
         {"error": "bad_request", "message": "tag filter 'nocolon' is not key:value"}),
    ]
    log_before = len(loom_server.log_text())
    for (method, path, key), extra, status, body in cases:
        resp = _call(loom_server, method, path, key, **extra)
        assert (resp.status_code, resp.json()) == (status, body), (method, path)
        assert resp.headers["content-type"].startswith("application/json")
    # answers, not crashes: nothing of these requests is logged as an uncaught exception
    assert "Traceback" not in loom_server.log_text()[log_before:]
