"""The session WebSocket `/api/ws/sessions/{id}`: first-message auth, then JSON pings (§6).

Like the real server, authenticated messages are only parsed for `type` and otherwise ignored;
an upgrade request that already carries a key or the session cookie is accepted at once.
"""
from __future__ import annotations

import json
import time
from typing import Any

from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.websocket import WebSocketClosedError

from ..base import LocalWebSocketHandler
from ..principal import Principal
from ..openapi import errors, path_param

CLOSE_TIMEOUT, CLOSE_INVALID_TOKEN, CLOSE_BAD_MESSAGE = 4001, 4002, 4006
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class SessionSocketHandler(LocalWebSocketHandler):
    principal: Principal | None = None
    _timer: Any = None
    _pinger: PeriodicCallback | None = None

    def get_compression_options(self) -> dict[str, Any] | None:
        return None

    async def open(self, session_id: str) -> None:  # type: ignore[override]
        self.session_id = session_id
        principal = await self.authenticate_handshake()
        if principal is not None:
            self._accept(principal)
            return
        self._timer = IOLoop.current().call_later(self.state.config.ws_auth_timeout,
                                                  self._fail, CLOSE_TIMEOUT,
                                                  "authentication timeout")

    def on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            message = message.decode("utf-8", errors="replace")
        if self.principal is None:
            self._first_message(message)
            return
        try:
            kind = json.loads(message).get("type")
        except (ValueError, AttributeError, RecursionError):
            return
        if kind == "auth":  # a repeated auth just gets its answer again
            self._send({"type": "auth_ok", "user_id": self.principal.user_id})

    def _first_message(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            msg = None
        token = msg.get("token") if isinstance(msg, dict) else None
        session = msg.get("session_token") if isinstance(msg, dict) else None
        if not isinstance(msg, dict) or msg.get("type") != "auth" or not (
                (isinstance(token, str) and token) or (isinstance(session, str) and session)):
            self._fail(CLOSE_BAD_MESSAGE, "invalid authentication message")
            return
        auth = self.state.auth
        principal = (auth.authenticate_token(token) if isinstance(token, str) and token
                     else auth.authenticate_session(session))  # type: ignore[arg-type]
        if principal is None:
            self._fail(CLOSE_INVALID_TOKEN, "invalid token")
            return
        self._accept(principal)

    def _accept(self, principal: Principal) -> None:
        self._cancel_timer()
        self.principal = principal
        self._send({"type": "auth_ok", "user_id": principal.user_id})
        self._pinger = PeriodicCallback(self._ping, self.state.config.ws_ping_interval * 1000)
        self._pinger.start()

    def _ping(self) -> None:
        self._send({"type": "ping", "timestamp": int(time.time())})

    def _fail(self, code: int, reason: str) -> None:
        self._cancel_timer()
        self._send({"type": "auth_error", "message": reason})
        self.close(code, reason)

    def _send(self, payload: dict[str, Any]) -> None:
        try:
            self.write_message(json.dumps(payload))
        except WebSocketClosedError:
            pass

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            IOLoop.current().remove_timeout(self._timer)
            self._timer = None

    def on_close(self) -> None:
        self._cancel_timer()
        if self._pinger is not None:
            self._pinger.stop()


ROUTES = [(r"/api/ws/sessions/([^/]+)", SessionSocketHandler)]

OPENAPI_PATHS = {"/api/ws/sessions/{session_id}": {"get": {
    "summary": "Session WebSocket. Send `{\"type\":\"auth\",\"token\":\"ws_...|lk_...\"}` within "
               "5 s (or authenticate the upgrade with a bearer key or the session cookie); "
               "answers `auth_ok`, then `{\"type\":\"ping\"}` every 30 s. Failures: `auth_error` "
               "and close 4001 (timeout), 4002 (invalid token), 4006 (bad auth message).",
    "tags": ["sessions"], "security": [], "parameters": [path_param("session_id")],
    "responses": {"101": {"description": "Switching protocols"}, **errors(400)}}}}
