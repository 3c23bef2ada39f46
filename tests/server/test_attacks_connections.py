"""The attack table of test_attacks.py, run against every connection's prefix (issue 13).

One server holds `default` (a capture server) and a connection of each other kind (another
capture server), plus `canary`: a connection whose upstream is the hostile stand-in's canary
port, which records every byte anyone sends it. Each attack is made under `loom/` and under
every `loom/connections/NAME/`; it must be refused, reach no upstream at all, and send nothing
to the canary (an escape from one connection toward another connection's host is an escape).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.security.hostile import Hostile, start_hostile
from tests.server.capture import Capture, start_capture
from tests.server.conftest import FAKE_KEY
from tests.server.test_attacks import ATTACKS, Ctx

OTHER_KEY = "sdk_" + "beef" * 12
PREFIXES = ["", "connections/default/", "connections/cap-loom/", "connections/cap-v1/",
            "connections/cap-loomi/", "connections/cap-node/", "connections/canary/"]


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    server = await start_hostile()
    yield server
    await server.stop()


@pytest.fixture
async def other() -> AsyncIterator[Capture]:
    cap, server = await start_capture()
    yield cap
    server.stop()


@pytest.fixture
def loom_target(capture: Capture) -> LoomTarget:
    return LoomTarget(capture.url, FAKE_KEY)


@pytest.fixture
def loom_extension_config(other: Capture, hostile: Hostile, tmp_path: Path) -> dict[str, Any]:
    key = tmp_path / "other.key"
    key.write_text(OTHER_KEY + "\n")
    canary = hostile.canary_url.replace("ws://", "http://")
    source = {"api_key_file": str(key)}
    return {"connect_timeout": 2.0, "read_timeout": 3.0, "connections": {
        "cap-loom": {"kind": "loom", "url": other.url, **source},
        "cap-v1": {"kind": "loom-v1", "url": other.url, **source},
        "cap-loomi": {"kind": "openloomi", "url": other.url, **source},
        "cap-node": {"kind": "nodeloom", "url": other.url, **source},
        "canary": {"kind": "loom", "url": canary, **source},
    }}


@dataclass
class PrefixCtx(Ctx):
    """The same attack, under `loom/<prefix>` instead of `loom/`."""

    prefix: str = ""

    async def http(self, method: str, path: str, *args: Any, **kwargs: Any) -> tuple[int, str]:
        return await super().http(method, self.prefix + path, *args, **kwargs)

    async def ws(self, path: str, *args: Any, **kwargs: Any) -> tuple[int, str]:
        return await super().ws(self.prefix + path, *args, **kwargs)

    async def raw(self, target: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        target = target.replace("{base}loom/", f"{self.proxy.base_url}loom/{self.prefix}")
        return await super().raw(target, headers)


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_attack_is_refused_under_every_prefix(name: str, loom_proxy: LoomProxy,
                                                    capture: Capture, other: Capture,
                                                    hostile: Hostile) -> None:
    expected, attack = ATTACKS[name]
    for prefix in PREFIXES:
        status, text = await attack(PrefixCtx(loom_proxy, capture, prefix))
        where = f"{name} under loom/{prefix}"
        assert status in expected, f"{where}: {status} {text[:300]}"
        assert capture.seen == [] and capture.ws_headers == [], f"{where} reached default"
        assert other.seen == [] and other.ws_headers == [], f"{where} reached a connection"
        assert FAKE_KEY not in text and OTHER_KEY not in text
        assert "<script>" not in text
    await asyncio.sleep(0.05)
    assert hostile.canary_connections == 0 and not hostile.canary_bytes, f"{name}: canary"


async def test_the_table_can_fail(loom_proxy: LoomProxy, other: Capture,
                                  hostile: Hostile) -> None:
    """Positive control: allowed requests do reach each connection's host (so `seen == []`
    above means something), and only that host."""
    async with loom_proxy.client("kernel") as client:
        v1 = await client.get("connections/cap-v1/api/v1/echo")
        node = await client.get("connections/cap-node/api/echo")
    assert v1.status_code == node.status_code == 200
    assert [s.path for s in other.seen] == ["/api/v1/echo", "/api/echo"]
    assert other.seen[0].headers["authorization"] == [f"Bearer {OTHER_KEY}"]
    assert hostile.canary_connections == 0
