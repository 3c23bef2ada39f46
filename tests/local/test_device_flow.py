"""Loom's device-code sign-in on the local server (loom-api.md §1.3), over real HTTP: start, poll,
approve (API, the /device page, `loom-jupyter local approve`), the `lt_` token it pays out, expiry,
single use, logout, restart."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.fixtures.loom_server import LocalLoom
from tests.fixtures.wait import wait_until

TOKEN = re.compile(r"lt_[0-9a-f]{64}")


def _post(server: LocalLoom, path: str, body: Any = None, key: str | None = None,
          **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.url}{path}", json=body, headers=headers, timeout=10, **kw)


def start(server: LocalLoom) -> dict[str, Any]:
    resp = _post(server, "/api/auth/device/start")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def poll(server: LocalLoom, device_code: Any) -> httpx.Response:
    return _post(server, "/api/auth/device/poll", {"device_code": device_code})


def complete(server: LocalLoom, key: str | None, user_code: Any) -> httpx.Response:
    return _post(server, "/api/auth/device/complete", {"user_code": user_code}, key)


def me(server: LocalLoom, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/auth/me", headers=server.headers(token), timeout=10)


def paid_out(server: LocalLoom, device_code: str) -> str:
    answer = poll(server, device_code)
    assert answer.status_code == 200 and answer.json()["status"] == "completed", answer.text
    assert set(answer.json()) == {"status", "access_token"}
    token = answer.json()["access_token"]
    assert TOKEN.fullmatch(token)
    return str(token)


def sign_in(server: LocalLoom, key: str) -> str:
    """The whole flow, approved with `key`: the `lt_` token it pays out."""
    codes = start(server)
    assert complete(server, key, codes["user_code"]).status_code == 200
    return paid_out(server, codes["device_code"])


def test_start_answers_like_loom(loom_server):
    codes = start(loom_server)
    assert set(codes) == {"device_code", "user_code", "verification_url", "expires_in"}
    assert str(uuid.UUID(codes["device_code"])) == codes["device_code"]
    assert re.fullmatch(r"\d{3}-\d{3}-\d{3}", codes["user_code"])
    assert codes["verification_url"] == f"{loom_server.url}/device"
    assert codes["expires_in"] == 600
    assert start(loom_server)["user_code"] != codes["user_code"]
    assert poll(loom_server, codes["device_code"]).json() == {"status": "pending"}


def test_the_whole_flow_signs_the_program_in_as_the_approving_user(loom_server):
    user = loom_server.make_user("user", name=f"device-user-{uuid.uuid4().hex[:8]}")
    codes = start(loom_server)
    assert poll(loom_server, codes["device_code"]).json() == {"status": "pending"}
    approved = complete(loom_server, user["key"], codes["user_code"])
    assert approved.status_code == 200 and set(approved.json()) == {"message"}
    token = paid_out(loom_server, codes["device_code"])

    who = me(loom_server, token).json()
    assert (who["id"], who["display_name"], who["global_roles"]) == (
        user["user_id"], user["name"], [])
    keys = httpx.get(f"{loom_server.url}/api/orgs/{loom_server.org_id}/api-keys",
                     headers=loom_server.headers(token), timeout=10)
    assert keys.status_code == 403  # the user's role, not more
    created = httpx.post(f"{loom_server.url}/api/weaver", headers=loom_server.headers(token),
                         timeout=30, json={"image": "python:3.12", "org_id": loom_server.org_id,
                                           "command": ["sleep", "30"], "lifetime_hours": 1})
    assert created.status_code == 201, created.text
    weaver = created.json()
    try:
        assert weaver["owner_user_id"] == user["user_id"]
        mine = httpx.get(f"{loom_server.url}/api/weavers", headers=loom_server.headers(user["key"]),
                         timeout=10).json()["weavers"]
        assert weaver["id"] in [w["id"] for w in mine]  # the same user as the key's
    finally:
        gone = httpx.delete(f"{loom_server.url}/api/weaver/{weaver['id']}",
                            headers=loom_server.headers(token), timeout=10)
        assert gone.status_code == 204
    assert token not in loom_server.log_text()


def test_the_token_carries_the_roles_of_its_user_and_opens_the_session_socket(loom_server):
    support = loom_server.make_user("support")
    token = sign_in(loom_server, support["key"])
    assert me(loom_server, token).json()["global_roles"] == ["support"]
    url = loom_server.url.replace("http://", "ws://") + "/api/ws/sessions/device-test"
    with connect(url, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        reply = json.loads(ws.recv(timeout=10))
    assert reply == {"type": "auth_ok", "user_id": support["user_id"]}


def test_a_code_pays_out_once_and_is_approved_once(loom_server):
    user = loom_server.make_user("user")
    codes = start(loom_server)
    assert complete(loom_server, user["key"], codes["user_code"]).status_code == 200
    again = complete(loom_server, loom_server.admin_key, codes["user_code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_user_code"
    token = paid_out(loom_server, codes["device_code"])
    assert poll(loom_server, codes["device_code"]).json() == {"status": "expired"}
    spent = complete(loom_server, user["key"], codes["user_code"])
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_user_code"
    assert me(loom_server, token).json()["id"] == user["user_id"]  # the first approval counts


@pytest.mark.parametrize("device_code", ["nope", "", 42, None, "123-456-789", "lt_" + "0" * 64])
def test_poll_with_a_code_that_is_no_uuid_is_invalid_device_code(loom_server, device_code):
    resp = poll(loom_server, device_code)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("application/json")
    assert set(resp.json()) == {"error", "message"}
    assert resp.json()["error"] == "invalid_device_code"


def test_poll_with_an_unknown_uuid_is_expired(loom_server):
    assert poll(loom_server, str(uuid.uuid4())).json() == {"status": "expired"}


@pytest.mark.parametrize("user_code", ["", "abc", "123-456", "1234-567-89", 123456789, None,
                                       "000-000-000"])
def test_bad_user_codes_are_invalid_user_code(loom_server, user_code):
    resp = complete(loom_server, loom_server.admin_key, user_code)
    assert resp.status_code == 400 and set(resp.json()) == {"error", "message"}
    assert resp.json()["error"] == "invalid_user_code"


def test_approving_needs_a_credential_and_dashes_are_optional(loom_server):
    codes = start(loom_server)
    anonymous = complete(loom_server, None, codes["user_code"])
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"
    assert poll(loom_server, codes["device_code"]).json() == {"status": "pending"}
    typed = f"  {codes['user_code'].replace('-', '')} "
    assert complete(loom_server, loom_server.admin_key, typed).status_code == 200
    assert me(loom_server, paid_out(loom_server, codes["device_code"])).json()[
        "display_name"] == "admin"


def test_codes_expire_after_their_ttl(loom_server_factory):
    server = loom_server_factory(extra_args=["--device-code-ttl", "3"])
    codes = start(server)
    assert codes["expires_in"] == 3
    assert poll(server, codes["device_code"]).json() == {"status": "pending"}
    wait_until(lambda: poll(server, codes["device_code"]).json()["status"], 15,
               "the code to expire", until=lambda status: status == "expired", interval=0.2)
    late = complete(server, server.admin_key, codes["user_code"])
    assert late.status_code == 400 and late.json()["error"] == "invalid_user_code"
    assert poll(server, codes["device_code"]).json() == {"status": "expired"}


def test_logout_with_the_token_revokes_it_and_only_it(loom_server):
    user = loom_server.make_user("user")
    token, other = sign_in(loom_server, user["key"]), sign_in(loom_server, user["key"])
    out = _post(loom_server, "/api/auth/logout", key=token)
    assert out.status_code == 200 and set(out.json()) == {"message"}
    gone = me(loom_server, token)
    assert gone.status_code == 401 and gone.json() == {"error": "unauthorized",
                                                       "message": "Authentication required"}
    assert _post(loom_server, "/api/auth/logout", key=token).status_code == 401
    assert me(loom_server, other).status_code == 200  # another sign-in of the same user
    assert me(loom_server, user["key"]).status_code == 200  # an API key is not a sign-in
    assert _post(loom_server, "/api/auth/logout", key=user["key"]).status_code == 200
    assert me(loom_server, user["key"]).status_code == 200


def test_tokens_and_waiting_codes_survive_a_restart_and_are_stored_hashed(loom_server_factory):
    first = loom_server_factory()
    user = first.make_user("user", name="restarted")
    token = sign_in(first, user["key"])
    waiting = start(first)
    first.stop()
    second = loom_server_factory(data_dir=first.data_dir)
    assert me(second, token).json()["id"] == user["user_id"]
    assert complete(second, user["key"], waiting["user_code"]).status_code == 200
    later = paid_out(second, waiting["device_code"])
    for path in second.data_dir.glob("loom.sqlite3*"):
        data = path.read_bytes()
        assert token.encode() not in data and later.encode() not in data
        assert waiting["device_code"].encode() not in data
    assert _post(second, "/api/auth/logout", key=token).status_code == 200
    second.stop()
    third = loom_server_factory(data_dir=first.data_dir)
    assert me(third, token).status_code == 401  # the revocation is kept too
    assert me(third, later).json()["id"] == user["user_id"]


# -- the /device page -------------------------------------------------------------------------

def _open_page(browser: httpx.Client) -> str:
    page = browser.get("/device")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<form" in page.text and 'type="password"' in page.text
    match = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def _browser(server: LocalLoom) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10, headers={"Origin": server.url})


def test_the_device_page_approves_a_code_with_a_users_key(loom_server):
    user = loom_server.make_user("user", name=f"page-user-{uuid.uuid4().hex[:8]}")
    codes = start(loom_server)
    with _browser(loom_server) as browser:
        form_token = _open_page(browser)
        done = browser.post("/device", data={"_xsrf": form_token, "user_code": codes["user_code"],
                                             "key": user["key"]})
    assert done.status_code == 200 and done.headers["content-type"].startswith("text/html")
    assert "Approved" in done.text and user["name"] in done.text
    for secret in (user["key"], codes["user_code"], codes["device_code"], form_token):
        assert secret not in done.text
    assert me(loom_server, paid_out(loom_server, codes["device_code"])).json()["id"] == \
        user["user_id"]


def test_the_device_page_refuses_cross_site_posts_bad_keys_and_bad_codes(loom_server):
    codes = start(loom_server)
    with _browser(loom_server) as browser:
        form_token = _open_page(browser)
        form = {"_xsrf": form_token, "user_code": codes["user_code"], "key": loom_server.admin_key}
        foreign = browser.post("/device", data=form, headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403
        with httpx.Client(base_url=loom_server.url, timeout=10) as stranger:  # no form cookie
            assert stranger.post("/device", data=form).status_code == 403
        forged = browser.post("/device", data={**form, "_xsrf": "guessed"})
        assert forged.status_code == 403
        bad_key = browser.post("/device", data={**form, "key": "lk_" + "0" * 64})
        assert bad_key.status_code == 401
        bad_code = browser.post("/device", data={**form, "user_code": "nope"})
        assert bad_code.status_code == 400
        for refused in (foreign, forged, bad_key, bad_code):
            assert refused.headers["content-type"].startswith("text/html")
            assert loom_server.admin_key not in refused.text
    assert poll(loom_server, codes["device_code"]).json() == {"status": "pending"}


# -- loom-jupyter local approve ----------------------------------------------------------------

def _cli_approve(server: LocalLoom, code: str, user: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loom_jupyter.cli", "local", "approve", code, "--as", user,
         "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=60)


def test_cli_approve_signs_in_as_a_user_by_name_or_id(loom_server):
    user = loom_server.make_user("user", name=f"cli-user-{uuid.uuid4().hex[:8]}")
    by_name = start(loom_server)
    done = _cli_approve(loom_server, by_name["user_code"], user["name"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"loom-jupyter local: approved the sign-in as {user['name']} "
                                   f"({user['user_id']})")
    assert me(loom_server, paid_out(loom_server, by_name["device_code"])).json()["id"] == \
        user["user_id"]
    by_id = start(loom_server)
    assert _cli_approve(loom_server, by_id["user_code"], user["user_id"]).returncode == 0
    assert me(loom_server, paid_out(loom_server, by_id["device_code"])).json()["id"] == \
        user["user_id"]


def test_cli_approve_says_what_is_wrong_in_one_line(loom_server):
    twin = f"twin-{uuid.uuid4().hex[:8]}"
    loom_server.make_user("user", name=twin)
    loom_server.make_user("user", name=twin)
    codes = start(loom_server)
    for user, code, needle in [("nobody-here", codes["user_code"], "no user named"),
                               (twin, codes["user_code"], "2 users are named"),
                               ("admin", "999-999-999", "Invalid or expired user code")]:
        failed = _cli_approve(loom_server, code, user)
        assert failed.returncode == 1 and failed.stdout == ""
        assert len(failed.stderr.strip().splitlines()) == 1 and needle in failed.stderr
        assert "Traceback" not in failed.stderr
    assert poll(loom_server, codes["device_code"]).json() == {"status": "pending"}
