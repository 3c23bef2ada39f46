"""The widgets' background pollers: backoff, wake-up, and stopping for good."""

from __future__ import annotations

import threading

from loom_jupyter.widgets._poll import Poller, Throttle
from tests.fixtures.wait import wait_until


def test_poller_backs_off_on_errors_and_idles_then_snaps_back():
    results = iter([True, False, False, ValueError("down"), ValueError("down"), True])
    seen: list[float] = []
    errors: list[Exception] = []

    def poll() -> bool:
        seen.append(poller.current_interval)
        item = next(results, None)
        if item is None:
            poller.stop(timeout=0)
            return False
        if isinstance(item, Exception):
            raise item
        return item

    poller = Poller(poll, interval=0.01, idle_interval=0.02, max_interval=0.05, on_error=errors.append)
    poller.start()
    wait_until(lambda: not poller.running, timeout=10, what="the poller to stop itself")
    # changed -> base; quiet -> x1.5 up to idle; errors -> x2 up to max; change -> base again
    assert seen == [0.01, 0.01, 0.015, 0.02, 0.04, 0.05, 0.01]
    assert [str(e) for e in errors] == ["down", "down"]


def test_poller_trigger_wakes_a_long_sleep_and_stop_joins():
    calls = threading.Semaphore(0)

    def poll() -> bool:
        calls.release()
        return False

    poller = Poller(poll, interval=60, idle_interval=60)
    poller.start()
    assert calls.acquire(timeout=5)
    poller.trigger()
    assert calls.acquire(timeout=5), "trigger() did not wake the poller"
    poller.stop()
    assert not poller.running


def test_throttle_coalesces_marks_and_stops():
    flushed: list[int] = []
    throttle = Throttle(lambda: flushed.append(1), rate=5)
    for _ in range(1000):
        throttle.mark()
    wait_until(lambda: flushed, what="a flush")
    throttle.stop(final_flush=True)
    assert not throttle._thread.is_alive()
    assert 2 <= len(flushed) < 10  # 1000 marks, a handful of redraws
