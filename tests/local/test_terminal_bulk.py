"""Bulk output through the terminal WebSocket of the local server: every byte, in order.

A weaver `cat`s a big file of numbered lines on a raw PTY; attached WebSocket clients check
that what arrives is the file, byte for byte. The host owning the PTY, the server relaying it
and each WebSocket are flow-controlled end to end: a slow reader slows the weaver (the output
waits in the terminal) instead of losing what it has not read, the log still gets every line,
and a reader that takes nothing at all is let go after the stall time so the weaver goes on.

Short variant by default (48 MiB; a few seconds each); `LOOM_LONG_TESTS=1` adds 256 MiB.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fixtures.loom_server import LocalLoom, running_local_loom
from tests.fixtures.wait import async_read_until

LONG = os.environ.get("LOOM_LONG_TESTS", "") not in ("", "0")
long_only = pytest.mark.skipif(not LONG, reason="long variant: set LOOM_LONG_TESTS=1")

MIB = 1024 * 1024
LINE_BYTES = 64  # "%08d " + filler + "\n": the log's last line says how far the weaver got
SHORT_SIZE = 48 * MIB
LONG_SIZE = 256 * MIB
TERMINALS = 3  # attached at once in the bulk tests
STALL_SECONDS = 6  # the server closes a terminal that reads nothing for this long
PAUSE_SECONDS = 2.0  # the slow reader's pause: well within the stall time
RECV_SECONDS = 30.0  # no single frame may take longer than this to come


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLoom]:
    root = tmp_path_factory.mktemp("terminal-bulk")
    with running_local_loom(root / "data",
                            extra_args=["--attach-stall-seconds", str(STALL_SECONDS)]) as loom:
        yield loom


class Bulk:
    """A file of `size` bytes in numbered lines, and its digest."""

    def __init__(self, directory: Path, size: int) -> None:
        self.lines = size // LINE_BYTES
        self.size = self.lines * LINE_BYTES
        self.path = directory / f"bulk-{size}.txt"
        filler = "x" * (LINE_BYTES - 10)
        digest = hashlib.sha256()
        with self.path.open("wb") as out:
            for first in range(0, self.lines, 10_000):
                block = "".join(f"{i:08d} {filler}\n"
                                for i in range(first, min(first + 10_000, self.lines))).encode()
                out.write(block)
                digest.update(block)
        self.sha256 = digest.hexdigest()


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Bulk:
    return Bulk(tmp_path_factory.mktemp("bulk"), SHORT_SIZE)


def _start_cat(server: LocalLoom, bulk: Bulk) -> str:
    """A weaver that waits (raw terminal, so one byte is enough) and then `cat`s the file."""
    script = f"stty raw -echo; echo ready; head -c 1 >/dev/null; cat {bulk.path}; sleep 120"
    body = {"image": "python:3.12", "org_id": server.org_id, "lifetime_hours": 1,
            "command": ["sh", "-c", script]}
    resp = httpx.post(f"{server.url}/api/weaver", json=body, headers=server.headers(), timeout=30)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _delete(server: LocalLoom, weaver_id: str) -> None:
    httpx.delete(f"{server.url}/api/weaver/{weaver_id}", headers=server.headers(), timeout=10)


async def _attach(server: LocalLoom, weaver_id: str) -> ClientConnection:
    """Attached once the weaver is ready; the replay of `ready` and anything before is read."""
    url = server.url.replace("http://", "ws://") + f"/api/weaver/{weaver_id}/attach"
    ws = await connect(url, additional_headers=server.headers(), max_size=None,
                       compression=None, proxy=None, open_timeout=10, ping_interval=None)
    # Raw mode: no \r added; the newline is read too, so the next byte is the file's first.
    await async_read_until(lambda: asyncio.wait_for(ws.recv(), 0.5), b"ready\n", 15)
    return ws


async def _read_all(ws: ClientConnection, bulk: Bulk, *, pause_after: int | None = None,
                    pause: float = 0.0) -> tuple[int, str]:
    """Bytes received and their sha256, until `bulk.size` (or a frame takes RECV_SECONDS);
    optionally stop reading for `pause` seconds once `pause_after` bytes are in."""
    digest, received = hashlib.sha256(), 0
    while received < bulk.size:
        try:
            message = await asyncio.wait_for(ws.recv(), RECV_SECONDS)
        except (asyncio.TimeoutError, ConnectionClosed):
            break
        data = message if isinstance(message, bytes) else message.encode()
        digest.update(data)
        received += len(data)
        if pause_after is not None and received >= pause_after:
            pause_after = None
            await asyncio.sleep(pause)
    return received, digest.hexdigest()


async def _until_closed(ws: ClientConnection, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.wait_for(ws.recv(), left)
    except ConnectionClosed:
        return
    except asyncio.TimeoutError:
        pass
    raise AssertionError(f"the stalled terminal was still open after {timeout:g} s")


async def _replay(server: LocalLoom, weaver_id: str) -> bytes:
    """What a new terminal gets on attach (the scrollback), until it goes quiet."""
    url = server.url.replace("http://", "ws://") + f"/api/weaver/{weaver_id}/attach"
    got = b""
    async with connect(url, additional_headers=server.headers(), open_timeout=10,
                       proxy=None) as ws:
        try:
            while True:
                message = await asyncio.wait_for(ws.recv(), 1.0)
                got += message if isinstance(message, bytes) else message.encode()
        except asyncio.TimeoutError:
            return got


def _log_lines(server: LocalLoom, weaver_id: str, tail: int) -> list[str]:
    resp = httpx.get(f"{server.url}/api/weaver/{weaver_id}/logs", headers=server.headers(),
                     params={"tail": str(tail), "timestamps": "false", "follow": "false"},
                     timeout=30)
    assert resp.status_code == 200, resp.text
    return [line[len("data: "):] for line in resp.text.splitlines() if line.startswith("data: ")]


def _last_logged(server: LocalLoom, weaver_id: str) -> int:
    """The number of the last line the weaver's log holds (-1: none yet)."""
    lines = [line for line in _log_lines(server, weaver_id, 1) if line[:8].isdigit()]
    return int(lines[-1][:8]) if lines else -1


