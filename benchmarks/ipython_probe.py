"""Run in a fresh Python: an IPython shell (as in a kernel) timing `%load_ext` and `%loom ...`.

`python -m benchmarks.ipython_probe load_ext|weavers|follow [args]` prints one JSON object on
the last line of stdout. Displays go to a sink that JSON-encodes them, as a kernel's
publisher would, instead of a terminal. The connection comes from LOOM_URL / LOOM_API_KEY.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

T_START = time.perf_counter()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_shell() -> Any:
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Sink(DisplayPublisher):  # type: ignore[misc]
        published = 0
        encoded = 0

        def publish(self, data: Any, metadata: Any = None, source: Any = None, *,
                    transient: Any = None, update: bool = False, **kw: Any) -> None:
            self.published += 1
            self.encoded += len(json.dumps({"data": data, "transient": transient}))

        def clear_output(self, wait: bool = False) -> None:
            pass

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.display_pub = Sink(shell=shell)
    return shell


def load_ext() -> dict[str, Any]:
    shell = make_shell()
    ready = time.perf_counter()
    start = time.perf_counter()
    shell.run_line_magic("load_ext", "loom_jupyter")
    done = time.perf_counter()
    return {"load_ext_ms": (done - start) * 1e3, "shell_ms": (ready - T_START) * 1e3,
            "modules": len(sys.modules)}


def weavers(reps: int, expected: int) -> dict[str, Any]:
    shell = make_shell()
    shell.run_line_magic("load_ext", "loom_jupyter")
    times, rows = [], 0
    for _ in range(reps + 1):
        start = time.perf_counter()
        view = shell.run_line_magic("loom", "weavers")
        shell.display_formatter.format(view)  # what the kernel does with the cell's value
        times.append((time.perf_counter() - start) * 1e3)
        rows = len(view)
    if rows < expected:
        raise SystemExit(f"%loom weavers showed {rows} weavers, expected at least {expected}")
    return {"first_ms": times[0], "warm_ms": sorted(times[1:])[len(times[1:]) // 2],
            "rows": rows}


def follow(weaver_id: str, held: int, total: int, budget: float) -> dict[str, Any]:
    """`%loom logs ID --tail HELD --follow` on a finished weaver, again and again until `total`
    lines went through one process (RSS sampled every total/10 lines): the ingest rate of the
    magic itself, and whether memory stays flat."""
    shell = make_shell()
    shell.run_line_magic("load_ext", "loom_jupyter")
    magics = shell.magics_manager.registry["LoomMagics"]
    step = max(1, total // 10)
    state: dict[str, Any] = {"count": 0, "samples": [], "busy": 0.0}

    def on_line(line: Any) -> None:
        state["count"] += 1
        if state["rep_start"] is None:  # time from the first line: imports and connects aside
            state["rep_start"] = time.perf_counter()
        if state["count"] % step == 0:
            state["samples"].append((state["count"], state["busy"] + time.perf_counter()
                                     - state["rep_start"], rss_mb()))

    magics.hooks["log_line"] = on_line
    base = rss_mb()
    outcome, reps = "ended", 0
    while state["count"] < total:
        if state["busy"] > budget:
            outcome = "stopped at the time budget"
            break
        before = state["count"]
        state["rep_start"] = None
        shell.run_line_magic("loom", f"logs {weaver_id} --tail {held} --follow")
        state["busy"] += time.perf_counter() - (state["rep_start"] or time.perf_counter())
        reps += 1
        if state["count"] - before != held:
            outcome = f"repetition {reps} got {state['count'] - before} of {held} lines"
            break
    received, span = state["count"], state["busy"]
    return {"received": received, "seconds": span, "rate": received / span if span else None,
            "rss_base_mb": base, "samples": state["samples"], "outcome": outcome, "reps": reps,
            "updates": shell.display_pub.published,
            "max_rss_mb": max((s[2] for s in state["samples"]), default=base)}


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "load_ext":
        out = load_ext()
    elif mode == "weavers":
        out = weavers(int(argv[1]), int(argv[2]))
    elif mode == "follow":
        out = follow(argv[1], int(argv[2]), int(argv[3]), float(argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
