"""Cross-origin WebSocket attempts against the extension's two bridges (and the local server).

Extends the attack table (tests/server/test_attacks.py: an unauthenticated cross-origin attach)
with authenticated callers from the wrong origin, each refused before anything reaches the
upstream (a capture server that records every upgrade), plus same-origin positive controls.
"""
from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as sync_connect

from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.server.capture import Capture
from tests.server.conftest import FAKE_KEY, capture  # noqa: F401 - fixture

ROUTES = {"attach": "api/weaver/w1/attach", "session": "api/ws/sessions/s1"}


@pytest.fixture
def loom_target(capture: Capture) -> LoomTarget:  # noqa: F811
    return LoomTarget(capture.url, FAKE_KEY)


async def _login_cookie(proxy: LoomProxy) -> str:
    """The cookie a browser holds after opening Jupyter's token URL."""
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{proxy.origin}{proxy.base_url}api/status",
                           params={"token": proxy.jupyter_token})
        assert r.status_code == 200 and http.cookies
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


async def _upgrade(proxy: LoomProxy, route: str, headers: dict[str, str]) -> int:
    try:
        async with connect(proxy.ws_url + ROUTES[route], additional_headers=headers,
                           open_timeout=5, origin=None):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def _origin_rows(port: int) -> dict[str, dict[str, str]]:
    return {
        "evil origin": {"Origin": "http://evil.example"},
        "null origin": {"Origin": "null"},
        "same host, other port": {"Origin": "http://127.0.0.1:1"},
        "localhost alias": {"Origin": f"http://localhost:{port}"},
        "subdomain trick": {"Origin": f"http://127.0.0.1:{port}.evil.example"},
        "legacy Sec-WebSocket-Origin": {"Sec-WebSocket-Origin": "http://evil.example"},
    }


ROWS = ["evil origin", "null origin", "same host, other port", "localhost alias",
        "subdomain trick", "legacy Sec-WebSocket-Origin"]


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("row", ROWS)
async def test_cross_origin_upgrade_with_the_login_cookie_is_refused(
        loom_proxy: LoomProxy, capture: Capture, route: str, row: str) -> None:  # noqa: F811
    """A page elsewhere opening a socket rides on the browser's ambient Jupyter cookie: refused.

    (A header token is not origin-checked, as in jupyter_server: a browser page cannot put an
    Authorization header on a WebSocket handshake, so only scripts and kernels send one.)
    """
    creds = {"Cookie": await _login_cookie(loom_proxy)}
    status = await _upgrade(loom_proxy, route, {**creds, **_origin_rows(loom_proxy.port)[row]})
    assert status == 403, f"{row} on {route}: {status}"
    assert capture.ws_headers == [] and capture.seen == [], "reached the upstream"


@pytest.mark.parametrize("who", ["token", "cookie"])
@pytest.mark.parametrize("route", list(ROUTES))
async def test_same_origin_upgrade_is_accepted(loom_proxy: LoomProxy, capture: Capture,  # noqa: F811
                                               who: str, route: str) -> None:
    """Positive control for the table: the same callers from the page's own origin get in."""
    creds = (loom_proxy.headers("jupyter") if who == "token"
             else {"Cookie": await _login_cookie(loom_proxy)})
    assert await _upgrade(loom_proxy, route, {**creds, "Origin": loom_proxy.origin}) == 101
    assert len(capture.ws_headers) == 1
    assert capture.ws_headers[0]["authorization"] == [f"Bearer {FAKE_KEY}"]
    assert "cookie" not in capture.ws_headers[0] and "origin" not in capture.ws_headers[0]


# -- the local server: a cross-origin page cannot ride on the loom_session cookie ----------------

def _session_cookie(server) -> str:
    r = httpx.post(f"{server.url}/api/auth/session", headers=server.headers(), timeout=10)
    assert r.status_code == 201
    return f"loom_session={r.cookies['loom_session']}"


@pytest.mark.parametrize(("origin", "expected"), [
    (None, 101), ("same", 101), ("http://evil.example", 401), ("null", 401)])
def test_local_server_ignores_the_cookie_cross_origin(loom_server, origin, expected):
    weaver = httpx.post(f"{loom_server.url}/api/weaver", headers=loom_server.headers(), timeout=30,
                        json={"image": "python:3.12", "org_id": loom_server.org_id,
                              "command": ["sleep", "20"], "lifetime_hours": 1}).json()
    url = loom_server.url.replace("http://", "ws://") + f"/api/weaver/{weaver['id']}/attach"
    headers = {"Cookie": _session_cookie(loom_server)}
    if origin is not None:
        headers["Origin"] = loom_server.url if origin == "same" else origin
    try:
        with sync_connect(url, additional_headers=headers, open_timeout=10, origin=None):
            status = 101
    except InvalidStatus as exc:
        status = exc.response.status_code
    finally:
        httpx.delete(f"{loom_server.url}/api/weaver/{weaver['id']}", headers=loom_server.headers(),
                     timeout=10)
    assert status == expected
