"""4. Magics in a fresh IPython: `%load_ext` cold, `%loom weavers` with many weavers, log follow."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from .context import Bench
from .stack import Route, child_env
from .stats import rotation

SECTION = "4. Magics (fresh IPython process)"
ROOT = Path(__file__).resolve().parents[1]


def probe(bench: Bench, route: Route | None, *args: str, timeout: float = 600) -> dict[str, Any]:
    env = child_env(bench.stack.home / "probe")
    if route is not None:
        env.update({"LOOM_URL": route.base, "LOOM_API_KEY": route.token})
    proc = subprocess.run([sys.executable, "-m", "benchmarks.ipython_probe", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"ipython probe {args[0]} failed ({proc.returncode}): "
                           f"{(proc.stderr or proc.stdout)[-1500:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run(bench: Bench) -> None:
    _load_ext(bench)
    _weavers(bench)
    _follow(bench)


def _load_ext(bench: Bench) -> None:
    metric = bench.results.metric("mg.load_ext", SECTION, "`%load_ext loom_jupyter`, cold", "ms",
                                  note="no network; shown in the ours column")
    shell = bench.results.metric("mg.shell", SECTION, "(for scale) Python + IPython shell start",
                                 "ms", note="no network; shown in the ours column")
    for _ in range(bench.sizes.load_ext_reps):
        out = probe(bench, None, "load_ext")
        metric.add("ours", out["load_ext_ms"])
        shell.add("ours", out["shell_ms"])
    bench.say(f"%load_ext: {metric.value('ours'):.1f} ms")


def _weavers(bench: Bench) -> None:
    wanted = bench.sizes.list_weavers
    have = len(httpx.get(bench.routes["direct"].url("/api/weavers"),
                         headers=bench.routes["direct"].headers(), timeout=60,
                         trust_env=False).json()["weavers"])
    with ThreadPoolExecutor(4) as pool:  # `true` ends at once: they stay listed as succeeded
        list(pool.map(lambda _: bench.admin.create(["true"], {"list": "1"}),
                      range(max(0, wanted - have))))
    bench.stack.remember_weaver_processes()
    first = bench.results.metric("mg.weavers_first", SECTION,
                                 f"`%loom weavers` ({wanted} weavers), first call", "ms")
    warm = bench.results.metric("mg.weavers_warm", SECTION,
                                f"`%loom weavers` ({wanted} weavers), later calls", "ms")
    for round_no in range(max(1, bench.sizes.rounds - 1)):
        for name in rotation(bench.paths, round_no):
            out = probe(bench, bench.routes[name], "weavers", str(bench.sizes.list_reps),
                        str(wanted))
            first.add(name, out["first_ms"])
            warm.add(name, out["warm_ms"])
    bench.say("%loom weavers: " + ", ".join(
        f"{p} {warm.value(p):.0f} ms" for p in bench.paths))


def _follow(bench: Bench) -> None:
    """The local server keeps 100k lines per weaver, and a live `seq` outruns any reader, so
    the magic re-follows a finished weaver's held lines until N lines went through it."""
    n = bench.sizes.follow_lines
    held = min(n, 100_000)
    budget = 150.0 if n >= 100_000 else 30.0
    rate = bench.results.metric("mg.follow_rate", SECTION,
                                f"`%loom logs --follow`: lines/s over {n:,} lines", "lines/s",
                                higher_is_better=True)
    growth = bench.results.metric("mg.follow_rss", SECTION,
                                  "`%loom logs --follow`: RSS growth, 10% -> 100% of lines", "MB")
    peak = bench.results.metric("mg.follow_peak", SECTION,
                                "`%loom logs --follow`: peak RSS of the IPython process", "MB")
    weaver_id = bench.admin.create(["seq", "1", str(held)])["id"]
    bench.admin.wait(weaver_id)
    for name in bench.sizes.follow_paths:
        out = probe(bench, bench.routes[name], "follow", weaver_id, str(held), str(n), str(budget))
        samples = out["samples"]
        rate.add(name, out["rate"] or float("nan"))
        if samples:
            growth.add(name, samples[-1][2] - samples[0][2])
            peak.add(name, out["max_rss_mb"])
        if not out["outcome"].startswith(("ended", "stopped")):
            raise RuntimeError(f"%loom logs --follow via {name}: {out['outcome']}")
        bench.results.notes.append(
            f"`%loom logs --follow` via {name}: {out['received']:,} lines in {out['seconds']:.1f} s"
            f" ({out['reps']} follows of {held:,} held lines, {out['outcome']}); "
            f"{out['updates']} display updates; RSS (lines, s, MB): "
            + ", ".join(f"({c:,}, {t:.1f}, {m:.0f})" for c, t, m in samples))
        bench.say(f"follow via {name}: {rate.value(name):.0f} lines/s, {out['outcome']}")
    bench.admin.delete(weaver_id)
