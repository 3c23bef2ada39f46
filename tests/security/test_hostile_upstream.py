"""Issue 18's findings, each as a regression test against a hostile upstream (tests/security/hostile.py),
and answers that break off in the middle (never relayed as complete ones).

The extension points at the stand-in; a canary on another loopback port records anything a
followed redirect would send. Every test here also runs under conftest's guard: no 500 and no
traceback in the server log.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from loom_jupyter.client import AsyncLoom
from loom_jupyter.client._errors import APIConnectionError
from loom_jupyter.server.bodies import INFLATE_LIMIT
from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.security.hostile import Hostile, start_hostile
from tests.server.conftest import FAKE_KEY

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    server = await start_hostile()
    yield server
    await server.stop()


@pytest.fixture
def loom_target(hostile: Hostile) -> LoomTarget:
    return LoomTarget(hostile.url, FAKE_KEY)


@pytest.fixture
def loom_extension_config() -> dict[str, Any]:
    return {"connect_timeout": 3.0, "max_connections": 4, "body_timeout": 1.0}


def no_key(text: str) -> None:
    assert FAKE_KEY not in text
    assert FAKE_KEY[3:40] not in text  # not even a recognisable piece of it


async def ws_refusal(proxy: LoomProxy, path: str) -> tuple[int, dict[str, Any], str]:
    try:
        async with connect(proxy.ws_url + path, additional_headers=proxy.headers(),
                           open_timeout=15):
            pytest.fail(f"the proxy accepted the WebSocket {path}")
    except InvalidStatus as exc:
        body = bytes(exc.response.body or b"").decode()
        headers = str(list(exc.response.headers.raw_items()))
        return exc.response.status_code, json.loads(body), body + headers
    raise AssertionError("unreachable")


# -- 1. WebSocket redirects ------------------------------------------------------------------
@pytest.mark.parametrize("path", ["api/ws/sessions/redirect", "api/weaver/redirect/attach"])
async def test_websocket_redirect_is_a_refusal_and_nothing_reaches_the_other_host(
        loom_proxy: LoomProxy, hostile: Hostile, path: str) -> None:
    status, body, raw = await ws_refusal(loom_proxy, path)
    assert (status, body["error"]) == (502, "upstream_redirect")
    assert "redirect" in body["message"] and "not followed" in body["message"]
    no_key(raw)
    await asyncio.sleep(0.2)
    assert hostile.canary_connections == 0 and not hostile.canary_bytes


async def test_the_sdk_does_not_follow_a_websocket_redirect_either(hostile: Hostile) -> None:
    async with AsyncLoom(url=hostile.url, api_key=FAKE_KEY) as loom:
        with pytest.raises(APIConnectionError, match="redirect") as caught:
            await loom.weavers.attach("redirect")
    no_key(str(caught.value))
    assert hostile.canary_connections == 0 and not hostile.canary_bytes


# -- 3. content-type confusion ---------------------------------------------------------------
@pytest.mark.parametrize("path", ["api/dup-type", "api/dup-type-sse"])
async def test_two_content_types_are_refused_not_rendered(loom_proxy: LoomProxy,
                                                          path: str) -> None:
    async with loom_proxy.client() as client:
        r = await client.get(path)
    assert r.status_code == 502 and r.json()["error"] == "upstream_bad_body"
    assert r.headers.get_list("content-type") == ["application/json; charset=UTF-8"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<html" not in r.text and "<form" not in r.text


async def test_nosniff_on_every_kind_of_answer(loom_proxy: LoomProxy) -> None:
    async with loom_proxy.client() as client:
        answers = [await client.get("api/plain"), await client.get("api/echo-page"),
                   await client.get("nope"), await client.get("api/../x"),
                   await client.get("status")]
    async with loom_proxy.client("none") as client:
        answers.append(await client.get("api/plain"))
    for r in answers:
        assert r.headers.get("x-content-type-options") == "nosniff", (r.url, r.status_code)


# -- 4. malformed values: one clean 4xx/502, never a 500 ---------------------------------------
RAW_CASES = {
    "non-ASCII header value": (b"X-Custom: caf\xc3\xa9", {400}),
    "non-ASCII digit in Content-Length": (b"Content-Length: \xb2", {400}),
    "letters in Content-Length": (b"Content-Length: 12abc", {400}),
    "control character in a header": (b"X-Custom: a\x01b", {400}),
}


@pytest.mark.parametrize("case", list(RAW_CASES))
async def test_malformed_request_headers_are_400(loom_proxy: LoomProxy, hostile: Hostile,
                                                 case: str) -> None:
    line, expected = RAW_CASES[case]
    status, data = await loom_proxy.raw(_raw_post(loom_proxy, "api/echo", [line]))
    assert status in expected, data[:300]
    assert b"Traceback" not in data
    assert not hostile.seen


async def test_non_ascii_upstream_header_is_dropped(loom_proxy: LoomProxy) -> None:
    async with loom_proxy.client() as client:
        r = await client.get("api/etag")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert "caf" not in r.headers.get("etag", "")  # (tornado computes its own ETag instead)


@pytest.mark.parametrize(("path", "status", "code"), [
    ("api/weaver/refuse-status/attach", 403, "forbidden"),
    ("api/ws/sessions/refuse-deep", 400, "upstream_error"),
])
async def test_websocket_refusal_bodies_become_clean_errors(
        loom_proxy: LoomProxy, path: str, status: int, code: str) -> None:
    got_status, body, _ = await ws_refusal(loom_proxy, path)
    assert (got_status, body["error"]) == (status, code)


# -- 5. leaks and pins -----------------------------------------------------------------------
async def test_jupyter_token_in_the_query_is_not_forwarded(loom_proxy: LoomProxy,
                                                           hostile: Hostile) -> None:
    token = loom_proxy.jupyter_token
    async with loom_proxy.client("none") as client:
        r1 = await client.get(f"api/weavers?token={token}&tag=a:b")
        r2 = await client.get(f"api/weavers?%74oken={token}&x=1")
    assert r1.status_code == 200 and r2.status_code == 200
    targets = hostile.paths()
    assert targets == ["/api/weavers?tag=a:b", "/api/weavers?x=1"]
    assert all(token not in t for t in targets)


@pytest.mark.parametrize("path", ["api/echo-page", "api/echo-json", "api/echo-header",
                                  "api/echo-sse", "api/gzip-small"])
async def test_an_upstream_echo_of_the_credential_never_reaches_the_browser(
        loom_proxy: LoomProxy, path: str) -> None:
    async with loom_proxy.client() as client:
        r = await client.get(path)
    text = r.text + str(list(r.headers.multi_items()))
    no_key(text)
    if path == "api/echo-page":
        assert r.status_code == 500 and "Bearer [redacted]" in r.json()["message"]
    elif path == "api/echo-sse":
        assert "data: before" in text and "[redacted] after" in text and "data: end" in text
    elif path == "api/gzip-small":
        assert r.json() == {"small": True, "key": "Bearer [redacted]"}
    else:
        assert r.status_code == 200


async def test_slow_request_bodies_cannot_take_every_upstream_connection(
        loom_proxy: LoomProxy, hostile: Hostile) -> None:
    """max_connections=4: four uploads that never send their body, then an ordinary GET."""
    slow = [await asyncio.open_connection("127.0.0.1", loom_proxy.port) for _ in range(4)]
    for _, writer in slow:
        writer.write(_raw_post(loom_proxy, "api/sink", [b"Content-Length: 10000000"], body=False))
        await writer.drain()
    await asyncio.sleep(0.3)
    async with loom_proxy.client(timeout=20) as client:
        r = await client.get("api/weavers")
    assert r.status_code == 200, r.text
    statuses = []
    for reader, writer in slow:
        data = await asyncio.wait_for(reader.read(-1), 20)
        statuses.append(int(data.split(b" ", 2)[1]))
        writer.close()
    assert set(statuses) <= {408, 503} and 408 in statuses, statuses
    assert loom_proxy.app.web_app.settings["loom_jupyter"].uploads_in_flight == 0


async def test_a_gzip_bomb_does_not_grow_the_server(loom_proxy: LoomProxy) -> None:
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = baseline
    received = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.005)

    sampler = asyncio.ensure_future(sample())
    try:
        async with loom_proxy.client(timeout=60) as client:
            async with client.stream("GET", "api/gzip-bomb") as r:
                try:
                    async for chunk in r.aiter_raw():
                        received += len(chunk)
                except httpx.HTTPError:
                    pass  # the proxy cut it: that is the point
    finally:
        sampler.cancel()
    assert received <= INFLATE_LIMIT + (1 << 20)
    assert peak - baseline < 256 * 2**20, f"RSS grew by {(peak - baseline) >> 20} MiB"


async def test_an_encoding_we_did_not_ask_for_is_refused(loom_proxy: LoomProxy) -> None:
    async with loom_proxy.client() as client:
        r = await client.get("api/brotli")
    assert r.status_code == 502 and "br" in r.json()["message"]


# -- generated variants: every header position, both directions ------------------------------
REQUEST_HEADERS = ["X-Custom", "Accept", "Content-Type", "If-None-Match", "User-Agent",
                   "Accept-Language", "Content-Length", "Cookie", "Origin", "Referer",
                   "X-Forwarded-For", "X-Request-Id", "Authorization", "Connection"]
RESPONSE_HEADERS = ["ETag", "Content-Type", "Retry-After", "X-Request-Id", "Cache-Control",
                    "Last-Modified", "Vary", "Content-Language", "Content-Encoding",
                    "Location", "Set-Cookie", "X-Other"]
# Non-ASCII, controls (no CR/LF: those end the header line) and oversized values.
VALUES = st.one_of(
    st.binary(min_size=1, max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b),
    st.text(st.characters(min_codepoint=0x80, max_codepoint=0x2FFF), min_size=1,
            max_size=20).map(lambda s: s.encode()),
    st.integers(8_000, 70_000).map(lambda n: b"v" * n),
)


def generated(strategy: Any, count: int) -> list[Any]:
    """Examples drawn by hypothesis (its generation, in a sync pass: the server shares our loop)."""
    out: list[Any] = []

    @settings(max_examples=count, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(value: Any) -> None:
        out.append(value)

    draw()
    return out


async def test_generated_request_header_values_never_500(loom_proxy: LoomProxy) -> None:
    for name, value in generated(st.tuples(st.sampled_from(REQUEST_HEADERS), VALUES), 120):
        status, head = await _first_answer(
            loom_proxy, _raw_post(loom_proxy, "api/echo", [name.encode() + b": " + value]))
        assert status == 0 or 200 <= status < 500 or status == 502, (name, value[:50], head[:200])
        assert FAKE_KEY.encode() not in head


async def test_an_implausible_origin_is_not_echoed_into_the_response_head(
        loom_proxy: LoomProxy) -> None:
    # Jupyter echoes a token-authenticated request's Origin as Access-Control-Allow-Origin.
    for origin, echoed in [(b"http://127.0.0.1:8888", True), (b"v" * 60_000, False),
                           (b"http://a.example/" + b"x" * 3000, False), (b"null", True)]:
        status, head = await _first_answer(
            loom_proxy, _raw_post(loom_proxy, "api/echo", [b"Origin: " + origin]))
        assert status and len(head) < 8192, (origin[:40], status, len(head))
        assert (b"Access-Control-Allow-Origin: " + origin + b"\r\n" in head) is echoed, head


async def test_generated_upstream_header_values_never_500(loom_proxy: LoomProxy,
                                                          hostile: Hostile) -> None:
    cases = generated(st.tuples(st.sampled_from(RESPONSE_HEADERS), VALUES), 120)
    async with loom_proxy.client() as client:
        for name, value in cases:
            hostile.canned = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              + name.encode() + b": " + value + b"\r\nContent-Length: 2\r\n"
                              b"Connection: close\r\n\r\n{}")
            r = await client.get("api/canned")
            assert r.status_code in (200, 502), (name, value[:50], r.status_code, r.text[:200])
            assert r.headers["x-content-type-options"] == "nosniff"
            for header, got in r.headers.multi_items():
                assert got.isascii() and got.isprintable(), (header, got)


# -- answers that break off -------------------------------------------------------------------
@pytest.mark.parametrize("ctype", ["application/json", "application/octet-stream"])
@pytest.mark.parametrize("framing", ["Content-Length: 10", "Content-Length: 2000000",
                                     "Transfer-Encoding: chunked"])
async def test_an_answer_broken_off_before_any_byte_is_one_clear_502(
        loom_proxy: LoomProxy, hostile: Hostile, ctype: str, framing: str) -> None:
    # A small answer is read whole before it is relayed, so its first bytes change nothing.
    partial = b"[1,2," if framing == "Content-Length: 10" else b""
    hostile.canned = (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n{framing}\r\n\r\n".encode()
                      + partial)
    async with loom_proxy.client() as client:
        r = await client.get("api/canned")
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "upstream_broke_off"
    assert r.json()["message"] == f"Loom at {hostile.url} broke off its answer (ReadError); try again."


@pytest.mark.parametrize("ctype", ["application/json", "application/octet-stream",
                                   "text/event-stream"])
async def test_an_answer_broken_off_midway_is_never_relayed_as_complete(
        loom_proxy: LoomProxy, hostile: Hostile, ctype: str) -> None:
    """Once bytes are relayed the status cannot change: the caller's connection is dropped
    before the end-of-body marker, so a download or a JSON list is never silently short."""
    hostile.canned = (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n".encode() + b"5\r\n[1,2,\r\n")
    received = bytearray()
    async with loom_proxy.client() as client:
        async with client.stream("GET", "api/canned") as r:
            assert r.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete"):
                async for chunk in r.aiter_raw():
                    received += chunk
    assert bytes(received) == b"[1,2,"  # what arrived was relayed, and then the break
    async with loom_proxy.client() as client:  # and the proxy goes on serving
        hostile.canned = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 2\r\n\r\n{}")
        assert (await client.get("api/canned")).json() == {}


async def _first_answer(proxy: LoomProxy, request: bytes) -> tuple[int, bytes]:
    """Status and head of the first answer (a generated Connection header may keep it open)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    except asyncio.IncompleteReadError as exc:  # closed without an answer (e.g. 431-style drop)
        head = exc.partial
    finally:
        writer.close()
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, head


def _raw_post(proxy: LoomProxy, path: str, extra: list[bytes], body: bool = True) -> bytes:
    head = [f"POST {proxy.base_url}loom/{path} HTTP/1.1".encode(),
            f"Host: 127.0.0.1:{proxy.port}".encode(), b"Connection: close",
            f"Authorization: token {proxy.jupyter_token}".encode()]
    if body and not any(x.lower().startswith(b"content-length") for x in extra):
        head.append(b"Content-Length: 2")
    return b"\r\n".join(head + extra) + b"\r\n\r\n" + (b"{}" if body else b"")
