"""Save a chat conversation as a Loom thread, guarding against edits made elsewhere."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from collections.abc import Sequence

from loom_jupyter.client import Loom, Thread

__all__ = ["new_thread_id", "save_conversation"]


def new_thread_id() -> str:
    """``T-`` + a UUIDv7 (loom-api.md §3.1): time-ordered, so new threads sort last."""
    millis = time.time_ns() // 1_000_000
    raw = bytearray(millis.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70  # version 7
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return f"T-{uuid.UUID(bytes=bytes(raw))}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def save_conversation(
    client: Loom,
    thread_id: str | None,
    version: int | None,
    turns: Sequence[Any],
    provider: str,
    model: str,
) -> Thread:
    """Create the thread, or update it only if it is still at the ``version`` we last saved.

    An update re-reads the stored thread first so fields other tools set survive, then
    sends ``If-Match: <version>``: if someone else saved in between, Loom answers 409 and
    ``ConflictError`` reaches the caller instead of their edits being overwritten.
    """
    messages = [turn.message() for turn in turns if turn.content]
    changes: dict[str, Any] = {"conversation": {"messages": messages}, "updated_at": _now(),
               "last_activity_at": _now(), "provider": provider, "model": model}
    if thread_id is None or version is None:
        title = next((m["content"] for m in messages if m["role"] == "user"), "Jupyter chat")
        thread = Thread(id=new_thread_id(), version=0, created_at=_now(),
                        metadata={"title": title[:80], "tags": ["jupyter"]}, **changes)
        return client.threads.put(thread, expected_version=None)
    stored = client.threads.get(thread_id)
    return client.threads.put(stored.model_copy(update=changes), expected_version=version)
