"""What every local handler shares: the error shape, who is calling, JSON bodies (loom-api.md §2)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

import tornado.web
import tornado.websocket

if TYPE_CHECKING:
    from .state import LocalState

Role = Literal["user", "support", "system_admin"]
SESSION_COOKIE = "loom_session"
_JSON_TYPES = ("application/json",)
_INT64_MAX = 2**63 - 1
_DRAIN_FACTOR = 4  # oversized bodies up to this many times the limit are read before the 413
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
                 415: "unsupported_media_type", 503: "service_unavailable"}


class ApiError(tornado.web.HTTPError):
    """An error answered as `{"error": code, "message": message, **extra}` with `status`.

    A tornado HTTPError underneath so tornado neither logs it as a crash nor wraps it in a 500.
    """

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(status)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


@dataclass(frozen=True)
class Principal:
    user_id: str
    display_name: str
    role: Role
    org_ids: tuple[str, ...]
    key_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "system_admin"

    @property
    def is_support(self) -> bool:
        return self.role == "support"


def error_body(status: int, exc: BaseException | None) -> tuple[int, dict[str, Any]]:
    """The JSON error for whatever ended a request; never a traceback or an HTML page."""
    if isinstance(exc, ApiError):
        return exc.status, exc.body()
    if status >= 500:
        return status, {"error": "internal_error", "message": "An internal error occurred"}
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return status, {"error": _STATUS_CODES.get(status, "bad_request"), "message": phrase}


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
        principal = auth.authenticate_key(token)
    return principal


@tornado.web.stream_request_body
class LocalHandler(tornado.web.RequestHandler):
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
            raise ApiError(401, "unauthorized", "Authentication required")
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

    def _payload_too_large(self) -> ApiError:
        limit = self.state.config.max_body_bytes
        return ApiError(413, "payload_too_large", f"Request body exceeds {limit} bytes")

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object, or the documented 400/413/415 error."""
        if self._too_large:
            raise self._payload_too_large()
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if self._body and ctype and ctype not in _JSON_TYPES:
            raise ApiError(415, "unsupported_media_type",
                           "Expected Content-Type: application/json")
        try:
            value = json.loads(bytes(self._body) or b"null")
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
            raise ApiError(400, "bad_request", "Request body is not valid JSON") from None
        if not isinstance(value, dict):
            raise ApiError(400, "bad_request", "Request body must be a JSON object")
        return value

    def query_int(self, name: str, default: int, *, minimum: int = 0,
                  maximum: int | None = None) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, "bad_request", f"{name} must be an integer") from None
        # Without a maximum, still stay within SQLite's 64-bit integers (else a 500 on bind).
        if value < minimum or value > (_INT64_MAX if maximum is None else maximum):
            raise ApiError(400, "bad_request", f"{name} out of range")
        return value

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.write(json.dumps(obj))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, body = error_body(status_code, exc)
        self.clear_header("Content-Disposition")
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body))


class NotFoundHandler(LocalHandler):
    """Unknown routes: a JSON 404, never an HTML page (real Loom may serve its SPA, §0)."""

    auth_required = False

    def prepare(self) -> None:
        super().prepare()
        raise ApiError(404, "not_found", f"No route for {self.request.path}")


class LocalWebSocketHandler(tornado.websocket.WebSocketHandler):
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

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise ApiError(400, "bad_request", "This route needs a WebSocket upgrade")
        await super().get(*args, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        status, body = error_body(status_code, kwargs.get("exc_info", (None, None, None))[1])
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body))
