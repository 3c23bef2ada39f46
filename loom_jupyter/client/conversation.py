"""One LLM conversation through Loom: its whole history, answers streamed into turns, saved to a thread.

`Conversation` (over `Loom`) and `AsyncConversation` (over `AsyncLoom`) share everything but
I/O, the way `BaseLoom` does: an answer is fed event by event to a sans-I/O `_Answer`, and a
save is a generator of steps that each class's small driver runs (cf. the client's flows).

Saving appends the messages not yet saved to the stored thread with `If-Match` (loom-api.md
§3.2). When someone else saved in between (409), it re-reads their version and appends to
it, so neither their messages nor ours are lost; the whole history is kept, whatever the
caller chooses to display or to send to the model.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

from ._errors import ConflictError, LoomError, LoomValidationError, StreamError
from .models import Completed, ErrorEvent, LlmEvent, TextDelta, Thread
from .models.ids import new_thread_id

if TYPE_CHECKING:
    from ._client import AsyncLoom, Loom

__all__ = ["AsyncConversation", "Conversation", "Turn"]

TITLE_LENGTH = 60
# One PUT on top of what we last saved, then up to two re-reads after a 409.
SAVE_ATTEMPTS = 3
STOPPED = "stopped by you"
INTERRUPTED = "interrupted"
BROKE_OFF = "the stream broke off"
PROVIDER_ERROR = "the provider reported an error"

Step = Callable[[], Any]
SaveSteps = Generator[Step, Any, "Thread | None"]


@dataclass(frozen=True)
class Turn:
    """One message of the conversation; an answer that ended early says why in `cut` and `error`."""

    role: str
    content: str
    cut: str = ""
    error: str = ""
    provider: str = ""
    model: str = ""

    @property
    def why(self) -> str:
        """Why the answer is partial, with the detail ("" when it is complete)."""
        return f"{self.cut}: {self.error}" if self.error else self.cut

    def message(self) -> dict[str, str]:
        """The wire form sent to the model and saved in the thread."""
        return {"role": self.role, "content": self.content}


@dataclass
class _Answer:
    """An answer while it streams: fed one event at a time by either driver."""

    prompt: str
    provider: str
    model: str
    max_tokens: int | None
    parts: list[str] = field(default_factory=list)
    cut: str = ""
    error: str = ""
    complete: bool = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def feed(self, event: LlmEvent) -> bool:
        """Take one stream event; True when the answer is over."""
        if isinstance(event, TextDelta):
            self.parts.append(event.content)
        elif isinstance(event, ErrorEvent):
            self.cut, self.error = PROVIDER_ERROR, event.message
        elif isinstance(event, Completed):
            self.complete = True
            if not self.parts:
                self.parts.append(event.response.text)
        return isinstance(event, (Completed, ErrorEvent))

    def interrupted(self) -> None:
        if not (self.cut or self.complete):
            self.cut = INTERRUPTED

    def broke(self, exc: StreamError) -> None:
        if len(exc.partial_text) > len(self.text):
            self.parts = [exc.partial_text]
        self.cut, self.error = BROKE_OFF, str(exc)

    def turns(self) -> tuple[Turn, Turn]:
        answer = Turn("assistant", self.text, self.cut, self.error, self.provider, self.model)
        return Turn("user", self.prompt), answer


def _resume(steps: SaveSteps, result: Any, error: LoomError | None) -> tuple[bool, Any]:
    """Hand a step's outcome back to the save; (True, its result) once it is over, else (False, next step)."""
    try:
        return False, (steps.throw(error) if error is not None else steps.send(result))
    except StopIteration as stop:
        return True, stop.value


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def title_from(turns: list[Turn]) -> str:
    """The first question on one line, shortened to TITLE_LENGTH."""
    first = next((t.content for t in turns if t.role == "user"), "") or "Notebook chat"
    flat = " ".join(first.split())
    return flat if len(flat) <= TITLE_LENGTH else flat[: TITLE_LENGTH - 1] + "…"


