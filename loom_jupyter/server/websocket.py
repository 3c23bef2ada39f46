"""WebSocket bridge: open the upstream socket first (with our credential), then accept the browser's.

Loom's session sockets authenticate with a first message (Loom's ws-token flow, wsauth.py);
every other socket, and every other kind's, sends `Authorization: Bearer` on the upgrade.
Under `loom/connections/NAME/` any upgrade request is bridged (routed by UpgradeMatches), to
whatever path the connection's kind allows.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from jupyter_server.base.websocket import WebSocketMixin
from tornado.httputil import HTTPServerRequest
from tornado.routing import PathMatches
from tornado.websocket import WebSocketClosedError, WebSocketHandler
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..client._ws import RedactingLogger, aconnect
from .base import LoomAuthMixin, ProxyError
from .errors import upstream_errors
from .wsauth import authenticate_session

__all__ = ["LoomWebSocketBridge", "UpgradeMatches", "websocket_handlers"]

_LOG = logging.getLogger("loom_jupyter.server.upstream_ws")
MAX_MESSAGE = 16 * 1024 * 1024
MAX_QUEUE = 16  # frames buffered from Loom before we stop reading it (back-pressure)
_VALID_CLOSE = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))
_SESSION_PATH = re.compile(r"api/ws/sessions/[^/]+")


def close_args(code: int | None, reason: str | None) -> tuple[int | None, str | None]:
    """Map a close seen on one leg to what we may send on the other (1005/1006 are not sendable)."""
    if code is None or code == 1005:
        return None, None
    if code == 1006 or code not in _VALID_CLOSE:
        return 1011, "Loom connection lost"
    return code, (reason or "")[:120]


class LoomWebSocketBridge(WebSocketMixin, LoomAuthMixin, WebSocketHandler):
    """`loom/api/weaver/{id}/attach`, `loom/api/ws/sessions/{id}`, and any WebSocket under
    `loom/connections/NAME/`: frames relayed both ways."""

    _upstream: ClientConnection | None = None
    _pump: asyncio.Future[None] | None = None
    _auth_reply: str | None = None

    def initialize(self, name: str, session: bool | None = False) -> None:  # type: ignore[override]
        super().initialize(name)
        self.session = session  # None: a Loom session socket if the path says so

    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.authorize_loom("execute")
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise ProxyError(400, "bad_request", "This Loom route is a WebSocket.")
        origin = self.request.headers.get("Origin") or self.request.headers.get("Sec-Websocket-Origin")
        if origin is not None and not self.check_origin(origin):
            raise ProxyError(403, "forbidden", "Cross-origin WebSocket refused.")
        url = self.upstream_target(websocket=True)
        connection, prefix = self._connection_route()
        session = self.session
        if session is None:  # under loom/connections/NAME/: Loom's session sockets by path
            rest = self.request.path[len(prefix):]
            session = connection.kind.name == "loom" and bool(_SESSION_PATH.fullmatch(rest))
        self._upstream = await self._open_upstream(url)
        try:
            if session and connection.has_credential:
                self._auth_reply = await authenticate_session(self._upstream, connection)
            await super().get(*args, **kwargs)
        finally:
            if self.ws_connection is None and self._upstream is not None:
                await self._upstream.close()

    async def _open_upstream(self, url: str) -> ClientConnection:
        """Connect with the current credential; a renewable one that gets a 401 is renewed once."""
        connection = self.connection
        await connection.prepare()
        sent = connection.secret
        try:
            return await self._connect(url)
        except ProxyError as exc:
            if exc.status != 401 or not await connection.renew(sent):
                raise
        return await self._connect(url)

    async def _connect(self, url: str) -> ClientConnection:
        connection = self.connection
        secrets = self.loom.all_secrets()
        with upstream_errors(connection.display_url, secrets, self.request.path,
                             connection.setting):
            return await aconnect(  # never follows a redirect: see client._ws.aconnect
                url, additional_headers=connection.auth_headers(), proxy=None,
                open_timeout=self.loom.connect_timeout, max_size=MAX_MESSAGE,
                max_queue=MAX_QUEUE, ping_interval=20, ping_timeout=20, compression=None,
                # websockets logs the handshake (our Authorization header) at DEBUG.
                logger=RedactingLogger(_LOG, secrets),
            )

    # -- after both handshakes ------------------------------------------------------------
    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self._pump = asyncio.ensure_future(self._pump_down())

    async def _pump_down(self) -> None:
        upstream = self._upstream
        assert upstream is not None
        try:
            async for message in upstream:
                await self.write_message(message, binary=isinstance(message, bytes))
        except (ConnectionClosed, WebSocketClosedError):
            pass
        finally:
            await upstream.close()
            if self.ws_connection is not None:
                self.close(*close_args(upstream.close_code, upstream.close_reason))

    async def on_message(self, message: str | bytes) -> None:
        if self._upstream is None:
            return
        if self._auth_reply is not None and _is_auth_message(message):
            await self.write_message(self._auth_reply)  # we already authenticated upstream
            return
        try:
            await self._upstream.send(message)
        except ConnectionClosed:
            pass  # the pump sees the same close and ends the browser side

    def on_ping(self, data: bytes) -> None:
        if self._upstream is not None:
            _background(_quiet(self._upstream.ping(data or None)))

    def on_close(self) -> None:
        if self._upstream is not None:
            code, reason = close_args(self.close_code, self.close_reason)
            _background(_quiet(self._upstream.close(code or 1000, reason or "")))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        LoomAuthMixin.write_error(self, status_code, **kwargs)


def _is_auth_message(message: str | bytes) -> bool:
    if not isinstance(message, str) or not message.lstrip().startswith("{"):
        return False
    try:
        return json.loads(message).get("type") == "auth"
    except (ValueError, AttributeError, RecursionError):
        return False


_BACKGROUND: set[asyncio.Future[Any]] = set()


def _background(coro: Any) -> None:
    """Fire and forget, but keep a reference so the task is not collected half-way."""
    task = asyncio.ensure_future(coro)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _quiet(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        pass


class UpgradeMatches(PathMatches):
    """A path pattern that matches WebSocket upgrade requests only (so one prefix can serve
    HTTP, SSE and WebSockets: the HTTP relay takes everything else)."""

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return None
        return super().match(request)


websocket_handlers: list[tuple[str, type, dict[str, Any]]] = [
    (r"loom/api/weaver/[^/]+/attach", LoomWebSocketBridge, {"session": False}),
    (r"loom/api/ws/sessions/[^/]+", LoomWebSocketBridge, {"session": True}),
]
