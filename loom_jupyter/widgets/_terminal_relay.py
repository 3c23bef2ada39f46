"""Kernel-side terminal relay: one Loom attach session pumped in a thread, reattached while the weaver runs."""

from __future__ import annotations

import threading
from typing import Any
from collections.abc import Callable

from loom_jupyter.client import (
    AuthenticationError,
    Loom,
    LoomError,
    NotFoundError,
    PermissionDeniedError,
    StreamError,
)

__all__ = ["Relay"]

Emit = Callable[[dict[str, Any], list[bytes]], None]
OnState = Callable[[str, bool], None]

RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
REPLAY_LIMIT = 256 * 1024  # what a view rendered late (or re-rendered) gets back
COALESCE_LIMIT = 64 * 1024  # one comm message per burst of output, not per PTY read
POLL = 0.25  # how often the pump looks at the stop flag
_FATAL = (NotFoundError, PermissionDeniedError, AuthenticationError)
_LIVE = ("pending", "running")


class Relay:
    """Move bytes between a weaver's TTY and the widget comm, so no server extension is needed."""

    def __init__(self, client: Loom, weaver_id: str, emit: Emit, on_state: OnState) -> None:
        self._client = client
        self._id = weaver_id
        self._emit = emit
        self._on_state = on_state
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._replay = bytearray()
        self._session: Any = None
        self._thread = threading.Thread(target=self._run, name=f"loom-terminal-{weaver_id}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def write(self, data: bytes) -> bool:
        """Keystrokes from a view; dropped (False) while no session is open."""
        session = self._session
        if session is None or not data:
            return False
        try:
            session.send(data)
        except LoomError:
            return False
        return True

    def replay(self, view: str) -> None:
        """Send what was shown so far to one view (others ignore a replay not addressed to them)."""
        with self._lock:
            self._emit({"type": "replay", "view": view}, [bytes(self._replay)])

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        session = self._session
        if session is not None:
            try:
                session.close()
            except Exception:
                pass
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # -- the pump thread ---------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        connected_once = False
        while not self._stop.is_set():
            self._on_state("connecting", False)
            try:
                session = self._client.weavers.attach(self._id)
            except StreamError as exc:  # the ERROR: frame (§4.7): the weaver is not running
                return self._end(connected_once, str(exc))
            except _FATAL as exc:
                return self._finish(f"error: {exc}", str(exc))
            except LoomError as exc:
                if failures >= len(RETRY_DELAYS):
                    return self._finish(f"error: {exc}", str(exc))
                self._stop.wait(RETRY_DELAYS[failures])
                failures += 1
                continue
            failures, connected_once = 0, True
            self._session = session
            try:
                self._pump(session)
            finally:
                self._session = None
                session.close()
            if self._stop.is_set() or not self._still_running():
                return self._end(True, "")
            self._notice("[connection lost; reconnecting]")

    def _pump(self, session: Any) -> None:
        self._on_state("connected", session.read_only)
        while not self._stop.is_set():
            try:
                chunk = session.recv(timeout=POLL)
            except StreamError as exc:
                self._notice(str(exc))
                return
            if chunk is None:
                return
            if chunk:
                self._output(chunk + self._drain(session))
                self._on_state("connected", session.read_only)

    def _drain(self, session: Any) -> bytes:
        more = bytearray()
        while len(more) < COALESCE_LIMIT:
            try:
                chunk = session.recv(timeout=0)
            except StreamError:
                break
            if not chunk:
                break
            more += chunk
        return bytes(more)

    def _output(self, data: bytes) -> None:
        with self._lock:
            self._replay += data
            del self._replay[:-REPLAY_LIMIT]
            self._emit({"type": "output"}, [data])

    def _notice(self, text: str) -> None:
        self._emit({"type": "notice", "text": text}, [])

    def _still_running(self) -> bool:
        try:
            return self._client.weavers.get(self._id).status in _LIVE
        except NotFoundError:
            return False
        except LoomError:
            return True  # cannot tell: try to reattach, which settles it

    def _end(self, was_connected: bool, detail: str) -> None:
        """A weaver that was running and no longer is has exited; anything else is an error."""
        if self._stop.is_set():
            return self._on_state("closed", False)
        if was_connected:
            return self._finish("closed", "[process exited]", kind="exit")
        return self._finish(f"error: {detail}", detail)

    def _finish(self, status: str, text: str, kind: str = "error") -> None:
        self._emit({"type": kind, "text": text}, [])
        self._on_state(status, False)
