"""Terminal (attach) and session WebSockets on websockets' sync and asyncio clients."""
from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import websockets.sync.client as sync_client
from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as _aconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from .._version import __version__
from ._base import Call, route_not_served
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    LoomError,
    StreamError,
)
from ._problems import build_error, scrub
from ._settings import Settings

_LOG = logging.getLogger("loom_jupyter.client.ws")
MAX_FRAME = 16 * 2**20


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets logs handshake headers at DEBUG; this keeps the credential out of them."""

    def __init__(self, logger: logging.Logger, secrets: list[str]) -> None:
        super().__init__(logger, {})
        self._secrets = secrets

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = scrub(str(msg) % args if args else str(msg), self._secrets)
            self.logger.log(level, "%s", text, **kwargs)


class _AsyncNoRedirects(_aconnect):
    """websockets' asyncio connect, but a 3xx answer is a refusal, never a hop to elsewhere."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


_SyncReconnect: Any = getattr(sync_client, "reconnect", None)  # websockets >= 17 follows 3xx


if _SyncReconnect is not None:
    class _SyncNoRedirects(_SyncReconnect):  # type: ignore[misc, valid-type]
        def process_redirect(self, exc: Exception) -> Exception | str:
            return exc


async def aconnect(uri: str, **options: Any) -> AsyncConnection:
    """Open a WebSocket to exactly `uri`. Redirects are not followed: a session socket's first
    message carries a credential, and an ingress that redirects must not decide where it goes."""
    return await _AsyncNoRedirects(uri, **options)


def connect(uri: str, **options: Any) -> sync_client.ClientConnection:
    """The sync twin of `aconnect` (websockets < 17 never followed redirects in sync code)."""
    if _SyncReconnect is None:
        return sync_client.connect(uri, **options)
    return _SyncNoRedirects(uri, **options).connect()  # type: ignore[no-any-return]


def ws_url(base: str, path: str) -> str:
    url = base.rstrip("/") + "/" + path.lstrip("/")
    return "ws" + url[4:] if url.startswith("http") else url


def connect_options(settings: Settings, timeout: httpx.Timeout) -> dict[str, Any]:
    headers = {"User-Agent": f"loom-jupyter/{__version__}", **settings.auth_headers()}
    return {
        "additional_headers": headers, "open_timeout": timeout.connect or 10.0,
        "max_size": MAX_FRAME, "logger": RedactingLogger(_LOG, settings.secrets()),
        "user_agent_header": None, "proxy": None,
    }


def redirect_refusal(path: str, status: int, location: str) -> str:
    """One line for a WebSocket upgrade answered with a redirect (never followed)."""
    try:
        target: httpx.URL | None = httpx.URL(location) if location.isascii() else None
    except (httpx.InvalidURL, ValueError, TypeError):
        target = None
    where = f"{target.scheme}://{target.host}" if target is not None and target.host else "elsewhere"
    return (f"Loom answered the WebSocket {path} with a redirect (HTTP {status} to {where}), which "
            "is not followed: point the Loom URL at the address that serves it.")


def handshake_error(exc: BaseException, path: str, secrets: list[str], dialect: Any = None) -> LoomError:
    """The same error classes as HTTP calls (loom-api.md §4.7: 401/403/404 before the upgrade)."""
    if isinstance(exc, InvalidStatus):
        resp = exc.response
        headers = httpx.Headers(list(resp.headers.raw_items()))
        if 300 <= resp.status_code < 400 and "Location" in resp.headers:
            return APIConnectionError(redirect_refusal(path, resp.status_code,
                                                       resp.headers["Location"]),
                                      request_sent=True)
        if resp.status_code < 400:
            return route_not_served(Call("GET", path), resp.status_code)
        return build_error("GET", path, resp.status_code, headers, bytes(resp.body or b""), secrets,
                           dialect)
    if isinstance(exc, TimeoutError):
        return APITimeoutError(f"Opening the WebSocket {path} timed out.", request_sent=False)
    if isinstance(exc, InvalidURI):
        return APIConnectionError(f"Invalid WebSocket URL for {path}.", request_sent=False)
    sent = isinstance(exc, WebSocketException)
    detail = scrub(str(exc), secrets) or type(exc).__name__
    return APIConnectionError(f"Could not open the WebSocket {path} ({detail}).", request_sent=sent)


