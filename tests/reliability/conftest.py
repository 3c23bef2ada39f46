"""Reliability fixtures: a local Loom of this package's own, and a fault proxy in front of it.

`LOOM_LONG_TESTS=1` turns on the long variants (`long_only` marks them); the short ones run in
`make test`.
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.loom_server import LocalLoom, running_local_loom

from .faultproxy import FaultProxy

LONG = os.environ.get("LOOM_LONG_TESTS", "") not in ("", "0")
long_only = pytest.mark.skipif(not LONG, reason="long variant: set LOOM_LONG_TESTS=1")
short_only = pytest.mark.skipif(LONG, reason="short variant (LOOM_LONG_TESTS is set)")
IMAGE = "python:3.12"


@pytest.fixture(scope="package")
def rel_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLoom]:
    """A local Loom for this package only: other suites' deletions never change our counts."""
    with running_local_loom(tmp_path_factory.mktemp("loom-reliability") / "data") as server:
        yield server


@pytest.fixture(scope="package")
def rel_key(rel_server: LocalLoom) -> str:
    return rel_server.make_key("user", name="reliability")


@pytest.fixture
def faults(rel_server: LocalLoom) -> Iterator[FaultProxy]:
    proxy = FaultProxy(rel_server.url).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def unique() -> str:
    return uuid.uuid4().hex[:12]


def weavers_tagged(server: LocalLoom, key: str, value: str) -> list[dict[str, Any]]:
    """Every weaver carrying `case=value` (asked directly, with the admin key: the ground truth)."""
    r = httpx.get(f"{server.url}/api/weavers", params={"tag": f"case:{value}"},
                  headers=server.headers(), timeout=10)
    r.raise_for_status()
    return list(r.json()["weavers"])


def weaver_count(server: LocalLoom) -> int:
    r = httpx.get(f"{server.url}/api/weavers", headers=server.headers(), timeout=10)
    return int(r.json()["count"])


def delete_tagged(server: LocalLoom, value: str) -> None:
    for weaver in weavers_tagged(server, "", value):
        httpx.delete(f"{server.url}/api/weaver/{weaver['id']}", headers=server.headers(), timeout=10)


def counting_script(n: int, pause: float) -> list[str]:
    """A weaver command printing `line 00000` .. `line n-1`, one every `pause` seconds."""
    code = (f"import time\nfor i in range({n}):\n print(f'line {{i:05d}}', flush=True)\n"
            f" time.sleep({pause})\n")
    return ["python3", "-c", code]


def wait_for(predicate: Any, seconds: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


_HTTP = httpx.Client(timeout=10, trust_env=False)  # one client: a new one per call costs ~50 ms


def admin_get(server: LocalLoom, path: str) -> Any:
    r = _HTTP.get(f"{server.url}{path}", headers=server.headers())
    assert r.status_code == 200, r.text
    return r.json()


def state_of(server: LocalLoom, statuses: bool = True) -> tuple[Any, ...]:
    """Everything a request could change: weavers (and their status), threads (with versions),
    API keys (and whether revoked)."""
    weavers = sorted((w["id"], w["status"] if statuses else "") for w in
                     admin_get(server, "/api/weavers")["weavers"])
    threads = sorted((t["id"], t.get("version")) for t in
                     admin_get(server, "/api/threads?limit=1000")["threads"])
    keys = sorted((k["id"], k["revoked_at"]) for k in
                  admin_get(server, f"/api/orgs/{server.org_id}/api-keys")["api_keys"])
    return weavers, threads, keys
