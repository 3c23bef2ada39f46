"""1. Small JSON GET: latency at concurrency 1, throughput at 16 and 64 connections.

Jupyter's own `api/me` (the floor: same server as ours, same token header) is measured in the
same rotating rounds, so "ours − floor − direct" is what the proxy itself adds to a request.
"""
from __future__ import annotations

import psutil

from .context import Bench
from .load import LoadResult, run_load
from .stack import FLOOR, FLOOR_PATH
from .stats import rotation

SECTION = "1. Small JSON GET (`/api/weavers`, empty list)"
PATH = "/api/weavers"
PATHS = ("direct", FLOOR, "ours", "jsp")
_CPU_NOTE = ("CPU time of the serving processes divided by requests served (proxy paths: the "
             "Jupyter process plus the Loom process; direct: Loom; floor: the Jupyter process "
             "alone): less sensitive to other load on the machine")
_JUPYTER_CPU_NOTE = "the Jupyter process alone (what the proxy and Jupyter spend; no Loom)"


def _path(name: str) -> str:
    return FLOOR_PATH if name == FLOOR else PATH


def run(bench: Bench) -> None:
    sizes, results = bench.sizes, bench.results
    if sizes.warmup > 0:
        for name in PATHS:  # first requests pay for imports, pools and caches
            run_load(bench.routes[name], _path(name), 4, sizes.warmup)
    p50 = results.metric("get.p50", SECTION, "latency p50, 1 connection", "ms", own_cost=True)
    p99 = results.metric("get.p99", SECTION, "latency p99, 1 connection", "ms")
    for round_no in range(sizes.rounds):
        for name in rotation(PATHS, round_no):
            res = _checked(run_load(bench.routes[name], _path(name), 1, sizes.latency_seconds),
                           name)
            p50.add(name, res.p50_ms)
            p99.add(name, res.p99_ms)
        bench.say(f"GET latency round {round_no + 1}: "
                  + ", ".join(f"{n} {p50.samples[n][-1]:.2f} ms" for n in PATHS))
    for conc in sizes.concurrencies:
        first = conc == sizes.concurrencies[0]  # the notes once, on the first concurrency's rows
        rps = results.metric(f"get.rps{conc}", SECTION, f"throughput, {conc} connections",
                             "req/s", higher_is_better=True)
        tail = results.metric(f"get.p99c{conc}", SECTION, f"latency p99, {conc} connections", "ms")
        cpu = results.metric(f"get.cpu{conc}", SECTION,
                             f"server CPU per request, {conc} connections", "µs",
                             note=_CPU_NOTE if first else "", own_cost=True)
        jcpu = results.metric(f"get.jcpu{conc}", SECTION,
                              f"Jupyter process CPU per request, {conc} connections", "µs",
                              note=_JUPYTER_CPU_NOTE if first else "")
        for round_no in range(sizes.rounds):
            for name in rotation(PATHS, round_no):
                res, spent = _with_cpu(bench, name, conc, sizes.load_seconds)
                rps.add(name, res.rps)
                tail.add(name, res.p99_ms)
                cpu.add(name, sum(spent.values()) / res.requests * 1e6)
                if name != "direct":
                    jcpu.add(name, spent[name] / res.requests * 1e6)
            bench.say(f"GET c={conc} round {round_no + 1}: "
                      + ", ".join(f"{n} {rps.samples[n][-1]:.0f}/s" for n in PATHS))


def _serving(name: str) -> set[str]:
    """The processes that serve a request on this path (keys of Stack.pids)."""
    return {name} if name in ("direct", FLOOR) else {"direct", name}


def _with_cpu(bench: Bench, name: str, conc: int,
              seconds: float) -> tuple[LoadResult, dict[str, float]]:
    """Run the load and return it with the CPU seconds each serving process spent meanwhile."""
    procs = {p: psutil.Process(bench.stack.pids[p]) for p in _serving(name)}
    before = {p: sum(proc.cpu_times()[:2]) for p, proc in procs.items()}
    res = _checked(run_load(bench.routes[name], _path(name), conc, seconds), name)
    spent = {p: sum(proc.cpu_times()[:2]) - before[p] for p, proc in procs.items()}
    return res, spent


def _checked(res: LoadResult, name: str) -> LoadResult:
    if res.requests == 0:
        raise RuntimeError(f"{name}: no request completed")
    if res.errors:
        raise RuntimeError(f"{name}: {res.errors} of {res.requests} requests failed")
    return res
