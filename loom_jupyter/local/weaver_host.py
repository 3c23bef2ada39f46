"""`python -m loom_jupyter.local.weaver_host`: the small process that keeps one weaver alive.

Like a kubelet for one pod, it outlives the local server: it leads its own session, owns the
weaver's pseudo-terminal, stamps and writes its log (weaver_logfile.py), records how it ended
(`<id>.exit`), and serves the terminal on a Unix socket (weaver_wire.py) to whichever server is
running now. The server starts it with a JSON spec on stdin and reads one JSON line back on
stdout: `{"pid": N}` once the weaver runs, or `{"error": "..."}` if it could not start.

Output is flow-controlled like a real terminal's: while a client has more than HIGH_WATER
bytes queued, the host stops reading the terminal (the weaver then blocks in write(), as it
would behind a slow ssh link) until every client is down to LOW_WATER. A slow reader gets every
byte, later; nothing is dropped, and the log stays complete. A client that stops reading
altogether holds the weaver until it goes (the server closes a stalled WebSocket, so its own
connection keeps moving).

The weaver itself leads another session with the terminal as its controlling terminal (like a
container with `tty: true`): job control works, and stopping its session stops everything it
started. When it exits, whatever is left of its session is killed, as a container's is.
Standard library only (plus its sibling modules), and no asyncio: it stays small.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .weaver_files import HostFiles, start_time, write_json
from .weaver_logfile import LogWriter
from .weaver_wire import INPUT, KILL, OUTPUT, TERMINATE, FrameReader, WireError, frame

READ_SIZE = 64 * 1024
SCROLLBACK_BYTES = 16 * 1024
HIGH_WATER = 1024 * 1024  # a client this far behind pauses reading the terminal ...
LOW_WATER = 256 * 1024  # ... until every client is down to this
DRAIN_SECONDS = 1.0  # at the end: how long a client may make no progress before it is let go


def _child_setup(memory_bytes: int | None) -> Callable[[], None]:
    def setup() -> None:  # runs in the child between fork and exec
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    return setup


def spawn(spec: dict[str, Any]) -> tuple[subprocess.Popen[bytes], int]:
    """The weaver on a new PTY; raises OSError (e.g. FileNotFoundError) if it cannot start."""
    master, slave = os.openpty()
    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ,
                    struct.pack("HHHH", spec.get("rows", 24), spec.get("cols", 80), 0, 0))
        child = subprocess.Popen(spec["argv"], stdin=slave, stdout=slave, stderr=slave,
                                 cwd=spec["cwd"], env=spec["env"], start_new_session=True,
                                 preexec_fn=_child_setup(spec.get("memory_bytes")))
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return child, master


def listen(path: Path) -> socket.socket:
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o600)
    server.listen(16)
    server.setblocking(False)
    return server


class _Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = FrameReader()
        self.out = bytearray()


class Host:
    """The event loop: terminal output to the log and every client, client input to the terminal."""

    def __init__(self, child: subprocess.Popen[bytes], master: int, server: socket.socket,
                 log: LogWriter) -> None:
        self.child, self.master, self.server, self.log = child, master, server, log
        self.sel = selectors.DefaultSelector()
        self.clients: dict[int, _Client] = {}
        self.scrollback = bytearray()
        self.pending_input = bytearray()
        self.master_open = True
        self.paused = False  # not reading the terminal: a client is too far behind
        self.draining = False  # the weaver has ended: read what is left regardless
        self.pty_events = selectors.EVENT_READ  # what the terminal is registered for (0: not)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self.wake_r = wake_r
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: self.terminate())
        self.sel.register(master, selectors.EVENT_READ, "pty")
        self.sel.register(server, selectors.EVENT_READ, "accept")
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")

    def run(self) -> int:
        """Until the weaver exits; then its session is killed and its output drained."""
        while (code := self.child.poll()) is None:
            self._step(None)
        self._signal_group(signal.SIGKILL)
        self.draining = True  # what is left in the terminal is small (its buffer): take it all
        self._watch_terminal()
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.master_open and (left := deadline - time.monotonic()) > 0:
            self._step(left)
        return code

    def finish(self, code: int, exit_file: Path) -> None:
        """The last line in, the file closed, then how it ended (a server that sees the
        connection end reads it); then clients get what is queued, and are let go."""
        self.log.close()
        if self.master_open:
            self._close_master()
        write_json(exit_file, {"code": code})
        deadline = time.monotonic() + DRAIN_SECONDS
        queued = self._queued()
        while queued and time.monotonic() < deadline:
            self._step(deadline - time.monotonic())
            if (now_queued := self._queued()) < queued:  # a slow reader, but reading
                deadline = time.monotonic() + DRAIN_SECONDS
            queued = now_queued
        for client in list(self.clients.values()):
            self._drop(client)

    # -- the weaver's session -------------------------------------------------------------

    def terminate(self) -> None:
        """SIGHUP and SIGTERM to the whole session (an interactive shell ignores SIGTERM)."""
        self._signal_group(signal.SIGHUP)
        self._signal_group(signal.SIGTERM)

    def _signal_group(self, sig: int) -> None:
        if self.child.returncode is not None and sig != signal.SIGKILL:
            return
        try:
            os.killpg(self.child.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    # -- the loop -------------------------------------------------------------------------

    def _step(self, timeout: float | None) -> None:
        for key, events in self.sel.select(timeout):
            what = key.data
            if what == "pty":
                if events & selectors.EVENT_READ:
                    self._read_terminal()
                if events & selectors.EVENT_WRITE and self.master_open:
                    self._flush_input()
            elif what == "accept":
                self._accept()
            elif what == "wake":
                try:
                    os.read(self.wake_r, 512)
                except BlockingIOError:
                    pass
            elif isinstance(what, _Client):
                if events & selectors.EVENT_READ:
                    self._read_client(what)
                if events & selectors.EVENT_WRITE and what.sock.fileno() in self.clients:
                    self._send(what)

    def _read_terminal(self) -> None:
        try:
            data = os.read(self.master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: every holder of the terminal's other end has gone
            if exc.errno not in (errno.EIO, errno.EBADF):
                print(f"weaver host: reading the terminal failed: {exc}", file=sys.stderr)
            data = b""
        if not data:
            self._close_master()
            return
        self.log.feed(data)  # first: a client woken by the output finds it in the file
        self.scrollback += data
        del self.scrollback[:-SCROLLBACK_BYTES]
        packet = frame(OUTPUT, data)
        for client in list(self.clients.values()):
            client.out += packet
            self._send(client)

    def _close_master(self) -> None:
        if self.pty_events:
            self.sel.unregister(self.master)
            self.pty_events = 0
        os.close(self.master)
        self.master_open = False
        self.pending_input.clear()

    def _queued(self) -> int:
        return sum(len(c.out) for c in self.clients.values())

    def _watch_terminal(self) -> None:
        """Read the terminal unless a client is too far behind (hysteresis between the
        marks); watch it for writing while input waits."""
        if not self.master_open:
            return
        backlog = max((len(c.out) for c in self.clients.values()), default=0)
        if backlog > HIGH_WATER:
            self.paused = True
        elif backlog <= LOW_WATER:
            self.paused = False
        events = ((0 if self.paused and not self.draining else selectors.EVENT_READ)
                  | (selectors.EVENT_WRITE if self.pending_input else 0))
        if events == self.pty_events:
            return
        if not events:
            self.sel.unregister(self.master)
        elif not self.pty_events:
            self.sel.register(self.master, events, "pty")
        else:
            self.sel.modify(self.master, events, "pty")
        self.pty_events = events

    def _write_terminal(self, data: bytes) -> None:
        if self.master_open and data:
            self.pending_input += data
            self._flush_input()

    def _flush_input(self) -> None:
        try:
            while self.pending_input:
                written = os.write(self.master, self.pending_input)
                del self.pending_input[:written]
        except BlockingIOError:
            pass
        except OSError:
            self.pending_input.clear()  # the terminal is gone; input has nowhere to go
        self._watch_terminal()

    # -- clients (the local server) -------------------------------------------------------

    def _accept(self) -> None:
        try:
            sock, _ = self.server.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        client = _Client(sock)
        self.clients[sock.fileno()] = client
        self.sel.register(sock, selectors.EVENT_READ, client)
        client.out += frame(OUTPUT, bytes(self.scrollback))
        self._send(client)

    def _read_client(self, client: _Client) -> None:
        try:
            data = client.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        try:
            frames = client.reader.feed(data)
        except WireError:
            self._drop(client)
            return
        for kind, payload in frames:
            if kind == INPUT:
                self._write_terminal(payload)
            elif kind == TERMINATE:
                self.terminate()
            elif kind == KILL:
                self._signal_group(signal.SIGKILL)

    def _send(self, client: _Client) -> None:
        try:
            while client.out:
                sent = client.sock.send(client.out)
                del client.out[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(client)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0)
        self.sel.modify(client.sock, events, client)
        self._watch_terminal()

    def _drop(self, client: _Client) -> None:
        fd = client.sock.fileno()
        if self.clients.pop(fd, None) is not None:
            self.sel.unregister(client.sock)
        client.sock.close()
        self._watch_terminal()  # a reader that was holding the terminal back has gone


def _report(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def _detach_stdio() -> None:
    """The server stops listening after the report: nothing may block on its pipes later."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    os.close(null)


def main() -> int:
    spec = json.loads(sys.stdin.buffer.read())
    files = HostFiles(Path(spec["dir"]), spec["id"])
    sock_path = Path(spec["socket"])
    try:
        server = listen(sock_path)
        log = LogWriter(files.log, files.rotated_log)
        child, master = spawn(spec)
    except OSError as exc:
        _report({"error": exc.strerror or str(exc)})
        return 1
    write_json(files.record, {"host_pid": os.getpid(), "host_start": start_time(os.getpid()),
                              "child_pid": child.pid, "socket": str(sock_path)})
    _report({"pid": child.pid})
    _detach_stdio()
    host = Host(child, master, server, log)
    code = host.run()
    host.finish(code, files.exit)
    server.close()
    sock_path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
