"""What the extension does to the server's environment, which every kernel inherits."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest

from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.server.capture import Capture
from tests.server.conftest import FAKE_KEY


@pytest.fixture
def loom_target(capture: Capture, monkeypatch: pytest.MonkeyPatch) -> LoomTarget:
    # The credential arrives the way most deployments give it: the LOOM_API_KEY variable.
    monkeypatch.setenv("LOOM_API_KEY", FAKE_KEY)
    return LoomTarget(capture.url, "")


@pytest.fixture
def loom_extension_config() -> dict[str, Any]:
    return {"api_key_file": ""}


CHILD = """
import json, os, sys, urllib.request
req = urllib.request.Request(os.environ["LOOM_JUPYTER_PROXY_URL"] + "api/echo",
    headers={"Authorization": "token " + os.environ["LOOM_JUPYTER_PROXY_TOKEN"]})
body = json.load(urllib.request.urlopen(req, timeout=10))
print(json.dumps({"body": body, "has_key": "LOOM_API_KEY" in os.environ,
                  "env": " ".join(os.environ.values())}))
"""


async def test_credential_leaves_the_environment_proxy_vars_arrive(
        loom_proxy: LoomProxy, capture: Capture) -> None:
    assert "LOOM_API_KEY" not in os.environ
    assert os.environ["LOOM_JUPYTER_PROXY_URL"] == loom_proxy.url
    assert os.environ["LOOM_JUPYTER_PROXY_TOKEN"] == loom_proxy.proxy_token
    assert len(loom_proxy.proxy_token) >= 32
    # A child process (what a kernel is) reaches Loom through the proxy with no configuration.
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, env=dict(os.environ), stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(child.communicate(), 30)
    result = json.loads(out)
    assert result["body"]["ok"] is True and result["has_key"] is False
    assert FAKE_KEY not in result["env"]
    assert capture.last().headers["authorization"] == [f"Bearer {FAKE_KEY}"]


async def test_status_reports_configuration_without_secrets(loom_proxy: LoomProxy,
                                                            capture: Capture) -> None:
    async with loom_proxy.client() as client:
        r = await client.get("status")
    body = r.json()
    assert r.status_code == 200
    assert body["url"] == capture.url and body["configured"] and body["credential"] is True
    assert body["reachable"] is True and body["version"] == "9.9.9-capture"
    assert FAKE_KEY not in r.text and loom_proxy.proxy_token not in r.text
    # /health is public: the probe must not spend the credential on it.
    assert "authorization" not in capture.last().headers


async def test_each_start_mints_a_new_proxy_token(loom_proxy: LoomProxy) -> None:
    from loom_jupyter.server.app import LoomJupyter

    other = LoomJupyter()
    other.serverapp = loom_proxy.app
    other.initialize_settings()
    try:
        assert other.proxy_token and other.proxy_token != loom_proxy.proxy_token
    finally:
        await other.stop_extension()
