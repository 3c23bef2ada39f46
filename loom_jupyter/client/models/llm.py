"""LLM proxy models: request messages and tools, the completion, and typed stream events."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .._repr import fields_table
from .common import RequestModel, ResponseModel


class Message(RequestModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_call_id: str | None = None
    name: str | None = None


class Tool(RequestModel):
    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class LlmRequest(RequestModel):
    """Body of `/proxy/{provider}/{complete,stream}`; `tools` is required on the wire (§5.2)."""

    model: str
    messages: list[Message]
    tools: list[Tool] = Field(default_factory=list)
    max_tokens: int | None = None
    temperature: float | None = None


class ResponseMessage(ResponseModel):
    role: str = "assistant"
    content: str = ""


class ToolCall(ResponseModel):
    id: str | None = None
    tool_name: str
    arguments_json: Any = None


class Usage(ResponseModel):
    input_tokens: int | None = None
    output_tokens: int | None = None


class Completion(ResponseModel):
    """`/complete` response, also carried by the stream's `completed` event (§5.3)."""

    message: ResponseMessage = Field(default_factory=ResponseMessage)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None

    @property
    def text(self) -> str:
        return self.message.content

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        pairs = [("text", self.text), ("tool_calls", len(self.tool_calls)),
                 ("usage", self.usage.model_dump() if self.usage else None),
                 ("finish_reason", self.finish_reason)]
        return fields_table(pairs, "Completion")


class TextDelta(ResponseModel):
    type: Literal["text_delta"] = "text_delta"
    content: str = ""


class ToolCallDelta(ResponseModel):
    type: Literal["tool_call_delta"] = "tool_call_delta"
    call_id: str | None = None
    tool_name: str | None = None
    arguments_fragment: str = ""


class Completed(ResponseModel):
    type: Literal["completed"] = "completed"
    response: Completion = Field(default_factory=Completion)


class ErrorEvent(ResponseModel):
    """A mid-stream error; terminal. Rate-limit text (`retry after Some(N) seconds`) is kept as is."""

    type: Literal["error"] = "error"
    message: str = ""


class UnknownEvent(ResponseModel):
    """An event type this SDK does not know (e.g. `server_query`); passed through, not fatal."""

    type: str
    data: Any = None


LlmEvent = TextDelta | ToolCallDelta | Completed | ErrorEvent | UnknownEvent

EVENT_TYPES: dict[str, type[ResponseModel]] = {
    "text_delta": TextDelta,
    "tool_call_delta": ToolCallDelta,
    "completed": Completed,
    "error": ErrorEvent,
}
