"""Following a weaver's log over a link that cuts every log connection, and through outages.

Issue 14's flaky link: the fault proxy cuts every log connection after 0.15-0.6 s or 2-40 KB,
whichever comes first, while a real weaver prints 2,000 lines at ~500 lines/s (in bursts of
200 with a 0.6 s pause after each: 2,000 lines at 500 lines/s last only 4 s, about 13 cuts of
0.15-0.6 s; the pauses stretch the run to 20+ cuts and let the line rate vary). Each of the four
followers (the SDK, `%loom logs --follow`, LogView and the dashboard's logs) must deliver every
line exactly once and in order through 20+ cuts, and what a reconnect replays must stay within
a few times what it missed. Outages: Loom unreachable while the weaver keeps running (the
proxy refuses everything), the local server stopped and restarted on its data directory, and an
outage long enough for lines to fall out of Loom's log window (reported as one gap).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from loom_jupyter.client import AsyncLoom, LogLine, Loom
from loom_jupyter.client._resume import FLOOR
from loom_jupyter.client.follow import FollowEnded, LogGap, Reconnecting, Resumed
from loom_jupyter.widgets._terminal_relay import Relay
from loom_jupyter.widgets.dashboard import WeaverDashboard
from loom_jupyter.widgets.logs import LogView
from tests.fixtures.wait import wait_until
from tests.magics.conftest import magics, run, shell  # noqa: F401 - fixtures

from .conftest import IMAGE, LONG, unique
from .faultproxy import FaultProxy
from . import test_faults_magics_widgets as behind_proxy

client, ip = behind_proxy.client, behind_proxy.ip  # fixtures: a Loom and a shell behind the proxy

LOGS = r"/logs$"
N = 2000
PAUSE = 0.0018  # with the print itself, ~500 lines/s
BURSTS = {"burst": 200, "rest": 0.6}
MIN_CUTS = 20
# Bytes replayed may be at most REPLAY_RATIO times the bytes missed, plus per reconnect the
# least a resume must replay: the last delivered line (how it knows it reached back) and FLOOR.
REPLAY_RATIO = 3.0
LINE_BYTES = len("2026-01-01T00:00:00.000000000Z line 00000\n")
EXPECTED = [f"line {i:05d}" for i in range(N)]


def paced_script(n: int, pause: float, *, start: float = 1.0, burst: int = 0, rest: float = 0.0,
                 then: str = "") -> list[str]:
    """`line 00000` .. `line n-1`, one every `pause` s after `start` s (and `rest` s more after
    every `burst` lines), then the code `then`."""
    code = (f"import time\ntime.sleep({start})\nfor i in range({n}):\n"
            f" print(f'line {{i:05d}}', flush=True)\n time.sleep({pause})\n"
            f" if {burst} and (i + 1) % {burst or 1} == 0: time.sleep({rest})\n{then}")
    return ["python3", "-c", code]


def flaky(faults: FaultProxy) -> None:
    faults.add("cut_random", "GET", LOGS, times=None, within=(0.15, 0.6), budget=(2_000, 40_000))


def log_cuts(faults: FaultProxy) -> int:
    return sum(1 for path, _, _ in faults.cuts if path.endswith("/logs"))


def lines_of(items: list[Any]) -> list[str]:
    return [item.text for item in items if isinstance(item, LogLine)]


def assert_replay_costs_what_the_gap_costs(items: list[Any]) -> None:
    resumed = [item for item in items if isinstance(item, Resumed)]
    replayed, missed = sum(r.replayed_bytes for r in resumed), sum(r.missed_bytes for r in resumed)
    least = len(resumed) * (1 + FLOOR) * LINE_BYTES
    assert resumed and replayed <= REPLAY_RATIO * missed + least, (replayed, missed, len(resumed))


def printing(client: Loom, n: int = N, pause: float = PAUSE, **kwargs: Any) -> str:
    """A weaver printing `n` lines (by default the flaky-link workload of the module docstring)."""
    kwargs = kwargs or BURSTS if n == N else kwargs
    weaver = client.weavers.create(IMAGE, command=paced_script(n, pause, **kwargs),
                                   tags={"case": unique()}, lifetime_hours=1)
    return str(weaver.id)


# -- the four followers under repeated cuts ----------------------------------------------------

def test_sdk_follow_delivers_every_line_once_through_20_cuts(client, faults):
    weaver_id = printing(client)
    flaky(faults)
    items = list(client.weavers.follow(weaver_id))
    assert lines_of(items) == EXPECTED
    assert log_cuts(faults) >= MIN_CUTS, faults.cuts
    assert sum(isinstance(item, Reconnecting) for item in items) >= MIN_CUTS
    assert not [item for item in items if isinstance(item, LogGap)]
    assert items[-1] == FollowEnded(weaver_id, "succeeded")
    assert_replay_costs_what_the_gap_costs(items)


async def test_async_follow_is_the_same_follow(faults, rel_key):
    async with AsyncLoom(url=faults.url, api_key=rel_key, timeout=10) as loom:
        weaver = await loom.weavers.create(IMAGE, command=paced_script(N, PAUSE, **BURSTS),
                                           tags={"case": unique()}, lifetime_hours=1)
        flaky(faults)
        items = [item async for item in loom.weavers.follow(weaver.id)]
    assert lines_of(items) == EXPECTED and log_cuts(faults) >= MIN_CUTS
    assert items[-1] == FollowEnded(weaver.id, "succeeded")


def test_magic_follow_shows_every_line_once_through_20_cuts(ip, magics, client, faults):  # noqa: F811
    weaver_id = printing(client)
    magics.log_buffer_lines = N + 10
    received: list[str] = []
    magics.hooks["log_line"] = lambda line: received.append(line.text)
    flaky(faults)
    ran = run(ip, f"%loom logs {weaver_id} --follow")
    assert ran.error is None, ran.io.stderr
    assert received == EXPECTED and log_cuts(faults) >= MIN_CUTS
    final = ran.io.outputs[-1].data["text/plain"].splitlines()
    assert final[:-1] == EXPECTED and final[-1] == f"[log ended; {N} lines received]"


def test_log_view_shows_every_line_once_through_20_cuts(client, faults):
    weaver_id = printing(client)
    flaky(faults)
    view = LogView(weaver_id, client, tail=None)
    try:
        wait_until(lambda: view.state, 60, "the log to end", until=lambda s: s == "ended")
        assert view.lines == EXPECTED and view.received == N
        assert log_cuts(faults) >= MIN_CUTS
    finally:
        view.close()


def test_dashboard_logs_show_every_line_once_through_20_cuts(client, faults):
    weaver_id = printing(client)
    dashboard = WeaverDashboard(client, interval=1.0, idle_interval=2.0)
    try:
        flaky(faults)
        view = dashboard.open_logs(weaver_id)
        wait_until(lambda: view.state, 60, "the log to end", until=lambda s: s == "ended")
        assert view.lines == EXPECTED and log_cuts(faults) >= MIN_CUTS
    finally:
        dashboard.close()


# -- outages -------------------------------------------------------------------------------------

OUTAGE = 60.0 if LONG else 3.0
outage_timeout = pytest.mark.timeout(OUTAGE + 120)


def follow_in_thread(loom: Loom, weaver_id: str) -> tuple[list[Any], threading.Thread]:
    items: list[Any] = []

    def follow() -> None:
        items.extend(loom.weavers.follow(weaver_id))  # extend consumes the iterator item by item

    thread = threading.Thread(target=follow, daemon=True, name="test-follow")
    thread.start()
    return items, thread


@outage_timeout
def test_follow_survives_loom_unreachable_while_the_weaver_runs(client, faults):
    """Loom refuses every connection for OUTAGE seconds (60 with LOOM_LONG_TESTS) while the
    weaver keeps printing; the follow keeps trying, then delivers everything, with no gap."""
    n = int((OUTAGE + 4) * 100)
    weaver_id = printing(client, n, 0.009)
    items, thread = follow_in_thread(client, weaver_id)
    wait_until(lambda: len(lines_of(items)), 30, "lines before the outage", until=lambda k: k >= 150)
    faults.down()
    time.sleep(OUTAGE)  # the scenario: Loom stays unreachable this long
    during = [item for item in items if isinstance(item, Reconnecting)]
    faults.up()
    thread.join(OUTAGE + 60)
    assert not thread.is_alive()
    assert lines_of(items) == [f"line {i:05d}" for i in range(n)]
    attempts = [r.attempt for r in during]
    assert attempts[:3] == [1, 2, 3] and all(r.reason == "Loom unreachable" for r in during[1:])
    assert max(r.delay for r in during) <= 5.0
    assert not [item for item in items if isinstance(item, LogGap)]
    assert items[-1] == FollowEnded(weaver_id, "succeeded")
    after = next(item for item in items[items.index(during[-1]):] if isinstance(item, Resumed))
    assert after.missed_bytes > 0 and after.replayed_bytes <= REPLAY_RATIO * after.missed_bytes


@outage_timeout
def test_follow_survives_a_restart_of_the_local_server(loom_server_factory):
    """The local server stops cleanly (which stops its weaver: no --keep-weavers) and
    starts again on the same data directory; the follow waits, then delivers the rest of the
    kept log exactly once and ends with the weaver's end in one line."""
    first = loom_server_factory()
    key = first.make_key("user", name="restart")
    with FaultProxy(first.url) as front, Loom(url=front.url, api_key=key, timeout=10) as loom:
        weaver_id = printing(loom, 20_000, 0.005, start=0.2)
        items, thread = follow_in_thread(loom, weaver_id)
        wait_until(lambda: len(lines_of(items)), 30, "lines before the stop", until=lambda k: k >= 200)
        first.stop()
        time.sleep(OUTAGE)  # the scenario: no Loom at all this long
        second = loom_server_factory(first.data_dir)
        front.retarget(second.url)
        thread.join(60)
        assert not thread.is_alive()
    kept = [line.text for line in Loom(url=second.url, api_key=key).weavers.logs(
        weaver_id, tail=100_000, follow=False)]
    assert len(kept) >= 200 and kept == [f"line {i:05d}" for i in range(len(kept))]
    assert lines_of(items) == kept
    reconnecting = [item for item in items if isinstance(item, Reconnecting)]
    assert len(reconnecting) >= 2 and reconnecting[-1].reason == "Loom unreachable"
    assert items[-1] == FollowEnded(weaver_id, "failed")
    assert str(items[-1]) == f"weaver {weaver_id} failed"


