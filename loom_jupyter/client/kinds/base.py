"""What a connection kind is: the facts about one platform that the client and the proxy need.

A kind is data plus a few pure functions (no I/O): its routes, its auth scheme, how it signs in,
how its error bodies read, how it signals rate limits, how it pages, and its typed resources.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._base import Call

AuthScheme = Literal["api_key", "password", "token_file"]
ErrorMessage = Callable[[int, Any], "tuple[str | None, str]"]
RateLimitWait = Callable[[Mapping[str, str], float], "float | None"]


@dataclass(frozen=True)
class Token:
    """A bearer secret obtained by signing in; `expires_at` (unix seconds) is the JWT `exp`, if any."""

    secret: str
    expires_at: float | None = None

    def __repr__(self) -> str:
        return f"Token(secret='**********', expires_at={self.expires_at!r})"

    def expired(self, now: float, margin: float = 0.0) -> bool:
        return self.expires_at is not None and now + margin >= self.expires_at


@dataclass(frozen=True)
class Paging:
    """A platform's paging convention: query parameter names, first page number, answer shape."""

    page_param: str
    size_param: str
    first_page: int
    items: Callable[[Any], list[Any]]
    page_count: Callable[[Any], int | None]


@dataclass(frozen=True)
class Kind:
    """One platform spoken by loom-jupyter (see the module docstring)."""

    name: str
    title: str
    default_port: int | None
    route_families: tuple[str, ...]
    exact_routes: tuple[str, ...]
    credential_routes: re.Pattern[str]
    auth: AuthScheme
    error_message: ErrorMessage
    rate_limit_wait: RateLimitWait
    login: Callable[[str, str], Call[Token]] | None = None
    read_token_file: Callable[[str], str] | None = None
    paging: Paging | None = None
    resources: Mapping[str, type] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Kind({self.name!r})"


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (payload decoded, signature NOT checked); None if malformed or absent."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    return float(exp)


def token_from(secret: str) -> Token:
    return Token(secret, jwt_expiry(secret))


def retry_after_header(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds from a `Retry-After` header (delta seconds or an HTTP date), clamped at 0."""
    from .._problems import parse_retry_header

    value = header(headers, "retry-after")
    return None if value is None else parse_retry_header(value, now)


def header(headers: Mapping[str, str], name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None
    if value is None:
        for key, val in headers.items():
            if key.lower() == name:
                return val
    return value


def text_field(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None
