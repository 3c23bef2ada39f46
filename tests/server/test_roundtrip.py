"""Through the proxy to the real local Loom: weavers, threads, SSE timing, the terminal."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.fixtures.jupyter import LoomProxy
from tests.fixtures.wait import async_read_until


async def _org(client: httpx.AsyncClient) -> str:
    r = await client.get("api/orgs")
    assert r.status_code == 200, r.text
    return str(r.json()["orgs"][0]["id"])


async def create_weaver(client: httpx.AsyncClient, script: str) -> dict[str, Any]:
    body = {"image": "local", "org_id": await _org(client), "command": ["sh", "-c", script],
            "lifetime_hours": 1, "tags": {"suite": "server"}}
    r = await client.post("api/weaver", json=body, timeout=60)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def test_weaver_create_list_get_delete(loom_proxy: LoomProxy) -> None:
    async with loom_proxy.client() as client:
        weaver = await create_weaver(client, "sleep 30")
        listed = (await client.get("api/weavers")).json()
        assert weaver["id"] in [w["id"] for w in listed["weavers"]]
        got = await client.get(f"api/weaver/{weaver['id']}")
        assert got.status_code == 200 and got.json()["id"] == weaver["id"]
        assert (await client.delete(f"api/weaver/{weaver['id']}")).status_code in (200, 204)
        missing = await client.get("api/weaver/018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/json")
    assert missing.json()["error"] in ("weaver_not_found", "not_found")


async def test_thread_put_with_if_match_and_conflict(loom_proxy: LoomProxy) -> None:
    thread_id = "T-0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"
    thread = {"id": thread_id, "version": 1, "title": "through the proxy",
              "conversation": {"messages": []}, "metadata": {}}
    async with loom_proxy.client() as client:
        r = await client.put(f"api/threads/{thread_id}", json=thread)
        assert r.status_code in (200, 201), r.text
        current = (await client.get(f"api/threads/{thread_id}")).json()
        version = int(current["version"])
        update = {**current, "title": "renamed", "version": version + 1}
        ok = await client.put(f"api/threads/{thread_id}", json=update,
                              headers={"If-Match": str(version)})
        assert ok.status_code == 200, ok.text
        stale = await client.put(f"api/threads/{thread_id}", json=update,
                                 headers={"If-Match": str(version)})
        assert stale.status_code == 409
        assert "server_version" in stale.json()
        assert (await client.get(f"api/threads/{thread_id}")).json()["title"] == "renamed"


async def test_log_events_arrive_one_by_one(loom_proxy: LoomProxy) -> None:
    """Like jupyter-server-proxy's test_eventstream: arrival times must be spread out."""
    script = "for i in 1 2 3 4 5 6; do echo line-$i; sleep 0.3; done; sleep 5"
    async with loom_proxy.client(timeout=30) as client:
        weaver = await create_weaver(client, script)
        arrivals: list[tuple[float, str]] = []
        async with client.stream("GET", f"api/weaver/{weaver['id']}/logs",
                                 params={"timestamps": "false", "tail": "0"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["cache-control"] == "no-cache"
            async for line in r.aiter_lines():
                if "line-" in line:
                    arrivals.append((time.monotonic(), line))
                if "line-6" in line:
                    break
        await client.delete(f"api/weaver/{weaver['id']}")
    times = [t for t, _ in arrivals]
    assert len(times) >= 4, arrivals
    # Buffered relays deliver everything at once at the end; a streaming one spreads it out.
    assert times[-1] - times[0] > 0.6, arrivals


async def test_terminal_attach_through_the_proxy(loom_proxy: LoomProxy) -> None:
    async with loom_proxy.client(timeout=30) as client:
        weaver = await create_weaver(client, "exec sh -i")
    try:
        async with connect(loom_proxy.ws_url + f"api/weaver/{weaver['id']}/attach",
                           additional_headers=loom_proxy.headers(), open_timeout=10) as ws:
            await ws.send(b"echo hello-$((6*7))\n")
            await async_read_until(lambda: asyncio.wait_for(ws.recv(), 0.5), b"hello-42", 15)
    finally:
        async with loom_proxy.client() as client:
            await client.delete(f"api/weaver/{weaver['id']}")


async def test_llm_stream_relays_events(loom_proxy: LoomProxy) -> None:
    body = {"model": "offline", "messages": [{"role": "user", "content": "hi"}], "tools": []}
    events: list[dict[str, Any]] = []
    async with (loom_proxy.client(timeout=30) as client,
                client.stream("POST", "proxy/anthropic/stream", json=body) as r):
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    types = [e["type"] for e in events]
    assert types.count("text_delta") >= 2 and types[-1] in ("completed", "error")


async def test_ws_token_and_health(loom_proxy: LoomProxy) -> None:
    async with loom_proxy.client("kernel") as client:
        token = await client.get("auth/ws-token")
        health = await client.get("health")
    assert token.status_code == 200 and token.json()["token"].startswith("ws_")
    assert health.status_code == 200 and "status" in health.json()
