"""The sharded upstream pools, against the real local Loom: spread, release, capacity."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from loom_jupyter.server.upstream import Upstream


def _factory(pool_timeout: float = 5.0):
    def make(connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(limits=httpx.Limits(max_connections=connections),
                                 timeout=httpx.Timeout(10, pool=pool_timeout), trust_env=False)
    return make


async def _open(upstream: Upstream, url: str, count: int) -> list[httpx.Response]:
    requests = [upstream.build_request("GET", url) for _ in range(count)]
    return list(await asyncio.gather(*(upstream.send(r) for r in requests)))


async def test_busy_shards_open_new_ones_and_closed_bodies_free_their_slot(loom_server):
    upstream = Upstream(_factory(), max_connections=20, shard_connections=4)
    try:
        held = await _open(upstream, f"{loom_server.url}/health", 10)
        assert [r.status_code for r in held] == [200] * 10
        assert sorted(s.active for s in upstream._shards) == [2, 4, 4]
        for response in held:
            await response.aread()
            await response.aclose()
            await response.aclose()  # closing twice frees the slot once
        assert [s.active for s in upstream._shards] == [0, 0, 0]
        again = await _open(upstream, f"{loom_server.url}/health", 3)
        assert len(upstream._shards) == 3  # idle shards are reused, not multiplied
        for response in again:
            await response.aclose()
    finally:
        await upstream.aclose()


async def test_total_connections_never_exceed_the_limit(loom_server):
    upstream = Upstream(_factory(pool_timeout=0.5), max_connections=4, shard_connections=2)
    try:
        held = await _open(upstream, f"{loom_server.url}/health", 4)
        with pytest.raises(httpx.PoolTimeout):
            await upstream.send(upstream.build_request("GET", f"{loom_server.url}/health"))
        assert len(upstream._shards) == 2 and sum(s.active for s in upstream._shards) == 4
        await held[0].aclose()
        extra = await upstream.send(upstream.build_request("GET", f"{loom_server.url}/health"))
        assert extra.status_code == 200
        for response in [*held[1:], extra]:
            await response.aclose()
    finally:
        await upstream.aclose()
