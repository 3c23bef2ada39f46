"""The LlmRequest body of `/proxy/{provider}/*` (loom-api.md §5.2), validated into frozen data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from loom_jupyter.local.errors import InvalidRequest

ROLES = ("system", "user", "assistant", "tool")
_MAX_TOKENS_LIMIT = 2**32 - 1  # Loom's max_tokens is a u32


@dataclass(frozen=True)
class ToolCall:
    """A tool call the assistant made earlier in the conversation."""

    id: str
    tool_name: str
    arguments_json: Any


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str
    tool_call_id: str | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class LlmRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    system: str | None = None

    def last_user_text(self) -> str | None:
        """The newest user message, which the offline responder echoes."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return None


def _bad(field: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid LLM request: '{field}' must be {expected}")


def _string(obj: dict[str, Any], key: str, where: str, *, required: bool) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _bad(f"{where}{key}", "a string")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(where, "an object")
    return value


def _list(body: dict[str, Any], key: str, *, required: bool) -> list[Any]:
    value = body.get(key)
    if value is None and not required:
        return []  # locally `tools` may be left out; real Loom demands `[]` (§5.2)
    if not isinstance(value, list):
        raise _bad(key, "a list")
    return value


def _tool_call(value: Any, where: str) -> ToolCall:
    obj = _object(value, where)
    call_id = _string(obj, "id", f"{where}.", required=True)
    tool_name = _string(obj, "tool_name", f"{where}.", required=True)
    return ToolCall(
        id=call_id or "", tool_name=tool_name or "", arguments_json=obj.get("arguments_json", {})
    )


def _message(value: Any, index: int) -> ChatMessage:
    where = f"messages[{index}]"
    obj = _object(value, where)
    role = obj.get("role")
    if role not in ROLES:
        raise _bad(f"{where}.role", "one of " + ", ".join(ROLES))
    calls = obj.get("tool_calls") or []
    if not isinstance(calls, list):
        raise _bad(f"{where}.tool_calls", "a list")
    return ChatMessage(
        role=role,
        content=_string(obj, "content", f"{where}.", required=True) or "",
        tool_call_id=_string(obj, "tool_call_id", f"{where}.", required=False),
        name=_string(obj, "name", f"{where}.", required=False),
        tool_calls=tuple(_tool_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(calls)),
    )


def _tool(value: Any, index: int) -> ToolSpec:
    where = f"tools[{index}]"
    obj = _object(value, where)
    name = _string(obj, "name", f"{where}.", required=True) or ""
    if not name:
        raise _bad(f"{where}.name", "a non-empty string")
    schema = obj.get("input_schema", {"type": "object"})
    return ToolSpec(
        name=name,
        description=_string(obj, "description", f"{where}.", required=False) or "",
        input_schema=_object(schema, f"{where}.input_schema"),
    )


def _max_tokens(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_TOKENS_LIMIT:
        raise _bad("max_tokens", "a positive integer")
    return value


def _temperature(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad("temperature", "a number")
    if not math.isfinite(value) or value < 0:
        raise _bad("temperature", "a finite number >= 0")
    return float(value)


def parse_llm_request(body: dict[str, Any]) -> LlmRequest:
    """Validate a decoded JSON body; every defect is a 400 `bad_request` naming the field."""
    model = _string(body, "model", "", required=True) or ""
    if not model.strip():
        raise _bad("model", "a non-empty string")
    messages = _list(body, "messages", required=True)
    return LlmRequest(
        model=model,
        messages=tuple(_message(m, i) for i, m in enumerate(messages)),
        tools=tuple(_tool(t, i) for i, t in enumerate(_list(body, "tools", required=False))),
        max_tokens=_max_tokens(body.get("max_tokens")),
        temperature=_temperature(body.get("temperature")),
        system=_string(body, "system", "", required=False),
    )
