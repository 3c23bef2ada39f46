"""A weaver's log on disk: the host writes it, the server reads it, across rotations.

One line per log line, `<RFC3339Nano stamp> <text>\\n`, the stamp given when the host read the
output from the terminal, so it survives restarts of the server (followers resume by it).
The file is bounded like a kubelet's container log: at half of MAX_FILE_BYTES it is renamed to
`<log>.1` (replacing the older one) and a new one starts. The reader follows by descriptor and
inode, as `tail -F` does: it finishes the renamed file, then moves on to the new one.
Standard library only: the host process imports this too.
"""
from __future__ import annotations

import codecs
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

MAX_FILE_BYTES = 16 * 1024 * 1024  # both files together
Line = tuple[str, str]


def rfc3339_nano(ns: int | None = None) -> str:
    """`2025-01-15T12:34:56.123456789Z`: the prefix Kubernetes gives with `timestamps=true`."""
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:09d}Z"


def clean(line: str) -> str:
    """A terminal line as displayed: CR-overwritten text dropped (SSE data cannot carry a CR)."""
    return line.rstrip("\r").rsplit("\r", 1)[-1]


class LogWriter:
    """Terminal output in, stamped whole lines out to the file; an unfinished line waits."""

    def __init__(self, path: Path, rotated: Path, max_file_bytes: int = MAX_FILE_BYTES) -> None:
        self.path, self.rotated = path, rotated
        self._limit = max(1, max_file_bytes // 2)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size

    def feed(self, data: bytes) -> None:
        text = self._partial + self._decoder.decode(data)
        *complete, self._partial = text.split("\n")
        if complete:
            self._append([clean(line) for line in complete])

    def close(self) -> None:
        """The terminal is gone: keep its unterminated last line, close the file."""
        rest = clean(self._partial + self._decoder.decode(b"", final=True))
        self._partial = ""
        if rest:
            self._append([rest])
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _append(self, lines: list[str]) -> None:
        stamp = rfc3339_nano()
        data = "".join(f"{stamp} {line}\n" for line in lines).encode()
        try:
            if self._size and self._size + len(data) > self._limit:
                self._rotate()
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self._size += len(data)
        except OSError as exc:  # a full disk loses log lines, never the weaver
            print(f"weaver host: cannot write the log: {exc}", file=sys.stderr, flush=True)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        os.replace(self.path, self.rotated)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = 0


class LogReader:
    """Follows the log a host writes: `history()` once, then `read_new()` whenever woken."""

    def __init__(self, path: Path, rotated: Path) -> None:
        self.path, self.rotated = path, rotated
        self._file: BinaryIO | None = None
        self._inode = -1
        self._rest = b""

    def history(self) -> list[Line]:
        """Everything on disk: the rotated file (unless it is the one just opened), then the
        current one; afterwards `read_new()` goes on from there."""
        self._open()
        older: list[Line] = []
        try:
            with self.rotated.open("rb") as old:
                if os.fstat(old.fileno()).st_ino != self._inode:
                    older = _parse(old.read().split(b"\n")[:-1])
        except FileNotFoundError:
            pass
        return older + self.read_new()

    def read_new(self) -> list[Line]:
        """The complete lines written since the last call, across any rotation in between."""
        if self._file is None and not self._open():
            return []
        out: list[Line] = []
        while True:
            out += self._drain()
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                return out
            if current == self._inode:
                return out
            # Renamed away and replaced: the old file is complete (drained above); go on.
            self.close()
            if not self._open():
                return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._rest = b""

    def _open(self) -> bool:
        try:
            self._file = self.path.open("rb")
        except FileNotFoundError:
            return False
        self._inode = os.fstat(self._file.fileno()).st_ino
        return True

    def _drain(self) -> list[Line]:
        assert self._file is not None
        data = self._rest + self._file.read()
        *complete, self._rest = data.split(b"\n")
        return _parse(complete)


def _parse(raw_lines: list[bytes]) -> list[Line]:
    if not raw_lines:
        return []
    # Decoded in one go (a newline byte is never inside a UTF-8 sequence, so this is the same
    # as line by line): a bulk of output is hundreds of thousands of short lines.
    lines = b"\n".join(raw_lines).decode("utf-8", errors="replace").split("\n")
    return [(stamp, text) for stamp, _, text in (line.partition(" ") for line in lines)]