def test_lines_that_fell_out_of_the_log_window_are_one_gap(client, faults, tmp_path: Path):
    """While Loom is unreachable the weaver prints more than the local server's log window
    (100,000 lines); the follow reports one gap with the seconds missed and goes on in order."""
    go, burst_done = tmp_path / "go", tmp_path / "burst-done"
    then = (f"import os\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
            f"for i in range(120_000): print(f'burst {{i:06d}}')\n"
            f"open({str(burst_done)!r}, 'w').close()\n"
            f"for i in range(50):\n print(f'after {{i:02d}}', flush=True)\n time.sleep(0.01)\n")
    weaver_id = printing(client, 200, 0.01, start=0.2, then=then)
    items, thread = follow_in_thread(client, weaver_id)
    wait_until(lambda: lines_of(items)[-1:], 30, "the slow lines", until=lambda t: t == ["line 00199"])
    faults.down()
    go.touch()
    wait_until(burst_done.exists, 60, "the burst to be printed")
    faults.up()
    thread.join(60)
    assert not thread.is_alive()
    gaps = [item for item in items if isinstance(item, LogGap)]
    assert len(gaps) == 1 and gaps[0].seconds > 0 and "\n" not in str(gaps[0])
    lines = lines_of(items)
    cut = items.index(gaps[0])
    before, after = lines_of(items[:cut]), lines_of(items[cut:])
    assert before == [f"line {i:05d}" for i in range(200)]
    first_burst = int(after[0].split()[1])
    assert 0 < first_burst <= 20_000 + 200  # only what Loom no longer held is missing
    assert after == [f"burst {i:06d}" for i in range(first_burst, 120_000)] + \
        [f"after {i:02d}" for i in range(50)]
    assert len(lines) == len(set(lines))
    assert items[-1] == FollowEnded(weaver_id, "succeeded")


