"""Section 5, follow under repeated cuts: the SDK follows a paced weaver through a relay that
resets every connection every 0.15-0.6 s; what it delivers, and what each reconnect replays."""
from __future__ import annotations

import random
import re
import sys
import textwrap
import threading
import time
from typing import Any

from loom_jupyter.client import LogLine, Loom
from loom_jupyter.client.follow import Resumed

from .context import Bench
from .relay import Relay

CUT_EVERY = (0.15, 0.6)  # seconds between two resets of every live connection
BATCH, BATCH_PAUSE = 50, 0.01  # the weaver prints 50 lines, then rests 10 ms: ~5,000 lines/s
_NUM = re.compile(r"n (\d+)")


def _weaver_code(lines: int) -> str:
    return textwrap.dedent(f"""\
        import time
        time.sleep(1.0)
        for i in range({lines}):
            print(f"n {{i}}", flush=True)
            if i % {BATCH} == {BATCH - 1}:
                time.sleep({BATCH_PAUSE})
    """)


class _Cutter(threading.Thread):
    """Resets every connection through the relay at random intervals until told to stop."""

    def __init__(self, relay: Relay, seed: int) -> None:
        super().__init__(daemon=True, name="bench-cutter")
        self.relay, self.rng, self.cuts = relay, random.Random(seed), 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.rng.uniform(*CUT_EVERY)):
            self.cuts += self.relay.cut()


def _follow(url: str, token: str, weaver_id: str,
            lines: int) -> tuple[list[tuple[float, int]], list[Resumed]]:
    arrivals, resumed = [], []
    with Loom(url=url, api_key=token, timeout=30) as client:
        for item in client.weavers.follow(weaver_id, tail=lines):  # every line, however late
            if isinstance(item, LogLine) and (match := _NUM.search(item.text)):
                arrivals.append((time.perf_counter(), int(match.group(1))))
            elif isinstance(item, Resumed):
                resumed.append(item)
    return arrivals, resumed


def measure(bench: Bench, name: str, lines: int, seed: int) -> dict[str, Any]:
    route = bench.routes[name]
    weaver_id = bench.admin.create([sys.executable, "-c", _weaver_code(lines)])["id"]
    with Relay(route.host, route.port) as relay:
        cutter = _Cutter(relay, seed)
        cutter.start()
        try:
            arrivals, resumed = _follow(f"http://127.0.0.1:{relay.port}{route.prefix}",
                                        route.token, weaver_id, lines)
        finally:
            cutter.done.set()
            cutter.join(5)
    numbers = [n for _, n in arrivals]
    span = arrivals[-1][0] - arrivals[0][0] if len(arrivals) > 1 else 0.0
    reconnects = max(len(resumed), 1)
    return {
        "rate": (len(arrivals) - 1) / span if span > 0 else 0.0,
        "cuts": cutter.cuts,
        "replayed": sum(r.replayed_bytes for r in resumed) / reconnects,
        "missed": sum(r.missed_bytes for r in resumed) / reconnects,
        "wrong": len(set(range(lines)) - set(numbers)) + len(numbers) - len(set(numbers))
        + (numbers != sorted(numbers)),
    }
