"""`%%loom chat` (cell: ask, streamed) and `%loom chat` (line: the chat panel widget)."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

from .._parser import positive_int

SUMMARY = "Line: open the chat panel. Cell (%%loom chat): ask the LLM; {var} fills in notebook values."


def configure(parser: Any) -> None:
    parser.add_argument("--provider", help="LLM provider (default: the default_provider setting)")
    parser.add_argument("--model", help="model name (default: the provider's default)")
    parser.add_argument("--system", metavar="TEXT", help="system prompt (kept for the conversation)")
    parser.add_argument("--new", action="store_true", help="start a new conversation (and thread)")
    parser.add_argument("--max-tokens", type=positive_int, metavar="N", help="answer length limit")
    parser.add_argument("--thread", metavar="ID", help="continue this Loom thread")
    parser.add_argument("--agent", metavar="ID", help="NodeLoom connections: the agent to ask "
                        "(default: the first one)")
    parser.epilog = ("--connection NAME asks that connection of the Jupyter server: a Loom, an "
                     "openloomi (its chat; --model, --system) or a NodeLoom (an agent; --agent).")


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    if magics.client.kind != "loom":  # openloomi, NodeLoom: their own chat (or a clear refusal)
        from .._chat_kinds import ask

        if cell is None:  # (the panel keeps Loom threads)
            raise magics.client._feature_error("The chat panel", "Loom")
        ask(magics, args, cell)
        return None
    if args.agent is not None:
        from .._errors import MagicError

        raise MagicError("%%loom chat: --agent is for NodeLoom connections (add --connection NAME).")
    if cell is None:
        from .._widgets import make_widget

        return make_widget("ChatPanel", "chat", client=magics.client,
                           provider=args.provider, model=args.model)
    session = magics.chat
    session.ask(args, cell)
    stored = session.save()
    if stored is not None:
        print(f"Saved to thread {stored.id} (version {stored.version}); "
              f"reopen with %%loom chat --thread {stored.id}")
    return None
