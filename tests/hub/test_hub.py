"""loom_jupyter under a real JupyterHub: two people, two single-user servers, one local Loom.

Proved here, each through the hub's configurable-http-proxy at `/user/<name>/`:
- the extension's HTTP, SSE logs and attach WebSocket work from a kernel (the SDK with no
  configuration, and the kernel's proxy token) and from a browser session (hub login cookie +
  `_xsrf`);
- the admin sets the Loom URL for everybody while each person acts as their own Loom user, sees
  and controls only their own weavers, and keeps that identity across a server restart;
- bob's hub token, cookie or kernel proxy token cannot reach alice's `/user/alice/loom/` (the
  hub's OAuth or Jupyter's auth in alice's server refuses it before any request to Loom), and
  nothing bob does uses alice's Loom key (Loom's record of when each key was last used);
- no answer, log or kernel environment holds a Loom key or token (the last test; the hub fixture
  checks the log once more after shutdown).
"""
from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.fixtures.wait import read_until
from tests.hub.harness import LOOM_SECRET, Hub, HubUser

pytestmark = pytest.mark.timeout(180)

MISSING_WEAVER = "018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a"


# -- helpers --------------------------------------------------------------------------------------
def marker() -> str:
    return uuid.uuid4().hex[:10]


def shell_command(mark: str) -> list[str]:
    """A weaver that logs a line, then runs an interactive shell on its terminal."""
    return ["sh", "-c", f"echo ready-{mark}; exec sh -i"]


