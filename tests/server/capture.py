"""A tiny upstream that records what the proxy really sends (the local Loom cannot tell us)."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import tornado.httpserver
import tornado.web
import tornado.websocket
from tornado.iostream import StreamClosedError
from tornado.testing import bind_unused_port


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, list[str]]
    body: bytes


@dataclass
class Capture:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    stream_closed: asyncio.Event = field(default_factory=asyncio.Event)
    ws_headers: list[dict[str, list[str]]] = field(default_factory=list)
    ws_auth: list[dict[str, Any]] = field(default_factory=list)

    def last(self) -> Seen:
        assert self.seen, "the upstream received nothing"
        return self.seen[-1]


class _Recorder(tornado.web.RequestHandler):
    def initialize(self, capture: Capture) -> None:
        self.capture = capture

    def _record(self) -> None:
        headers: dict[str, list[str]] = {}
        for name, value in self.request.headers.get_all():
            headers.setdefault(name.lower(), []).append(value)
        self.capture.seen.append(Seen(self.request.method or "", self.request.path,
                                      self.request.query, headers, self.request.body))

    async def get(self, kind: str) -> None:
        self._record()
        await getattr(self, "_" + kind.replace("-", "_"), self._echo)()

    post = put = patch = delete = get

    async def _echo(self) -> None:
        self.set_header("Set-Cookie", "loom_session=upstream-secret; Path=/")
        self.set_header("X-Upstream-Internal", "leaky")
        self.write({"ok": True, "path": self.request.path, "size": len(self.request.body)})

    async def _health(self) -> None:
        self.write({"status": "healthy", "timestamp": "2026-01-01T00:00:00Z",
                    "version": {"version": "9.9.9-capture"}, "components": {}})

    async def _ws_token(self) -> None:
        self.write({"token": "ws_" + "ab" * 16, "expires_in": 30})

    async def _html(self) -> None:
        self.set_header("Content-Type", "text/html")
        self.write("<html><script>alert(1)</script></html>")

    async def _plain_error(self) -> None:
        self.set_status(422)
        self.set_header("Content-Type", "text/plain")
        self.write("Failed to deserialize <script>alert(1)</script>")

    async def _json_error(self) -> None:
        self.set_status(409)
        self.write({"error": "version_conflict", "message": "stale", "server_version": 3})

    async def _redirect(self) -> None:
        self.set_status(302)
        self.set_header("Location", "http://evil.example/")
        self.set_header("Content-Type", "application/json")
        self.write("{}")

    async def _slow(self) -> None:
        await asyncio.sleep(3)
        self.write({"late": True})

    async def _sse_forever(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        n = 0
        try:
            while True:
                self.write(f"data: {n}\n\n")
                await self.flush()
                n += 1
                await asyncio.sleep(0.1)
        except StreamClosedError:
            self.capture.stream_closed.set()

    def on_connection_close(self) -> None:
        self.capture.stream_closed.set()


@tornado.web.stream_request_body
class _BodyCounter(tornado.web.RequestHandler):
    """Counts a streamed body without keeping it, and reports whether it arrived chunked."""

    def initialize(self, capture: Capture) -> None:
        self.capture, self.size = capture, 0

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)

    def post(self) -> None:
        self.write({"size": self.size, "content_length": self.request.headers.get("Content-Length")})


class _Socket(tornado.websocket.WebSocketHandler):
    def initialize(self, capture: Capture) -> None:
        self.capture = capture

    def open(self, *args: Any) -> None:
        headers: dict[str, list[str]] = {}
        for name, value in self.request.headers.get_all():
            headers.setdefault(name.lower(), []).append(value)
        self.capture.ws_headers.append(headers)

    def on_message(self, message: str | bytes) -> None:
        if isinstance(message, str) and message.startswith('{"type": "auth"'):
            self.capture.ws_auth.append(json.loads(message))
            self.write_message(json.dumps({"type": "auth_ok", "user_id": "u-1"}))
            return
        if message == "close-me":
            self.close(4321, "custom reason")
            return
        self.write_message(message, binary=isinstance(message, bytes))


async def start_capture() -> tuple[Capture, tornado.httpserver.HTTPServer]:
    capture = Capture()
    app = tornado.web.Application([
        (r"/api/ws/sessions/.*", _Socket, {"capture": capture}),
        (r"/api/weaver/[^/]+/attach", _Socket, {"capture": capture}),
        (r"/api/upload", _BodyCounter, {"capture": capture}),
        (r"/(?:api|proxy)/(?:.*/)?([a-z-]+)", _Recorder, {"capture": capture}),
        (r"/(health)", _Recorder, {"capture": capture}),
    ])
    capture.url, server = serve(app)
    return capture, server


def serve(app: tornado.web.Application) -> tuple[str, tornado.httpserver.HTTPServer]:
    """Serve a stand-in app on a free loopback port: its URL and the server (stop() it)."""
    sock, port = bind_unused_port()
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    return f"http://127.0.0.1:{port}", server
