"""Focused regressions for bugs the reliability suites found (each failed before its fix)."""
from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from websockets.sync.client import connect

from loom_jupyter.client import Loom
from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.fixtures.loom_server import LocalLoom

from .conftest import IMAGE

SILENT = ["python3", "-c", "import sys; sys.stdout.write(sys.stdin.readline().upper())"]


def test_attach_to_a_weaver_that_printed_nothing_stays_open(rel_server: LocalLoom, rel_key: str):
    """Was: an empty scrollback was taken for end-of-output, closing at once ("weaver stopped")."""
    with Loom(url=rel_server.url, api_key=rel_key) as loom:
        weaver = loom.weavers.create(IMAGE, command=SILENT, lifetime_hours=1)
        try:
            url = rel_server.url.replace("http://", "ws://") + f"/api/weaver/{weaver.id}/attach"
            with connect(url, additional_headers=rel_server.headers(rel_key), open_timeout=10) as ws:
                ws.send(b"quiet until asked\n")
                seen, deadline = b"", time.monotonic() + 10
                while b"QUIET UNTIL ASKED" not in seen and time.monotonic() < deadline:
                    seen += ws.recv(timeout=10)  # type: ignore[operator]
            assert b"QUIET UNTIL ASKED" in seen
        finally:
            loom.weavers.delete(weaver.id)


class TestFullUpstreamPool:
    """Was: with every pooled connection held by a log stream, the next request hung forever."""

    @pytest.fixture
    def loom_target(self, rel_server: LocalLoom, rel_key: str) -> LoomTarget:
        return LoomTarget(rel_server.url, rel_key)

    @pytest.fixture
    def loom_extension_config(self) -> dict[str, float]:
        return {"max_connections": 2, "connect_timeout": 1.0}

    async def test_request_beyond_the_pool_fails_fast_and_clearly(self, loom_proxy: LoomProxy,
                                                                 rel_server, rel_key):
        async with httpx.AsyncClient(base_url=loom_proxy.url, headers=loom_proxy.headers(),
                                     timeout=10) as http:
            made = await http.post("api/weaver", json={
                "image": IMAGE, "org_id": rel_server.org_id, "lifetime_hours": 1,
                "command": ["sh", "-c", "while true; do echo tick; sleep 0.2; done"]})
            wid = made.json()["id"]
            streams = [http.stream("GET", f"api/weaver/{wid}/logs") for _ in range(2)]
            opened = [await s.__aenter__() for s in streams]
            try:
                assert all(r.status_code == 200 for r in opened)
                started = time.monotonic()
                r = await asyncio.wait_for(http.get("api/weavers"), 8)
                assert r.status_code == 504 and "did not answer in time" in r.json()["message"]
                assert time.monotonic() - started < 5
            finally:
                for s in streams:
                    await s.__aexit__(None, None, None)
            await asyncio.sleep(0.2)
            assert (await http.get("api/weavers")).status_code == 200  # a slot is free again
            await http.delete(f"api/weaver/{wid}")

    def test_default_pool_holds_the_long_load(self):
        from loom_jupyter.server.app import LoomJupyter

        assert LoomJupyter().max_connections >= 400  # 200 streams + 50 terminals, with room
