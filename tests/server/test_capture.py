"""What actually reaches the upstream, and what comes back: checked against a capture server."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.server.capture import Capture
from tests.server.conftest import FAKE_KEY as KEY


@pytest.fixture
def loom_target(capture: Capture) -> LoomTarget:
    return LoomTarget(capture.url, KEY)


@pytest.fixture
def loom_extension_config() -> dict[str, Any]:
    return {"read_timeout": 1.0, "connect_timeout": 1.0}


async def test_upstream_sees_only_the_loom_credential(loom_proxy: LoomProxy, capture: Capture) -> None:
    async with loom_proxy.client() as client:
        r = await client.post("api/echo", content=b'{"a":1}', headers={
            "Content-Type": "application/json", "Cookie": "username-x=jupyter-cookie",
            "X-XSRFToken": "xsrf-value", "Connection": "X-Secret-Hop", "X-Secret-Hop": "1",
            "X-Forwarded-Host": "evil.example", "If-Match": "7", "Proxy-Authorization": "p"})
    assert r.status_code == 200, r.text
    seen = capture.last()
    assert seen.headers["authorization"] == [f"Bearer {KEY}"]
    for name in ("cookie", "x-xsrftoken", "x-secret-hop", "x-forwarded-host",
                 "proxy-authorization", "origin", "referer"):
        assert name not in seen.headers, name
    assert seen.headers["if-match"] == ["7"]
    assert seen.headers["host"] == [capture.url.removeprefix("http://")]
    assert seen.body == b'{"a":1}'
    assert loom_proxy.jupyter_token not in json.dumps(seen.headers)
    # Jupyter may set its own login cookie; Loom's session cookie must never reach this origin.
    assert "upstream-secret" not in r.headers.get("set-cookie", "")
    assert "x-upstream-internal" not in r.headers
    assert KEY not in r.text and KEY not in str(r.headers)


async def test_kernel_token_is_not_forwarded(loom_proxy: LoomProxy, capture: Capture) -> None:
    async with loom_proxy.client("kernel") as client:
        r = await client.get("api/echo")
    assert r.status_code == 200
    assert capture.last().headers["authorization"] == [f"Bearer {KEY}"]


async def test_large_body_streams_upstream(loom_proxy: LoomProxy, capture: Capture) -> None:
    size = 5 * 1024 * 1024

    async def body() -> Any:
        for _ in range(size // 65536):
            yield b"x" * 65536

    async with loom_proxy.client(timeout=30) as client:
        r = await client.post("api/upload", content=body(),
                              headers={"Content-Length": str(size)})
    assert r.status_code == 200, r.text
    assert r.json() == {"size": size, "content_length": str(size)}


async def test_client_disconnect_cancels_upstream_stream(loom_proxy: LoomProxy, capture: Capture) -> None:
    async with loom_proxy.client() as client, client.stream("GET", "api/sse-forever") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-accel-buffering"] == "no"
        async for line in r.aiter_lines():
            if line.startswith("data: 2"):
                break
    await asyncio.wait_for(capture.stream_closed.wait(), 5)


@pytest.mark.parametrize(("path", "status", "code"), [
    ("api/html", 502, "upstream_not_json"),
    ("api/plain-error", 422, "error"),
    ("api/json-error", 409, "version_conflict"),
])
async def test_non_json_bodies_are_wrapped(loom_proxy: LoomProxy, capture: Capture,
                                           path: str, status: int, code: str) -> None:
    async with loom_proxy.client() as client:
        r = await client.get(path)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.json()["error"] == code
    assert "<script>" not in r.text


async def test_redirects_are_not_followed_or_relayed(loom_proxy: LoomProxy, capture: Capture) -> None:
    async with loom_proxy.client() as client:
        r = await client.get("api/redirect")
    assert r.status_code == 302 and "location" not in r.headers


async def test_slow_upstream_is_504_naming_the_url(loom_proxy: LoomProxy, capture: Capture) -> None:
    async with loom_proxy.client() as client:
        r = await client.get("api/slow")
    assert r.status_code == 504
    body = r.json()
    assert body["error"] == "upstream_timeout" and capture.url in body["message"]
    assert KEY not in r.text


async def test_websocket_bridge_preserves_frames_and_close(loom_proxy: LoomProxy, capture: Capture) -> None:
    async with connect(loom_proxy.ws_url + "api/weaver/w1/attach",
                       additional_headers=loom_proxy.headers(), open_timeout=5) as ws:
        await ws.send(b"\x00\x01binary")
        assert await asyncio.wait_for(ws.recv(), 5) == b"\x00\x01binary"
        await ws.send("text frame")
        assert await asyncio.wait_for(ws.recv(), 5) == "text frame"
        await ws.send("close-me")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 4321 and ws.close_reason == "custom reason"
    headers = capture.ws_headers[-1]
    assert headers["authorization"] == [f"Bearer {KEY}"]
    assert "cookie" not in headers


async def test_unreachable_loom_is_502(loom_proxy: LoomProxy, capture: Capture) -> None:
    loom_proxy.app.web_app.settings["loom_jupyter"].url = "http://127.0.0.1:9"
    async with loom_proxy.client() as client:
        r = await client.get("api/weavers")
        status = await client.get("status")
    assert r.status_code == 502
    assert r.json()["error"] == "upstream_unreachable" and "127.0.0.1:9" in r.json()["message"]
    assert status.json()["reachable"] is False and status.json()["url"] == "http://127.0.0.1:9"
    assert isinstance(httpx.URL(status.json()["url"]), httpx.URL)


async def test_session_websocket_authenticates_upstream_itself(loom_proxy: LoomProxy,
                                                               capture: Capture) -> None:
    async with connect(loom_proxy.ws_url + "api/ws/sessions/s-1",
                       additional_headers=loom_proxy.headers(), open_timeout=5) as ws:
        # A client written for Loom sends its own auth first: answered here, never forwarded.
        await ws.send(json.dumps({"type": "auth", "token": "browser-has-no-loom-token"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "auth_ok"
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 5) == "hello"
    assert capture.ws_auth == [{"type": "auth", "token": "ws_" + "ab" * 16}]
    assert [s.path for s in capture.seen] == ["/api/auth/ws-token"]
    assert capture.seen[0].headers["authorization"] == [f"Bearer {KEY}"]
