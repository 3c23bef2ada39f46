"""The SSRF guard: turn a raw `{base_url}loom/...` remainder into a safe upstream path, or refuse.

Which route families a path may start with, and which routes a kernel may not use, belong to
the connection's kind (`loom_jupyter.client.kinds`); everything else here holds for every kind.
"""
from __future__ import annotations

import re
from typing import Protocol
from urllib.parse import unquote, unquote_plus

from ..client.kinds import get_kind

__all__ = ["RouteRules", "UnknownRouteError", "UnsafePathError", "check_query",
           "is_credential_route", "upstream_path"]


class RouteRules(Protocol):
    """What a kind says about its routes (a `Kind` is one)."""

    @property
    def title(self) -> str: ...
    @property
    def route_families(self) -> tuple[str, ...]: ...
    @property
    def exact_routes(self) -> tuple[str, ...]: ...
    @property
    def credential_routes(self) -> re.Pattern[str]: ...


LOOM: RouteRules = get_kind("loom")  # the default connection's kind (issue 4 §4)

MAX_PATH = 2048
# RFC 3986 pchar minus "@" (userinfo smuggling), plus "/" and "%" (checked separately below).
_ALLOWED = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:/%]*")
_PCT = re.compile(r"%(..)?", re.DOTALL)
# Decoded bytes that must never hide behind a percent sign: separators, dots, the escape
# character itself (double encoding), "@", and every control character.
_FORBIDDEN_DECODED = set(b"/\\.%@?#") | set(range(0x20)) | {0x7F}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


class UnsafePathError(ValueError):
    """The requested path could escape the configured Loom host; refused before any request."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownRouteError(UnsafePathError):
    """A well-formed path outside the forwarded Loom route families."""


def _check_escapes(raw: str) -> None:
    for match in _PCT.finditer(raw):
        hexpair = match.group(1)
        if hexpair is None or not re.fullmatch(r"[0-9A-Fa-f]{2}", hexpair):
            raise UnsafePathError("malformed percent-escape in path")
        if int(hexpair, 16) in _FORBIDDEN_DECODED:
            raise UnsafePathError("encoded separator, dot or control character in path")


def _check_segments(raw: str) -> None:
    segments = raw.split("/")
    # A single trailing slash is harmless; an empty segment anywhere else is `//`.
    body = segments[:-1] if len(segments) > 1 and segments[-1] == "" else segments
    for segment in body:
        if segment == "":
            raise UnsafePathError("empty path segment (//)")
        if segment in (".", ".."):
            raise UnsafePathError("dot segment in path")


def _check_family(raw: str, rules: RouteRules) -> None:
    if raw in rules.exact_routes:
        return
    families = rules.route_families
    if not families or not raw.startswith(families) or raw in families:
        known = ", ".join((*families, *rules.exact_routes))
        raise UnknownRouteError(f"not a {rules.title} route family ({known})")


def upstream_path(raw: str, rules: RouteRules = LOOM) -> str:
    """Validate the raw (still percent-encoded) remainder after the proxy prefix; return
    `/<remainder>`. `rules` (the connection's kind) says which route families are forwarded.

    Pure function: no decoding is handed on, the result is exactly the input with a leading
    slash, so what was checked is what is sent. Raises UnsafePathError on anything that could
    change the upstream host or climb out of the route family.
    """
    if not raw or len(raw) > MAX_PATH:
        raise UnsafePathError("empty or overlong path")
    if _SCHEME.match(raw) or raw.startswith("/"):
        raise UnsafePathError("absolute URL or path")
    if "\\" in raw or "@" in raw:
        raise UnsafePathError("backslash or '@' in path")
    if not _ALLOWED.fullmatch(raw):
        raise UnsafePathError("character not allowed in a path")
    _check_escapes(raw)
    _check_segments(raw)
    _check_family(raw, rules)
    return "/" + raw


def is_credential_route(path: str, rules: RouteRules = LOOM) -> bool:
    """True for paths (as upstream_path returns them) that mint, approve or revoke a credential
    of the kind (matched on the decoded path, any method)."""
    return rules.credential_routes.match(unquote(path)) is not None


def check_query(query: str) -> str:
    """Refuse a raw query string carrying characters that could split the request line, and
    drop Jupyter's own `token` parameter (a credential for this server, never for Loom)."""
    if len(query) > 8192 or any(ord(ch) < 0x20 or ord(ch) >= 0x7F or ch in " #\\" for ch in query):
        raise UnsafePathError("control or non-ASCII character, space, '#' or backslash in query")
    for match in _PCT.finditer(query):
        hexpair = match.group(1)
        if hexpair is None or not re.fullmatch(r"[0-9A-Fa-f]{2}", hexpair):
            raise UnsafePathError("malformed percent-escape in query")
    if "token" not in query.lower() and "%" not in query:
        return query
    return "&".join(p for p in query.split("&")
                    if unquote_plus(p.split("=", 1)[0]).strip().lower() != "token")
