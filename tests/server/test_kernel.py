"""A real kernel started by the server reaches Loom through the proxy with no configuration."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.fixtures.kernel_io import execute_request, take_output
from tests.fixtures.jupyter import LoomProxy

KERNEL_CODE = """
import os
from loom_jupyter.client import Loom
with Loom() as loom:
    print("mode", loom.mode)
    print("weavers", type(loom.weavers.list()).__name__)
    print("me", loom.me().id != "")
print("has_key", "LOOM_API_KEY" in os.environ)
print("env_ok", not any(v.startswith("lk_") for v in os.environ.values()))
"""


async def run_in_kernel(jp_fetch: Any, jp_ws_fetch: Any, code: str, timeout: float = 60) -> str:
    """Start a kernel through the server's REST API and run `code`; return its stdout+errors."""
    r = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel_id = json.loads(r.body)["id"]
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    request = execute_request(code)
    await ws.write_message(json.dumps(request))
    out: list[str] = []
    try:
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            assert raw is not None, "kernel websocket closed"
            if take_output(json.loads(raw), request, out):
                return "".join(out)
    finally:
        ws.close()
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")


async def test_kernel_uses_the_proxy_without_configuration(
        loom_proxy: LoomProxy, jp_fetch: Any, jp_ws_fetch: Any) -> None:
    out = await run_in_kernel(jp_fetch, jp_ws_fetch, KERNEL_CODE)
    assert "ERROR" not in out, out
    assert "mode proxy" in out
    assert "weavers WeaverList" in out and "me True" in out
    assert "has_key False" in out and "env_ok True" in out
    assert loom_proxy.target.key not in out
