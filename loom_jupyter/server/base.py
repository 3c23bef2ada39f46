"""Who may use /loom/ (a Jupyter user, or a kernel holding the proxy token) and the one error writer."""
from __future__ import annotations

import hmac
import json
import re
from typing import TYPE_CHECKING, Any

from jupyter_server._tz import utcnow
from jupyter_server.auth import User
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import ensure_async, url_path_join
from tornado import web

from ..client._settings import PROXY_ERROR_HEADER
from .connconfig import NAME
from .paths import UnknownRouteError, UnsafePathError, check_query, is_credential_route, upstream_path

if TYPE_CHECKING:
    from .app import LoomJupyter
    from .connections import Connection

__all__ = ["AUTH_RESOURCE", "LoomAuthMixin", "ProxyError", "json_bytes", "safe_path"]

AUTH_RESOURCE = "loom"
KERNEL_USER = User(username="loom-kernel", name="Kernel (loom proxy token)")
_TOKEN_HEADER = re.compile(r"token\s+(\S+)\s*$", re.IGNORECASE)
# An Origin as browsers send it (RFC 6454): "null" or scheme://host[:port], of a sane length.
_ORIGIN = re.compile(r"null|[a-z][a-z0-9+.-]*://[A-Za-z0-9.\-\[\]:_~%]{1,253}(:\d{1,5})?")


class ProxyError(web.HTTPError):
    """An error the extension itself reports: rendered by the one error writer as JSON.

    An HTTPError underneath, so tornado logs one line for it, not an "Uncaught exception"
    traceback per refused request."""

    def __init__(self, status: int, code: str, message: str, /, **extra: Any) -> None:
        super().__init__(status)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def __str__(self) -> str:
        return self.message


