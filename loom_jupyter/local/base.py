"""What every local handler shares: the error shape, who is calling, JSON bodies (loom-api.md §2)."""
from __future__ import annotations

import json
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import tornado.web
import tornado.websocket

from . import errors as e
from .principal import Principal

if TYPE_CHECKING:
    from .state import LocalState

SESSION_COOKIE = "loom_session"
_JSON_TYPES = ("application/json",)
_INT64_MAX = 2**63 - 1
_DRAIN_FACTOR = 4  # oversized bodies up to this many times the limit are read before the 413
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
                 415: "unsupported_media_type", 503: "service_unavailable"}
# The one translation of domain errors to HTTP: status and Loom's error code (loom-api.md §2).
# A class not listed answers as its nearest listed ancestor.
WIRE: dict[type[e.LocalError], tuple[int, str]] = {
    e.LocalError: (500, "internal_error"),
    e.InvalidRequest: (400, "bad_request"),
    e.InvalidLifetime: (400, "invalid_lifetime"),
    e.InvalidName: (400, "invalid_name"),
    e.InvalidScopes: (400, "invalid_scopes"),
    e.InvalidDeviceCode: (400, "invalid_device_code"),
    e.InvalidUserCode: (400, "invalid_user_code"),
    e.NotAuthenticated: (401, "unauthorized"),
    e.NotAllowed: (403, "forbidden"),
    e.NotFound: (404, "not_found"),
    e.WeaverNotFound: (404, "weaver_not_found"),
    e.VersionConflict: (409, "version_conflict"),
    e.AlreadyRevoked: (409, "already_revoked"),
    e.BodyTooLarge: (413, "payload_too_large"),
    e.UnsupportedMediaType: (415, "unsupported_media_type"),
    e.TooManyWeavers: (429, "too_many_weavers"),
    e.ProvisionFailed: (500, "provisioner_error"),
    e.UpstreamFailed: (502, "upstream_error"),
    e.RateLimited: (503, "rate_limited"),
    e.UpstreamTimeout: (504, "upstream_timeout"),
}


def wire_error(exc: e.LocalError) -> tuple[int, dict[str, Any]]:
    """The status and `{"error", "message", **details}` body that answer `exc`."""
    status, code = next(WIRE[cls] for cls in type(exc).__mro__ if cls in WIRE)
    return status, {"error": code, "message": exc.message, **exc.details}


def error_body(status: int, exc: BaseException | None) -> tuple[int, dict[str, Any]]:
    """The JSON error for whatever ended a request; never a traceback or an HTML page."""
    if isinstance(exc, e.LocalError):
        return wire_error(exc)
    if status >= 500:
        return status, {"error": "internal_error", "message": "An internal error occurred"}
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return status, {"error": _STATUS_CODES.get(status, "bad_request"), "message": phrase}


class _JsonErrors(tornado.web.RequestHandler):
    """Every error as Loom's JSON body; domain errors are answers, not crashes to log."""

    def log_exception(self, typ: type[BaseException] | None, value: BaseException | None,
                      tb: TracebackType | None) -> None:
        if not isinstance(value, e.LocalError):
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        status, body = error_body(status_code, kwargs.get("exc_info", (None, None, None))[1])
        self.clear_header("Content-Disposition")
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body))


def _state(handler: tornado.web.RequestHandler) -> LocalState:
    return handler.settings["loom_state"]


def _bearer(handler: tornado.web.RequestHandler) -> str | None:
    """Exactly `Bearer <token>`: case-sensitive, nothing trimmed (loom-api.md §1.1)."""
    header = handler.request.headers.get("Authorization", "")
    return (header[len("Bearer "):] or None) if header.startswith("Bearer ") else None


def _authenticate(handler: tornado.web.RequestHandler, *, use_cookie: bool = True) -> Principal | None:
    """Cookie first; a present-but-invalid cookie falls through to the bearer (loom-api.md §1.1)."""
    auth = _state(handler).auth
    cookie = handler.get_cookie(SESSION_COOKIE) if use_cookie else None
    principal = auth.authenticate_session(cookie) if cookie else None
    if principal is None and (token := _bearer(handler)):
        principal = auth.authenticate_bearer(token)
    return principal


