"""Save a %%loom chat conversation as a Loom thread, surviving one concurrent edit.

Threads use optimistic concurrency (loom-api.md §3.2): we read the thread, append the new
messages, and PUT with If-Match. If someone saved in between (409), we read it again,
append to *their* version and try once more, so neither side's messages are lost.
"""
from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from collections.abc import Callable

from ._errors import MagicError

TITLE_LENGTH = 60


def new_thread_id() -> str:
    """`T-` + a UUIDv7 (time-ordered, like Loom's own ids)."""
    millis = int(time.time() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return f"T-{uuid.UUID(int=value)}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def title_from(messages: list[dict[str, Any]]) -> str:
    first = next((m.get("content", "") for m in messages if m.get("role") == "user"), "") or "Notebook chat"
    flat = " ".join(str(first).split())
    return flat if len(flat) <= TITLE_LENGTH else flat[: TITLE_LENGTH - 1] + "…"


def fresh_thread(thread_id: str, messages: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
    from loom_jupyter.client import Thread

    now = _now()
    return Thread.model_validate({
        "id": thread_id, "version": 0, "created_at": now, "updated_at": now, "last_activity_at": now,
        "conversation": {"messages": messages}, **extra,
        "metadata": {"title": title_from(messages), "tags": ["jupyter"], "is_pinned": False, "extra": {}},
    })


def appended(thread: Any, messages: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
    """`thread` with `messages` added at the end; every other field is kept as received."""
    conversation = {**(thread.conversation or {}), "messages": thread.messages + messages}
    return thread.model_copy(update={"conversation": conversation, "last_activity_at": _now(), **extra})


def save_messages(
    client: Any, thread_id: str, messages: list[dict[str, Any]], *,
    extra: dict[str, Any] | None = None, before_put: Callable[[Any], Any] | None = None,
) -> Any:
    """Append `messages` to thread `thread_id` (creating it); returns the stored Thread."""
    from loom_jupyter.client import ConflictError, NotFoundError

    extra = extra or {}
    for attempt in (1, 2):
        try:
            current = client.threads.get(thread_id)
        except NotFoundError:
            current = None
        thread = fresh_thread(thread_id, messages, extra) if current is None else appended(current, messages, extra)
        if before_put is not None:
            before_put(thread)
        try:
            return client.threads.put(thread, expected_version=thread.version)
        except ConflictError:
            if attempt == 2:
                raise MagicError(f"Thread {thread_id} changed twice while saving; the conversation is kept "
                                 "here and will be saved with your next message.") from None
    raise AssertionError("unreachable")  # pragma: no cover
