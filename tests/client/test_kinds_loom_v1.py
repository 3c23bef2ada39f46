"""Kind "loom-v1" against the v1 asset server stand-in: login, paging, assets with binaries,
raw requests, JWT renewal (expired, revoked), errors and the pipeline events WebSocket."""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loom_jupyter.client import (
    AsyncLoom,
    AuthenticationError,
    BadRequestError,
    Loom,
    NotFoundError,
)
from tests.standins.fixtures import v1_standin  # noqa: F401
from tests.standins._server import ApiError
from tests.standins.loom_v1 import LoomV1StandIn

USER, PASSWORD = "admin", "loom-v1-admin-pass"


@pytest.fixture
def v1(v1_standin: LoomV1StandIn) -> Iterator[LoomV1StandIn]:  # noqa: F811
    v1_standin.reset()
    yield v1_standin
    v1_standin.reset()


@pytest.fixture
def loom(v1: LoomV1StandIn) -> Iterator[Loom]:
    client = Loom(v1.url, kind="loom-v1", username=USER, password=PASSWORD, timeout=5.0)
    yield client
    client.close()


def logins(v1: LoomV1StandIn) -> int:
    return v1.paths().count("/api/v1/auth/login")


def test_signs_in_lazily_once_and_sends_the_jwt(v1, loom):
    assert v1.paths() == []  # no I/O in the constructor
    first = loom.assets.list()
    loom.assets.list()
    assert logins(v1) == 1 and len(first) == 3
    asset_requests = [r for r in v1.requests if r.path == "/api/v1/assets"]
    assert all(r.header("Authorization").startswith("Bearer ey") for r in asset_requests)
    login = next(r for r in v1.requests if r.path == "/api/v1/auth/login")
    assert login.header("Authorization") is None
    assert login.json() == {"username": USER, "password": PASSWORD}


def test_pages_and_iterate(v1, loom):
    for i in range(4):
        loom.assets.create(f"extra-{i}.bin")
    page = loom.assets.list(page=2, per_page=3)
    assert (page.page, page.page_count, page.total) == (2, 3, 7)
    assert [a.name for a in page] == ["extra-0.bin", "extra-1.bin", "extra-2.bin"]
    names = [a.name for a in loom.assets.iterate(per_page=2)]
    assert names == ["readme.txt", "data.csv", "notes.md"] + [f"extra-{i}.bin" for i in range(4)]
    gets = [r for r in v1.requests if r.method == "GET" and r.path == "/api/v1/assets"]
    assert len(gets) == 1 + 4  # the list, then 4 pages of 2


def test_assets_create_get_upload_download(loom, tmp_path: Path):
    created = loom.assets.create("photo.png", mime_type="image/png")
    assert created.mime_type == "image/png" and created.size == 0 and created.sha512 is None
    data = bytes(range(256)) * 40
    stored = loom.assets.upload(created.uuid, data, content_type="image/png")
    assert stored.size == len(data) and stored.sha512 == hashlib.sha512(data).hexdigest()
    assert loom.assets.download(created.uuid) == data
    assert loom.assets.get(created.uuid).sha512 == stored.sha512
    assert loom.assets.by_sha512(stored.sha512).uuid == created.uuid
    path = tmp_path / "table.csv"
    path.write_bytes(b"a,b\n1,2\n")
    from_file = loom.assets.upload(created.uuid, path)
    assert from_file.mime_type == "text/csv" and loom.assets.download(created.uuid) == b"a,b\n1,2\n"


def test_raw_request_returns_parsed_json(loom):
    tags = loom.request("GET", "/api/v1/tags", params={"perPage": 1})
    assert tags["_metainfo"]["totalCount"] == 2 and len(tags["data"]) == 1
    made = loom.request("POST", "api/v1/collections", json={"name": "Favourites"})
    assert made["name"] == "Favourites"
    assert loom.request("GET", f"/api/v1/collections/{made['uuid']}")["uuid"] == made["uuid"]


def test_errors_carry_the_platform_message(loom):
    with pytest.raises(NotFoundError) as info:
        loom.assets.get("nope")
    assert str(info.value) == ("GET /api/v1/assets/nope failed with HTTP 404: "
                               "Cannot find asset with uuid 'nope'.")
    with pytest.raises(BadRequestError, match="Field 'name' is required"):
        loom.request("POST", "/api/v1/tags", json={})


def test_a_revoked_jwt_is_renewed_once(v1, loom):
    loom.assets.list()
    v1.expire_tokens()
    assert len(loom.assets.list()) == 3
    assert logins(v1) == 2


def test_an_expired_jwt_is_renewed_before_sending(v1, loom):
    v1.configure(token_lifetime=1.0)
    loom.pipelines.list()
    time.sleep(1.1)
    loom.pipelines.list()
    statuses = [r.path for r in v1.requests]
    # The second list went out after a fresh login, never with the lapsed JWT.
    assert statuses == ["/api/v1/auth/login", "/api/v1/pipelines", "/api/v1/auth/login",
                        "/api/v1/pipelines"]


