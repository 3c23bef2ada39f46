"""How much log a reconnect asks for: what the gap should hold, widened at once when it did not.

Loom's log route can only be asked for the last `tail` lines (loom-api.md §4.6), so a resume
guesses how many lines were printed while it was away: the weaver's line rate (by its own
timestamps) times the time since the last line, with a margin and a floor. Of that time, the
part when a stream was open and silent counts only up to IN_FLIGHT (what may have been on its
way when it broke): an open stream that brought nothing means a quiet weaver. When the replay
does not reach back to the last delivered line, the guess was short: it asks again for more at
once, and accepts a gap only when a wider try began later than the last one by more than the
lines printed in between explain (Loom dropped the older lines), or the tail reaches LIMIT.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ._cursor import Key
from .follow import Resumed

FLOOR = 2  # lines asked for however short the gap
IN_FLIGHT = 0.02  # seconds of output that may have been on the way when a stream broke
GUESS_CAP = 20_000  # the first try never asks for more than this
LIMIT = 1_000_000  # widening stops here: in practice all of Loom's log window
MARGIN = 1.5  # ask for this much more than the rate predicts
GROWTH = 2  # a widened try asks for at least this many times the last
WINDOW = 256  # lines the rate is measured over
MIN_SPAN = 0.05  # seconds: a burst on a few timestamps is not an infinite rate


def seconds(key: Key) -> float:
    return key[0].timestamp() + key[1] / 1e9


class LineRate:
    """Lines per second over the last WINDOW lines, by the weaver's own timestamps (a replayed
    burst or a slow reader does not skew it); after `quiet` seconds seen without a line, at
    most one line per `quiet` seconds."""

    def __init__(self) -> None:
        self._stamps: deque[float] = deque(maxlen=WINDOW)

    def add(self, key: Key) -> None:
        self._stamps.append(seconds(key))

    def per_second(self, quiet: float = 0.0) -> float:
        if len(self._stamps) < 2:
            return 0.0
        rate = (len(self._stamps) - 1) / max(self._stamps[-1] - self._stamps[0], MIN_SPAN)
        return min(rate, 1.0 / quiet) if quiet > 0 else rate


class Watch:
    """The time since the last line, split into `watched` (a stream was open and brought
    nothing: the weaver was quiet) and `unwatched` (no stream open: it may have printed)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._line_at = clock()
        self._open_at: float | None = None
        self._watched = 0.0

    def opened(self) -> None:
        self._open_at = self._clock()

    def line(self) -> None:
        self._line_at = self._clock()
        self._watched = 0.0
        if self._open_at is not None:
            self._open_at = self._line_at

    def closed(self, watched: bool = True) -> float:
        """The stream closed; `watched=False`: it broke mid-line, so its silence proves nothing.
        Returns how long it was watched since it opened or brought its last line."""
        seen = self._clock() - self._open_at if self._open_at is not None and watched else 0.0
        self._watched += seen
        self._open_at = None
        return seen

    def split(self) -> tuple[float, float]:
        """(watched, unwatched) seconds since the last line."""
        return self._watched, max(0.0, self._clock() - self._line_at - self._watched)


def first_tail(rate: float, watched: float, unwatched: float, same: int) -> int:
    """The first try of a reconnect: the lines expected while unwatched, and while watched only
    what may have been in flight (with a margin), the delivered lines sharing the cursor's
    timestamp, and a floor."""
    away = unwatched + min(watched, IN_FLIGHT)
    return min(GUESS_CAP, same + round(MARGIN * rate * away) + FLOOR)


@dataclass
class _Try:
    """A try that fell short: when it was asked, for how many lines, and its first line."""

    at: float
    tail: int
    oldest: Key | None


@dataclass
class Resume:
    """One reconnect across its tries: the tail asked for, and what the replay cost."""

    tail: int
    clock: Callable[[], float] = time.monotonic
    widened: int = 0
    replayed_bytes: int = 0
    missed_bytes: int = 0
    seen: int = 0  # lines read on the current try
    started: float = 0.0  # when the current try was asked for
    short: _Try | None = None  # the last try that fell short
    done: bool = False

    def start_try(self) -> None:
        self.seen, self.started = 0, self.clock()

    def read(self, size: int, delivered: bool) -> None:
        """One replayed line: a repeat (or one a short try read in vain), or a missed one."""
        self.seen += 1
        if not delivered:
            self.replayed_bytes += size
        elif self.seen <= self.tail:
            self.missed_bytes += size

    def caught_up(self) -> bool:
        return self.seen >= self.tail

    def widen(self, oldest: Key | None, cursor: Key, short_at: Key, rate: float) -> bool:
        """The try began past the cursor: ask for more (True), or accept the gap (False) when the
        tail is at LIMIT or asking for more no longer reached further back."""
        if self.tail >= LIMIT or self._window_exhausted(oldest, rate):
            return False
        self.short = _Try(self.started, self.tail, oldest)
        missing = round(MARGIN * rate * max(seconds(short_at) - seconds(cursor), 0.0))
        self.tail = min(LIMIT, max(GROWTH * self.tail, self.tail + missing + FLOOR))
        self.widened += 1
        return True

    def _window_exhausted(self, oldest: Key | None, rate: float) -> bool:
        """This try asked for more than the last short one, more than the lines printed in
        between can explain, yet began later: Loom dropped the older lines. (Beginning at the
        same timestamp proves nothing: lines share timestamps, so it may have begun earlier
        among them; the tail keeps growing until it is clear, or reaches LIMIT.)"""
        last = self.short
        if last is None or oldest is None or last.oldest is None or oldest <= last.oldest:
            return False
        printed_between = MARGIN * rate * (self.started - last.at)
        return self.tail - last.tail > printed_between + FLOOR

    def report(self) -> Resumed:
        self.done = True
        return Resumed(self.tail, self.replayed_bytes, self.missed_bytes, self.widened)