def read_only_notice(text: str) -> bool:
    """The support role's notice: '\\r\\n*** Read-only access: ... ***\\r\\n' (§4.7)."""
    stripped = text.strip()
    return stripped.startswith("***") and "read" in stripped.lower() and "only" in stripped.lower()


class _Frames:
    """Sans-I/O frame interpretation shared by both sessions: output bytes, read-only, ERROR."""

    def __init__(self) -> None:
        self.read_only = False
        self.pending: deque[bytes] = deque()
        self.eof = False

    def accept(self, frame: str | bytes) -> bytes:
        if isinstance(frame, bytes):
            return frame
        if frame.startswith("ERROR:"):
            self.eof = True
            raise StreamError(f"The weaver terminal failed: {frame[6:].strip() or 'unknown error'}.")
        if read_only_notice(frame):
            self.read_only = True
        return frame.encode("utf-8")


def _payload(data: bytes | str) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"send() takes bytes or str, not {type(data).__name__}")


class TerminalSession:
    """A weaver's TTY: `send(bytes|str)`, `recv(timeout)` -> bytes (b'' on timeout, None at EOF)."""

    def __init__(self, conn: Any, path: str) -> None:
        self._conn = conn
        self._frames = _Frames()
        self.path = path

    @property
    def read_only(self) -> bool:
        return self._frames.read_only

    def _probe(self, seconds: float) -> None:
        # Loom sends ERROR / the read-only notice first: wait briefly so attach() can report them.
        chunk = self.recv(timeout=seconds)
        if chunk:
            self._frames.pending.appendleft(chunk)

    def send(self, data: bytes | str) -> None:
        """Keystrokes; a read-only session's input is dropped by the server (§4.7)."""
        try:
            self._conn.send(_payload(data))
        except ConnectionClosed:
            raise StreamError("The weaver terminal is closed.") from None

    def recv(self, timeout: float | None = None) -> bytes | None:
        if self._frames.pending:
            return self._frames.pending.popleft()
        if self._frames.eof:
            return None
        try:
            return self._frames.accept(self._conn.recv(timeout=timeout))
        except TimeoutError:
            return b""
        except ConnectionClosed:
            self._frames.eof = True
            return None

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self.recv()) is not None:
            if chunk:
                yield chunk

    def close(self) -> None:
        self._frames.eof = True
        self._conn.close()

    def __enter__(self) -> TerminalSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TerminalSession({self.path!r}, read_only={self.read_only})"


class AsyncTerminalSession:
    """The async twin of TerminalSession: the same names, awaited."""

    def __init__(self, conn: Any, path: str) -> None:
        self._conn = conn
        self._frames = _Frames()
        self.path = path

    @property
    def read_only(self) -> bool:
        return self._frames.read_only

    async def _probe(self, seconds: float) -> None:
        chunk = await self.recv(timeout=seconds)
        if chunk:
            self._frames.pending.appendleft(chunk)

    async def send(self, data: bytes | str) -> None:
        try:
            await self._conn.send(_payload(data))
        except ConnectionClosed:
            raise StreamError("The weaver terminal is closed.") from None

    async def recv(self, timeout: float | None = None) -> bytes | None:
        if self._frames.pending:
            return self._frames.pending.popleft()
        if self._frames.eof:
            return None
        try:
            return self._frames.accept(await asyncio.wait_for(self._conn.recv(), timeout))
        except asyncio.TimeoutError:
            return b""
        except ConnectionClosed:
            self._frames.eof = True
            return None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self.recv()) is not None:
            if chunk:
                yield chunk

    async def close(self) -> None:
        self._frames.eof = True
        await self._conn.close()

    async def __aenter__(self) -> AsyncTerminalSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncTerminalSession({self.path!r}, read_only={self.read_only})"


def connect_terminal(settings: Settings, path: str, timeout: httpx.Timeout, probe: float) -> TerminalSession:
    try:
        conn = connect(ws_url(settings.url, path), **connect_options(settings, timeout))
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise handshake_error(exc, path, settings.secrets()) from None
    session = TerminalSession(conn, path)
    if probe > 0:
        try:
            session._probe(probe)
        except StreamError:
            conn.close()
            raise
    return session


