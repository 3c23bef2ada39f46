"""What every upstream LLM provider shares: the reply accumulator and HTTP error translation.

Errors are `local.errors` classes with Loom's codes (loom-api.md §5.4): the handler renders one
as a JSON error before the stream starts and as an SSE `error` event after it started.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from loom_jupyter.local.errors import RateLimited, UpstreamFailed, UpstreamTimeout

_ERROR_TEXT_LIMIT = 300


@dataclass
class _ToolCallParts:
    call_id: str
    tool_name: str
    fragments: list[str] = field(default_factory=list)

    def as_wire(self) -> dict[str, Any]:
        raw = "".join(self.fragments)
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except ValueError:
            arguments = {"_raw": raw}  # keep what the model sent rather than lose it
        return {"id": self.call_id, "tool_name": self.tool_name, "arguments_json": arguments}


@dataclass
class Reply:
    """Builds Loom events while remembering enough to emit the final `completed`."""

    text_parts: list[str] = field(default_factory=list)
    calls: dict[str, _ToolCallParts] = field(default_factory=dict)
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None

    def text(self, content: str) -> dict[str, Any]:
        self.text_parts.append(content)
        return {"type": "text_delta", "content": content}

    def tool_fragment(self, call_id: str, tool_name: str, fragment: str) -> dict[str, Any]:
        parts = self.calls.setdefault(call_id, _ToolCallParts(call_id, tool_name))
        parts.fragments.append(fragment)
        return {
            "type": "tool_call_delta",
            "call_id": call_id,
            "tool_name": tool_name,
            "arguments_fragment": fragment,
        }

    def response(self) -> dict[str, Any]:
        """The §5.3 response; `usage`/`finish_reason` are omitted when unknown, as in Loom."""
        body: dict[str, Any] = {
            "message": {"role": "assistant", "content": "".join(self.text_parts)},
            "tool_calls": [parts.as_wire() for parts in self.calls.values()],
        }
        if self.input_tokens is not None or self.output_tokens is not None:
            body["usage"] = {
                "input_tokens": self.input_tokens or 0,
                "output_tokens": self.output_tokens or 0,
            }
        if self.finish_reason is not None:
            body["finish_reason"] = self.finish_reason
        return body

    def completed(self) -> dict[str, Any]:
        return {"type": "completed", "response": self.response()}


@dataclass(frozen=True)
class Upstream:
    """Where a provider lives; `secret` is only ever put in request headers."""

    base_url: str
    secret: str = field(repr=False)

    def scrub(self, text: str) -> str:
        """Upstream error texts sometimes quote the key back (OpenAI does): never pass it on."""
        return text.replace(self.secret, "***") if self.secret else text


def retry_after_seconds(value: str | None) -> int | None:
    """Retry-After is delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, round(when.timestamp() - time.time()))


def rate_limited(retry_after: int | None) -> RateLimited:
    hint = f"retry after {retry_after} seconds" if retry_after is not None else "try again later"
    return RateLimited(f"LLM rate limited; {hint}")


def _error_detail(raw: bytes) -> str:
    """Pull the human message out of Anthropic/OpenAI error bodies, else the raw text."""
    text = raw.decode("utf-8", "replace")
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return text[:_ERROR_TEXT_LIMIT]
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)[:_ERROR_TEXT_LIMIT]
    return str(error or text)[:_ERROR_TEXT_LIMIT]


async def open_stream(
    client: httpx.AsyncClient,
    upstream: Upstream,
    path: str,
    headers: dict[str, str],
    payload: dict[str, Any],
) -> httpx.Response:
    """POST and return the streaming response, or raise the §5.4 error for its failure."""
    request = client.build_request(
        "POST", upstream.base_url.rstrip("/") + path, headers=headers, json=payload
    )
    try:
        response = await client.send(request, stream=True)
    except httpx.TimeoutException:
        raise UpstreamTimeout("LLM request timed out") from None
    except httpx.HTTPError as exc:
        raise UpstreamFailed(f"HTTP error: {type(exc).__name__}") from None
    if response.status_code < 400:
        return response
    try:
        raw = await response.aread()
    except httpx.HTTPError:
        raw = b""
    await response.aclose()
    if response.status_code == 429:
        raise rate_limited(retry_after_seconds(response.headers.get("retry-after")))
    detail = upstream.scrub(_error_detail(raw))
    raise UpstreamFailed(f"API error: HTTP {response.status_code}: {detail}")


async def sse_events(
    response: httpx.Response, upstream: Upstream
) -> AsyncIterator[ServerSentEvent]:
    """Upstream SSE events; transport failures mid-stream become `UpstreamFailed`."""
    try:
        async for event in EventSource(response).aiter_sse():
            yield event
    except httpx.TimeoutException:
        raise UpstreamTimeout("Request timed out") from None
    except httpx.HTTPError as exc:
        message = upstream.scrub(f"HTTP error: upstream stream broke ({type(exc).__name__})")
        raise UpstreamFailed(message) from None


def truncated() -> UpstreamFailed:
    return UpstreamFailed("Invalid response: upstream stream ended before completion"
    )


def decode_json(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise UpstreamFailed("Invalid response: upstream sent malformed JSON"
        ) from None
    if not isinstance(value, dict):
        raise UpstreamFailed("Invalid response: upstream event is not an object")
    return value
