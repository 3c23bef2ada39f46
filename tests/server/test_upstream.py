"""The extension's upstream transport (server/upstream.py): pooling, framing, failures.

Against the real local Loom where a real server shows it, and against small scripted asyncio
servers on 127.0.0.1 for answers no well-behaved server sends (stale keep-alive, broken
framing, silence)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from loom_jupyter.server.connections import join_url
from loom_jupyter.server.upstream import Answer, Upstream

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _upstream(max_connections: int = 8, *, connect_timeout: float = 5.0,
              read_timeout: float = 10.0) -> Upstream:
    return Upstream(max_connections, connect_timeout=connect_timeout, read_timeout=read_timeout)


async def _get(upstream: Upstream, url: str, **kw: object) -> Answer:
    return await upstream.send("GET", url, [("Accept", "application/json")], None, **kw)  # type: ignore[arg-type]


class Scripted:
    """A loopback TCP server running `script` for each connection; counts connections."""

    def __init__(self, script: Script) -> None:
        self.script, self.connections = script, 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Scripted:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.script(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()
        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _answering(raw: bytes, then_wait: float = 1.0) -> Script:
    """A script that reads the request, writes `raw` and keeps the connection open a while."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(raw)
        await writer.drain()
        await asyncio.sleep(then_wait)
    return answer


