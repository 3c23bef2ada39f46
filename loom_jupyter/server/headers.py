"""Which headers may cross the proxy, in each direction (pure functions, tested by table)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["bad_header_value", "request_headers", "response_headers"]

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})
# The caller's Jupyter credentials and anything describing the caller's side of the hop.
_NEVER_FORWARD = frozenset({
    "authorization", "cookie", "x-xsrftoken", "x-csrftoken", "host", "content-length",
    "origin", "referer", "accept-encoding", "forwarded", "x-real-ip", "x-jupyter-token",
    "expect",
})
_NEVER_FORWARD_PREFIXES = ("x-forwarded-", "sec-", "proxy-")
# Upstream headers a browser may see; Set-Cookie and Location are deliberately absent (a Loom
# session cookie must not land on Jupyter's origin, a redirect must not leave it).
# Content-Type is set by the relay itself, from the one value it checked (bodies.content_type).
# X-RateLimit-* carry NodeLoom's rate-limit window (the client waits until Reset on a 429).
RELAYED_RESPONSE = frozenset({
    "etag", "last-modified", "cache-control", "retry-after", "x-request-id",
    "content-language", "vary", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
})


_NOT_PRINTABLE = re.compile(r"[^\t\x20-\x7e]")


def bad_header_value(value: str) -> bool:
    """True for values that are not printable ASCII (tab allowed): controls could split a header
    line, and non-ASCII has no agreed encoding on the way up or down."""
    return _NOT_PRINTABLE.search(value) is not None


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def request_headers(
    headers: Iterable[tuple[str, str]], credential: Mapping[str, str]
) -> list[tuple[str, str]]:
    """Headers to send upstream: the caller's, minus credentials and hop-by-hop, plus ours.

    Raises ValueError for a value that could inject a header line.
    """
    pairs = list(headers)
    dropped = HOP_BY_HOP | _NEVER_FORWARD | _connection_tokens(pairs)
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        lower = name.lower()
        if lower in dropped or lower.startswith(_NEVER_FORWARD_PREFIXES):
            continue
        if bad_header_value(value) or bad_header_value(name):
            raise ValueError("a control or non-ASCII character in a request header")
        out.append((name, value))
    out.append(("Accept-Encoding", "identity"))
    out.extend(credential.items())
    return out


def response_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Upstream response headers a browser may see (allow-list)."""
    return [(n, v) for n, v in headers if n.lower() in RELAYED_RESPONSE and not bad_header_value(v)]
