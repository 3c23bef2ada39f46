"""Auth of the local server over real HTTP and WebSockets: keys, roles, cookie, ws tokens."""
from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

WS_TIMEOUT = 5.0


def get(server: Any, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", headers=server.headers(key), timeout=10, **kw)


def ws_url(server: Any, session: str = "s-1") -> str:
    return server.url.replace("http://", "ws://") + f"/api/ws/sessions/{session}"


async def ws_auth(server: Any, message: Any, headers: dict[str, str] | None = None,
                  ) -> tuple[dict[str, Any], int | None]:
    """Send one first message; returns the reply and the close code (None if still open)."""
    async with connect(ws_url(server), additional_headers=headers or {},
                       open_timeout=WS_TIMEOUT) as ws:
        if message is not None:
            await ws.send(message if isinstance(message, str) else json.dumps(message))
        reply = json.loads(await asyncio.wait_for(ws.recv(), WS_TIMEOUT))
        try:
            await asyncio.wait_for(ws.recv(), 0.5)
        except ConnectionClosed as closed:
            return reply, closed.rcvd.code if closed.rcvd else None
        except asyncio.TimeoutError:
            return reply, None
        return reply, None


def test_admin_key_identifies_the_admin(loom_server):
    me = get(loom_server, "/api/auth/me").json()
    assert me["display_name"] == "admin" and me["global_roles"] == ["system_admin"]
    orgs = get(loom_server, "/api/orgs").json()["orgs"]
    assert [o["name"] for o in orgs] == ["default"] and orgs[0]["id"] == loom_server.org_id


@pytest.mark.parametrize("header", [
    None, "Bearer lk_" + "0" * 64, "Bearer nonsense", "bearer KEY", "Basic KEY", "Bearer  KEY",
])
def test_missing_or_unknown_credentials_get_401(loom_server, header):
    headers = {} if header is None else {
        "Authorization": header.replace("KEY", loom_server.admin_key)}
    resp = httpx.get(f"{loom_server.url}/api/auth/me", headers=headers, timeout=10)
    assert resp.status_code == 401
    assert resp.json() == {"error": "unauthorized", "message": "Authentication required"}


def test_ws_token_is_not_an_http_bearer(loom_server):
    token = get(loom_server, "/api/auth/ws-token").json()["token"]
    assert get(loom_server, "/api/auth/me", key=token).status_code == 401


@pytest.mark.parametrize("role,roles", [("user", []), ("support", ["support"]),
                                        ("system_admin", ["system_admin"])])
def test_new_key_makes_a_user_with_its_role(loom_server, role, roles):
    created = loom_server.make_user(role, name=f"{role} person")
    assert re.fullmatch(r"lk_[0-9a-f]{64}", created["key"]) and created["role"] == role
    me = get(loom_server, "/api/auth/me", created["key"]).json()
    assert me == {**me, "id": created["user_id"], "display_name": f"{role} person",
                  "global_roles": roles}
    orgs = get(loom_server, "/api/orgs", created["key"]).json()["orgs"]
    assert [o["id"] for o in orgs] == [loom_server.org_id]


@pytest.mark.parametrize("role", ["user", "support"])
def test_only_system_admin_manages_keys(loom_server, role):
    key = loom_server.make_key(role)
    path = f"{loom_server.url}/api/orgs/{loom_server.org_id}/api-keys"
    before = len(get(loom_server, f"/api/orgs/{loom_server.org_id}/api-keys").json()["api_keys"])
    resp = httpx.post(path, json={"name": "sneaky", "role": "system_admin"},
                      headers=loom_server.headers(key), timeout=10)
    assert resp.status_code == 403 and resp.json()["error"] == "forbidden"
    assert get(loom_server, f"/api/orgs/{loom_server.org_id}/api-keys", key).status_code == 403
    after = get(loom_server, f"/api/orgs/{loom_server.org_id}/api-keys").json()["api_keys"]
    assert len(after) == before


def test_foreign_org_is_forbidden_and_unknown_org_is_not_found_for_admin(loom_server):
    other = str(uuid.uuid4())
    user = loom_server.make_key("user")
    assert get(loom_server, f"/api/orgs/{other}/api-keys", user).status_code == 403
    resp = get(loom_server, f"/api/orgs/{other}/api-keys")
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"


@pytest.mark.parametrize("body,code", [
    ({"name": ""}, "invalid_name"), ({"scopes": ["llm_use"]}, "invalid_name"),
    ({"name": "x", "scopes": []}, "invalid_scopes"),
    ({"name": "x", "scopes": ["root"]}, "invalid_scopes"),
    ({"name": "x", "role": "owner"}, "bad_request"),
])
def test_bad_key_requests_are_refused(loom_server, body, code):
    path = f"{loom_server.url}/api/orgs/{loom_server.org_id}/api-keys"
    resp = httpx.post(path, json=body, headers=loom_server.headers(), timeout=10)
    assert resp.status_code == 400 and resp.json()["error"] == code


def test_revoked_key_stops_working(loom_server):
    created = loom_server.make_user("user")
    path = f"{loom_server.url}/api/orgs/{loom_server.org_id}/api-keys/{created['id']}"
    assert httpx.delete(path, headers=loom_server.headers(), timeout=10).status_code == 200
    assert get(loom_server, "/api/auth/me", created["key"]).status_code == 401
    again = httpx.delete(path, headers=loom_server.headers(), timeout=10)
    assert again.status_code == 409 and again.json()["error"] == "already_revoked"
    gone = httpx.delete(path + "x", headers=loom_server.headers(), timeout=10)
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"


def test_keys_are_never_shown_again_nor_stored_in_plain_text(loom_server):
    created = loom_server.make_user("user", name="secret-holder")
    assert get(loom_server, "/api/auth/me", created["key"]).status_code == 200
    listing = get(loom_server, f"/api/orgs/{loom_server.org_id}/api-keys")
    assert created["key"] not in listing.text and loom_server.admin_key not in listing.text
    row = next(k for k in listing.json()["api_keys"] if k["id"] == created["id"])
    assert row["last_used_at"] is not None and row["revoked_at"] is None
    for path in loom_server.data_dir.glob("loom.sqlite3*"):
        data = path.read_bytes()
        assert created["key"].encode() not in data and loom_server.admin_key.encode() not in data
    assert created["key"] not in loom_server.log_text()


def _session_cookie(server: Any, key: str | None = None) -> tuple[str, str]:
    resp = httpx.post(f"{server.url}/api/auth/session", headers=server.headers(key), timeout=10)
    assert resp.status_code == 201
    header = resp.headers["set-cookie"]
    value = re.match(r"loom_session=([^;]+);", header)
    assert value, header
    return value.group(1), header


def test_session_cookie_authenticates_and_logout_ends_it(loom_server):
    support = loom_server.make_user("support")
    value, header = _session_cookie(loom_server, support["key"])
    attrs = {a.strip().split("=")[0].lower() for a in header.split(";")}
    assert {"httponly", "path", "max-age", "samesite"} <= attrs and "secure" not in attrs
    assert "samesite=lax" in header.lower()
    cookies = {"loom_session": value}
    me = httpx.get(f"{loom_server.url}/api/auth/me", cookies=cookies, timeout=10)
    assert me.status_code == 200 and me.json()["id"] == support["user_id"]
    out = httpx.post(f"{loom_server.url}/api/auth/logout", cookies=cookies, timeout=10)
    assert out.status_code == 200
    assert httpx.get(f"{loom_server.url}/api/auth/me", cookies=cookies,
                     timeout=10).status_code == 401


def test_invalid_cookie_falls_through_to_bearer(loom_server):
    cookies = {"loom_session": "stale"}
    alone = httpx.get(f"{loom_server.url}/api/auth/me", cookies=cookies, timeout=10)
    assert alone.status_code == 401
    both = httpx.get(f"{loom_server.url}/api/auth/me", cookies=cookies,
                     headers=loom_server.headers(), timeout=10)
    assert both.status_code == 200 and both.json()["display_name"] == "admin"


@pytest.mark.parametrize("path", ["/auth/ws-token", "/api/auth/ws-token"])
async def test_ws_token_authenticates_once(loom_server, path):
    user = loom_server.make_user("user")
    body = get(loom_server, path, user["key"]).json()
    assert re.fullmatch(r"ws_[0-9a-f]{32}", body["token"]) and body["expires_in"] == 30
    reply, code = await ws_auth(loom_server, {"type": "auth", "token": body["token"]})
    assert reply == {"type": "auth_ok", "user_id": user["user_id"]} and code is None
    reply, code = await ws_auth(loom_server, {"type": "auth", "token": body["token"]})
    assert reply == {"type": "auth_error", "message": "invalid token"} and code == 4002


async def test_ws_accepts_api_key_session_token_and_handshake_header(loom_server):
    user = loom_server.make_user("user")
    reply, _ = await ws_auth(loom_server, {"type": "auth", "token": user["key"]})
    assert reply == {"type": "auth_ok", "user_id": user["user_id"]}
    value, _ = _session_cookie(loom_server, user["key"])
    reply, _ = await ws_auth(loom_server, {"type": "auth", "session_token": value})
    assert reply == {"type": "auth_ok", "user_id": user["user_id"]}
    reply, code = await ws_auth(loom_server, None, loom_server.headers(user["key"]))
    assert reply == {"type": "auth_ok", "user_id": user["user_id"]} and code is None


@pytest.mark.parametrize("message,code,reason", [
    ("not json", 4006, "invalid authentication message"),
    ({"type": "auth"}, 4006, "invalid authentication message"),
    ({"type": "auth", "token": ""}, 4006, "invalid authentication message"),
    ({"type": "hello", "token": "x"}, 4006, "invalid authentication message"),
    ([1, 2], 4006, "invalid authentication message"),
    ({"type": "auth", "token": "ws_" + "0" * 32}, 4002, "invalid token"),
    ({"type": "auth", "token": "lk_" + "0" * 64}, 4002, "invalid token"),
    ({"type": "auth", "session_token": "stale"}, 4002, "invalid token"),
])
async def test_ws_auth_failures_close_with_documented_codes(loom_server, message, code, reason):
    reply, closed = await ws_auth(loom_server, message)
    assert reply == {"type": "auth_error", "message": reason} and closed == code


async def test_ws_timing_knobs_expiry_timeout_ping_and_cross_origin_cookie(loom_server_factory):
    server = loom_server_factory(extra_args=["--ws-token-ttl", "0.3", "--ws-auth-timeout", "0.5",
                                             "--ws-ping-interval", "0.2"])
    token = get(server, "/api/auth/ws-token").json()["token"]
    await asyncio.sleep(0.6)
    reply, code = await ws_auth(server, {"type": "auth", "token": token})
    assert reply["type"] == "auth_error" and code == 4002
    reply, code = await ws_auth(server, None)  # says nothing: timed out
    assert reply == {"type": "auth_error", "message": "authentication timeout"} and code == 4001
    value, _ = _session_cookie(server)
    evil = {"Cookie": f"loom_session={value}", "Origin": "http://evil.example"}
    reply, code = await ws_auth(server, None, evil)  # a foreign page cannot ride on the cookie
    assert reply["type"] == "auth_error" and code == 4001
    async with connect(ws_url(server), additional_headers=server.headers(),
                       open_timeout=WS_TIMEOUT) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), WS_TIMEOUT))["type"] == "auth_ok"
        ping = json.loads(await asyncio.wait_for(ws.recv(), WS_TIMEOUT))
        assert ping["type"] == "ping" and isinstance(ping["timestamp"], int)
        await ws.send(json.dumps({"type": "auth", "token": server.admin_key}))
        replies = [json.loads(await asyncio.wait_for(ws.recv(), WS_TIMEOUT)) for _ in range(3)]
        assert {"type": "auth_ok", "user_id": get(server, "/api/auth/me").json()["id"]} in replies