def json_bytes(obj: Any) -> bytes:
    """JSON with <, > and & escaped, so even a sniffing browser never sees markup in our bodies."""
    text = json.dumps(obj, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


class _KernelTokenAuthorizer:
    """The proxy token is minted by this server for its own kernels: full rights on /loom/ only."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource == AUTH_RESOURCE


class LoomAuthMixin(ExtensionHandlerMixin, JupyterHandler):
    """Authenticate as jupyter-server does, plus the kernel proxy token on these routes only."""

    auth_resource = AUTH_RESOURCE
    kernel_authenticated = False
    _route: tuple[Connection, str] | None = None

    @property
    def loom(self) -> LoomJupyter:
        return self.extensionapp  # type: ignore[return-value]

    @property
    def connection(self) -> Connection:
        """The connection this request addresses: `loom/connections/NAME/...`, else `default`."""
        return self._connection_route()[0]

    def _connection_route(self) -> tuple[Connection, str]:
        """(connection, the request path prefix that addresses it); unknown names are a 404."""
        if self._route is None:
            base = url_path_join(self.base_url, "loom/")
            named = base + "connections/"
            if self.request.path.startswith(named):
                name = self.request.path[len(named):].split("/", 1)[0]
                connection = self.loom.connection_named(name)
                if connection is None:
                    raise ProxyError(404, "unknown_connection", _unknown(name, self.loom))
                self._route = connection, named + name + "/"
            else:
                self._route = self.loom.default_connection, base
        return self._route

    def _presented_proxy_token(self) -> bool:
        match = _TOKEN_HEADER.match(self.request.headers.get("Authorization", ""))
        expected = self.loom.proxy_token
        if match is None or not expected:
            return False
        return hmac.compare_digest(match.group(1).encode(), expected.encode())

    async def prepare(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        if self._presented_proxy_token():
            if not self.check_host():
                raise web.HTTPError(403)
            self.kernel_authenticated = True
            self.current_user = self._jupyter_current_user = KERNEL_USER
            return
        await super().prepare(*args, **kwargs)

    @property
    def authorizer(self) -> Any:
        if self.kernel_authenticated:
            return _KernelTokenAuthorizer()
        return super().authorizer

    @property
    def token_authenticated(self) -> bool:
        # A header token (Jupyter's or ours) cannot be sent by a cross-site form: no XSRF needed.
        return self.kernel_authenticated or super().token_authenticated

    def skip_check_origin(self) -> bool:
        return self.kernel_authenticated or super().skip_check_origin()

    def set_cors_headers(self) -> None:
        # Jupyter echoes a token-authenticated request's Origin into Access-Control-Allow-Origin
        # whatever it holds: a 60 KB "origin" would make a response head no client accepts.
        super().set_cors_headers()
        allowed = self._headers.get("Access-Control-Allow-Origin")
        if allowed and allowed != "*" and not _ORIGIN.fullmatch(allowed):
            self.clear_header("Access-Control-Allow-Origin")

    def check_xsrf_cookie(self) -> None:
        if self.kernel_authenticated:
            return None
        return super().check_xsrf_cookie()

    def get_login_url(self) -> str:
        # An API for programs: a refusal, never a redirect to the login page.
        raise ProxyError(403, "forbidden", "Jupyter authentication required.")

    async def authorize_loom(self, action: str) -> None:
        """Identity and Jupyter's authorizer, checked once per request, before any upstream I/O."""
        user = self.current_user
        if not user:
            raise ProxyError(403, "forbidden", "Jupyter authentication required.")
        if not await ensure_async(self.authorizer.is_authorized(self, user, action,
                                                                self.auth_resource)):
            raise ProxyError(403, "forbidden", f"Not authorized to {action} {self.auth_resource}.")

    def upstream_target(self, *, websocket: bool = False) -> str:
        """The upstream URL this request maps to (paths.py decides, by the connection's kind,
        what may be forwarded), or refuse: a connection with no credential is refused here
        (401 `not_signed_in`) unless the route is public, so nothing goes upstream."""
        connection, prefix = self._connection_route()
        kind = connection.kind
        if not self.request.path.startswith(prefix):
            raise ProxyError(400, "bad_request", "Request path is outside the Loom proxy.")
        try:
            path = upstream_path(self.request.path[len(prefix):], kind)
            # Loom ignores WebSocket queries (§6); other kinds may read them.
            query = check_query(self.request.query) if not websocket or kind.name != "loom" else ""
        except UnknownRouteError as exc:
            raise ProxyError(404, "not_found", f"Not a {kind.title} route: {exc.reason}.") \
                from None
        except UnsafePathError as exc:
            raise ProxyError(400, "bad_request", f"Refused path: {exc.reason}.") from None
        if (self.kernel_authenticated and not self.loom.allow_kernel_credential_routes
                and is_credential_route(path, kind)):
            raise ProxyError(403, "forbidden", f"Kernels cannot manage {kind.title} credentials "
                             "through the proxy (API keys, sign-ins, sessions, share links); set "
                             "c.LoomJupyter.allow_kernel_credential_routes to allow it.")
        if not connection.configured:
            raise ProxyError(503, "not_configured", "No Loom URL is configured: set "
                             "c.LoomJupyter.url or the LOOM_URL environment variable.")
        if not connection.signed_in and connection.needs_credential(path):
            raise connection.not_signed_in()  # answered here: nothing goes upstream
        scheme = ("wss" if connection.url.startswith("https") else "ws") if websocket else None
        return connection.upstream_url(path, query, scheme=scheme)

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("X-Content-Type-Options", "nosniff")  # on every answer, errors included

    def on_finish(self) -> None:
        # Loom traffic is user activity: idle cullers (JupyterHub) must not stop this server.
        if self._jupyter_current_user_set():
            self.settings["api_last_activity"] = utcnow()
        super().on_finish()

    def _jupyter_current_user_set(self) -> bool:
        return bool(getattr(self, "_jupyter_current_user", None))

    # -- the one error writer -------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ProxyError):
            status_code = exc.status
            body = {**exc.extra, "error": exc.code, "message": exc.message}
        elif isinstance(exc, web.HTTPError):
            reason = self._reason if status_code == exc.status_code else "Error"
            body = {"error": _code_for(status_code), "message": exc.log_message or reason}
        else:
            body = {"error": "internal_error", "message": "The Loom proxy failed unexpectedly."}
        self.set_header(PROXY_ERROR_HEADER, body["error"])
        self.log.warning("loom proxy: %s %s -> %s %s", self.request.method,
                         safe_path(self.request.path), status_code, body["error"])
        self.send_json(body, status_code)

    def send_json(self, body: Any, status: int = 200) -> None:
        """Finish with a JSON body: the only content type this extension ever writes itself."""
        self.clear_header("Content-Disposition")
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.finish(json_bytes(body))


_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 413: "payload_too_large", 502: "upstream_error",
          503: "service_unavailable", 504: "upstream_timeout"}


def _code_for(status: int) -> str:
    return _CODES.get(status, "internal_error" if status >= 500 else "error")


def _unknown(name: str, loom: LoomJupyter) -> str:
    known = ", ".join(sorted(loom.connection_names())) or "none"
    shown = repr(name) if NAME.fullmatch(name) else "of that name"
    return f"No connection {shown} is configured (connections: {known})."


def safe_path(path: str) -> str:
    # Log lines must not carry query strings (a ws or API token could ride there).
    return path[:200].encode("ascii", "backslashreplace").decode()