class BaseConversation:
    """Everything but I/O: the history, what the model sees, how an answer and a save unfold."""

    def __init__(
        self, client: Any, provider: str = "anthropic", model: str = "", *, system: str | None = None,
        max_tokens: int | None = None, context_limit: int | None = None,
    ) -> None:
        self.client = client
        self.provider, self.model, self.system = provider, model, system
        self.max_tokens = max_tokens
        #: The newest messages sent to the model with each question (None: all of them).
        self.context_limit = context_limit
        self._stop = threading.Event()
        self.reset()

    def reset(self) -> None:
        """Forget the history and the thread: the next save creates a new thread."""
        self._turns: list[Turn] = []
        self._saved = 0  # the first _saved turns are in the thread
        self._thread: Thread | None = None
        self._answer: _Answer | None = None
        self._stop.clear()

    # -- state --------------------------------------------------------------------------
    @property
    def turns(self) -> tuple[Turn, ...]:
        """Every turn since the start (or since the thread was opened), answers cut short included."""
        return tuple(self._turns)

    @property
    def messages(self) -> list[dict[str, str]]:
        """The whole history in wire form (turns without text are left out)."""
        return [t.message() for t in self._turns if t.content]

    @property
    def unsaved(self) -> list[dict[str, str]]:
        """The messages the next `save()` appends to the thread."""
        return [t.message() for t in self._turns[self._saved:] if t.content]

    @property
    def thread_id(self) -> str | None:
        return self._thread.id if self._thread is not None else None

    @property
    def version(self) -> int | None:
        return self._thread.version if self._thread is not None else None

    @property
    def streaming(self) -> bool:
        return self._answer is not None

    @property
    def partial_text(self) -> str:
        """The answer streaming now, as far as it has arrived ("" when none is)."""
        answer = self._answer
        return answer.text if answer is not None else ""

    def stop(self) -> None:
        """Stop the answer streaming now (or the next one, if it has not started yet) at its
        next event; what arrived is kept. Safe to call from any thread."""
        self._stop.set()

    def context(self, prompt: str) -> list[dict[str, str]]:
        """What the model is sent with `prompt`: the newest messages, starting with a user's."""
        window = [*self.messages, {"role": "user", "content": prompt}]
        if self.context_limit is not None:
            window = window[-max(1, self.context_limit):]
        while window[0]["role"] != "user":
            window = window[1:]
        return window

    def __repr__(self) -> str:
        saved = f", thread {self.thread_id}" if self.thread_id else ""
        return f"{type(self).__name__}({self.provider}/{self.model}, {len(self._turns)} turns{saved})"

    # -- asking (shared by both drivers) ----------------------------------------------------
    def _begin(self, prompt: str, provider: str | None, model: str | None, max_tokens: int | None) -> _Answer:
        if not isinstance(prompt, str) or not prompt.strip():
            raise LoomValidationError("prompt", "there is nothing to ask.")
        return _Answer(prompt, provider or self.provider, model or self.model, max_tokens or self.max_tokens)

    def _open(self, answer: _Answer) -> Any:
        return self.client.llm.stream(answer.provider, answer.model, self.context(answer.prompt),
                                      system=self.system, max_tokens=answer.max_tokens)

    @contextmanager
    def _streaming(self, answer: _Answer) -> Iterator[None]:
        self._answer = answer
        try:
            yield
        finally:
            self._answer = None
            self._stop.clear()

    def _take(self, answer: _Answer, event: LlmEvent, on_text: Callable[[str], Any] | None) -> bool:
        """Feed one event; True when the answer is over (or was stopped)."""
        if self._stop.is_set():
            answer.cut = STOPPED
            return True
        done = answer.feed(event)
        if on_text is not None and isinstance(event, TextDelta):
            on_text(event.content)
        return done

    def _record(self, answer: _Answer) -> Turn:
        self._turns.extend(answer.turns())
        return self._turns[-1]

    # -- threads (shared by both drivers) ---------------------------------------------------
    def _opened(self, thread: Thread) -> Thread:
        """Continue `thread`: its user and assistant messages become the history."""
        self.reset()
        self._turns = [Turn(m["role"], m["content"]) for m in thread.messages
                       if m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)]
        self._saved, self._thread = len(self._turns), thread
        return thread

    def _save_steps(self, before_put: Callable[[Thread], Any] | None) -> SaveSteps:
        """Append the unsaved messages on top of what we last saved; after a 409, on top of theirs."""
        messages, upto = self.unsaved, len(self._turns)
        if not messages:
            return None
        base = self._thread or self._new_thread()
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            thread = self._appended(base, messages)
            if before_put is not None:
                before_put(thread)
            try:
                stored = yield partial(self.client.threads.put, thread, expected_version=base.version)
            except ConflictError:
                if attempt == SAVE_ATTEMPTS:
                    raise
                base = yield partial(self.client.threads.get, base.id)
                continue
            self._thread, self._saved = stored, upto
            return stored  # type: ignore[no-any-return]
        raise AssertionError("unreachable")  # pragma: no cover

    def _new_thread(self) -> Thread:
        now = _now()
        return Thread.model_validate({
            "id": new_thread_id(), "version": 0, "created_at": now, "updated_at": now,
            "last_activity_at": now, "conversation": {"messages": []},
            "metadata": {"title": title_from(self._turns), "tags": ["jupyter"], "is_pinned": False, "extra": {}},
        })

    def _appended(self, base: Thread, messages: list[dict[str, str]]) -> Thread:
        """`base` with `messages` at the end; every other field is kept as stored."""
        conversation = {**(base.conversation or {}), "messages": base.messages + messages}
        changes: dict[str, Any] = {"conversation": conversation, "last_activity_at": _now()}
        answered = next((t for t in reversed(self._turns) if t.model), None)
        if answered is not None:
            changes.update(provider=answered.provider, model=answered.model)
        return base.model_copy(update=changes)


