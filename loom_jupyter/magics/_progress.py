"""Create weavers in parallel and show their progress in a bounded amount of output.

Work happens in a thread pool; the main thread only reads the shared state and redraws,
so every display call stays on the kernel's main thread and Ctrl-C/stop lands there.

What is shown depends on the size of the batch and on the front end:

- up to `rows` weavers: one line per weaver; a notebook redraws the lines in place, a terminal
  prints each weaver's line once, when it is done;
- more: one summary line (counts, plus the distinct failures, at most `MAX_FAILURES` of them),
  redrawn in place in a notebook, rewritten with `\\r` in an interactive terminal, and printed
  once at the end otherwise.

The first failed create stops the batch (every request is the same, so the next ones would fail
the same way, e.g. the server's limit of weavers): no new create starts, the ones in flight
finish and are reported.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from ._display import LiveArea, is_tty, text_bundle, updates_in_place

WORKERS = 8
MAX_FAILURES = 3  # distinct failure messages shown under a summary line
MESSAGE_CHARS = 200
IN_FLIGHT_GRACE = 15.0  # seconds an interrupted board waits for creates already sent


class Cancelled(Exception):
    """Raised inside a waiting worker when the user stopped waiting."""


@dataclass
class Slot:
    """One weaver being created: its label, the weaver once known, and a status line."""

    label: str
    weaver: Any = None
    state: str = "queued"
    error: Exception | None = None
    started: float = field(default_factory=time.monotonic)
    skipped: bool = False  # never sent: the batch stopped (a failure or an interrupt) first
    done: bool = False

    def line(self, describe: Callable[[Exception], str] | None = None) -> str:
        """The slot as one line; a failure's message only with `describe` (a single weaver's
        failure is said once, as the command's error, not on the board too)."""
        ident = self.weaver.id if self.weaver is not None else "…"
        took = f"{time.monotonic() - self.started:4.0f}s"
        detail = self.state
        if self.error is not None:
            detail = "failed" + (f": {short(describe(self.error))}" if describe is not None else "")
        return f"{self.label:<12} {ident:<38} {took}  {detail}"


def short(text: object, limit: int = MESSAGE_CHARS) -> str:
    words = " ".join(str(text).split())
    return words if len(words) <= limit else words[: limit - 1] + "…"


