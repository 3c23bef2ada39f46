"""`%loom thread ID`: one Loom thread as a readable transcript."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

from .._errors import ArgumentsError
from .._parser import positive_int

SUMMARY = "Show one Loom thread as a transcript (continue it with %%loom chat --thread ID)."


def configure(parser: Any) -> None:
    parser.add_argument("id", help="the thread id (T-...)")
    parser.add_argument("--last", type=positive_int, metavar="N", help="only the last N messages")
    parser.add_argument("-o", "--output", metavar="VAR", help="also store the Thread in this variable")


def transcript(thread: Any, last: int | None = None) -> str:
    """Markdown: a heading, then each message under its role."""
    messages = thread.messages[-last:] if last else thread.messages
    title = thread.title or "(untitled)"
    parts = [f"### {title}", f"`{thread.id}` · version {thread.version} · {len(thread.messages)} messages"]
    for message in messages:
        content = message.get("content") or ""
        text = content if isinstance(content, str) else repr(content)
        parts.append(f"**{message.get('role', '?')}**\n\n{text}")
    return "\n\n".join(parts)


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    from IPython.display import display

    from .._display import markdown_bundle

    if args.output is not None and not args.output.isidentifier():
        raise ArgumentsError(f"%loom thread: -o needs a Python variable name, got {args.output!r}.")
    thread = magics.client.threads.get(args.id)
    if args.output:
        magics.shell.user_ns[args.output] = thread
    display(markdown_bundle(transcript(thread, args.last)), raw=True)
