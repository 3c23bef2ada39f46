"""Read every error body shape Loom produces (loom-api.md §2, §10.3) into one typed exception."""
from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from ._errors import APIStatusError, ConflictError, RateLimitError, error_class
from ._settings import PROXY_ERROR_HEADER

_RATE_TEXT = re.compile(r"rate[ _-]?limit", re.IGNORECASE)
# "retry after 30 seconds", "retry after Some(30) seconds" (Rust Debug of an Option, §5.5).
_RETRY_TEXT = re.compile(r"retry after\s+(?:Some\()?\s*(\d+(?:\.\d+)?)\s*\)?\s*s", re.IGNORECASE)


class Dialect(Protocol):
    """How one platform words its errors and rate limits (a connection kind, see kinds/base.py)."""

    def error_message(self, status: int, data: Any) -> tuple[str | None, str]: ...

    def rate_limit_wait(self, headers: Mapping[str, str], now: float) -> float | None: ...

    @property
    def title(self) -> str: ...


def scrub(text: str, secrets: list[str]) -> str:
    """Remove credentials from text that came back from a server (it may echo headers)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def scrub_data(data: Any, secrets: list[str]) -> Any:
    """scrub() applied to every string inside parsed JSON."""
    if isinstance(data, str):
        return scrub(data, secrets)
    if isinstance(data, dict):
        return {scrub_data(k, secrets): scrub_data(v, secrets) for k, v in data.items()}
    if isinstance(data, list):
        return [scrub_data(v, secrets) for v in data]
    return data


def decode_body(headers: httpx.Headers, content: bytes) -> tuple[Any, str]:
    """(parsed JSON or None, text) — JSON only when the Content-Type (or the bytes) say so."""
    text = content.decode("utf-8", "replace")
    ctype = headers.get("content-type", "").lower()
    if "json" in ctype or (not ctype and text.lstrip()[:1] in "{["):
        try:
            return json.loads(text), text
        except ValueError:
            pass
    return None, text


def code_and_message(data: Any, text: str, headers: httpx.Headers) -> tuple[str | None, str]:
    """Accept flat, nested, `{code,message}`, `{status,message}`, plain text and HTML bodies."""
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return _str(err.get("code")), _str(err.get("message")) or ""
        code = _str(err) or _str(data.get("code")) or _str(data.get("status"))
        message = _str(data.get("message")) or _str(data.get("detail")) or ""
        return code, message
    if "html" in headers.get("content-type", "").lower() or text.lstrip()[:1] == "<":
        return None, "the server answered with an HTML page (is this URL a Loom server?)"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return None, first[:300]


def retry_after(headers: httpx.Headers, data: Any, message: str) -> float | None:
    """Seconds to wait, from Retry-After, a `retry_after_secs` field, or the message text."""
    header = headers.get("retry-after")
    if header:
        seconds = parse_retry_header(header)
        if seconds is not None:
            return seconds
    if isinstance(data, dict):
        for key in ("retry_after_secs", "retry_after"):
            value = data.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    match = _RETRY_TEXT.search(message)
    return float(match.group(1)) if match else None


def is_rate_limited(status: int, code: str | None, message: str) -> bool:
    """429 always; 503 only when the code or text says so (Loom uses 503 for LLM limits, §5.4)."""
    if status == 429:
        return True
    return status == 503 and bool(_RATE_TEXT.search(f"{code or ''} {message}"))


def build_error(
    method: str, path: str, status: int, headers: httpx.Headers, content: bytes, secrets: list[str],
    dialect: Dialect | None = None,
) -> APIStatusError:
    """One typed exception whose message is one sentence holding the platform's own message."""
    path = scrub(path, secrets)  # a caller's raw path may hold anything
    data, text = decode_body(headers, content)
    data, text = scrub_data(data, secrets), scrub(text, secrets)
    code, message = code_and_message(data, text, headers)
    if dialect is not None and isinstance(data, dict) and PROXY_ERROR_HEADER not in headers:
        own_code, own_message = dialect.error_message(status, data)
        code, message = own_code, own_message or message
    message = " ".join(scrub(message, secrets).split())
    sentence = f"{method} {path} failed with HTTP {status}"
    sentence += f" ({code})" if code else ""
    sentence += f": {message.rstrip('.')}" if message else ""
    common: dict[str, Any] = dict(
        status_code=status, code=code, body=data if data is not None else scrub(text[:2000], secrets),
        method=method, path=path,
    )
    if is_rate_limited(status, code, message):
        wait = dialect.rate_limit_wait(headers, time.time()) if dialect is not None else None
        wait = retry_after(headers, data, message) if wait is None else wait
        if dialect is not None and wait is not None:
            sentence += f"; wait {_seconds(wait)} before retrying"
        return _from(dialect, RateLimitError(sentence + ".", retry_after=wait, **common))
    sentence += "."
    cls = error_class(status)
    if cls is ConflictError:
        body = data if isinstance(data, dict) else {}
        return _from(dialect, ConflictError(
            sentence, server_version=body.get("server_version"),
            client_version=body.get("client_version"), **common,
        ))
    return _from(dialect, cls(sentence, **common))


def _from(dialect: Dialect | None, error: APIStatusError) -> APIStatusError:
    if dialect is not None:
        error.platform = dialect.title
    return error


def parse_retry_header(value: str, now: float | None = None) -> float | None:
    """Seconds from a Retry-After value (delta seconds or an HTTP date), clamped at 0."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - (time.time() if now is None else now))


def _seconds(wait: float) -> str:
    return "1 second" if wait == 1 else f"{wait:.3g} seconds"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
