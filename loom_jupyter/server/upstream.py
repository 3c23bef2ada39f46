"""The extension's HTTP/1.1 connections to an upstream: kept alive, pooled, read only on demand.

Written on tornado's own IOStream (the server's event loop, sockets and header parser) instead
of httpx: the proxy's hot path was mostly httpx/httpcore/anyio bookkeeping (about 1 ms of CPU
per request here, against about 0.2 ms for this; see benchmarks/RESULTS.md). The SDK keeps httpx.

- `send()` writes one request (its body whole, or streamed with back-pressure) on an idle
  pooled connection or a new one, and returns once the response head has arrived.
- The body is read only when the caller asks (`aiter_raw()`, `aread()`), so a slow browser
  slows the reads from the upstream: nothing is buffered beyond one read.
- `aclose()` before the end of the body closes the connection: the upstream sees the caller
  leave. A body read to its end gives the connection back to the pool.
- Failures are raised as httpx's exception types (errors.py translates them for every path):
  ConnectError/ConnectTimeout, PoolTimeout, ReadTimeout/WriteTimeout (longest silence:
  `read_timeout`), RemoteProtocolError (a malformed answer, or a kept-alive connection the
  upstream closed before answering: the caller may resend an idempotent request once).
"""
from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator, Awaitable
from typing import Any
from urllib.parse import urlsplit

import httpx
from tornado import httputil
from tornado.iostream import IOStream, StreamClosedError, UnsatisfiableReadError
from tornado.tcpclient import TCPClient

__all__ = ["Answer", "Upstream"]

READ_CHUNK = 64 * 1024  # most bytes handed over per read
MAX_HEAD = 64 * 1024  # status line and headers (as tornado allows from browsers)
MAX_CHUNK_LINE = 1024  # a chunk-size line with its extensions
MAX_TRAILERS = 64 * 1024
# What tornado may hold from one connection: an `aread()` of up to 1 MiB (the relay reads
# larger bodies in READ_CHUNK pieces), and at most this much ahead of a slow reader.
MAX_BUFFER = 2 * 1024 * 1024
KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept (as httpx did)
_NO_BODY_STATUS = (204, 304)
_MAX_1XX = 5
_HEAD_END = b"\r?\n\r?\n"


class _Conn:
    """One kept-alive connection and when it was last given back."""

    __slots__ = ("idle_since", "origin", "reused", "stream")

    def __init__(self, stream: IOStream, origin: tuple[str, str, int]) -> None:
        self.stream, self.origin, self.idle_since, self.reused = stream, origin, 0.0, False

    def usable(self, now: float) -> bool:
        # Tornado listens for reads on an idle stream, so a close by the upstream is noticed;
        # bytes arriving unasked mean the connection is out of step: never reuse it.
        return (not self.stream.closed() and now - self.idle_since < KEEPALIVE_EXPIRY
                and not getattr(self.stream, "_read_buffer_size", 0))


