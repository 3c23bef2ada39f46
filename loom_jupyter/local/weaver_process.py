"""One weaver's process on a pseudo-terminal: spawn, pump output, take input, stop.

The process leads its own session with the PTY as its controlling terminal (like a container
with `tty: true`), so job control works and stopping the session stops everything it started.
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import resource
import signal
import struct
import termios
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger("loom_jupyter.local")

READ_SIZE = 64 * 1024
SCROLLBACK_BYTES = 16 * 1024
Listener = Callable[[bytes], None]


@dataclass(frozen=True)
class Launch:
    """Everything needed to start the process; `memory_bytes` becomes RLIMIT_AS."""

    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: str
    memory_bytes: int | None = None
    rows: int = 24
    cols: int = 80


def _child_setup(memory_bytes: int | None) -> Callable[[], None]:
    def setup() -> None:  # runs in the child between fork and exec
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    return setup


class PtyProcess:
    """A running process; output goes to `on_output` and to every attached listener."""

    def __init__(self, on_output: Listener) -> None:
        self._on_output = on_output
        self._listeners: set[Listener] = set()
        self._scrollback = bytearray()
        self._master = -1
        self._proc: asyncio.subprocess.Process | None = None
        self._eof = asyncio.Event()
        self._pending_input = bytearray()
        self._ended = False  # reaped and its group swept: its id may belong to someone else now

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    async def start(self, launch: Launch) -> None:
        """Spawn; raises OSError (e.g. FileNotFoundError) when the command cannot start."""
        master, slave = os.openpty()
        try:
            fcntl.ioctl(master, termios.TIOCSWINSZ,
                        struct.pack("HHHH", launch.rows, launch.cols, 0, 0))
            self._proc = await asyncio.create_subprocess_exec(
                *launch.argv, stdin=slave, stdout=slave, stderr=slave, cwd=launch.cwd,
                env=dict(launch.env), start_new_session=True,
                preexec_fn=_child_setup(launch.memory_bytes))
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        asyncio.get_running_loop().add_reader(master, self._read)

    async def wait(self, drain: float = 1.0) -> int:
        """The exit status (negative: killed by that signal), once output has drained."""
        assert self._proc is not None
        code = await self._proc.wait()
        self._kill_group(signal.SIGKILL)  # like a container: the main process ends it all
        try:
            await asyncio.wait_for(self._eof.wait(), drain)
        except asyncio.TimeoutError:
            pass
        self._close_master()
        self._ended = True
        return code

    def terminate(self) -> None:
        """SIGHUP and SIGTERM to the whole session (an interactive shell ignores SIGTERM)."""
        if not self._ended:
            self._kill_group(signal.SIGHUP)
            self._kill_group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the session, unless it already ended (a delayed kill after a delete)."""
        if not self._ended:
            self._kill_group(signal.SIGKILL)

    def attach(self, listener: Listener) -> bytes:
        """Receive output from now on; returns the recent output to replay first."""
        self._listeners.add(listener)
        return bytes(self._scrollback)

    def detach(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    def write(self, data: bytes) -> None:
        """Raw bytes to the terminal, buffered while the PTY is full."""
        if self._master < 0 or not data:
            return
        if self._pending_input:
            self._pending_input += data
            return
        self._pending_input += data
        self._flush_input()

    def _flush_input(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending_input:
                written = os.write(self._master, self._pending_input)
                del self._pending_input[:written]
        except BlockingIOError:
            loop.add_writer(self._master, self._writable)
            return
        except OSError:
            self._pending_input.clear()  # the terminal is gone; input has nowhere to go

    def _writable(self) -> None:
        asyncio.get_running_loop().remove_writer(self._master)
        self._flush_input()

    def _read(self) -> None:
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: every holder of the terminal's other end has gone
            if exc.errno not in (errno.EIO, errno.EBADF):
                log.warning("reading a weaver terminal failed: %s", exc)
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._master)
            self._eof.set()
            return
        self._scrollback += data
        del self._scrollback[:-SCROLLBACK_BYTES]
        self._on_output(data)
        for listener in list(self._listeners):
            listener(data)

    def _close_master(self) -> None:
        if self._master < 0:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        loop.remove_writer(self._master)
        os.close(self._master)
        self._master = -1
        for listener in list(self._listeners):
            listener(b"")  # end of output
        self._listeners.clear()

    def _kill_group(self, sig: int) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
