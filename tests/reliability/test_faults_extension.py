"""The server extension with the fault proxy between it and Loom; the kernel-side client (proxy
mode) talks to the extension. Upstream faults become one clear answer, and everything recovers."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from loom_jupyter.client import AsyncLoom, ServerError, StreamError
from loom_jupyter.client.models.llm import Completed, TextDelta
from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.fixtures.loom_server import LocalLoom

from .conftest import IMAGE, counting_script, delete_tagged, unique, weavers_tagged
from .faultproxy import FaultProxy

WEAVERS = r"^/api/weavers$"
CREATE = r"^/api/weaver$"
LOGS = r"/logs$"
STREAM = r"^/proxy/\w+/stream$"
MESSAGES = [{"role": "user", "content": "tell me about fault injection in twenty words"}]
MODEL = "claude-sonnet-4-20250514"


@pytest.fixture
def loom_target(faults: FaultProxy, rel_key: str) -> LoomTarget:
    return LoomTarget(faults.url, rel_key)


@pytest.fixture
def loom_extension_config() -> dict[str, float]:
    return {"read_timeout": 2.0, "connect_timeout": 2.0}


@pytest.fixture
async def kernel_client(loom_proxy: LoomProxy) -> AsyncIterator[AsyncLoom]:
    """What a kernel of this server gets with no configuration: the proxy variables."""
    async with AsyncLoom(timeout=10) as client:
        assert client.mode == "proxy" and client.url == loom_proxy.url
        yield client


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


async def test_log_follow_through_the_extension_survives_20_upstream_drops(kernel_client, faults):
    n = 1500
    weaver = await kernel_client.weavers.create(IMAGE, command=counting_script(n, 0.004),
                                                tags={"case": unique()}, lifetime_hours=1)
    done, cut = asyncio.Event(), [0]

    async def breaker() -> None:
        while not done.is_set() and cut[0] < 20:
            await asyncio.sleep(0.2)
            cut[0] += await asyncio.to_thread(faults.drop, LOGS)

    task = asyncio.ensure_future(breaker())
    try:
        lines = [line.text async for line in kernel_client.weavers.logs(weaver.id)]
    finally:
        done.set()
        await task
    assert cut[0] >= 20, f"only {cut[0]} drops hit a live log stream"
    assert len(lines) == len(set(lines)), "lines repeated"
    assert lines == [f"line {i:05d}" for i in range(n)]


@pytest.mark.parametrize("action, options", [("drop_after", {"n": 3000}), ("truncate", {}),
                                             ("reset_after", {"n": 3000})])
async def test_a_log_snapshot_cut_upstream_is_still_whole_in_the_kernel(
        kernel_client, faults, action, options):
    """Loom's answer broken off midway reaches the kernel as a broken answer (not a short
    complete one), so the SDK's snapshot resumes after its last line instead of ending there."""
    n = 3000
    weaver = await kernel_client.weavers.create(IMAGE, command=counting_script(n, 0),
                                                tags={"case": unique()}, lifetime_hours=1)
    await kernel_client.weavers.wait(weaver.id, "succeeded", timeout=60)
    faults.add(action, "GET", LOGS, times=1, **options)
    lines = [line.text async for line in kernel_client.weavers.logs(weaver.id, follow=False)]
    assert lines == [f"line {i:05d}" for i in range(n)]
    assert faults.count("GET", LOGS) >= 2  # the cut happened, and the rest was asked for


async def test_llm_stream_cut_upstream_is_flagged_with_the_partial_answer(kernel_client, faults):
    faults.add("cut_after_events", "POST", STREAM, events=8)
    seen: list[str] = []
    with pytest.raises(StreamError) as info:
        async for event in kernel_client.llm.stream("anthropic", MODEL, MESSAGES):
            assert not isinstance(event, Completed)
            if isinstance(event, TextDelta):
                seen.append(event.content)
    assert len(seen) == 8 and info.value.partial_text == "".join(seen)
    assert info.value.partial_text.startswith("[offline]")
    # the extension drops the kernel's connection where Loom's broke: the same as a direct cut
    assert "The LLM stream was cut off" in one_line(info.value)
    events = [e async for e in kernel_client.llm.stream("anthropic", MODEL, MESSAGES)]
    assert isinstance(events[-1], Completed)


