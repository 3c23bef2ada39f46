"""Create weavers in parallel and show one live line per weaver while they start.

Work happens in a thread pool; the main thread only reads the shared state and redraws,
so every display call stays on the kernel's main thread and Ctrl-C/stop lands there.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from ._display import LiveArea, text_bundle


class Cancelled(Exception):
    """Raised inside a waiting worker when the user stopped waiting."""


@dataclass
class Slot:
    """One weaver being created: its label, the weaver once known, and a status line."""

    label: str
    weaver: Any = None
    state: str = "creating"
    error: Exception | None = None
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        ident = self.weaver.id if self.weaver is not None else "…"
        took = f"{time.monotonic() - self.started:4.0f}s"
        detail = f"failed: {self.error}" if self.error is not None else self.state
        return f"{self.label:<12} {ident:<38} {took}  {detail}"


class CreateBoard:
    """Runs `create(i)` (and optionally `wait(weaver, on_status)`) for each slot in parallel."""

    def __init__(self, labels: list[str], hz: float) -> None:
        self.slots = [Slot(label) for label in labels]
        self.area = LiveArea(hz)
        self._period = 1.0 / hz if hz > 0 else 0.25
        self._cancel = threading.Event()

    def run(self, create: Callable[[int], Any], waiter: Callable[..., Any] | None) -> bool:
        """True when every slot finished; False when the user interrupted (workers are told to stop)."""
        pool = ThreadPoolExecutor(max_workers=min(8, len(self.slots)), thread_name_prefix="loom-create")
        futures = [pool.submit(self._work, i, create, waiter) for i in range(len(self.slots))]
        try:
            self._watch(futures)
            return True
        except KeyboardInterrupt:
            self._cancel.set()
            return False
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            self.area.set(self._render())
            self.area.flush()

    def _watch(self, futures: list[Future[None]]) -> None:
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=self._period, return_when=FIRST_COMPLETED)
            self.area.set(self._render())

    def _work(self, i: int, create: Callable[[int], Any], waiter: Callable[..., Any] | None) -> None:
        slot = self.slots[i]
        try:
            slot.weaver = create(i)
            slot.state = slot.weaver.status
            if waiter is not None and not self._cancel.is_set():
                slot.state = f"{slot.weaver.status}, waiting for running"
                slot.weaver = waiter(slot.weaver.id, lambda w: self._seen(slot, w))
                slot.state = slot.weaver.status
        except Cancelled:
            slot.state = "stopped waiting (still starting on the server)"
        except Exception as exc:
            slot.error = exc

    def _seen(self, slot: Slot, weaver: Any) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        slot.weaver = weaver
        from loom_jupyter.client.models.weavers import RUNNING

        slot.state = weaver.status if weaver.status == RUNNING else f"{weaver.status}, waiting for {RUNNING}"

    def _render(self) -> dict[str, str]:
        return text_bundle("\n".join(slot.line() for slot in self.slots))
