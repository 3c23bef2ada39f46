"""One server per data directory: an exclusive `flock` on `<data-dir>/server.lock`.

The lock is held for the life of the process and released by the kernel when it ends, however
it ends, so a crashed server never leaves a stale lock behind. The holder writes its pid into
the file, so a refused second server can say who holds it.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "server.lock"


class DataDirBusy(RuntimeError):
    """Another server holds the data directory; `str()` is the one line to show."""


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd = -1

    def acquire(self) -> None:
        """Take the lock or raise DataDirBusy naming the holder's pid and the directory."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise DataDirBusy(f"loom-jupyter local: another local server ({who}) is already "
                              f"using the data directory {self.path.parent}; stop it or pass "
                              f"another --data-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = -1


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
