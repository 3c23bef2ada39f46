"""3. Terminal WebSocket (`/api/weaver/{id}/attach`): keystroke echo round trip, bulk output."""
from __future__ import annotations

import asyncio
import base64
import os
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from .context import Bench
from .stack import Route
from .stats import percentile, rotation

SECTION = "3. Terminal WebSocket (attach)"
# Every byte typed comes straight back through `cat`; `ready` tells us the weaver is set up
# (and gives attach some scrollback to replay, which we drain).
RAW_CAT = "stty raw -echo; echo ready; exec cat"


async def _open(route: Route, weaver_id: str) -> ClientConnection:
    url = f"{route.ws_base}/api/weaver/{weaver_id}/attach"
    return await connect(url, additional_headers=route.headers(), max_size=None,
                         compression=None, proxy=None, open_timeout=30, ping_interval=None)


async def _drain(ws: ClientConnection, quiet: float = 0.3) -> None:
    """Swallow the scrollback replay and anything else until the line is quiet."""
    while True:
        try:
            await asyncio.wait_for(ws.recv(), quiet)
        except asyncio.TimeoutError:
            return


async def _until(ws: ClientConnection, wanted: bytes, timeout: float = 10.0) -> None:
    got = b""
    deadline = time.monotonic() + timeout
    while wanted not in got:
        message = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        got += message if isinstance(message, bytes) else message.encode()


async def _echo_rtts(route: Route, weaver_id: str, keys: int) -> list[float]:
    ws = await _open(route, weaver_id)
    try:
        await _drain(ws)
        for _ in range(3):  # warm up, and make sure the terminal is raw by now
            await ws.send(b".")
            await _until(ws, b".")
        rtts = []
        for i in range(keys):
            key = b"abcdefghijklmnopqrstuvwxyz"[i % 26:i % 26 + 1]
            start = time.perf_counter()
            await ws.send(key)
            await _until(ws, key)
            rtts.append((time.perf_counter() - start) * 1e3)
        return rtts
    finally:
        await ws.close()


async def _bulk(route: Route, weaver_id: str, size: int) -> float:
    ws = await _open(route, weaver_id)
    try:
        await _drain(ws)
        received = 0
        start = time.perf_counter()
        await ws.send(b"g")  # the weaver waits for one byte before `cat`
        while received < size:
            message = await asyncio.wait_for(ws.recv(), 60)
            received += len(message) if isinstance(message, bytes) else len(message.encode())
        return size / (time.perf_counter() - start)
    finally:
        await ws.close()


def make_bulk_file(directory: Path, size: int) -> Path:
    """Printable text (base64 lines) so no byte means anything to the terminal."""
    path = directory / f"bulk-{size}.txt"
    if not path.exists():
        with path.open("wb") as out:
            written = 0
            while written < size:
                block = base64.encodebytes(os.urandom(3 * 1024 * 1024 // 4))[: size - written]
                out.write(block)
                written += len(block)
    return path


def run(bench: Bench) -> None:
    sizes, results = bench.sizes, bench.results
    echo_id = bench.admin.create(["sh", "-c", RAW_CAT])["id"]
    bench.admin.wait_output(echo_id, "ready")
    p50 = results.metric("ws.echo50", SECTION, "keystroke echo round trip p50", "ms")
    p99 = results.metric("ws.echo99", SECTION, "keystroke echo round trip p99", "ms")
    for round_no in range(sizes.rounds):
        for name in rotation(bench.paths, round_no):
            rtts = asyncio.run(_echo_rtts(bench.routes[name], echo_id, sizes.echo_keys))
            p50.add(name, percentile(rtts, 50))
            p99.add(name, percentile(rtts, 99))
        bench.say(f"WS echo round {round_no + 1}: "
                  + ", ".join(f"{p} {p50.samples[p][-1]:.2f} ms" for p in bench.paths))
    bench.admin.delete(echo_id)

    mb = sizes.bulk_bytes / 2**20
    bulk = results.metric("ws.bulk", SECTION, f"bulk output (`cat` of {mb:g} MiB)", "MB/s",
                          higher_is_better=True)
    path = make_bulk_file(bench.stack.home, sizes.bulk_bytes)
    # `ready` only once the terminal is raw: a byte sent before `stty` ran would wait in the
    # line discipline for a newline that never comes (`head -c 1` would never return).
    script = f"stty raw -echo; echo ready; head -c 1 >/dev/null; cat {path}; sleep 120"
    for round_no in range(sizes.bulk_rounds):
        for name in rotation(bench.paths, round_no):
            weaver_id = bench.admin.create(["sh", "-c", script])["id"]
            bench.admin.wait_output(weaver_id, "ready")
            rate = asyncio.run(_bulk(bench.routes[name], weaver_id, sizes.bulk_bytes))
            bulk.add(name, rate / 1e6)
            bench.admin.delete(weaver_id)
        bench.say(f"WS bulk round {round_no + 1}: "
                  + ", ".join(f"{p} {bulk.samples[p][-1]:.1f} MB/s" for p in bench.paths))
