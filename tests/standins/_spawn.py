"""Start a stand-in as a child process (`python -m tests.standins ...`) and read its JSON line.

For tests that need the stand-in outside the test process, e.g. a notebook's conftest that
configures a Jupyter server in another process. The child runs in its own process group and is
stopped like the local Loom server (SIGTERM, SIGKILL after 5 s).
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fixtures.loom_server import stop_group

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0


@dataclass
class Spawned:
    """A stand-in process: `url`, `credentials` (as the CLI printed them, kept out of repr)."""

    kind: str
    url: str
    credentials: list[dict[str, str]] = field(repr=False)
    info: dict[str, Any] = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        stop_group(self.process)


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert process.stdout is not None
    deadline, data = time.monotonic() + timeout, b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or process.poll() is not None:
            break
        if select.select([process.stdout], [], [], min(left, 0.2))[0]:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\n", 1)[0] if b"\n" in data else b""


def spawn(kind: str, *args: str, timeout: float = START_TIMEOUT) -> Spawned:
    """`spawn("loom-v1", "--token-lifetime", "2")`: a running stand-in on a free port."""
    with tempfile.TemporaryFile() as log:  # the child keeps its own descriptor
        process = subprocess.Popen([sys.executable, "-m", "tests.standins", kind, *args],
                                   cwd=REPO, stdout=subprocess.PIPE, stderr=log,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        line = _first_line(process, timeout)
        if not line:
            stop_group(process)
            log.seek(0)
            raise RuntimeError(f"{kind} stand-in did not start within {timeout:.0f} s:\n"
                               f"{log.read().decode(errors='replace')[-3000:]}")
    info = json.loads(line)
    return Spawned(kind, info["url"], info["credentials"], info, process)
