"""ChatPanel: stream an LLM answer through Loom's proxy, stop it, keep the history, save it as a thread."""

from __future__ import annotations

import html
import threading
from collections import deque
from typing import Any

import ipywidgets as w

from loom_jupyter.client import Completed, ErrorEvent, Loom, LoomError, StreamError, TextDelta

from ._poll import Throttle, close_tree, start_daemon
from ._thread_save import save_conversation
from ._turns import Turn, render_streaming

__all__ = ["PROVIDER_MODELS", "ChatPanel"]

PROVIDER_MODELS: dict[str, list[str]] = {
    "anthropic": ["claude-sonnet-4-20250514", "claude-opus-4-20250514", "claude-3-5-haiku-latest"],
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4.1"],
}
_WIDE = w.Layout(width="100%")


class ChatPanel(w.VBox):
    """A conversation with one provider/model at a time, streamed token by token.

    The answer streams in a daemon thread; ``stop()`` sets a flag it checks between
    events, and whatever arrived is kept and marked as cut. History keeps the newest
    ``max_history`` turns, which are also what the model sees.
    """

    def __init__(
        self,
        client: Loom | None = None,
        provider: str = "anthropic",
        model: str | None = None,
        *,
        system: str | None = None,
        max_tokens: int | None = None,
        max_history: int = 100,
        rate: float = 10.0,
    ) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else Loom()
        self.system = system
        self.max_tokens = max_tokens
        self.turns: deque[Turn] = deque(maxlen=max_history)
        self.thread_id: str | None = None
        self._thread_version: int | None = None
        self._stop_flag = threading.Event()
        self._closed = False
        self._partial: list[str] = []
        self._worker: threading.Thread | None = None
        self._active = False
        self.message = ""
        self._build_widgets(provider, model)
        self._throttle = Throttle(self._redraw_answer, rate=rate, name="loom-chat-redraw")

    def _build_widgets(self, provider: str, model: str | None) -> None:
        providers = list(PROVIDER_MODELS) + ([provider] if provider not in PROVIDER_MODELS else [])
        self.provider = w.Dropdown(options=providers, value=provider, description="provider")
        models = PROVIDER_MODELS.get(provider, [])
        self.model = w.Combobox(options=models, value=model or (models[0] if models else ""),
                                description="model", ensure_option=False)
        self.provider.observe(self._on_provider, names="value")
        self.history = w.HTML()
        self.answer = w.HTML()
        self.prompt = w.Textarea(placeholder="Ask something…", layout=_WIDE)
        self.send_button = _button("Send", "paper-plane", self.send, "primary")
        self.stop_button = _button("Stop", "stop", self.stop, "warning")
        self.stop_button.disabled = True
        self.save_button = _button("Save to thread", "save", self.save)
        self.clear_button = _button("New conversation", "file", self.clear)
        self.status = w.HTML()
        super().__init__(children=[
            w.HBox([self.provider, self.model]), self.history, self.answer, self.prompt,
            w.HBox([self.send_button, self.stop_button, self.save_button, self.clear_button]),
            self.status,
        ])

    def _on_provider(self, change: dict) -> None:
        models = PROVIDER_MODELS.get(change["new"], [])
        self.model.options = models
        self.model.value = models[0] if models else ""

    # -- asking ---------------------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        return self._active

    def send(self, text: str | None = None) -> None:
        """Ask ``text`` (or the prompt box) and stream the answer in the background."""
        question = (self.prompt.value if text is None else text).strip()
        if self.streaming:
            self._say("An answer is still streaming: wait for it or press Stop.", error=True)
            return
        if not question or not self.model.value.strip():
            self._say("Type a question and pick a model first.", error=True)
            return
        self.turns.append(Turn("user", question))
        self.prompt.value = ""
        self._redraw_history()
        self._stop_flag.clear()
        self._partial = []
        self._active = True
        self._set_streaming(True)
        self._say(f"Asking {self.provider.value}/{self.model.value}…")
        request = (self.provider.value, self.model.value.strip(), [t.message() for t in self.turns if t.content])
        self._worker = start_daemon(lambda: self._stream(*request), "loom-chat-stream")

    def stop(self) -> None:
        """Ask the streaming thread to stop at the next event; the partial answer is kept."""
        if self.streaming:
            self._stop_flag.set()
            self._say("Stopping…")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current answer is finished; True if it is."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return worker is None or not worker.is_alive()

    def _stream(self, provider: str, model: str, messages: list[dict[str, Any]]) -> None:
        cut = error = ""
        try:
            cut, error = self._consume(provider, model, messages)
        except StreamError as exc:
            if len(exc.partial_text) > len("".join(self._partial)):
                self._partial = [exc.partial_text]
            cut = error = str(exc)
        except LoomError as exc:
            error = str(exc)
        except Exception as exc:  # nobody else would see it: this is a widget thread
            error = f"Unexpected {type(exc).__name__}: {exc}"
        self._finish(provider, model, cut, error)

    def _consume(self, provider: str, model: str, messages: list[dict[str, Any]]) -> tuple[str, str]:
        events = self._client.llm.stream(provider, model, messages, system=self.system,
                                         max_tokens=self.max_tokens)
        try:
            for event in events:
                if self._stop_flag.is_set():
                    return "stopped by you", ""
                if isinstance(event, TextDelta):
                    self._partial.append(event.content)
                    self._throttle.mark()
                elif isinstance(event, ErrorEvent):
                    return ("the provider reported an error" if self._partial else ""), event.message
                elif isinstance(event, Completed):
                    self._take_completed(event)
                    return "", ""
            return ("stopped by you", "") if self._stop_flag.is_set() else ("", "")
        finally:
            getattr(events, "close", lambda: None)()

    def _take_completed(self, event: Any) -> None:
        if self._partial:
            return
        message = getattr(getattr(event, "response", None), "message", None)
        content = getattr(message, "content", None) or ""
        if content:
            self._partial = [content]

    def _finish(self, provider: str, model: str, cut: str, error: str) -> None:
        self._active = False
        text = "".join(self._partial)
        if text or error:
            self.turns.append(Turn("assistant", text, cut=cut, error=error, provider=provider, model=model))
        self.answer.value = ""
        self._redraw_history()
        self._set_streaming(False)
        if error:
            self._say(error, error=True)
        else:
            self._say(f"Answer cut ({cut})." if cut else "Done.")

    # -- saving ---------------------------------------------------------------------------
    def save(self) -> str | None:
        """Save the conversation to a Loom thread (created the first time); return its id."""
        if self.streaming:
            self._say("Wait for the answer to finish (or stop it) before saving.", error=True)
            return None
        try:
            thread = save_conversation(self._client, self.thread_id, self._thread_version,
                                       list(self.turns), self.provider.value, self.model.value)
        except LoomError as exc:
            self._say(f"Not saved: {exc}", error=True)
            return None
        self.thread_id, self._thread_version = thread.id, thread.version
        self._say(f"Saved to thread {thread.id} (version {thread.version}).")
        return thread.id

    def clear(self) -> None:
        """Start a new conversation (the next save creates a new thread)."""
        if not self.streaming:
            self.turns.clear()
            self.thread_id = self._thread_version = None
            self._redraw_history()
            self._say("New conversation.")

    # -- drawing --------------------------------------------------------------------------
    @property
    def partial_text(self) -> str:
        return "".join(self._partial)

    def _redraw_answer(self) -> None:
        if self.streaming:
            self.answer.value = render_streaming(self.partial_text)

    def _redraw_history(self) -> None:
        self.history.value = "".join(turn.to_html() for turn in self.turns)

    def _set_streaming(self, on: bool) -> None:
        self.send_button.disabled = on
        self.stop_button.disabled = not on

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message = text
        colour = "#c53030" if error else "#4a5568"
        self.status.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def close(self) -> None:
        """Stop streaming and redrawing, and close every child widget."""
        if self._closed:
            return
        self._closed = True
        self._stop_flag.set()
        self._throttle.stop()
        for child in self.children:
            close_tree(child)
        super().close()
        if self._owns_client:
            self._client.close()

    def __repr__(self) -> str:
        saved = f", thread {self.thread_id}" if self.thread_id else ""
        return f"ChatPanel({self.provider.value}/{self.model.value}, {len(self.turns)} messages{saved})"

    def _repr_html_(self) -> str:
        return f"<div><b>{html.escape(repr(self))}</b>{self.history.value}</div>"


def _button(label: str, icon: str, action: Any, style: str = "") -> w.Button:
    button = w.Button(description=label, icon=icon, button_style=style, layout=w.Layout(width="auto"))
    button.on_click(lambda _b: action())
    return button