def _assert_log_complete(server: LocalLoom, weaver_id: str, bulk: Bulk) -> None:
    """The log's window (the last 100,000 lines the server holds) is the file's end, no gaps."""
    numbers = [int(line[:8]) for line in _log_lines(server, weaver_id, 100_000)
               if line[:8].isdigit()]
    assert numbers, "the log holds none of the file"
    assert numbers[-1] == bulk.lines - 1, f"the log ends at line {numbers[-1]}"
    assert numbers == list(range(numbers[0], bulk.lines)), "the log has gaps"


async def test_bulk_output_reaches_every_terminal_byte_for_byte(server, bulk):
    """48 MiB at full speed to several terminals at once: each gets exactly the file. (The
    host used to read the PTY as fast as `cat` wrote and drop a server 8 MiB behind, and the
    server, relaying to several terminals, fell that far behind; it reconnected to the
    scrollback, and everything in between was gone.)"""
    await _bulk_to_terminals(server, bulk)


@long_only
async def test_long_bulk_output_reaches_every_terminal_byte_for_byte(server, tmp_path):
    await _bulk_to_terminals(server, Bulk(tmp_path, LONG_SIZE))


async def _bulk_to_terminals(server: LocalLoom, bulk: Bulk) -> None:
    weaver_id = _start_cat(server, bulk)
    try:
        terminals = [await _attach(server, weaver_id) for _ in range(TERMINALS)]
        start = time.monotonic()
        await terminals[0].send(b"g")
        results = await asyncio.gather(*(_read_all(ws, bulk) for ws in terminals))
        elapsed = time.monotonic() - start
        for received, digest in results:
            assert received == bulk.size, f"{received} of {bulk.size} bytes arrived"
            assert digest == bulk.sha256, "the bytes differ from the file"
        print(f"\n{bulk.size / MIB:g} MiB to {TERMINALS} terminals in {elapsed:.1f} s "
              f"({bulk.size / elapsed / 1e6:.1f} MB/s each)")
        await asyncio.gather(*(ws.close() for ws in terminals))
        _assert_log_complete(server, weaver_id, bulk)
    finally:
        _delete(server, weaver_id)


async def test_a_slow_reader_holds_the_weaver_back_and_misses_nothing(server, bulk):
    """A reader that stops for a while: the weaver waits for it (its log stops well short of
    the end meanwhile), then every byte arrives and the log has every line."""
    weaver_id = _start_cat(server, bulk)
    try:
        ws = await _attach(server, weaver_id)
        await ws.send(b"g")
        reading = asyncio.ensure_future(_read_all(ws, bulk, pause_after=64 * 1024,
                                                  pause=PAUSE_SECONDS))
        await asyncio.sleep(PAUSE_SECONDS * 0.75)  # the reader has paused; the output waits
        held_at = _last_logged(server, weaver_id)
        assert 0 <= held_at < bulk.lines // 2, \
            f"the weaver ran on to line {held_at} of {bulk.lines} while its reader paused"
        received, digest = await reading
        assert received == bulk.size, f"{received} of {bulk.size} bytes arrived"
        assert digest == bulk.sha256, "the bytes differ from the file"
        await ws.close()
        _assert_log_complete(server, weaver_id, bulk)
    finally:
        _delete(server, weaver_id)


async def test_a_reader_that_reads_nothing_is_let_go_and_the_weaver_goes_on(server, bulk):
    """One terminal never reads: after the stall time the server closes it, so the weaver
    finishes and another terminal on it still gets every byte; a new attach works."""
    weaver_id = _start_cat(server, bulk)
    try:
        stuck, reader = await _attach(server, weaver_id), await _attach(server, weaver_id)
        await reader.send(b"g")
        received, digest = await _read_all(reader, bulk)
        assert received == bulk.size, f"{received} of {bulk.size} bytes arrived"
        assert digest == bulk.sha256, "the bytes differ from the file"
        _assert_log_complete(server, weaver_id, bulk)

        await _until_closed(stuck)  # what was queued for it, then the end
        replay = await _replay(server, weaver_id)
        assert replay.endswith(f"{bulk.lines - 1:08d} ".encode() + b"x" * (LINE_BYTES - 10)
                               + b"\n"), "a new terminal does not replay the file's end"
        await reader.close()
    finally:
        _delete(server, weaver_id)

