"""`client.llm`: the LLM proxy, streamed as typed events or completed in one call."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

import pydantic

from .. import _validation as check
from .._base import Call, CloseStream, Emit, Flow, ReadStream
from .._errors import APIConnectionError, LoomValidationError, StreamError
from .._retry import RetryPolicy, request
from .._sse import SSEDecoder
from ..models.llm import (
    EVENT_TYPES,
    Completed,
    Completion,
    ErrorEvent,
    LlmEvent,
    LlmRequest,
    TextDelta,
    UnknownEvent,
)
from ._resource import Resource, Result

# No keep-alive on /stream (loom-api.md §5.5): long silences are normal while a model thinks.
STREAM_READ_TIMEOUT = 300.0


def build_body(
    model: str, messages: Any, system: str | None, max_tokens: int | None,
    temperature: float | None, tools: Iterable[Any] | None,
) -> dict[str, Any]:
    """The LlmRequest JSON; `tools` is always sent because the server requires it (§5.2)."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Iterable):
        raise LoomValidationError("messages", "expected a list of {'role', 'content'} messages.")
    items = [m if isinstance(m, dict) else m.model_dump(exclude_none=True) for m in messages]
    if system is not None:
        items.insert(0, {"role": "system", "content": system})
    tool_items = [t if isinstance(t, dict) else t.model_dump() for t in tools or []]
    try:
        req = LlmRequest.model_validate({
            "model": check.non_empty("model", model, ident=False), "messages": items,
            "tools": tool_items, "max_tokens": max_tokens, "temperature": temperature})
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "request"
        raise LoomValidationError(field, err["msg"]) from None
    return req.model_dump(exclude_none=True)


def parse_event(data: str) -> LlmEvent:
    """One `data:` payload -> a typed event; anything unknown or malformed is UnknownEvent."""
    try:
        payload = json.loads(data)
    except ValueError:
        return UnknownEvent(type="raw", data=data)
    if not isinstance(payload, dict):
        return UnknownEvent(type="raw", data=payload)
    kind = str(payload.get("type", ""))
    model = EVENT_TYPES.get(kind)
    if model is None:
        return UnknownEvent(type=kind or "unknown", data=payload)
    try:
        return model.model_validate(payload)  # type: ignore[return-value]
    except pydantic.ValidationError:
        return UnknownEvent(type=kind, data=payload)


def stream_flow(provider: str, body: dict[str, Any], policy: RetryPolicy) -> Flow[None]:
    call: Call[Any] = Call("POST", f"/proxy/{provider}/stream", json=body, expect="sse",
                headers={"Accept": "text/event-stream"}, read_timeout=STREAM_READ_TIMEOUT)
    handle = yield from request(call, policy, stream=True)
    decoder, text = SSEDecoder(), cast(list[str], [])
    while True:
        try:
            chunk = yield ReadStream(handle)
        except APIConnectionError as exc:
            raise StreamError(f"The LLM stream was cut off: {exc}", partial_text="".join(text)) from exc
        if chunk is None:
            raise StreamError("The LLM stream ended before the answer was complete.",
                              partial_text="".join(text))
        for sse in decoder.feed(chunk):
            # Named `llm` by provider routes, unnamed (`message`) by /proxy/llm (§10.7).
            if sse.event not in ("llm", "message", "error") or sse.data == "keep-alive":
                continue
            event = ErrorEvent(message=sse.data) if sse.event == "error" else parse_event(sse.data)
            yield Emit(event)
            if isinstance(event, TextDelta):
                text.append(event.content)
            if isinstance(event, (Completed, ErrorEvent)):
                yield CloseStream(handle)
                return


def complete_flow(provider: str, body: dict[str, Any], policy: RetryPolicy) -> Flow[Completion]:
    call = Call("POST", f"/proxy/{provider}/complete", json=body, parse=Completion.model_validate,
                read_timeout=STREAM_READ_TIMEOUT)
    return (yield from request(call, policy))


class Llm(Resource):
    """`client.llm`."""

    def stream(
        self, provider: str, model: str, messages: Any, *, system: str | None = None,
        max_tokens: int | None = None, temperature: float | None = None, tools: Any = None,
    ) -> Any:
        """Typed events as they arrive; ends after Completed or ErrorEvent, else StreamError."""
        body = build_body(model, messages, system, max_tokens, temperature, tools)
        flow = stream_flow(check.non_empty("provider", provider), body, self._policy)
        return self._client._iterate(flow)

    def complete(
        self, provider: str, model: str, messages: Any, *, system: str | None = None,
        max_tokens: int | None = None, temperature: float | None = None, tools: Any = None,
    ) -> Result[Completion]:
        """The whole answer at once (RateLimitError carries retry_after when Loom gives one)."""
        body = build_body(model, messages, system, max_tokens, temperature, tools)
        flow = complete_flow(check.non_empty("provider", provider), body, self._policy)
        return self._client._run(flow)  # type: ignore[no-any-return]
