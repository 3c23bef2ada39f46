"""Credentials that change while the server runs: a JWT from a password sign-in, a token file.

`PasswordSource` signs in with the kind's login call, keeps the JWT and the password in this
process's memory only (never on disk, never in an answer), signs in again before a request when
the JWT's `exp` has passed, and once more when the upstream answers 401 to a JWT the server can
renew. `TokenFileSource` reads the file at use time: a desktop app rewrites it.
Each source sets `connection.credential`, the one bearer the proxy sends.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from ..client import LoomConfigError
from ..client._problems import scrub
from ..client.kinds import Token
from .base import ProxyError
from .credentials import Credential
from .errors import transport_error

if TYPE_CHECKING:
    from .connections import Connection

__all__ = ["CredentialSource", "PasswordSource", "TokenFileSource"]

EXPIRY_MARGIN = 0.5  # sign in again this long before `exp`
MIN_SCRUBBED_PASSWORD = 4  # shorter passwords are not searched for in answers (they would
# turn ordinary words into "[redacted]"); see SECURITY.md


class CredentialSource(Protocol):
    label: str

    async def prepare(self, connection: Connection) -> None:
        """Make `connection.credential` usable for the next request (sign in, read a file)."""

    async def renew(self, connection: Connection, stale: str) -> bool:
        """After a 401 to `stale`: True when there is now a different credential to try."""

    def secrets(self) -> list[str]:
        """Secrets of this source besides the current bearer (to scrub from answers)."""

    @property
    def ready(self) -> bool:
        """Whether a credential is held or can be obtained without a person."""


class TokenFileSource:
    """openloomi's `~/.openloomi/token`: base64 of a JWT, read whenever it is used."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.label = "token_file"

    async def prepare(self, connection: Connection) -> None:
        read = connection.kind.read_token_file
        assert read is not None
        try:
            secret = read(self.path)
        except LoomConfigError as exc:
            raise ProxyError(503, "credential_unavailable", f"Connection {connection.name!r}: "
                             f"{exc}") from None
        current = connection.credential
        if current is None or current.secret != secret:
            await connection.use_credential(Credential(secret, "token file"))

    async def renew(self, connection: Connection, stale: str) -> bool:
        await self.prepare(connection)  # the desktop app may have written a new one
        return connection.secret != stale

    def secrets(self) -> list[str]:
        return []

    @property
    def ready(self) -> bool:
        return Path(self.path).is_file()


class PasswordSource:
    """A username and a password (from a file, a variable, or a sign-in POST) and the JWT."""

    def __init__(self, username: str, password: str, label: str) -> None:
        self.username = username
        self._password = password
        self.label = label
        self.token: Token | None = None
        self._lock = asyncio.Lock()
        self.sign_ins = 0

    def __repr__(self) -> str:
        return f"PasswordSource(username={self.username!r}, label={self.label!r})"

    @property
    def ready(self) -> bool:
        return bool(self._password) or self.token is not None

    def secrets(self) -> list[str]:
        password = self._password
        return [password] if len(password) >= MIN_SCRUBBED_PASSWORD else []

    def _fresh(self) -> bool:
        return self.token is not None and not self.token.expired(time.time(), EXPIRY_MARGIN)

    async def prepare(self, connection: Connection) -> None:
        if self._fresh() or not self._password:
            return  # no password: the request goes without a credential (public routes)
        async with self._lock:
            if not self._fresh():
                await self._sign_in(connection)

    async def renew(self, connection: Connection, stale: str) -> bool:
        if not self._password:
            return False
        async with self._lock:
            if self.token is not None and self.token.secret != stale:
                return True  # another request renewed it meanwhile
            await self._sign_in(connection)
        return True

    async def sign_in(self, connection: Connection, username: str, password: str) -> None:
        """A person's sign-in (the signin route): kept only if the platform accepts it."""
        async with self._lock:
            previous = (self.username, self._password)
            self.username, self._password = username, password
            try:
                await self._sign_in(connection)
            except BaseException:
                self.username, self._password = previous
                raise
            self.label = "password (signed in)"

    async def forget(self, connection: Connection) -> None:
        async with self._lock:
            self._password, self.token = "", None
            await connection.use_credential(None)

    async def _sign_in(self, connection: Connection) -> None:
        login = connection.kind.login
        assert login is not None
        call = login(self.username, self._password)
        data = await _post_json(connection, call.method, call.path, call.json,
                                [self._password])
        try:
            token = call.parse(data) if call.parse is not None else Token(str(data))
        except (KeyError, TypeError, ValueError):
            raise ProxyError(502, "signin_failed", f"{connection.title} at "
                             f"{connection.display_url} answered the sign-in without a "
                             "token.") from None
        self.token = token
        self.sign_ins += 1
        await connection.use_credential(Credential(token.secret, "password", self.username))


async def _post_json(connection: Connection, method: str, path: str, body: Any,
                     secrets: list[str]) -> Any:
    """One sign-in request; errors as ProxyErrors."""
    client = connection.signin_http
    try:
        response = await client.request(method, connection.upstream_url(path), json=body)
    except httpx.HTTPError as exc:
        raise transport_error(exc, connection.display_url, connection.setting) from None
    try:
        data = response.json()
    except (ValueError, UnicodeError):
        data = None
    if response.is_success:
        return data
    _code, message = connection.kind.error_message(response.status_code, data)
    message = scrub(message or f"HTTP {response.status_code}", secrets)[:300]
    status = 401 if response.status_code in (400, 401, 403) else 502
    raise ProxyError(status, "signin_failed", f"{connection.title} at {connection.display_url} "
                     f"refused the sign-in: {message}")

