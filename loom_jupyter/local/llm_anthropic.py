"""Forwarding to Anthropic's streaming Messages API and translating it into Loom events."""

from __future__ import annotations

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

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; Loom's request may leave it out


def _assistant_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = (
        [{"type": "text", "text": message.content}] if message.content else []
    )
    for call in message.tool_calls:
        arguments = call.arguments_json if isinstance(call.arguments_json, dict) else {}
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.tool_name, "input": arguments}
        )
    return blocks


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":  # Anthropic carries tool results inside a user turn
        result = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id or "",
            "content": message.content,
        }
        return {"role": "user", "content": [result]}
    if message.role == "assistant" and message.tool_calls:
        return {"role": "assistant", "content": _assistant_blocks(message)}
    return {"role": message.role, "content": message.content}


def build_payload(request: LlmRequest) -> dict[str, Any]:
    """System text moves to the top-level `system` field, as the Messages API wants."""
    system = [request.system] if request.system else []
    system += [m.content for m in request.messages if m.role == "system"]
    payload: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": [_wire_message(m) for m in request.messages if m.role != "system"],
        "stream": True,
    }
    if system:
        payload["system"] = "\n\n".join(system)
    if request.tools:
        payload["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in request.tools
        ]
    if request.temperature is not None:
        payload["temperature"] = request.temperature
    return payload


class _Translator:
    """Anthropic stream events -> Loom events; tool blocks are remembered by index."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.reply = Reply()
        self.blocks: dict[int, tuple[str, str]] = {}

    def feed(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type")
        if kind == "message_start":
            usage = (data.get("message") or {}).get("usage") or {}
            self.reply.input_tokens = usage.get("input_tokens")
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.blocks[data.get("index", 0)] = (
                    str(block.get("id", "")),
                    str(block.get("name", "")),
                )
        elif kind == "content_block_delta":
            return self._delta(data.get("index", 0), data.get("delta") or {})
        elif kind == "message_delta":
            self.reply.finish_reason = (data.get("delta") or {}).get(
                "stop_reason"
            ) or self.reply.finish_reason
            usage = data.get("usage") or {}
            self.reply.output_tokens = usage.get("output_tokens", self.reply.output_tokens)
        elif kind == "error":
            error = data.get("error") or {}
            detail = self.upstream.scrub(f"{error.get('type')}: {error.get('message')}")
            raise UpstreamFailed(f"API error: {detail}")
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self.reply.text(str(delta["text"]))]
        if delta.get("type") == "input_json_delta" and index in self.blocks:
            call_id, name = self.blocks[index]
            return [self.reply.tool_fragment(call_id, name, str(delta.get("partial_json", "")))]
        return []


async def stream(
    client: httpx.AsyncClient, upstream: Upstream, request: LlmRequest
) -> AsyncIterator[dict[str, Any]]:
    """Loom events for one request; ends with `completed` or raises `UpstreamFailed`."""
    headers = {
        "x-api-key": upstream.secret,
        "anthropic-version": API_VERSION,
        "accept": "text/event-stream",
    }
    response = await open_stream(client, upstream, "/v1/messages", headers, build_payload(request))
    translator = _Translator(upstream)
    try:
        async for sse in sse_events(response, upstream):
            if sse.event == "ping" or not sse.data:
                continue
            data = decode_json(sse.data)
            if data.get("type") == "message_stop":
                yield translator.reply.completed()
                return
            for event in translator.feed(data):
                yield event
        raise truncated()
    finally:
        await response.aclose()
