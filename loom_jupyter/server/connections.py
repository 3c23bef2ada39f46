"""A named connection: one upstream server of one kind, its credential, its pool, its sign-in.

The server holds any number of them (`c.LoomJupyter.connections`); the one named `default` is
what `{base_url}loom/<path>` reaches, and is built from the original single-server configuration
(`url`, `api_key`, `api_key_file`, `$LOOM_URL`, `$LOOM_API_KEY`, the stored device sign-in).
Every connection is reached at `{base_url}loom/connections/NAME/<path>` with the same guarantees.
"""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import httpx

from ..client import AsyncLoom
from ..client._settings import KEY_FILE_ENV
from ..client.kinds import Kind
from .base import ProxyError
from .credentials import Credential
from .errors import display_url
from .sdk import ServerLoom
from .signin import DeviceSignIn
from .sources import CredentialSource, PasswordSource, TokenFileSource
from .upstream import Upstream

if TYPE_CHECKING:
    from .app import LoomJupyter

__all__ = ["DEFAULT", "Connection", "DefaultConnection", "join_url"]

DEFAULT = "default"


# Routes a platform answers without any credential (loom-api.md §1.3, §1.5): still forwarded
# when a connection has none. A kind that signs in with a password adds its login route.
_PUBLIC = {"loom": re.compile(r"/(?:health|api/auth/(?:providers|device/(?:start|poll)))/?")}
NOT_SIGNED_IN = "not_signed_in"

# A path and query with nothing httpx.URL would re-encode: joined to a cached root by hand.
_PLAIN = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")


def join_url(base_url: str, path: str, query: str = "", *, scheme: str | None = None) -> str:
    """`base_url` + an already validated path (see paths.upstream_path); the host never varies."""
    base = httpx.URL(base_url)
    full = base.raw_path.decode().split("?")[0].rstrip("/") + path
    url = str(base.copy_with(raw_path=(full + ("?" + query if query else "")).encode()))
    if scheme is not None:
        url = scheme + url[url.index(":"):]
    return url


