"""Weaver log streaming: SSE chunks -> complete lines, resuming after drops without loss or repeats.

Loom's log SSE carries raw, non-line-aligned chunks of the Kubernetes follow stream (loom-api.md
§4.6, §10.8). We always ask for `timestamps=true`, remember the timestamp of the last line we
delivered and how many delivered lines carried it, and on reconnect request a tail and skip
everything up to and including those lines.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .._base import Call, CloseStream, Emit, Flow, ReadStream, Sleep
from .._errors import APIConnectionError, StreamError
from .._retry import RetryPolicy, backoff, request
from .._sse import SSEDecoder
from ..models.weavers import LogLine

log = logging.getLogger("loom_jupyter.client")

READ_TIMEOUT = 60.0  # Loom sends keep-alives every 15 s, so a minute of silence means a dead link
RESUME_TAIL = 2000
MAX_IDLE_RECONNECTS = 5
_TS = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2}) ?")


def split_timestamp(line: str) -> tuple[tuple[datetime, int] | None, datetime | None, str]:
    """(sort key with nanoseconds, datetime, text) for an RFC3339Nano-prefixed line."""
    match = _TS.match(line)
    if not match:
        return None, None, line
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    base = datetime.fromisoformat(match.group(1) + zone)
    nanos = int((match.group(2) or "").ljust(9, "0"))
    key = (base.astimezone(timezone.utc), nanos)
    return key, base.replace(microsecond=nanos // 1000), line[match.end():]


class LineBuffer:
    """Joins chunk texts and hands out complete lines (LF-terminated; a trailing CR is dropped)."""

    def __init__(self) -> None:
        self._rest = ""

    def feed(self, text: str) -> list[str]:
        parts = (self._rest + text).split("\n")
        self._rest = parts.pop()
        return [p.removesuffix("\r") for p in parts]

    def flush(self) -> list[str]:
        rest, self._rest = self._rest, ""
        return [rest.rstrip("\r")] if rest.rstrip("\r") else []


@dataclass
class Cursor:
    """What was delivered: the last timestamp key and how many delivered lines carried it."""

    key: tuple[datetime, int] | None = None
    same: int = 0
    delivered: int = 0
    skipping: bool = False
    _seen: int = 0

    def start_resume(self) -> None:
        self.skipping, self._seen = self.key is not None, 0

    def admit(self, key: tuple[datetime, int] | None) -> bool:
        """Should this line be delivered? (Skips the replayed part after a reconnect.)"""
        if self.skipping and key is not None and self.key is not None:
            if key < self.key:
                return False
            if key == self.key and self._seen < self.same:
                self._seen += 1
                return False
            if key > self.key and self._seen < self.same:
                log.warning("log stream resumed after a gap larger than the resume window")
            self.skipping = False
        self.delivered += 1
        if key is not None:
            self.same = self.same + 1 if key == self.key else 1
            self.key = key
        return True


def _line(raw: str, cursor: Cursor, keep_timestamps: bool) -> LogLine | None:
    key, stamp, text = split_timestamp(raw)
    if not cursor.admit(key):
        return None
    return LogLine(text=raw if keep_timestamps else text, timestamp=stamp)


def _pump(handle: Any, lines: LineBuffer, cursor: Cursor, keep: bool) -> Flow[bool]:
    """Emit lines from one connection; True if it ended cleanly, False if it dropped."""
    decoder = SSEDecoder()
    while True:
        try:
            chunk = yield ReadStream(handle)
        except APIConnectionError:
            return False
        if chunk is None:
            return True
        for event in decoder.feed(chunk):
            if event.event == "error":
                log.warning("log stream reported an error: %s", event.data[:200])
                return False
            if event.data == "keep-alive":  # the web UI's convention; axum sends a comment
                continue
            for raw in lines.feed(event.data):
                item = _line(raw, cursor, keep)
                if item is not None:
                    yield Emit(item)


def _call(weaver_id: str, tail: int | None, follow: bool) -> Call[Any]:
    params = [("timestamps", "true"), ("follow", "true" if follow else "false")]
    if tail is not None:
        params.insert(0, ("tail", str(tail)))
    return Call("GET", f"/api/weaver/{weaver_id}/logs", params=params, expect="sse",
                headers={"Accept": "text/event-stream"}, read_timeout=READ_TIMEOUT, idempotent=True)


def _still_running(weaver_id: str, policy: RetryPolicy) -> Flow[bool]:
    from .weavers import get_flow  # weavers imports this module

    weaver = yield from get_flow(weaver_id, policy)
    return weaver.status in ("running", "pending")


def logs_flow(
    weaver_id: str, tail: int | None, timestamps: bool, follow: bool, policy: RetryPolicy
) -> Flow[None]:
    cursor, lines, delays = Cursor(), LineBuffer(), backoff(policy)
    idle, request_tail = 0, tail
    while True:
        handle = yield from request(_call(weaver_id, request_tail, follow), policy, stream=True)
        before = cursor.delivered
        clean = yield from _pump(handle, lines, cursor, timestamps)
        yield CloseStream(handle)
        if not follow or (clean and not (yield from _still_running(weaver_id, policy))):
            break
        idle = 0 if cursor.delivered > before else idle + 1
        if idle > MAX_IDLE_RECONNECTS:
            raise StreamError(f"The log stream of weaver {weaver_id} keeps dropping without new output.")
        # Without timestamps we cannot find our place; tail=0 avoids repeats (may miss a gap).
        if cursor.key is not None:
            request_tail = RESUME_TAIL
        elif cursor.delivered:
            request_tail = 0
        lines = LineBuffer()
        cursor.start_resume()
        yield Sleep(next(delays) if idle else 0.05)
    for raw in lines.flush():
        item = _line(raw, cursor, timestamps)
        if item is not None:
            yield Emit(item)
