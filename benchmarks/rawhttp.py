"""A minimal HTTP/1.1 client on asyncio streams: keep-alive GETs and de-chunked SSE streams.

Measuring proxies with a heavyweight client mostly measures the client; this one parses just
enough (status line, headers, Content-Length or chunked bodies) and counts SSE events with
bytes operations, so the three paths are compared on what they add.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


class HTTPFailure(RuntimeError):
    pass


@dataclass
class Head:
    status: int
    headers: dict[str, str]

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None


class Connection:
    """One keep-alive connection to host:port."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 host: str, port: int) -> None:
        self.reader, self.writer, self.host, self.port = reader, writer, host, port

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=4 * 1024 * 1024)
        return cls(reader, writer, host, port)

    def close(self) -> None:
        self.writer.close()

    def send(self, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> None:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    async def read_head(self) -> Head:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise HTTPFailure(f"bad status line {status_line!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return Head(int(parts[1]), headers)

    async def body_chunks(self, head: Head) -> AsyncIterator[bytes]:
        """The body, de-chunked, as it arrives."""
        if head.chunked:
            while True:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    return
                data = await self.reader.readexactly(size + 2)
                yield data[:-2]
        elif head.length is not None:
            remaining = head.length
            while remaining:
                data = await self.reader.read(min(remaining, 1 << 20))
                if not data:
                    raise HTTPFailure("connection closed mid-body")
                remaining -= len(data)
                yield data
        else:
            while data := await self.reader.read(1 << 20):
                yield data

    async def get(self, target: str, headers: dict[str, str]) -> tuple[int, bytes]:
        self.send("GET", target, headers)
        head = await self.read_head()
        body = b"".join([chunk async for chunk in self.body_chunks(head)])
        return head.status, body


@dataclass
class SSEStats:
    """What one SSE stream delivered: counts, and when the first event arrived."""

    started: float
    status: int = 0
    first_event: float | None = None
    ended: float | None = None
    events: int = 0
    data_lines: int = 0
    nbytes: int = 0
    stamps: list[tuple[float, bytes]] = field(default_factory=list)  # (time.time(), event)
    last: bytes = b""

    @property
    def ttfe(self) -> float | None:
        return None if self.first_event is None else self.first_event - self.started

    @property
    def elapsed(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


async def read_sse(host: str, port: int, target: str, headers: dict[str, str], *,
                   keep_events: bool = False, stop_after: int | None = None,
                   timeout: float = 300.0) -> SSEStats:
    """GET an SSE stream on a fresh connection and count it (events are `\\n\\n`-terminated
    blocks with at least one `data:` field; `:` comment blocks such as keep-alives are not)."""
    stats = SSEStats(started=time.perf_counter())
    conn = await Connection.open(host, port)
    try:
        conn.send("GET", target, {**headers, "Accept": "text/event-stream"})
        head = await asyncio.wait_for(conn.read_head(), timeout)
        stats.status = head.status
        if head.status != 200:
            body = b"".join([c async for c in conn.body_chunks(head)])
            raise HTTPFailure(f"GET {target} -> {head.status}: {body[:300]!r}")
        await asyncio.wait_for(_count(conn, head, stats, keep_events, stop_after), timeout)
    finally:
        conn.close()
    return stats


async def _count(conn: Connection, head: Head, stats: SSEStats, keep: bool,
                 stop_after: int | None) -> None:
    rest = b""
    async for chunk in conn.body_chunks(head):
        now = time.perf_counter()
        stats.nbytes += len(chunk)
        blocks = (rest + chunk).replace(b"\r\n", b"\n").split(b"\n\n")
        rest = blocks.pop()
        for block in blocks:
            if b"data:" not in block:
                continue
            if stats.first_event is None:
                stats.first_event = now
            stats.events += 1
            stats.data_lines += block.count(b"data:")
            stats.last = block
            if keep:
                stats.stamps.append((time.time(), block))
        if stop_after is not None and stats.events >= stop_after:
            break
    stats.ended = time.perf_counter()
