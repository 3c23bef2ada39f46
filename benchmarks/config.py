"""How big each measurement is: the full run and the `--smoke` run (seconds, for the tests)."""
from __future__ import annotations

from dataclasses import dataclass, replace

MB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    rounds: int = 3                      # alternations of the three paths per measurement
    warmup: float = 1.0                  # seconds of load per path before measuring
    latency_seconds: float = 3.0         # one closed-loop run at concurrency 1
    load_seconds: float = 3.0            # one run at concurrency 16 / 64
    concurrencies: tuple[int, ...] = (16, 64)
    sse_lines: int = 200_000             # `seq 1 N` followed live through each path
    sse_rounds: int = 2
    ttfe_reps: int = 15                  # first-event timings per path
    tick_events: int = 100               # paced events for the buffering check
    tick_period: float = 0.02
    echo_keys: int = 300                 # single keystrokes per path and round
    bulk_bytes: int = 50 * MB            # `cat` of a file this big through the terminal
    bulk_rounds: int = 2
    load_ext_reps: int = 5
    list_weavers: int = 500
    list_reps: int = 5
    follow_lines: int = 1_000_000
    follow_paths: tuple[str, ...] = ("ours",)
    resume_cuts: int = 3
    resume_paths: tuple[str, ...] = ("direct", "ours", "jsp")
    cut_lines: int = 20_000              # followed while every connection is reset every 0.15-0.6 s


FULL = Sizes()
SMOKE = replace(
    FULL, rounds=1, warmup=0, latency_seconds=1, load_seconds=1, sse_lines=2000,
    sse_rounds=1, ttfe_reps=2, tick_events=8, tick_period=0.02, echo_keys=10,
    bulk_bytes=256 * 1024, bulk_rounds=1, load_ext_reps=1, list_weavers=5, list_reps=1,
    follow_lines=2000, resume_cuts=1, cut_lines=2000,
)
