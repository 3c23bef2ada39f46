"""The follow design's pure parts (backoff, tail sizing, reach-back, the timestamp rule) and its
one decision (`weavers.reconnect`) against a real local Loom."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from loom_jupyter.client import AsyncLoom, LogLine, Loom
from loom_jupyter.client._resume import (
    FLOOR,
    GROWTH,
    IN_FLIGHT,
    LIMIT,
    MARGIN,
    MIN_SPAN,
    LineRate,
    Resume,
    Watch,
    first_tail,
)
from loom_jupyter.client._sse import SSEDecoder
from loom_jupyter.client.follow import (
    FollowEnded,
    LogGap,
    Reconnecting,
    Reconnects,
    format_stamp,
    render,
)
from loom_jupyter.client.resources.logs import Cursor
from tests.fixtures.wait import FakeClock

T0 = datetime(2025, 1, 15, 12, 0, 0, tzinfo=timezone.utc)


def key(seconds: float) -> tuple[datetime, int]:
    whole = int(seconds)
    return T0 + timedelta(seconds=whole), round((seconds - whole) * 1e9)


# -- when to reconnect ---------------------------------------------------------------------------

def test_reconnects_back_off_capped_with_jitter_and_start_over_after_progress():
    slowest = Reconnects(rng=lambda: 0.0)  # jitter takes nothing off
    waits = [slowest.retry("x").delay for _ in range(9)]
    assert waits == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    quickest = Reconnects(rng=lambda: 1.0)  # jitter takes half off
    assert [quickest.retry("x").delay for _ in range(4)] == [0.0, 0.125, 0.25, 0.5]
    slowest.progressed()
    step = slowest.retry("connection lost")
    assert step == Reconnecting(1, 0.0, "connection lost") and slowest.total == 10
    assert str(step) == "reconnecting (1): connection lost" and render(step) == f"[{step}]"


@pytest.fixture(scope="module")
def loom(loom_server, user_key):
    with Loom(url=loom_server.url, api_key=user_key, timeout=10) as client:
        yield client


def test_reconnect_asks_loom_and_never_gives_up_on_a_running_weaver(loom):
    weaver = loom.weavers.create("python:3.12", command=["sleep", "60"], lifetime_hours=1)
    reconnects = Reconnects(rng=lambda: 0.0)
    steps = [loom.weavers.reconnect(weaver.id, reconnects) for _ in range(8)]
    assert [s.attempt for s in steps] == list(range(1, 9))
    assert {s.reason for s in steps} == {"weaver running"} and steps[-1].delay == 5.0
    loom.weavers.delete(weaver.id)
    ended = loom.weavers.reconnect(weaver.id, reconnects)
    assert ended in (Reconnecting(9, 5.0, "weaver terminating"), FollowEnded(weaver.id, "gone"))


def test_reconnect_stops_on_an_ended_or_deleted_weaver(loom):
    weaver = loom.weavers.create("python:3.12", command=["sh", "-c", "exit 3"], lifetime_hours=1)
    loom.weavers.wait(weaver.id, until="failed", timeout=30)
    ended = loom.weavers.reconnect(weaver.id, Reconnects())
    assert ended == FollowEnded(weaver.id, "failed") and str(ended) == f"weaver {weaver.id} failed"
    loom.weavers.delete(weaver.id)
    gone = loom.weavers.reconnect(weaver.id, Reconnects())
    assert gone.gone and str(gone) == f"weaver {weaver.id} is gone"


async def test_reconnect_keeps_trying_while_loom_is_unreachable(user_key):
    async with AsyncLoom(url="http://127.0.0.1:9", api_key=user_key, timeout=2) as loom:
        reconnects = Reconnects(rng=lambda: 0.0)
        steps = [await loom.weavers.reconnect("01a00000-0000-7000-8000-000000000000", reconnects)
                 for _ in range(3)]
    assert steps == [Reconnecting(1, 0.0, "Loom unreachable"), Reconnecting(2, 0.25, "Loom unreachable"),
                     Reconnecting(3, 0.5, "Loom unreachable")]


# -- how much to ask for ---------------------------------------------------------------------------

def test_line_rate_is_the_weavers_own_and_a_silence_caps_it():
    rate = LineRate()
    for i in range(101):
        rate.add(key(i / 100))  # 100 lines/s by the weaver's clock, however they arrived
    assert rate.per_second() == pytest.approx(100)
    assert rate.per_second(quiet=0.5) == pytest.approx(2)  # half a second of silence seen
    burst = LineRate()
    for _ in range(50):
        burst.add(key(1.0))  # one timestamp: not an infinite rate
    assert burst.per_second() == pytest.approx(49 / MIN_SPAN)


def test_watch_counts_silence_only_while_a_stream_was_open_and_whole():
    clock = FakeClock()
    watch = Watch(clock.now)
    watch.opened()
    clock.advance(1.0)
    assert watch.closed() == 1.0  # open and silent: the weaver was quiet
    clock.advance(2.0)  # no stream: anything may have been printed
    watch.opened()
    clock.advance(0.5)
    assert watch.closed(watched=False) == 0.0  # broke mid-line: its silence proves nothing
    assert watch.split() == (1.0, 2.5)
    watch.opened()
    watch.line()
    clock.advance(0.25)
    assert watch.split() == (0.0, 0.25)


def test_first_tail_is_what_the_gap_should_hold():
    assert first_tail(rate=500, watched=0, unwatched=0.2, same=1) == 1 + round(MARGIN * 100) + FLOOR
    quiet = first_tail(rate=500, watched=3.0, unwatched=0.004, same=1)
    assert quiet == 1 + round(MARGIN * 500 * (0.004 + IN_FLIGHT)) + FLOOR
    assert first_tail(rate=0, watched=0, unwatched=60, same=3) == 3 + FLOOR
    assert first_tail(rate=10_000, watched=0, unwatched=3600, same=1) == 20_000


def test_resume_widens_at_once_and_accepts_a_gap_only_when_wider_reaches_no_further():
    resume = Resume(tail=10)
    cursor, short_at = key(10.0), key(12.0)
    assert resume.widen(key(11.0), cursor, short_at, rate=100) is True
    assert resume.tail == max(GROWTH * 10, 10 + round(MARGIN * 100 * 2) + FLOOR)
    first = resume.tail
    assert resume.widen(key(10.5), cursor, short_at, rate=100) is True  # it reached further back
    assert resume.tail >= GROWTH * first
    assert resume.widen(key(10.5), cursor, short_at, rate=100) is True  # same stamp: unclear
    assert resume.widen(key(10.6), cursor, short_at, rate=100) is False  # older lines dropped
    assert resume.widened == 3
    assert Resume(tail=LIMIT).widen(key(11.0), cursor, short_at, rate=1) is False


def test_a_fast_weaver_moving_the_window_is_not_mistaken_for_a_gap():
    clock = FakeClock()
    resume = Resume(tail=20, clock=clock.now)
    cursor, short_at = key(10.0), key(10.01)
    resume.start_try()
    assert resume.widen(key(10.01), cursor, short_at, rate=5_000)
    clock.advance(0.02)  # 100 lines printed before the wider try was asked for: more than it adds
    resume.start_try()
    assert resume.widen(key(10.03), cursor, short_at, rate=5_000) and resume.widened == 2
    clock.advance(0.001)
    resume.start_try()
    assert not resume.widen(key(10.04), cursor, short_at, rate=5_000)  # now it is the window


def test_resume_counts_repeats_and_missed_lines_of_its_replay():
    resume = Resume(tail=3)
    for size, delivered in ((40, False), (41, True), (42, True), (43, True)):
        resume.read(size, delivered)
    assert resume.caught_up() and resume.report().replayed_bytes == 40
    assert resume.report().missed_bytes == 41 + 42  # the 4th line came after the replay


# -- reach-back ---------------------------------------------------------------------------------------

def test_cursor_says_when_a_replay_begins_past_the_last_delivered_line():
    cursor = Cursor()
    for k in (key(1), key(2), key(2)):
        cursor.take(k)
    cursor.start_resume()
    assert [cursor.place(k) for k in (key(1), key(2), key(2), key(3))] == ["old", "old", "old", "new"]
    cursor.start_resume()
    assert cursor.place(key(3)) == "short"  # the replay began after the cursor
    cursor.start_resume()
    # A replay that begins on the cursor's own timestamp may have begun inside its group:
    assert cursor.place(key(2)) == "unsure"  # ask for more, unless no wider replay can be had
    cursor.trust_start()
    assert [cursor.place(k) for k in (key(2), key(3))] == ["old", "short"]  # 1 of the 2 lines at 2
    cursor.take(key(4))
    cursor.start_resume()
    assert cursor.place(None) == "new"  # a line without a timestamp cannot be placed


def test_sse_decoder_hands_over_the_whole_fields_of_a_cut_event():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\ndata: b\ndata: c") == [] and decoder.pending
    assert decoder.cut_off() == ["a", "b"]  # "c" may be cut itself: never handed over
    named = SSEDecoder()
    named.feed(b"event: error\ndata: boom\n")
    assert named.cut_off() == []


# -- one timestamp rule ---------------------------------------------------------------------------

def test_one_timestamp_rule_for_every_view():
    local = datetime(2025, 1, 15, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    line = LogLine(text="hello", timestamp=local)
    assert format_stamp(local) == "2025-01-15T12:00:00.123456Z"
    assert render(line, timestamps=True) == "2025-01-15T12:00:00.123456Z hello"
    assert render(line) == "hello" and render(LogLine("no stamp"), timestamps=True) == "no stamp"
    gap = LogGap(T0, T0 + timedelta(seconds=12.25))
    assert gap.seconds == 12.25 and "\n" not in render(gap)
    assert render(gap).startswith("[gap: 12.2 s of log missed, from 2025-01-15T12:00:00.000000Z")


def test_reconnect_delays_never_exceed_the_cap():
    reconnects = Reconnects()
    assert max(r.delay for r in itertools.islice(iter(lambda: reconnects.retry(""), None), 50)) <= 5.0
