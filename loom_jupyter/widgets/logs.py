"""LogView: follow a weaver's logs into a bounded, searchable, pausable view.

The follow (reconnecting, resuming, gaps) is the client's `weavers.follow`; this view only
renders its lines and events, with the client's one timestamp rule (`follow.render`).
"""

from __future__ import annotations

import base64
import html
import re
import threading
from collections import deque
from typing import Any
from collections.abc import Iterator

import ipywidgets as w

from loom_jupyter.client import LogLine, Loom, LoomError
from loom_jupyter.client.follow import FollowEnded, LogGap, Reconnecting, render

from ._poll import Throttle, close_tree, start_daemon

__all__ = ["LogView"]

_PRE = "margin:0;font-size:12px;line-height:1.3;white-space:pre-wrap;word-break:break-all"
# column-reverse keeps the scroll position pinned to the newest line without any JS.
_SCROLL = "display:flex;flex-direction:column-reverse;max-height:420px;overflow:auto"


class LogView(w.VBox):
    """Follow ``weaver_id``'s logs in a daemon thread; redraw at most ``rate`` times a second.

    The buffer keeps the newest ``max_lines`` lines; the view shows the newest
    ``view_lines`` of them that match the search. Pausing freezes the view while lines
    keep arriving in the buffer.
    """

    def __init__(
        self,
        weaver_id: str,
        client: Loom | None = None,
        *,
        tail: int | None = 200,
        max_lines: int = 10_000,
        view_lines: int = 1_000,
        rate: float = 10.0,
    ) -> None:
        self.weaver_id = weaver_id
        self.tail = tail
        self.view_lines = view_lines
        self._owns_client = client is None
        self._client = client if client is not None else Loom()
        self._buffer: deque[Any] = deque(maxlen=max_lines)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stream: Iterator[Any] | None = None
        self.received = 0  # log lines (a gap note is buffered, not counted)
        self.state = "connecting"
        self.ended: FollowEnded | None = None
        self._build_widgets()
        self._throttle = Throttle(self._flush, rate=rate, name="loom-logs-redraw")
        self._thread = start_daemon(self._follow, "loom-logs-follow")

    def _build_widgets(self) -> None:
        self.pause_button = w.ToggleButton(description="Pause", icon="pause", layout=w.Layout(width="auto"))
        self.timestamps = w.Checkbox(description="timestamps", indent=False, layout=w.Layout(width="auto"))
        self.search = w.Text(placeholder="filter lines", layout=w.Layout(width="220px"))
        self.download_button = w.Button(description="Download", icon="download", layout=w.Layout(width="auto"))
        self.download_link = w.HTML()
        self.info = w.Label()
        self.view = w.HTML()
        self.pause_button.observe(self._on_pause, names="value")
        for control in (self.timestamps, self.search):
            control.observe(lambda _c: self._flush(), names="value")
        self.download_button.on_click(lambda _b: self.prepare_download())
        toolbar = [self.pause_button, self.timestamps, self.search, self.download_button, self.download_link]
        super().__init__(children=[w.HBox(toolbar), self.view, self.info])

    # -- following ------------------------------------------------------------------------
    def _follow(self) -> None:
        try:
            # The client's follow: lines, and events saying it reconnects, missed lines, ended.
            self._stream = self._client.weavers.follow(self.weaver_id, tail=self.tail)
            self.state = "following"
            self._throttle.mark()
            for item in self._stream:
                if self._stop.is_set():
                    break
                self._take(item)
                self._throttle.mark()
            self.state = "stopped" if self._stop.is_set() else "ended"
        except LoomError as exc:
            self.state = f"error: {exc}"
        except Exception as exc:  # a closed client mid-read lands here; say so, quietly
            self.state = "stopped" if self._stop.is_set() else f"error: {type(exc).__name__}"
        finally:
            _close_quietly(self._stream)
            self._throttle.mark()

    def _take(self, item: Any) -> None:
        if isinstance(item, Reconnecting):
            self.state = render(item)
        elif isinstance(item, FollowEnded):
            self.ended = item
        elif isinstance(item, LogLine | LogGap):
            with self._lock:
                self._buffer.append(item)
                self.received += isinstance(item, LogLine)
            self.state = "following"

    @property
    def paused(self) -> bool:
        return bool(self.pause_button.value)

    def pause(self) -> None:
        self.pause_button.value = True

    def resume(self) -> None:
        self.pause_button.value = False

    def _on_pause(self, change: dict) -> None:
        self.pause_button.description = "Resume" if change["new"] else "Pause"
        self.pause_button.icon = "play" if change["new"] else "pause"
        self._flush()

    # -- rendering ------------------------------------------------------------------------
    @property
    def lines(self) -> list[str]:
        """Buffered lines as shown (with timestamps when the toggle is on), oldest first."""
        with self._lock:
            items = list(self._buffer)
        return [self._format(line) for line in items]

    def visible_lines(self) -> list[str]:
        """What the view shows: the newest ``view_lines`` buffered lines matching the search."""
        query = self.search.value.strip().lower()
        with self._lock:
            items = [item for item in self._buffer if query in render(item).lower()]
        return [self._format(item) for item in items[-self.view_lines:]]

    def _format(self, item: Any) -> str:
        return render(item, self.timestamps.value)

    def _flush(self) -> None:
        if not self.paused:
            markup = self._markup(self.visible_lines())
            if markup != self.view.value:
                self.view.value = markup
        self.info.value = self._info()

    def _markup(self, lines: list[str]) -> str:
        query = self.search.value.strip()
        body = "\n".join(_highlight(line, query) for line in lines)
        return f'<div style="{_SCROLL}"><pre style="{_PRE}">{body}</pre></div>'

    def _info(self) -> str:
        with self._lock:
            buffered, limit = len(self._buffer), self._buffer.maxlen
        paused = " · paused" if self.paused else ""
        why = f" ({self.ended})" if self.ended is not None and not self.ended.succeeded else ""
        return f"{self.state}{why}{paused} · {buffered} lines buffered (max {limit}) · {self.received} received"

    # -- download -------------------------------------------------------------------------
    def text(self) -> str:
        """Everything buffered, one line each, as the download would save it."""
        return "".join(f"{line}\n" for line in self.lines)

    def prepare_download(self) -> str:
        """Put a data-URI link to the buffered text beside the button; return the URI."""
        data = base64.b64encode(self.text().encode()).decode()
        uri = f"data:text/plain;charset=utf-8;base64,{data}"
        name = html.escape(f"weaver-{self.weaver_id}.log")
        count = len(self._buffer)
        self.download_link.value = f'<a download="{name}" href="{uri}">save {count} lines</a>'
        return uri

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Stop redrawing now and following at the next line (or stream end).

        A blocking socket read cannot be interrupted from another thread, so the follow
        thread (a daemon) notices the stop flag when its stream next yields or ends; it
        never touches the closed widgets again.
        """
        if self._stop.is_set():
            return
        self._stop.set()
        self._throttle.stop()
        for child in self.children:
            close_tree(child)
        super().close()
        if self._owns_client:
            self._client.close()

    def __repr__(self) -> str:
        return f"LogView(weaver={self.weaver_id!r}, {self._info()})"

    def _repr_html_(self) -> str:
        last = "\n".join(html.escape(line) for line in self.lines[-50:])
        return (f"<div><b>Logs of {html.escape(self.weaver_id)}</b> ({html.escape(self._info())})"
                f'<pre style="{_PRE}">{last}</pre></div>')


def _highlight(line: str, query: str) -> str:
    if not query:
        return html.escape(line)
    parts = re.split(f"({re.escape(query)})", line, flags=re.IGNORECASE)
    return "".join(f"<mark>{html.escape(p)}</mark>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def _close_quietly(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # closing a half-dead stream may raise; nothing left to save
            pass
