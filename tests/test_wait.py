"""The suite's one wait helper (tests/fixtures/wait.py), on a fake clock unless time is the point."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.fixtures.wait import (
    FakeClock,
    async_read_until,
    async_wait_until,
    read_until,
    wait_until,
)


def test_returns_the_first_passing_value_polling_at_the_interval(fake_clock: FakeClock):
    values = iter([0, [], {"ready": True}, "never reached"])
    assert wait_until(lambda: next(values), 5, clock=fake_clock, interval=0.5) == {"ready": True}
    assert fake_clock.slept == [0.5, 0.5] and fake_clock.time == 1.0


def test_times_out_at_the_deadline_naming_what_and_the_last_value(fake_clock: FakeClock):
    calls: list[float] = []

    def probe() -> str:
        calls.append(fake_clock.now())
        return f"status-{len(calls)}"

    with pytest.raises(AssertionError) as info:
        wait_until(probe, 1.0, "the weaver to run", until=lambda s: s == "running",
                   interval=0.3, clock=fake_clock)
    message = str(info.value)
    assert message.startswith("timed out after 1 s waiting for the weaver to run")
    assert message.endswith("last value seen: 'status-5'")
    assert calls == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.0])  # the last try is at the deadline


def test_until_checks_the_value_and_long_values_are_shortened(fake_clock: FakeClock):
    seen = bytearray()

    def grow() -> bytes:
        seen.extend(b"x" * 300)
        return bytes(seen)

    assert len(wait_until(grow, 5, until=lambda s: len(s) >= 900, clock=fake_clock)) == 900
    with pytest.raises(AssertionError) as info:
        wait_until(grow, 0.1, "a needle", until=lambda s: b"needle" in s, clock=fake_clock)
    assert " ... " in str(info.value) and len(str(info.value)) < 600


def _refused() -> None:
    raise ConnectionError("refused")


def test_ignored_exceptions_are_not_yet_and_others_end_the_wait(fake_clock: FakeClock):
    answers = iter([ConnectionError("refused"), ConnectionError("refused"), 200])

    def probe() -> int:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_until(probe, 5, ignoring=(ConnectionError,), clock=fake_clock) == 200
    with pytest.raises(AssertionError, match=r"last value seen: raised ConnectionError\('refused'\)"):
        wait_until(_refused, 0.2, ignoring=(ConnectionError,), clock=fake_clock)
    before = fake_clock.time
    with pytest.raises(KeyError):
        wait_until(lambda: {}["missing"], 5, ignoring=(ConnectionError,), clock=fake_clock)
    assert fake_clock.time == before  # failed at once, without waiting


def test_real_clock_waits_for_another_thread_and_gives_up_on_time():
    flag = threading.Event()
    timer = threading.Timer(0.2, flag.set)
    timer.start()
    assert wait_until(flag.is_set, 10, "the timer") is True
    started = time.monotonic()
    with pytest.raises(AssertionError, match="waiting for nothing; last value seen: False"):
        wait_until(lambda: False, 0.3, "nothing")
    assert 0.3 <= time.monotonic() - started < 5


async def test_async_twin_accepts_sync_and_async_probes(fake_clock: FakeClock):
    box: list[int] = []

    async def fill() -> list[int]:
        box.append(len(box))
        return box if len(box) >= 3 else []

    assert await async_wait_until(fill, 5, clock=fake_clock) == [0, 1, 2]
    assert await async_wait_until(lambda: len(box), 5, until=lambda n: n == 3) == 3
    with pytest.raises(AssertionError, match="waiting for four items; last value seen: 3"):
        await async_wait_until(lambda: len(box), 1, "four items", until=lambda n: n == 4,
                               clock=fake_clock)


async def test_async_twin_lets_other_tasks_run_on_the_real_clock():
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, done.set)
    assert await async_wait_until(done.is_set, 10, "the callback") is True


def test_read_until_collects_across_chunks_and_quiet_reads(fake_clock: FakeClock):
    def quiet() -> bytes:
        raise TimeoutError

    chunks = iter([b"$ echo hel", b"", quiet, "lo-4", b"2\r\n$ "])

    def recv() -> bytes | str | None:
        fake_clock.advance(0.5)  # a real recv waits up to its own timeout
        chunk = next(chunks)
        return chunk() if callable(chunk) else chunk

    assert read_until(recv, b"hello-42", 10, clock=fake_clock) == b"$ echo hello-42\r\n$ "


def test_read_until_fails_at_the_end_of_the_stream_and_on_timeout(fake_clock: FakeClock):
    chunks = iter([b"partial output", None])
    with pytest.raises(AssertionError, match=r"stream ended before b'DONE' to arrive; "
                                             r"it ended with: b'partial output'"):
        read_until(lambda: next(chunks), b"DONE", 10, clock=fake_clock)

    def silent() -> bytes:
        fake_clock.advance(0.5)
        return b"."

    with pytest.raises(AssertionError, match=r"waiting for the prompt; last value seen: b'\.{4}'"):
        read_until(silent, "$ ", 2, "the prompt", clock=fake_clock)


async def test_async_read_until_any_of_several_needles(fake_clock: FakeClock):
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    for chunk in (b"THERE", b"-4\n", None):
        queue.put_nowait(chunk)
    seen = await async_read_until(queue.get, (b"GONE-4", b"THERE-4"), 5, clock=fake_clock)
    assert seen == b"THERE-4\n"
    with pytest.raises(AssertionError, match=r"stream ended before one of \(b'more', b'less'\)"):
        await async_read_until(queue.get, (b"more", "less"), 5, clock=fake_clock)
