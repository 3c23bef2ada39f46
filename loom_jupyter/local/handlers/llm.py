"""`/proxy/{provider}/stream` (SSE `event: llm`) and `/proxy/{provider}/complete` (loom-api.md §5)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

from tornado.iostream import StreamClosedError

from loom_jupyter.local.base import LocalHandler
from loom_jupyter.local.errors import LocalError, UpstreamFailed
from loom_jupyter.local.llm import PROVIDERS
from loom_jupyter.local.llm_request import LlmRequest, parse_llm_request
from loom_jupyter.local.openapi import SSE_EVENT

log = logging.getLogger(__name__)
_PROVIDER = "(" + "|".join(PROVIDERS) + ")"


class _LlmHandler(LocalHandler):
    def _admitted_request(self) -> LlmRequest:
        """Validate first so a bad body never uses up a slot of the rate-limit count."""
        request = parse_llm_request(self.json_body())
        self.state.llm.admit()
        return request


class LlmStreamHandler(_LlmHandler):
    """Relays events as SSE; errors before the first event are plain JSON errors (§5.4)."""

    _relay_task: asyncio.Future[None] | None = None

    async def post(self, provider: str) -> None:
        events = self.state.llm.stream(provider, self._admitted_request())
        try:
            first = await events.__anext__()
        except StopAsyncIteration:
            raise UpstreamFailed("Invalid response: empty upstream stream"
            ) from None
        except BaseException:
            await events.aclose()
            raise
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # let reverse proxies pass each event at once
        self._relay_task = asyncio.ensure_future(self._relay(first, events))
        try:
            await self._relay_task
        except asyncio.CancelledError:
            pass  # the client went away; cancelling the relay already closed the upstream
        finally:
            await events.aclose()
        self._finish_quietly()

    def on_connection_close(self) -> None:
        if self._relay_task is not None:
            self._relay_task.cancel()  # stop generating (and stop the upstream request) now

    async def _relay(
        self, first: dict[str, Any], events: AsyncGenerator[dict[str, Any], None]
    ) -> None:
        try:
            await self._send(first)
            async for event in events:
                await self._send(event)
        except LocalError as exc:
            await self._send_quietly({"type": "error", "message": exc.message})
        except StreamClosedError:
            return
        except Exception:
            log.exception("LLM stream failed")
            await self._send_quietly({"type": "error", "message": "An internal error occurred"})

    async def _send(self, event: dict[str, Any]) -> None:
        self.write(f"event: llm\ndata: {json.dumps(event, separators=(',', ':'))}\n\n")
        await self.flush()

    async def _send_quietly(self, event: dict[str, Any]) -> None:
        try:
            await self._send(event)
        except StreamClosedError:
            pass

    def _finish_quietly(self) -> None:
        try:
            self.finish()
        except StreamClosedError:
            pass


class LlmCompleteHandler(_LlmHandler):
    async def post(self, provider: str) -> None:
        request = self._admitted_request()
        self.write_json(await self.state.llm.complete(provider, request))


ROUTES: list[tuple[str, type]] = [
    (rf"/proxy/{_PROVIDER}/stream", LlmStreamHandler),
    (rf"/proxy/{_PROVIDER}/complete", LlmCompleteHandler),
]

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
        "content": {"type": "string"},
        "tool_call_id": {"type": "string"},
        "name": {"type": "string"},
    },
}
_TOOL_CALL = {
    "type": "object",
    "required": ["id", "tool_name", "arguments_json"],
    "properties": {"id": {"type": "string"}, "tool_name": {"type": "string"}, "arguments_json": {}},
}
_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string"},
        "messages": {"type": "array", "items": _MESSAGE},
        "tools": {
            "type": "array",
            "description": "Required by real Loom (send []); optional locally.",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "input_schema": {"type": "object"},
                },
            },
        },
        "max_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0},
        "system": {"type": "string", "description": "Local extension: extra system prompt."},
    },
}
_RESPONSE = {
    "type": "object",
    "required": ["message", "tool_calls"],
    "properties": {
        "message": _MESSAGE,
        "tool_calls": {"type": "array", "items": _TOOL_CALL},
        "usage": {
            "type": "object",
            "required": ["input_tokens", "output_tokens"],
            "properties": {
                "input_tokens": {"type": "integer"},
                "output_tokens": {"type": "integer"},
            },
        },
        "finish_reason": {"type": "string"},
    },
}


def _errors() -> dict[str, Any]:
    described = {
        "400": "Malformed JSON or an invalid LlmRequest (`bad_request`).",
        "401": "Authentication required (`unauthorized`).",
        "404": "No such provider route (`not_found`).",
        "502": "The provider failed (`upstream_error`).",
        "503": "Rate limited (`rate_limited`, retry hint in the message).",
        "504": "The provider timed out (`upstream_timeout`).",
    }
    return {
        status: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
        for status, text in described.items()
    }


def _operation(summary: str, ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "tags": ["llm"],
            "parameters": [
                {
                    "name": "provider",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": list(PROVIDERS)},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _REQUEST}},
            },
            "responses": {"200": ok, **_errors()},
        }
    }


OPENAPI_PATHS: dict[str, Any] = {
    "/proxy/{provider}/stream": _operation(
        "Stream a completion as SSE `event: llm` (text_delta, tool_call_delta, then completed or error).",
        {
            "description": "An SSE stream; each `data:` is a JSON event with a `type`.",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
    ),
    "/proxy/{provider}/complete": _operation(
        "Complete without streaming.",
        {"description": "The full reply.", "content": {"application/json": {"schema": _RESPONSE}}},
    ),
}
