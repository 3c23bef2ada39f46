"""Upstream WebSocket credentials: first-message auth for session sockets, refusals as JSON errors."""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..client._problems import scrub, scrub_data
from ..client._ws import redirect_refusal
from .base import ProxyError

if TYPE_CHECKING:
    from websockets.http11 import Response

    from .app import LoomJupyter

__all__ = ["authenticate_session", "fetch_ws_token", "upstream_refusal"]

AUTH_REPLY_TIMEOUT = 5.0  # Loom closes an unauthenticated session socket after 5 s (§6)
_AUTH_OK = ("auth_ok", "auth_success")


async def fetch_ws_token(loom: LoomJupyter) -> str | None:
    """A fresh single-use ws_ token (§1.4); None on an older Loom without the route."""
    try:
        response = await loom.http.get(loom.upstream_url("/api/auth/ws-token"),
                                       headers=loom.auth_headers())
        token = response.json().get("token") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return token if isinstance(token, str) else None


async def authenticate_session(upstream: ClientConnection, loom: LoomJupyter) -> str:
    """Send `{"type":"auth"}` upstream and return Loom's success message (kept for the browser)."""
    token = await fetch_ws_token(loom)
    if token is None:  # §1.4: older builds lack ws-token; §6: an lk_/lt_ key works in `token` too
        token = loom.auth_headers().get("Authorization", "").removeprefix("Bearer ")
    try:
        await upstream.send(json.dumps({"type": "auth", "token": token}))
        reply = await asyncio.wait_for(upstream.recv(), AUTH_REPLY_TIMEOUT)
    except (ConnectionClosed, asyncio.TimeoutError) as exc:
        raise ProxyError(502, "upstream_auth_failed", "Loom did not accept the session "
                         f"WebSocket credential ({type(exc).__name__}).") from None
    message = _parse(reply)
    if message.get("type") not in _AUTH_OK or message.get("success") is False:
        raise ProxyError(502, "upstream_auth_failed", "Loom refused the session WebSocket "
                         "credential configured for this Jupyter server.")
    return reply if isinstance(reply, str) else reply.decode("utf-8", "replace")


def _parse(reply: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(reply)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def upstream_refusal(response: Response, url: str, secret: str, path: str) -> ProxyError:
    """Loom refused the upgrade: keep its status and JSON error, wrap anything else.

    A redirect is a refusal too (never followed: the credential must not go elsewhere)."""
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location") or ""
        return ProxyError(502, "upstream_redirect", redirect_refusal(path, status, location))
    if status < 400:
        status = 502
    secrets = [secret]
    body = _parse(bytes(response.body or b"")) if _is_json(response) else {}
    if body:
        code = body.get("error")
        extra = {k: v for k, v in body.items() if k not in ("error", "message")}
        return ProxyError(status, scrub(code, secrets)[:100] if isinstance(code, str)
                          else "upstream_error", scrub(str(body.get("message", "")), secrets),
                          **scrub_data(extra, secrets))
    text = (response.body or b"").decode("utf-8", "replace")[:2000].strip()
    return ProxyError(status, "upstream_error",
                      scrub(text, secrets) or f"Loom at {url} refused the WebSocket with HTTP "
                      f"{response.status_code}.")


def _is_json(response: Response) -> bool:
    ctype = response.headers.get("Content-Type", "") or ""
    return ctype.split(";")[0].strip().lower() == "application/json"
