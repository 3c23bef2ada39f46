"""The `loom_jupyter` server extension: configuration, the named connections, the kernel env."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import httpx
from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop
from tornado.routing import Rule
from traitlets import Bool, Dict, Float, Integer, Unicode, default, validate

from .._version import __version__
from ..client import AsyncLoom
from ..client._settings import CONNECTIONS_ENV, KEY_ENV, PROXY_TOKEN_ENV, PROXY_URL_ENV, URL_ENV
from ..client.kinds import get_kind
from .connconfig import NAME, ConnectionSpec, EntryError, parse_entry, take_env_secrets
from .connections import DEFAULT, Connection, DefaultConnection, join_url
from .credentials import Credential, SignInStore, resolve_credential
from .process import erase_from_process_blocks
from .sdk import no_cookies
from .signin import DeviceSignIn
from .sources import PasswordSource, TokenFileSource
from .upstream import Upstream

__all__ = ["CONNECTIONS_ENV", "PROXY_TOKEN_ENV", "PROXY_URL_ENV", "LoomJupyter"]

_WILDCARD_IPS = ("", "0.0.0.0", "*", "::")


class LoomJupyter(ExtensionApp):
    """Serve `{base_url}loom/...`: an authenticated, streaming proxy holding the Loom credential."""

    name = "loom_jupyter"
    load_other_extensions = True

    url = Unicode(help="Base URL of the Loom server (default: $LOOM_URL).").tag(config=True)
    api_key = Unicode(help="Loom API key. Prefer api_key_file: Jupyter logs config values at "
                      "DEBUG level. Precedence: api_key, api_key_file, $LOOM_API_KEY (removed "
                      "from the environment so kernels never inherit it), $LOOM_API_KEY_FILE, "
                      "then a stored sign-in (%loom login).").tag(config=True)
    api_key_file = Unicode(help="File holding the Loom API key on its first line.").tag(config=True)
    signin_dir = Unicode(help="Where sign-ins are kept, one 0600 file per Loom URL (default: "
                         "loom_jupyter/ in Jupyter's data directory).").tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to connect to Loom.").tag(config=True)
    read_timeout = Float(
        300.0, help="Longest silence (s) allowed between bytes from Loom; Loom's log streams "
        "send keep-alives every 15 s, LLM streams do not."
    ).tag(config=True)
    max_connections = Integer(
        1000, help="Most connections open to Loom at once. Every followed log or LLM stream "
        "holds one for its whole life; when all are busy a request waits connect_timeout, then "
        "fails with 504."
    ).tag(config=True)
    max_upload_streams = Integer(
        0, help="Most request bodies streamed to Loom at once (uploads over 256 KiB, or of "
        "unknown length); each holds an upstream connection while its body arrives. 0 means a "
        "quarter of max_connections, so slow uploads can never take every connection."
    ).tag(config=True)
    body_timeout = Float(
        30.0, help="Longest silence (s) allowed while a request body arrives; a caller that "
        "stops sending gets 408 and its upstream connection back."
    ).tag(config=True)
    allow_kernel_credential_routes = Bool(
        False, help="Let kernels (the proxy token) use Loom's credential routes: creating or "
        "revoking API keys, approving a device sign-in, sessions, logout, share links (and each "
        "connection kind's equivalents). Off by default: a kernel must not be able to mint a "
        "credential that outlives it."
    ).tag(config=True)
    connections = Dict(
        help="Named upstreams besides `default` (which is url/api_key above): {NAME: {'kind': "
        "'loom'|'loom-v1'|'openloomi'|'nodeloom', 'url': URL, and one credential source: "
        "'api_key_file', 'api_key_env' (a variable, removed from the environment at start), "
        "'username' with 'password_file' or 'password_env' or neither (sign in later through "
        "loom/connections/NAME/signin), 'token_file' (openloomi), or nothing for a Loom "
        "device sign-in}. Each is proxied at {base_url}loom/connections/NAME/. A bad entry is "
        "one error line at start; the others still work."
    ).tag(config=True)

    proxy_token = ""
    uploads_in_flight = 0  # request bodies being streamed upstream now (see upload_slots)
    _by_name: dict[str, Connection] | None = None
    connection_problems: list[str]  # one line per unusable `connections` entry (also logged)

    @default("url")
    def _url_default(self) -> str:
        return os.environ.get(URL_ENV, "")

    @default("signin_dir")
    def _signin_dir_default(self) -> str:
        return str(Path(jupyter_data_dir()) / "loom_jupyter")

    @validate("url")
    def _valid_url(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if value and httpx.URL(value).scheme not in ("http", "https"):
            raise ValueError("LoomJupyter.url must be an http(s) URL")
        return value.rstrip("/")

    # -- lifecycle ------------------------------------------------------------------------
    def initialize_settings(self) -> None:
        taken = take_env_secrets(self.connections, os.environ)  # api_key_env, password_env
        self._by_name = self._build_connections(taken)  # reads $LOOM_API_KEY for `default`
        given = [os.environ.pop(KEY_ENV, "").strip(), self.api_key.strip()]  # env, command line
        given += [value.strip() for value in taken.values()]
        if any(given) and not all(erase_from_process_blocks(k) for k in given if k):
            self.log.info("loom_jupyter: cannot hide the Loom key from /proc on this platform; "
                          "prefer c.LoomJupyter.api_key_file (and key or password files for "
                          "connections)")
        self.proxy_token = secrets.token_urlsafe(32)
        self._publish_env()
        # The port may change while the server binds (port_retries): publish again once running.
        IOLoop.current().add_callback(self._publish_env)
        assert self.serverapp is not None
        self.log.info("loom_jupyter: proxying %s at %s", self.display_url or "(no Loom URL "
                      "configured)", url_path_join(self.serverapp.base_url, "loom/"))
        for connection in self.listed_connections():
            if connection.name != DEFAULT:
                self.log.info("loom_jupyter: connection %r (%s) %s at %s, credential: %s",
                              connection.name, connection.kind.name, connection.display_url,
                              url_path_join(self.serverapp.base_url, connection.prefix),
                              connection.credential_label())

    def initialize_handlers(self) -> None:
        from .handlers import default_handlers
        from .websocket import LoomWebSocketBridge, UpgradeMatches, websocket_handlers

        self.handlers.extend(websocket_handlers + default_handlers)
        # Any WebSocket upgrade under a connection's prefix goes to the bridge (checked first,
        # so the HTTP relay of the same prefix sees only plain requests). ExtensionApp takes
        # (pattern, handler) tuples only, which cannot look at headers: add the rule here.
        assert self.serverapp is not None
        web_app = self.serverapp.web_app
        pattern = url_path_join(web_app.settings["base_url"],
                                rf"loom/connections/({NAME.pattern})/(.*)")
        web_app.add_handlers(".*$", [Rule(UpgradeMatches(pattern), LoomWebSocketBridge,
                                          {"name": self.name, "session": None})])

    async def stop_extension(self) -> None:
        connections, self._by_name = self._by_name or {}, None
        for connection in connections.values():
            await connection.aclose()
        if os.environ.get(PROXY_TOKEN_ENV) == self.proxy_token:
            os.environ.pop(PROXY_TOKEN_ENV, None)
            os.environ.pop(PROXY_URL_ENV, None)
            os.environ.pop(CONNECTIONS_ENV, None)

    # -- the connections --------------------------------------------------------------------
    @property
    def default_connection(self) -> Connection:
        """`default`: what `{base_url}loom/<path>` reaches."""
        if self._by_name is None:
            self._by_name = {DEFAULT: DefaultConnection(self, DEFAULT, get_kind("loom"))}
        return self._by_name[DEFAULT]

    def connection_named(self, name: str) -> Connection | None:
        self.default_connection  # noqa: B018 - makes the registry
        assert self._by_name is not None
        return self._by_name.get(name)

    def connection_names(self) -> list[str]:
        return [c.name for c in self.listed_connections()]

    def listed_connections(self) -> list[Connection]:
        """Every connection, `default` only when it has a URL."""
        self.default_connection  # noqa: B018 - makes the registry
        assert self._by_name is not None
        return [c for c in self._by_name.values() if c.name != DEFAULT or c.configured]

    def all_secrets(self) -> list[str]:
        """Every secret this server holds (keys, JWTs, passwords): scrubbed from every answer,
        whichever connection it came from."""
        found: list[str] = []
        for connection in (self._by_name or {}).values():
            found.extend(connection.secrets())
        return found

    def _build_connections(self, taken: dict[str, str]) -> dict[str, Connection]:
        entries = dict(self.connections)
        built: dict[str, Connection] = {}
        self.connection_problems = []
        if DEFAULT in entries and self.url:
            entries.pop(DEFAULT)
            problem = ("connection 'default', name: taken by c.LoomJupyter.url; give this "
                       "connection another name")
            self.connection_problems.append(problem)
            self.log.error("loom_jupyter: %s", problem)
        for name, entry in entries.items():
            try:
                spec = parse_entry(name, entry, taken)
            except EntryError as exc:
                self.connection_problems.append(str(exc))
                self.log.error("loom_jupyter: %s", exc)
                continue
            built[spec.name] = self._connection(spec)
        if DEFAULT not in built:  # the original configuration (perhaps no URL: then 503s)
            built = {DEFAULT: DefaultConnection(self, DEFAULT, get_kind("loom"),
                                                credential=self._read_credential()), **built}
        return built

    def _connection(self, spec: ConnectionSpec) -> Connection:
        make = Connection  # (one constructor, four credential sources)
        if spec.source == "api_key":
            return make(self, spec.name, spec.kind, spec.url,
                        credential=Credential(spec.key, spec.label))
        if spec.source == "token_file":
            return make(self, spec.name, spec.kind, spec.url,
                        source=TokenFileSource(spec.token_file))
        if spec.source == "password":
            return make(self, spec.name, spec.kind, spec.url,
                        source=PasswordSource(spec.username, spec.password, spec.label))
        store = SignInStore(Path(self.signin_dir), spec.url)
        return make(self, spec.name, spec.kind, spec.url, credential=store.load())

    # -- the default connection, as the original single-server attributes --------------------
    @property
    def credential(self) -> Credential | None:
        return self.default_connection.credential

    @property
    def signin(self) -> DeviceSignIn | None:
        return self.default_connection.signin

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def display_url(self) -> str:
        return self.default_connection.display_url

    @property
    def secret(self) -> str:
        return self.default_connection.secret

    @property
    def has_credential(self) -> bool:
        return bool(self.secret)

    def auth_headers(self) -> dict[str, str]:
        return self.default_connection.auth_headers()

    async def use_credential(self, credential: Credential | None) -> None:
        await self.default_connection.use_credential(credential)

    @property
    def upstream(self) -> Upstream:
        return self.default_connection.upstream

    @property
    def loom_client(self) -> AsyncLoom:
        return self.default_connection.loom_client

    @property
    def public_client(self) -> AsyncLoom:
        return self.default_connection.public_client

    @property
    def upload_slots(self) -> int:
        return self.max_upload_streams or max(1, self.max_connections // 4)

    @property
    def user_agent(self) -> str:
        return f"loom-jupyter-proxy/{__version__}"

    def make_client(self, connections: int) -> httpx.AsyncClient:
        """An httpx client for a connection's one-off calls (sign-ins)."""
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.read_timeout, connect=self.connect_timeout,
                                  pool=self.connect_timeout),
            limits=httpx.Limits(max_connections=connections,
                                max_keepalive_connections=connections),
            follow_redirects=False,
            trust_env=False,
            cookies=no_cookies(),  # an upstream Set-Cookie must never ride on later requests
            headers={"User-Agent": self.user_agent},
        )

    def upstream_url(self, path: str, query: str = "", *, scheme: str | None = None) -> str:
        """`url` + an already validated path (see paths.upstream_path); the host never varies."""
        return join_url(self.url, path, query, scheme=scheme)

    # -- internals --------------------------------------------------------------------------
    def _read_credential(self) -> Credential | None:
        store = SignInStore(Path(self.signin_dir), self.url) if self.url else None
        try:
            return resolve_credential(self.api_key, self.api_key_file, os.environ, store)
        except OSError as exc:
            self.log.error("loom_jupyter: cannot read the Loom key file (%s)", type(exc).__name__)
            return None

    def _publish_env(self) -> None:
        os.environ[PROXY_URL_ENV] = self._proxy_url()
        os.environ[PROXY_TOKEN_ENV] = self.proxy_token
        os.environ[CONNECTIONS_ENV] = json.dumps(
            {c.name: c.kind.name for c in self.listed_connections()}, sort_keys=True)

    def _proxy_url(self) -> str:
        app = self.serverapp
        assert app is not None
        ip = "127.0.0.1" if app.ip in _WILDCARD_IPS or app.ip == "localhost" else app.ip
        if ip == "::":
            ip = "::1"
        host = f"[{ip}]" if ":" in ip else ip
        scheme = "https" if app.certfile else "http"
        return f"{scheme}://{host}:{app.port}" + url_path_join(app.base_url, "loom/")
