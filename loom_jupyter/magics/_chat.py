"""`%%loom chat`: one conversation per kernel, streamed into one display, saved as a Loom thread."""
from __future__ import annotations

from argparse import Namespace
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

from loom_jupyter.client.models.providers import PROVIDERS, default_model

from ._display import LiveArea, markdown_bundle, text_bundle
from ._errors import MagicError, did_you_mean
from ._expand import expand

if TYPE_CHECKING:
    from loom_jupyter.client import Conversation, Thread, Turn

CURSOR = " ▌"


def answer_markdown(turn: Turn) -> str:
    """The answer as shown once complete; one cut short says so, and that its text is kept."""
    if not turn.cut:
        return turn.content
    return f"{turn.content}\n\n---\n*Answer cut short ({turn.why}); the partial answer is kept.*"


def known_provider(name: str) -> str:
    """`name`, unless it is a typo of a provider Loom has (a newer Loom may have others)."""
    if name in PROVIDERS:
        return name
    hint = did_you_mean(name, PROVIDERS)
    if hint:
        raise MagicError(f"Loom has no LLM provider {name!r}{hint}; "
                         f"Loom's providers: {', '.join(PROVIDERS)}.")
    return name


class ChatSession:
    """The kernel's running conversation (the client's `Conversation`) and the options it remembers.

    The conversation keeps and saves every message; `max_history` only bounds what the model
    is sent with each question.
    """

    def __init__(self, magics: Any) -> None:
        from loom_jupyter.client import Conversation

        self.magics = magics
        self.conversation: Conversation = Conversation(None)  # the client is bound on each use

    def reset(self) -> None:
        self.conversation.reset()
        self.conversation.system = None

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.conversation.messages

    @property
    def unsaved(self) -> list[dict[str, str]]:
        return self.conversation.unsaved

    @property
    def thread_id(self) -> str | None:
        return self.conversation.thread_id

    def open(self, thread_id: str) -> None:
        """Continue an existing thread: its messages become the history."""
        self._bound().open(thread_id)
        self.conversation.system = None

    def ask(self, args: Namespace, cell: str) -> Turn:
        if args.new:
            self.reset()
        if args.thread and args.thread != self.thread_id:
            self.open(args.thread)
        if args.system is not None:
            self.conversation.system = args.system
        prompt = expand(cell, self.magics.shell.user_ns).strip()
        if not prompt:
            raise MagicError("Nothing to ask: write your message in the cell, below %%loom chat.")
        provider = known_provider(args.provider or self.magics.default_provider)
        model = args.model or self.magics.default_model or default_model(provider)
        if not model:
            raise MagicError(f"No default model for provider {provider!r}; pass --model NAME.")
        return self._stream(prompt, provider, model, args.max_tokens or self.magics.max_tokens or None)

    def _stream(self, prompt: str, provider: str, model: str, max_tokens: int | None) -> Turn:
        """The answer streams into one area, which appears with its first words: a request
        refused before any (unknown provider, no key, ...) leaves only its one-line error."""
        conversation = self._bound()
        conversation.context_limit = max(1, self.magics.max_history)
        area = LiveArea(self.magics.log_refresh_hz)
        shown: list[str] = []  # the words so far, as the callback last saw them
        try:
            turn = conversation.ask(prompt, provider=provider, model=model, max_tokens=max_tokens,
                                    on_text=self._show_progress(area, shown))
        except BaseException:
            if shown:  # keep the words shown, without the cursor: the error line follows
                area.set(text_bundle(shown[-1]))
                area.flush()
            raise
        area.set(markdown_bundle(answer_markdown(turn)))
        area.flush()
        return turn

    def _show_progress(self, area: LiveArea, shown: list[str]) -> Callable[[str], None]:
        hook = self.magics.hooks.get("chat_token")

        def show(piece: str) -> None:
            shown[:] = [self.conversation.partial_text]
            if hook is not None:
                hook(piece)
            area.set(lambda: text_bundle(self.conversation.partial_text + CURSOR))
        return show

    def save(self) -> Thread | None:
        """Append the unsaved messages to the thread (created on first save)."""
        from loom_jupyter.client import ConflictError

        try:
            return self._bound().save(before_put=self.magics.hooks.get("before_thread_put"))
        except ConflictError:
            raise MagicError(f"Thread {self.thread_id} kept changing while saving; the conversation is kept "
                             "here and will be saved with your next message.") from None

    def _bound(self) -> Conversation:
        """The conversation, talking through the magics' current connection."""
        self.conversation.client = self.magics.client
        return self.conversation
