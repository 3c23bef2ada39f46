"""Weaver log streaming: SSE chunks -> complete lines, followed across drops exactly once.

Loom's log SSE carries raw, non-line-aligned chunks of the Kubernetes follow stream (loom-api.md
§4.6, §10.8). We always ask for `timestamps=true` and remember the timestamp of the last line
delivered and how many delivered lines carried it (the cursor). After a drop we reconnect with a
tail sized to the gap (`_resume.py`) and skip the replay up to and including those lines; when
the replay does not reach back that far we ask again, wider, before delivering anything, and
report a `LogGap` only when Loom no longer holds the missing lines. When to reconnect and when
to stop is `follow.reconnect_flow`: never while the weaver is pending or running.

A snapshot (follow=False) asks Loom not to follow, but Loom's route follows anyway (§4.6): it
also stops at the first line stamped after the moment Loom answered, or after IDLE seconds
without log data (`_cursor.SnapshotEnd`); the lines after that point are not part of it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .._base import Call, CloseStream, Emit, Flow, OpenStream, ReadStream, Sleep
from .._errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    LoomError,
    PermissionDeniedError,
    StreamError,
)
from .._cursor import Cursor, Key, LineBuffer, SnapshotEnd, split_timestamp
from .._resume import LineRate, Resume, Watch, first_tail
from .._retry import RetryPolicy, request
from .._sse import SSEDecoder
from ..follow import (
    FollowEnded,
    LogGap,
    Reconnecting,
    Reconnects,
    StatusCheck,
    reconnect_flow,
)
from ..models.weavers import LogLine

log = logging.getLogger("loom_jupyter.client")

READ_TIMEOUT = 60.0  # Loom sends keep-alives every 15 s, so a minute of silence means a dead link
DRAINS = 5  # tries without new lines to read an ended weaver's log to its end after a drop
HEALTHY = 0.1  # seconds a stream must have stayed open and silent for its drop to be a blip
# Seconds without log data after which a snapshot has had the whole replay: a loaded server's
# replay may pause, and a quiet running weaver on a real Loom costs this much.
IDLE = 2.0
ENDED, DROPPED, SHORT = "ended", "dropped", "short"  # how one connection finished
CUT, QUIET = "cut", "quiet"  # ... and how a snapshot's did: past its moment, or IDLE
KEEP_ALIVE = "keep-alive"  # the web UI's convention as a data value; axum sends a comment
UNSURE_TRIES = 3  # widenings to see past a replay that begins on the cursor's own timestamp
_FATAL = (AuthenticationError, PermissionDeniedError, BadRequestError)


@dataclass
class Follow:
    """One follow across its connections: where it is, how fast lines come, what to report."""

    weaver_id: str
    timestamps: bool
    events: bool
    cursor: Cursor = field(default_factory=Cursor)
    rate: LineRate = field(default_factory=LineRate)
    lines: LineBuffer = field(default_factory=LineBuffer)
    resume: Resume | None = None
    progressed: bool = False  # a line was delivered on the current connection
    drains: int = 0  # tries without a line to read an ended weaver's log to its end
    quiet: float = 0.0  # how long the last connection was open and silent before it broke
    oldest: Key | None = None  # the first timestamped line of the current connection
    watch: Watch = field(default_factory=Watch)
    end: SnapshotEnd | None = None  # a snapshot's; a follow has none

    def next_tail(self, asked: int | None) -> int | None:
        """The tail for the next connection (without timestamps: tail=0 avoids repeats)."""
        if self.resume is not None and not self.resume.done:
            return self.resume.tail
        if self.cursor.key is None:
            return 0 if self.cursor.delivered else asked
        watched, unwatched = self.watch.split()
        rate = self.rate.per_second(quiet=watched)
        self.resume = Resume(first_tail(rate, watched, unwatched, self.cursor.same))
        return self.resume.tail

    def start_connection(self) -> None:
        self.lines, self.progressed, self.oldest = LineBuffer(), False, None
        self.cursor.start_resume()
        if self.resume is not None:
            self.resume.start_try()

    def opened(self, handle: Any) -> None:
        """A connection was answered."""
        self.watch.opened()
        if self.end is not None:  # Date: the server's clock, as the lines' stamps are
            self.end.answered(handle.header("date"), datetime.now(timezone.utc))

    def feed(self, text: str) -> Flow[str | None]:
        """Deliver the complete lines of `text`; the outcome that ends this connection, if one
        does: SHORT (drop it and widen) or CUT (the snapshot is complete)."""
        for raw in self.lines.feed(text):
            if (outcome := (yield from self.line(raw))) is not None:
                return outcome
        return None

    def line(self, raw: str) -> Flow[str | None]:
        """Deliver `raw` unless already delivered (or past the snapshot); see `feed`."""
        key, stamp, text = split_timestamp(raw)
        if self.end is not None and self.end.after(key):
            return CUT
        self.oldest = self.oldest or key
        place = self.cursor.place(key)
        widen = False
        if place == "unsure" and key is not None:
            widen = self._unsure(key)
            if not widen:
                self.cursor.trust_start()
                place = self.cursor.place(key)
        elif place == "short" and key is not None:
            widen = yield from self._short(key)
        if self.resume is not None and not self.resume.done:
            self.resume.read(len(raw.encode()) + 1, delivered=place != "old" and not widen)
        if widen:
            return SHORT
        if place != "old":
            self._take(key)
            yield Emit(LogLine(text=raw if self.timestamps else text, timestamp=stamp))
            if self.resume is not None and not self.resume.done and self.resume.caught_up():
                yield from self.event(self.resume.report())
        return None

    def _short(self, key: Key) -> Flow[bool]:
        """The replay began past the cursor: widen (True), or report the gap (False)."""
        cursor, resume = self.cursor.key, self.resume
        assert cursor is not None
        if resume is not None and resume.widen(self.oldest, cursor, key, self.rate.per_second()):
            return True
        yield from self.event(LogGap(_stamp(cursor), _stamp(key)))
        return False

    def _unsure(self, key: Key) -> bool:
        """The replay began on the cursor's timestamp: widen (True) a few times to see a line
        older than it; then trust it (a log that begins there has nothing older to show)."""
        resume = self.resume
        if resume is None or resume.widened >= UNSURE_TRIES:
            return False
        return resume.widen(self.oldest, key, key, self.rate.per_second())

    def _take(self, key: Key | None) -> None:
        self.cursor.take(key)
        self.progressed = True
        self.watch.line()
        if key is not None:
            self.rate.add(key)

    def connection_over(self, outcome: str, in_flight: bool) -> Flow[None]:
        """`in_flight`: it broke mid-way through a line, so its silence proves nothing."""
        self.quiet = self.watch.closed(watched=not in_flight)
        resume = self.resume
        if outcome == SHORT or resume is None or resume.done:
            return
        if resume.seen:
            yield from self.event(resume.report())
        elif not resume.widened:  # it read nothing: guess again, with the time away since
            self.resume = None

    def event(self, event: Any) -> Flow[None]:
        """Hand an event to `weavers.follow`; `weavers.logs` (lines only) logs it instead."""
        if self.events:
            yield Emit(event)
        elif isinstance(event, LogGap):
            log.warning("weaver %s log: %s", self.weaver_id, event)
        elif isinstance(event, Reconnecting):
            log.info("weaver %s log: %s", self.weaver_id, event)


def _stamp(key: Key) -> datetime:
    return key[0].replace(microsecond=key[1] // 1000)


def _read(handle: Any, decoder: SSEDecoder, f: Follow) -> Flow[str]:
    """Deliver lines from one connection until it ends, drops, falls short, or (a snapshot's)
    goes past the snapshot's moment or quiet."""
    outcome = yield from _events(handle, decoder, f)
    if outcome in (SHORT, CUT):
        return outcome
    return (yield from _cut_off(decoder, f)) or outcome


def _events(handle: Any, decoder: SSEDecoder, f: Follow) -> Flow[str]:
    while True:
        try:
            chunk = yield ReadStream(handle)
        except APIConnectionError as exc:  # a snapshot's reads time out after IDLE s
            return QUIET if f.end is not None and isinstance(exc, APITimeoutError) else DROPPED
        if chunk is None:
            return ENDED
        events = decoder.feed(chunk)
        data = decoder.pending or any(event.data != KEEP_ALIVE for event in events)
        if f.end is not None and f.end.idle_after(data):
            return QUIET
        for event in events:
            if event.event == "error":
                log.warning("log stream reported an error: %s", event.data[:200])
                return DROPPED
            if event.data == KEEP_ALIVE:
                continue
            if (outcome := (yield from f.feed(event.data))) is not None:
                return outcome


def _cut_off(decoder: SSEDecoder, f: Follow) -> Flow[str | None]:
    """The whole lines of an event cut off mid-way: all of its fields but the last (which may
    be cut itself). Without this a link that cuts every connection within a few KB would never
    pass a replay sent as one large event (the local server sends up to 512 lines in one)."""
    fields = decoder.cut_off()[:-1]
    return (yield from f.feed("\n".join(fields) + "\n")) if fields else None


def _call(weaver_id: str, tail: int | None, follow: bool) -> Call[Any]:
    params = [("timestamps", "true"), ("follow", "true" if follow else "false")]
    if tail is not None:
        params.insert(0, ("tail", str(tail)))
    return Call("GET", f"/api/weaver/{weaver_id}/logs", params=params, expect="sse",
                headers={"Accept": "text/event-stream"}, read_timeout=READ_TIMEOUT,
                body_read_timeout=None if follow else IDLE, idempotent=True)


def _connection(handle: Any, f: Follow) -> Flow[str]:
    decoder = SSEDecoder()
    outcome = yield from _read(handle, decoder, f)
    yield CloseStream(handle)
    yield from f.connection_over(outcome, in_flight=decoder.pending or f.lines.pending)
    return outcome


def _reopen(f: Follow, tail: int | None, follow: bool) -> Flow[Any]:
    """One try at a new connection (the follow loop does the retrying); None if it failed."""
    call = _call(f.weaver_id, f.next_tail(tail), follow)
    f.start_connection()
    try:
        handle = yield OpenStream(call)
    except _FATAL:
        raise
    except LoomError as exc:
        log.info("reopening the log of weaver %s failed: %s", f.weaver_id, exc)
        return None
    f.opened(handle)
    return handle


def _next_step(outcome: str, f: Follow, reconnects: Reconnects, follow: bool,
               status: StatusCheck, policy: RetryPolicy) -> Flow[Reconnecting | FollowEnded | None]:
    """After a connection: reopen at once (None), after a wait (Reconnecting), or stop."""
    if outcome == SHORT:
        return None
    # A drop after new lines, or after a while of a working, silent followed stream, is a
    # blip: retried at once without asking Loom about the weaver (a clean end is asked about).
    blip = outcome == DROPPED and (f.progressed or (follow and f.quiet >= HEALTHY))
    if f.progressed:
        f.drains = 0
    if f.progressed or blip:
        reconnects.progressed()
    if not follow:  # a snapshot: no weaver to ask about, only drops to survive
        if reconnects.attempt >= policy.max_attempts:
            raise StreamError(f"The log of weaver {f.weaver_id} keeps dropping without new lines.")
        return reconnects.retry("connection lost")
    if blip:
        return reconnects.retry("connection lost")
    step = yield from reconnect_flow(f.weaver_id, status, reconnects)
    if isinstance(step, FollowEnded) and outcome != ENDED and not step.gone and f.drains < DRAINS:
        f.drains += 1  # cut before the end of an ended weaver's log: read the rest first
        return reconnects.retry(f"reading the rest of the log (the weaver {step.status})")
    return step


def logs_flow(weaver_id: str, tail: int | None, timestamps: bool, follow: bool,
              policy: RetryPolicy, status: StatusCheck, *, events: bool = False) -> Flow[None]:
    """Lines (and with `events`, the follow's events) of one weaver; see the module docstring."""
    end = None if follow else SnapshotEnd(IDLE)
    f, reconnects = Follow(weaver_id, timestamps, events, end=end), Reconnects()
    handle = yield from request(_call(weaver_id, tail, follow), policy, stream=True)
    f.opened(handle)
    while True:
        outcome = DROPPED if handle is None else (yield from _connection(handle, f))
        if outcome == CUT:
            return  # what the buffer holds came after the cut
        if outcome in (ENDED, QUIET) and not follow:
            break
        step = yield from _next_step(outcome, f, reconnects, follow, status, policy)
        if isinstance(step, FollowEnded):
            if outcome == ENDED:
                yield from _flush(f)
            yield from f.event(step)
            return
        if step is not None:
            yield from f.event(step)
            if step.delay:
                yield Sleep(step.delay)
        handle = yield from _reopen(f, tail, follow)
    yield from _flush(f)


def _flush(f: Follow) -> Flow[None]:
    """The log's last line when it did not end with a newline (unless past the snapshot)."""
    for raw in f.lines.flush():
        yield from f.line(raw)
