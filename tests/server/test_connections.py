"""Named connections (issue 13): one jupyter-server proxying two local Looms and the three
stand-ins at once, each under `loom/connections/NAME/`, with the credentials held by the server.

`default` is the session's local Loom (configured the original way: url + api_key_file);
`staging` a second local Loom (key from an environment variable); `v1` the Loom v1 stand-in
(username + password file), `v1-prompt` the same with a password given later through the
signin route; `loomi` openloomi with its desktop token file; `loomi-pw` openloomi with a
password from a variable; `nodeloom` NodeLoom with an `sdk_` key file.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.fixtures.jupyter import LoomProxy
from tests.fixtures.loom_server import LocalLoom, running_local_loom
from tests.standins.fixtures import *  # noqa: F403 - the stand-in fixtures, by name
from tests.standins.loom_v1 import LoomV1StandIn
from tests.standins.nodeloom import NodeLoomStandIn
from tests.standins.openloomi import OpenLoomiStandIn

pytestmark = pytest.mark.timeout(120)

V1_USER, V1_PASSWORD = "admin", "loom-v1-admin-pass"
LOOMI_USER, LOOMI_PASSWORD = "user@example.com", "password123"
STAGING_ENV, LOOMI_ENV = "LOOM_TEST_STAGING_KEY", "LOOM_TEST_LOOMI_PASSWORD"
NAMES = {"default": "loom", "staging": "loom", "v1": "loom-v1", "v1-prompt": "loom-v1",
         "loomi": "openloomi", "loomi-pw": "openloomi", "nodeloom": "nodeloom"}
BAD_ENTRIES: dict[str, Any] = {
    "typo-kind": {"kind": "nodeloon", "url": "http://127.0.0.1:9", "api_key_file": "/x"},
    "Bad Name": {"kind": "loom", "url": "http://127.0.0.1:9"},
    "no-secret": {"kind": "nodeloom", "url": "http://127.0.0.1:9"},
    "two-secrets": {"kind": "loom-v1", "url": "http://127.0.0.1:9", "username": "a",
                    "api_key_file": "/x"},
    "missing-env": {"kind": "nodeloom", "url": "http://127.0.0.1:9", "api_key_env": "NOPE_X_1"},
    "bad-url": {"kind": "loom-v1", "url": "ftp://example", "username": "a"},
}


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLoom]:
    with running_local_loom(tmp_path_factory.mktemp("loom-staging") / "data") as server:
        yield server


@pytest.fixture
def secrets_held(staging: LocalLoom, nodeloom_standin: NodeLoomStandIn) -> dict[str, str]:
    return {"staging": staging.make_key("user"), "nodeloom": nodeloom_standin.token("Builder"),
            "v1-password": V1_PASSWORD, "loomi-password": LOOMI_PASSWORD}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / ".openloomi" / "token"


@pytest.fixture
def loom_extension_config(staging: LocalLoom, v1_standin: LoomV1StandIn,
                          openloomi_standin: OpenLoomiStandIn, nodeloom_standin: NodeLoomStandIn,
                          token_file: Path, secrets_held: dict[str, str],
                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for standin in (v1_standin, openloomi_standin, nodeloom_standin):
        standin.reset()
    openloomi_standin.write_token_file(token_file)  # after the reset, which forgets tokens
    monkeypatch.setenv(STAGING_ENV, secrets_held["staging"])
    monkeypatch.setenv(LOOMI_ENV, LOOMI_PASSWORD)
    files = tmp_path / "secrets"
    files.mkdir()
    (files / "v1.password").write_text(V1_PASSWORD + "\n")
    (files / "nodeloom.key").write_text(secrets_held["nodeloom"] + "\n")
    return {"connections": {
        "staging": {"kind": "loom", "url": staging.url, "api_key_env": STAGING_ENV},
        "v1": {"kind": "loom-v1", "url": v1_standin.url, "username": V1_USER,
               "password_file": str(files / "v1.password")},
        "v1-prompt": {"kind": "loom-v1", "url": v1_standin.url, "username": V1_USER},
        "loomi": {"kind": "openloomi", "url": openloomi_standin.url,
                  "token_file": str(token_file)},
        "loomi-pw": {"kind": "openloomi", "url": openloomi_standin.url, "username": LOOMI_USER,
                     "password_env": LOOMI_ENV},
        "nodeloom": {"kind": "nodeloom", "url": nodeloom_standin.url,
                     "api_key_file": str(files / "nodeloom.key")},
        **BAD_ENTRIES,
    }}


def client(proxy: LoomProxy, name: str, who: str = "kernel",
           timeout: float = 20.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{proxy.url}connections/{name}/",
                             headers=proxy.headers(who), timeout=timeout, trust_env=False)


def no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret and secret not in text, "a credential reached the caller"


def bearers(standin: Any, path_part: str) -> list[str | None]:
    return [r.header("Authorization") for r in standin.requests if path_part in r.path]


# -- the list, the kernel environment, the startup lines ------------------------------------------
async def test_connections_are_listed_without_secrets(loom_proxy: LoomProxy,
                                                      secrets_held: dict[str, str],
                                                      v1_standin: LoomV1StandIn) -> None:
    async with loom_proxy.client("kernel") as c:
        r = await c.get("connections")
    assert r.status_code == 200, r.text
    rows = {row["name"]: row for row in r.json()}
    assert {n: row["kind"] for n, row in rows.items()} == NAMES  # the bad entries are absent
    assert rows["default"]["default"] is True and rows["v1"]["default"] is False
    assert rows["v1"]["prefix"] == "loom/connections/v1/"
    assert rows["v1"]["url"] == v1_standin.url and rows["v1"]["title"] == "Loom v1 asset server"
    assert rows["v1"]["credential"] == "password_file" and rows["v1"]["signed_in"] is True
    assert rows["v1-prompt"]["signed_in"] is False
    assert rows["staging"]["credential"] == f"api_key_env {STAGING_ENV}"
    assert rows["loomi"]["credential"] == "token_file" and rows["loomi"]["signed_in"] is True
    assert rows["default"]["credential"] == "config file"
    no_secret(r.text, *secrets_held.values(), loom_proxy.target.key)


async def test_kernels_get_names_and_kinds_only(loom_proxy: LoomProxy,
                                                secrets_held: dict[str, str]) -> None:
    assert json.loads(os.environ["LOOM_JUPYTER_CONNECTIONS"]) == NAMES
    assert STAGING_ENV not in os.environ and LOOMI_ENV not in os.environ
    env = " ".join(os.environ.values())
    no_secret(env, *secrets_held.values(), loom_proxy.target.key)


async def test_each_bad_entry_is_one_startup_line(loom_proxy: LoomProxy) -> None:
    # (logged as one ERROR line each too; the logger is reconfigured at start, so the test
    # reads the list the extension logs from)
    lines = loom_proxy.app.web_app.settings["loom_jupyter"].connection_problems
    assert len(lines) == len(BAD_ENTRIES)
    for name in BAD_ENTRIES:
        shown = repr(name) if name != "Bad Name" else "'(invalid name)'"
        assert sum(shown in line for line in lines) == 1, (name, lines)
    text = "\n".join(lines)
    assert "did you mean 'nodeloom'" in text.lower()
    assert "NOPE_X_1 is not set" in text and "needs one of" in text


# -- all served at once, credentials kept -------------------------------------------------------
async def test_every_connection_is_served_at_once(
        loom_proxy: LoomProxy, staging: LocalLoom, v1_standin: LoomV1StandIn,
        openloomi_standin: OpenLoomiStandIn, nodeloom_standin: NodeLoomStandIn,
        secrets_held: dict[str, str]) -> None:
    calls = {
        "default": ("GET", "api/auth/me"), "staging": ("GET", "api/auth/me"),
        "v1": ("GET", "api/v1/assets?page=1&perPage=2"),
        "loomi": ("GET", "api/ai/v1/models"), "loomi-pw": ("GET", "api/remote-auth/user"),
        "nodeloom": ("GET", "api/workflows"),
    }

    async def call(name: str) -> httpx.Response:
        async with client(loom_proxy, name, who="jupyter" if name == "loomi-pw" else "kernel") \
                as c:
            return await c.request(*calls[name])

    answers = dict(zip(calls, await asyncio.gather(*(call(n) for n in calls)), strict=True))
    for name, r in answers.items():
        assert r.status_code == 200, (name, r.text)
        no_secret(r.text + str(r.headers), *secrets_held.values(), loom_proxy.target.key)
    # Two different Looms: each key is someone on its own server.
    assert answers["default"].json()["id"] != answers["staging"].json()["id"]
    assert answers["v1"].json()["_metainfo"]["perPage"] == 2
    assert answers["loomi"].json()["object"] == "list"
    assert answers["loomi-pw"].json()["email"] == LOOMI_USER
    assert "X-RateLimit-Remaining" in answers["nodeloom"].headers  # relayed for the client
    # What each upstream received: the server's credential, never the caller's token.
    assert bearers(nodeloom_standin, "/api/workflows") == [f"Bearer {secrets_held['nodeloom']}"]
    v1_auth = bearers(v1_standin, "/api/v1/assets")
    assert len(v1_auth) == 1 and v1_auth[0] and v1_auth[0].count(".") == 2  # the JWT
    assert [r.json() for r in v1_standin.requests if r.path.endswith("/auth/login")] == [
        {"username": V1_USER, "password": V1_PASSWORD}]
    for standin in (v1_standin, openloomi_standin, nodeloom_standin):
        for request in standin.requests:
            headers = str(request.headers).lower()
            assert loom_proxy.proxy_token.lower() not in headers
            assert loom_proxy.jupyter_token.lower() not in headers and "cookie" not in headers


async def test_default_is_reachable_both_ways(loom_proxy: LoomProxy) -> None:
    async with loom_proxy.client("kernel") as c:
        old = await c.get("api/auth/me")
        new = await c.get("connections/default/api/auth/me")
        status = await c.get("status")
    assert old.status_code == new.status_code == 200 and old.json() == new.json()
    assert status.json()["url"] == loom_proxy.target.url


async def test_unknown_connection_and_route_are_refused(loom_proxy: LoomProxy,
                                                        v1_standin: LoomV1StandIn) -> None:
    async with loom_proxy.client("kernel") as c:
        unknown = await c.get("connections/nope/api/x")
        bad_name = await c.get("connections/Bad%20Name/api/x")
        foreign = await c.get("connections/v1/api/weavers")  # a Loom route, not a v1 one
        proxy = await c.get("connections/v1/proxy/anthropic/stream")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_connection"
    assert "v1" in unknown.json()["message"] and "staging" in unknown.json()["message"]
    assert bad_name.status_code == 404
    assert foreign.status_code == proxy.status_code == 404
    assert "Loom v1 asset server" in foreign.json()["message"]
    assert v1_standin.requests == []


@pytest.mark.parametrize(("name", "path", "body"), [
    ("v1", "api/v1/tokens", {"name": "mine"}),
    ("v1", "api/v1/users/some-user", {"password": "new"}),
    ("v1", "api/v1/auth/login", {"username": V1_USER, "password": V1_PASSWORD}),
    ("loomi", "api/remote-auth/login", {"email": LOOMI_USER, "password": LOOMI_PASSWORD}),
    ("loomi", "api/user/password", {"password": "new"}),
    ("nodeloom", "api/sdk-tokens", {"name": "mine", "role": "Admin"}),
    ("staging", "api/auth/logout", {}),
])
async def test_kernels_cannot_use_a_kinds_credential_routes(
        loom_proxy: LoomProxy, name: str, path: str, body: dict[str, Any],
        v1_standin: LoomV1StandIn, openloomi_standin: OpenLoomiStandIn,
        nodeloom_standin: NodeLoomStandIn) -> None:
    async with client(loom_proxy, name) as c:
        r = await c.post(path, json=body)
    assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
    assert not [x for s in (v1_standin, openloomi_standin, nodeloom_standin)
                for x in s.requests if path.rsplit("/", 1)[-1] in x.path]


async def test_the_jupyter_user_may_use_credential_routes(loom_proxy: LoomProxy,
                                                          nodeloom_standin: NodeLoomStandIn) -> None:
    async with client(loom_proxy, "nodeloom", who="jupyter") as c:
        r = await c.get("api/sdk-tokens")
    assert r.status_code in (200, 403)  # reached NodeLoom (a Builder key may be refused there)
    assert any(x.path == "/api/sdk-tokens" for x in nodeloom_standin.requests)


# -- password kinds: sign-in, expiry, re-login ---------------------------------------------------
async def test_an_expired_jwt_is_renewed_once_and_the_request_resent(
        loom_proxy: LoomProxy, v1_standin: LoomV1StandIn) -> None:
    async with client(loom_proxy, "v1") as c:
        assert (await c.get("api/v1/assets")).status_code == 200
        v1_standin.expire_tokens()  # upstream now says 401 "Token expired" to that JWT
        created = await c.post("api/v1/assets", json={"name": "after-expiry.txt"})
    assert created.status_code == 201, created.text
    logins = [r for r in v1_standin.requests if r.path.endswith("/auth/login")]
    posts = [r for r in v1_standin.requests if r.method == "POST" and r.path == "/api/v1/assets"]
    assert len(logins) == 2 and len(posts) == 2  # refused once, then sent again with a new JWT
    assert posts[0].header("Authorization") != posts[1].header("Authorization")
    assert posts[0].body == posts[1].body


async def test_a_jwt_past_its_exp_is_renewed_before_sending(loom_proxy: LoomProxy,
                                                            v1_standin: LoomV1StandIn) -> None:
    v1_standin.configure(token_lifetime=1.0)
    async with client(loom_proxy, "v1") as c:
        assert (await c.get("api/v1/tags")).status_code == 200
        await asyncio.sleep(1.2)
        assert (await c.get("api/v1/tags")).status_code == 200
    paths = [r.path for r in v1_standin.requests]
    assert paths == ["/api/v1/auth/login", "/api/v1/tags"] * 2  # no request went out stale


async def test_a_failed_renewal_is_one_clear_401(loom_proxy: LoomProxy,
                                                 v1_standin: LoomV1StandIn) -> None:
    async with client(loom_proxy, "v1") as c:
        assert (await c.get("api/v1/tags")).status_code == 200
        v1_standin.call(lambda: v1_standin.passwords.update({V1_USER: "changed-elsewhere"}))
        v1_standin.expire_tokens()
        r = await c.get("api/v1/tags")
    assert r.status_code == 401 and r.json()["error"] == "signin_failed"
    assert r.json()["message"] == (f"Loom v1 asset server at {v1_standin.url} refused the "
                                   "sign-in: Invalid username or password")
    assert sum(x.path.endswith("/auth/login") for x in v1_standin.requests) == 2
    no_secret(r.text, V1_PASSWORD)


async def test_a_prompted_password_signs_in_through_the_server(
        loom_proxy: LoomProxy, v1_standin: LoomV1StandIn, jp_logging_stream: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    async with client(loom_proxy, "v1-prompt") as c:
        before = (await c.get("signin")).json()
        anonymous = await c.get("api/v1/tags")
        wrong = await c.post("signin", json={"password": "not-the-password-1"})
        right = await c.post("signin", json={"username": V1_USER, "password": V1_PASSWORD})
        tags = await c.get("api/v1/tags")
        listed = (await c.get(f"{loom_proxy.url}connections")).json()
        out = await c.delete("signin")
        after = await c.get("api/v1/tags")
    assert before["state"] == "signed_out" and before["username"] == V1_USER
    assert anonymous.status_code == 401  # no credential yet: the extension refuses it (not_signed_in)
    assert wrong.status_code == 401 and wrong.json()["error"] == "signin_failed"
    assert "Invalid username or password" in wrong.json()["message"]
    assert right.status_code == 200 and right.json()["state"] == "signed_in"
    assert tags.status_code == 200
    assert next(r for r in listed if r["name"] == "v1-prompt")["signed_in"] is True
    assert out.json()["state"] == "signed_out" and after.status_code == 401
    for r in (before, right.json(), out.json()):
        no_secret(json.dumps(r), V1_PASSWORD)
    text = caplog.text + jp_logging_stream.getvalue()
    no_secret(text + wrong.text + tags.text, V1_PASSWORD, "not-the-password-1")


async def test_signin_refuses_kinds_without_one(loom_proxy: LoomProxy) -> None:
    async with client(loom_proxy, "nodeloom") as c:
        view = await c.get("signin")
        post = await c.post("signin", json={"password": "x"})
    assert view.status_code == 200 and view.json()["state"] == "signed_in"
    assert view.json()["source"] == "api_key_file"
    assert post.status_code == 400 and post.json()["error"] == "no_signin"


async def test_the_token_file_is_read_at_use_time(loom_proxy: LoomProxy,
                                                  openloomi_standin: OpenLoomiStandIn,
                                                  token_file: Path) -> None:
    async with client(loom_proxy, "loomi", who="jupyter") as c:  # remote-auth/*: not kernels
        assert (await c.get("api/remote-auth/user")).status_code == 200
        openloomi_standin.expire_tokens()
        stale = await c.get("api/remote-auth/user")
        openloomi_standin.write_token_file(token_file)  # the desktop app signs in
        fresh = await c.get("api/remote-auth/user")
        token_file.write_text("not base64 of a jwt\n")
        broken = await c.get("api/remote-auth/user")
    assert stale.status_code == 401 and stale.json()["code"] == "token_expired"
    assert fresh.status_code == 200 and fresh.json()["email"] == LOOMI_USER
    assert broken.status_code == 503 and broken.json()["error"] == "credential_unavailable"
    assert "base64" in broken.json()["message"]


async def test_an_openloomi_password_connection_renews_its_jwt(
        loom_proxy: LoomProxy, openloomi_standin: OpenLoomiStandIn) -> None:
    async with client(loom_proxy, "loomi-pw") as c:
        assert (await c.get("api/ai/v1/models")).status_code == 200
        openloomi_standin.expire_tokens()
        again = await c.get("api/ai/v1/models")
    assert again.status_code == 200
    assert sum(r.path == "/api/remote-auth/login" for r in openloomi_standin.requests) == 2


# -- streams and sockets through a prefix ---------------------------------------------------------
async def test_openloomi_chat_streams_through_the_prefix_unbuffered(
        loom_proxy: LoomProxy, openloomi_standin: OpenLoomiStandIn) -> None:
    openloomi_standin.configure(chunk_delay=0.15)
    body = {"model": "openloomi-default", "stream": True,
            "messages": [{"role": "user", "content": "tell me a long story " * 3}]}
    arrivals: list[tuple[float, bytes]] = []
    async with client(loom_proxy, "loomi") as c:
        start = time.monotonic()
        async with c.stream("POST", "api/ai/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            async for chunk in r.aiter_raw():
                arrivals.append((time.monotonic() - start, chunk))
    text = b"".join(c for _, c in arrivals).decode()
    assert text.rstrip().endswith("data: [DONE]")
    events = [json.loads(line[6:]) for line in text.splitlines()
              if line.startswith("data: {")]
    assert len(events) >= 5 and events[0]["object"] == "chat.completion.chunk"
    # Unbuffered: the first content arrived long before the stream ended.
    assert arrivals[0][0] < arrivals[-1][0] - 0.5, arrivals[:2]


async def test_nodeloom_agent_chat_streams_through_the_prefix(
        loom_proxy: LoomProxy, nodeloom_standin: NodeLoomStandIn) -> None:
    async with client(loom_proxy, "nodeloom") as c:
        agents = (await c.get("api/agents")).json()["content"]
        agent = agents[0]["id"]
        session = (await c.post(f"api/agents/{agent}/sessions", json={})).json()["id"]
        async with c.stream("POST", f"api/agents/{agent}/sessions/{session}/messages",
                            json={"content": "hello there", "stream": True}) as r:
            assert r.status_code == 200, await r.aread()
            text = (await r.aread()).decode()
    assert "event: token" in text and "event: done" in text and '"there"' in text


async def test_v1_pipeline_events_are_bridged(loom_proxy: LoomProxy,
                                              v1_standin: LoomV1StandIn) -> None:
    async with client(loom_proxy, "v1") as c:
        pipeline = (await c.get("api/v1/pipelines")).json()["data"][0]["uuid"]
        url = f"{loom_proxy.ws_url}connections/v1/api/v1/pipelines/events/ws"
        async with connect(url, additional_headers=loom_proxy.headers("kernel"),
                           open_timeout=10) as ws:
            run = await c.post(f"api/v1/pipelines/{pipeline}/run")
            assert run.status_code == 202, run.text
            seen: list[dict[str, Any]] = []
            while not seen or seen[-1]["type"] != "pipeline.finished":
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    assert seen[0]["type"] == "pipeline.started" and seen[0]["pipeline"] == pipeline
    assert any(e["type"] == "pipeline.progress" for e in seen)
    upgrade = next(r for r in v1_standin.requests if r.path.endswith("/events/ws"))
    assert (upgrade.header("Authorization") or "").startswith("Bearer ey")
    assert upgrade.header("Cookie") is None


async def test_a_v1_socket_renews_an_expired_jwt(loom_proxy: LoomProxy,
                                                 v1_standin: LoomV1StandIn) -> None:
    async with client(loom_proxy, "v1") as c:
        assert (await c.get("api/v1/tags")).status_code == 200
    v1_standin.expire_tokens()
    url = f"{loom_proxy.ws_url}connections/v1/api/v1/pipelines/events/ws"
    async with connect(url, additional_headers=loom_proxy.headers("kernel"), open_timeout=10):
        pass
    assert sum(r.path.endswith("/auth/login") for r in v1_standin.requests) == 2


async def test_a_loom_session_socket_under_a_prefix_uses_the_ws_token_flow(
        loom_proxy: LoomProxy, staging: LocalLoom) -> None:
    url = f"{loom_proxy.ws_url}connections/staging/api/ws/sessions/s-conn-{time.time_ns()}"
    async with connect(url, additional_headers=loom_proxy.headers("kernel"),
                       open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "kernel-has-none"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply["type"] == "auth_ok", reply


async def test_a_v1_file_is_relayed_as_a_download(loom_proxy: LoomProxy) -> None:
    async with client(loom_proxy, "v1") as c:
        asset = (await c.post("api/v1/assets", json={"name": "page.html",
                                                     "mimeType": "text/html"})).json()
        up = await c.post(f"api/v1/assets/{asset['uuid']}/binary", content=b"<b>hi</b>",
                          headers={"Content-Type": "text/html"})
        down = await c.get(f"api/v1/assets/{asset['uuid']}/binary")
    assert up.status_code == 200 and up.json()["size"] == 9
    assert down.status_code == 200 and down.content == b"<b>hi</b>"
    assert down.headers["content-type"] == "application/octet-stream"  # never rendered as HTML
    assert down.headers["content-disposition"] == "attachment"
    assert down.headers["x-loom-content-type"].startswith("text/html")


async def test_secrets_echoed_upstream_are_scrubbed(loom_proxy: LoomProxy,
                                                    v1_standin: LoomV1StandIn,
                                                    secrets_held: dict[str, str]) -> None:
    """Whatever a connection's upstream sends back, no server-held secret reaches the caller:
    here v1 stores an asset named after the staging key and the v1 password."""
    names = [secrets_held["staging"], V1_PASSWORD, secrets_held["nodeloom"]]
    async with client(loom_proxy, "v1", who="jupyter") as c:
        for name in names:
            await c.post("api/v1/assets", json={"name": name})
        listing = await c.get("api/v1/assets", params={"perPage": 100})
    assert listing.status_code == 200
    assert listing.text.count("[redacted]") >= 3
    no_secret(listing.text, *names)


# -- the entry parser on its own (no server) --------------------------------------------------------
def test_an_entry_hides_its_secrets_and_env_vars_are_taken(tmp_path: Path) -> None:
    from loom_jupyter.server.connconfig import parse_entry, take_env_secrets

    environ = {"K_ENV": "sdk_secret_value_123", "OTHER": "x"}
    entries = {"n": {"kind": "nodeloom", "url": "http://127.0.0.1:1/", "api_key_env": "K_ENV"},
               "bad": {"kind": "?", "api_key_env": "OTHER"}}
    taken = take_env_secrets(entries, environ)
    assert environ == {} and taken == {"K_ENV": "sdk_secret_value_123", "OTHER": "x"}
    spec = parse_entry("n", entries["n"], taken)
    assert spec.url == "http://127.0.0.1:1" and spec.key == "sdk_secret_value_123"
    assert "sdk_secret" not in repr(spec)
    (tmp_path / "pw").write_text("hunter2-long\n")
    v1 = parse_entry("v", {"kind": "loom-v1", "username": "u",
                           "password_file": str(tmp_path / "pw")}, {})
    assert v1.url == "http://127.0.0.1:8092"  # the kind's default port
    assert v1.password == "hunter2-long" and "hunter2" not in repr(v1)
    assert parse_entry("d", {"url": "http://h"}, {}).source == "sign-in"  # kind loom by default
