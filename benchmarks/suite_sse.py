"""2. SSE weaver logs: time to first event, paced events not held back, bulk events/s."""
from __future__ import annotations

import asyncio
import re
import sys
import textwrap
import time

from .context import Bench
from .rawhttp import Connection, SSEStats, read_sse
from .stack import FLOOR, FLOOR_PATH, Route
from .stats import percentile, rotation

SECTION = "2. SSE weaver log stream"
_TICK = re.compile(rb"tick (\d+) ([\d.]+)")


def logs_target(route: Route, weaver_id: str, tail: int) -> str:
    return route.target(f"/api/weaver/{weaver_id}/logs?tail={tail}")


def stream(route: Route, weaver_id: str, tail: int, **kw: object) -> SSEStats:
    return asyncio.run(read_sse(route.host, route.port, logs_target(route, weaver_id, tail),
                                route.headers(), **kw))  # type: ignore[arg-type]


def run(bench: Bench) -> None:
    finished = _live_throughput(bench)
    _replay_throughput(bench, finished)
    _first_event(bench, finished)
    _paced(bench)


def _live_throughput(bench: Bench) -> str:
    """`seq 1 N` started 1.5 s after the stream opens: lines/s while the weaver produces."""
    n, results = bench.sizes.sse_lines, bench.results
    rate = results.metric("sse.live", SECTION, f"live `seq 1 {n}`: lines/s received",
                          "lines/s", higher_is_better=True)
    events = results.metric("sse.live_events", SECTION, f"live `seq 1 {n}`: events/s",
                            "events/s", higher_is_better=True)
    lost = results.metric("sse.live_lost", SECTION, f"live `seq 1 {n}`: lines missing", "lines",
                          note="the local server's log ring holds 100k lines; a reader further "
                               "behind skips ahead")
    weaver_id = ""
    for round_no in range(bench.sizes.sse_rounds):
        for name in rotation(bench.paths, round_no):
            weaver_id = bench.admin.create(["sh", "-c", f"sleep 1.5; seq 1 {n}"])["id"]
            stats = stream(bench.routes[name], weaver_id, 0)
            lines = stats.data_lines - stats.events  # every event ends with an empty data field
            span = (stats.ended or 0) - (stats.first_event or 0)
            if f" {n}\n".encode() not in stats.last:
                raise RuntimeError(f"{name}: the live stream did not end with line {n}")
            rate.add(name, lines / span if span > 0 else float("nan"))
            events.add(name, stats.events / span if span > 0 else float("nan"))
            lost.add(name, n - lines)
        bench.say(f"SSE live round {round_no + 1}: "
                  + ", ".join(f"{p} {rate.samples[p][-1]:.0f} lines/s" for p in bench.paths))
    bench.admin.wait(weaver_id)
    return weaver_id


def _replay_throughput(bench: Bench, weaver_id: str) -> None:
    """The whole held log of a finished weaver (tail=-1): the relay alone, no producer."""
    results = bench.results
    held = min(bench.sizes.sse_lines, 100_000)
    rate = results.metric("sse.replay", SECTION, f"replay {held} held lines: lines/s",
                          "lines/s", higher_is_better=True)
    events = results.metric("sse.replay_events", SECTION, f"replay {held} held lines: events/s",
                            "events/s", higher_is_better=True)
    mbps = results.metric("sse.replay_mb", SECTION, f"replay {held} held lines: MB/s", "MB/s",
                          higher_is_better=True)
    for round_no in range(max(bench.sizes.rounds, 1)):
        for name in rotation(bench.paths, round_no):
            stats = stream(bench.routes[name], weaver_id, -1)
            span = stats.elapsed or float("nan")
            rate.add(name, (stats.data_lines - stats.events) / span)
            events.add(name, stats.events / span)
            mbps.add(name, stats.nbytes / span / 1e6)


def _first_event(bench: Bench, weaver_id: str) -> None:
    """Fresh connection to first `data:` event (tail=10 of a finished weaver); for the floor,
    a fresh connection to Jupyter's whole `api/me` answer, in the same rotation."""
    results = bench.results
    ttfe = results.metric("sse.ttfe", SECTION, "time to first event (new connection), p50", "ms",
                          own_cost=True, note="floor: a new connection to the whole answer of "
                          "Jupyter's `api/me`")
    paths = ("direct", FLOOR, "ours", "jsp")
    samples: dict[str, list[float]] = {p: [] for p in paths}
    for rep in range(bench.sizes.ttfe_reps):
        for name in rotation(paths, rep):
            if name == FLOOR:
                samples[name].append(asyncio.run(_fresh_get(bench.routes[name], FLOOR_PATH)))
                continue
            stats = stream(bench.routes[name], weaver_id, 10)
            samples[name].append((stats.ttfe or float("nan")) * 1e3)
    for name, values in samples.items():
        ttfe.add(name, percentile(values, 50))


async def _fresh_get(route: Route, path: str) -> float:
    """ms from opening a connection to the end of one GET's answer."""
    started = time.perf_counter()
    conn = await Connection.open(route.host, route.port)
    try:
        status, _ = await conn.get(route.target(path), route.headers())
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"{route.name}: GET {path} -> {status}")
    return (time.perf_counter() - started) * 1e3


def _paced(bench: Bench) -> None:
    """A weaver prints `tick i <time>` every period; all three paths read it at once.

    A proxy that buffers would deliver ticks late or several per event."""
    sizes, results = bench.sizes, bench.results
    period_ms = sizes.tick_period * 1e3
    code = textwrap.dedent(f"""\
        import time
        time.sleep(2.0)
        for i in range({sizes.tick_events}):
            print(f"tick {{i}} {{time.time():.6f}}", flush=True)
            time.sleep({sizes.tick_period})
    """)
    weaver_id = bench.admin.create([sys.executable, "-c", code])["id"]
    timeout = 30 + sizes.tick_events * sizes.tick_period * 3

    async def read_all() -> list[SSEStats]:
        return await asyncio.gather(*(
            read_sse(r.host, r.port, logs_target(r, weaver_id, 0), r.headers(), keep_events=True,
                     timeout=timeout) for r in (bench.routes[p] for p in bench.paths)))

    lag50 = results.metric("sse.lag50", SECTION,
                           f"paced events (1 per {period_ms:g} ms): print-to-arrival p50", "ms")
    lagmax = results.metric("sse.lagmax", SECTION, "paced events: worst print-to-arrival", "ms")
    alone = results.metric("sse.alone", SECTION, "paced events delivered one per event", "%",
                           higher_is_better=True)
    for name, stats in zip(bench.paths, asyncio.run(read_all()), strict=True):
        lags, singles = [], 0
        for arrived, block in stats.stamps:
            ticks = _TICK.findall(block)
            singles += len(ticks) == 1
            lags += [(arrived - float(t)) * 1e3 for _, t in ticks]
        if len(lags) != sizes.tick_events:
            raise RuntimeError(f"{name}: {len(lags)} of {sizes.tick_events} paced events arrived")
        lag50.add(name, percentile(lags, 50))
        lagmax.add(name, max(lags))
        alone.add(name, 100.0 * singles / sizes.tick_events)
    bench.say("SSE paced: " + ", ".join(
        f"{p} p50 {lag50.value(p):.2f} ms max {lagmax.value(p):.2f} ms" for p in bench.paths))
