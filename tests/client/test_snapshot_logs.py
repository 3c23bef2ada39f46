"""Log snapshots (`weavers.logs(id, follow=False)`) end on a Loom whose log route follows whatever
it is asked (loom-api.md §4.6), and keep every line on one that honours follow=false.

The "logs-always-follow*" scenarios (variant_scenarios.py) replay the tail and then never end:
new lines every 50 ms, or only keep-alives, or no byte at all for 15 s. A snapshot stops at the
first line stamped after the moment Loom answered (its Date header, give or take that header's
second) or after an idle spell with no log data; the old code read on until the timeout.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from loom_jupyter.client import Loom
from loom_jupyter.client.resources.logs import IDLE
from loom_jupyter.magics.commands.logs import read
from tests.client.variant_app import log_lines
from tests.client.variant_scenarios import SKEW
from tests.fixtures.wait import wait_until

REPLAY = [raw.split(" ", 1)[1] for raw in log_lines(40)]
WITHIN = IDLE + 8.0  # a snapshot of a never-ending stream ends (the old code read on and on)
DATE_SECOND = timedelta(seconds=1, milliseconds=50)  # the Date header's resolution, and slack
LIVE = {"logs-always-follow": timedelta(0), "logs-always-follow-skewed": SKEW,
        "logs-always-follow-nodate": timedelta(0)}
QUIET = ["logs-always-follow-quiet", "logs-always-follow-silent"]

pytestmark = pytest.mark.timeout(30)


class Timed:
    """The items of one snapshot, when the first arrived (after Loom answered) and how long it
    all took."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.started = time.monotonic()
        self.first_at: datetime | None = None
        self.seconds = 0.0

    def add(self, item: Any) -> None:
        self.first_at = self.first_at or datetime.now(timezone.utc)
        self.items.append(item)

    def done(self) -> Timed:
        self.seconds = time.monotonic() - self.started
        return self

    @property
    def texts(self) -> list[str]:
        return [line.text for line in self.items]


def snapshot(client: Loom, **kwargs: Any) -> Timed:
    timed = Timed()
    for line in client.weavers.logs("w1", follow=False, **kwargs):
        timed.add(line)
    return timed.done()


async def asnapshot(make: Callable[..., Any], name: str, **kwargs: Any) -> Timed:
    timed = Timed()
    async with make(name) as client:
        async for line in client.weavers.logs("w1", follow=False, **kwargs):
            timed.add(line)
    return timed.done()


def check_live(timed: Timed, replay: list[str], skew: timedelta) -> None:
    """The replay, then at most the live lines stamped before Loom answered (on its clock)."""
    assert timed.seconds < WITHIN
    assert timed.texts[:len(replay)] == replay
    live = timed.items[len(replay):]
    assert [line.text for line in live] == [f"live {i}" for i in range(len(live))]
    assert timed.first_at is not None
    answered_by = timed.first_at + skew + DATE_SECOND
    assert all(line.timestamp <= answered_by for line in live), (live[-1], answered_by)


@pytest.mark.parametrize("name", list(LIVE))
def test_snapshot_of_a_stream_that_goes_on_printing_ends_at_the_answer(variant, variants, name):
    printed = variants.state[name + ":live"]
    before = len(printed)
    check_live(snapshot(variant(name)), REPLAY, LIVE[name])
    # it ended by the stamps, not by the stream: the server went on printing after the cut
    assert len(printed) - before > 0


@pytest.mark.parametrize("name", list(LIVE))
async def test_async_snapshot_of_a_stream_that_goes_on_printing_ends_at_the_answer(avariant, name):
    check_live(await asnapshot(avariant, name), REPLAY, LIVE[name])


@pytest.mark.parametrize("name", QUIET)
def test_snapshot_of_a_stream_that_goes_quiet_ends_after_an_idle_spell(variant, name):
    timed = snapshot(variant(name))
    assert timed.texts == REPLAY and timed.seconds < WITHIN


@pytest.mark.parametrize("name", QUIET)
async def test_async_snapshot_of_a_stream_that_goes_quiet_ends_after_an_idle_spell(avariant, name):
    timed = await asnapshot(avariant, name)
    assert timed.texts == REPLAY and timed.seconds < WITHIN


def test_snapshot_tail_on_a_following_loom(variant):
    check_live(snapshot(variant("logs-always-follow"), tail=5), REPLAY[-5:], timedelta(0))
    assert snapshot(variant("logs-always-follow-quiet"), tail=5).texts == REPLAY[-5:]


def test_magic_snapshot_counts_what_it_returned(variant):
    """`%loom logs` reads through magics.commands.logs.read: its count is of the lines kept."""
    whole = read(variant("logs-always-follow-quiet").weavers, "w1", None)
    assert len(whole.lines) == 40 and whole.count(40) == "40 of 40 lines"
    tail = read(variant("logs-always-follow-quiet").weavers, "w1", 10)
    assert [line.text for line in tail.lines] == REPLAY[-10:] and tail.more_before


# -- the local server honours follow=false --------------------------------------------------------

PRINTER = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done"


def test_snapshot_of_a_running_weaver_on_the_local_server(loom_server):
    """A running weaver's snapshot returns what it printed so far, in order, without a gap."""
    with Loom(loom_server.url, loom_server.make_key("user"), timeout=10) as user:
        weaver = user.weavers.create("local", command=["sh", "-c", PRINTER], lifetime_hours=1)
        try:
            user.weavers.wait(weaver.id, timeout=30)
            wait_until(lambda: len(list(user.weavers.logs(weaver.id, tail=40, follow=False))) >= 40,
                       30, "40 lines printed")
            started = time.monotonic()
            texts = [line.text for line in user.weavers.logs(weaver.id, follow=False)]
            assert time.monotonic() - started < WITHIN
            assert len(texts) >= 40 and texts == [f"line {i}" for i in range(1, len(texts) + 1)]
        finally:
            user.weavers.delete(weaver.id)
