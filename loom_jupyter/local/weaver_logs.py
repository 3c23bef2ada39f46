"""A weaver's log as the server serves it: a bounded in-memory ring of timestamped lines.

The weaver's host writes the log file (weaver_logfile.py); the ring reads what is new whenever
the host reports output (`poll()`), and once, from disk, when the server starts. Lines are
numbered from 0 for the life of the ring, so a follower keeps its place with one integer and
many followers share one buffer. A follower that falls further behind than the ring holds skips
ahead, as `kubectl logs -f` does once the kubelet has rotated a log away.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from .weaver_files import HostFiles
from .weaver_logfile import Line, LogReader

MAX_LINES = 100_000  # the log window: what a follower can still get back after an outage


class LogRing:
    """Line-numbered, bounded; `follow()` yields batches of (stamp, text) lines."""

    def __init__(self, files: HostFiles, *, max_lines: int = MAX_LINES) -> None:
        self._reader = LogReader(files.log, files.rotated_log)
        self._lines: deque[Line] = deque(maxlen=max_lines)
        self._first = 0  # number of the oldest line still held
        self._changed = asyncio.Event()
        self.closed = False
        self._lines.extend(self._reader.history())

    @property
    def end(self) -> int:
        """The number the next line will get."""
        return self._first + len(self._lines)

    def poll(self) -> None:
        """Take in what the host has written since the last poll."""
        if not self.closed and (lines := self._reader.read_new()):
            self._first += max(0, len(self._lines) + len(lines) - (self._lines.maxlen or 0))
            self._lines.extend(lines)
            self._wake()

    def close(self) -> None:
        """The weaver has ended: take the last lines in, then wake followers to finish."""
        self.poll()
        self.closed = True
        self._reader.close()
        self._wake()

    def tail(self, count: int | None) -> int:
        """The number of the first of the last `count` lines (None: all that is held), as of
        now: what the host has written so far is taken in first. (A reader that asks twice
        must see the log grow only by what was printed in between, not by what the server
        had yet to read: the SDK's resume tells a rotated-away log by that.)"""
        self.poll()
        if count is None or count >= len(self._lines):
            return self._first
        return self.end - max(count, 0)

    def read(self, start: int) -> tuple[list[Line], int]:
        """Lines from number `start` (or the oldest held, if that is gone) and the next number."""
        start = max(start, self._first)
        offset = start - self._first
        batch = [self._lines[i] for i in range(offset, len(self._lines))]
        return batch, start + len(batch)

    async def follow(self, start: int, idle: float) -> AsyncIterator[list[Line]]:
        """Batches from `start` until the log closes; an empty batch after `idle` quiet seconds."""
        position = start
        while True:
            batch, position = self.read(position)
            if batch:
                yield batch
                continue
            if self.closed:
                return
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), idle)
            except asyncio.TimeoutError:
                yield []

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
