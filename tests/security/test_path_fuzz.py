"""Property-based fuzzing of the extension's path normaliser (loom_jupyter/server/paths.py).

Extends tests/server/test_paths.py (a table and one property over a small alphabet) with:
arbitrary Unicode text, attack-token grammars (overlong and full-width dots, mixed-case escapes,
`;` parameters, double encoding, userinfo), the real `LoomJupyter.upstream_url` as the oracle
for "which host and prefix would Loom see", and an end-to-end run where a real jupyter-server
forwards what it accepts to a recording upstream that checks what really arrived.
"""
from __future__ import annotations

import posixpath
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from typing import ClassVar
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loom_jupyter.server.app import LoomJupyter
from loom_jupyter.server.paths import UnsafePathError, check_query, upstream_path
from tests.reliability.conftest import LONG
from tests.reliability.load import JupyterServer, start_jupyter

BASE = "http://loom.internal:8420/prefix"
FAMILIES = ("/prefix/api/", "/prefix/proxy/", "/prefix/health", "/prefix/auth/ws-token")
EXAMPLES = 3000 if LONG else 400

TOKENS = [
    "..", ".", "%2e", "%2E", "%2e%2e", ".%2e", "%2e.", "%252e", "%25", "%2f", "%2F", "%5c", "%5C",
    "%c0%ae", "%c0%af", "%e0%80%ae", "%ef%bc%8e", "\uff0e", "\u2024", "\u3002", ";", "%3b", "..;",
    "@", "%40", ":", "//", "/", "\\", "?", "#", "%3f", "%23", "%00", "%0a", "%0d", "%09", "\t",
    " ", "%20", "\x00", "\r\n", "~", "evil.example", "127.0.0.1:22", "http:", "file:",
    "%u002e", "%%32%65", "%", "%2", "%zz", "weaver", "x", "0", "-",
]
SEGMENTS = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=4).map("".join)
PATHS = st.tuples(st.sampled_from(["api/", "proxy/", "", "auth/", "health", "api", "./api/"]),
                  st.lists(SEGMENTS, max_size=6).map("/".join)).map("".join)


def _app() -> LoomJupyter:
    app = LoomJupyter()
    app.url = BASE
    return app


APP = _app()


def assert_stays_home(raw: str) -> str | None:
    """The property: a path is refused, or it reaches only Loom's host under its route families."""
    try:
        path = upstream_path(raw)
    except UnsafePathError:
        return None
    assert path == "/" + raw  # what was checked is exactly what is sent
    url = httpx.URL(APP.upstream_url(path))
    assert (url.scheme, url.host, url.port) == ("http", "loom.internal", 8420)
    raw_path = url.raw_path.decode().split("?")[0]
    assert raw_path.startswith(FAMILIES), raw_path
    decoded = urllib.parse.unquote(raw_path)
    assert posixpath.normpath(decoded).startswith(FAMILIES[0][:-1].rsplit("/", 1)[0])
    segments = [urllib.parse.unquote(s) for s in path[1:].split("/")]
    assert not {".", ".."} & set(segments)
    assert all(c not in s for s in segments for c in "/\\@")
    assert not any(ord(c) < 0x21 or c in "#?\\" or ord(c) == 0x7F for c in path)
    return path


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_arbitrary_text_never_leaves_loom(raw: str) -> None:
    assert_stays_home(raw)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PATHS)
def test_attack_grammar_never_leaves_loom(raw: str) -> None:
    assert_stays_home(raw)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(["api/", "proxy/"]),
       st.lists(st.text(alphabet=st.characters(codec="ascii"), max_size=8), max_size=5))
def test_encoded_variants_of_each_segment_agree(family: str, parts: list[str]) -> None:
    """Percent-encoding a path (fully, any case) never turns a refusal into an escape."""
    raw = family + "/".join(parts)
    encoded = family + "/".join(urllib.parse.quote(p, safe="") for p in parts)
    for candidate in (raw, encoded, encoded.lower(), encoded.upper().replace("API/", "api/")
                      .replace("PROXY/", "proxy/")):
        assert_stays_home(candidate)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(max_size=80))
def test_query_is_refused_or_has_no_request_splitting_characters(query: str) -> None:
    try:
        checked = check_query(query)
    except UnsafePathError:
        return
    assert checked == query
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F or c in " #\\" for c in checked)
    httpx.URL(APP.upstream_url("/api/weavers", checked))  # and it builds one URL


def test_the_property_can_fail() -> None:
    """The oracle itself catches an escape when handed one (guards against a vacuous property)."""
    with pytest.raises(AssertionError):
        upstream = "/api/../../admin"
        url = httpx.URL(APP.upstream_url(upstream))
        assert posixpath.normpath(urllib.parse.unquote(url.raw_path.decode())).startswith("/prefix/api")


# -- end to end: a real jupyter-server, a recording upstream ----------------------------------------

class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def _any(self) -> None:
        type(self).seen.append(self.path)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _any

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JupyterServer, type[_Recorder]]]:
    recorder = type("Rec", (_Recorder,), {"seen": []})
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), recorder)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    prefix = f"http://127.0.0.1:{upstream.server_address[1]}/prefix"
    jupyter = start_jupyter(tmp_path_factory.mktemp("paths-e2e"), prefix, "lk_" + "f" * 64)
    try:
        yield jupyter, recorder
    finally:
        jupyter.stop()
        upstream.shutdown()
        upstream.server_close()


