"""`%%loom chat --connection NAME` for the platforms that are not Loom: openloomi's chat and
NodeLoom's agents, streamed into one display exactly as a Loom answer is (`_chat.py`).

Each connection keeps its own conversation for the kernel's life (`--new` starts another):
openloomi is sent the earlier messages with each question; NodeLoom keeps them itself in an
agent session, which is reused.
"""
from __future__ import annotations

import weakref
from argparse import Namespace
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._chat import CURSOR
from ._display import LiveArea, markdown_bundle, text_bundle
from ._errors import MagicError
from ._expand import expand

#: The chat of each kind, and the `%%loom chat` options it understands.
CHAT_KINDS = {"openloomi": ("--model", "--system", "--new"), "nodeloom": ("--agent", "--new")}
_LOOM_ONLY = (("provider", "--provider"), ("thread", "--thread"), ("max_tokens", "--max-tokens"))


@dataclass
class Conversations:
    """The kernel's conversations with the other platforms, by connection."""

    messages: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # openloomi
    system: dict[str, str] = field(default_factory=dict)
    sessions: dict[tuple[str, str], str] = field(default_factory=dict)  # NodeLoom (conn, agent)

    def forget(self, key: str) -> None:
        self.messages.pop(key, None)
        self.system.pop(key, None)
        for pair in [p for p in self.sessions if p[0] == key]:
            del self.sessions[pair]


_BY_MAGICS: weakref.WeakKeyDictionary[Any, Conversations] = weakref.WeakKeyDictionary()


def conversations(magics: Any) -> Conversations:
    if magics not in _BY_MAGICS:
        _BY_MAGICS[magics] = Conversations()
    return _BY_MAGICS[magics]


def unsupported(client: Any, what: str = "%%loom chat") -> Exception:
    """The one-line error for a connection kind without a chat."""
    from loom_jupyter.client import UnsupportedFeatureError

    where = f"connection {client.connection!r}" if client.connection else f"{client.url}"
    return UnsupportedFeatureError(
        f"{what} works with Loom, openloomi and NodeLoom connections; {where} is a "
        f"{client.kind} connection.")


def check_options(client: Any, args: Namespace) -> None:
    allowed = CHAT_KINDS[client.kind]
    given = [flag for name, flag in _LOOM_ONLY if getattr(args, name, None)]
    given += [flag for name, flag in (("model", "--model"), ("system", "--system"),
                                      ("agent", "--agent"))
              if getattr(args, name, None) is not None and flag not in allowed]
    if given:
        raise MagicError(f"%%loom chat: {', '.join(given)} is not for a {client.kind} connection "
                         f"(it takes {', '.join(allowed)}).")


def ask(magics: Any, args: Namespace, cell: str) -> str:
    """Stream the answer of `client`'s platform to the cell's question; return its text."""
    client = magics.client
    if client.kind not in CHAT_KINDS:
        raise unsupported(client)
    check_options(client, args)
    prompt = expand(cell, magics.shell.user_ns).strip()
    if not prompt:
        raise MagicError("Nothing to ask: write your message in the cell, below %%loom chat.")
    state = conversations(magics)
    key = client.connection or client.url
    if args.new:
        state.forget(key)
    if client.kind == "openloomi":
        return _openloomi(magics, client, state, key, prompt, args)
    return _nodeloom(magics, client, state, key, prompt, args)


def _openloomi(magics: Any, client: Any, state: Conversations, key: str, prompt: str,
               args: Namespace) -> str:
    if args.system is not None:
        state.system[key] = args.system
    history = state.messages.setdefault(key, [])
    system = [{"role": "system", "content": state.system[key]}] if key in state.system else []
    question = {"role": "user", "content": prompt}
    recent = history[-2 * max(1, magics.max_history):] if magics.max_history else history
    text = show_stream(magics, client.chat.stream([*system, *recent, question], model=args.model))
    history += [question, {"role": "assistant", "content": text}]
    return text


def _nodeloom(magics: Any, client: Any, state: Conversations, key: str, prompt: str,
              args: Namespace) -> str:
    agent = args.agent or _first_agent(client)
    session = state.sessions.get((key, agent))
    if session is None:
        created = client.request("POST", f"/api/agents/{agent}/sessions", json={})
        session = str(created.get("id", "")) if isinstance(created, dict) else ""
        if not session:
            raise MagicError(f"NodeLoom did not open a chat session with agent {agent}.")
        state.sessions[(key, agent)] = session
    return show_stream(magics, client.agents.chat(agent, prompt, session_id=session))


def _first_agent(client: Any) -> str:
    agents = client.agents.list()
    if not agents:
        raise MagicError("This NodeLoom has no agent to chat with; create one, or pass --agent ID.")
    return str(agents[0].id)


def show_stream(magics: Any, chunks: Iterable[str]) -> str:
    """The text chunks into one area that appears with the first words and is redrawn at
    `log_refresh_hz` (a cursor while it streams, Markdown once complete). On an error or an
    interrupt the words shown so far stay, without the cursor, and the error follows."""
    area = LiveArea(magics.log_refresh_hz)
    hook = magics.hooks.get("chat_token")
    parts: list[str] = []
    try:
        for piece in chunks:
            parts.append(piece)
            if hook is not None:
                hook(piece)
            area.set(lambda: text_bundle("".join(parts) + CURSOR))
    except BaseException:
        if parts:
            area.set(text_bundle("".join(parts)))
            area.flush()
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    text = "".join(parts)
    area.set(markdown_bundle(text))
    area.flush()
    return text