class CreateBoard:
    """Runs `create(i)` (and optionally `wait(weaver, on_status)`) for each slot in parallel."""

    def __init__(self, labels: list[str], hz: float, *, rows: int = 20, in_place: bool | None = None,
                 describe: Callable[[Exception], str] = str) -> None:
        self.slots = [Slot(label) for label in labels]
        self.describe = describe  # an error in the user's words
        self.area = LiveArea(hz)
        self.summary = len(labels) > rows
        self.in_place = in_place  # None: decided when run() starts (by the front end then)
        self.halted: Exception | None = None  # the failed create that stopped the batch
        self._period = 1.0 / hz if hz > 0 else 0.25
        self._cancel = threading.Event()
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._printed: set[int] = set()
        self._carriage = False  # a terminal summary line is open (written with \r, no newline)
        self._shown_line = ""

    # -- running ------------------------------------------------------------------------
    def run(self, create: Callable[[int], Any], waiter: Callable[..., Any] | None) -> bool:
        """True when every slot finished; False when the user interrupted (workers are told to stop)."""
        if self.in_place is None:
            self.in_place = updates_in_place()
        pool = ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(self.slots))),
                                  thread_name_prefix="loom-create")
        futures = [pool.submit(self._work, i, create, waiter) for i in range(len(self.slots))]
        try:
            self._watch(futures)
            return True
        except KeyboardInterrupt:
            self._cancel.set()
            self._halt.set()
            self._settle(futures)
            return False
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            for slot in self.slots:
                if not slot.done and slot.weaver is None and slot.error is None:
                    slot.skipped, slot.state = True, "not created"
            self._final()

    def _settle(self, futures: list[Future[None]]) -> None:
        """After an interrupt: let the creates already sent finish, so every weaver that exists
        is reported (waiters stop at their next poll); a second interrupt stops at once."""
        for future in futures:
            future.cancel()
        try:
            wait(futures, timeout=IN_FLIGHT_GRACE)
        except KeyboardInterrupt:
            pass

    def _watch(self, futures: list[Future[None]]) -> None:
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=self._period, return_when=FIRST_COMPLETED)
            self._update()

    def _work(self, i: int, create: Callable[[int], Any], waiter: Callable[..., Any] | None) -> None:
        slot = self.slots[i]
        try:
            if self._halt.is_set():
                slot.skipped, slot.state = True, "not created"
                return
            slot.started, slot.state = time.monotonic(), "creating"
            try:
                slot.weaver = create(i)
            except Exception as exc:
                slot.error = exc
                self._stop_creating(exc)
                return
            slot.state = slot.weaver.status
            if waiter is not None and not self._cancel.is_set():
                slot.state = f"{slot.weaver.status}, waiting for running"
                slot.weaver = waiter(slot.weaver.id, lambda w: self._seen(slot, w))
                slot.state = slot.weaver.status
        except Cancelled:
            slot.state = "stopped waiting (still starting on the server)"
        except Exception as exc:
            slot.error = exc
        finally:
            slot.done = True

    def _stop_creating(self, exc: Exception) -> None:
        with self._lock:
            if self.halted is None:
                self.halted = exc
        self._halt.set()

    def _seen(self, slot: Slot, weaver: Any) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        slot.weaver = weaver
        from loom_jupyter.client.models.weavers import RUNNING

        slot.state = weaver.status if weaver.status == RUNNING else f"{weaver.status}, waiting for {RUNNING}"

    # -- what the board says ------------------------------------------------------------
    def created(self) -> list[Any]:
        return [s.weaver for s in self.slots if s.weaver is not None]

    def failed(self) -> list[Slot]:
        return [s for s in self.slots if s.error is not None]

    def summary_text(self) -> str:
        """One line of counts, then each distinct failure once with how often it happened."""
        made = self.created()
        failed = self.failed()
        not_sent = sum(s.skipped for s in self.slots)
        to_go = len(self.slots) - len(made) - len([s for s in failed if s.weaver is None]) - not_sent
        running = sum(getattr(w, "status", "") == "running" for w in made)
        parts = [f"{len(made)} created ({running} running)"]
        if failed:
            parts.append(f"{len(failed)} failed")
        if not_sent:
            parts.append(f"{not_sent} not created")
        if to_go:
            parts.append(f"{to_go} to go")
        lines = [f"{len(self.slots)} weavers: " + ", ".join(parts)]
        counts = Counter(short(self.describe(s.error)) for s in failed if s.error is not None)
        for message, n in counts.most_common(MAX_FAILURES):
            lines.append(f"  {n} × {message}")
        if len(counts) > MAX_FAILURES:
            lines.append(f"  … and {len(counts) - MAX_FAILURES} other failures")
        return "\n".join(lines)

    def _slot_line(self, slot: Slot) -> str:
        return slot.line(self.describe if len(self.slots) > 1 else None)

    def _table_text(self) -> str:
        return "\n".join(self._slot_line(slot) for slot in self.slots)

    def _text(self) -> str:
        return self.summary_text() if self.summary else self._table_text()

    # -- drawing ------------------------------------------------------------------------
    def _update(self) -> None:
        if self.in_place:
            self.area.set(lambda: text_bundle(self._text()))
        elif self.summary:
            self._rewrite_summary()
        else:
            self._print_done_slots()

    def _final(self) -> None:
        if self.in_place:
            self.area.set(lambda: text_bundle(self._text()))
            self.area.flush()
        elif self.summary:
            if self._carriage:
                self._write("\r\033[K")
            self._write(self.summary_text() + "\n")
        else:
            self._print_done_slots(everything=True)

    def _print_done_slots(self, everything: bool = False) -> None:
        """Terminal, small batch: each weaver's line once, when it is done."""
        for i, slot in enumerate(self.slots):
            if i not in self._printed and (slot.done or everything):
                self._printed.add(i)
                self._write(self._slot_line(slot) + "\n")

    def _rewrite_summary(self) -> None:
        """Terminal, large batch: the first line of the summary, rewritten in place on a tty."""
        first = self.summary_text().splitlines()[0]
        if not is_tty(sys.stdout) or first == self._shown_line:
            return
        self._shown_line = first
        self._write("\r\033[K" + first)
        self._carriage = True

    @staticmethod
    def _write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
