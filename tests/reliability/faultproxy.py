"""A loopback fault proxy: sits between a client (or the server extension) and a Loom, and breaks things.

It runs its own asyncio loop in a daemon thread, so sync clients, async tests and an in-process
jupyter-server can all sit behind it. Every forwarded HTTP request gets `Connection: close`
(both ways), so one TCP connection carries exactly one request and a rule can act on it.
WebSocket upgrades are passed through untouched.

Rules match a method and a path regex and fire `times` times (None: until removed):

=================  ===========================================================================
action             effect
=================  ===========================================================================
status             answer `status` with a JSON body (and headers) without contacting Loom
lose_response      forward the request, let Loom answer, then close without a byte back
drop_after         pass `n` response bytes (head included), then close (FIN)
reset_after        pass `n` response bytes, then reset (RST)
cut_after_events   pass the head and `events` SSE events, then close (FIN)
truncate           read Loom's whole answer, pass its head and half its body, then close
pause              hold the response `seconds` before the first byte
delay              hold every response chunk `seconds`
cut_random         pass the response until a time drawn from `within` (seconds) or a byte count
                   drawn from `budget` (head included), whichever comes first, then close (FIN);
                   each cut is recorded in `cuts`
=================  ===========================================================================

Global controls: `pause()`/`resume()` stall every connection, `drop(path)` / `reset(path)`
cut the live connections whose request path matches (forced mid-stream drops), `down()`/`up()`
make Loom unreachable (every live connection reset, new ones refused) and reachable again on
the same port, `retarget(url)` points the proxy at another Loom (a restarted one).
"""
from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024
LOSE_TIMEOUT = 60.0
ACTIONS = ("status", "lose_response", "drop_after", "reset_after", "cut_after_events",
           "truncate", "pause", "delay", "cut_random")


@dataclass
class Rule:
    action: str
    method: str | None = None
    path: str | None = None
    times: int | None = 1
    status: int = 503
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    n: int = 0
    events: int = 1
    seconds: float = 0.0
    within: tuple[float, float] = (0.15, 0.6)
    budget: tuple[int, int] = (2_000, 40_000)
    fired: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}")

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass(eq=False)
class Conn:
    method: str
    path: str
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    cut: bool = False


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None and not writer.is_closing():
        writer.close()