@tornado.web.stream_request_body
class LocalHandler(_JsonErrors):
    """Base of every HTTP handler: auth in `prepare`, JSON in and out, JSON errors always.

    Bodies are streamed in so an oversized one is refused with 413 before it is read.
    """

    auth_required = True
    principal: Principal

    @property
    def state(self) -> LocalState:
        return _state(self)

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self) -> None:
        """An API server authenticated by bearer keys: no XSRF form tokens."""

    def prepare(self) -> None:
        self._body = bytearray()
        self._too_large = False
        self.request.body = self._body  # type: ignore[assignment]  # filled by data_received
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.state.config.max_body_bytes:
            self._too_large = True
            if int(length) > _DRAIN_FACTOR * self.state.config.max_body_bytes:
                raise self._payload_too_large()
            # Read (and drop) the body, then answer 413: closing on unread bytes makes the
            # kernel reset the connection, and a proxy in front of us would lose the answer.
            setattr(self, (self.request.method or "get").lower(), self._refuse_too_large)
            return
        principal = _authenticate(self)
        if principal is None and self.auth_required:
            raise e.NotAuthenticated("Authentication required")
        self.principal = principal  # type: ignore[assignment]  # None only when not required

    def data_received(self, chunk: bytes) -> None:
        if self._too_large:
            return
        if len(self._body) + len(chunk) > self.state.config.max_body_bytes:
            self._too_large = True
            self._body.clear()
            return
        self._body.extend(chunk)

    def _refuse_too_large(self, *args: Any, **kwargs: Any) -> None:
        raise self._payload_too_large()

    def _payload_too_large(self) -> e.BodyTooLarge:
        return e.BodyTooLarge(f"Request body exceeds {self.state.config.max_body_bytes} bytes")

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object, or the documented 400/413/415 error."""
        if self._too_large:
            raise self._payload_too_large()
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if self._body and ctype and ctype not in _JSON_TYPES:
            raise e.UnsupportedMediaType("Expected Content-Type: application/json")
        try:
            value = json.loads(bytes(self._body) or b"null")
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
            raise e.InvalidRequest("Request body is not valid JSON") from None
        if not isinstance(value, dict):
            raise e.InvalidRequest("Request body must be a JSON object")
        return value

    def query_int(self, name: str, default: int, *, minimum: int = 0,
                  maximum: int | None = None) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise e.InvalidRequest(f"{name} must be an integer") from None
        # Without a maximum, still stay within SQLite's 64-bit integers (else a 500 on bind).
        if value < minimum or value > (_INT64_MAX if maximum is None else maximum):
            raise e.InvalidRequest(f"{name} out of range")
        return value

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.write(json.dumps(obj))

class NotFoundHandler(LocalHandler):
    """Unknown routes: a JSON 404, never an HTML page (real Loom may serve its SPA, §0)."""

    auth_required = False

    def prepare(self) -> None:
        super().prepare()
        raise e.NotFound(f"No route for {self.request.path}")


class LocalWebSocketHandler(tornado.websocket.WebSocketHandler, _JsonErrors):
    """Base of the WebSocket handlers: state access, handshake auth, JSON errors before upgrade."""

    @property
    def state(self) -> LocalState:
        return _state(self)

    def check_origin(self, origin: str) -> bool:
        """Any origin may connect; cross-origin pages just cannot ride on the cookie (below)."""
        return True

    def _same_origin(self) -> bool:
        origin = self.request.headers.get("Origin")
        return origin is None or urlparse(origin).netloc == self.request.host

    async def authenticate_handshake(self) -> Principal | None:
        """Bearer header or `loom_session` cookie on the upgrade request, else None."""
        return _authenticate(self, use_cookie=self._same_origin())

    def require_upgrade(self) -> None:
        """A JSON 400 before tornado's plain-text one for a request that is not an upgrade."""
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise e.InvalidRequest("This route needs a WebSocket upgrade")

    async def get(self, *args: Any, **kwargs: Any) -> None:
        self.require_upgrade()
        await super().get(*args, **kwargs)
