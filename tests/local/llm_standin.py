"""A loopback stand-in for the Anthropic and OpenAI streaming APIs (no paid provider in tests).

It speaks the real wire protocols (Anthropic `/v1/messages` SSE, OpenAI `/chat/completions`
SSE with `[DONE]`), checks the key header, and picks its behaviour from the request's
`model`, so one instance serves every test without shared switches:

    anything else  a short text reply           tool       text + one tool call
    fail-500       HTTP 500 with an error body  rate-429   HTTP 429, Retry-After: 7
    echo-key       HTTP 401 quoting the key     cut        two deltas, then the socket closes
    error-event    two deltas, then an error event
    slow           a delta every 50 ms for 10 s (records when its client goes away)
    stall          no answer for 3 s
It runs its own event loop in a thread so it outlives pytest-asyncio's per-test loops.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets

TEXT = ["Hello", " from", " the", " stand", "-in", "."]
TOOL_TEXT = ["Let me", " look."]
TOOL_ARGS = ['{"path":', ' "/etc/host', 'name"}']


class _Base(tornado.web.RequestHandler):
    protocol = ""

    def initialize(self, standin: StandIn) -> None:
        self.standin = standin

    def check_xsrf_cookie(self) -> None:
        pass

    async def post(self) -> None:
        body = json.loads(self.request.body)
        self.standin.requests.append(
            {"protocol": self.protocol, "headers": dict(self.request.headers), "body": body}
        )
        if not self.key_ok():
            return self.fail(401, "authentication_error", "invalid x-api-key")
        model = body.get("model", "")
        if model == "fail-500":
            return self.fail(500, "api_error", "Internal server error")
        if model == "rate-429":
            self.set_header("Retry-After", "7")
            return self.fail(429, "rate_limit_error", "Number of requests exceeded your rate limit")
        if model == "echo-key":
            return self.fail(
                401, "authentication_error", f"Incorrect API key provided: {self.sent_key()}"
            )
        if model == "stall":
            await asyncio.sleep(3)
        self.set_header("Content-Type", "text/event-stream")
        await self.run_stream(model)

    def fail(self, status: int, kind: str, message: str) -> None:
        self.set_status(status)
        self.finish({"type": "error", "error": {"type": kind, "message": message}})

    async def emit(self, data: dict[str, Any] | str, event: str | None = None) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        self.write((f"event: {event}\n" if event else "") + f"data: {text}\n\n")
        await self.flush()

    async def run_stream(self, model: str) -> None:
        raise NotImplementedError

    def key_ok(self) -> bool:
        return self.sent_key() == self.standin.keys[self.protocol]

    def sent_key(self) -> str:
        raise NotImplementedError

    async def slow(self, deltas: Any) -> None:
        try:
            for _ in range(200):
                await deltas()
                await asyncio.sleep(0.05)
        except StreamClosedError:
            self.standin.disconnects.append(self.protocol)

    def cut(self) -> None:
        """Close the socket mid-body: the client sees a truncated chunked response."""
        self.request.connection.stream.close()  # type: ignore[union-attr]


class AnthropicMessages(_Base):
    protocol = "anthropic"

    def sent_key(self) -> str:
        return self.request.headers.get("x-api-key", "")

    async def ev(self, data: dict[str, Any]) -> None:
        await self.emit(data, data["type"])

    async def text_block(self, index: int, parts: list[str]) -> None:
        await self.ev(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            }
        )
        for part in parts:
            await self.ev(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": part},
                }
            )

    async def run_stream(self, model: str) -> None:
        await self.ev(
            {
                "type": "message_start",
                "message": {"id": "msg_1", "usage": {"input_tokens": 11, "output_tokens": 1}},
            }
        )
        await self.emit({"type": "ping"}, "ping")
        if model == "slow":
            await self.text_block(0, [])
            delta = {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "tick "},
            }
            return await self.slow(lambda: self.ev(delta))
        await self.text_block(
            0,
            TEXT[:2] if model in ("cut", "error-event") else TOOL_TEXT if model == "tool" else TEXT,
        )
        if model == "cut":
            return self.cut()
        if model == "error-event":
            return await self.ev(
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            )
        await self.ev({"type": "content_block_stop", "index": 0})
        stop = "end_turn"
        if model == "tool":
            stop = "tool_use"
            start = {"type": "tool_use", "id": "toolu_01", "name": "read_file", "input": {}}
            await self.ev({"type": "content_block_start", "index": 1, "content_block": start})
            for part in TOOL_ARGS:
                delta = {"type": "input_json_delta", "partial_json": part}
                await self.ev({"type": "content_block_delta", "index": 1, "delta": delta})
            await self.ev({"type": "content_block_stop", "index": 1})
        await self.ev(
            {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 6}}
        )
        await self.ev({"type": "message_stop"})


class OpenAIChat(_Base):
    protocol = "openai"

    def sent_key(self) -> str:
        return self.request.headers.get("Authorization", "").removeprefix("Bearer ")

    async def chunk(self, delta: dict[str, Any], finish: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        await self.emit(
            {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [choice]}
        )

    async def run_stream(self, model: str) -> None:
        await self.chunk({"role": "assistant", "content": ""})
        if model == "slow":
            return await self.slow(lambda: self.chunk({"content": "tick "}))
        for part in (
            TEXT[:2] if model in ("cut", "error-event") else TOOL_TEXT if model == "tool" else TEXT
        ):
            await self.chunk({"content": part})
        if model == "cut":
            return self.cut()
        if model == "error-event":
            return await self.emit(
                {"error": {"message": "The server had an error", "type": "server_error"}}
            )
        finish = "stop"
        if model == "tool":
            finish = "tool_calls"
            first = {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "read_file", "arguments": ""},
            }
            await self.chunk({"tool_calls": [first]})
            for part in TOOL_ARGS:
                await self.chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        await self.chunk({}, finish)
        await self.emit(
            {
                "id": "chatcmpl-1",
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 6},
            }
        )
        await self.emit("[DONE]")


class StandIn:
    """Both providers on one loopback port; `url` is the base for ANTHROPIC_/OPENAI_BASE_URL."""

    def __init__(self, anthropic_key: str, openai_key: str) -> None:
        self.keys = {"anthropic": anthropic_key, "openai": openai_key}
        self.requests: list[dict[str, Any]] = []
        self.disconnects: list[str] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="llm-standin", daemon=True
        )

    def start(self) -> StandIn:
        sockets = bind_sockets(0, "127.0.0.1")
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(sockets), self._loop).result(timeout=10)
        return self

    async def _serve(self, sockets: list[Any]) -> None:
        routes = [
            (r"/v1/messages", AnthropicMessages),
            (r"/openai/v1/chat/completions", OpenAIChat),
        ]
        app = tornado.web.Application([(path, cls, {"standin": self}) for path, cls in routes])
        self._server = HTTPServer(app)
        self._server.add_sockets(sockets)

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.stop()
            await self._server.close_all_connections()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
