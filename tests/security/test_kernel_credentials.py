"""Issue 18 finding 2: what a same-user kernel can reach of the server's Loom credential.

Against the real local Loom, with the extension holding an org admin's key (the worst case:
a key that may create keys). The Jupyter user may manage keys through the proxy; a kernel,
holding only its proxy token, may not, unless the operator allows it. And the key given in
`LOOM_API_KEY` is gone from the server's /proc entries, which kernels could otherwise read.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.reliability.load import start_jupyter

CREDENTIAL_CALLS = [
    ("POST", "api/orgs/{org}/api-keys", {"name": "stolen", "role": "system_admin",
                                         "scopes": ["llm_use"]}),
    ("POST", "api/orgs/{org}/api%2Dkeys", {"name": "stolen", "scopes": ["llm_use"]}),
    ("GET", "api/orgs/{org}/api-keys", None),
    ("DELETE", "api/orgs/{org}/api-keys/some-key", None),
    ("POST", "api/auth/device/complete", {"user_code": "123-456-789"}),
    ("POST", "api/auth/logout", None),
    ("GET", "api/sessions", None),
    ("POST", "api/threads/t-1/share", None),
]


@pytest.fixture
def loom_target(loom_server: Any) -> LoomTarget:
    return LoomTarget(loom_server.url, loom_server.admin_key)


def key_count(loom_server: Any) -> int:
    r = httpx.get(f"{loom_server.url}/api/orgs/{loom_server.org_id}/api-keys",
                  headers=loom_server.headers(), timeout=10)
    return len(r.json()["api_keys"])


@pytest.mark.parametrize(("method", "path", "body"), CREDENTIAL_CALLS)
async def test_a_kernel_cannot_use_credential_routes(loom_proxy: LoomProxy, loom_server: Any,
                                                     method: str, path: str,
                                                     body: Any) -> None:
    before = key_count(loom_server)
    async with loom_proxy.client("kernel") as client:
        r = await client.request(method, path.format(org=loom_server.org_id), json=body)
    assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
    assert "allow_kernel_credential_routes" in r.json()["message"]
    assert key_count(loom_server) == before


async def test_a_kernel_still_uses_everything_else(loom_proxy: LoomProxy) -> None:
    async with loom_proxy.client("kernel") as client:
        for path in ("api/weavers", "api/auth/me", "api/threads", "health"):
            r = await client.get(path)
            assert r.status_code == 200, (path, r.text)


async def test_the_jupyter_user_may_manage_keys(loom_proxy: LoomProxy, loom_server: Any) -> None:
    before = key_count(loom_server)
    async with loom_proxy.client("jupyter") as client:
        r = await client.post(f"api/orgs/{loom_server.org_id}/api-keys",
                              json={"name": "made-by-the-user", "scopes": ["llm_use"]})
    assert r.status_code == 201, r.text
    assert key_count(loom_server) == before + 1


class TestAllowed:
    @pytest.fixture
    def loom_extension_config(self) -> dict[str, Any]:
        return {"allow_kernel_credential_routes": True}

    async def test_the_setting_lets_kernels_through(self, loom_proxy: LoomProxy,
                                                    loom_server: Any) -> None:
        async with loom_proxy.client("kernel") as client:
            r = await client.get(f"api/orgs/{loom_server.org_id}/api-keys")
        assert r.status_code == 200, r.text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_the_key_leaves_the_servers_proc_environ(tmp_path: Path, loom_server: Any) -> None:
    key = loom_server.make_key("user")
    server = start_jupyter(tmp_path, loom_server.url, key, key_in_env=True)
    try:
        r = httpx.get(f"{server.proxy}api/auth/me", headers=server.headers(), timeout=10)
        assert r.status_code == 200, r.text  # the key from the environment is in use
        pid = server.process.pid
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"LOOM_API_KEY=" in environ  # the variable was there: the test means something
        assert key.encode() not in environ and key.encode() not in cmdline
    finally:
        server.stop()
