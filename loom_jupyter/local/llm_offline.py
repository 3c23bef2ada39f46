"""The offline responder: a deterministic stand-in model for when no provider key is configured.

Its reply starts with `[offline]`, says how to configure a real provider, and quotes the
last user message with its word count, so tests and tutorials can check what arrived.
It streams word-sized `text_delta` events so clients exercise real streaming.

Tool calls: when the request offers tools and the last user message says
`call tool NAME` (optionally followed by `with {json object}`), and NAME is one of the
offered tools, the reply also carries one tool call to NAME with those arguments (or `{}`)
as a few `tool_call_delta` events, and `finish_reason` is `tool_use`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from loom_jupyter.local.llm_providers import Reply
from loom_jupyter.local.llm_request import LlmRequest

PREFIX = "[offline]"
QUOTE_LIMIT = 80
_CALL = re.compile(
    r"call tool\s+([A-Za-z0-9_.\-]+)(?:\s+with\s+(\{.*\}))?", re.IGNORECASE | re.DOTALL
)
_RESTART = "in the environment and restart `loom-jupyter local`."
_HOW_TO = {
    "anthropic": f"To get real answers, set ANTHROPIC_API_KEY (optionally ANTHROPIC_BASE_URL) {_RESTART}",
    "openai": "To get real answers, set OPENAI_API_KEY (and OPENAI_BASE_URL for any OpenAI-compatible "
    f"server) {_RESTART}",
    "vertex": "The local server does not forward to Vertex; for real answers use /proxy/anthropic or "
    f"/proxy/openai and set ANTHROPIC_API_KEY or OPENAI_API_KEY {_RESTART}",
}


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_LIMIT else flat[: QUOTE_LIMIT - 1].rstrip() + "…"


def reply_text(provider: str, request: LlmRequest) -> str:
    """The full reply; deterministic for a given provider and request."""
    how = _HOW_TO.get(provider, _HOW_TO["vertex"])
    intro = (
        f"{PREFIX} This is the offline responder of the local Loom server, not a language model: "
        f"no {provider} provider key is configured. {how}"
    )
    user = request.last_user_text()
    if user is None:
        return f"{intro} Your request had no user message."
    count = len(user.split())
    words = "word" if count == 1 else "words"
    return f'{intro} You said ({count} {words}): "{_quote(user)}"'


def requested_tool_call(request: LlmRequest) -> tuple[str, str] | None:
    """(tool name, arguments JSON) when the user explicitly asked for an offered tool."""
    user = request.last_user_text() or ""
    match = _CALL.search(user)
    offered = {tool.name for tool in request.tools}
    if match is None or match.group(1) not in offered:
        return None
    try:
        arguments = json.loads(match.group(2)) if match.group(2) else {}
    except ValueError:
        arguments = {}
    return match.group(1), json.dumps(arguments if isinstance(arguments, dict) else {})


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _input_tokens(request: LlmRequest) -> int:
    """Words, not tokens: a stable, explainable number for a responder without a tokenizer."""
    texts = [request.system or ""] + [message.content for message in request.messages]
    return sum(len(text.split()) for text in texts)


async def respond(
    provider: str, request: LlmRequest, delay: float = 0.0
) -> AsyncIterator[dict[str, Any]]:
    """Loom stream events for the offline reply, `delay` seconds apart."""
    reply = Reply(input_tokens=_input_tokens(request), finish_reason="end_turn")
    pieces = re.findall(r"\S+\s*", reply_text(provider, request))
    for piece in pieces:
        yield reply.text(piece)
        await asyncio.sleep(delay)
    call = requested_tool_call(request)
    if call is not None:
        name, arguments = call
        for fragment in _chunks(arguments, 8):
            yield reply.tool_fragment("call_offline_1", name, fragment)
            await asyncio.sleep(delay)
        reply.finish_reason = "tool_use"
    reply.output_tokens = len(pieces)
    yield reply.completed()
