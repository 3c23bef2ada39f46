"""The extension's HTTP connections to Loom: several small httpx pools instead of one big one.

httpcore's pool re-examines every connection it holds (and, for each idle one, counts the idle
ones again) whenever a request starts or ends, so its cost per request grows with the square of
the pool. Under concurrency, or with many log streams open, one big pool made every request
slower. Requests go to the least busy shard; a new shard opens only when all are full.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

SHARD_CONNECTIONS = 8


class _Shard:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.active = 0


class _Released(httpx.AsyncByteStream):
    """The response body, telling its shard when it is closed (its connection is free again)."""

    def __init__(self, inner: httpx.AsyncByteStream, shard: _Shard) -> None:
        self._inner, self._shard, self._open = inner, shard, True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._open:
                self._open, self._shard.active = False, self._shard.active - 1


class Upstream:
    """`send(request)` streams a response from the least busy pool; `aclose()` closes them all."""

    def __init__(self, make_client: Callable[[int], httpx.AsyncClient], max_connections: int,
                 shard_connections: int = SHARD_CONNECTIONS) -> None:
        self._make = make_client
        self._per_shard = max(1, min(shard_connections, max_connections))
        self._max_shards = max(1, -(-max_connections // self._per_shard))
        self._shards: list[_Shard] = []

    @property
    def client(self) -> httpx.AsyncClient:
        """A client for short one-off calls (health probes, ws-tokens)."""
        if not self._shards:
            self._shards.append(_Shard(self._make(self._per_shard)))
        return self._shards[0].client

    def build_request(self, method: str, url: str, **kwargs: Any) -> httpx.Request:
        return self.client.build_request(method, url, **kwargs)

    async def send(self, request: httpx.Request) -> httpx.Response:
        shard = self._pick()
        shard.active += 1
        try:
            response = await shard.client.send(request, stream=True)
        except BaseException:
            shard.active -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Released(response.stream, shard)
        return response

    def _pick(self) -> _Shard:
        idlest = min(self._shards, key=lambda s: s.active, default=None)
        if idlest is None or (idlest.active >= self._per_shard
                              and len(self._shards) < self._max_shards):
            idlest = _Shard(self._make(self._per_shard))
            self._shards.append(idlest)
        return idlest

    async def aclose(self) -> None:
        shards, self._shards = self._shards, []
        for shard in shards:
            await shard.client.aclose()
