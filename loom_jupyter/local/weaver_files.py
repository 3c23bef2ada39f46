"""Where a weaver's host keeps its state on disk, and how to tell whether a host still lives.

Per weaver, next to its home directory `<data-dir>/weavers/<id>/`:
`<id>.log` (+ `<id>.log.1` once rotated) the timestamped log, `<id>.host` the host's identity
(pid and start time, the weaver process's pid, the socket), `<id>.exit` how the weaver ended,
`<id>.sock` the host's Unix socket, `<id>.host.log` what the host itself printed.
Standard library only: the host process imports this too.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

# sun_path holds 108 bytes on Linux (104 on macOS); a longer data-dir path gets a private
# temporary directory for the socket instead.
_MAX_SOCKET_PATH = 100


class HostFiles:
    """The paths of one weaver's host state (a plain class: the host imports it, and stays
    smaller without dataclasses)."""

    def __init__(self, dir: Path, weaver_id: str) -> None:
        self.dir, self.weaver_id = dir, weaver_id

    def _named(self, suffix: str) -> Path:
        return self.dir / f"{self.weaver_id}{suffix}"

    @property
    def log(self) -> Path:
        return self._named(".log")

    @property
    def rotated_log(self) -> Path:
        return self._named(".log.1")

    @property
    def record(self) -> Path:
        return self._named(".host")

    @property
    def exit(self) -> Path:
        return self._named(".exit")

    @property
    def host_log(self) -> Path:
        return self._named(".host.log")

    def new_socket_path(self) -> Path:
        """`<id>.sock`, or a fresh private temporary directory's `s` when that path is too long."""
        path = self._named(".sock")
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            return path
        import tempfile  # the server's side only

        return Path(tempfile.mkdtemp(prefix="loom-weaver-")) / "s"

    def read_record(self) -> dict[str, Any] | None:
        return read_json(self.record)

    def read_exit(self) -> dict[str, Any] | None:
        return read_json(self.exit)

    def remove(self) -> None:
        """Everything the host left (the weaver's home is removed by its owner)."""
        record = self.read_record() or {}
        socket = Path(str(record.get("socket") or self._named(".sock")))
        for path in (self.log, self.rotated_log, self.record, self.exit, self.host_log, socket):
            path.unlink(missing_ok=True)
        if socket.parent != self.dir and socket.parent.name.startswith("loom-weaver-"):
            import shutil  # the server's side only

            shutil.rmtree(socket.parent, ignore_errors=True)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Atomically (write a temporary file, then rename): a reader never sees half of it."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(value, out)
    tmp.replace(path)


def start_time(pid: int) -> str | None:
    """When process `pid` started (an opaque token), or None if there is no such process.

    A pid alone is not an identity: after a reboot or a long time it may belong to someone
    else. Linux: field 22 of /proc/<pid>/stat (clock ticks since boot), None for a zombie;
    elsewhere `ps`.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has ended
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except (OSError, IndexError):
        return None
    try:
        out = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True,
                             text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def host_alive(record: dict[str, Any]) -> bool:
    """The host in `record` is still the very process that wrote it."""
    pid, started = record.get("host_pid"), record.get("host_start")
    return isinstance(pid, int) and pid > 0 and started is not None and start_time(pid) == started


def kill_host(record: dict[str, Any]) -> None:
    """SIGKILL a still-living host and its weaver's process group (test and crash cleanup)."""
    if not host_alive(record):
        return
    for target, kill in ((record.get("child_pid"), os.killpg), (record.get("host_pid"), os.kill)):
        if isinstance(target, int) and target > 0:
            try:
                kill(target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