class Conversation(BaseConversation):
    """A conversation over a `Loom` client: `Conversation(loom, "anthropic", "claude-...").ask("Hi")`."""

    client: Loom

    def ask(
        self, prompt: str, *, provider: str | None = None, model: str | None = None,
        max_tokens: int | None = None, on_text: Callable[[str], Any] | None = None,
    ) -> Turn:
        """Stream the answer (`on_text` gets each piece) and return it as a turn of the history.

        A stop(), a Ctrl-C or a broken stream keeps the partial answer, marked `cut`; a
        LoomError before the answer starts leaves the history as it was.
        """
        answer = self._begin(prompt, provider, model, max_tokens)
        with self._streaming(answer):
            try:
                self._drain(answer, on_text)
            except KeyboardInterrupt:
                answer.interrupted()
        return self._record(answer)

    def _drain(self, answer: _Answer, on_text: Callable[[str], Any] | None) -> None:
        events = self._open(answer)
        try:
            for event in events:
                if self._take(answer, event, on_text):
                    break
        except StreamError as exc:
            answer.broke(exc)
        finally:
            events.close()

    def open(self, thread_id: str) -> Thread:
        """Continue a stored thread: its messages become the history (unsaved turns are dropped)."""
        return self._opened(self.client.threads.get(thread_id))

    def save(self, *, before_put: Callable[[Thread], Any] | None = None) -> Thread | None:
        """Append the unsaved messages to the thread (created on the first save); None if none.

        ConflictError only if the thread changed under us on every attempt; the messages
        stay unsaved and go with the next save. `before_put` sees each Thread about to be sent.
        """
        steps = self._save_steps(before_put)
        done, value = _resume(steps, None, None)
        while not done:
            try:
                result, error = value(), None
            except LoomError as exc:
                result, error = None, exc
            done, value = _resume(steps, result, error)
        return value  # type: ignore[no-any-return]


class AsyncConversation(BaseConversation):
    """The same conversation over an `AsyncLoom` client: `await conversation.ask("Hi")`."""

    client: AsyncLoom

    async def ask(
        self, prompt: str, *, provider: str | None = None, model: str | None = None,
        max_tokens: int | None = None, on_text: Callable[[str], Any] | None = None,
    ) -> Turn:
        """`Conversation.ask`, awaited; a cancelled task keeps what arrived (cut), then stops."""
        answer = self._begin(prompt, provider, model, max_tokens)
        with self._streaming(answer):
            try:
                await self._drain(answer, on_text)
            except asyncio.CancelledError:  # the task stops, and what arrived is kept
                answer.interrupted()
                self._record(answer)
                raise
        return self._record(answer)

    async def _drain(self, answer: _Answer, on_text: Callable[[str], Any] | None) -> None:
        events = self._open(answer)
        try:
            async for event in events:
                if self._take(answer, event, on_text):
                    break
        except StreamError as exc:
            answer.broke(exc)
        finally:
            await events.aclose()

    async def open(self, thread_id: str) -> Thread:
        """`Conversation.open`, awaited."""
        return self._opened(await self.client.threads.get(thread_id))

    async def save(self, *, before_put: Callable[[Thread], Any] | None = None) -> Thread | None:
        """`Conversation.save`, awaited."""
        steps = self._save_steps(before_put)
        done, value = _resume(steps, None, None)
        while not done:
            try:
                result, error = await value(), None
            except LoomError as exc:
                result, error = None, exc
            done, value = _resume(steps, result, error)
        return value  # type: ignore[no-any-return]
