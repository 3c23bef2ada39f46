"""Typed essentials of kind "openloomi": `loom.models` and `loom.chat` (seed 003)."""
from __future__ import annotations

from typing import Any

from .. import _validation as check
from .._base import Call, Flow
from .._errors import StreamError
from .._retry import request
from .._sse import ServerSentEvent
from ..resources._resource import Resource, Result
from ._common import Record, chat_messages, collect, json_data, records, stream_call, text_stream_flow

CHAT_PATH = "/api/ai/chat"
COMPLETIONS_PATH = "/api/ai/v1/chat/completions"


class AiModel(Record):
    id: str
    object: str | None = None
    owned_by: str | None = None


def chunk_text(sse: ServerSentEvent) -> str | bool | None:
    """OpenAI-style chunks: `data: {"choices": [{"delta": {"content": ...}}]}` ... `data: [DONE]`."""
    if sse.data.strip() == "[DONE]":
        return True
    data = json_data(sse)
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if error:
        words = error.get("message") if isinstance(error, dict) else error
        raise StreamError(f"The openloomi chat stream reported an error: {words}.")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    delta = choices[0].get("delta") or choices[0].get("message") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else None


def chat_flow(messages: Any, model: str | None, policy: Any) -> Flow[None]:
    body: dict[str, Any] = {"messages": chat_messages(messages), "stream": True}
    if model is not None:
        body["model"] = check.non_empty("model", model, ident=False)
    path = CHAT_PATH if model is None else COMPLETIONS_PATH
    return (yield from text_stream_flow(stream_call(path, body), policy, "openloomi chat stream",
                                        chunk_text))


class Models(Resource):
    """`loom.models`: the models openloomi's AI gateway serves."""

    def list(self) -> Result[list[AiModel]]:
        call = Call("GET", "/api/ai/v1/models", parse=records(AiModel), idempotent=True)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]


class Chat(Resource):
    """`loom.chat`: stream an answer (text chunks) or get it whole."""

    def stream(self, messages: Any, model: str | None = None) -> Any:
        """Text chunks as they arrive (`POST /api/ai/chat`, or the OpenAI-style route with model=)."""
        return self._client._iterate(chat_flow(messages, model, self._policy))

    def create(self, messages: Any, model: str | None = None) -> Result[str]:
        """The whole answer as one str."""
        return self._client._run(collect(chat_flow(messages, model, self._policy), "".join))  # type: ignore[no-any-return]
