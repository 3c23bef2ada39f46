"""A connection with no credential is answered by the extension itself: 401 `not_signed_in` and
one sentence naming the connection and the next step; nothing goes upstream (HTTP and
WebSocket). `loom/status` lists every connection. The SDK and the magics carry the sentence.

Upstreams: the Loom v1 stand-in (it records every request it receives) behind a password
connection nobody signed in to, and a canary HTTP server (it records every request too) behind
a Loom connection with no key and no sign-in, and an openloomi connection whose token file is
missing. The canary's public /health proves it is listening, so its silence means something.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from IPython.core.interactiveshell import InteractiveShell
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from loom_jupyter.client import AuthenticationError, Loom
from tests.fixtures.jupyter import LoomProxy
from tests.magics.conftest import Ran, magics, run, shell  # noqa: F401 - fixtures, by name
from tests.standins.fixtures import *  # noqa: F403 - the stand-in fixtures, by name
from tests.standins.loom_v1 import LoomV1StandIn

pytestmark = pytest.mark.timeout(120)

V1_HINT = "Connection 'v1-prompt' is not signed in; sign in with %loom login --connection v1-prompt."
NOBODY_HINT = ("Connection 'nobody' has no credential: sign in with %loom login --connection "
               "nobody, or give it an api_key_file or api_key_env in "
               "c.LoomJupyter.connections['nobody'].")


class Canary(ThreadingHTTPServer):
    """Answers anything with 200 `{"status": "healthy"}` and records the path: any request
    the proxy should not have made shows here (and would have succeeded)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CanaryHandler)
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _CanaryHandler(BaseHTTPRequestHandler):
    server: Canary

    def do_GET(self) -> None:  # (http.server's name)
        self.server.paths.append(self.path)
        body = json.dumps({"status": "healthy", "version": "canary"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def missing_token(tmp_path: Path) -> Path:
    return tmp_path / ".openloomi" / "token"  # never written


@pytest.fixture
def loom_extension_config(v1_standin: LoomV1StandIn, canary: Canary, missing_token: Path,
                          tmp_path: Path) -> dict[str, Any]:
    v1_standin.reset()
    return {"signin_dir": str(tmp_path / "signins"), "connections": {
        "v1-prompt": {"kind": "loom-v1", "url": v1_standin.url, "username": v1_standin.username},
        "nobody": {"kind": "loom", "url": canary.url},
        "loomi-gone": {"kind": "openloomi", "url": canary.url, "token_file": str(missing_token)},
    }}


def client(proxy: LoomProxy, name: str, who: str = "kernel") -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{proxy.url}connections/{name}/",
                             headers=proxy.headers(who), timeout=20, trust_env=False)


def refused(r: httpx.Response, name: str, message: str) -> None:
    assert r.status_code == 401, r.text
    assert r.json() == {"connection": name, "error": "not_signed_in", "message": message}


async def test_an_unsigned_password_connection_is_answered_here_until_signed_in(
        loom_proxy: LoomProxy, v1_standin: LoomV1StandIn) -> None:
    async with client(loom_proxy, "v1-prompt") as c:
        get = await c.get("api/v1/tags")
        post = await c.post("api/v1/assets", json={"name": "never-sent.txt"})
        assert v1_standin.requests == []  # nothing went upstream
        signed = await c.post("signin", json={"password": v1_standin.password})
        tags = await c.get("api/v1/tags")
        await c.delete("signin")
        again = await c.get("api/v1/tags")
    refused(get, "v1-prompt", V1_HINT)
    refused(post, "v1-prompt", V1_HINT)
    assert post.headers.get("connection", "").lower() == "close"  # its body was never read
    assert signed.status_code == 200 and signed.json()["state"] == "signed_in"
    assert tags.status_code == 200, tags.text
    refused(again, "v1-prompt", V1_HINT)
    assert [r.path for r in v1_standin.requests] == ["/api/v1/auth/login", "/api/v1/tags"]
    assert v1_standin.password not in get.text + again.text


async def test_an_unsigned_loom_connection_sends_nothing_but_public_routes(
        loom_proxy: LoomProxy, canary: Canary) -> None:
    async with client(loom_proxy, "nobody", who="jupyter") as c:
        weavers = await c.get("api/weavers")
        token = await c.post("auth/ws-token")
        assert canary.paths == []
        health = await c.get("health")  # public: still forwarded, with no credential
    refused(weavers, "nobody", NOBODY_HINT)
    refused(token, "nobody", NOBODY_HINT)
    assert health.status_code == 200 and canary.paths == ["/health"]


async def test_a_missing_token_file_is_named(loom_proxy: LoomProxy, canary: Canary,
                                             missing_token: Path) -> None:
    async with client(loom_proxy, "loomi-gone") as c:
        r = await c.get("api/ai/v1/models")
    refused(r, "loomi-gone", f"Connection 'loomi-gone' has no credential: its token file "
            f"{missing_token} does not exist (the openloomi app writes it when you sign in "
            "there).")
    assert canary.paths == []


@pytest.mark.parametrize(("name", "path"), [
    ("v1-prompt", "api/v1/pipelines/events/ws"),
    ("nobody", "api/ws/sessions/s-unsigned"),  # a Loom session socket (ws-token flow)
    ("nobody", "api/weaver/w-1/attach"),
])
async def test_a_websocket_to_an_unsigned_connection_is_refused_the_same_way(
        loom_proxy: LoomProxy, v1_standin: LoomV1StandIn, canary: Canary, name: str,
        path: str) -> None:
    url = f"{loom_proxy.ws_url}connections/{name}/{path}"
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, additional_headers=loom_proxy.headers("kernel"), open_timeout=10):
            pass
    response = info.value.response
    assert response.status_code == 401
    hint = V1_HINT if name == "v1-prompt" else NOBODY_HINT
    assert json.loads(response.body) == {"connection": name, "error": "not_signed_in",
                                         "message": hint}
    assert v1_standin.requests == [] and canary.paths == []