def _set_close(head: bytes) -> bytes:
    """The same head with `Connection: close` (for requests and responses alike)."""
    lines = head.split(b"\r\n")
    kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith((b"connection:", b"keep-alive:"))]
    return b"\r\n".join([lines[0], *kept, b"Connection: close"]) + b"\r\n\r\n"


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def canned(status: int, body: Any, headers: dict[str, str] | None = None) -> bytes:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"HTTP/1.1 {status} Injected", "Content-Type: application/json",
             f"Content-Length: {len(payload)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class FaultProxy:
    """`FaultProxy(upstream_url).start()`; `.url` is what clients (or the extension) point at."""

    def __init__(self, upstream: str, seed: int = 14) -> None:
        self.retarget(upstream)
        self.url = ""
        self.rng = random.Random(seed)  # draws of cut_random: the same cuts for the same seed
        self.cuts: list[tuple[str, str, int]] = []  # (path, "time" | "bytes", bytes passed)
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.fired: list[tuple[str, str, str]] = []  # (action, method, path)
        self.delay = 0.0
        self._lock = threading.Lock()
        self._conns: set[Conn] = set()  # type: ignore[assignment]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="fault-proxy")
        self._server: asyncio.base_events.Server | None = None
        self._flowing: asyncio.Event | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen(0)
        self.url = f"http://127.0.0.1:{self.port}{self.up_prefix}"

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _stop(self) -> None:
        assert self._server is not None and self._flowing is not None
        self._server.close()
        self._flowing.set()
        for conn in list(self._conns):
            _rst(conn.client)
            if conn.upstream is not None:
                _rst(conn.upstream)
        await asyncio.sleep(0)

    def retarget(self, upstream: str) -> None:
        """Forward new connections to `upstream` (e.g. a Loom restarted on another port)."""
        parts = urlsplit(upstream)
        self.up_host, self.up_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.up_prefix = parts.path.rstrip("/")

    def down(self) -> None:
        """Loom becomes unreachable: live connections are reset, new ones refused."""
        asyncio.run_coroutine_threadsafe(self._down(), self._loop).result(10)

    async def _down(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._cut("", reset=True)

    def up(self) -> None:
        """Loom is reachable again, at the same address."""
        asyncio.run_coroutine_threadsafe(self._listen(self.port), self._loop).result(10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- controls (thread-safe) -------------------------------------------------------------
    def add(self, action: str, method: str | None = None, path: str | None = None,
            times: int | None = 1, **params: Any) -> Rule:
        rule = Rule(action, method, path, times, **params)
        with self._lock:
            self.rules.append(rule)
        return rule

    @contextmanager
    def rule(self, action: str, method: str | None = None, path: str | None = None,
             times: int | None = 1, **params: Any) -> Iterator[Rule]:
        rule = self.add(action, method, path, times, **params)
        try:
            yield rule
        finally:
            self.remove(rule)

    def remove(self, rule: Rule) -> None:
        with self._lock:
            if rule in self.rules:
                self.rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
        self.delay = 0.0

    def pause(self) -> None:
        assert self._flowing is not None
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def resume(self) -> None:
        assert self._flowing is not None
        self._loop.call_soon_threadsafe(self._flowing.set)

    def drop(self, path: str = "", *, reset: bool = False) -> int:
        """Cut every live connection whose request path matches `path`; how many were cut."""
        return asyncio.run_coroutine_threadsafe(self._cut(path, reset), self._loop).result(10)

    async def _cut(self, path: str, reset: bool) -> int:
        victims = [c for c in self._conns if not c.cut and re.search(path, c.path)]
        for conn in victims:
            conn.cut = True
            for writer in (conn.client, conn.upstream):
                if writer is not None:
                    (_rst if reset else _close)(writer)
        return len(victims)

    def live(self, path: str = "") -> int:
        return sum(1 for c in list(self._conns) if not c.cut and re.search(path, c.path))

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in list(self.seen) if m == method and re.search(path, p))

    # -- one connection -----------------------------------------------------------------------
    def _match(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.fired += 1
                    self.fired.append((rule.action, method, path))
                    return rule
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            _close(writer)
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, _, rest = request_line.partition(" ")
        path = rest.rpartition(" ")[0].split("?")[0]
        self.seen.append((method, path))
        conn = Conn(method, path, writer)
        self._conns.add(conn)
        try:
            await self._serve(conn, head, reader, self._match(method, path))
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self._conns.discard(conn)
            _close(conn.upstream)
            _close(writer)

    async def _serve(self, conn: Conn, head: bytes, reader: asyncio.StreamReader,
                     rule: Rule | None) -> None:
        upgrade = (_header(head, b"upgrade") or b"").lower() == b"websocket"
        if rule is not None and rule.action == "status":
            length = int(_header(head, b"content-length") or 0)
            if length:
                await reader.readexactly(length)
            conn.client.write(canned(rule.status, rule.body, rule.headers))
            await conn.client.drain()
            return
        up_reader, up_writer = await asyncio.open_connection(self.up_host, self.up_port)
        conn.upstream = up_writer
        up_writer.write(head if upgrade else _set_close(head))
        await up_writer.drain()
        up_pump = asyncio.ensure_future(self._pump(reader, up_writer))
        try:
            await self._respond(conn, up_reader, rule, upgrade)
        finally:
            up_pump.cancel()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(CHUNK):
                await self._gate()
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        if not dst.is_closing() and dst.can_write_eof():
            try:
                dst.write_eof()
            except OSError:
                pass

    async def _gate(self) -> None:
        assert self._flowing is not None
        await self._flowing.wait()
        if self.delay:
            await asyncio.sleep(self.delay)

    async def _respond(self, conn: Conn, up: asyncio.StreamReader, rule: Rule | None,
                       upgrade: bool) -> None:
        action = rule.action if rule is not None else None
        if action == "lose_response":
            await asyncio.wait_for(up.read(), LOSE_TIMEOUT)  # Loom finished: its answer is lost
            return
        if action == "truncate":
            whole = await asyncio.wait_for(up.read(), LOSE_TIMEOUT)
            head, sep, body = whole.partition(b"\r\n\r\n")
            conn.client.write(_set_close(head + sep) + body[: len(body) // 2])
            await conn.client.drain()
            return
        if action == "pause":
            await asyncio.sleep(rule.seconds)  # type: ignore[union-attr]
        head = await up.readuntil(b"\r\n\r\n")
        head = head if upgrade or head.startswith(b"HTTP/1.1 101") else _set_close(head)
        await self._forward(conn, up, head, rule)

    async def _forward(self, conn: Conn, up: asyncio.StreamReader, head: bytes,
                       rule: Rule | None) -> None:
        action = rule.action if rule is not None else None
        if action == "cut_random":
            assert rule is not None
            await self._forward_until_cut(conn, up, head, rule)
            return
        budget = rule.n if rule is not None and action in ("drop_after", "reset_after") else None
        events = rule.events if rule is not None and action == "cut_after_events" else None
        body = b""  # what passed of the body so far (only kept when counting events)
        chunk, is_head = head, True
        while chunk:
            if budget is not None and budget <= len(chunk):
                await self._write(conn, chunk[:budget], rule)
                (_rst if action == "reset_after" else _close)(conn.client)
                return
            if events is not None and not is_head:
                body += chunk
                if body.count(b"\n\n") >= events:
                    end = _nth_event_end(body, events)
                    await self._write(conn, chunk[: len(chunk) - (len(body) - end)], rule)
                    return
            await self._write(conn, chunk, rule)
            if budget is not None:
                budget -= len(chunk)
            chunk, is_head = await up.read(CHUNK), False

    async def _forward_until_cut(self, conn: Conn, up: asyncio.StreamReader, head: bytes,
                                 rule: Rule) -> None:
        """Pass the response until a drawn deadline or byte budget, then close (FIN)."""
        deadline = asyncio.get_running_loop().time() + self.rng.uniform(*rule.within)
        budget, passed = self.rng.randint(*rule.budget), 0
        chunk = head
        while chunk:
            if passed + len(chunk) >= budget:
                await self._write(conn, chunk[: budget - passed], rule)
                return self._record_cut(conn, "bytes", budget)
            await self._write(conn, chunk, rule)
            passed += len(chunk)
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                chunk = await asyncio.wait_for(up.read(CHUNK), max(remaining, 0))
            except asyncio.TimeoutError:
                return self._record_cut(conn, "time", passed)
        return None

    def _record_cut(self, conn: Conn, why: str, passed: int) -> None:
        self.cuts.append((conn.path, why, passed))
        _close(conn.client)

    async def _write(self, conn: Conn, data: bytes, rule: Rule | None) -> None:
        await self._gate()
        if rule is not None and rule.action == "delay":
            await asyncio.sleep(rule.seconds)
        conn.client.write(data)
        await conn.client.drain()


def _nth_event_end(data: bytes, n: int) -> int:
    """Index just past the n-th `\\n\\n` in data."""
    at = -1
    for _ in range(n):
        at = data.index(b"\n\n", at + 1)
    return at + 2
