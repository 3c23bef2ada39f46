"""Output helpers: one area updated in place at a bounded rate, and tables as HTML plus text."""
from __future__ import annotations

import html
import time
import uuid
from datetime import datetime
from typing import Any
from collections.abc import Callable, Iterable, Sequence

Bundle = dict[str, str]


def updates_in_place(shell: Any = None) -> bool:
    """Can the front end redraw a display (a notebook, a captured cell)? A terminal cannot: its
    publisher prints every update again, so live output there is written as new lines only."""
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.getipython import get_ipython

    shell = shell if shell is not None else get_ipython()
    publisher = getattr(shell, "display_pub", None)
    if publisher is None:
        return False
    return type(publisher).publish is not DisplayPublisher.publish


def is_tty(stream: Any) -> bool:
    """Is `stream` an interactive terminal (where `\\r` rewrites the current line)?"""
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


class LiveArea:
    """One display updated in place, at most `hz` times a second (the last state always lands)."""

    def __init__(self, hz: float = 8.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.display_id = uuid.uuid4().hex
        self._period = 1.0 / hz if hz > 0 else 0.0
        self._clock = clock
        self._shown = False
        self._last = float("-inf")
        self._pending: Bundle | Callable[[], Bundle] | None = None

    def set(self, bundle: Bundle | Callable[[], Bundle]) -> None:
        """Record the newest content (or how to make it, called only when it is published);
        publish it now only if the rate allows."""
        self._pending = bundle
        if not self._shown or self._clock() - self._last >= self._period:
            self.flush()

    def flush(self) -> None:
        """Publish the newest content if it has not been published yet."""
        if self._pending is None:
            return
        from IPython.display import display, update_display

        bundle = self._pending() if callable(self._pending) else self._pending
        if self._shown:
            update_display(bundle, raw=True, display_id=self.display_id)
        else:
            display(bundle, raw=True, display_id=self.display_id)
            self._shown = True
        self._pending = None
        self._last = self._clock()


def text_bundle(text: str) -> Bundle:
    """Plain text for terminals, a <pre> for notebooks (so blank lines and columns survive)."""
    return {"text/plain": text, "text/html": f"<pre>{html.escape(text)}</pre>"}


def markdown_bundle(text: str) -> Bundle:
    return {"text/plain": text, "text/markdown": text}


def cell_text(value: Any) -> str:
    """How one value reads in a table cell."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def table_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[cell_text(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines)


def table_html(columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = "") -> str:
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(cell_text(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    cap = f"<caption style='text-align:left'>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class ListView(list):  # type: ignore[type-arg]
    """A plain list of models that shows itself as a table (HTML in a notebook, text in a terminal)."""

    def __init__(self, items: Iterable[Any], columns: Sequence[str], caption: str = "", *,
                 counted: bool = True, limit: int | None = None) -> None:
        super().__init__(items)
        self.columns = tuple(columns)
        self.caption = caption
        self.counted = counted  # False: the caption already says how many
        self.limit = limit  # rows shown (the list keeps them all); None: all of them

    def rows(self) -> list[list[Any]]:
        return [[getattr(item, c, None) for c in self.columns] for item in self]

    def _shown_rows(self) -> tuple[list[list[Any]], str]:
        """The rows to show and, when some are left out, a line that says so."""
        rows = self.rows()
        if self.limit is None or len(rows) <= self.limit:
            return rows, ""
        return rows[: self.limit], f"… and {len(rows) - self.limit} more (the list holds all {len(rows)})"

    def _repr_html_(self) -> str:
        caption = f"{self.caption} ({len(self)})" if self.counted else self.caption
        rows, more = self._shown_rows()
        return table_html(self.columns, rows, caption) + (f"<p>{html.escape(more)}</p>" if more else "")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        if not self:
            printer.text(f"No {self.caption.lower() or 'items'}.")
            return
        rows, more = self._shown_rows()
        printer.text(table_text(self.columns, rows) + (f"\n{more}" if more else ""))

    def to_pandas(self) -> Any:
        """One row per item (requires pandas)."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=list(self.columns))


def fields_view(pairs: Sequence[tuple[str, Any]], caption: str = "") -> Bundle:
    """A two-column key/value table for one object."""
    return {
        "text/plain": table_text(("field", "value"), pairs),
        "text/html": table_html(("field", "value"), pairs, caption),
    }
