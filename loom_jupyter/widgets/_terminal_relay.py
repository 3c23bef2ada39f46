"""Kernel-side terminal relay: one Loom attach session pumped in a thread, reattached while the weaver runs.

When to reattach and when to stop is the client's follow design (`client.follow`): after a
drop, `weavers.reconnect` asks Loom about the weaver and answers Reconnecting (wait, then try
again: never given up while the weaver may run) or FollowEnded. The relay only waits (on its
stop flag, so closing the widget is immediate) and says so in the terminal.
"""

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
from loom_jupyter.client.follow import FollowEnded, Reconnects, render

__all__ = ["Relay"]

Emit = Callable[[dict[str, Any], list[bytes]], None]
OnState = Callable[[str, bool], None]

REPLAY_LIMIT = 256 * 1024  # what a view rendered late (or re-rendered) gets back
COALESCE_LIMIT = 64 * 1024  # one comm message per burst of output, not per PTY read
POLL = 0.25  # how often the pump looks at the stop flag
_FATAL = (NotFoundError, PermissionDeniedError, AuthenticationError)


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
        reconnects, connected_once = Reconnects(), False
        while not self._stop.is_set():
            self._on_state("connecting", False)
            try:
                session = self._client.weavers.attach(self._id)
            except StreamError as exc:  # the ERROR: frame (§4.7): the weaver is not running
                return self._end(connected_once, str(exc))
            except _FATAL as exc:
                return self._finish(f"error: {exc}", str(exc))
            except LoomError:
                session = None
            if session is not None:
                connected_once = True
                if self._serve(session):
                    reconnects.progressed()
            if self._stop.is_set():
                break
            if not self._wait_to_reconnect(reconnects, connected_once):
                return None
        return self._end(connected_once, "")

    def _serve(self, session: Any) -> bool:
        """Pump one session until it ends; whether any output came through it."""
        self._session = session
        try:
            return self._pump(session)
        finally:
            self._session = None
            session.close()

    def _wait_to_reconnect(self, reconnects: Reconnects, connected_once: bool) -> bool:
        """Wait as the client's follow says; False when the weaver ended (or asking failed)."""
        try:
            step = self._client.weavers.reconnect(self._id, reconnects)
        except LoomError as exc:
            self._finish(f"error: {exc}", str(exc))
            return False
        if isinstance(step, FollowEnded):
            self._end(connected_once, str(step))
            return False
        self._notice(render(step))
        self._stop.wait(step.delay)
        return True

    def _pump(self, session: Any) -> bool:
        self._on_state("connected", session.read_only)
        output = False
        while not self._stop.is_set():
            try:
                chunk = session.recv(timeout=POLL)
            except StreamError as exc:
                self._notice(str(exc))
                return output
            if chunk is None:
                return output
            if chunk:
                output = True
                self._output(chunk + self._drain(session))
                self._on_state("connected", session.read_only)
        return output

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
