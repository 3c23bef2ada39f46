"""The kernel side of sign-in (issue 12): `%loom login`/`logout`/`status` and the dashboard's bar.

A real IPython shell and the real widget, in proxy mode against a Jupyter server with no key,
in front of the local Loom. The shell and the widget block while they wait, so they run in a
worker thread; this coroutine keeps the Jupyter server's loop turning and plays the person who
approves the code.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from loom_jupyter.client import Loom
from loom_jupyter.widgets._signin import SignInBar
from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.fixtures.wait import async_wait_until
from .conftest import run

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def loom_target(loom_server: Any) -> LoomTarget:
    return LoomTarget(loom_server.url, "")


@pytest.fixture
def loom_extension_config(tmp_path: Path) -> dict[str, Any]:
    return {"signin_dir": str(tmp_path / "signins")}


@pytest.fixture
def proxy_mode(loom_proxy: LoomProxy, monkeypatch: pytest.MonkeyPatch) -> LoomProxy:
    """A kernel's environment: the proxy variables only (the extension published them)."""
    for name in ("LOOM_URL", "LOOM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert os.environ["LOOM_JUPYTER_PROXY_URL"] == loom_proxy.url
    return loom_proxy


async def approve_pending(proxy: LoomProxy, loom_server: Any, key: str) -> str:
    async with proxy.client("jupyter") as client:
        async def state() -> Any:
            return (await client.get("signin")).json()
        pending = await async_wait_until(state, 20, "a pending sign-in",
                                         until=lambda s: s["state"] == "pending", interval=0.1)
    async with httpx.AsyncClient(base_url=loom_server.url, timeout=10) as loom:
        r = await loom.post("/api/auth/device/complete", json={"user_code": pending["user_code"]},
                            headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return str(pending["user_code"])


async def test_login_status_logout_magics(proxy_mode: LoomProxy, shell: Any, magics: Any,
                                          loom_server: Any) -> None:
    person = loom_server.make_user("user")
    login = asyncio.ensure_future(asyncio.to_thread(run, shell, "%loom login"))
    code = await approve_pending(proxy_mode, loom_server, person["key"])
    ran = await login
    text = ran.all_text()
    assert ran.error is None, text
    assert code in text and "/device" in text and "expires in" in text
    assert f"Signed in to {loom_server.url} as {person['name']}." in text
    status = (await asyncio.to_thread(run, shell, "%loom status")).all_text()
    assert f"held by the Jupyter server (sign-in, {person['name']})" in status
    out = (await asyncio.to_thread(run, shell, "%loom logout")).all_text()
    assert f"Signed out of {loom_server.url}." in out
    status = (await asyncio.to_thread(run, shell, "%loom status")).all_text()
    assert "none: run %loom login to sign in" in status
    for cell in (text, status, out):
        assert "lt_" not in cell and person["key"] not in cell


async def test_the_dashboard_bar_signs_in(proxy_mode: LoomProxy, loom_server: Any) -> None:
    person = loom_server.make_user("user")
    signed_in = asyncio.Event()
    loop = asyncio.get_running_loop()
    client = Loom()
    try:
        bar = await asyncio.to_thread(SignInBar, client,
                                      lambda: loop.call_soon_threadsafe(signed_in.set), 0.2)
        assert bar.layout.display == ""  # nobody signed in: the bar shows
        bar.button.click()
        await approve_pending(proxy_mode, loom_server, person["key"])
        await asyncio.wait_for(signed_in.wait(), 20)
        assert f"as {person['name']}" in bar.note.value and "lt_" not in bar.note.value
        assert await asyncio.to_thread(bar.check) is True
        assert bar.layout.display == "none"
    finally:
        await asyncio.to_thread(client.close)


def test_the_bar_stays_hidden_in_direct_mode(loom_server: Any, user_key: str) -> None:
    with Loom(url=loom_server.url, api_key=user_key) as client:
        bar = SignInBar(client, on_signed_in=lambda: None)
    assert bar.layout.display == "none"