def _in_two_parts(first: bytes, rest: bytes, release: asyncio.Event) -> Script:
    """A script that reads the request, writes `first`, and writes `rest` once released."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(first)
        await writer.drain()
        await release.wait()
        writer.write(rest)
        await writer.drain()
    return answer


# -- against the real local Loom ---------------------------------------------------------------
async def test_a_body_read_to_its_end_gives_the_connection_back(loom_server):
    upstream = _upstream()
    try:
        for _ in range(3):
            answer = await _get(upstream, f"{loom_server.url}/health")
            assert answer.status_code == 200
            assert answer.headers.get_list("content-type")
            assert await answer.aread()
            await answer.aclose()
        assert upstream.open_connections() == 1  # one kept-alive connection, reused
    finally:
        await upstream.aclose()


async def test_total_connections_never_exceed_the_limit(loom_server):
    upstream = _upstream(2, connect_timeout=0.5)
    try:
        held = [await _get(upstream, f"{loom_server.url}/health") for _ in range(2)]
        with pytest.raises(httpx.PoolTimeout):
            await _get(upstream, f"{loom_server.url}/health")
        assert upstream.open_connections() == 2
        await held[0].aclose()  # unread body: that connection is closed, its slot freed
        await held[0].aclose()  # closing twice frees it once
        extra = await _get(upstream, f"{loom_server.url}/health")
        assert extra.status_code == 200 and upstream.open_connections() == 2
        for answer in (held[1], extra):
            await answer.aclose()
        assert upstream.open_connections() == 0
    finally:
        await upstream.aclose()


async def test_a_waiting_request_gets_the_connection_given_back(loom_server):
    upstream = _upstream(1, connect_timeout=5.0)
    try:
        first = await _get(upstream, f"{loom_server.url}/health")
        waiting = asyncio.ensure_future(_get(upstream, f"{loom_server.url}/health"))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await first.aread()  # read to the end: back to the pool, and the waiter takes it
        second = await asyncio.wait_for(waiting, 5)
        assert second.status_code == 200 and upstream.open_connections() == 1
        await second.aclose()
    finally:
        await upstream.aclose()


def test_the_cached_root_joins_like_join_url():
    from loom_jupyter.server.connections import _PLAIN

    for base in ("http://127.0.0.1:8080", "http://h:1/loom/", "https://x.example/a/b?z=1"):
        root = join_url(base, "/")[:-1]
        for path, query in (("/api/weavers", ""), ("/api/weaver/ab-1/logs", "tail=10"),
                            ("/api/x%2Fy", "a=%20b&c=d:e"), ("/api/a:b@c", "q=a/b?c")):
            assert _PLAIN.fullmatch(path) and _PLAIN.fullmatch(query)
            assert root + path + ("?" + query if query else "") == join_url(base, path, query)
    assert not _PLAIN.fullmatch("a b") and not _PLAIN.fullmatch("%zz") and not _PLAIN.fullmatch("é")


# -- scripted upstreams ------------------------------------------------------------------------
async def test_a_kept_alive_connection_closed_by_the_upstream_is_reported_as_stale():
    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        await _read_request(reader)  # the next request on this connection: no answer

    async with Scripted(once_then_close) as server:
        upstream = _upstream()
        try:
            first = await _get(upstream, server.url + "/a")
            assert await first.aread() == b"{}"
            await first.aclose()
            with pytest.raises(httpx.RemoteProtocolError, match="kept-alive"):
                await _get(upstream, server.url + "/b")
            again = await _get(upstream, server.url + "/b", fresh=True)  # the resend
            assert await again.aread() == b"{}" and server.connections == 2
            await again.aclose()
        finally:
            await upstream.aclose()


async def test_chunks_are_handed_over_as_they_arrive():
    release = asyncio.Event()
    slow_chunks = _in_two_parts(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n7\r\ndata: 1",
                                b"\r\n7;ext=1\r\ndata: 2\r\n0\r\nX-Trailer: t\r\n\r\n", release)

    async with Scripted(slow_chunks) as server:
        upstream = _upstream()
        try:
            answer = await _get(upstream, server.url + "/s")
            chunks = answer.aiter_raw()
            assert await asyncio.wait_for(chunks.__anext__(), 5) == b"data: 1"  # not held back
            release.set()
            assert [c async for c in chunks] == [b"data: 2"]
            assert upstream.open_connections() == 1  # read to its end: kept
            await answer.aclose()
        finally:
            await upstream.aclose()


@pytest.mark.parametrize("head, body", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", b""),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", b""),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", b""),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", b""),
    (b"NOT HTTP\r\n\r\n", b""),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", b""),
])
async def test_answers_with_ambiguous_framing_are_refused(head: bytes, body: bytes):
    async with Scripted(_answering(head + body)) as server:
        upstream = _upstream()
        try:
            with pytest.raises(httpx.RemoteProtocolError):
                await _get(upstream, server.url + "/x")
            assert upstream.open_connections() == 0
        finally:
            await upstream.aclose()


async def test_a_bad_chunk_fails_the_body_and_drops_the_connection():
    bad_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"
    async with Scripted(_answering(bad_chunk)) as server:
        upstream = _upstream()
        try:
            answer = await _get(upstream, server.url + "/x")
            with pytest.raises(httpx.RemoteProtocolError):
                await answer.aread()
            assert upstream.open_connections() == 0
        finally:
            await upstream.aclose()


async def test_silence_longer_than_the_read_timeout_fails_the_read():
    half = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"
    async with Scripted(_answering(half, then_wait=5)) as server:
        upstream = _upstream(read_timeout=0.3)
        try:
            answer = await _get(upstream, server.url + "/x")
            with pytest.raises(httpx.ReadTimeout):
                await asyncio.wait_for(answer.aread(), 5)
        finally:
            await upstream.aclose()


async def test_a_streamed_request_body_is_sent_chunked_with_back_pressure():
    received = asyncio.get_event_loop().create_future()

    async def echo_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_request(reader)
        assert b"transfer-encoding: chunked" in head.lower()
        body = b""
        while (size := int((await reader.readuntil(b"\r\n"))[:-2], 16)) != 0:
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
        received.set_result(body)
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        for i in range(50):
            yield bytes([65 + i % 26]) * 20_000

    async with Scripted(echo_length) as server:
        upstream = _upstream()
        try:
            answer = await upstream.send("POST", server.url + "/up", [], parts())
            assert answer.status_code == 201
            assert len(await received) == 50 * 20_000
            await answer.aclose()
        finally:
            await upstream.aclose()


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b"])
async def test_no_header_value_can_break_a_line(value: str):
    upstream = _upstream()
    try:
        with pytest.raises(httpx.LocalProtocolError):
            await upstream.send("GET", "http://127.0.0.1:9/x", [("Authorization", value)])
        assert upstream.open_connections() == 0  # refused before connecting
    finally:
        await upstream.aclose()


async def test_an_answer_sent_before_the_upstream_stops_reading_the_upload_is_kept():
    async def refuse_early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()
        writer.transport.abort()  # stop reading: the rest of the upload is refused

    async def big() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield b"x" * 65536

    async with Scripted(refuse_early) as server:
        upstream = _upstream()
        try:
            answer = await upstream.send("PUT", server.url + "/up", [], big())
            assert answer.status_code == 413 and await answer.aread() == b"{}"
            await answer.aclose()
            assert upstream.open_connections() == 0  # Connection: close is honoured
        finally:
            await upstream.aclose()


async def test_chunks_already_received_are_handed_over_together():
    release = asyncio.Event()
    events = b"".join(b"9\r\ndata: %d\n\n\r\n" % i for i in range(5))
    burst = _in_two_parts(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + events,
                          b"0\r\n\r\n", release)

    async with Scripted(burst) as server:
        upstream = _upstream()
        try:
            answer = await _get(upstream, server.url + "/s")
            chunks = answer.aiter_raw()
            await asyncio.sleep(0.2)  # all five chunks are in before the body is read
            first = await asyncio.wait_for(chunks.__anext__(), 5)  # not waiting for the end
            assert first == b"".join(b"data: %d\n\n" % i for i in range(5))
            release.set()
            assert [c async for c in chunks] == []
            await answer.aclose()
        finally:
            await upstream.aclose()


async def test_what_arrived_before_a_cut_is_handed_over_before_the_error():
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        events = b"".join(b"9\r\ndata: %d\n\n\r\n" % i for i in range(3))
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + events)
        await writer.drain()
        writer.transport.abort()

    async with Scripted(cut) as server:
        upstream = _upstream()
        try:
            answer = await _get(upstream, server.url + "/s")
            await asyncio.sleep(0.2)  # the events and the cut are both in before reading
            got = b""
            with pytest.raises(httpx.ReadError):
                async for chunk in answer.aiter_raw():
                    got += chunk
            assert got == b"".join(b"data: %d\n\n" % i for i in range(3))
            assert upstream.open_connections() == 0
        finally:
            await upstream.aclose()