def test_still_refused_after_signing_in_again_is_one_clear_error(v1, loom, monkeypatch):
    loom.assets.list()

    def refuse(token: str | None) -> None:
        raise ApiError(401, "Token expired")

    monkeypatch.setattr(v1, "check_token", refuse)  # logins succeed, every JWT is refused
    with pytest.raises(AuthenticationError) as info:
        loom.assets.list()
    assert str(info.value) == ("GET /api/v1/assets was refused (HTTP 401) even after signing in "
                               "again as 'admin': Token expired.")
    assert logins(v1) == 2


def test_a_wrong_password_says_so_without_the_password(v1):
    with Loom(v1.url, kind="loom-v1", username=USER, password="wrong-password-9") as loom:
        with pytest.raises(AuthenticationError) as info:
            loom.assets.list()
    assert str(info.value) == ("Signing in to Loom v1 asset server as 'admin' failed: "
                               "Invalid username or password.")
    assert "wrong-password-9" not in repr(info.value.__dict__)


def test_the_jwt_is_scrubbed_from_errors(v1, loom):
    loom.assets.list()
    jwt = next(r.header("Authorization") for r in v1.requests
               if r.path == "/api/v1/assets").split()[1]
    assert jwt in loom._secrets() and jwt not in repr(loom._secrets())
    with pytest.raises(NotFoundError) as info:
        loom.assets.get(jwt[:40].replace(".", "x"))
    assert "[redacted]" not in str(info.value)  # a mere prefix is not the secret
    with pytest.raises(NotFoundError) as info2:
        loom.request("GET", f"/api/v1/assets/{jwt}")
    assert jwt not in str(info2.value) and jwt not in repr(info2.value.__dict__)
    assert str(info2.value) == ("GET /api/v1/assets/[redacted] failed with HTTP 404: "
                                "Cannot find asset with uuid '[redacted]'.")


def _drain(socket: Any, until: str, limit: int = 20) -> list[dict[str, Any]]:
    events = []
    while len(events) < limit:
        event = socket.recv(timeout=5)
        assert event is not None, events
        events.append(event)
        if event["type"] == until:
            break
    return events


def test_pipeline_events_websocket(v1, loom):
    pipeline = loom.pipelines.list()[0]
    with loom.pipelines.events() as socket:
        run = loom.pipelines.run(pipeline.uuid)
        events = _drain(socket, "pipeline.finished")
    assert [e["type"] for e in events] == ["pipeline.started"] + ["pipeline.progress"] * 3 + [
        "pipeline.finished"]
    assert {e["run"] for e in events} == {run["uuid"]} and events[-1]["status"] == "success"
    assert socket.closed and socket.recv() is None
    upgrade = next(r for r in v1.requests if r.path.endswith("/events/ws"))
    assert upgrade.header("Authorization").startswith("Bearer ey")


def test_pipeline_events_renew_a_revoked_jwt(v1, loom):
    loom.assets.list()
    v1.expire_tokens()
    with loom.pipelines.events() as socket:
        loom.pipelines.run(loom.pipelines.list()[0].uuid)
        assert _drain(socket, "pipeline.finished")[-1]["status"] == "success"
    assert logins(v1) == 2


def test_pipeline_events_end_when_the_server_closes(v1, loom):
    socket = loom.pipelines.events()
    v1.call(v1._close_streams)
    assert list(socket) == [] and socket.closed


async def test_async_v1(v1):
    async with AsyncLoom(v1.url, kind="loom-v1", username=USER, password=PASSWORD,
                         timeout=5.0) as loom:
        page = await loom.assets.list(per_page=2)
        assert [a.name for a in page] == ["readme.txt", "data.csv"]
        names = [a.name async for a in loom.assets.iterate(per_page=2)]
        assert names == ["readme.txt", "data.csv", "notes.md"]
        created = await loom.assets.create("a.bin")
        await loom.assets.upload(created.uuid, b"\x00\x01binary")
        assert await loom.assets.download(created.uuid) == b"\x00\x01binary"
        v1.expire_tokens()
        assert (await loom.request("GET", "/api/v1/pipelines"))["_metainfo"]["totalCount"] == 1
        pipeline = (await loom.pipelines.list())[0]
        async with await loom.pipelines.events() as socket:
            await loom.pipelines.run(pipeline.uuid)
            seen = []
            async for event in socket:
                seen.append(event["type"])
                if event["type"] == "pipeline.finished":
                    break
        assert seen[0] == "pipeline.started" and seen[-1] == "pipeline.finished"
    assert logins(v1) == 2


def test_log_stays_free_of_credentials(v1, loom, caplog):
    caplog.set_level(logging.DEBUG)
    loom.assets.list()
    with loom.pipelines.events():
        pass
    assert PASSWORD not in caplog.text
    assert "Bearer ey" not in caplog.text
