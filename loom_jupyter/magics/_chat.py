"""`%%loom chat`: one conversation per kernel, streamed into one display, saved as a Loom thread."""
from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

from ._display import LiveArea, markdown_bundle, text_bundle
from ._errors import MagicError
from ._expand import expand
from ._thread_sync import new_thread_id, save_messages

DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-20250514", "openai": "gpt-4o-mini"}
CURSOR = " ▌"


@dataclass
class Answer:
    """What came back: the text (possibly partial) and, if it was cut short, why."""

    text: str
    cut: str | None = None

    def markdown(self) -> str:
        if self.cut is None:
            return self.text
        return f"{self.text}\n\n---\n*Answer cut short ({self.cut}); the partial answer is kept.*"


def stream_answer(events: Any, area: LiveArea, on_token: Callable[[str], Any] | None = None) -> Answer:
    """Drain an LLM event stream into `area`; interrupts and broken streams keep the partial text."""
    from loom_jupyter.client import Completed, ErrorEvent, StreamError, TextDelta

    parts: list[str] = []
    cut: str | None = None
    try:
        for event in events:
            if isinstance(event, TextDelta):
                parts.append(event.content)
                if on_token is not None:
                    on_token(event.content)
                area.set(text_bundle("".join(parts) + CURSOR))
            elif isinstance(event, ErrorEvent):
                cut = f"the provider reported an error: {event.message}"
                break
            elif isinstance(event, Completed) and not parts:
                parts.append(event.response.text or "")
    except KeyboardInterrupt:
        cut = "interrupted"
    except StreamError as exc:
        if len(exc.partial_text) > len("".join(parts)):
            parts = [exc.partial_text]
        cut = f"the stream broke off: {exc}"
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    return Answer("".join(parts), cut)


class ChatSession:
    """The kernel's running conversation: bounded history, sticky settings, its Loom thread."""

    def __init__(self, magics: Any) -> None:
        self.magics = magics
        self.reset()

    def reset(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.unsaved: list[dict[str, Any]] = []
        self.thread_id: str | None = None
        self.version: int | None = None
        self.system: str | None = None
        self.provider: str | None = None
        self.model: str | None = None

    def open(self, thread_id: str) -> None:
        """Continue an existing thread: its latest messages become the history."""
        thread = self.magics.client.threads.get(thread_id)
        self.reset()
        self.thread_id, self.version = thread.id, thread.version
        self.messages = self._bounded([_plain(m) for m in thread.messages if m.get("role") in ("user", "assistant")])

    def ask(self, args: Namespace, cell: str) -> Answer:
        if args.new:
            self.reset()
        if args.thread and args.thread != self.thread_id:
            self.open(args.thread)
        if args.system is not None:
            self.system = args.system
        prompt = expand(cell, self.magics.shell.user_ns).strip()
        if not prompt:
            raise MagicError("Nothing to ask: write your message in the cell, below %%loom chat.")
        answer = self._stream(args, prompt)
        turn = [{"role": "user", "content": prompt}]
        if answer.text:
            turn.append({"role": "assistant", "content": answer.text})
        self.messages = self._bounded(self.messages + turn)
        self.unsaved += turn
        return answer

    def _stream(self, args: Namespace, prompt: str) -> Answer:
        provider = args.provider or self.magics.default_provider
        model = args.model or self.magics.default_model or DEFAULT_MODELS.get(provider, "")
        if not model:
            raise MagicError(f"No default model for provider {provider!r}; pass --model NAME.")
        max_tokens = args.max_tokens or self.magics.max_tokens or None
        events = self.magics.client.llm.stream(
            provider, model, [*self.messages, {"role": "user", "content": prompt}],
            system=self.system, max_tokens=max_tokens,
        )
        area = LiveArea(self.magics.log_refresh_hz)
        area.set(text_bundle(CURSOR.strip()))
        answer = stream_answer(events, area, self.magics.hooks.get("chat_token"))
        area.set(markdown_bundle(answer.markdown()))
        area.flush()
        self.provider, self.model = provider, model
        return answer

    def save(self) -> Any:
        """Append the unsaved messages to the thread (created on first save)."""
        if not self.unsaved:
            return None
        thread_id = self.thread_id or new_thread_id()
        extra = {"provider": self.provider, "model": self.model}
        stored = save_messages(self.magics.client, thread_id, self.unsaved, extra=extra,
                               before_put=self.magics.hooks.get("before_thread_put"))
        self.thread_id, self.version, self.unsaved = stored.id, stored.version, []
        return stored

    def _bounded(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The newest `max_history` messages, starting at a user message (providers require it)."""
        kept = messages[-max(1, self.magics.max_history):]
        while kept and kept[0].get("role") != "user":
            kept = kept[1:]
        return kept


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    return {"role": message["role"], "content": message.get("content") or ""}
