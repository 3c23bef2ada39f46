"""Following a weaver: what a follower sees besides its output, and when it reconnects.

One design for every follower: the log iterator (`weavers.follow`, and `weavers.logs` which
keeps only the lines), the magics and widgets that render it, and the terminal relay.

- After a drop the follower asks Loom about the weaver (`reconnect_flow`). While it is pending,
  running (or terminating, or in a state this SDK does not know) the follower reconnects after
  a capped, jittered backoff (`Reconnects`) and says so with `Reconnecting(n)`; it never gives
  up on a live weaver. While Loom itself cannot be reached the weaver may well be running, so
  that too is a reason to keep trying.
- It stops with `FollowEnded` only when the weaver has ended (succeeded, failed) or is gone
  (404), or when the caller stops iterating. Authentication and permission errors are raised.
- A log follow also reports `Resumed` (what a reconnect cost) and `LogGap` (lines that fell
  out of Loom's log window while it was disconnected); see `resources/logs.py`.

`render(item, timestamps)` is the one way to show a line or an event as text, so every view
shows timestamps alike: UTC, RFC 3339 with microseconds and a `Z`.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ._base import Flow
from ._errors import (
    APIStatusError,
    AuthenticationError,
    LoomError,
    NotFoundError,
    PermissionDeniedError,
)
from ._retry import RetryPolicy, backoff, jittered
from .models.weavers import FINAL_STATUSES, SUCCEEDED, LogLine, Weaver

# Waits between reconnects without new output: 0 (the first), then 0.25 s doubling to 5 s, each
# shortened by up to half at random. `max_attempts` is not used: a live weaver is never given up.
RECONNECT = RetryPolicy(base=0.25, cap=5.0)
JITTER = 0.5
GONE = "gone"


@dataclass(frozen=True)
class Reconnecting:
    """The stream dropped; attempt `attempt` (counted since the last new output) starts after
    `delay` seconds."""

    attempt: int
    delay: float
    reason: str = ""

    def __str__(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return f"reconnecting ({self.attempt}){why}"


@dataclass(frozen=True)
class Resumed:
    """A log reconnect caught up: it asked for the last `tail` lines (after `widened` wider
    tries); `replayed_bytes` of them had been delivered already (or were read by a try that
    fell short), `missed_bytes` were printed while disconnected."""

    tail: int
    replayed_bytes: int
    missed_bytes: int
    widened: int = 0


@dataclass(frozen=True)
class LogGap:
    """Lines printed between `since` (the last line delivered) and `until` (the oldest line Loom
    still had) fell out of Loom's log window while the follow was disconnected."""

    since: datetime
    until: datetime

    @property
    def seconds(self) -> float:
        return max(0.0, (self.until - self.since).total_seconds())

    def __str__(self) -> str:
        return (f"[gap: {self.seconds:.1f} s of log missed, from {format_stamp(self.since)} to "
                f"{format_stamp(self.until)}: Loom no longer held those lines when the follow "
                "reconnected]")


@dataclass(frozen=True)
class FollowEnded:
    """The follow is over: the weaver ended with `status`, or is `gone` (deleted)."""

    weaver_id: str
    status: str

    @property
    def gone(self) -> bool:
        return self.status == GONE

    @property
    def succeeded(self) -> bool:
        """It finished by itself, successfully: nothing for a view to explain."""
        return self.status == SUCCEEDED

    def __str__(self) -> str:
        if self.gone:
            return f"weaver {self.weaver_id} is gone"
        return f"weaver {self.weaver_id} {self.status}"


StatusCheck = Callable[[], Flow[Weaver]]


class Reconnects:
    """Attempts since the last new output, and the wait before the next one."""

    def __init__(self, policy: RetryPolicy = RECONNECT,
                 rng: Callable[[], float] = random.random) -> None:
        self._policy, self._rng = policy, rng
        self._delays: Iterator[float] = iter(())
        self.attempt = 0  # since the last progress
        self.total = 0

    def progressed(self) -> None:
        """New output arrived: the next drop is a blip again, retried at once."""
        self.attempt = 0

    def retry(self, reason: str) -> Reconnecting:
        self.attempt += 1
        self.total += 1
        if self.attempt == 1:
            self._delays = jittered(backoff(self._policy), JITTER, self._rng)
            return Reconnecting(1, 0.0, reason)
        return Reconnecting(self.attempt, next(self._delays), reason)


def reconnect_flow(weaver_id: str, status: StatusCheck,
                   reconnects: Reconnects) -> Flow[Reconnecting | FollowEnded]:
    """After a drop: reconnect (after the wait it names) or stop, from what Loom says."""
    try:
        weaver = yield from status()
    except NotFoundError:
        return FollowEnded(weaver_id, GONE)
    except (AuthenticationError, PermissionDeniedError):
        raise
    except LoomError as exc:  # Loom down or failing: the weaver may well still be running
        return reconnects.retry(_unanswered(exc))
    if weaver.status in FINAL_STATUSES:
        return FollowEnded(weaver_id, weaver.status)
    return reconnects.retry(f"weaver {weaver.status}")


def _unanswered(exc: LoomError) -> str:
    if isinstance(exc, APIStatusError):
        return f"Loom answered HTTP {exc.status_code}"
    return "Loom unreachable"


def format_stamp(stamp: datetime) -> str:
    """`2025-01-15T12:34:56.123456Z`: the one way a log timestamp is shown."""
    utc = stamp.astimezone(timezone.utc) if stamp.tzinfo else stamp
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render(item: Any, timestamps: bool = False) -> str:
    """A log line (with its timestamp first when asked and known) or an event, as one line."""
    if isinstance(item, LogLine):
        if timestamps and item.timestamp is not None:
            return f"{format_stamp(item.timestamp)} {item.text}"
        return item.text
    if isinstance(item, Reconnecting):
        return f"[{item}]"
    return str(item)
