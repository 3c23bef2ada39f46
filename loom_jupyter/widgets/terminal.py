"""Terminal: a weaver's TTY in xterm.js, straight from the browser or relayed through the kernel."""

from __future__ import annotations

import html
import os
import threading
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import anywidget
import traitlets as t

from loom_jupyter.client import Loom
from loom_jupyter.client._settings import PROXY_URL_ENV

from ._terminal_relay import Relay

__all__ = ["Terminal", "attach_path"]

STATIC = Path(__file__).parent / "static"
Mode = Literal["auto", "browser", "relay"]


def attach_path(proxy_url: str, weaver_id: str) -> str:
    """`{base_url}loom/api/weaver/{id}/attach` as a path: the page makes it ws(s)://<its host>."""
    base = urlsplit(proxy_url).path.rstrip("/")
    return f"{base}/api/weaver/{quote(weaver_id, safe='')}/attach"


def _proxy_url(client: Loom | None) -> str | None:
    """The extension's proxy, unless the caller chose a client that talks to Loom some other way."""
    if client is not None:
        return client.url if client.mode == "proxy" else None
    return os.environ.get(PROXY_URL_ENV) or None


def _bundle(name: str) -> Path:
    path = STATIC / name
    if not path.is_file():
        raise RuntimeError(
            f"The terminal widget's JavaScript ({path.name}) is not built: reinstall loom-jupyter, "
            "or run `npm --prefix js install && npm --prefix js run build` in a source checkout."
        )
    return path


class Terminal(anywidget.AnyWidget):
    """xterm.js attached to a weaver. In JupyterLab with the loom-jupyter server extension the
    browser talks to the extension's WebSocket itself ("browser" mode: live while the kernel is
    busy); elsewhere (VS Code, Colab, Voila) the kernel relays the bytes ("relay" mode).
    """

    _esm = STATIC / "terminal.js"
    _css = STATIC / "terminal.css"

    weaver_id = t.Unicode("").tag(sync=True)
    ws_url = t.Unicode("").tag(sync=True)  # a same-origin path, never a credential
    mode = t.Enum(["browser", "relay"], default_value="relay").tag(sync=True)
    read_only = t.Bool(False).tag(sync=True)
    status = t.Unicode("connecting").tag(sync=True)
    cols = t.Int(None, allow_none=True).tag(sync=True)
    rows = t.Int(None, allow_none=True).tag(sync=True)

    def __init__(self, weaver_id: str, *, client: Loom | None = None, mode: Mode = "auto",
                 cols: int | None = None, rows: int | None = None, **kwargs: Any) -> None:
        if not weaver_id:
            raise ValueError("Terminal needs a weaver id, e.g. Terminal(weaver.id).")
        chosen, proxy = self._choose_mode(mode, client)
        for name in ("terminal.js", "terminal.css"):
            _bundle(name)
        self._relay: Relay | None = None
        self._owned_client: Loom | None = None
        self._closing = threading.Event()
        url = attach_path(proxy or "", weaver_id) if chosen == "browser" else ""
        super().__init__(weaver_id=weaver_id, ws_url=url, mode=chosen, cols=cols, rows=rows,
                         **kwargs)
        if chosen == "relay":
            self._start_relay(client)

    @staticmethod
    def _choose_mode(mode: str, client: Loom | None) -> tuple[str, str | None]:
        proxy = _proxy_url(client)
        if mode == "auto":
            return ("browser" if proxy else "relay"), proxy
        if mode == "browser" and not proxy:
            raise ValueError(
                "Terminal(mode='browser') needs the loom-jupyter server extension "
                f"({PROXY_URL_ENV} is not set in this kernel); use mode='relay' or 'auto'."
            )
        if mode not in ("browser", "relay"):
            raise ValueError(f"mode must be 'auto', 'browser' or 'relay', not {mode!r}.")
        return mode, proxy

    # -- relay mode ------------------------------------------------------------------------

    def _start_relay(self, client: Loom | None) -> None:
        if client is None:
            client = self._owned_client = Loom()
        self._relay = Relay(client, self.weaver_id, self._emit, self._set_state)
        self.on_msg(self._on_view_message)
        self._relay.start()

    def _emit(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        if self.comm is not None and not self._closing.is_set():
            self.send(content, buffers=buffers or None)

    def _set_state(self, status: str, read_only: bool) -> None:
        if self._closing.is_set():
            return
        with self.hold_sync():
            self.status = status
            if status == "connected":
                self.read_only = read_only

    def _on_view_message(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        if self._relay is None or not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "ready" and isinstance(content.get("view"), str):
            self._relay.replay(content["view"])
        elif kind == "input" and not self.read_only:
            self._relay.write(_input_bytes(content, buffers))

    # -- lifetime and static renders ----------------------------------------------------

    def close(self) -> None:
        """Detach (the weaver keeps running) and close the comm."""
        self._closing.set()
        relay, owned = getattr(self, "_relay", None), getattr(self, "_owned_client", None)
        if relay is not None:
            relay.stop()
        if owned is not None:
            owned.close()
            self._owned_client = None
        super().close()

    def __repr__(self) -> str:
        return f"Terminal(weaver={self.weaver_id!r}, mode={self.mode!r}, status={self.status!r})"

    def _repr_html_(self) -> str:
        note = " (read-only)" if self.read_only else ""
        return (f"<div>Terminal attached to weaver <code>{html.escape(self.weaver_id)}</code>{note}"
                f" &mdash; {html.escape(self.status)} (open in a live notebook to type in it)</div>")


def _input_bytes(content: dict[str, Any], buffers: list[Any]) -> bytes:
    """Typed text arrives as JSON; xterm's binary (non-UTF-8) input as one buffer."""
    data = content.get("data")
    if isinstance(data, str):
        return data.encode("utf-8")
    if buffers:
        return b"".join(bytes(buffer) for buffer in buffers)
    return b""
