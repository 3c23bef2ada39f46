"""The session-socket bridge gets its ws_ token through the client's flow, wherever Loom serves it.

Loom's router serves `/api/auth/ws-token`, its docs say `/auth/ws-token`, older builds have
neither (loom-api.md §1.4). A stand-in Loom serves exactly one variant at a time and checks
what the first WebSocket message carries.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import tornado.httpserver
import tornado.web
import tornado.websocket
from websockets.asyncio.client import connect

from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.server.capture import serve
from tests.server.conftest import FAKE_KEY

WS_TOKEN = "ws_" + "5e" * 16


@dataclass
class Variant:
    token_path: str | None  # where this Loom serves the ws-token route, if anywhere
    url: str = ""
    token_calls: list[str] = field(default_factory=list)
    auth_tokens: list[str] = field(default_factory=list)


class _Token(tornado.web.RequestHandler):
    def initialize(self, variant: Variant) -> None:
        self.variant = variant

    def get(self) -> None:
        self.variant.token_calls.append(self.request.path)
        if self.request.path != self.variant.token_path:
            self.set_status(404)
            self.write({"error": "not_found", "message": "no such route"})
            return
        assert self.request.headers.get("Authorization") == f"Bearer {FAKE_KEY}"
        self.write({"token": WS_TOKEN, "expires_in": 30})


class _Session(tornado.websocket.WebSocketHandler):
    def initialize(self, variant: Variant) -> None:
        self.variant = variant

    def on_message(self, message: str | bytes) -> None:
        data = json.loads(message)
        if data.get("type") == "auth":
            self.variant.auth_tokens.append(data.get("token"))
            self.write_message(json.dumps({"type": "auth_ok", "user_id": "u-1"}))
        else:
            self.write_message(message)


@pytest.fixture(params=["/api/auth/ws-token", "/auth/ws-token", None],
                ids=["router", "docs-only", "no-route"])
async def variant(request: pytest.FixtureRequest) -> AsyncIterator[Variant]:
    found = Variant(request.param)
    app = tornado.web.Application([
        (r"/(?:api/)?auth/ws-token", _Token, {"variant": found}),
        (r"/api/ws/sessions/[^/]+", _Session, {"variant": found}),
    ])
    found.url, server = serve(app)
    yield found
    server.stop()


@pytest.fixture
def loom_target(variant: Variant) -> LoomTarget:
    return LoomTarget(variant.url, FAKE_KEY)


async def test_session_socket_authenticates_with_whatever_the_loom_serves(
        loom_proxy: LoomProxy, variant: Variant) -> None:
    async with connect(loom_proxy.ws_url + "api/ws/sessions/s-1",
                       additional_headers=loom_proxy.headers(), open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "ignored-by-the-proxy"}))
        reply: Any = json.loads(await ws.recv())
        assert reply["type"] == "auth_ok"
        await ws.send('{"type": "ping"}')
        assert json.loads(await ws.recv()) == {"type": "ping"}
    if variant.token_path is None:
        # No ws-token route anywhere: the key itself goes in `token` (§6), to this host only.
        assert variant.auth_tokens == [FAKE_KEY]
        assert variant.token_calls == ["/api/auth/ws-token", "/auth/ws-token"]
    else:
        assert variant.auth_tokens == [WS_TOKEN]
        assert variant.token_calls[-1] == variant.token_path
