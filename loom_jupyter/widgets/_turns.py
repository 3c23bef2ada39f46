"""Chat turns and how they render: escaped text while streaming, Markdown once complete."""

from __future__ import annotations

import html
from functools import lru_cache
from typing import cast
from collections.abc import Callable

from loom_jupyter.client import Turn

__all__ = ["hidden_note", "render_markdown", "render_streaming", "turn_html"]

_ROLE_STYLE = {
    "user": "background:#ebf8ff;border-left:3px solid #3182ce",
    "assistant": "background:#f7fafc;border-left:3px solid #718096",
}
_CUT = '<div style="color:#c05621;font-size:11px">⏹ answer cut: {why}</div>'


@lru_cache(maxsize=1)
def _markdown() -> Callable[[str], str] | None:
    try:
        import mistune  # ships with nbconvert, which jupyter-server depends on
    except ImportError:
        return None
    # escape=True: raw HTML inside an answer is shown as text, never injected into the page.
    return cast("Callable[[str], str]",
                mistune.create_markdown(escape=True, plugins=["strikethrough", "table"]))


def render_markdown(text: str) -> str:
    convert = _markdown()
    if convert is None:
        return f'<div style="white-space:pre-wrap">{html.escape(text)}</div>'
    return str(convert(text))


def render_streaming(text: str) -> str:
    """Half an answer is not valid Markdown yet: show it as escaped text with a cursor."""
    return f'<div style="white-space:pre-wrap">{html.escape(text)}▌</div>'


@lru_cache(maxsize=512)
def turn_html(turn: Turn) -> str:
    """One finished turn as HTML (turns never change, so each is rendered once)."""
    style = _ROLE_STYLE.get(turn.role, _ROLE_STYLE["assistant"])
    who = turn.role if not turn.model else f"{turn.role} · {turn.provider}/{turn.model}"
    body = render_markdown(turn.content) if turn.content else ""
    if turn.cut:
        body += _CUT.format(why=html.escape(turn.cut))
    if turn.error:
        body += f'<div style="color:#c53030">{html.escape(turn.error)}</div>'
    return (f'<div style="{style};padding:4px 8px;margin:4px 0">'
            f'<div style="font-size:11px;color:#718096">{html.escape(who)}</div>{body}</div>')


def hidden_note(count: int) -> str:
    """Said above the shown turns when older ones are not shown (they are still kept and saved)."""
    if count <= 0:
        return ""
    turns = "turn" if count == 1 else "turns"
    return (f'<div style="font-size:11px;color:#718096">… {count} earlier {turns} not shown '
            "(kept, and saved with the thread)</div>")