async def aconnect_terminal(
    settings: Settings, path: str, timeout: httpx.Timeout, probe: float
) -> AsyncTerminalSession:
    try:
        conn = await aconnect(ws_url(settings.url, path), **connect_options(settings, timeout))
    except (OSError, TimeoutError, asyncio.TimeoutError, WebSocketException) as exc:
        raise handshake_error(exc, path, settings.secrets()) from None
    session = AsyncTerminalSession(conn, path)
    if probe > 0:
        try:
            await session._probe(probe)
        except StreamError:
            await conn.close()
            raise
    return session


def check_auth_reply(message: Any) -> str | None:
    """Session-WS first-message auth: `auth_ok` (server) or `auth_success`/`success: true` (library) (§6)."""
    if not isinstance(message, dict):
        raise AuthenticationError("Unexpected reply to WebSocket auth.", status_code=401)
    kind = message.get("type")
    if kind in ("auth_ok", "auth_success") or message.get("success") is True:
        return message.get("user_id")
    reason = message.get("message") or message.get("error") or "authentication failed"
    raise AuthenticationError(f"WebSocket authentication failed: {reason}.", status_code=401, code=kind)


def json_event(frame: str | bytes) -> dict[str, Any]:
    """One text frame of an event socket as a dict; anything else is kept under `data`."""
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    try:
        value = json.loads(text)
    except ValueError:
        return {"type": "raw", "data": text}
    return value if isinstance(value, dict) else {"type": "raw", "data": value}


def event_socket_options(
    headers: dict[str, str], timeout: httpx.Timeout, secrets: list[str]
) -> dict[str, Any]:
    return {
        "additional_headers": {"User-Agent": f"loom-jupyter/{__version__}", **headers},
        "open_timeout": timeout.connect or 10.0, "max_size": MAX_FRAME,
        "logger": RedactingLogger(_LOG, secrets), "user_agent_header": None, "proxy": None,
    }


class EventSocket:
    """A WebSocket of JSON events: iterate for dicts until the server closes; `recv(timeout)`
    -> dict, or None at the end (TimeoutError when nothing came in time); `close()` or `with`."""

    def __init__(self, conn: Any, path: str) -> None:
        self._conn = conn
        self.path = path
        self.closed = False

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        if self.closed:
            return None
        try:
            return json_event(self._conn.recv(timeout=timeout))
        except ConnectionClosed:
            self.closed = True
            return None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (event := self.recv()) is not None:
            yield event

    def close(self) -> None:
        self.closed = True
        self._conn.close()

    def __enter__(self) -> EventSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventSocket({self.path!r}, closed={self.closed})"


class AsyncEventSocket:
    """The async twin of EventSocket (`async for event in socket`)."""

    def __init__(self, conn: Any, path: str) -> None:
        self._conn = conn
        self.path = path
        self.closed = False

    async def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        if self.closed:
            return None
        try:
            return json_event(await asyncio.wait_for(self._conn.recv(), timeout))
        except ConnectionClosed:
            self.closed = True
            return None

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        while (event := await self.recv()) is not None:
            yield event

    async def close(self) -> None:
        self.closed = True
        await self._conn.close()

    async def __aenter__(self) -> AsyncEventSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncEventSocket({self.path!r}, closed={self.closed})"


def connect_events(url: str, path: str, headers: dict[str, str], timeout: httpx.Timeout,
                   secrets: list[str], dialect: Any = None) -> EventSocket:
    try:
        conn = connect(ws_url(url, path), **event_socket_options(headers, timeout, secrets))
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise handshake_error(exc, path, secrets, dialect) from None
    return EventSocket(conn, path)


async def aconnect_events(url: str, path: str, headers: dict[str, str], timeout: httpx.Timeout,
                          secrets: list[str], dialect: Any = None) -> AsyncEventSocket:
    try:
        conn = await aconnect(ws_url(url, path), **event_socket_options(headers, timeout, secrets))
    except (OSError, TimeoutError, asyncio.TimeoutError, WebSocketException) as exc:
        raise handshake_error(exc, path, secrets, dialect) from None
    return AsyncEventSocket(conn, path)
