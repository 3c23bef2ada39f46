"""Sign in to Loom as yourself (issue 12): the device-code flow, run by the extension.

Against the real local Loom (which speaks the flow like Loom), with a Jupyter server that has no
key configured. A person approves the code with their own key, as Loom's /device page does;
the extension then acts as that person, and no answer, log or kernel ever sees the token.
"""
from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from loom_jupyter.server.credentials import SignInStore
from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.fixtures.wait import async_wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def loom_target(loom_server: Any) -> LoomTarget:
    return LoomTarget(loom_server.url, "")  # no key: the server must sign in


@pytest.fixture
def signin_dir(tmp_path: Path) -> Path:
    return tmp_path / "signins"


@pytest.fixture
def loom_extension_config(signin_dir: Path) -> dict[str, Any]:
    return {"signin_dir": str(signin_dir)}


@pytest.fixture
def person(loom_server: Any) -> dict[str, Any]:
    """A Loom user with their own key (what they would sign in to Loom's /device page with)."""
    return dict(loom_server.make_user("user"))


@pytest.fixture
def captured_logs() -> Any:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep(logging.DEBUG)
    loggers = [logging.getLogger(n) for n in ("", "ServerApp", "LoomJupyter", "tornado.access")]
    for logger in loggers:
        logger.addHandler(handler)
    yield records
    for logger in loggers:
        logger.removeHandler(handler)


async def approve(loom_server: Any, key: str, user_code: str) -> None:
    async with httpx.AsyncClient(base_url=loom_server.url, timeout=10) as client:
        r = await client.post("/api/auth/device/complete", json={"user_code": user_code},
                              headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text


async def sign_in(proxy: LoomProxy, loom_server: Any, key: str, who: str = "kernel") -> Any:
    async with proxy.client(who) as client:
        started = (await client.post("signin")).json()
        assert started["state"] == "pending" and started["user_code"], started
        assert started["verification_url"].endswith("/device")
        await approve(loom_server, key, started["user_code"])

        async def state() -> Any:
            return (await client.get("signin")).json()
        return await async_wait_until(state, 15, "the sign-in to complete",
                                      until=lambda s: s["state"] == "signed_in", interval=0.2)


async def test_sign_in_then_act_as_that_person(loom_proxy: LoomProxy, loom_server: Any,
                                               person: dict[str, Any], signin_dir: Path,
                                               captured_logs: list[str]) -> None:
    async with loom_proxy.client("kernel") as client:
        before = await client.get("api/auth/me")
        assert before.status_code == 401  # nobody yet
    done = await sign_in(loom_proxy, loom_server, person["key"])
    assert done["credential"] == {"source": "sign-in", "user": person["name"]}
    assert done["last_attempt"]["message"].startswith("Signed in to ")
    async with loom_proxy.client("kernel") as client:
        me = (await client.get("api/auth/me")).json()
        status = (await client.get("status")).json()
    assert me["id"] == person["user_id"]
    assert status["credential_source"] == {"source": "sign-in", "user": person["name"]}
    stored = SignInStore(signin_dir, loom_server.url)
    token = stored.load()
    assert token is not None and token.secret.startswith("lt_")
    assert stat.S_IMODE(stored.path.stat().st_mode) == 0o600
    assert all(token.secret not in line for line in captured_logs)
    assert token.secret not in str(done) + str(me) + str(status)


async def test_sign_out_forgets_and_revokes(loom_proxy: LoomProxy, loom_server: Any,
                                            person: dict[str, Any], signin_dir: Path) -> None:
    await sign_in(loom_proxy, loom_server, person["key"], who="jupyter")
    token = SignInStore(signin_dir, loom_server.url).load()
    assert token is not None
    async with loom_proxy.client("jupyter") as client:
        out = (await client.delete("signin")).json()
        after = await client.get("api/auth/me")
    assert out["state"] == "signed_out" and out["last_attempt"]["message"].startswith("Signed out")
    assert after.status_code == 401
    assert SignInStore(signin_dir, loom_server.url).load() is None
    revoked = httpx.get(f"{loom_server.url}/api/auth/me", timeout=10,
                        headers={"Authorization": f"Bearer {token.secret}"})
    assert revoked.status_code == 401  # revoked upstream, not only forgotten here


async def test_an_expired_code_says_so_in_one_line(loom_proxy: LoomProxy) -> None:
    signin = loom_proxy.app.web_app.settings["loom_jupyter"].signin
    signin.poll_interval = 0.05
    async with loom_proxy.client("kernel") as client:
        await client.post("signin")
        signin._expires_at = 0.0  # the code's lifetime is over (its clock, not ours, decides)

        async def state() -> Any:
            return (await client.get("signin")).json()
        final = await async_wait_until(state, 10, "the sign-in to expire",
                                       until=lambda s: s["state"] != "pending", interval=0.1)
    assert final["state"] == "signed_out"
    assert final["last_attempt"]["state"] == "expired"
    assert "%loom login" in final["last_attempt"]["message"]


class TestConfiguredKeyWins:
    @pytest.fixture
    def loom_target(self, loom_server: Any) -> LoomTarget:
        return LoomTarget(loom_server.url, loom_server.make_key("user"))

    async def test_a_configured_key_keeps_precedence(self, loom_proxy: LoomProxy,
                                                     loom_server: Any,
                                                     person: dict[str, Any]) -> None:
        done = await sign_in(loom_proxy, loom_server, person["key"])
        assert done["credential"]["source"] == "config file"
        assert "still takes precedence" in done["last_attempt"]["message"]
        async with loom_proxy.client("kernel") as client:
            me = (await client.get("api/auth/me")).json()
        assert me["id"] != person["user_id"]
