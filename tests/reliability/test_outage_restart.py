"""A follow survives an outage of the local Loom server while its weaver keeps running (issue 14).

The server goes away (SIGKILL, or SIGTERM with `--keep-weavers`) for LOOM_OUTAGE_SECONDS (60
with LOOM_LONG_TESTS, 4 otherwise), while the weaver, under its own host, prints a numbered line
every 20 ms. Then a new server starts on the same data directory and the same port, adopts the
weaver, and the SDK's follow (in a thread all along) continues: every line arrives once and in
order, and at most one `LogGap` reports lines that fell out of the log window meanwhile.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from loom_jupyter.client import LogLine, Loom
from loom_jupyter.client.follow import FollowEnded, LogGap, Reconnecting
from loom_jupyter.local.weaver_files import HostFiles, host_alive
from tests.fixtures.wait import wait_until

from .conftest import IMAGE, LONG, unique

OUTAGE = float(os.environ.get("LOOM_OUTAGE_SECONDS") or (60.0 if LONG else 4.0))
PAUSE = 0.02


def _printer(stop_file: Path) -> list[str]:
    """`n 000000`, `n 000001`, ... every PAUSE s until `stop_file` exists, then exit 0."""
    code = (f"import os, time\ni = 0\nwhile not os.path.exists({str(stop_file)!r}):\n"
            f" print(f'n {{i:06d}}', flush=True)\n i += 1\n time.sleep({PAUSE})\n")
    return ["python3", "-c", code]


def _follow_in_thread(loom: Loom, weaver_id: str) -> tuple[list[Any], threading.Thread]:
    items: list[Any] = []

    def follow() -> None:
        items.extend(loom.weavers.follow(weaver_id))  # extend consumes the iterator item by item

    thread = threading.Thread(target=follow, daemon=True, name="test-outage-follow")
    thread.start()
    return items, thread


def _lines(items: list[Any]) -> list[str]:
    return [item.text for item in items if isinstance(item, LogLine)]


def _log_lines(data_dir: Path, weaver_id: str) -> int:
    """How many lines the weaver's host has written to its log file so far."""
    return HostFiles(data_dir / "weavers", weaver_id).log.read_bytes().count(b"\n")


def _numbers(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines]


@pytest.mark.timeout(OUTAGE + 180)
@pytest.mark.parametrize("how", ["sigkill", "sigterm-keep-weavers"])
def test_follow_survives_an_outage_of_the_server_with_the_weaver_running(
        loom_server_factory, tmp_path: Path, how: str):
    extra = ["--keep-weavers"] if how == "sigterm-keep-weavers" else []
    first = loom_server_factory(extra_args=extra)
    key = first.make_key("user", name=f"outage-{unique()}")
    stop_file = tmp_path / "stop"
    with Loom(url=first.url, api_key=key, timeout=10) as loom:
        weaver = loom.weavers.create(IMAGE, command=_printer(stop_file), lifetime_hours=1,
                                     tags={"case": unique()})
        weaver_id = str(weaver.id)
        record = HostFiles(first.data_dir / "weavers", weaver_id).read_record()
        assert record is not None
        items, thread = _follow_in_thread(loom, weaver_id)
        wait_until(lambda: len(_lines(items)), 30, "lines before the outage",
                   until=lambda k: k >= 50)

        if how == "sigkill":
            first.crash()
        else:
            first.stop(keep_hosts=True)
            assert first.process.returncode == 0
        written_at_stop = _log_lines(first.data_dir, weaver_id)
        time.sleep(OUTAGE)  # the scenario: no Loom at all this long
        assert host_alive(record)  # the weaver did not wait for the server...
        assert _log_lines(first.data_dir, weaver_id) >= written_at_stop + OUTAGE / PAUSE / 3
        during = len(_lines(items))

        second = loom_server_factory(first.data_dir, extra_args=["--port", str(first.port)])
        assert second.url == first.url
        wait_until(lambda: len(_lines(items)), 60, "the follow to catch up after the restart",
                   until=lambda k: k >= during + OUTAGE / PAUSE / 3)
        stop_file.touch()
        thread.join(60)
        assert not thread.is_alive()

    kept = httpx.get(f"{second.url}/api/weaver/{weaver_id}/logs", headers=second.headers(),
                     params={"tail": "-1", "follow": "false", "timestamps": "false"},
                     timeout=30).text
    kept_lines = [line[len("data: "):] for line in kept.splitlines()
                  if line.startswith("data: ") and line != "data: "]
    lines, gaps = _lines(items), [item for item in items if isinstance(item, LogGap)]
    numbers = _numbers(lines)
    assert len(numbers) == len(set(numbers)) and numbers == sorted(numbers)  # once, in order
    if kept_lines[0] == "n 000000":  # the window still holds everything: nothing is missing
        assert not gaps and lines == kept_lines
        assert numbers == list(range(len(numbers)))
    else:  # lines fell out of the window: one gap, then everything the server still had
        assert len(gaps) == 1 and "\n" not in str(gaps[0])
        cut = items.index(gaps[0])
        before, after = _numbers(_lines(items[:cut])), _numbers(_lines(items[cut:]))
        assert before == list(range(len(before)))
        assert after == list(range(after[0], after[0] + len(after))) and after[0] > len(before)
    reconnecting = [item for item in items if isinstance(item, Reconnecting)]
    assert reconnecting and reconnecting[-1].reason == "Loom unreachable"
    assert items[-1] == FollowEnded(weaver_id, "succeeded")
    assert len(lines) >= OUTAGE / PAUSE / 2  # the outage's lines came through too
