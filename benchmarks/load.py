"""Closed-loop HTTP load: Debian `wrk` when installed, else an asyncio keep-alive generator.

Both keep `concurrency` connections busy for `duration` seconds and report requests/s and
latency percentiles; the report says which one produced the figures.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

from .rawhttp import Connection
from .stack import Route
from .stats import percentile

WRK = shutil.which("wrk") or ("/usr/bin/wrk" if os.path.exists("/usr/bin/wrk") else None)
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def generator_name() -> str:
    if WRK is not None:
        version = subprocess.run([WRK, "-v"], capture_output=True, text=True).stdout
        match = re.search(r"wrk (\S+)", version)
        return f"wrk {match.group(1) if match else ''}".strip() + f" ({WRK})"
    return "asyncio keep-alive generator (benchmarks/load.py; wrk not installed)"


def run_load(route: Route, path: str, concurrency: int, duration: float) -> LoadResult:
    if WRK:
        return _wrk(route, path, concurrency, duration)
    return asyncio.run(_asyncio_load(route, path, concurrency, duration))


def _wrk(route: Route, path: str, concurrency: int, duration: float) -> LoadResult:
    assert WRK is not None
    header = "Authorization: " + route.headers()["Authorization"]
    cmd = [WRK, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency",  # whole s
           "--timeout", "10s", "-H", header, route.url(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise RuntimeError(f"unexpected wrk output: {out[-800:]}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadResult(float(rps.group(1)), _wrk_pct(out, "50"), _wrk_pct(out, "99"),
                      int(total.group(1)), errors)


def _wrk_pct(out: str, pct: str) -> float:
    match = re.search(rf"^\s*{pct}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {pct}% latency in wrk output: {out[-800:]}")
    return float(match.group(1)) * _UNITS[match.group(2)]


async def _asyncio_load(route: Route, path: str, concurrency: int, duration: float) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    target, headers = route.target(path), route.headers()

    async def worker() -> None:
        nonlocal errors
        conn = await Connection.open(route.host, route.port)
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                status, _ = await conn.get(target, headers)
                latencies.append((time.perf_counter() - start) * 1e3)
                errors += status >= 400
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return LoadResult(len(latencies) / elapsed, percentile(latencies, 50),
                      percentile(latencies, 99), len(latencies), errors)
