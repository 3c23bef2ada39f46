"""The `loom_jupyter` server extension: configuration, the pooled upstream client, the kernel env."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import httpx
from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop
from traitlets import Bool, Float, Integer, Unicode, default, validate

from .._version import __version__
from ..client import AsyncLoom
from ..client._settings import KEY_ENV, PROXY_TOKEN_ENV, PROXY_URL_ENV, URL_ENV
from .credentials import Credential, SignInStore, resolve_credential
from .errors import display_url
from .process import erase_from_process_blocks
from .sdk import ServerLoom, no_cookies
from .signin import DeviceSignIn
from .upstream import Upstream

__all__ = ["PROXY_TOKEN_ENV", "PROXY_URL_ENV", "LoomJupyter"]

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
        "revoking API keys, approving a device sign-in, sessions, logout, share links. Off by "
        "default: a kernel must not be able to mint a Loom credential that outlives it."
    ).tag(config=True)

    proxy_token = ""
    _loom_clients: dict[bool, AsyncLoom]
    uploads_in_flight = 0  # request bodies being streamed to Loom now (see upload_slots)
    credential: Credential | None = None
    signin: DeviceSignIn | None = None
    _upstream: Upstream | None = None

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
        self._loom_clients = {}
        self.credential = self._read_credential()
        self.signin = DeviceSignIn(self)
        given = [os.environ.pop(KEY_ENV, "").strip(), self.api_key.strip()]  # env, command line
        if any(given) and not all(erase_from_process_blocks(k) for k in given if k):
            self.log.info("loom_jupyter: cannot hide the Loom key from /proc on this platform; "
                          "prefer c.LoomJupyter.api_key_file")
        self.proxy_token = secrets.token_urlsafe(32)
        self._publish_env()
        # The port may change while the server binds (port_retries): publish again once running.
        IOLoop.current().add_callback(self._publish_env)
        assert self.serverapp is not None
        self.log.info("loom_jupyter: proxying %s at %s", self.display_url or "(no Loom URL "
                      "configured)", url_path_join(self.serverapp.base_url, "loom/"))

    def initialize_handlers(self) -> None:
        from .handlers import default_handlers
        from .websocket import websocket_handlers

        self.handlers.extend(websocket_handlers + default_handlers)

    async def stop_extension(self) -> None:
        if self._upstream is not None:
            await self._upstream.aclose()
            self._upstream = None
        if self.signin is not None:
            self.signin.cancel()
        await self._close_sdks()
        if os.environ.get(PROXY_TOKEN_ENV) == self.proxy_token:
            os.environ.pop(PROXY_TOKEN_ENV, None)
            os.environ.pop(PROXY_URL_ENV, None)

    # -- what handlers use ----------------------------------------------------------------
    @property
    def configured(self) -> bool:
        return bool(self.url)

    def auth_headers(self) -> dict[str, str]:
        """The only credential that ever leaves this process, and only towards `url`."""
        return {"Authorization": f"Bearer {self.secret}"} if self.secret else {}

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    @property
    def has_credential(self) -> bool:
        return bool(self.secret)

    @property
    def secret(self) -> str:
        """The credential itself: for the Authorization header, and for scrubbing it out of
        what Loom sends back."""
        return self.credential.secret if self.credential is not None else ""

    async def use_credential(self, credential: Credential | None) -> None:
        """Switch to a new credential (a sign-in, a sign-out); later requests use it."""
        self.credential = credential
        await self._close_sdks()

    @property
    def upload_slots(self) -> int:
        return self.max_upload_streams or max(1, self.max_connections // 4)

    @property
    def upstream(self) -> Upstream:
        """Pooled connections to Loom (reuse is most of the throughput), in small shards."""
        if self._upstream is None:
            self._upstream = Upstream(self._client, self.max_connections)
        return self._upstream

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
        if credential not in self._loom_clients:
            self._loom_clients[credential] = ServerLoom(
                self.url, self.secret if credential else "", max_retries=0,
                timeout=httpx.Timeout(self.read_timeout, connect=self.connect_timeout))
        return self._loom_clients[credential]

    def _client(self, connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.read_timeout, connect=self.connect_timeout,
                                  pool=self.connect_timeout),
            limits=httpx.Limits(max_connections=connections,
                                max_keepalive_connections=connections),
            follow_redirects=False,
            trust_env=False,
            cookies=no_cookies(),  # an upstream Set-Cookie must never ride on later requests
            headers={"User-Agent": f"loom-jupyter-proxy/{__version__}"},
        )

    def upstream_url(self, path: str, query: str = "", *, scheme: str | None = None) -> str:
        """`url` + an already validated path (see paths.upstream_path); the host never varies."""
        base = httpx.URL(self.url)
        full = base.raw_path.decode().split("?")[0].rstrip("/") + path
        url = str(base.copy_with(raw_path=(full + ("?" + query if query else "")).encode()))
        if scheme is not None:
            url = scheme + url[url.index(":"):]
        return url

    # -- internals --------------------------------------------------------------------------
    def _read_credential(self) -> Credential | None:
        store = SignInStore(Path(self.signin_dir), self.url) if self.url else None
        try:
            return resolve_credential(self.api_key, self.api_key_file, os.environ, store)
        except OSError as exc:
            self.log.error("loom_jupyter: cannot read the Loom key file (%s)", type(exc).__name__)
            return None

    async def _close_sdks(self) -> None:
        clients, self._loom_clients = getattr(self, "_loom_clients", {}), {}
        for client in clients.values():
            await client.aclose()

    def _publish_env(self) -> None:
        os.environ[PROXY_URL_ENV] = self._proxy_url()
        os.environ[PROXY_TOKEN_ENV] = self.proxy_token

    def _proxy_url(self) -> str:
        app = self.serverapp
        assert app is not None
        ip = "127.0.0.1" if app.ip in _WILDCARD_IPS or app.ip == "localhost" else app.ip
        if ip == "::":
            ip = "::1"
        host = f"[{ip}]" if ":" in ip else ip
        scheme = "https" if app.certfile else "http"
        return f"{scheme}://{host}:{app.port}" + url_path_join(app.base_url, "loom/")