# -- the terminal relay: the same reconnect design ------------------------------------------------

def test_terminal_relay_reattaches_through_a_drop_and_an_outage_then_sees_the_exit(client, faults):
    script = "i=0; while [ $i -lt 100 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done"
    weaver = client.weavers.create(IMAGE, command=["sh", "-c", script], tags={"case": unique()},
                                   lifetime_hours=1)
    output, messages, states = bytearray(), [], []

    def emit(content: dict[str, Any], buffers: list[bytes]) -> None:
        messages.append(content)
        output.extend(b"".join(buffers))

    relay = Relay(client, weaver.id, emit, lambda status, _ro: states.append(status))
    relay.start()
    try:
        wait_until(lambda: b"tick 5" in output, 30, "the first ticks")
        assert faults.drop(r"/attach$") == 1
        wait_until(lambda: states[-1:] == ["connected"] and len(output) > 0 and
                   [m for m in messages if m["type"] == "notice"], 30, "the relay to reattach")
        seen = len(output)
        faults.down()
        time.sleep(1.5)  # the scenario: Loom unreachable for a while
        faults.up()
        wait_until(lambda: len(output) > seen + 20, 30, "ticks after the outage")
        wait_until(lambda: states[-1:], 30, "the weaver's exit", until=lambda s: s == ["closed"])
    finally:
        relay.stop()
    notices = [m["text"] for m in messages if m["type"] == "notice"]
    assert notices[0] == "[reconnecting (1): weaver running]"
    unreachable = [n for n in notices if n.endswith(": Loom unreachable]")]
    assert unreachable[:2] == ["[reconnecting (1): Loom unreachable]", "[reconnecting (2): Loom unreachable]"]
    assert messages[-1] == {"type": "exit", "text": "[process exited]"}
    assert b"tick 99" in output
