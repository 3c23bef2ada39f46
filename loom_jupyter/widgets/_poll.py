"""Background pollers for widgets: daemon threads with backoff that stop when the widget closes."""

from __future__ import annotations

import threading
from typing import Any
from collections.abc import Callable

__all__ = ["Poller", "Throttle", "close_tree", "start_daemon"]


def start_daemon(target: Callable[[], None], name: str) -> threading.Thread:
    """Start ``target`` in a daemon thread, so a forgotten widget never blocks kernel exit."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


class Poller:
    """Call ``poll()`` every ``interval`` seconds until stopped.

    ``poll`` returns True when it saw a change. Quiet polls stretch the interval towards
    ``idle_interval`` (a dashboard nobody touches should not hammer the server); errors
    double it up to ``max_interval`` and are handed to ``on_error``. Any change, or
    ``trigger()``, snaps back to ``interval``.
    """

    def __init__(
        self,
        poll: Callable[[], bool],
        *,
        interval: float = 2.0,
        idle_interval: float = 10.0,
        max_interval: float = 30.0,
        on_error: Callable[[Exception], None] | None = None,
        name: str = "loom-poller",
    ) -> None:
        self._poll = poll
        self.interval = interval
        self.idle_interval = max(idle_interval, interval)
        self.max_interval = max(max_interval, interval)
        self._on_error = on_error
        self._name = name
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.current_interval = interval

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if not self.running:
            self._stop.clear()
            self._thread = start_daemon(self._run, self._name)

    def stop(self, timeout: float | None = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def trigger(self) -> None:
        """Poll now (e.g. right after the user created or deleted something)."""
        self.current_interval = self.interval
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.current_interval = self._next_interval(self._poll_once())
            self._wake.wait(self.current_interval)
            self._wake.clear()

    def _poll_once(self) -> bool | None:
        try:
            return bool(self._poll())
        except Exception as exc:  # the thread must survive a flaky network
            if self._on_error is not None and not self._stop.is_set():
                self._on_error(exc)
            return None

    def _next_interval(self, changed: bool | None) -> float:
        if changed is None:
            return min(self.current_interval * 2, self.max_interval)
        if changed:
            return self.interval
        return min(self.current_interval * 1.5, self.idle_interval)


class Throttle:
    """Run ``flush()`` at most ``rate`` times per second, only when something is pending.

    Streams (log lines, LLM tokens) arrive far faster than a browser can redraw a widget;
    producers call ``mark()`` and one daemon thread coalesces the redraws.
    """

    def __init__(self, flush: Callable[[], None], *, rate: float = 10.0, name: str = "loom-throttle"):
        self._flush = flush
        self._period = 1.0 / rate
        self._pending = threading.Event()
        self._stop = threading.Event()
        self._thread = start_daemon(self._run, name)

    def mark(self) -> None:
        self._pending.set()

    def stop(self, *, final_flush: bool = False) -> None:
        self._stop.set()
        self._pending.set()
        if self._thread is not threading.current_thread():
            self._thread.join(2.0)
        if final_flush:
            self._flush()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            if self._stop.is_set():
                return
            self._pending.clear()
            try:
                self._flush()
            except Exception:  # a widget torn down mid-flush must not kill the loop
                pass
            self._stop.wait(self._period)


def close_tree(widget: Any) -> None:
    """Close a widget and every descendant, so no comm (or thread behind one) outlives its panel."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()