class _Watchdog:
    """Fails a read or write that waits on the upstream longer than `timeout` (one timer per
    request, not one per read: waiting for the caller does not count)."""

    __slots__ = ("_handle", "_loop", "_stream", "_timeout", "fired", "since", "writing")

    def __init__(self, stream: IOStream, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._stream, self._timeout = stream, timeout
        self.since: float | None = None
        self.fired = self.writing = False
        self._handle: asyncio.TimerHandle | None = None

    def start(self, writing: bool = False) -> None:
        self.since, self.writing = self._loop.time(), writing
        if self._handle is None:
            self._handle = self._loop.call_at(self.since + self._timeout, self._check)

    def stop(self) -> None:
        self.since = None

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        self._handle = None
        if self.since is None:
            self._handle = self._loop.call_later(self._timeout, self._check)
            return
        due = self.since + self._timeout
        if self._loop.time() < due:
            self._handle = self._loop.call_at(due, self._check)
            return
        self.fired = True
        self._stream.close()  # the pending read or write fails with StreamClosedError

    def error(self) -> httpx.TimeoutException:
        if self.writing:
            return httpx.WriteTimeout("the upstream stopped reading the request")
        return httpx.ReadTimeout("the upstream went silent")


class Answer:
    """A response whose head has arrived; its body is read on demand (`httpx.Response`-like)."""

    def __init__(self, pool: _Pool, conn: _Conn, watchdog: _Watchdog, status: int,
                 headers: httputil.HTTPHeaders, keep_alive: bool, head_only: bool) -> None:
        self._pool, self._conn, self._watchdog = pool, conn, watchdog
        self.status_code, self.headers = status, headers
        self._keep_alive = keep_alive
        self._closed = False
        self._framing = "none" if head_only or status in _NO_BODY_STATUS else _framing(headers)
        self._remaining = int(headers["Content-Length"]) if self._framing == "length" else 0
        if self._framing == "until-close":
            self._keep_alive = False
        if self._framing == "none" or (self._framing == "length" and not self._remaining):
            self._done()

    @property
    def is_closed(self) -> bool:
        return self._closed

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives (de-chunked, not decoded), one read at a time."""
        if self._closed:
            return
        try:
            if self._framing == "length":
                while self._remaining:
                    data = await self._read(self._conn.stream.read_bytes(
                        min(self._remaining, READ_CHUNK), partial=True))
                    self._remaining -= len(data)
                    if not self._remaining:
                        self._done()
                    yield data
            elif self._framing == "chunked":
                async for data in self._chunks():
                    yield data
            elif self._framing == "until-close":
                while True:
                    try:
                        data = await self._read(self._conn.stream.read_bytes(READ_CHUNK,
                                                                              partial=True))
                    except StreamClosedError:
                        if self._watchdog.fired:
                            raise
                        self._done()  # the end of such a body (the connection is not reused)
                        return
                    yield data
        except StreamClosedError:
            self._abandon()
            if self._watchdog.fired:
                raise self._watchdog.error() from None
            raise httpx.ReadError("the upstream closed the connection mid-body") from None
        except httputil.HTTPInputError as exc:
            self._abandon()
            raise httpx.RemoteProtocolError(f"malformed body: {exc}") from None

    async def aread(self) -> bytes:
        """The whole body (for answers whose length the caller has checked)."""
        if self._framing == "length" and self._remaining:
            try:
                data = await self._read(self._conn.stream.read_bytes(self._remaining))
            except StreamClosedError:
                self._abandon()
                if self._watchdog.fired:
                    raise self._watchdog.error() from None
                raise httpx.ReadError("the upstream closed the connection mid-body") from None
            self._remaining = 0
            self._done()
            return data
        return b"".join([chunk async for chunk in self.aiter_raw()])

    async def aclose(self) -> None:
        """Give the connection back if the body was read to its end, else close it."""
        self.close()

    def close(self) -> None:
        """`aclose()` for callers that cannot wait (a handler whose caller left)."""
        if not self._closed:
            self._abandon()

    # -- internals ------------------------------------------------------------------------
    async def _read(self, pending: Any) -> bytes:
        self._watchdog.start()
        try:
            return bytes(await pending)
        finally:
            self._watchdog.stop()

    async def _chunks(self) -> AsyncIterator[bytes]:
        """The de-chunked body. Chunks already received are handed over together (up to
        READ_CHUNK), never waiting for more: an event that arrives alone leaves alone, and a
        reader that fell behind catches up in fewer, larger writes. What was received before
        the stream broke is handed over before the error."""
        pending = bytearray()
        try:
            async for data in self._chunk_data(pending):
                yield data
        except (StreamClosedError, httputil.HTTPInputError):
            if pending:
                yield bytes(pending)
            raise

    async def _chunk_data(self, pending: bytearray) -> AsyncIterator[bytes]:
        stream = self._conn.stream
        while True:
            read = stream.read_until(b"\r\n", max_bytes=MAX_CHUNK_LINE)
            if pending and (not _ready(read) or len(pending) >= READ_CHUNK):
                yield bytes(pending)
                pending.clear()
            size = _chunk_size(await self._read(read))
            if size == 0:
                if pending:
                    yield bytes(pending)
                    pending.clear()
                await self._trailers()
                self._done()
                return
            while size:
                read = stream.read_bytes(min(size, READ_CHUNK), partial=True)
                if pending and (not _ready(read) or len(pending) >= READ_CHUNK):
                    yield bytes(pending)
                    pending.clear()
                data = await self._read(read)
                size -= len(data)
                pending += data
            read = stream.read_bytes(2)
            if pending and not _ready(read):
                yield bytes(pending)
                pending.clear()
            if await self._read(read) != b"\r\n":
                raise httputil.HTTPInputError("a chunk not ended by CRLF")

    async def _trailers(self) -> None:
        seen = 0
        while (line := await self._read(self._conn.stream.read_until(
                b"\r\n", max_bytes=MAX_CHUNK_LINE))) != b"\r\n":
            seen += len(line)
            if seen > MAX_TRAILERS:
                raise httputil.HTTPInputError("trailers too long")

    def _done(self) -> None:
        """The body was read to its end."""
        if self._closed:
            return
        self._closed = True
        self._watchdog.cancel()
        self._pool.release(self._conn, reusable=self._keep_alive)

    def _abandon(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._watchdog.cancel()
        self._pool.release(self._conn, reusable=False)


def _framing(headers: httputil.HTTPHeaders) -> str:
    """How the body ends (RFC 9112 §6.3); an ambiguous answer is refused, never guessed."""
    codings = [c.strip().lower() for v in headers.get_list("Transfer-Encoding")
               for c in v.split(",") if c.strip()]
    lengths = headers.get_list("Content-Length")
    if codings:
        if lengths:
            raise httputil.HTTPInputError("both Transfer-Encoding and Content-Length")
        if codings[-1] == "chunked" and codings.count("chunked") == 1:
            return "chunked"
        raise httputil.HTTPInputError("a transfer coding other than chunked")
    if lengths:
        values = {p.strip() for v in lengths for p in v.split(",")}
        if len(values) != 1 or not _is_digits(next(iter(values))):
            raise httputil.HTTPInputError("a bad or conflicting Content-Length")
        headers["Content-Length"] = values.pop()
        return "length"
    return "until-close"


def _ready(read: Awaitable[bytes]) -> bool:
    """A read tornado served from what it already holds (its future is done at once)."""
    return isinstance(read, asyncio.Future) and read.done() and read.exception() is None


def _is_digits(text: str) -> bool:
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()


def _chunk_size(line: bytes) -> int:
    text = line[:-2].split(b";", 1)[0].strip()
    if not text or len(text) > 16 or text.strip(b"0123456789abcdefABCDEF"):
        raise httputil.HTTPInputError("a bad chunk size")
    return int(text, 16)


class _Pool:
    """Connections to one upstream origin: at most `limit` open, idle ones reused newest first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.idle: list[_Conn] = []
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def take_idle(self, now: float) -> _Conn | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.usable(now):
                conn.reused = True
                return conn
            self._close(conn)
        return None

    def release(self, conn: _Conn, reusable: bool) -> None:
        loop = asyncio.get_running_loop()
        if reusable and not conn.stream.closed():
            conn.idle_since = loop.time()
            self.idle.append(conn)
            while self.idle and not self.idle[0].usable(conn.idle_since):
                self._close(self.idle.pop(0))
        else:
            self._close(conn)
        self._wake()

    def forget(self) -> None:
        """A connection that was counted but never opened."""
        self.open -= 1
        self._wake()

    def _close(self, conn: _Conn) -> None:
        self.open -= 1
        conn.stream.close()

    def _wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close_all(self) -> None:
        for conn in self.idle:
            conn.stream.close()
        self.open -= len(self.idle)
        self.idle.clear()


class Upstream:
    """`send(...)` answers from a pooled connection; `aclose()` closes them all."""

    def __init__(self, max_connections: int, *, connect_timeout: float = 10.0,
                 read_timeout: float = 300.0, user_agent: str = "loom-jupyter-proxy") -> None:
        self.max_connections = max(1, max_connections)
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._agent = f"User-Agent: {user_agent}\r\n"
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._origins: dict[str, tuple[tuple[str, str, int], str]] = {}
        self._tcp = TCPClient()
        self._ssl: ssl.SSLContext | None = None

    def open_connections(self) -> int:
        return sum(pool.open for pool in self._pools.values())

    async def send(self, method: str, url: str, headers: list[tuple[str, str]],
                   content: bytes | AsyncIterator[bytes] | None = None, *,
                   fresh: bool = False) -> Answer:
        """Send one request and return once its answer's head arrived. `fresh`: never on a
        kept-alive connection (the resend of a request whose pooled connection had closed)."""
        origin, host_line, target = self._split(url)
        head = _request_head(method, target, host_line + self._agent, headers, content)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(self.max_connections)
        conn = await self._acquire(pool, origin, fresh)
        watchdog = _Watchdog(conn.stream, self.read_timeout)
        try:
            try:
                await self._write(conn, watchdog, head, content)
            except StreamClosedError:
                if watchdog.fired:
                    raise
                # The upstream stopped reading (a 413 to a large upload, say): it may have
                # answered before closing, so read that answer (as httpcore does).
            status, parsed, keep = await self._read_head(conn, watchdog)
            return Answer(pool, conn, watchdog, status, parsed, keep, method == "HEAD")
        except BaseException as exc:
            watchdog.cancel()
            pool.release(conn, reusable=False)
            raise _translated(exc, conn, watchdog) from None

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close_all()
        self._pools.clear()

    # -- internals ------------------------------------------------------------------------
    def _split(self, url: str) -> tuple[tuple[str, str, int], str, str]:
        """(origin, "Host: ...\\r\\n", request target) of an absolute http(s) URL."""
        scheme, sep, rest = url.partition("://")
        netloc, slash, path = rest.partition("/")
        known = self._origins.get(scheme + sep + netloc)
        if known is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise httpx.UnsupportedProtocol(f"not an http(s) URL: {parts.scheme}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            host = parts.hostname
            shown = f"[{host}]" if ":" in host else host
            default = port == (443 if parts.scheme == "https" else 80)
            known = ((parts.scheme, host, port),
                     f"Host: {shown}{'' if default else f':{port}'}\r\n")
            if len(self._origins) < 64:
                self._origins[scheme + sep + netloc] = known
        return known[0], known[1], "/" + path if slash else "/"

    async def _acquire(self, pool: _Pool, origin: tuple[str, str, int], fresh: bool) -> _Conn:
        loop = asyncio.get_running_loop()
        if not fresh and (conn := pool.take_idle(loop.time())) is not None:
            return conn
        deadline = loop.time() + self.connect_timeout
        while pool.open >= pool.limit:
            if fresh and pool.idle:  # room for a fresh one: drop an idle one
                pool._close(pool.idle.pop(0))
                continue
            waiter: asyncio.Future[None] = loop.create_future()
            pool.waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise httpx.PoolTimeout("every connection to the upstream is busy") from None
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    pool._wake()  # woken, but leaving: pass the turn on
                raise
            if not fresh and (conn := pool.take_idle(loop.time())) is not None:
                return conn
        pool.open += 1
        try:
            stream = await asyncio.wait_for(self._connect(origin), deadline - loop.time())
        except asyncio.TimeoutError:
            pool.forget()
            raise httpx.ConnectTimeout("connecting to the upstream timed out") from None
        except (OSError, StreamClosedError, ssl.SSLError) as exc:
            pool.forget()
            raise httpx.ConnectError(f"cannot connect ({type(exc).__name__})") from None
        except BaseException:
            pool.forget()
            raise
        stream.set_nodelay(True)
        return _Conn(stream, origin)

    async def _connect(self, origin: tuple[str, str, int]) -> IOStream:
        scheme, host, port = origin
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()  # the CA set httpx used
            return await self._tcp.connect(host, port, ssl_options=self._ssl,  # checks `host`
                                           max_buffer_size=MAX_BUFFER)
        return await self._tcp.connect(host, port, max_buffer_size=MAX_BUFFER)

    async def _write(self, conn: _Conn, watchdog: _Watchdog, head: bytes,
                     content: bytes | AsyncIterator[bytes] | None) -> None:
        stream = conn.stream
        if content is None or isinstance(content, bytes):
            stream.write(head + content if content else head)  # one write: no wait for it
            return
        chunked = b"Transfer-Encoding: chunked" in head
        stream.write(head)
        async for chunk in content:
            if not chunk:
                continue
            watchdog.start(writing=True)
            try:  # back-pressure: the next chunk is taken once this one is on its way
                await stream.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            finally:
                watchdog.stop()
        if chunked:
            stream.write(b"0\r\n\r\n")

    async def _read_head(self, conn: _Conn,
                         watchdog: _Watchdog) -> tuple[int, httputil.HTTPHeaders, bool]:
        for _ in range(_MAX_1XX + 1):
            watchdog.start()
            try:
                data = await conn.stream.read_until_regex(_HEAD_END, max_bytes=MAX_HEAD)
            finally:
                watchdog.stop()
            text = data.decode("latin-1").lstrip("\r\n")
            eol = text.find("\n")
            start = httputil.parse_response_start_line(text[:eol].rstrip("\r"))
            headers = httputil.HTTPHeaders.parse(text[eol:])
            if start.code >= 200:
                tokens = {t.strip().lower() for v in headers.get_list("Connection")
                          for t in v.split(",")}
                keep = ("close" not in tokens if start.version == "HTTP/1.1"
                        else "keep-alive" in tokens)
                return start.code, headers, keep
            if start.code == 101 or "Content-Length" in headers or \
                    "Transfer-Encoding" in headers:
                break
        raise httputil.HTTPInputError("an informational answer out of place")


def _request_head(method: str, target: str, fixed: str, headers: list[tuple[str, str]],
                  content: bytes | AsyncIterator[bytes] | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1\r\n{fixed}"]
    lines += [f"{name}: {value}\r\n" for name, value in headers]
    named = {name.lower() for name, _ in headers}
    if isinstance(content, bytes):
        if content or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(content)}\r\n")
    elif content is not None and "content-length" not in named:
        lines.append("Transfer-Encoding: chunked\r\n")
    lines.append("\r\n")
    # No target, name or value may break a line (headers.py refuses the caller's; this covers
    # ours, the credential included): nothing can inject a header.
    probe = target + "".join([name + value for name, value in headers])
    if "\r" in probe or "\n" in probe or "\0" in probe:
        raise httpx.LocalProtocolError("a line break inside a request header")
    text = "".join(lines)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise httpx.LocalProtocolError("a request header that is not latin-1") from None


def _translated(exc: BaseException, conn: _Conn, watchdog: _Watchdog) -> BaseException:
    """What a failed send raises: httpx's types (errors.py maps them to 502/504)."""
    if isinstance(exc, StreamClosedError):
        if watchdog.fired:
            return watchdog.error()
        # Nothing came back: on a kept-alive connection the upstream had closed it.
        return httpx.RemoteProtocolError("the upstream closed the connection without answering"
                                         + (" (kept-alive connection)" if conn.reused else ""))
    if isinstance(exc, UnsatisfiableReadError):
        return httpx.RemoteProtocolError(f"an answer head larger than {MAX_HEAD // 1024} KiB")
    if isinstance(exc, httputil.HTTPInputError):
        return httpx.RemoteProtocolError(f"a malformed answer ({exc})")
    return exc
