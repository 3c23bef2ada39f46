"""A test-only tornado app that speaks each Loom variant of loom-api.md §10, one scenario per URL prefix.

A client pointed at `http://127.0.0.1:PORT/<scenario>` sees a Loom whose every answer follows
that scenario; `VariantServer.state` records what the server saw so tests can check effects.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

KEY = "lk_" + "5ec2e7" * 10 + "abcd"
WEAVER = {"id": "018f6b2a-0000-7000-8000-000000000001", "pod_name": "weaver-1", "status": "running",
          "created_at": "2025-01-15T12:34:56.123Z", "image": "python:3.12", "tags": {"project": "x"},
          "lifetime_hours": 4, "age_hours": 0.5, "owner_user_id": "u1"}


def weaver(n: int, **extra: Any) -> dict[str, Any]:
    return {**WEAVER, "id": f"018f6b2a-0000-7000-8000-{n:012d}", "pod_name": f"weaver-{n}", **extra}


def log_lines(count: int = 40) -> list[str]:
    """Timestamped lines; three lines share each timestamp, and zeros are trimmed as K8s does."""
    out = []
    for i in range(count):
        second, frac = divmod(i // 3, 60)
        stamp = f"2025-01-15T12:{second:02d}:{frac:02d}.1234500Z".replace("00Z", "Z")
        out.append(f"{stamp} line {i} {'x' * (i % 5)}")
    return out


def sse_data(chunk: str, crlf: bool = False) -> str:
    """How axum frames a chunk: every LF inside becomes another `data:` line (§4.6)."""
    eol = "\r\n" if crlf else "\n"
    return "".join(f"data: {part}{eol}" for part in chunk.split("\n")) + eol


class Handler(tornado.web.RequestHandler):
    def initialize(self, server: VariantServer) -> None:
        self.server = server

    def check_xsrf_cookie(self) -> None:
        pass

    async def _dispatch(self, scenario: str, path: str) -> None:
        self.server.state["requests"].append((scenario, self.request.method, path, self.request.query))
        self.server.state["auth"].append(self.request.headers.get("Authorization"))
        fn = SCENARIOS.get(scenario)
        if fn is None:
            raise tornado.web.HTTPError(599)
        result = fn(self, self.request.method or "GET", path)
        if result is not None:
            await result

    get = post = put = delete = _dispatch  # type: ignore[assignment]

    def send(self, status: int, body: Any, ctype: str = "application/json", **headers: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", ctype)
        for name, value in headers.items():
            self.set_header(name.replace("_", "-"), value)
        self.finish(json.dumps(body) if not isinstance(body, (str, bytes)) else body)

    def drop(self) -> None:
        """Close the TCP connection without (the rest of) a response."""
        stream = self.request.connection.detach()  # type: ignore[attr-defined]
        stream.close()
        self._finished = True

    def body(self) -> Any:
        return json.loads(self.request.body or b"null")


class VariantServer:
    """Runs the app on a free loopback port in a thread with its own event loop."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = defaultdict(list)
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> VariantServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("variant server did not start")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        app = tornado.web.Application([
            (r"/([^/]+)/api/weaver/([^/]+)/attach", AttachHandler, {"server": self}),
            (r"/([^/]+)/(.*)", Handler, {"server": self}),
        ])
        http = tornado.httpserver.HTTPServer(app)
        http.add_sockets(sockets)
        self._ready.set()
        self._loop.run_forever()
        http.stop()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def requests(self, scenario: str) -> list[tuple[str, str, str, str]]:
        return [r for r in self.state["requests"] if r[0] == scenario]


class AttachHandler(tornado.websocket.WebSocketHandler):
    """ws-error: ERROR frame; ws-ro: read-only notice then echo; ws-echo: echo (needs the bearer key)."""

    def initialize(self, server: VariantServer) -> None:
        self.server = server

    async def get(self, scenario: str, weaver_id: str) -> None:  # type: ignore[override]
        self.scenario = scenario
        self.server.state["ws_auth"].append(self.request.headers.get("Authorization"))
        if self.request.headers.get("Authorization") != f"Bearer {KEY}":
            self.set_status(401)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"error": "unauthorized", "message": "Authentication required"}))
            return
        await super().get(scenario, weaver_id)

    def open(self, *args: str) -> None:
        if self.scenario == "ws-error":
            self.write_message("ERROR: Weaver is not running (status: failed)")
            self.close()
        elif self.scenario == "ws-ro":
            self.write_message("\r\n*** Read-only access: You can view output but cannot send input ***\r\n")
            self.write_message(b"$ ", binary=True)
        else:
            self.write_message(b"$ ", binary=True)

    def on_message(self, message: str | bytes) -> None:
        if self.scenario == "ws-ro":
            return
        data = message if isinstance(message, bytes) else message.encode()
        if data == b"exit\n":
            self.close()
            return
        self.write_message(b"echo:" + data, binary=True)
        self.write_message("text-frame")


Scenario = Callable[[Handler, str, str], "Awaitable[None] | None"]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = fn
        return fn
    return register
