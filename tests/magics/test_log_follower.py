"""`%loom logs --follow`'s area renders the client's follow: lines, reconnects, a gap, the end."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from IPython.utils.capture import capture_output

from loom_jupyter.client import LogLine
from loom_jupyter.client.follow import FollowEnded, LogGap, Reconnecting, Resumed
from loom_jupyter.magics._follow import LogFollower

T0 = datetime(2025, 1, 15, 12, 0, 0, tzinfo=timezone.utc)


def test_follow_area_shows_reconnecting_a_gap_in_one_line_and_why_it_ended(shell):
    seen = []
    items = [LogLine("one", T0), Reconnecting(1, 0.0, "Loom unreachable"), Reconnecting(2, 0.2, "Loom unreachable")]
    items += [LogGap(T0, T0 + timedelta(seconds=42)), Resumed(40, 100, 3000), LogLine("two", T0)]
    items += [FollowEnded("w1", "failed")]

    def paced():  # the reader thread: time for the area to be redrawn while reconnecting
        for item in items:
            yield item
            if isinstance(item, Reconnecting):
                time.sleep(0.2)

    follower = LogFollower(paced(), hz=50, keep=10, timestamps=True, on_line=seen.append)
    footers = []
    real = follower._render
    follower._render = lambda footer: footers.append(footer) or real(footer)
    with capture_output() as io:
        assert follower.run() == "ended"
    shown = io.outputs[-1].data["text/plain"].splitlines()
    assert shown[0] == "2025-01-15T12:00:00.000000Z one"
    assert shown[1].startswith("[gap: 42.0 s of log missed, from 2025-01-15T12:00:00.000000Z")
    assert shown[2:] == ["2025-01-15T12:00:00.000000Z two", "[log ended: weaver w1 failed; 2 lines received]"]
    assert [line.text for line in seen] == ["one", "two"] and follower.received == 2
    assert any(f.startswith("[reconnecting (2): Loom unreachable]") for f in footers)


def test_a_weaver_that_succeeded_ends_as_before(shell):
    follower = LogFollower(iter([LogLine("x"), FollowEnded("w1", "succeeded")]), hz=50, keep=10)
    with capture_output() as io:
        follower.run()
    assert io.outputs[-1].data["text/plain"].splitlines() == ["x", "[log ended; 1 lines received]"]