async def test_status_lists_every_connection_without_asking_them(
        loom_proxy: LoomProxy, v1_standin: LoomV1StandIn, canary: Canary) -> None:
    async with loom_proxy.client("kernel") as c:
        status = await c.get("status")
        listed = await c.get("connections")
        asked = [*v1_standin.requests, *canary.paths]  # listing asks no connection
        await c.post("connections/v1-prompt/signin", json={"password": v1_standin.password})
        after = (await c.get("status")).json()
    body = status.json()
    # The default connection's fields, as before.
    assert body["url"] == loom_proxy.target.url and body["configured"] is True
    assert body["credential"] is True
    assert body["credential_source"] == {"source": "config file", "user": None}
    assert body["reachable"] is True and body["version"] and body["extension_version"]
    # Every connection: the same rows as loom/connections.
    rows = {row["name"]: row for row in body["connections"]}
    assert body["connections"] == listed.json()
    assert {n: (r["kind"], r["signed_in"], r["credential"]) for n, r in rows.items()} == {
        "default": ("loom", True, "config file"),
        "v1-prompt": ("loom-v1", False, "password (prompted)"),
        "nobody": ("loom", False, "sign-in"),
        "loomi-gone": ("openloomi", False, "token_file"),
    }
    assert rows["nobody"]["url"] == canary.url and rows["v1-prompt"]["user"] is None
    assert asked == []
    signed = next(r for r in after["connections"] if r["name"] == "v1-prompt")
    assert signed["signed_in"] is True and signed["user"] == v1_standin.username
    assert signed["credential"] == "password (signed in)"
    assert [r.path for r in v1_standin.requests] == ["/api/v1/auth/login"]  # the sign-in only
    assert canary.paths == []
    text = status.text + json.dumps(after)
    assert loom_proxy.target.key not in text and v1_standin.password not in text


@pytest.fixture
def proxy_mode(loom_proxy: LoomProxy, monkeypatch: pytest.MonkeyPatch) -> LoomProxy:
    """A kernel's environment: the proxy variables only (the extension published them)."""
    for name in ("LOOM_URL", "LOOM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return loom_proxy


@pytest.mark.usefixtures("shell", "magics")  # the real IPython shell, %loom loaded
async def test_the_sdk_and_the_magics_say_the_hint(proxy_mode: LoomProxy,
                                                   v1_standin: LoomV1StandIn,
                                                   canary: Canary, missing_token: Path) -> None:
    ipython = InteractiveShell.instance()

    def sdk() -> list[AuthenticationError]:
        errors = []
        for name, call in (("nobody", lambda loom: loom.weavers.list()),
                           ("v1-prompt", lambda loom: loom.request("GET", "/api/v1/tags")),
                           ("loomi-gone", lambda loom: loom.request("GET", "/api/ai/v1/models"))):
            with Loom(connection=name) as loom, pytest.raises(AuthenticationError) as info:
                call(loom)
            errors.append(info.value)
        return errors

    nobody, v1, loomi = await asyncio.to_thread(sdk)
    # The extension's own refusal is read in Loom's shape whatever the connection's kind.
    assert all(e.code == "not_signed_in" for e in (nobody, v1, loomi))
    assert str(nobody).endswith(f": {NOBODY_HINT}")
    assert str(v1).endswith(f": {V1_HINT}")  # the SDK's sentence holds the hint
    assert f"its token file {missing_token} does not exist" in str(loomi)
    weavers: Ran = await asyncio.to_thread(run, ipython, "%loom weavers --connection nobody")
    assert weavers.usage_error() == NOBODY_HINT  # one line, no HTTP detail
    request: Ran = await asyncio.to_thread(
        run, ipython, "%loom request --connection v1-prompt GET /api/v1/tags")
    assert request.usage_error().endswith(V1_HINT)  # the raw-HTTP command keeps its head
    assert v1_standin.requests == [] and canary.paths == []


def test_the_default_connections_hint_names_its_key_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loom_jupyter.server.app import LoomJupyter

    monkeypatch.delenv("LOOM_API_KEY_FILE", raising=False)
    app = LoomJupyter(url="http://127.0.0.1:9")
    default = app.default_connection
    assert default.not_signed_in().message == (
        "Connection 'default' has no credential: sign in with %loom login, or configure a key "
        "(c.LoomJupyter.api_key_file or $LOOM_API_KEY).")
    app.api_key_file = str(tmp_path / "gone.key")
    assert default.not_signed_in().message == (
        "Connection 'default' has no credential: sign in with %loom login, or fix the key file "
        "that c.LoomJupyter.api_key_file names (it is missing, unreadable or empty).")
    assert not default.needs_credential("/health")
    assert default.needs_credential("/api/weavers") and default.needs_credential("/auth/ws-token")