def create_weaver(client: httpx.Client, user: HubUser, mark: str,
                  headers: dict[str, str] | None = None) -> dict[str, Any]:
    """POST /user/<name>/loom/api/weaver through the hub's proxy."""
    orgs = client.get(f"{user.loom_prefix}api/orgs", headers=headers)
    assert orgs.status_code == 200, orgs.text
    body = {"image": "local", "org_id": orgs.json()["orgs"][0]["id"], "lifetime_hours": 1,
            "command": shell_command(mark), "tags": {"suite": "hub", "marker": mark}}
    r = client.post(f"{user.loom_prefix}api/weaver", json=body, headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    return dict(r.json())


def listed_ids(client: httpx.Client, user: HubUser,
               headers: dict[str, str] | None = None) -> list[str]:
    r = client.get(f"{user.loom_prefix}api/weavers", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return [w["id"] for w in r.json()["weavers"]]


def follow_logs(hub: Hub, client: httpx.Client, user: HubUser, weaver_id: str, needle: str,
                headers: dict[str, str] | None = None) -> list[str]:
    """Read /user/<name>/loom/api/weaver/<id>/logs (SSE) until `needle` arrives."""
    lines: list[str] = []
    path = f"{user.loom_prefix}api/weaver/{weaver_id}/logs"
    with client.stream("GET", path, params={"tail": "50", "timestamps": "false"},
                       headers=headers, timeout=httpx.Timeout(20.0)) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            lines.append(line)
            hub.transcript.add(f"SSE {path}", line)
            if needle in line:
                return lines
    raise AssertionError(f"the log stream ended before {needle!r}: {lines[-20:]}")


def type_and_read(hub: Hub, ws: ClientConnection, mark: str) -> bytes:
    """Type a command into an attached terminal and read until its output comes back."""
    ws.send(f"echo typed-$((6*7))-{mark}\n".encode())

    def recv() -> bytes:
        frame = ws.recv(timeout=0.5)
        data = frame if isinstance(frame, bytes) else frame.encode()
        hub.transcript.add("attach frame", data)
        return data

    return read_until(recv, f"typed-42-{mark}", 20, "the typed command's output")


def attach_with_token(hub: Hub, user: HubUser, weaver_id: str,
                      headers: dict[str, str]) -> ClientConnection:
    return connect(f"{hub.ws_url}{user.loom_prefix}api/weaver/{weaver_id}/attach",
                   additional_headers=headers, open_timeout=15)


def loom_key_usage(hub: Hub) -> dict[str, str | None]:
    """When Loom last saw each API key (its admin API): `key id -> last_used_at`."""
    r = httpx.get(f"{hub.loom.url}/api/orgs/{hub.loom.org_id}/api-keys",
                  headers=hub.loom.headers(), timeout=10)
    assert r.status_code == 200, r.text
    return {k["id"]: k["last_used_at"] for k in r.json()["api_keys"]}


def loom_weaver(hub: Hub, weaver_id: str) -> dict[str, Any]:
    """The weaver as Loom's admin sees it (directly, not through anyone's server)."""
    r = httpx.get(f"{hub.loom.url}/api/weaver/{weaver_id}", headers=hub.loom.headers(),
                  timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def assert_not_loom(r: httpx.Response) -> None:
    """A refusal by the hub or by Jupyter's auth in front of the extension, never Loom's answer
    (and never a weaver list or a weaver)."""
    assert r.status_code in (302, 403), (r.status_code, r.text[:300])
    if r.status_code == 302:
        assert "/hub/login" in r.headers["location"] or "/hub/api/oauth2/authorize" in \
            r.headers["location"], r.headers["location"]
    assert b"weavers" not in r.content and b"owner_user_id" not in r.content


@contextmanager
def loom_key_use(hub: Hub, *, used: tuple[HubUser, ...],
                 unused: tuple[HubUser, ...]) -> Iterator[None]:
    """Around some actions: Loom sees each `used` person's key used, and no `unused` one's
    (Loom records when each key was last used, in milliseconds)."""
    before = loom_key_usage(hub)
    yield
    after = loom_key_usage(hub)
    for user in unused:
        assert after[user.loom_key_id] == before[user.loom_key_id], \
            f"{user.name}'s Loom key was used"
    for user in used:
        assert after[user.loom_key_id] not in (None, before[user.loom_key_id]), \
            f"{user.name}'s Loom key was not used"


KERNEL_SDK = """
import json
from loom_jupyter.client import Loom
mark = {mark!r}
out = {{}}
with Loom() as loom:
    out["mode"] = loom.mode
    out["me"] = loom.me().id
    weaver = loom.weavers.create("local", command={command!r}, lifetime_hours=1,
                                 tags={{"suite": "hub"}})
    out["id"], out["owner"] = weaver.id, weaver.owner_user_id
    out["listed"] = weaver.id in [w.id for w in loom.weavers.list()]
    for line in loom.weavers.logs(weaver.id, tail=50):
        if "ready-" + mark in line.text:
            out["log"] = line.text
            break
    with loom.weavers.attach(weaver.id) as term:
        term.send("echo typed-$((6*7))-" + mark + "\\n")
        seen = b""
        for _ in range(200):
            seen += term.recv(timeout=0.1) or b""
            if ("typed-42-" + mark).encode() in seen:
                out["typed"] = True
                break
print(json.dumps(out))
"""


# -- the admin's URL, each person's credential ----------------------------------------------------
def test_admin_sets_the_url_and_each_person_acts_as_themselves(hub: Hub, alice: HubUser,
                                                               bob: HubUser) -> None:
    for user in (alice, bob):
        with hub.as_user(user) as client:
            me = client.get(f"{user.loom_prefix}api/auth/me")
            status = client.get(f"{user.loom_prefix}status")
        assert me.status_code == 200, me.text
        assert me.json()["id"] == user.loom_user_id
        assert me.json()["display_name"] == user.loom_display_name
        report = status.json()
        assert report["url"] == hub.loom.url and report["reachable"] is True, report
        assert report["credential_source"]["source"] == "environment file", report
        with hub.kernel(user) as kernel:
            env = kernel.env
        assert env["LOOM_URL"] == hub.loom.url  # the admin's c.Spawner.environment
        assert env["LOOM_API_KEY_FILE"] == str(user.key_file)  # this person's own key
        assert "LOOM_API_KEY" not in env
        assert env["LOOM_JUPYTER_PROXY_URL"].endswith(user.loom_prefix), env
        assert env["JUPYTER_DATA_DIR"].startswith(str(user.home)), env
    assert alice.loom_user_id != bob.loom_user_id


# -- a kernel ------------------------------------------------------------------------------------
def test_kernel_sdk_and_proxy_token_under_the_hub(hub: Hub, alice: HubUser) -> None:
    mark = marker()
    with hub.kernel(alice) as kernel:
        # 1. The SDK in alice's kernel, with no configuration: create, list, logs, attach.
        out = kernel.run_json(KERNEL_SDK.format(mark=mark, command=shell_command(mark)), 90)
        assert out["mode"] == "proxy" and out["me"] == alice.loom_user_id, out
        assert out["owner"] == alice.loom_user_id and out["listed"] is True, out
        assert out["log"].endswith(f"ready-{mark}") and out["typed"] is True, out
        weaver_id = out["id"]

        # 2. The kernel's proxy token through the hub's proxy at /user/alice/loom/.
        token = kernel.proxy_headers
        with hub.client(token) as client:
            assert weaver_id in listed_ids(client, alice)
            got = client.get(f"{alice.loom_prefix}api/weaver/{weaver_id}")
            assert got.status_code == 200 and got.json()["owner_user_id"] == alice.loom_user_id
            lines = follow_logs(hub, client, alice, weaver_id, f"ready-{mark}")
            assert any(line.startswith("data:") for line in lines), lines
            with attach_with_token(hub, alice, weaver_id, token) as ws:
                type_and_read(hub, ws, mark)
            second = create_weaver(client, alice, marker())
            assert second["owner_user_id"] == alice.loom_user_id
            for wid in (weaver_id, second["id"]):
                assert client.delete(f"{alice.loom_prefix}api/weaver/{wid}").status_code == 204
            assert client.get(f"{alice.loom_prefix}api/weaver/{MISSING_WEAVER}").status_code \
                == 404
            # The proxy token opens /loom/ only, not the rest of alice's server.
            assert client.get(f"{alice.prefix}api/contents").status_code == 403


# -- a browser session ---------------------------------------------------------------------------
def test_browser_session_with_cookie_and_xsrf(hub: Hub, alice: HubUser) -> None:
    browser = hub.browser(alice)
    try:
        client, mark = browser.client, marker()
        before = listed_ids(client, alice)
        body = {"image": "local", "org_id": hub.loom.org_id, "lifetime_hours": 1,
                "command": shell_command(mark)}
        # The cookie alone does not create anything: Jupyter's XSRF check comes first.
        refused = client.post(f"{alice.loom_prefix}api/weaver", json=body)
        assert refused.status_code == 403, refused.text
        assert listed_ids(client, alice) == before
        created = client.post(f"{alice.loom_prefix}api/weaver", json=body,
                              headers={"X-XSRFToken": browser.xsrf}, timeout=60)
        assert created.status_code == 201, created.text
        weaver = created.json()
        assert weaver["owner_user_id"] == alice.loom_user_id
        assert weaver["id"] in listed_ids(client, alice)
        follow_logs(hub, client, alice, weaver["id"], f"ready-{mark}")  # an EventSource
        attach = f"{alice.loom_prefix}api/weaver/{weaver['id']}/attach"
        with browser.ws_connect(attach) as ws:  # cookie + the page's own Origin
            type_and_read(hub, ws, mark)
        with pytest.raises(InvalidStatus) as foreign:  # cookie from another site's page
            browser.ws_connect(attach, origin="http://evil.example").close()
        assert foreign.value.response.status_code == 403
        gone = client.delete(f"{alice.loom_prefix}api/weaver/{weaver['id']}",
                             headers={"X-XSRFToken": browser.xsrf})
        assert gone.status_code == 204, gone.text
    finally:
        browser.close()


# -- two people ----------------------------------------------------------------------------------
def test_each_person_sees_and_controls_only_their_own_weavers(hub: Hub, alice: HubUser,
                                                               bob: HubUser) -> None:
    mark = marker()
    with hub.as_user(alice) as client:
        alices = create_weaver(client, alice, mark)
    with loom_key_use(hub, used=(bob,), unused=(alice,)), hub.as_user(bob) as client:
        # Through bob's own server, Loom answers as bob: alice's weaver is not his.
        assert alices["id"] not in listed_ids(client, bob)
        base = f"{bob.loom_prefix}api/weaver/{alices['id']}"
        for method in ("GET", "DELETE"):
            r = client.request(method, base)
            assert r.status_code == 403 and r.json()["error"] == "forbidden", (method, r.text)
        logs = client.get(f"{base}/logs", params={"tail": "5"})
        assert logs.status_code == 403, logs.text
        with pytest.raises(InvalidStatus) as attach:
            attach_with_token(hub, bob, alices["id"], bob.token_headers()).close()
        assert attach.value.response.status_code == 403
        bobs = create_weaver(client, bob, marker())
        assert bobs["owner_user_id"] == bob.loom_user_id
        assert bobs["id"] in listed_ids(client, bob)
    # Alice's weaver is untouched, and bob's is invisible to her.
    assert loom_weaver(hub, alices["id"])["status"] == "running"
    assert loom_weaver(hub, bobs["id"])["owner_user_id"] == bob.loom_user_id
    with hub.as_user(alice) as client:
        assert alices["id"] in listed_ids(client, alice)
        assert bobs["id"] not in listed_ids(client, alice)
        assert client.get(f"{alice.loom_prefix}api/weaver/{bobs['id']}").status_code == 403
        assert client.delete(f"{alice.loom_prefix}api/weaver/{alices['id']}").status_code == 204
    with hub.as_user(bob) as client:
        assert client.delete(f"{bob.loom_prefix}api/weaver/{bobs['id']}").status_code == 204


def test_hub_refuses_bob_at_alices_server(hub: Hub, alice: HubUser, bob: HubUser) -> None:
    with hub.as_user(alice) as client:
        alices = create_weaver(client, alice, marker())
    weavers = f"{alice.loom_prefix}api/weavers"
    attach = f"{alice.loom_prefix}api/weaver/{alices['id']}/attach"
    bob_browser = hub.browser(bob)
    try:
        with hub.kernel(bob) as bobs_kernel, loom_key_use(hub, used=(), unused=(alice, bob)):
            # Every refusal below happens before any request to Loom: no key is used at all.
            # bob's hub API token
            with hub.as_user(bob) as client:
                assert_not_loom(client.get(weavers))
                assert_not_loom(client.delete(f"{alice.loom_prefix}api/weaver/{alices['id']}"))
                assert_not_loom(client.post(f"{alice.prefix}api/kernels",
                                            json={"name": "python3"}))
            with pytest.raises(InvalidStatus) as by_token:
                attach_with_token(hub, alice, alices["id"], bob.token_headers()).close()
            assert by_token.value.response.status_code in (302, 403)
            # bob's kernel's proxy token belongs to bob's server only
            with hub.client(bobs_kernel.proxy_headers) as client:
                assert_not_loom(client.get(weavers))
            with pytest.raises(InvalidStatus) as by_proxy_token:
                attach_with_token(hub, alice, alices["id"], bobs_kernel.proxy_headers).close()
            assert by_proxy_token.value.response.status_code in (302, 403)
            # bob's browser: his cookies, with and without following the hub's redirects
            assert_not_loom(bob_browser.client.get(weavers, follow_redirects=False))
            # Opening alice's server as a page sends bob to the hub's OAuth, which refuses him.
            page = bob_browser.client.get(alice.prefix)
            assert page.status_code == 403, (page.url, page.text[:300])
            assert page.url.path == "/hub/api/oauth2/authorize", page.url
            assert bob_browser.cookie(f"jupyterhub-user-{alice.name}", alice.prefix) is None
            assert_not_loom(bob_browser.client.get(weavers))
            xsrf = {"X-XSRFToken": bob_browser.xsrf}
            assert_not_loom(bob_browser.client.post(
                f"{alice.loom_prefix}api/weaver", json={}, headers=xsrf, follow_redirects=False))
            with pytest.raises(InvalidStatus) as by_cookie:
                bob_browser.ws_connect(attach).close()
            assert by_cookie.value.response.status_code in (302, 403)
    finally:
        bob_browser.close()
    # The same calls with alice's own credentials do reach Loom (the refusals were about bob).
    with hub.as_user(alice) as client:
        assert alices["id"] in listed_ids(client, alice)
        assert client.delete(f"{alice.loom_prefix}api/weaver/{alices['id']}").status_code == 204


def test_refused_loom_request_leaves_the_proxys_connection_usable(hub: Hub,
                                                                  alice: HubUser) -> None:
    """The hub's proxy keeps one pool of connections to alice's server for everybody's requests.
    After a refusal the connection must either still work or have been announced as closing."""
    with hub.kernel(alice) as kernel:
        server = httpx.URL(kernel.env["JUPYTERHUB_SERVICE_URL"])
    assert server.host == "127.0.0.1" and server.path == alice.prefix
    allowed = {**alice.token_headers(), "Host": f"127.0.0.1:{hub.public_port}"}
    refusals = [({"Host": allowed["Host"]}, f"{alice.loom_prefix}api/weavers", 403),  # no login
                (allowed, f"{alice.loom_prefix}api/not-a-loom-route", 404)]
    for headers, path, status in refusals:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            conn.request("GET", path, headers=headers)
            refused = conn.getresponse()
            refused.read()
            assert refused.status == status
            # http.client reconnects by itself after `Connection: close`, as a proxy would.
            conn.request("GET", f"{alice.loom_prefix}api/weavers", headers=allowed)
            after = conn.getresponse()
            assert after.status == 200 and b'"weavers"' in after.read()
        finally:
            conn.close()


# -- a restart -----------------------------------------------------------------------------------
def test_restart_keeps_the_persons_credential(hub: Hub, bob: HubUser) -> None:
    mark = marker()
    with hub.as_user(bob) as client:
        bobs = create_weaver(client, bob, mark)
    with hub.kernel(bob) as kernel:
        old_token = kernel.proxy_headers
    hub.stop_server(bob)
    with hub.as_user(bob) as client:
        stopped = client.get(f"{bob.loom_prefix}api/weavers")
    assert stopped.status_code != 200 and b"owner_user_id" not in stopped.content
    hub.spawn(bob)
    with hub.as_user(bob) as client:
        me = client.get(f"{bob.loom_prefix}api/auth/me")
        assert me.status_code == 200 and me.json()["id"] == bob.loom_user_id, me.text
        assert bobs["id"] in listed_ids(client, bob)
    with hub.client(old_token) as client:  # the old server's proxy token died with it
        assert client.get(f"{bob.loom_prefix}api/weavers").status_code == 403
    with hub.kernel(bob) as kernel:
        assert kernel.proxy_headers != old_token
        out = kernel.run_json(
            "import json\nfrom loom_jupyter.client import Loom\n"
            "with Loom() as loom:\n"
            "    print(json.dumps([loom.me().id, [w.id for w in loom.weavers.list()]]))")
    assert out[0] == bob.loom_user_id and bobs["id"] in out[1], out
    with hub.as_user(bob) as client:
        assert client.delete(f"{bob.loom_prefix}api/weaver/{bobs['id']}").status_code == 204


# -- nothing leaks -------------------------------------------------------------------------------
def test_no_loom_credential_in_answers_logs_or_kernels(hub: Hub, alice: HubUser,
                                                      bob: HubUser) -> None:
    secrets = (alice.loom_key, bob.loom_key, hub.loom.admin_key)
    for user in (alice, bob):  # a fresh look at each kernel's environment
        with hub.kernel(user) as kernel:
            env = json.dumps(kernel.env).encode()
        assert not LOOM_SECRET.search(env) and not any(s.encode() in env for s in secrets)
    for proc in hub.singleuser_processes():  # the servers' own environment blocks
        block = json.dumps(proc.environ()).encode()
        assert not LOOM_SECRET.search(block) and not any(s.encode() in block for s in secrets)
    labels = {label.split(" ", 1)[0] for label, _ in hub.transcript.items}
    assert {"GET", "POST", "kernel"} <= labels, labels  # the scan saw real traffic
    assert hub.transcript.leaks(secrets) == []
    log = hub.log_text().encode()
    assert b"/user/alice/loom/" in log and b"/user/bob/loom/" in log  # the servers' logs are in it
    assert not LOOM_SECRET.search(log) and not any(s.encode() in log for s in secrets)
