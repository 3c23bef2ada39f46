"""A weaver's log: timestamped lines in a bounded in-memory ring mirrored to a bounded file.

Lines are numbered from 0 for the life of the weaver, so a follower keeps its place with one
integer and many followers share one buffer. A follower that falls further behind than the ring
holds skips ahead, as `kubectl logs -f` does once the kubelet has rotated a log away.
"""
from __future__ import annotations

import asyncio
import codecs
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

MAX_LINES = 100_000
MAX_FILE_BYTES = 16 * 1024 * 1024


def rfc3339_nano(ns: int | None = None) -> str:
    """`2025-01-15T12:34:56.123456789Z`: the prefix Kubernetes gives with `timestamps=true`."""
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:09d}Z"


def _clean(line: str) -> str:
    """A terminal line as displayed: CR-overwritten text dropped (SSE data cannot carry a CR)."""
    return line.rstrip("\r").rsplit("\r", 1)[-1]


class LogRing:
    """Append-only, line-numbered, bounded; `follow()` yields batches of (stamp, text) lines."""

    def __init__(self, path: Path, *, max_lines: int = MAX_LINES,
                 max_file_bytes: int = MAX_FILE_BYTES) -> None:
        self.path = path
        self._lines: deque[tuple[str, str]] = deque(maxlen=max_lines)
        self._first = 0  # number of the oldest line still held
        self._max_file_bytes = max_file_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._changed = asyncio.Event()
        self.closed = False
        self._file: BinaryIO | None = None
        self._file_bytes = 0

    @classmethod
    def reopen(cls, path: Path, **limits: int) -> LogRing:
        """The log of a weaver from an earlier run of the server: read back, already closed."""
        ring = cls(path, **limits)
        if path.is_file():
            for raw in path.read_text(errors="replace").splitlines():
                stamp, _, text = raw.partition(" ")
                ring._lines.append((stamp, text))
        ring._first = 0
        ring.closed = True
        return ring

    @property
    def end(self) -> int:
        """The number the next line will get."""
        return self._first + len(self._lines)

    def feed(self, data: bytes) -> None:
        """Raw terminal output: complete lines are stamped and stored; the rest waits."""
        text = self._partial + self._decoder.decode(data)
        *complete, self._partial = text.split("\n")
        if complete:
            self._append([_clean(line) for line in complete])

    def close(self) -> None:
        """The process is gone: keep its unterminated last line, wake followers to finish."""
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        if _clean(rest):
            self._append([_clean(rest)])
        self.closed = True
        if self._file is not None:
            self._file.close()
            self._file = None
        self._wake()

    def tail(self, count: int | None) -> int:
        """The number of the first of the last `count` lines (None: all that is held)."""
        if count is None or count >= len(self._lines):
            return self._first
        return self.end - max(count, 0)

    def read(self, start: int) -> tuple[list[tuple[str, str]], int]:
        """Lines from number `start` (or the oldest held, if that is gone) and the next number."""
        start = max(start, self._first)
        offset = start - self._first
        batch = [self._lines[i] for i in range(offset, len(self._lines))]
        return batch, start + len(batch)

    async def follow(self, start: int, idle: float) -> AsyncIterator[list[tuple[str, str]]]:
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

    def _append(self, lines: list[str]) -> None:
        stamp = rfc3339_nano()
        self._persist(stamp, lines)  # before the ring changes: a compaction copies the ring
        self._first += max(0, len(self._lines) + len(lines) - (self._lines.maxlen or 0))
        self._lines.extend((stamp, line) for line in lines)
        self._wake()

    def _persist(self, stamp: str, lines: list[str]) -> None:
        data = "".join(f"{stamp} {line}\n" for line in lines).encode()
        if self._file is None:
            self._file = self.path.open("ab")
            self._file_bytes = self._file.tell()
        if self._file_bytes + len(data) > self._max_file_bytes:
            self._compact()
        self._file.write(data)
        self._file.flush()
        self._file_bytes += len(data)

    def _compact(self) -> None:
        """Rewrite the file as its newer half (taken from memory): the ring stays bounded on disk."""
        assert self._file is not None
        self._file.close()
        keep, size = [], 0
        for stamp, text in reversed(self._lines):
            line = f"{stamp} {text}\n".encode()
            if size + len(line) > self._max_file_bytes // 2:
                break
            keep.append(line)
            size += len(line)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(b"".join(reversed(keep)))
        tmp.replace(self.path)
        self._file = self.path.open("ab")
        self._file_bytes = size

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
