"""The exception tree of the SDK; every `str(err)` is one sentence and never holds a credential.

    LoomError
    ├── APIStatusError                (the server answered with an error status)
    │   ├── BadRequestError           400, 422
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404, or HTML where JSON was expected (SPA fallback)
    │   ├── ConflictError             409 (server_version, client_version)
    │   ├── RateLimitError            429, or 503 that says "rate limited" (retry_after)
    │   └── ServerError               5xx
    │       └── ServiceUnavailableError   503
    ├── APIConnectionError            no usable answer (request_sent says if it may have arrived)
    │   └── APITimeoutError
    ├── StreamError                   a stream ended early or reported an error (partial_text)
    ├── ResponseValidationError       a 2xx body that does not match the model (body)
    ├── LoomConfigError               no URL configured, unknown connection or kind
    │   └── UnsupportedFeatureError   a feature of another kind (also an AttributeError)
    └── LoomValidationError           bad input caught before the network (field); also ValueError
"""
from __future__ import annotations

from typing import Any


class LoomError(Exception):
    """Root of every error raised by the Loom SDK."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class APIStatusError(LoomError):
    """The server answered with an error status (or an unusable body)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        body: Any = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.body = body
        self.method = method
        self.path = path
        self.platform = "Loom"  # which platform answered (a connection kind's title)


class BadRequestError(APIStatusError):
    """The server rejected the request as malformed (400/422)."""


class AuthenticationError(APIStatusError):
    """The credential is missing, invalid or expired (401)."""


class PermissionDeniedError(APIStatusError):
    """The caller may not do this (403)."""


class NotFoundError(APIStatusError):
    """The object, or the route itself, does not exist (404 or an HTML fallback page)."""


class ConflictError(APIStatusError):
    """Optimistic concurrency failed: the stored version differs from the expected one (409)."""

    def __init__(self, message: str, *, server_version: Any = None, client_version: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.server_version = server_version
        self.client_version = client_version


class RateLimitError(APIStatusError):
    """Loom or an upstream provider is rate limiting; `retry_after` is in seconds when known."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """The server failed (5xx)."""


class ServiceUnavailableError(ServerError):
    """A service behind Loom is not configured or not reachable (503)."""


class APIConnectionError(LoomError):
    """No usable answer arrived; `request_sent` is False only when the request surely never left."""

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class StreamError(LoomError):
    """A stream ended before its terminal event or reported an error; keeps what arrived."""

    def __init__(self, message: str, *, partial_text: str = "") -> None:
        super().__init__(message)
        self.partial_text = partial_text


class ResponseValidationError(LoomError):
    """A successful response did not match the expected shape; `body` is the raw text."""

    def __init__(self, message: str, *, body: str = "") -> None:
        super().__init__(message)
        self.body = body


class LoomConfigError(LoomError):
    """The client is not configured (no URL)."""


class UnsupportedFeatureError(LoomConfigError, AttributeError):
    """This connection's kind has no such feature (`loom.weavers` on a NodeLoom connection).
    Also an AttributeError, so that `hasattr(loom, "weavers")` answers False."""


class LoomValidationError(LoomError, ValueError):
    """An argument is invalid; caught before anything is sent. `field` names the argument."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"Invalid {field}: {message}")
        self.field = field


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status (5xx without an entry -> ServerError)."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return ServerError if status >= 500 else APIStatusError
