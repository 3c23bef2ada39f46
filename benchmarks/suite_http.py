"""1. Small JSON GET: latency at concurrency 1, throughput at 16 and 64 connections."""
from __future__ import annotations

import psutil

from .context import Bench
from .load import LoadResult, run_load
from .stats import rotation

SECTION = "1. Small JSON GET (`/api/weavers`, empty list)"
PATH = "/api/weavers"


def run(bench: Bench) -> None:
    sizes, results = bench.sizes, bench.results
    if sizes.warmup > 0:
        for name in bench.paths:  # first requests pay for imports, pools and caches
            run_load(bench.routes[name], PATH, 4, sizes.warmup)
    p50 = results.metric("get.p50", SECTION, "latency p50, 1 connection", "ms")
    p99 = results.metric("get.p99", SECTION, "latency p99, 1 connection", "ms")
    for round_no in range(sizes.rounds):
        for name in rotation(bench.paths, round_no):
            res = _checked(run_load(bench.routes[name], PATH, 1, sizes.latency_seconds), name)
            p50.add(name, res.p50_ms)
            p99.add(name, res.p99_ms)
        bench.say(f"GET latency round {round_no + 1}: "
                  + ", ".join(f"{n} {p50.samples[n][-1]:.2f} ms" for n in bench.paths))
    for conc in sizes.concurrencies:
        rps = results.metric(f"get.rps{conc}", SECTION, f"throughput, {conc} connections",
                             "req/s", higher_is_better=True)
        tail = results.metric(f"get.p99c{conc}", SECTION, f"latency p99, {conc} connections", "ms")
        cpu = results.metric(f"get.cpu{conc}", SECTION,
                             f"server CPU per request, {conc} connections", "µs",
                             note="CPU time of the proxy process plus the Loom process, divided "
                                  "by requests served: less sensitive to other load on the machine")
        for round_no in range(sizes.rounds):
            for name in rotation(bench.paths, round_no):
                res, spent = _with_cpu(bench, name, conc, sizes.load_seconds)
                rps.add(name, res.rps)
                tail.add(name, res.p99_ms)
                cpu.add(name, spent / res.requests * 1e6)
            bench.say(f"GET c={conc} round {round_no + 1}: "
                      + ", ".join(f"{n} {rps.samples[n][-1]:.0f}/s" for n in bench.paths))


def _with_cpu(bench: Bench, name: str, conc: int, seconds: float) -> tuple[LoadResult, float]:
    """Run the load and return it with the CPU seconds the serving processes spent meanwhile."""
    procs = [psutil.Process(bench.stack.pids[p]) for p in {"direct", name}]
    before = [sum(p.cpu_times()[:2]) for p in procs]
    res = _checked(run_load(bench.routes[name], PATH, conc, seconds), name)
    spent = sum(sum(p.cpu_times()[:2]) - b for p, b in zip(procs, before, strict=True))
    return res, spent


def _checked(res: LoadResult, name: str) -> LoadResult:
    if res.requests == 0:
        raise RuntimeError(f"{name}: no request completed")
    if res.errors:
        raise RuntimeError(f"{name}: {res.errors} of {res.requests} requests failed")
    return res
