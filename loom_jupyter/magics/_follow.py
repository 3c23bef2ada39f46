"""Follow a log stream into one output area: bounded buffer, bounded redraw rate, clean stop.

The stream is read in a helper thread so the kernel's main thread can redraw on a timer
(the last lines of a burst show up even if the weaver then goes quiet) and receives the
KeyboardInterrupt of the stop button. Display calls stay on the main thread.
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any
from collections.abc import Callable, Iterator

from ._display import LiveArea, text_bundle

_END = object()


def format_line(line: Any) -> str:
    """The line's text: the client keeps the timestamp prefix in it only when asked (--timestamps);
    `.timestamp` is parsed either way, so prefixing it here would show it always (and twice)."""
    return str(getattr(line, "text", line))


class LogFollower:
    """Copy `lines` into one LiveArea until the stream ends or the user interrupts."""

    def __init__(self, lines: Iterator[Any], *, hz: float, keep: int,
                 on_line: Callable[[Any], Any] | None = None) -> None:
        self._lines = lines
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._buffer: deque[str] = deque(maxlen=max(1, keep))
        self._on_line = on_line
        self.area = LiveArea(hz)
        self.received = 0
        self._period = 1.0 / hz if hz > 0 else 0.25

    def run(self) -> str:
        """Follow; returns "ended" or "stopped" (interrupted); stream errors are re-raised."""
        reader = threading.Thread(target=self._read, name="loom-log-reader", daemon=True)
        reader.start()
        outcome = "failed"
        try:
            self.area.set(self._render("following… (interrupt the kernel to stop)"))
            outcome = self._pump()
        except KeyboardInterrupt:
            outcome = "stopped"
        finally:
            self._stop.set()
            note = {"ended": "log ended", "stopped": "stopped following (interrupted)"}.get(outcome, "stream failed")
            self.area.set(self._render(f"[{note}; {self.received} lines received]"))
            self.area.flush()
        return outcome

    def _pump(self) -> str:
        while True:
            try:
                item = self._queue.get(timeout=self._period)
            except queue.Empty:
                self.area.flush()
                continue
            if item is _END:
                return "ended"
            if isinstance(item, BaseException):
                raise item
            self.received += 1
            if self._on_line is not None:
                self._on_line(item)
            self._buffer.append(format_line(item))
            # Rendered only when the area is actually redrawn (a few times a second), not per line.
            self.area.set(self._following)

    def _following(self) -> dict[str, str]:
        return self._render("following… (interrupt the kernel to stop)")

    def _render(self, footer: str) -> dict[str, str]:
        dropped = self.received - len(self._buffer)
        head = [f"[… {dropped} earlier lines not shown]"] if dropped > 0 else []
        return text_bundle("\n".join([*head, *self._buffer, footer]))

    def _read(self) -> None:
        try:
            for line in self._lines:
                if self._stop.is_set():
                    break
                self._queue.put(line)
        except Exception as exc:
            self._queue.put(exc)
        finally:
            close = getattr(self._lines, "close", None)
            if close is not None:
                close()
            self._queue.put(_END)
