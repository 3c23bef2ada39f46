"""First-message auth for session sockets, through the client's ws-token flow and reply rules."""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..client import LoomError
from ..client._ws import check_auth_reply
from .base import ProxyError

if TYPE_CHECKING:
    from .connections import Connection

__all__ = ["authenticate_session"]

AUTH_REPLY_TIMEOUT = 5.0  # Loom closes an unauthenticated session socket after 5 s (§6)


async def _session_token(loom: Connection) -> str:
    """A fresh single-use ws_ token (§1.4, either of its two paths), else the key itself (§6)."""
    try:
        return str((await loom.loom_client.auth.ws_token()).token)
    except LoomError:
        return loom.secret  # older builds lack ws-token; an lk_/lt_ key works in `token` too


async def authenticate_session(upstream: ClientConnection, loom: Connection) -> str:
    """Send `{"type":"auth"}` upstream and return Loom's success message (kept for the browser)."""
    token = await _session_token(loom)
    try:
        await upstream.send(json.dumps({"type": "auth", "token": token}))
        reply = await asyncio.wait_for(upstream.recv(), AUTH_REPLY_TIMEOUT)
    except (ConnectionClosed, asyncio.TimeoutError) as exc:
        raise ProxyError(502, "upstream_auth_failed", "Loom did not accept the session "
                         f"WebSocket credential ({type(exc).__name__}).") from None
    text = reply if isinstance(reply, str) else reply.decode("utf-8", "replace")
    try:
        check_auth_reply(_parse(text))
    except LoomError:
        raise ProxyError(502, "upstream_auth_failed", "Loom refused the session WebSocket "
                         "credential configured for this Jupyter server.") from None
    return text


def _parse(reply: str) -> Any:
    try:
        return json.loads(reply)
    except (ValueError, RecursionError):
        return None
