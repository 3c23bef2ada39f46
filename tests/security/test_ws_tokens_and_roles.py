"""One-shot WebSocket tokens cannot be replayed, and a support-role key cannot type into a terminal,
whichever way it connects: directly, through the client SDK, through the extension, or the widget."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from loom_jupyter.client import Loom
from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.fixtures.loom_server import LocalLoom
from tests.fixtures.wait import read_until, wait_until

IMAGE = "python:3.12"


def _session_url(server: LocalLoom, session: str = "s1") -> str:
    return server.url.replace("http://", "ws://") + f"/api/ws/sessions/{session}"


def _auth_once(server: LocalLoom, token: str) -> tuple[dict[str, Any], int | None]:
    """Open a session socket, authenticate with `token`; (first reply, close code or None)."""
    with connect(_session_url(server), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        reply = json.loads(ws.recv(timeout=10))
        try:
            ws.recv(timeout=1.0)
        except TimeoutError:
            return reply, None  # still open: authenticated
        except ConnectionClosed as exc:
            return reply, exc.rcvd.code if exc.rcvd else 1006
    return reply, None


def _ws_token(server: LocalLoom, key: str) -> str:
    r = httpx.get(f"{server.url}/api/auth/ws-token", headers=server.headers(key), timeout=10)
    assert r.status_code == 200
    return str(r.json()["token"])


def test_ws_token_is_single_use(loom_server, user_key):
    token = _ws_token(loom_server, user_key)
    first, code = _auth_once(loom_server, token)
    assert first["type"] == "auth_ok" and code is None
    again, code = _auth_once(loom_server, token)
    assert again == {"type": "auth_error", "message": "invalid token"} and code == 4002


def test_ws_token_expires(loom_server_factory):
    server = loom_server_factory(extra_args=["--ws-token-ttl", "0.3"])
    token = _ws_token(server, server.admin_key)
    time.sleep(0.8)  # the scenario: let the 0.3 s TTL pass on the server's own clock
    reply, code = _auth_once(server, token)
    assert reply["type"] == "auth_error" and code == 4002


def test_ws_token_is_not_an_http_credential(loom_server, user_key):
    token = _ws_token(loom_server, user_key)
    r = httpx.get(f"{loom_server.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"},
                  timeout=10)
    assert r.status_code == 401
    assert _auth_once(loom_server, token)[0]["type"] == "auth_ok"  # still unused: it was refused


async def test_ws_token_minted_through_the_extension_is_single_use(loom_proxy: LoomProxy,
                                                                   loom_server):
    async with loom_proxy.client() as http:
        r = await http.get("auth/ws-token")
    assert r.status_code == 200 and r.json()["token"].startswith("ws_")
    token = r.json()["token"]
    first = await asyncio.to_thread(_auth_once, loom_server, token)
    replay = await asyncio.to_thread(_auth_once, loom_server, token)
    assert first[0]["type"] == "auth_ok" and replay == ({"type": "auth_error",
                                                         "message": "invalid token"}, 4002)


async def test_extension_never_reuses_a_ws_token(loom_proxy: LoomProxy):
    """Each bridged session socket authenticates upstream with a fresh token: three in a row work,
    and a browser's own (replayed, invalid) auth message is answered from the bridge."""
    url = loom_proxy.ws_url + "api/ws/sessions/s-" + uuid.uuid4().hex[:6]
    for _ in range(3):
        async with async_connect(url, additional_headers=loom_proxy.headers(), open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "auth", "token": "ws_" + "0" * 32}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["type"] == "auth_ok"


# -- support role ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def roles(loom_server: LocalLoom) -> dict[str, str]:
    return {"owner": loom_server.make_key("user", name="terminal-owner"),
            "support": loom_server.make_key("support", name="terminal-support")}


@pytest.fixture
def shell_weaver(loom_server: LocalLoom, roles) -> Iterator[str]:
    with Loom(url=loom_server.url, api_key=roles["owner"]) as owner:
        weaver = owner.weavers.create(IMAGE, command=["sh", "-i"], lifetime_hours=1)
        try:
            yield weaver.id
        finally:
            owner.weavers.delete(weaver.id)


def _exists(server: LocalLoom, owner_key: str, weaver_id: str, marker: str) -> bool:
    """Ask the owner's own terminal whether `marker` exists (the ground truth)."""
    with Loom(url=server.url, api_key=owner_key) as owner, owner.weavers.attach(weaver_id) as term:
        term.send(f"test -e {marker} && echo THERE-$((2+2)) || echo GONE-$((2+2))\n")
        seen = read_until(lambda: term.recv(timeout=1), (b"THERE-4", b"GONE-4"), 15)
    return b"THERE-4" in seen


def test_support_key_through_the_client_cannot_type(loom_server, roles, shell_weaver, tmp_path):
    marker = tmp_path / "support-typed"
    with Loom(url=loom_server.url, api_key=roles["support"]) as support:
        with support.weavers.attach(shell_weaver) as term:
            assert term.read_only
            term.send(f"touch {marker}\n")
            term.send(b"\x03touch " + str(marker).encode() + b"\n")
            time.sleep(0.5)  # the scenario: time for keystrokes that got through to run
    assert not marker.exists()
    assert not _exists(loom_server, roles["owner"], shell_weaver, marker)
    with Loom(url=loom_server.url, api_key=roles["owner"]) as owner:  # positive control
        with owner.weavers.attach(shell_weaver) as term:
            assert not term.read_only
            term.send(f"touch {marker}\n")
    wait_until(marker.exists, 10, "the owner's keystrokes to create the marker")


def test_support_key_in_the_terminal_widget_is_read_only(loom_server, roles, shell_weaver, tmp_path):
    from loom_jupyter.widgets.terminal import Terminal

    marker = tmp_path / "widget-typed"
    with Loom(url=loom_server.url, api_key=roles["support"]) as support:
        widget = Terminal(shell_weaver, client=support, mode="relay")
        try:
            wait_until(lambda: widget.status == "connected", 15, "the relay to connect")
            assert widget.read_only
            widget._on_view_message(widget, {"type": "input", "data": f"touch {marker}\n"}, [])
            widget._relay.write(f"touch {marker}\n".encode())  # even below the widget's own check
            time.sleep(0.5)  # the scenario: time for keystrokes that got through to run
        finally:
            widget.close()
    assert not marker.exists()


class TestThroughTheExtension:
    """The Jupyter server holds a support-role key: the browser sees a read-only terminal."""

    @pytest.fixture
    def loom_target(self, loom_server, roles) -> LoomTarget:
        return LoomTarget(loom_server.url, roles["support"])

    async def test_support_key_in_the_extension_cannot_type(self, loom_proxy: LoomProxy,
                                                            shell_weaver, tmp_path, roles,
                                                            loom_server):
        marker = tmp_path / "extension-typed"
        url = loom_proxy.ws_url + f"api/weaver/{shell_weaver}/attach"
        async with async_connect(url, additional_headers=loom_proxy.headers(), open_timeout=10) as ws:
            notice = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(notice, str) and "Read-only access" in notice
            await ws.send(f"touch {marker}\n")
            await ws.send(f"touch {marker}\n".encode())
            await asyncio.sleep(0.5)  # the scenario: time for keystrokes that got through to run
        assert not marker.exists()
        assert not await asyncio.to_thread(_exists, loom_server, roles["owner"], shell_weaver,
                                           str(marker))
