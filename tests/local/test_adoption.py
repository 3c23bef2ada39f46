"""Weavers outlive the local server, as pods outlive Loom's API server (issue 14).

Each weaver runs under its own host process. After a crash (SIGKILL) or a stop with
`--keep-weavers`, the next server on the same data directory adopts every weaver whose host
still runs: status, log (same timestamps, plus what was printed meanwhile), attach, delete and
lifetimes all keep working. Only truly lost weavers are `failed`, with a reason; a weaver that
ended while no server watched gets its real exit status. A pid now used by another process is
not taken for a host.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from loom_jupyter.local.weaver_files import HostFiles, host_alive, start_time
from loom_jupyter.local.weaver_logfile import LogReader, LogWriter
from tests.fixtures.loom_server import LocalLoom
from tests.fixtures.wait import read_until, wait_until

COUNTER = ("import time\ni = 0\nwhile True:\n print(f'n {i:06d}', flush=True)\n i += 1\n"
           " time.sleep(0.02)\n")


def _made(server: LocalLoom, command: list[str], **body: Any) -> str:
    payload = {"image": "python:3.12", "org_id": server.org_id, "lifetime_hours": 1,
               "command": command, **body}
    resp = httpx.post(f"{server.url}/api/weaver", json=payload, headers=server.headers(),
                      timeout=30)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _get(server: LocalLoom, weaver_id: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/weaver/{weaver_id}", headers=server.headers(), timeout=10)


def _log(server: LocalLoom, weaver_id: str) -> list[tuple[str, str]]:
    """The whole kept log as (stamp, text), read without following."""
    resp = httpx.get(f"{server.url}/api/weaver/{weaver_id}/logs", headers=server.headers(),
                     params={"tail": "-1", "follow": "false"}, timeout=10)
    assert resp.status_code == 200, resp.text
    data = "".join(line[len("data: "):] + "\n" for line in resp.text.splitlines()
                   if line.startswith("data: "))
    return [tuple(line.split(" ", 1)) for line in data.splitlines() if line]  # type: ignore[misc]


def _record(server: LocalLoom, weaver_id: str) -> dict[str, Any]:
    record = HostFiles(server.data_dir / "weavers", weaver_id).read_record()
    assert record is not None
    return record


def test_a_crash_leaves_the_weaver_running_and_the_next_server_adopts_it(loom_server_factory):
    first = loom_server_factory()
    counter = _made(first, ["python3", "-c", COUNTER])
    shell = _made(first, ["sh", "-i"])
    wait_until(lambda: len(_log(first, counter)), 10, "output", until=lambda n: n >= 20)
    before = _log(first, counter)
    record = _record(first, counter)

    first.crash()
    time.sleep(1.0)  # no server at all; the weaver keeps printing into its host's log
    assert host_alive(record)

    second = loom_server_factory(first.data_dir)
    assert _get(second, counter).json()["status"] == "running"
    after = _log(second, counter)
    assert after[:len(before)] == before  # the same lines with the same timestamps
    assert [text for _, text in after] == [f"n {i:06d}" for i in range(len(after))]
    assert len(after) >= len(before) + 30  # what it printed while no server ran
    wait_until(lambda: len(_log(second, counter)), 10, "new output through the new server",
               until=lambda n: n > len(after))

    url = second.url.replace("http://", "ws://") + f"/api/weaver/{shell}/attach"
    with connect(url, additional_headers=second.headers(), open_timeout=10) as ws:
        ws.send(b"echo adopted-$((40+2))\n")
        assert b"adopted-42" in read_until(lambda: ws.recv(timeout=0.5), b"adopted-42", 15)

    for weaver_id in (counter, shell):
        assert httpx.delete(f"{second.url}/api/weaver/{weaver_id}", headers=second.headers(),
                            timeout=10).status_code == 204
        wait_until(lambda wid=weaver_id: _get(second, wid).status_code, 15,
                   "the weaver to be gone", until=lambda code: code == 404, interval=0.1)
    wait_until(lambda: host_alive(record), 10, "the host to exit", until=lambda alive: not alive)


def test_keep_weavers_leaves_them_running_on_sigterm(loom_server_factory):
    first = loom_server_factory(extra_args=["--keep-weavers"])
    weaver_id = _made(first, ["python3", "-c", COUNTER])
    record = _record(first, weaver_id)
    first.stop(keep_hosts=True)  # SIGTERM: a clean stop, but --keep-weavers
    assert first.process.returncode == 0 and host_alive(record)
    assert "left 1 weaver(s) running" in first.log_text()

    second = loom_server_factory(first.data_dir)  # without the flag: a clean stop stops them
    assert _get(second, weaver_id).json()["status"] == "running"
    second.process.send_signal(signal.SIGTERM)
    second.process.wait(15)
    wait_until(lambda: host_alive(record), 10, "the host to exit", until=lambda alive: not alive)
    third = loom_server_factory(first.data_dir)
    body = _get(third, weaver_id).json()
    assert body["status"] == "failed" and body["reason"] == "stopped with the local server"


def test_ended_and_lost_weavers_get_their_status_and_a_reason(loom_server_factory):
    first = loom_server_factory()
    quitter = _made(first, ["sh", "-c", "echo bye; sleep 1; exit 4"])
    lost = _made(first, ["sleep", "60"])
    lost_record = _record(first, lost)
    first.crash()
    os.killpg(lost_record["child_pid"], signal.SIGKILL)  # a host and its weaver die unseen
    os.kill(lost_record["host_pid"], signal.SIGKILL)
    wait_until(lambda: HostFiles(first.data_dir / "weavers", quitter).read_exit(), 10,
               "the quitter's host to record its exit")
    wait_until(lambda: host_alive(lost_record), 10, "the lost host to die",
               until=lambda alive: not alive)

    second = loom_server_factory(first.data_dir)
    ended = _get(second, quitter).json()
    assert ended["status"] == "failed" and ended["reason"] == "exit code 4"
    assert [text for _, text in _log(second, quitter)] == ["bye"]
    gone = _get(second, lost).json()
    assert gone["status"] == "failed" and gone["reason"].startswith("process lost: ")


def test_a_pid_reused_by_another_process_is_not_adopted(loom_server_factory):
    first = loom_server_factory()
    weaver_id = _made(first, ["sleep", "60"])
    files = HostFiles(first.data_dir / "weavers", weaver_id)
    record = files.read_record()
    assert record is not None
    first.crash()
    # The host first: killed second, it could still record its child's end as a real exit.
    os.kill(record["host_pid"], signal.SIGKILL)
    os.killpg(record["child_pid"], signal.SIGKILL)
    wait_until(lambda: host_alive(record), 10, "the host to die", until=lambda alive: not alive)
    # The recorded pid now names a live process that is not the host (this test's own).
    assert start_time(os.getpid()) is not None
    files.record.write_text(json.dumps({**record, "host_pid": os.getpid(), "child_pid": -1}))

    second = loom_server_factory(first.data_dir)
    body = _get(second, weaver_id).json()
    assert body["status"] == "failed" and body["reason"].startswith("process lost: ")


def test_an_adopted_weaver_still_expires(loom_server_factory):
    first = loom_server_factory()
    weaver_id = _made(first, ["sleep", "120"], lifetime_hours=1)
    record = _record(first, weaver_id)
    first.crash()
    # One "hour" lasts 1 s on the next server, which sweeps every 0.3 s.
    second = loom_server_factory(first.data_dir, extra_args=[
        "--weaver-hour-seconds", "1", "--cleanup-interval", "0.3"])
    wait_until(lambda: _get(second, weaver_id).status_code, 20, "the expired weaver to go",
               until=lambda code: code == 404, interval=0.1)
    wait_until(lambda: host_alive(record), 10, "the host to exit", until=lambda alive: not alive)
    assert not list((second.data_dir / "weavers").glob(f"{weaver_id}*"))


def test_the_log_file_rotates_and_the_reader_follows_without_loss(tmp_path: Path):
    """The host's writer renames a full file to `.1`; a reader that was following finishes the
    old file and goes on in the new one; a fresh reader reads both. Nothing lost or repeated."""
    path, rotated = tmp_path / "w.log", tmp_path / "w.log.1"
    writer = LogWriter(path, rotated, max_file_bytes=4000)
    follower = LogReader(path, rotated)
    assert follower.history() == []
    seen: list[str] = []
    for i in range(300):
        writer.feed(f"line {i:04d}\r\n".encode() if i % 2 else f"line {i:04d}\n".encode())
        if i % 7 == 0:
            seen += [text for _, text in follower.read_new()]
    writer.feed(b"unfinished")
    writer.close()
    seen += [text for _, text in follower.read_new()]
    assert seen == [f"line {i:04d}" for i in range(300)] + ["unfinished"]
    assert rotated.exists() and path.stat().st_size <= 2000 and rotated.stat().st_size <= 2000
    fresh = [text for _, text in LogReader(path, rotated).history()]
    assert fresh and fresh == seen[-len(fresh):]
    stamps = [stamp for stamp, _ in LogReader(path, rotated).history()]
    assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)
