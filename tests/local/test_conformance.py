"""The local server as Loom's own web dashboard client meets it (issue 14): the same paths and
methods, the same headers (`Content-Type: application/json` on every request, even a GET or a
bodiless POST; a bare integer in `If-Match`), the same bodies, authenticated by the
`loom_session` cookie, and every answer checked against the shapes loom-api.md and the issue
give (written here from those facts, independent of the server's own OpenAPI document).

Loom sets the cookie after a magic link or OAuth; locally `POST /api/auth/session` trades a key
for it (a local extension), which is the only step here that Loom's web client does not take.
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from loom_jupyter.client.models.ids import new_thread_id
from tests.fixtures.loom_server import LocalLoom

# -- the documented shapes ----------------------------------------------------------------------

RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"
STR: dict[str, Any] = {"type": "string"}
NSTR: dict[str, Any] = {"type": ["string", "null"]}
INT: dict[str, Any] = {"type": "integer"}
BOOL: dict[str, Any] = {"type": "boolean"}
TIME: dict[str, Any] = {"type": "string", "pattern": RFC3339}
NTIME: dict[str, Any] = {"type": ["string", "null"], "pattern": RFC3339}
UUID = {"type": "string", "pattern": r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}


def shape(optional: dict[str, Any] | None = None, **required: Any) -> dict[str, Any]:
    """An object with these keys present (values may be null where the schema says so)."""
    return {"type": "object", "required": list(required),
            "properties": {**required, **(optional or {})}}


def array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


# §2: `{"error","message"}`; the version numbers only on a 409, as integers, never null.
ERROR = shape(error=STR, message=STR)
CONFLICT = shape(error=STR, message=STR, server_version=INT, client_version=INT)
MESSAGE = shape(message=STR)
# §1.3 and the issue: /api/auth/me with email, avatar_url, locale (null where unknown).
CURRENT_USER = shape(id=STR, display_name=STR, email=NSTR, avatar_url=NSTR, locale=NSTR,
                     global_roles=array(enum("system_admin", "support", "auditor")),
                     created_at=TIME)
PROVIDERS = shape(providers=array(enum("github", "google", "okta", "magic_link")))
WS_TOKEN = shape(token={"type": "string", "pattern": "^ws_[0-9a-f]{32}$"}, expires_in=INT)
DEVICE_START = shape(device_code=UUID, user_code={"type": "string", "pattern": r"^\d{3}-\d{3}-\d{3}$"},
                     verification_url=STR, expires_in=INT)
DEVICE_PENDING = shape(status=enum("pending"))
DEVICE_DONE = shape(status=enum("completed"), access_token={"type": "string", "pattern": "^lt_"})
# The issue: orgs carry slug, visibility, join_policy, is_personal, created_at, updated_at,
# member_count; §9: org roles are owner, admin, member.
ORG_ROLE = enum("owner", "admin", "member")
ORG = shape(id=STR, name=STR, slug=STR, visibility=STR, join_policy=STR, is_personal=BOOL,
            created_at=TIME, updated_at=TIME, member_count={"type": ["integer", "null"]})
ORGS = shape(orgs=array(ORG))
MEMBERS = shape(members=array(shape(user_id=STR, display_name=STR, role=ORG_ROLE)))
# §1.5 and the issue: keys listed with their prefix and creator, never the key.
SCOPE = enum("threads_read", "threads_write", "threads_delete", "llm_use", "tools_use", "*")
API_KEY = shape(id=STR, name=STR, prefix={"type": "string", "pattern": "^lk_"}, scopes=array(SCOPE),
                created_by=STR, created_at=TIME, last_used_at=NTIME, revoked_at=NTIME)
API_KEYS = shape(api_keys=array(API_KEY))
CREATED_KEY = shape(id=STR, key={"type": "string", "pattern": "^lk_[0-9a-f]{64}$"}, name=STR,
                    prefix=STR, scopes=array(SCOPE), created_at=TIME)
# §3.1, §3.2.
VISIBILITY = enum("organization", "private", "public", "team")
THREAD = shape(id={"type": "string", "pattern": "^T-"}, version=INT, created_at=TIME,
               updated_at=TIME, last_activity_at=TIME, visibility=VISIBILITY)
SUMMARY = shape(id=STR, version=INT, created_at=TIME, updated_at=TIME, last_activity_at=TIME,
                message_count=INT, is_pinned=BOOL, visibility=VISIBILITY)
THREAD_LIST = shape(threads=array(SUMMARY), total=INT, limit=INT, offset=INT)
SEARCH = {**shape(hits=array({**SUMMARY, "required": [*SUMMARY["required"], "score"]}),
                  limit=INT, offset=INT), "not": {"required": ["total"]}}
# §4.1, §4.3.
WEAVER = shape(id=UUID, pod_name=STR, created_at=TIME,
               status=enum("pending", "running", "succeeded", "failed", "terminating"),
               optional={"image": STR, "tags": {"type": "object"}, "lifetime_hours": INT,
                         "age_hours": {"type": "number"}, "owner_user_id": STR})
WEAVERS = shape(weavers=array(WEAVER), count=INT)
# §7.
HEALTH = shape(status=enum("healthy", "degraded", "unhealthy", "unknown"), timestamp=TIME,
               duration_ms=INT, version={"type": "object"}, components={"type": "object"})


# -- a client that behaves like Loom's web client ---------------------------------------------

class WebClient:
    """Every request as the web client sends it: JSON content type always, the session cookie,
    JSON bodies, `If-Match` as a bare integer. Every answer but a 204 must be JSON."""

    def __init__(self, server: LocalLoom, cookie: str | None) -> None:
        cookies = {"loom_session": cookie} if cookie else None
        self.http = httpx.Client(base_url=server.url, cookies=cookies, timeout=30,
                                 headers={"Content-Type": "application/json"})

    def call(self, method: str, path: str, status: int, expected: dict[str, Any] | None,
             body: Any = None, if_match: int | None = None) -> Any:
        headers = {"If-Match": str(if_match)} if if_match is not None else {}
        content = None if body is None else json.dumps(body)
        resp = self.http.request(method, path, content=content, headers=headers)
        assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text}"
        if status == 204:
            assert resp.content == b""
            return None
        assert resp.headers["content-type"].startswith("application/json"), (method, path)
        answer = resp.json()
        if expected is not None:
            jsonschema.validate(answer, expected)
        return answer

    def close(self) -> None:
        self.http.close()


def _session_cookie(server: LocalLoom, key: str) -> str:
    resp = httpx.post(f"{server.url}/api/auth/session", headers=server.headers(key), timeout=10)
    assert resp.status_code == 201
    return str(resp.cookies["loom_session"])


@pytest.fixture(scope="module")
def member(loom_server: LocalLoom) -> dict[str, Any]:
    return loom_server.make_user("user", name=f"web-member-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def web(loom_server: LocalLoom, member: dict[str, Any]) -> Iterator[WebClient]:
    """The web client of an ordinary member of the default org."""
    client = WebClient(loom_server, _session_cookie(loom_server, member["key"]))
    yield client
    client.close()


@pytest.fixture(scope="module")
def admin_web(loom_server: LocalLoom) -> Iterator[WebClient]:
    client = WebClient(loom_server, _session_cookie(loom_server, loom_server.admin_key))
    yield client
    client.close()


@pytest.fixture(scope="module")
def anonymous(loom_server: LocalLoom) -> Iterator[WebClient]:
    client = WebClient(loom_server, None)
    yield client
    client.close()


# -- the routes -------------------------------------------------------------------------------

def test_health_and_auth_routes(web, anonymous, member):
    anonymous.call("GET", "/health", 200, HEALTH)
    assert anonymous.call("GET", "/api/auth/providers", 200, PROVIDERS) == {"providers": []}
    anonymous.call("GET", "/api/auth/me", 401, ERROR)
    who = web.call("GET", "/api/auth/me", 200, CURRENT_USER)
    assert (who["id"], who["global_roles"]) == (member["user_id"], [])
    assert (who["email"], who["avatar_url"], who["locale"]) == (None, None, None)
    web.call("GET", "/api/auth/ws-token", 200, WS_TOKEN)


def test_orgs_their_detail_and_members(web, admin_web, loom_server, member):
    orgs = web.call("GET", "/api/orgs", 200, ORGS)["orgs"]
    assert [o["id"] for o in orgs] == [loom_server.org_id]
    detail = web.call("GET", f"/api/orgs/{loom_server.org_id}", 200, ORG)
    assert detail == {k: v for k, v in orgs[0].items() if k != "role"}  # `role`: local extension
    assert (detail["slug"], detail["is_personal"]) == ("default", False)
    members = web.call("GET", f"/api/orgs/{loom_server.org_id}/members", 200, MEMBERS)["members"]
    assert detail["member_count"] == len(members)
    mine = [m for m in members if m["user_id"] == member["user_id"]]
    assert [(m["display_name"], m["role"]) for m in mine] == [(member["name"], "member")]
    assert admin_web.call("GET", "/api/orgs", 200, ORGS)["orgs"][0]["member_count"] >= 2
    stranger = str(uuid.uuid4())
    web.call("GET", f"/api/orgs/{stranger}", 403, ERROR)
    web.call("GET", f"/api/orgs/{stranger}/members", 403, ERROR)
    admin_web.call("GET", f"/api/orgs/{stranger}", 404, ERROR)


def test_api_keys_show_their_prefix_and_creator(admin_web, web, loom_server):
    org = loom_server.org_id
    admin_id = admin_web.call("GET", "/api/auth/me", 200, CURRENT_USER)["id"]
    created = admin_web.call("POST", f"/api/orgs/{org}/api-keys", 201, CREATED_KEY,
                             {"name": "CI", "scopes": ["threads_read", "llm_use"]})
    assert created["key"].startswith(created["prefix"]) and len(created["prefix"]) < 20
    keys = admin_web.call("GET", f"/api/orgs/{org}/api-keys", 200, API_KEYS)["api_keys"]
    assert created["key"] not in str(keys) and loom_server.admin_key not in str(keys)
    listed = next(k for k in keys if k["id"] == created["id"])
    assert (listed["prefix"], listed["created_by"], listed["revoked_at"]) == (
        created["prefix"], admin_id, None)
    bootstrap = next(k for k in keys if k["name"] == "admin")
    assert bootstrap["created_by"] == admin_id
    assert loom_server.admin_key.startswith(bootstrap["prefix"])
    admin_web.call("DELETE", f"/api/orgs/{org}/api-keys/{created['id']}", 200, MESSAGE)
    again = admin_web.call("DELETE", f"/api/orgs/{org}/api-keys/{created['id']}", 409, ERROR)
    assert again["error"] == "already_revoked"
    keys = admin_web.call("GET", f"/api/orgs/{org}/api-keys", 200, API_KEYS)["api_keys"]
    assert next(k for k in keys if k["id"] == created["id"])["revoked_at"] is not None
    web.call("GET", f"/api/orgs/{org}/api-keys", 403, ERROR)


def test_threads_with_if_match_and_the_visibility_route(web):
    thread_id = new_thread_id()
    path = f"/api/threads/{thread_id}"
    thread = {"id": thread_id, "version": 1, "metadata": {"title": "conformance"},
              "conversation": {"messages": [{"role": "user", "content": "hello loom"}]}}
    assert web.call("PUT", path, 200, THREAD, thread)["version"] == 1
    assert web.call("PUT", path, 200, THREAD, {**thread, "version": 2}, if_match=1)["version"] == 2
    stale = web.call("PUT", path, 409, CONFLICT, {**thread, "version": 2}, if_match=1)
    assert (stale["server_version"], stale["client_version"]) == (2, 1)
    listing = web.call("GET", "/api/threads?limit=50", 200, THREAD_LIST)
    assert thread_id in [t["id"] for t in listing["threads"]]
    hits = web.call("GET", "/api/threads/search?q=conformance", 200, SEARCH)["hits"]
    assert thread_id in [h["id"] for h in hits]

    public = web.call("POST", f"{path}/visibility", 200, THREAD, {"visibility": "public"},
                      if_match=2)
    assert (public["visibility"], public["version"]) == ("public", 3)  # the server bumps it
    late = web.call("POST", f"{path}/visibility", 409, CONFLICT, {"visibility": "private"},
                    if_match=2)
    assert (late["server_version"], late["client_version"]) == (3, 2)
    private = web.call("POST", f"{path}/visibility", 200, THREAD, {"visibility": "private"})
    assert (private["visibility"], private["version"]) == ("private", 4)
    stored = web.call("GET", path, 200, THREAD)
    assert (stored["visibility"], stored["version"]) == ("private", 4)
    assert stored["metadata"]["title"] == "conformance"  # nothing else changed
    web.call("POST", f"{path}/visibility", 400, ERROR, {"visibility": "everyone"})
    web.call("POST", f"/api/threads/{new_thread_id()}/visibility", 404, ERROR,
             {"visibility": "public"})
    web.call("DELETE", path, 204, None)
    web.call("GET", path, 404, ERROR)


def test_a_device_code_approved_by_the_signed_in_web_user(web, anonymous, member):
    codes = anonymous.call("POST", "/api/auth/device/start", 200, DEVICE_START)
    poll = {"device_code": codes["device_code"]}
    anonymous.call("POST", "/api/auth/device/poll", 200, DEVICE_PENDING, poll)
    anonymous.call("POST", "/api/auth/device/complete", 401, ERROR, {"user_code": codes["user_code"]})
    web.call("POST", "/api/auth/device/complete", 200, MESSAGE, {"user_code": codes["user_code"]})
    done = anonymous.call("POST", "/api/auth/device/poll", 200, DEVICE_DONE, poll)
    bad = anonymous.call("POST", "/api/auth/device/poll", 400, ERROR, {"device_code": "x"})
    assert bad["error"] == "invalid_device_code"
    reused = web.call("POST", "/api/auth/device/complete", 400, ERROR,
                      {"user_code": codes["user_code"]})
    assert reused["error"] == "invalid_user_code"
    who = anonymous.http.get("/api/auth/me", headers={
        "Authorization": f"Bearer {done['access_token']}"})
    assert who.json()["id"] == member["user_id"]


def test_weavers(web, loom_server, member):
    created = web.call("POST", "/api/weaver", 201, WEAVER, {
        "image": "python:3.12", "org_id": loom_server.org_id, "env": {}, "tags": {"web": "1"},
        "lifetime_hours": 24, "command": ["sleep", "30"]})
    assert created["owner_user_id"] == member["user_id"]
    listing = web.call("GET", "/api/weavers", 200, WEAVERS)
    assert listing["count"] == len(listing["weavers"])
    assert created["id"] in [w["id"] for w in listing["weavers"]]
    web.call("GET", f"/api/weaver/{created['id']}", 200, WEAVER)
    web.call("DELETE", f"/api/weaver/{created['id']}", 204, None)


def test_logout_ends_the_cookie_session(loom_server):
    cookie = _session_cookie(loom_server, loom_server.make_key("user"))
    client, replay = WebClient(loom_server, cookie), WebClient(loom_server, cookie)
    try:
        client.call("GET", "/api/auth/me", 200, CURRENT_USER)
        resp = client.http.post("/api/auth/logout")
        assert resp.status_code == 200
        jsonschema.validate(resp.json(), MESSAGE)
        assert re.search(r"loom_session=[^;]*;.*(Max-Age=0|expires=)", resp.headers["set-cookie"],
                         re.IGNORECASE)
        replay.call("GET", "/api/auth/me", 401, ERROR)  # the old cookie, sent again, is dead
    finally:
        client.close()
        replay.close()