class Connection:
    """One upstream: `kind` decides the routes proxied and how the credential is obtained."""

    def __init__(self, app: LoomJupyter, name: str, kind: Kind, url: str = "", *,
                 credential: Credential | None = None,
                 source: CredentialSource | None = None) -> None:
        self.app, self.name, self.kind, self._url = app, name, kind, url
        self.credential = credential
        self.source = source
        self.signin: DeviceSignIn | None = DeviceSignIn(self) if kind.name == "loom" else None
        self._upstream: Upstream | None = None
        self._signin_http: httpx.AsyncClient | None = None
        self._sdks: dict[bool, AsyncLoom] = {}
        self._shown = ("", "")  # (url, display_url(url)): parsed once, not per request
        self._root = ("", "")  # (url, join_url(url, "/") without its last slash)

    def __repr__(self) -> str:
        return f"Connection({self.name!r}, {self.kind.name!r}, {self.display_url!r})"

    # -- what it is -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._url

    @property
    def display_url(self) -> str:
        url = self.url
        if self._shown[0] != url:
            self._shown = (url, display_url(url))
        return self._shown[1]

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def title(self) -> str:
        return self.kind.title

    @property
    def entry(self) -> str:
        """Where it is configured (for error messages)."""
        return f"c.LoomJupyter.connections[{self.name!r}]"

    @property
    def setting(self) -> str:
        """Where its URL is configured (for error messages)."""
        return f"{self.entry}['url']"

    @property
    def login_hint(self) -> str:
        return "%loom login" if self.name == DEFAULT else f"%loom login --connection {self.name}"

    @property
    def signin_dir(self) -> str:
        return str(self.app.signin_dir)

    @property
    def prefix(self) -> str:
        return f"loom/connections/{self.name}/"

    # -- the credential ------------------------------------------------------------------------
    @property
    def secret(self) -> str:
        return self.credential.secret if self.credential is not None else ""

    @property
    def has_credential(self) -> bool:
        return bool(self.secret)

    @property
    def signed_in(self) -> bool:
        """A credential is held, or can be obtained without a person."""
        return self.has_credential or (self.source is not None and self.source.ready)

    def needs_credential(self, path: str) -> bool:
        """Whether `path` (as paths.upstream_path returns it) is pointless without a credential:
        every route but the kind's public ones."""
        public = _PUBLIC.get(self.kind.name)
        if public is not None and public.fullmatch(path):
            return False
        login = self.kind.login
        return login is None or path.rstrip("/") != login("", "").path

    def not_signed_in(self) -> ProxyError:
        """The refusal of a request that would reach the upstream with no credential at all:
        one sentence naming the connection and the next step, never a secret."""
        name = self.name
        if isinstance(self.source, PasswordSource):
            step = f"is not signed in; sign in with {self.login_hint}"
        elif isinstance(self.source, TokenFileSource):
            step = (f"has no credential: its token file {self.source.path} does not exist "
                    f"(the {self.title} app writes it when you sign in there)")
        elif self.kind.name == "loom":
            step = f"has no credential: sign in with {self.login_hint}, or {self._key_hint()}"
        else:
            step = f"has no credential: configure one in {self.entry}"
        return ProxyError(401, NOT_SIGNED_IN, f"Connection {name!r} {step}.", connection=name)

    def _key_hint(self) -> str:
        return f"give it an api_key_file or api_key_env in {self.entry}"

    def auth_headers(self) -> dict[str, str]:
        """The only credential that ever leaves this process, and only towards `url`."""
        return {"Authorization": f"Bearer {self.secret}"} if self.secret else {}

    async def prepare(self) -> None:
        """Before each upstream request: sign in again if the JWT expired, reread a token file."""
        if self.source is not None:
            await self.source.prepare(self)

    async def renew(self, stale: str) -> bool:
        """After a 401 to `stale`: True when a different credential is ready to retry with."""
        return self.source is not None and await self.source.renew(self, stale)

    @property
    def renewable(self) -> bool:
        return self.source is not None

    def secrets(self) -> list[str]:
        """Everything of this connection to scrub from answers: bearer, password."""
        found = [self.secret] if self.secret else []
        return found + (self.source.secrets() if self.source is not None else [])

    async def use_credential(self, credential: Credential | None) -> None:
        """Switch to a new credential (a sign-in, a sign-out); later requests use it."""
        self.credential = credential
        await self._close_sdks()

    def credential_label(self) -> str:
        if self.source is not None:
            return self.source.label
        if self.credential is not None:
            return self.credential.source
        return "sign-in" if self.kind.name == "loom" else "none"

    # -- talking to it ----------------------------------------------------------------------
    @property
    def upstream(self) -> Upstream:
        """Kept-alive connections to this upstream (see upstream.py)."""
        if self._upstream is None:
            app = self.app
            self._upstream = Upstream(app.max_connections,
                                      connect_timeout=app.connect_timeout,
                                      read_timeout=app.read_timeout, user_agent=app.user_agent)
        return self._upstream

    def upstream_url(self, path: str, query: str = "", *, scheme: str | None = None) -> str:
        url = self.url
        if scheme is not None or not (path.startswith("/") and _PLAIN.fullmatch(path)
                                      and _PLAIN.fullmatch(query)):
            return join_url(url, path, query, scheme=scheme)
        if self._root[0] != url:
            self._root = (url, join_url(url, "/")[:-1])
        return self._root[1] + path + ("?" + query if query else "")

    @property
    def signin_http(self) -> httpx.AsyncClient:
        """An httpx client for a password kind's sign-in requests (rare, one-off)."""
        if self._signin_http is None:
            self._signin_http = self.app.make_client(4)
        return self._signin_http

    @property
    def loom_client(self) -> AsyncLoom:
        """The SDK with the credential, for the server's own calls (e.g. the ws-token flow)."""
        return self._sdk(credential=True)

    @property
    def public_client(self) -> AsyncLoom:
        """The SDK without a credential, for public routes (/health): polling them with the key
        would fill its usage log (loom-api.md §1.5)."""
        return self._sdk(credential=False)

    def _sdk(self, credential: bool) -> AsyncLoom:
        if credential not in self._sdks:
            self._sdks[credential] = ServerLoom(
                self.url, self.secret if credential else "", max_retries=0,
                timeout=httpx.Timeout(self.app.read_timeout, connect=self.app.connect_timeout))
        return self._sdks[credential]

    async def _close_sdks(self) -> None:
        clients, self._sdks = self._sdks, {}
        for client in clients.values():
            await client.aclose()

    async def aclose(self) -> None:
        if self._upstream is not None:
            await self._upstream.aclose()
            self._upstream = None
        if self._signin_http is not None:
            client, self._signin_http = self._signin_http, None
            await client.aclose()
        if self.signin is not None:
            self.signin.cancel()
        await self._close_sdks()

    # -- what anyone may see ---------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """One row of `GET loom/connections` (and of `loom/status`): never the secret, never
        userinfo or a query; `user` is the person when this server already knows it."""
        row: dict[str, Any] = {
            "name": self.name, "kind": self.kind.name, "title": self.kind.title,
            "url": self.display_url, "default": self.name == DEFAULT,
            "signed_in": self.signed_in, "credential": self.credential_label(),
            "prefix": self.prefix, "user": self.credential.who if self.credential else None,
        }
        if isinstance(self.source, PasswordSource):
            row["username"] = self.source.username
            row["user"] = row["user"] or (self.source.username if self.signed_in else None)
        return row


class DefaultConnection(Connection):
    """`default` from the original configuration: its URL is `c.LoomJupyter.url`, read live."""

    @property
    def url(self) -> str:
        return str(self.app.url)

    @property
    def setting(self) -> str:
        return "c.LoomJupyter.url"

    def _key_hint(self) -> str:
        named = ("c.LoomJupyter.api_key_file" if self.app.api_key_file
                 else f"${KEY_FILE_ENV}" if os.environ.get(KEY_FILE_ENV) else "")
        if named:  # a key file was asked for and gave nothing (its path is not shown)
            return f"fix the key file that {named} names (it is missing, unreadable or empty)"
        return "configure a key (c.LoomJupyter.api_key_file or $LOOM_API_KEY)"
