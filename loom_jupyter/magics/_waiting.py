""""waiting for Loom…": one line on stderr once a `%loom` call has been silent for a while.

The dispatcher wraps every call in `watching(...)`. Nothing is shown for a call that answers
(prints, displays or returns) within `after` seconds. Past that, one line appears on stderr; the
first output of the call, or its end, clears it (in a terminal) or ends it with how long the wait
took (in a notebook, where an output line cannot be removed). Output is noticed where it leaves:
`sys.stdout`/`sys.stderr` and the shell's display publisher, so commands need not know about it.
A question to the user (`suspended()`) pauses the clock.
"""
from __future__ import annotations

import contextvars
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from ._display import is_tty

TEXT = "waiting for Loom… (interrupt to stop)"


class Waiting:
    """The line for one call: armed by `start`, shown by a timer, ended by `answered`."""

    def __init__(self, after: float, stream: TextIO, *, text: str = TEXT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.after = after
        self.stream = stream
        self.text = text
        self._clock = clock
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._since = clock()
        self.shown = False
        self.done = False

    def start(self) -> None:
        """Arm (or re-arm) the timer; does nothing when disabled or once answered."""
        with self._lock:
            if self.done or self.after <= 0:
                return
            self._cancel()
            self._since = self._clock()
            # The caller's context: ipykernel routes a stream write to the cell by a ContextVar.
            context = contextvars.copy_context()
            self._timer = threading.Timer(self.after, context.run, (self._show,))
            self._timer.daemon = True
            self._timer.start()

    def pause(self) -> None:
        with self._lock:
            self._cancel()

    def answered(self) -> None:
        """The call produced output or ended: never show the line from now on; end it if shown."""
        with self._lock:
            if self.done:
                return
            self.done = True
            self._cancel()
            if self.shown:
                self._end()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _show(self) -> None:
        with self._lock:
            if self.done or self.shown:
                return
            self.shown = True
            self._write(self.text)

    def _end(self) -> None:
        if is_tty(self.stream):
            self._write("\r\033[K")  # the cursor is still on our line: erase it
        else:
            self._write(f"\rwaited {self._clock() - self._since:.1f} s for Loom\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream: the line is only a courtesy
            pass


class _Tap:
    """A text stream that reports its first write, and otherwise is the stream it wraps."""

    def __init__(self, stream: Any, on_write: Callable[[], None]) -> None:
        self._stream = stream
        self._on_write = on_write

    def write(self, text: str) -> Any:
        if text:
            self._on_write()
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_active: list[Waiting] = []


def answered() -> None:
    """The current call has started to answer (for output that does not pass the taps)."""
    if _active:
        _active[-1].answered()


@contextmanager
def suspended() -> Iterator[None]:
    """Stop the clock while the user is asked something; silence restarts it afterwards."""
    current = _active[-1] if _active else None
    if current is not None:
        current.pause()
    try:
        yield
    finally:
        if current is not None:
            current.start()


@contextmanager
def watching(shell: Any, after: float) -> Iterator[Waiting]:
    """Show "waiting for Loom…" on stderr if the block stays silent for `after` seconds."""
    waiting = Waiting(after, sys.stderr)
    saved_out, saved_err = sys.stdout, sys.stderr
    sys.stdout = _Tap(saved_out, waiting.answered)  # type: ignore[assignment]
    sys.stderr = _Tap(saved_err, waiting.answered)  # type: ignore[assignment]
    untap = _tap_display(shell, waiting.answered)
    _active.append(waiting)
    waiting.start()
    try:
        yield waiting
    finally:
        waiting.answered()
        _active.remove(waiting)
        untap()
        if isinstance(sys.stdout, _Tap) and sys.stdout._stream is saved_out:
            sys.stdout = saved_out
        if isinstance(sys.stderr, _Tap) and sys.stderr._stream is saved_err:
            sys.stderr = saved_err


def _tap_display(shell: Any, on_publish: Callable[[], None]) -> Callable[[], None]:
    """Notice displays (and display updates) of the call; returns how to undo it."""
    publisher = getattr(shell, "display_pub", None)
    if publisher is None:
        return lambda: None
    had_own = "publish" in vars(publisher)
    own = vars(publisher).get("publish")
    inner = publisher.publish

    def publish(*args: Any, **kwargs: Any) -> Any:
        on_publish()
        return inner(*args, **kwargs)

    publisher.publish = publish

    def untap() -> None:
        if had_own:
            publisher.publish = own
        else:
            vars(publisher).pop("publish", None)
    return untap
