"""The no-I/O half of the client: request descriptions, flow operations, response parsing."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import httpx
import pydantic

from ._errors import APIConnectionError, APITimeoutError, NotFoundError, ResponseValidationError
from ._problems import Dialect, build_error, scrub

T = TypeVar("T")
# A flow is a generator that yields operations (Call, Sleep, OpenStream, ...) and receives
# their results; Loom and AsyncLoom each drive it with their own I/O (cf. httpx auth_flow).
Flow = Generator[Any, Any, T]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP request and how to read its answer; `idempotent` allows blind retries."""

    method: str
    path: str
    params: list[tuple[str, str]] | None = None
    json: Any = None
    headers: Mapping[str, str] | None = None
    parse: Callable[[Any], T] | None = None
    expect: str = "json"  # "json" | "empty" | "sse" | "bytes"
    accept_status: frozenset[int] = frozenset()
    read_timeout: float | None = None
    # A stream's longest silence between body chunks once its head has arrived (read_timeout
    # still bounds the wait for the head): a read that waits longer raises APITimeoutError.
    body_read_timeout: float | None = None
    idempotent: bool = False
    content: bytes | None = None  # a raw body (with its Content-Type in headers) instead of JSON
    auth: bool = True  # False: send no signed-in credential (the sign-in request itself)


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: httpx.Headers
    content: bytes


@dataclass(frozen=True)
class Sleep:
    """Wait; `reason` (if any) is logged by the client, so a long wait is never silent."""

    seconds: float
    reason: str | None = None


@dataclass(frozen=True)
class OpenStream:
    """Open a streaming request; the result is a handle whose status was already checked."""

    call: Call[Any]


@dataclass(frozen=True)
class ReadStream:
    """Next raw chunk of an open stream; the result is bytes, or None at a clean end."""

    handle: Any


@dataclass(frozen=True)
class CloseStream:
    handle: Any


@dataclass(frozen=True)
class Emit:
    """Hand one item to the caller of an iterator flow."""

    value: Any


@dataclass
class StreamHandle:
    """What a client's stream opener returns; `native` is the transport's own response."""

    call: Call[Any]
    native: Any
    chunks: Any = None
    closed: bool = field(default=False)

    def header(self, name: str) -> str | None:
        """One header of the stream's response (e.g. `Date`, the server's clock)."""
        return self.native.headers.get(name)  # type: ignore[no-any-return]


def limit_body_reads(call: Call[Any], response: httpx.Response) -> None:
    """Apply `call.body_read_timeout` to a streamed response whose head has arrived: httpcore
    takes the read timeout from the request's `timeout` extension when the body is first read."""
    timeout = response.request.extensions.get("timeout")
    if call.body_read_timeout is not None and isinstance(timeout, dict):
        timeout["read"] = call.body_read_timeout


def is_html(headers: httpx.Headers, content: bytes) -> bool:
    ctype = headers.get("content-type", "").lower()
    return "html" in ctype or content.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))


def route_not_served(call: Call[Any], status: int) -> NotFoundError:
    """Loom's SPA fallback (loom-api.md §0) answers unknown routes with 200 index.html."""
    return NotFoundError(
        f"{call.method} {call.path} is not served here: the server answered with an HTML page "
        "instead of JSON (is this URL a Loom server, and is this feature enabled on it?).",
        status_code=status,
        code="route_not_served",
        method=call.method,
        path=call.path,
    )


def check_status(
    call: Call[Any], raw: RawResponse, secrets: list[str], dialect: Dialect | None = None
) -> None:
    """Raise the typed error for an error status (or an HTML page where a stream was expected)."""
    if raw.status >= 400 and raw.status not in call.accept_status:
        raise build_error(call.method, call.path, raw.status, raw.headers, raw.content, secrets,
                          dialect)
    if call.expect not in ("empty", "bytes") and is_html(raw.headers, raw.content):
        raise route_not_served(call, raw.status)


def parse_response(
    call: Call[T], raw: RawResponse, secrets: list[str], dialect: Dialect | None = None
) -> T:
    """Turn a complete response into the call's result, or raise the matching LoomError."""
    check_status(call, raw, secrets, dialect)
    if call.expect == "empty":
        return None  # type: ignore[return-value]
    if call.expect == "bytes":
        return call.parse(raw) if call.parse else raw.content  # type: ignore[return-value]
    text = scrub(raw.content.decode("utf-8", "replace"), secrets)
    try:
        data = json.loads(raw.content) if raw.content.strip() else None
    except ValueError:
        raise ResponseValidationError(
            f"{call.method} {call.path} answered with a body that is not JSON.", body=text[:2000]
        ) from None
    if call.parse is None:
        return data  # type: ignore[return-value]  # a call without a parser answers raw JSON
    return validate(call, data, text)


def validate(call: Call[T], data: Any, text: str) -> T:
    try:
        return call.parse(data)  # type: ignore[misc]
    except (pydantic.ValidationError, KeyError, TypeError, ValueError) as exc:
        detail = _first_problem(exc)
        raise ResponseValidationError(
            f"{call.method} {call.path} answered with an unexpected shape ({detail}).", body=text[:2000]
        ) from None


def _first_problem(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        return f"{where}: {err['msg']}"
    return type(exc).__name__


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@contextlib.contextmanager
def transport_errors(
    call: Call[Any], url: str, secrets: list[str], platform: str = "Loom"
) -> Iterator[None]:
    """Translate httpx transport failures at the client boundary (cf. httpx map_httpcore_exceptions)."""
    call = replace(call, path=scrub(call.path, secrets))
    try:
        yield
    except httpx.TimeoutException as exc:
        sent = not isinstance(exc, _NOT_SENT)
        what = "connecting to" if not sent else "waiting for"
        raise APITimeoutError(
            f"{call.method} {call.path} timed out {what} {platform} at {url}.", request_sent=sent
        ) from exc
    except (httpx.TransportError, httpx.StreamError) as exc:
        sent = not isinstance(exc, _NOT_SENT)
        detail = scrub(str(exc), secrets) or type(exc).__name__
        verb = "could not connect to" if not sent else "lost the connection to"
        raise APIConnectionError(
            f"{call.method} {call.path} {verb} {platform} at {url} ({detail}).", request_sent=sent
        ) from exc
