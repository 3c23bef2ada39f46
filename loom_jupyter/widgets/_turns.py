"""Chat turns and how they render: escaped text while streaming, Markdown once complete."""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast
from collections.abc import Callable

__all__ = ["Turn", "render_markdown", "render_streaming"]

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


@dataclass
class Turn:
    """One message of the conversation plus how it ended (``cut`` says why it is partial)."""

    role: str
    content: str
    cut: str = ""
    error: str = ""
    provider: str = ""
    model: str = ""
    _html: str = ""

    def message(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content}

    def to_html(self) -> str:
        if not self._html:  # turns never change once finished, so render once
            self._html = self._render()
        return self._html

    def _render(self) -> str:
        style = _ROLE_STYLE.get(self.role, _ROLE_STYLE["assistant"])
        who = self.role if not self.model else f"{self.role} · {self.provider}/{self.model}"
        body = render_markdown(self.content) if self.content else ""
        if self.cut:
            body += _CUT.format(why=html.escape(self.cut))
        if self.error:
            body += f'<div style="color:#c53030">{html.escape(self.error)}</div>'
        return (f'<div style="{style};padding:4px 8px;margin:4px 0">'
                f'<div style="font-size:11px;color:#718096">{html.escape(who)}</div>{body}</div>')
