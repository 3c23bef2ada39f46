"""Back-pressure for a WebSocket that the server writes without awaiting each message.

tornado's `write_message()` queues in memory without bound and returns a future that is done
once that message has gone to the kernel. `SendBacklog` counts what is queued; past HIGH_WATER
`add()` returns an awaitable that is done once the queue is down to LOW_WATER, so the writer
(the weaver terminal's relay) stops taking output while a reader is behind. A reader that takes
nothing at all for `stall_seconds` is given up on (`on_stall`, which closes it) rather than
holding the weaver forever: a laptop closed with a terminal tab open must not stop a weaver.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024


class SendBacklog:
    """Bytes handed to one WebSocket and not yet sent; `close()` once the connection is gone."""

    def __init__(self, on_stall: Callable[[], None], stall_seconds: float) -> None:
        self.queued = 0
        self._on_stall, self._stall_seconds = on_stall, stall_seconds
        self._moved = asyncio.Event()
        self._open = True

    def add(self, size: int, sent: asyncio.Future[Any]) -> Awaitable[None] | None:
        """`size` bytes queued, all of them sent once `sent` is done (tornado sends in order,
        so the last message's future stands for the whole batch). An awaitable if too many."""
        self.queued += size
        sent.add_done_callback(lambda done: self._sent(size, done))
        if self._open and self.queued > HIGH_WATER:
            return asyncio.ensure_future(self._room())
        return None

    def close(self) -> None:
        """Nobody waits for this connection any more."""
        self._open = False
        self._moved.set()

    def _sent(self, size: int, done: asyncio.Future[Any]) -> None:
        if not done.cancelled():
            done.exception()  # a closed connection is handled by its on_close, not here
        self.queued -= size
        self._moved.set()

    async def _room(self) -> None:
        while self._open and self.queued > LOW_WATER:
            self._moved.clear()
            try:
                await asyncio.wait_for(self._moved.wait(), self._stall_seconds)
            except asyncio.TimeoutError:
                if self._open:
                    self.close()
                    self._on_stall()
