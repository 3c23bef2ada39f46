"""Forwarding to an OpenAI-compatible `/chat/completions` stream and translating it into Loom events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from loom_jupyter.local.errors import UpstreamFailed
from loom_jupyter.local.llm_providers import (
    Reply,
    Upstream,
    decode_json,
    open_stream,
    sse_events,
    truncated,
)
from loom_jupyter.local.llm_request import ChatMessage, LlmRequest

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "tool":
        wire["tool_call_id"] = message.tool_call_id or ""
    elif message.name:
        wire["name"] = message.name
    if message.role == "assistant" and message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.tool_name, "arguments": json.dumps(call.arguments_json)},
            }
            for call in message.tool_calls
        ]
    return wire


def build_payload(request: LlmRequest) -> dict[str, Any]:
    """Loom's request maps almost one to one; usage needs `stream_options` to be sent at all."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    payload: dict[str, Any] = {
        "model": request.model,
        "messages": messages + [_wire_message(m) for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        payload["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                },
            }
            for t in request.tools
        ]
    if request.max_tokens is not None:
        payload["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        payload["temperature"] = request.temperature
    return payload


class _Translator:
    """Chat-completion chunks -> Loom events; tool calls are keyed by their `index`."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.reply = Reply()
        self.calls: dict[int, tuple[str, str]] = {}

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if chunk.get("error"):
            error = (
                chunk["error"] if isinstance(chunk["error"], dict) else {"message": chunk["error"]}
            )
            detail = self.upstream.scrub(str(error.get("message")))
            raise UpstreamFailed(f"API error: {detail}")
        usage = chunk.get("usage") or {}
        if usage:
            self.reply.input_tokens = usage.get("prompt_tokens")
            self.reply.output_tokens = usage.get("completion_tokens")
        events: list[dict[str, Any]] = []
        for choice in (chunk.get("choices") or [])[:1]:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                events.append(self.reply.text(str(delta["content"])))
            for call in delta.get("tool_calls") or []:
                events.extend(self._tool_delta(call))
            self.reply.finish_reason = choice.get("finish_reason") or self.reply.finish_reason
        return events

    def _tool_delta(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        index = call.get("index", 0)
        function = call.get("function") or {}
        known_id, known_name = self.calls.get(index, ("", ""))
        call_id, name = call.get("id") or known_id, function.get("name") or known_name
        self.calls[index] = (call_id, name)
        fragment = function.get("arguments") or ""
        return [self.reply.tool_fragment(call_id, name, fragment)] if fragment else []


async def stream(
    client: httpx.AsyncClient, upstream: Upstream, request: LlmRequest
) -> AsyncIterator[dict[str, Any]]:
    """Loom events for one request; ends with `completed` or raises `UpstreamFailed`."""
    headers = {"authorization": f"Bearer {upstream.secret}", "accept": "text/event-stream"}
    response = await open_stream(
        client, upstream, "/chat/completions", headers, build_payload(request)
    )
    translator = _Translator(upstream)
    try:
        async for sse in sse_events(response, upstream):
            if sse.data.strip() == "[DONE]":
                yield translator.reply.completed()
                return
            if sse.data:
                for event in translator.feed(decode_json(sse.data)):
                    yield event
        if translator.reply.finish_reason is None:
            raise truncated()
        yield translator.reply.completed()  # some compatible servers end without [DONE]
    finally:
        await response.aclose()
