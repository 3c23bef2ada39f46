"""Where a follow is in a weaver's log: lines out of chunks, their timestamps, and the cursor.

Loom's log chunks are not line-aligned, and with `timestamps=true` every line starts with an
RFC3339Nano timestamp (loom-api.md §4.6). The cursor is the last delivered line's timestamp and
how many delivered lines carried it: after a reconnect it tells a replayed line that was
delivered already ("old") from a new one, and sees when a replay began past it ("short").
A snapshot also knows where it ends (`SnapshotEnd`), as Loom's log route may follow anyway.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

Key = tuple[datetime, int]  # a line's timestamp: (UTC time to the second, nanoseconds)

_TS = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2}) ?")


def split_timestamp(line: str) -> tuple[Key | None, datetime | None, str]:
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

    @property
    def pending(self) -> bool:
        return bool(self._rest)

    def flush(self) -> list[str]:
        rest, self._rest = self._rest, ""
        return [rest.rstrip("\r")] if rest.rstrip("\r") else []


@dataclass
class Cursor:
    """What was delivered: the last timestamp key and how many delivered lines carried it.

    After `start_resume`, `place(key)` says where a replayed line stands: "old" (delivered
    before), "new", "short" (new, but the replay began past the cursor: lines are missing), or
    "unsure" (the replay began on the cursor's own timestamp, with no older line before it: it
    may have begun inside that timestamp's group, so counting `same` lines as old could skip
    new ones that share the timestamp; ask for more, or `trust_start()` and place it again)."""

    key: Key | None = None
    same: int = 0
    delivered: int = 0
    skipping: bool = False
    _seen: int = 0
    _older: bool = False
    _trusted: bool = False

    def start_resume(self) -> None:
        self.skipping, self._seen, self._older = self.key is not None, 0, False
        self._trusted = False

    def trust_start(self) -> None:
        """Accept a replay that begins on the cursor's timestamp (no wider one can be had)."""
        self._trusted = True

    def place(self, key: Key | None) -> str:
        if not self.skipping or key is None or self.key is None:
            return "new"
        if key < self.key:
            self._older = True
            return "old"
        if key == self.key and self._seen < self.same:
            if self._seen == 0 and not self._older and not self._trusted:
                return "unsure"
            self._seen += 1
            return "old"
        self.skipping = False
        return "short" if self._seen < self.same and not self._older else "new"

    def take(self, key: Key | None) -> None:
        self.delivered += 1
        if key is not None:
            self.same = self.same + 1 if key == self.key else 1
            self.key = key

    def admit(self, key: Key | None) -> bool:
        """Should this line be delivered? (Skips the replayed part after a reconnect.)"""
        if self.place(key) == "old":
            return False
        self.take(key)
        return True


# The Date header counts whole seconds: a request it dates was answered before the next one.
DATE_ALLOWANCE = timedelta(seconds=1)


def answered_at(date: str | None, now: datetime) -> Key:
    """The latest moment a request can have been answered, as a line key: the response's Date
    (the server's clock, as the lines' stamps are) or else `now`, plus DATE_ALLOWANCE."""
    moment = now
    if date:
        try:
            moment = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            pass
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc) + DATE_ALLOWANCE
    return moment.replace(microsecond=0), moment.microsecond * 1000


@dataclass
class SnapshotEnd:
    """Where a snapshot ends on a Loom that follows whatever it is asked (loom-api.md §4.6):
    at a line stamped after the moment the request was answered, or after `idle` seconds
    without log data (keep-alives are not data)."""

    idle: float
    clock: Callable[[], float] = time.monotonic
    moment: Key | None = None
    _data_at: float = field(default=0.0, init=False)

    def answered(self, date: str | None, now: datetime) -> None:
        """A connection was answered: the first answer dates the snapshot; an idle spell
        starts now."""
        if self.moment is None:
            self.moment = answered_at(date, now)
        self._data_at = self.clock()

    def idle_after(self, data: bool) -> bool:
        """A chunk arrived, with log data or without (keep-alives): is the snapshot idle?"""
        if data:
            self._data_at = self.clock()
        return self.clock() - self._data_at >= self.idle

    def after(self, key: Key | None) -> bool:
        """Is this line later than the snapshot (and so not part of it)?"""
        return key is not None and self.moment is not None and key > self.moment
