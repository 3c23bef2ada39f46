"""Follow a log stream into one output area: bounded buffer, bounded redraw rate, clean stop.

What to show comes from the client's follow (`weavers.follow`): lines, `Reconnecting(n)`
(shown in the footer), a `LogGap` (one line where the lines are missing) and the final
`FollowEnded`. The stream is read in a helper thread so the kernel's main thread can redraw on
a timer (the last lines of a burst show up even if the weaver then goes quiet) and receives the
KeyboardInterrupt of the stop button. Display calls stay on the main thread.

A terminal cannot redraw an output area (each update would be printed whole again), so there
the follower prints each line once, as it comes, and a last line saying how following ended.
"""
from __future__ import annotations

import queue
import threading
from collections import deque
import sys
from collections.abc import Callable, Iterator
from typing import Any

from loom_jupyter.client.follow import FollowEnded, LogGap, Reconnecting, Resumed, render

from ._display import LiveArea, text_bundle, updates_in_place

_END = object()
FOLLOWING = "following… (interrupt the kernel to stop)"
FOLLOWING_TERMINAL = "[following… press Ctrl-C to stop]"


def ended_note(ended: FollowEnded | None) -> str:
    """"log ended", and why when it is not the weaver finishing well."""
    if ended is None or ended.succeeded:
        return "log ended"
    return f"log ended: {ended}"


class LogFollower:
    """Copy `items` (lines and follow events) into one LiveArea until the stream ends or the
    user interrupts; lines are shown with `render(line, timestamps)`."""

    def __init__(self, items: Iterator[Any], *, hz: float, keep: int, timestamps: bool = False,
                 on_line: Callable[[Any], Any] | None = None, in_place: bool | None = None) -> None:
        self._items = items
        self.in_place = in_place  # None: decided when run() starts (by the front end then)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._buffer: deque[str] = deque(maxlen=max(1, keep))
        self._timestamps = timestamps
        self._on_line = on_line
        self._footer = FOLLOWING
        self.area = LiveArea(hz)
        self.received = 0  # lines
        self._appended = 0  # lines and gap notes
        self.ended: FollowEnded | None = None
        self._period = 1.0 / hz if hz > 0 else 0.25

    def run(self) -> str:
        """Follow; returns "ended" or "stopped" (interrupted); stream errors are re-raised."""
        if self.in_place is None:
            self.in_place = updates_in_place()
        reader = threading.Thread(target=self._read, name="loom-log-reader", daemon=True)
        reader.start()
        outcome = "failed"
        try:
            if self.in_place:
                self.area.set(self._following())
            else:
                _write(FOLLOWING_TERMINAL)
            outcome = self._pump()
        except KeyboardInterrupt:
            outcome = "stopped"
        finally:
            self._stop.set()
            note = {"ended": ended_note(self.ended),
                    "stopped": "stopped following (interrupted)"}.get(outcome, "stream failed")
            last = f"[{note}; {self.received} lines received]"
            if self.in_place:
                self.area.set(self._render(last))
                self.area.flush()
            else:
                _write(last)
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
            self._show(item)
            if self.in_place:
                # Rendered only when the area is actually redrawn (a few times a second), not per line.
                self.area.set(self._following)

    def _show(self, item: Any) -> None:
        if isinstance(item, Reconnecting):
            self._footer = f"{render(item)} (interrupt the kernel to stop)"
            if not self.in_place:
                _write(render(item))
        elif isinstance(item, FollowEnded):
            self.ended = item
        elif isinstance(item, LogGap):
            self._append(render(item))
        elif not isinstance(item, Resumed):
            self._line(item)

    def _line(self, line: Any) -> None:
        self.received += 1
        self._footer = FOLLOWING
        if self._on_line is not None:
            self._on_line(line)
        self._append(render(line, self._timestamps))

    def _append(self, text: str) -> None:
        self._appended += 1
        self._buffer.append(text)
        if not self.in_place:
            _write(text)

    def _following(self) -> dict[str, str]:
        return self._render(self._footer)

    def _render(self, footer: str) -> dict[str, str]:
        dropped = self._appended - len(self._buffer)
        head = [f"[… {dropped} earlier lines not shown]"] if dropped > 0 else []
        return text_bundle("\n".join([*head, *self._buffer, footer]))

    def _read(self) -> None:
        try:
            for item in self._items:
                if self._stop.is_set():
                    break
                self._queue.put(item)
        except Exception as exc:
            self._queue.put(exc)
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()
            self._queue.put(_END)


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
