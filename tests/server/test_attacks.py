"""The attack table: every case is refused, reaches no upstream, and leaks no credential.

The extension points at a capture server, so "refused before any request" is checked by
looking at what the upstream received, not by trusting the proxy's status code.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.server.capture import Capture
from tests.server.conftest import FAKE_KEY


@pytest.fixture
def loom_target(capture: Capture) -> LoomTarget:
    return LoomTarget(capture.url, FAKE_KEY)


@dataclass
class Ctx:
    proxy: LoomProxy
    capture: Capture

    async def http(self, method: str, path: str, who: str = "jupyter",
                   headers: dict[str, str] | None = None, body: bytes | None = None,
                   cookies: bool = False) -> tuple[int, str]:
        async with self.proxy.client("none" if cookies else who) as client:
            if cookies:
                await self.login(client)
            r = await client.request(method, path, headers=headers, content=body)
        return r.status_code, r.text + str(r.headers)

    async def login(self, client: httpx.AsyncClient) -> None:
        """Turn the Jupyter token into a login cookie, as a browser following the URL does."""
        r = await client.get(f"{self.proxy.origin}{self.proxy.base_url}api/status",
                             params={"token": self.proxy.jupyter_token})
        assert r.status_code == 200 and client.cookies

    async def jupyter(self, method: str, path: str, who: str) -> tuple[int, str]:
        async with self.proxy.client(who) as client:
            r = await client.request(method, f"{self.proxy.origin}{self.proxy.base_url}{path}",
                                     content=b"{}" if method != "GET" else None)
        return r.status_code, r.text

    async def ws(self, path: str, who: str = "none",
                 headers: dict[str, str] | None = None) -> tuple[int, str]:
        all_headers = {**self.proxy.headers(who), **(headers or {})}
        try:
            async with connect(self.proxy.ws_url + path, additional_headers=all_headers,
                               open_timeout=5):
                return 101, ""
        except InvalidStatus as exc:
            return exc.response.status_code, (exc.response.body or b"").decode()

    async def raw(self, target: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        base = {"Authorization": f"token {self.proxy.jupyter_token}"}
        status, data = await self.proxy.raw(self.proxy.raw_get(target, {**base, **(headers or {})}))
        return status, data.decode("latin-1")


Attack = Callable[[Ctx], Awaitable[tuple[int, str]]]
L = "{base}loom/"

ATTACKS: dict[str, tuple[set[int], Attack]] = {
    # -- no or wrong credentials ---------------------------------------------------------
    "unauthenticated GET": ({403}, lambda c: c.http("GET", "api/weavers", who="none")),
    "unauthenticated POST": ({403}, lambda c: c.http("POST", "api/weaver", "none", body=b"{}")),
    "unauthenticated DELETE": ({403}, lambda c: c.http("DELETE", "api/weaver/x", "none")),
    "unauthenticated SSE": ({403}, lambda c: c.http(
        "GET", "api/weaver/x/logs", "none", headers={"Accept": "text/event-stream"})),
    "unauthenticated LLM stream": ({403}, lambda c: c.http("POST", "proxy/anthropic/stream",
                                                          "none", body=b"{}")),
    "unauthenticated ws-token": ({403}, lambda c: c.http("GET", "auth/ws-token", "none")),
    "unauthenticated status": ({403}, lambda c: c.http("GET", "status", "none")),
    "wrong proxy token": ({403}, lambda c: c.http(
        "GET", "api/weavers", "none", headers={"Authorization": "token not-the-token"})),
    "proxy token as Bearer": ({403}, lambda c: c.http("GET", "api/weavers", "none", headers={
        "Authorization": f"Bearer {c.proxy.proxy_token}"})),
    "proxy token in query": ({403}, lambda c: c.http(
        "GET", f"api/weavers?token={c.proxy.proxy_token}", "none")),
    "browser sends a Loom key": ({403}, lambda c: c.http(
        "GET", "api/weavers", "none", headers={"Authorization": f"Bearer {FAKE_KEY}"})),
    "proxy token on /api/contents": ({403}, lambda c: c.jupyter("GET", "api/contents", "kernel")),
    "proxy token on /api/kernels": ({403}, lambda c: c.jupyter("POST", "api/kernels", "kernel")),
    "proxy token on /api/terminals": ({403}, lambda c: c.jupyter("GET", "api/terminals",
                                                                 "kernel")),
    # -- XSRF and origin for cookie callers ------------------------------------------------
    "cookie POST without XSRF": ({403}, lambda c: c.http("POST", "api/weaver", cookies=True,
                                                         body=b"{}")),
    "cookie PUT without XSRF": ({403}, lambda c: c.http("PUT", "api/threads/T-1", cookies=True,
                                                        body=b"{}")),
    "cookie DELETE without XSRF": ({403}, lambda c: c.http("DELETE", "api/weaver/x",
                                                           cookies=True)),
    "cookie POST cross-origin with XSRF": ({403, 404}, lambda c: c.http(
        "POST", "api/weaver", cookies=True, body=b"{}", headers={
            "Origin": "http://evil.example", "X-XSRFToken": "abcdef12",
            "Cookie": "_xsrf=abcdef12"})),
    "spoofed Host header": ({403}, lambda c: c.http("GET", "api/weavers",
                                                    headers={"Host": "evil.example"})),
    # -- WebSockets ------------------------------------------------------------------------
    "unauthenticated attach WS": ({403}, lambda c: c.ws("api/weaver/w1/attach")),
    "unauthenticated session WS": ({403}, lambda c: c.ws("api/ws/sessions/s1")),
    "wrong token attach WS": ({403}, lambda c: c.ws("api/weaver/w1/attach", headers={
        "Authorization": "token wrong"})),
    "cross-origin attach WS": ({403}, lambda c: c.ws("api/weaver/w1/attach", "none", headers={
        "Origin": "http://evil.example", "Cookie": "x=1"})),
    "WS path escape": ({400}, lambda c: c.ws("api/weaver/%2e%2e/attach", "jupyter")),
    # -- path escapes (raw, so no client normalises them away) ------------------------------
    "dot-dot": ({400}, lambda c: c.raw(L + "api/../../api/contents")),
    "dot segment": ({400}, lambda c: c.raw(L + "api/./weavers")),
    "encoded dot-dot": ({400}, lambda c: c.raw(L + "api/%2e%2e/admin")),
    "encoded slash": ({400}, lambda c: c.raw(L + "api/weaver%2f..%2fadmin")),
    "encoded backslash": ({400}, lambda c: c.raw(L + "api/x%5c..%5cadmin")),
    "double slash host": ({400}, lambda c: c.raw(L + "api//evil.example/x")),
    "at sign userinfo": ({400}, lambda c: c.raw(L + "api/x@evil.example/")),
    "backslash": ({400}, lambda c: c.raw(L + "api\\..\\admin")),
    "absolute URL in path": ({400}, lambda c: c.raw(L + "http://evil.example/x")),
    "absolute-form request target": ({400, 404}, lambda c: c.raw(
        "http://evil.example" + L + "api/weavers")),
    "encoded CRLF": ({400}, lambda c: c.raw(L + "api/x%0d%0aX-Injected:%201")),
    "encoded NUL": ({400}, lambda c: c.raw(L + "api/x%00")),
    "unknown route family": ({404}, lambda c: c.raw(L + "metrics")),
    "markup in path": ({400}, lambda c: c.raw(L + "api/<script>alert(1)</script>")),
    # -- header injection --------------------------------------------------------------------
    "control character in header": ({400}, lambda c: c.raw(L + "api/weavers", {
        "X-Evil": "a\x01b"})),
}


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_attack_is_refused(name: str, loom_proxy: LoomProxy, capture: Capture) -> None:
    expected, attack = ATTACKS[name]
    ctx = Ctx(loom_proxy, capture)
    status, text = await attack(_fmt(ctx))
    assert status in expected, f"{name}: {status} {text[:300]}"
    assert capture.seen == [] and capture.ws_headers == [], f"{name} reached the upstream"
    assert FAKE_KEY not in text
    assert "<script>" not in text


def _fmt(ctx: Ctx) -> Ctx:
    # Lambdas write L = "{base}loom/"; raw() fills in the real (percent-encoded) base_url.
    original = ctx.raw

    async def raw(target: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        return await original(target.replace("{base}", ctx.proxy.base_url), headers)

    ctx.raw = raw  # type: ignore[method-assign]
    return ctx


async def test_cookie_post_with_xsrf_is_accepted(loom_proxy: LoomProxy, capture: Capture) -> None:
    """The positive control for the XSRF rows: same request plus the XSRF pair goes through."""
    ctx = Ctx(loom_proxy, capture)
    async with loom_proxy.client("none") as client:
        await ctx.login(client)
        client.cookies.set("_xsrf", "abcdef12")
        r = await client.post("api/weaver", content=b"{}", headers={"X-XSRFToken": "abcdef12"})
    assert r.status_code == 200, r.text
    seen = capture.last()
    assert seen.headers["authorization"] == [f"Bearer {FAKE_KEY}"]
    assert "cookie" not in seen.headers and "x-xsrftoken" not in seen.headers


async def test_folded_header_cannot_inject(loom_proxy: LoomProxy, capture: Capture) -> None:
    """An obs-fold continuation is one header value upstream, never a second header."""
    base = loom_proxy.base_url
    request = (f"GET {base}loom/api/echo HTTP/1.1\r\nHost: 127.0.0.1:{loom_proxy.port}\r\n"
               f"Authorization: token {loom_proxy.jupyter_token}\r\nX-A: a\r\n"
               " Authorization: Bearer lk_attacker\r\nConnection: close\r\n\r\n").encode()
    status, _ = await loom_proxy.raw(request)
    if status == 200:
        assert capture.last().headers["authorization"] == [f"Bearer {FAKE_KEY}"]
    else:
        assert status == 400 and capture.seen == []


async def test_loom_key_never_in_logs(loom_proxy: LoomProxy, capture: Capture,
                                      caplog: pytest.LogCaptureFixture,
                                      jp_logging_stream: Any) -> None:
    caplog.set_level("DEBUG")
    ctx = _fmt(Ctx(loom_proxy, capture))
    for name in ("unauthenticated GET", "dot-dot", "encoded CRLF", "wrong token attach WS"):
        await ATTACKS[name][1](ctx)
    async with loom_proxy.client() as client:
        for path in ("api/echo", "api/html", "api/plain-error", "api/slow", "status"):
            await client.get(path)
    text = caplog.text + jp_logging_stream.getvalue()
    assert "loom proxy" in text  # the log was captured, so its absence below means something
    assert FAKE_KEY not in text and FAKE_KEY[3:20] not in text