async def test_create_whose_upstream_answer_is_lost_makes_exactly_one_weaver(
        kernel_client, faults, rel_server: LocalLoom):
    case = unique()
    rule = faults.add("lose_response", "POST", CREATE)
    try:
        weaver = await kernel_client.weavers.create(IMAGE, command=["sleep", "30"],
                                                    tags={"case": case}, lifetime_hours=1)
        assert rule.fired == 1 and faults.count("POST", CREATE) == 1
        found = await asyncio.to_thread(weavers_tagged, rel_server, "", case)
        assert [w["id"] for w in found] == [weaver.id]
    finally:
        await asyncio.to_thread(delete_tagged, rel_server, case)


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_upstream_gateway_burst_is_relayed_then_retried_away(kernel_client, faults, status):
    faults.add("status", "GET", WEAVERS, times=2, status=status,
               body={"error": "upstream_error", "message": "burst"})
    assert isinstance(await kernel_client.weavers.list(), list)
    assert faults.count("GET", WEAVERS) == 3


async def test_long_upstream_burst_is_one_error_naming_the_status(kernel_client, faults, loom_proxy):
    faults.add("status", "GET", WEAVERS, times=3, status=503,
               body={"error": "service_unavailable", "message": "maintenance"})
    with pytest.raises(ServerError) as info:
        await kernel_client.weavers.list()
    assert "HTTP 503 (service_unavailable): maintenance" in one_line(info.value)
    assert isinstance(await kernel_client.weavers.list(), list)


async def test_rate_limits_cross_the_extension_with_their_retry_hints(kernel_client, faults):
    faults.add("status", "GET", WEAVERS, status=429, headers={"Retry-After": "1"},
               body={"error": "too_many_requests", "message": "slow down"})
    faults.add("status", "GET", WEAVERS, status=503, body={
        "error": "service_unavailable", "message": "rate limited; retry after 1 seconds"})
    started = time.monotonic()
    assert isinstance(await kernel_client.weavers.list(), list)
    assert time.monotonic() - started >= 1.9  # both hints honoured: Retry-After crossed the proxy
    assert faults.count("GET", WEAVERS) == 3


async def test_stalled_upstream_is_a_504_then_recovery(kernel_client, faults, loom_proxy):
    faults.pause()
    try:
        async with loom_proxy.client("kernel") as http:
            r = await http.get("api/weavers")
        assert r.status_code == 504 and r.json()["error"] == "upstream_timeout"
        assert faults.url in r.json()["message"]
    finally:
        faults.resume()
    assert isinstance(await kernel_client.weavers.list(), list)


async def test_reset_upstream_answer_is_retried(kernel_client, faults):
    faults.add("reset_after", "GET", WEAVERS, n=0)
    assert isinstance(await kernel_client.weavers.list(), list)
    assert faults.count("GET", WEAVERS) == 2


async def test_terminal_dropped_upstream_closes_clearly_and_reattaches(
        kernel_client, faults, loom_proxy: LoomProxy):
    weaver = await kernel_client.weavers.create(IMAGE, command=["sh", "-i"],
                                                tags={"case": unique()}, lifetime_hours=1)
    url = loom_proxy.ws_url + f"api/weaver/{weaver.id}/attach"
    headers = loom_proxy.headers("jupyter")
    try:
        async with connect(url, additional_headers=headers, open_timeout=10) as ws:
            await ws.send(b"echo before-$((20+1))\n")
            await _read_until(ws, b"before-21")
            assert await asyncio.to_thread(faults.drop, r"/attach$") == 1
            with pytest.raises(ConnectionClosed):  # promptly, not after a timeout
                await _read_until(ws, b"never", seconds=10)
            assert ws.close_code == 1011 and ws.close_reason == "Loom connection lost"
        async with connect(url, additional_headers=headers, open_timeout=10) as ws:
            await ws.send(b"echo after-$((20+2))\n")
            await _read_until(ws, b"after-22")
    finally:
        await kernel_client.weavers.delete(weaver.id)


async def _read_until(ws, needle: bytes, seconds: float = 10.0) -> bytes:
    seen, deadline = b"", time.monotonic() + seconds
    while needle not in seen:
        frame = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        seen += frame if isinstance(frame, bytes) else frame.encode()
    return seen


async def test_unreachable_loom_is_a_502_naming_the_url(loom_proxy, faults):
    faults.stop()
    async with loom_proxy.client("kernel") as http:
        r = await http.get("api/weavers")
    assert r.status_code == 502 and r.json()["error"] == "upstream_unreachable"
    assert "is it running" in r.json()["message"]


async def test_direct_positive_control(rel_server: LocalLoom, rel_key: str) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{rel_server.url}/api/weavers", headers=rel_server.headers(rel_key))
    assert r.status_code == 200
