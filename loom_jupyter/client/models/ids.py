"""Loom's identifiers: time-ordered UUIDv7s (weaver ids as they are, thread ids as `T-<uuid7>`)."""
from __future__ import annotations

import secrets
import time
import uuid

__all__ = ["new_thread_id", "uuid7"]


def uuid7() -> str:
    """A time-ordered UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def new_thread_id() -> str:
    """A thread id as Loom's clients make them: `T-` and a UUIDv7 (loom-api.md §3.1)."""
    return f"T-{uuid7()}"
