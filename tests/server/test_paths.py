"""The SSRF guard as a pure function: a table of refusals and acceptances, and a property test."""
from __future__ import annotations

import urllib.parse

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loom_jupyter.server.paths import (
    UnknownRouteError,
    UnsafePathError,
    check_query,
    upstream_path,
)

ACCEPTED = [
    ("api/weavers", "/api/weavers"),
    ("api/weaver/018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a", "/api/weaver/018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a"),
    ("api/weaver/abc/logs", "/api/weaver/abc/logs"),
    ("api/threads/T-0190abc", "/api/threads/T-0190abc"),
    ("api/threads/", "/api/threads/"),
    ("proxy/anthropic/stream", "/proxy/anthropic/stream"),
    ("proxy/openai/complete", "/proxy/openai/complete"),
    ("auth/ws-token", "/auth/ws-token"),
    ("health", "/health"),
    ("api/search/caf%C3%A9", "/api/search/caf%C3%A9"),
    ("api/file.name~x", "/api/file.name~x"),
]

REFUSED = [
    ("api/../admin", "dot-dot segment"),
    ("api/weaver/..", "trailing dot-dot"),
    ("api/./weavers", "dot segment"),
    ("api/%2e%2e/x", "encoded dot-dot"),
    ("api/%2E%2E/x", "encoded dot-dot upper case"),
    ("api/.%2e/x", "half-encoded dot-dot"),
    ("api/weaver%2f..%2fadmin", "encoded slash"),
    ("api/weaver%2Fx", "encoded slash upper case"),
    ("api/weaver%5cx", "encoded backslash"),
    ("api/%252e%252e/x", "double-encoded dot"),
    ("api//evil.example/x", "double slash"),
    ("api/weavers//x", "inner double slash"),
    ("//evil.example/api", "protocol-relative"),
    ("/api/weavers", "leading slash"),
    ("api/x@evil.example", "at sign"),
    ("api/%40evil", "encoded at sign"),
    ("api\\..\\admin", "backslash"),
    ("http://evil.example/api", "absolute URL"),
    ("https:evil.example", "scheme without slashes"),
    ("api/x\r\nHost: evil", "CR/LF"),
    ("api/x%0d%0aHost:%20evil", "encoded CR/LF"),
    ("api/x\x00y", "NUL"),
    ("api/x%00y", "encoded NUL"),
    ("api/x%zz", "malformed escape"),
    ("api/x%4", "truncated escape"),
    ("api/x y", "space"),
    ("api/x#frag", "fragment"),
    ("", "empty"),
    ("api/" + "a" * 3000, "overlong"),
]

UNKNOWN = ["metrics", "bin/loom", "internal/weaver-x", "api", "proxy/", "healthz", "auth/me"]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted_paths_pass_unchanged(raw: str, expected: str) -> None:
    assert upstream_path(raw) == expected


@pytest.mark.parametrize(("raw", "why"), REFUSED, ids=[why for _, why in REFUSED])
def test_escapes_are_refused(raw: str, why: str) -> None:
    with pytest.raises(UnsafePathError):
        upstream_path(raw)


@pytest.mark.parametrize("raw", UNKNOWN)
def test_only_loom_route_families_are_forwarded(raw: str) -> None:
    with pytest.raises(UnknownRouteError):
        upstream_path(raw)


@pytest.mark.parametrize("query", ["a\r\nb", "a b", "x#y", "x%zz", "a\x00"])
def test_query_with_control_characters_is_refused(query: str) -> None:
    with pytest.raises(UnsafePathError):
        check_query(query)


def test_ordinary_query_passes() -> None:
    assert check_query("tail=10&timestamps=true&tag=project%3Ax") == "tail=10&timestamps=true&tag=project%3Ax"


BASE = "http://loom.internal:8420/prefix"
_alphabet = st.sampled_from(list("abz09-._~!$&'()*+,;=:/%@\\?#\r\n\x00 .") + ["%2e", "%2f", "%5c", "%2E", "%25", "..", "//"])


def _decoded_segments(path: str) -> list[str]:
    return [urllib.parse.unquote(s) for s in path.split("/")]


@settings(max_examples=600, deadline=None)
@given(family=st.sampled_from(["api/", "proxy/", "", "auth/", "health"]),
       tail=st.lists(_alphabet, max_size=20).map("".join))
def test_no_accepted_path_leaves_the_configured_host(family: str, tail: str) -> None:
    raw = family + tail
    try:
        path = upstream_path(raw)
    except UnsafePathError:
        return
    url = httpx.URL(BASE.rstrip("/") + path)
    assert (url.scheme, url.host, url.port) == ("http", "loom.internal", 8420)
    assert url.raw_path.decode().startswith(("/prefix/api/", "/prefix/proxy/", "/prefix/health",
                                             "/prefix/auth/ws-token"))
    segments = _decoded_segments(path[1:])
    assert not {".", ".."} & set(segments)
    assert all("/" not in s and "\\" not in s and "@" not in s for s in segments)
    assert not any(ch in path for ch in "\r\n\x00 #?")


# -- each kind's credential routes (issue 13): what a kernel may not reach through the proxy -------

from loom_jupyter.client.kinds import get_kind  # noqa: E402
from loom_jupyter.server.paths import is_credential_route  # noqa: E402

CREDENTIAL = [
    ("loom", "/api/orgs/o1/api-keys", True), ("loom", "/api/auth/logout", True),
    ("loom", "/api/weavers", False),
    ("loom-v1", "/api/v1/auth/login", True), ("loom-v1", "/api/v1/tokens", True),
    ("loom-v1", "/api/v1/tokens/t1", True), ("loom-v1", "/api/v1/users/u1", True),
    ("loom-v1", "/api/v1/users", False), ("loom-v1", "/api/v1/assets", False),
    ("loom-v1", "/api/v1/%61uth/login", True),  # decoded before matching
    ("openloomi", "/api/remote-auth/login", True), ("openloomi", "/api/auth/set-token", True),
    ("openloomi", "/api/user/password", True), ("openloomi", "/api/ai/v1/models", False),
    ("nodeloom", "/api/sdk-tokens", True), ("nodeloom", "/api/tokens/x", True),
    ("nodeloom", "/api/auth/x", True), ("nodeloom", "/api/workflows", False),
]


@pytest.mark.parametrize(("kind", "path", "denied"), CREDENTIAL)
def test_each_kind_names_its_credential_routes(kind: str, path: str, denied: bool) -> None:
    assert is_credential_route(path, get_kind(kind)) is denied


@pytest.mark.parametrize(("kind", "raw"), [("loom-v1", "api/weavers"), ("loom-v1", "health"),
                                           ("loom-v1", "api/v1/"), ("openloomi", "proxy/x"),
                                           ("nodeloom", "auth/ws-token")])
def test_other_kinds_refuse_loom_routes(kind: str, raw: str) -> None:
    with pytest.raises(UnknownRouteError):
        upstream_path(raw, get_kind(kind))
