"""One local server per data directory (issue 19): a second one is refused in one line naming
the first one's pid and the directory, and changes nothing; a crashed server's lock is gone."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loom_jupyter.local.lock import DataDirBusy, DataDirLock
from tests.fixtures.loom_server import LocalLoom
from tests.fixtures.wait import wait_until


def _second_server(data_dir: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "loom_jupyter.local", "--host", "127.0.0.1", "--port", "0",
           "--data-dir", str(data_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def _weaver(server: LocalLoom, weaver_id: str) -> dict:
    resp = httpx.get(f"{server.url}/api/weaver/{weaver_id}", headers=server.headers(), timeout=10)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _logs(server: LocalLoom, weaver_id: str) -> str:
    resp = httpx.get(f"{server.url}/api/weaver/{weaver_id}/logs", headers=server.headers(),
                     params={"tail": "-1", "follow": "false", "timestamps": "false"}, timeout=10)
    return resp.text


def test_the_lock_is_exclusive_and_names_its_holder(tmp_path: Path):
    """flock locks belong to an open file, so two locks in one process conflict too."""
    first, second = DataDirLock(tmp_path), DataDirLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(DataDirBusy) as info:
            second.acquire()
        message = str(info.value)
        assert f"pid {os.getpid()}" in message and str(tmp_path) in message
        assert "\n" not in message
    finally:
        first.release()
    second.acquire()  # released: free again
    second.release()


def test_a_second_server_is_refused_and_the_first_ones_weaver_keeps_running(loom_server_factory):
    first = loom_server_factory()
    script = "import time\nfor i in range(100000):\n print(f'tick {i}', flush=True)\n time.sleep(0.05)\n"
    resp = httpx.post(f"{first.url}/api/weaver", headers=first.headers(), timeout=30,
                      json={"image": "python:3.12", "org_id": first.org_id, "lifetime_hours": 1,
                            "command": ["python3", "-c", script]})
    assert resp.status_code == 201, resp.text
    weaver_id = resp.json()["id"]

    result = _second_server(first.data_dir)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"pid {first.process.pid}" in lines[0]
    assert str(first.data_dir.resolve()) in lines[0]
    assert "serving" not in result.stdout

    # Nothing changed for the first server: its weaver runs and still prints.
    assert _weaver(first, weaver_id)["status"] == "running"
    printed = _logs(first, weaver_id).count("tick")
    wait_until(lambda: _logs(first, weaver_id).count("tick"), 10, "more output",
               until=lambda n: n > printed + 5)
    assert _weaver(first, weaver_id)["status"] == "running"

    # A crashed server leaves no stale lock: the next one starts (and finds the weaver).
    first.crash()
    second = loom_server_factory(first.data_dir)
    assert _weaver(second, weaver_id)["status"] == "running"
    assert (first.data_dir / "server.lock").read_text().strip() == str(second.process.pid)
    httpx.delete(f"{second.url}/api/weaver/{weaver_id}", headers=second.headers(), timeout=10)
