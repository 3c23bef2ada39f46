"""5. Log stream resume: the SDK follows a ticking weaver through a relay we reset mid-stream."""
from __future__ import annotations

import re
import sys
import textwrap
import threading
import time
from typing import Any

from loom_jupyter.client import Loom

from . import follow_cuts
from .context import Bench
from .relay import Relay
from .stats import median, rotation

SECTION = "5. Log stream resume after a forced disconnect (SDK, `weavers.logs(follow=True)`)"
TICK = 0.01
_NUM = re.compile(r"n (\d+)")


class Follower(threading.Thread):
    """Iterates `weavers.logs()` and stamps every line on arrival."""

    def __init__(self, url: str, key: str, weaver_id: str) -> None:
        super().__init__(daemon=True, name="bench-follower")
        self.url, self.key, self.weaver_id = url, key, weaver_id
        self.arrivals: list[tuple[float, int]] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            with Loom(url=self.url, api_key=self.key, timeout=30) as client:
                for line in client.weavers.logs(self.weaver_id, tail=0, follow=True):
                    if match := _NUM.search(line.text):
                        self.arrivals.append((time.perf_counter(), int(match.group(1))))
                    if self.stop.is_set():
                        break
        except BaseException as exc:
            self.error = exc

    def wait_lines(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.arrivals) < count:
            if self.error is not None or time.monotonic() > deadline:
                raise RuntimeError(f"follower got {len(self.arrivals)} lines: {self.error!r}")
            time.sleep(0.01)


def _measure(bench: Bench, name: str, cuts: int) -> dict[str, Any]:
    route = bench.routes[name]
    duration = 4 + cuts * 1.5
    code = textwrap.dedent(f"""\
        import time
        time.sleep(1.0)
        for i in range({int(duration / TICK)}):
            print(f"n {{i}}", flush=True)
            time.sleep({TICK})
    """)
    weaver_id = bench.admin.create([sys.executable, "-c", code])["id"]
    with Relay(route.host, route.port) as relay:
        follower = Follower(f"http://127.0.0.1:{relay.port}{route.prefix}", route.token, weaver_id)
        follower.start()
        follower.wait_lines(30)
        gaps, reconnects = [], []
        for _ in range(cuts):
            time.sleep(0.5)
            accepted, before = len(relay.accepted), len(follower.arrivals)
            cut_at = time.perf_counter()
            if relay.cut() == 0:
                raise RuntimeError(f"{name}: nothing to cut (the stream was not open)")
            deadline = time.monotonic() + 15
            while len(relay.accepted) == accepted or len(follower.arrivals) == before or \
                    follower.arrivals[-1][0] < relay.accepted[accepted]:
                if follower.error is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: no line after the cut ({follower.error!r})")
                time.sleep(0.002)
            reconnected = relay.accepted[accepted]
            first = next(t for t, _ in follower.arrivals[before:] if t >= reconnected)
            gaps.append((first - cut_at) * 1e3)
            reconnects.append((reconnected - cut_at) * 1e3)
        time.sleep(0.3)
        follower.stop.set()
        bench.admin.delete(weaver_id)
        follower.join(15)
    numbers = [n for _, n in follower.arrivals]
    expected = set(range(numbers[0], numbers[-1] + 1)) if numbers else set()
    return {"gaps": gaps, "reconnects": reconnects, "lost": len(expected - set(numbers)),
            "dups": len(numbers) - len(set(numbers))}


def run(bench: Bench) -> None:
    results = bench.results
    cont = results.metric("rs.continue", SECTION, "cut to next new line delivered, median", "ms")
    reconn = results.metric("rs.reconnect", SECTION, "cut to new connection opened, median", "ms")
    lost = results.metric("rs.lost", SECTION, "lines lost / repeated across all cuts", "lines")
    paths = [p for p in bench.paths if p in bench.sizes.resume_paths]
    for round_no in range(1):
        for name in rotation(paths, round_no):
            out = _measure(bench, name, bench.sizes.resume_cuts)
            cont.add(name, median(out["gaps"]))
            reconn.add(name, median(out["reconnects"]))
            lost.add(name, out["lost"] + out["dups"])
            bench.say(f"resume via {name}: {median(out['gaps']):.0f} ms to continue, "
                      f"lost {out['lost']}, repeated {out['dups']}")
    _under_cuts(bench, paths)


def _under_cuts(bench: Bench, paths: list[str]) -> None:
    """The same SDK follow while every connection is reset every 0.15-0.6 s (issue 14)."""
    results, what = bench.results, "follow, every connection reset every 0.15-0.6 s"
    rate = results.metric("rs.cut_rate", SECTION, f"{what}: lines/s delivered (weaver prints "
                          "~5,000/s)", "lines/s", higher_is_better=True)
    replayed = results.metric("rs.cut_replayed", SECTION, f"{what}: bytes replayed per reconnect",
                              "B", note="lines the follow had delivered before, sent again by the "
                              "reconnect's replay (or read by a try that fell short)")
    missed = results.metric("rs.cut_missed", SECTION, f"{what}: bytes missed per reconnect", "B",
                            note="lines printed while disconnected, which the replay brought")
    wrong = results.metric("rs.cut_wrong", SECTION, f"{what}: lines lost / repeated / unordered",
                           "lines")
    for seed, name in enumerate(rotation(paths, 0)):
        out = follow_cuts.measure(bench, name, bench.sizes.cut_lines, seed)
        rate.add(name, out["rate"])
        replayed.add(name, out["replayed"])
        missed.add(name, out["missed"])
        wrong.add(name, out["wrong"])
        bench.say(f"follow under cuts via {name}: {out['rate']:.0f} lines/s, {out['cuts']} cuts, "
                  f"{out['replayed']:.0f} B replayed / {out['missed']:.0f} B missed per reconnect, "
                  f"{out['wrong']} wrong")
