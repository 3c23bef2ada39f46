"""One weaver's process as the server sees it: through its host (weaver_host.py).

The host owns the terminal and outlives the server; this side starts a host (`spawn`) or finds
one a previous server left running (`adopt`), and then holds one socket connection to it:
output wakes the log ring and goes to attached terminals, input and stop signals go back.
Output is flow-controlled end to end: a terminal that is behind returns an awaitable from its
listener, and the relay reads nothing more from the host until it is done; the socket then
fills and the host stops reading the weaver's terminal (weaver_host.py), so a slow reader slows
the weaver instead of losing output.
`wait()` answers how the weaver ended once the host is gone: its exit code from `<id>.exit`,
or no code and a reason when the host died without saying.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .weaver_files import HostFiles, host_alive, kill_host
from .weaver_wire import INPUT, KILL, OUTPUT, TERMINATE, FrameReader, WireError, frame

log = logging.getLogger("loom_jupyter.local")

SCROLLBACK_BYTES = 16 * 1024
START_TIMEOUT = 20.0
RECONNECT_DELAY = 0.2
RECONNECT_TRIES = 50
# Output in (b"": the end); returns None, or an awaitable done once it has room for more.
Listener = Callable[[bytes], Awaitable[None] | None]
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class StartFailed(Exception):
    """The weaver could not start; `str()` is why (e.g. `No such file or directory`)."""


@dataclass(frozen=True)
class Launch:
    """Everything needed to start the process; `memory_bytes` becomes RLIMIT_AS."""

    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: str
    memory_bytes: int | None = None
    rows: int = 24
    cols: int = 80


@dataclass(frozen=True)
class Ended:
    """How the weaver ended: an exit status (negative: that signal), or None and why not."""

    code: int | None
    lost: str = ""


class WeaverProcess:
    """A connection to one weaver host; `on_output()` is called whenever output arrives."""

    def __init__(self, files: HostFiles, record: dict[str, Any], on_output: Callable[[], None],
                 popen: subprocess.Popen[bytes] | None = None) -> None:
        self.files, self.record, self._on_output, self._popen = files, record, on_output, popen
        self._listeners: set[Listener] = set()
        self._scrollback = bytearray()
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._task: asyncio.Task[Ended] | None = None
        self._frames = FrameReader()
        self._ended = False

    @property
    def pid(self) -> int | None:
        """The weaver process's pid (its host's is `record["host_pid"]`)."""
        pid = self.record.get("child_pid")
        return pid if isinstance(pid, int) else None

    # -- start or find ---------------------------------------------------------------------

    @classmethod
    async def spawn(cls, files: HostFiles, launch: Launch,
                    on_output: Callable[[], None]) -> WeaverProcess:
        """Start a host for `launch` and connect; StartFailed if the command cannot start."""
        spec = {"id": files.weaver_id, "dir": str(files.dir),
                "socket": str(files.new_socket_path()), "argv": list(launch.argv),
                "env": dict(launch.env), "cwd": launch.cwd, "memory_bytes": launch.memory_bytes,
                "rows": launch.rows, "cols": launch.cols}
        with files.host_log.open("ab") as host_log:
            # -S: no site-packages (the host needs only the standard library and this
            # package, which PYTHONPATH names): it starts faster and stays smaller.
            popen = subprocess.Popen([sys.executable, "-S", "-m", f"{__package__}.weaver_host"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=host_log, cwd=files.dir, env=_host_env(),
                                     start_new_session=True)
        try:
            report = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(
                None, _handshake, popen, json.dumps(spec).encode()), START_TIMEOUT)
        except (asyncio.TimeoutError, OSError, ValueError) as exc:
            popen.kill()
            await _reap(popen)
            raise StartFailed(f"its weaver host did not start: {exc or 'timed out'}") from None
        if "error" in report:
            await _reap(popen)
            raise StartFailed(str(report["error"]))
        process = cls(files, files.read_record() or {}, on_output, popen)
        await process._connect()  # refused: it already ended (or stalls); the pump finds out
        process._task = asyncio.ensure_future(process._pump())
        return process

    @classmethod
    async def adopt(cls, files: HostFiles, on_output: Callable[[], None]) -> WeaverProcess | None:
        """The host an earlier server left running, connected; None if it is not alive."""
        record = files.read_record()
        if record is None or not host_alive(record):
            return None
        process = cls(files, record, on_output)
        await process._connect()
        process._task = asyncio.ensure_future(process._pump())
        return process

    # -- the terminal ------------------------------------------------------------------------

    def attach(self, listener: Listener) -> bytes:
        """Receive output from now on; returns the recent output to replay first."""
        self._listeners.add(listener)
        return bytes(self._scrollback)

    def detach(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    def write(self, data: bytes) -> None:
        """Raw bytes to the terminal (dropped while the host is out of reach)."""
        if data and self._writer is not None and not self._writer.is_closing():
            self._writer.write(frame(INPUT, data))

    def terminate(self) -> None:
        """SIGHUP and SIGTERM to the weaver's whole session (a shell ignores SIGTERM)."""
        self._signal(TERMINATE, (signal.SIGHUP, signal.SIGTERM))

    def kill(self) -> None:
        """SIGKILL to the session, unless it already ended (a delayed kill after a delete)."""
        self._signal(KILL, (signal.SIGKILL,))

    # -- the end ---------------------------------------------------------------------------

    async def wait(self) -> Ended:
        """How it ended; then record that, and only then call `release()`."""
        assert self._task is not None
        return await asyncio.shield(self._task)

    async def release(self) -> None:
        """After the end is recorded: attached terminals close (a client that then asks finds
        the weaver ended, not running), and the host we started is reaped."""
        for listener in list(self._listeners):
            listener(b"")  # end of output
        self._listeners.clear()
        if self._popen is not None:
            await _reap(self._popen)
            self._popen = None

    async def disconnect(self) -> None:
        """Let go of the host without stopping the weaver (a server stopping with
        --keep-weavers); the next server adopts it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._close_writer()

    # -- internals -------------------------------------------------------------------------

    def _signal(self, kind: bytes, signals: tuple[int, ...]) -> None:
        if self._ended:
            return
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(frame(kind))
            return
        # Out of touch with the host for a moment: signal the session directly, if the host
        # (and so, unreaped, the weaver's process group) is still the one it recorded.
        pid = self.pid
        if pid is not None and host_alive(self.record):
            for sig in signals:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, sig)

    async def _connect(self) -> bool:
        """Open the socket and take the host's scrollback (its first frame)."""
        path = str(self.record.get("socket") or "")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), 5)
        except (OSError, asyncio.TimeoutError):
            return False
        self._reader, self._writer = reader, writer
        self._frames = frames = FrameReader()
        try:
            got: list[tuple[bytes, bytes]] = []
            while not got:
                data = await asyncio.wait_for(reader.read(65536), 5)
                if not data:
                    raise ConnectionResetError("closed before its first frame")
                got = frames.feed(data)
        except (OSError, asyncio.TimeoutError, WireError):
            self._close_writer()
            return False
        self._scrollback[:] = got[0][1][-SCROLLBACK_BYTES:]
        self._on_output()
        await self._deliver(got[1:])
        return True

    async def _pump(self) -> Ended:
        """Relay output until the host is gone; reconnect if only the connection dropped."""
        tries = 0
        while True:
            try:
                while self._reader is not None and (data := await self._reader.read(65536)):
                    await self._deliver(self._frames.feed(data))
            except (OSError, WireError) as exc:
                log.warning("weaver %s: connection to its host failed: %s",
                            self.files.weaver_id, exc)
            self._close_writer()
            if ended := await self._ended_now():
                return self._end(ended)
            tries += 1
            await asyncio.sleep(RECONNECT_DELAY)
            if tries > RECONNECT_TRIES:  # alive but deaf: stop it rather than leave it orphaned
                kill_host(self.record)
                return self._end(Ended(None, "its weaver host stopped answering"))
            if await self._connect():
                tries = 0

    async def _deliver(self, frames: list[tuple[bytes, bytes]]) -> None:
        """To every listener; then wait until each that is behind has room again (meanwhile
        the host's output waits in the socket, and then in the weaver's terminal)."""
        output = b"".join(data for kind, data in frames if kind == OUTPUT)
        if not output:
            return
        self._scrollback += output
        del self._scrollback[:-SCROLLBACK_BYTES]
        self._on_output()  # once per batch: the log ring then reads the file once
        waits = [room for listener in list(self._listeners)
                 if (room := listener(output)) is not None]
        if waits:
            await asyncio.gather(*waits)

    async def _ended_now(self) -> Ended | None:
        """How it ended, once the host wrote it or died without; None while it still lives."""
        for _ in range(20):  # the host writes `.exit`, then lets clients go, then exits
            if self._popen is not None and self._popen.poll() is not None:
                self._popen = None  # our own child: reaped, so no longer seen as alive
            alive = host_alive(self.record)
            if (done := self.files.read_exit()) is not None:
                code = done.get("code")
                return Ended(code if isinstance(code, int) else None, "")
            if not alive:
                pid = self.record.get("host_pid")
                return Ended(None, f"its weaver host (pid {pid}) ended without an exit status")
            await asyncio.sleep(0.05)
        return None

    def _end(self, ended: Ended) -> Ended:
        self._ended = True
        return ended

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = self._reader = None


def _host_env() -> dict[str, str]:
    """The host runs this same package, and nothing of the server's environment (its keys)."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(_PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def _handshake(popen: subprocess.Popen[bytes], spec: bytes) -> dict[str, Any]:
    """Send the spec, read the one-line report (in a worker thread: both block)."""
    assert popen.stdin is not None and popen.stdout is not None
    try:
        popen.stdin.write(spec)
        popen.stdin.close()
        line = popen.stdout.readline()
    finally:
        popen.stdout.close()
    if not line:
        raise OSError(f"it exited with {popen.wait()}")
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError("bad report")
    return value


async def _reap(popen: subprocess.Popen[bytes]) -> None:
    """Collect an ended host (a zombie otherwise); a few seconds at most."""
    for _ in range(100):
        if popen.poll() is not None:
            return
        await asyncio.sleep(0.05)
