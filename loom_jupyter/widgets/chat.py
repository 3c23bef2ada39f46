"""ChatPanel: stream an LLM answer through Loom's proxy, stop it, keep the history, save it as a thread."""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w

from loom_jupyter.client import Conversation, Loom, LoomError, Turn
from loom_jupyter.client.models.providers import PROVIDERS, SUGGESTED_MODELS

from ._poll import Throttle, close_tree, start_daemon
from ._turns import hidden_note, render_streaming, turn_html

__all__ = ["PROVIDER_MODELS", "ChatPanel"]

# Every provider Loom routes, each with the models to suggest (the first is the default).
PROVIDER_MODELS: dict[str, list[str]] = {p: list(SUGGESTED_MODELS.get(p, ())) for p in PROVIDERS}
_WIDE = w.Layout(width="100%")


class ChatPanel(w.VBox):
    """A conversation with one provider/model at a time, streamed token by token.

    The answer streams in a daemon thread; ``stop()`` ends it at the next event, and
    whatever arrived is kept and marked as cut. The panel shows the newest ``max_history``
    turns and the model is sent the newest ``max_history`` messages; the conversation
    (``self.conversation``) keeps all of them, and saving saves all of them.
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
        self.conversation = Conversation(self._client, provider, model or "", system=system,
                                         max_tokens=max_tokens, context_limit=max_history)
        self.max_history = max_history
        self._closed = False
        self._question = ""  # asked, not answered yet
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

    # -- the conversation -----------------------------------------------------------------
    @property
    def turns(self) -> tuple[Turn, ...]:
        """Every turn of the conversation, including those too old to be shown."""
        return self.conversation.turns

    @property
    def thread_id(self) -> str | None:
        return self.conversation.thread_id

    @property
    def system(self) -> str | None:
        return self.conversation.system

    @system.setter
    def system(self, value: str | None) -> None:
        self.conversation.system = value

    @property
    def max_tokens(self) -> int | None:
        return self.conversation.max_tokens

    @max_tokens.setter
    def max_tokens(self, value: int | None) -> None:
        self.conversation.max_tokens = value

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
        self._question, self._active = question, True
        self.prompt.value = ""
        self._redraw_history()
        self._set_streaming(True)
        self._say(f"Asking {self.provider.value}/{self.model.value}…")
        request = (question, self.provider.value, self.model.value.strip())
        self._worker = start_daemon(lambda: self._stream(*request), "loom-chat-stream")

    def stop(self) -> None:
        """Ask the streaming thread to stop at the next event; the partial answer is kept."""
        if self.streaming:
            self.conversation.stop()
            self._say("Stopping…")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current answer is finished; True if it is."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return worker is None or not worker.is_alive()

    def _stream(self, question: str, provider: str, model: str) -> None:
        error = ""
        try:
            self.conversation.ask(question, provider=provider, model=model,
                                  on_text=lambda _piece: self._throttle.mark())
        except LoomError as exc:
            error = str(exc)
        except Exception as exc:  # nobody else would see it: this is a widget thread
            error = f"Unexpected {type(exc).__name__}: {exc}"
        self._finish(question, error)

    def _finish(self, question: str, error: str) -> None:
        self._question, self._active = "", False
        self.answer.value = ""
        self._redraw_history()
        self._set_streaming(False)
        if error:  # no answer at all: the question is not part of the conversation
            self.prompt.value = self.prompt.value or question
            self._say(f"Not answered: {error}", error=True)
            return
        turn = self.turns[-1]
        self._say(f"Answer cut ({turn.why})." if turn.cut else "Done.", error=bool(turn.error))

    # -- saving ---------------------------------------------------------------------------
    def save(self) -> str | None:
        """Save the whole conversation to a Loom thread (created the first time); return its id.

        New messages are appended to the stored thread; if someone else saved it meanwhile,
        theirs are kept and ours follow them.
        """
        if self.streaming:
            self._say("Wait for the answer to finish (or stop it) before saving.", error=True)
            return None
        try:
            thread = self.conversation.save()
        except LoomError as exc:
            self._say(f"Not saved: {exc}", error=True)
            return None
        if thread is None:
            self._say(f"Nothing new to save in thread {self.thread_id}." if self.thread_id
                      else "Nothing to save yet: ask something first.")
            return self.thread_id
        self._say(f"Saved to thread {thread.id} (version {thread.version}).")
        return thread.id

    def clear(self) -> None:
        """Start a new conversation (the next save creates a new thread)."""
        if not self.streaming:
            self.conversation.reset()
            self._redraw_history()
            self._say("New conversation.")

    # -- drawing --------------------------------------------------------------------------
    @property
    def partial_text(self) -> str:
        return self.conversation.partial_text

    def _redraw_answer(self) -> None:
        if self.streaming:
            self.answer.value = render_streaming(self.partial_text)

    def _redraw_history(self) -> None:
        turns = self.turns
        shown = list(turns[-self.max_history:]) if self.max_history > 0 else []
        if self._question:
            shown.append(Turn("user", self._question))
        self.history.value = hidden_note(len(turns) - len(shown)) + "".join(map(turn_html, shown))

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
        self.conversation.stop()
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