def _raw_get(jupyter: JupyterServer, target: str) -> int:
    port = int(jupyter.url.rsplit(":", 1)[1])
    request = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: token {jupyter.token}\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode("utf-8", "surrogateescape"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


URL_SAFE = st.lists(st.sampled_from([t for t in TOKENS if not any(c in t for c in " \t\r\n\x00#?")
                                     and all(ord(c) < 128 for c in t)]), min_size=1, max_size=4)


@settings(max_examples=300 if LONG else 60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.sampled_from(["api/", "proxy/", "", "health"]),
       st.lists(URL_SAFE.map("".join), max_size=4).map("/".join))
def test_what_the_extension_forwards_is_what_was_checked(e2e, family: str, tail: str) -> None:
    jupyter, recorder = e2e
    raw = family + tail
    before = len(recorder.seen)
    status = _raw_get(jupyter, "/loom/" + raw)
    arrived = recorder.seen[before:]
    try:
        expected = upstream_path(raw)
    except UnsafePathError:  # UnknownRouteError (404) included; tornado may say 400 first
        assert status in (400, 404) and arrived == [], (raw, status, arrived)
        return
    if status == 200:
        assert arrived == ["/prefix" + expected]
    else:  # tornado itself may refuse a target before the extension sees it
        assert status in (400, 404) and arrived == []


def _raw_query(jupyter: JupyterServer, query: bytes) -> int:
    port = int(jupyter.url.rsplit(":", 1)[1])
    request = (b"GET /loom/api/weavers?" + query + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               b"Authorization: token %s\r\nConnection: close\r\n\r\n" % (port, jupyter.token.encode()))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.mark.parametrize("query", [b"tag=caf\xc3\xa9:x", b"tag=\xff", b"x=\x7f"])
def test_raw_non_ascii_query_is_a_400_not_a_crash(e2e, query: bytes) -> None:
    jupyter, recorder = e2e
    before = len(recorder.seen)
    assert _raw_query(jupyter, query) == 400  # was a 500 (UnicodeDecodeError building the URL)
    assert recorder.seen[before:] == []
    assert "Traceback" not in jupyter.log_path.read_text()


def test_e2e_forwards_a_plain_path_unchanged(e2e) -> None:
    """Positive control: the end-to-end property above is not vacuous."""
    jupyter, recorder = e2e
    before = len(recorder.seen)
    assert _raw_get(jupyter, "/loom/api/weaver/abc-1%3A2/logs") == 200
    assert recorder.seen[before:] == ["/prefix/api/weaver/abc-1%3A2/logs"]


# -- every connection kind (issue 13): its own route families, the same guard ----------------------

from loom_jupyter.client.kinds import KINDS  # noqa: E402
from loom_jupyter.server.connections import join_url  # noqa: E402

OTHER_HOST = "http://other.internal:9000/p"  # another connection's host: never reachable


def assert_stays_in_kind(raw: str, kind_name: str) -> None:
    kind = KINDS[kind_name]
    try:
        path = upstream_path(raw, kind)
    except UnsafePathError:
        return
    assert path == "/" + raw
    url = httpx.URL(join_url(BASE, path))
    assert (url.scheme, url.host, url.port) == ("http", "loom.internal", 8420)
    raw_path = url.raw_path.decode().split("?")[0]
    allowed = tuple("/prefix/" + f for f in kind.route_families) + tuple(
        "/prefix/" + e for e in kind.exact_routes)
    assert raw_path.startswith(allowed), (kind_name, raw_path)
    decoded = posixpath.normpath(urllib.parse.unquote(raw_path))
    assert decoded.startswith("/prefix/") and "other.internal" not in str(url)
    segments = [urllib.parse.unquote(s) for s in path[1:].split("/")]
    assert not {".", ".."} & set(segments)
    assert all(c not in s for s in segments for c in "/\\@")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(KINDS)),
       st.tuples(st.sampled_from(["api/", "api/v1/", "proxy/", "", "health", "auth/",
                                  "api/v1", "./api/"]),
                 st.lists(SEGMENTS, max_size=6).map("/".join)).map("".join))
def test_attack_grammar_never_leaves_any_kind(kind_name: str, raw: str) -> None:
    assert_stays_in_kind(raw, kind_name)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(sorted(KINDS)), st.text(max_size=60))
def test_arbitrary_text_never_leaves_any_kind(kind_name: str, raw: str) -> None:
    assert_stays_in_kind(raw, kind_name)


@pytest.mark.parametrize("kind_name", sorted(KINDS))
def test_a_kind_forwards_only_its_own_families(kind_name: str) -> None:
    kind = KINDS[kind_name]
    for family in kind.route_families:
        assert upstream_path(family + "x") == "/" + family + "x" or kind_name != "loom"
        assert upstream_path(family + "x", kind) == "/" + family + "x"
    foreign = {"loom": "metrics", "loom-v1": "api/weavers", "openloomi": "proxy/x",
               "nodeloom": "health"}[kind_name]
    with pytest.raises(UnsafePathError):
        upstream_path(foreign, kind)
    assert OTHER_HOST not in join_url(BASE, "/" + kind.route_families[0] + "x")
