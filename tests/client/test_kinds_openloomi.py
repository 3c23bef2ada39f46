"""Kind "openloomi" against its stand-in: token file and password sign-in, models, both chat
streams (sync and async), renewal of an expired JWT, and errors in openloomi's shape."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loom_jupyter.client import (
    AsyncLoom,
    AuthenticationError,
    BadRequestError,
    Loom,
    NotFoundError,
    StreamError,
)
from tests.standins.fixtures import openloomi_standin, openloomi_token_file  # noqa: F401
from tests.standins.openloomi import OpenLoomiStandIn

EMAIL, PASSWORD = "user@example.com", "password123"
REPLY = "Hello from the openloomi stand-in. You said: "


@pytest.fixture
def loomi(openloomi_standin: OpenLoomiStandIn) -> Iterator[OpenLoomiStandIn]:  # noqa: F811
    openloomi_standin.reset()
    yield openloomi_standin
    openloomi_standin.reset()


def test_token_file_client_lists_models_and_streams_chat(loomi, openloomi_token_file):  # noqa: F811
    with Loom(loomi.url, kind="openloomi", token_file=str(openloomi_token_file)) as loom:
        assert [m.id for m in loom.models.list()] == ["openloomi-default", "openloomi-fast"]
        chunks = list(loom.chat.stream("Hi there"))
        assert len(chunks) > 5 and "".join(chunks) == REPLY + "Hi there"
        text = loom.chat.create([{"role": "user", "content": "again"}], model="openloomi-fast")
        assert text == REPLY + "again"
    posts = [r for r in loomi.requests if r.method == "POST"]
    assert [r.path for r in posts] == ["/api/ai/chat", "/api/ai/v1/chat/completions"]
    assert posts[0].json() == {"messages": [{"role": "user", "content": "Hi there"}], "stream": True}
    assert posts[1].json()["model"] == "openloomi-fast"
    assert "/api/remote-auth/login" not in loomi.paths()


def test_password_sign_in_and_renewal(loomi):
    with Loom(loomi.url, kind="openloomi", username=EMAIL, password=PASSWORD) as loom:
        loom.models.list()
        loomi.expire_tokens()
        assert "".join(loom.chat.stream("after expiry")) == REPLY + "after expiry"
    assert loomi.paths().count("/api/remote-auth/login") == 2
    login = next(r for r in loomi.requests if r.path == "/api/remote-auth/login")
    assert login.json() == {"email": EMAIL, "password": PASSWORD}


def test_an_expired_token_file_is_a_clear_error(loomi, openloomi_token_file):  # noqa: F811
    with Loom(loomi.url, kind="openloomi", token_file=str(openloomi_token_file)) as loom:
        loomi.expire_tokens()
        with pytest.raises(AuthenticationError) as info:
            loom.models.list()
        assert str(info.value) == (
            f"GET /api/ai/v1/models was refused (HTTP 401) with the token from "
            f"'{openloomi_token_file}' (expired? sign in to openloomi again to refresh it): "
            "Token expired.")
        assert info.value.code == "token_expired"
        # The desktop app wrote a fresh token: the client picks it up on the next 401.
        loomi.write_token_file(openloomi_token_file)
        assert len(loom.models.list()) == 2


def test_errors_in_openloomi_shape(loomi, openloomi_token_file):  # noqa: F811
    with Loom(loomi.url, kind="openloomi", token_file=str(openloomi_token_file)) as loom:
        with pytest.raises(NotFoundError) as info:
            list(loom.chat.stream("x", model="gpt-nothing"))
        assert str(info.value) == ("POST /api/ai/v1/chat/completions failed with HTTP 404 "
                                   "(model_not_found): Model 'gpt-nothing' not found.")
        with pytest.raises(BadRequestError) as bad:
            loom.request("POST", "/api/ai/chat", json={"messages": []})
        assert str(bad.value).endswith("(validation_error): Invalid request body: "
                                       "messages: Expected a non-empty array of messages.")
        assert loom.request("GET", "/api/ai/chat") == {"status": "ok"}


def test_a_stream_cut_before_done_is_a_stream_error(loomi, openloomi_token_file, monkeypatch):  # noqa: F811
    from tests.standins import openloomi as module

    original = module.Completions.sse

    async def no_done(self, data, event=None):
        if data != "[DONE]":
            await original(self, data, event)

    monkeypatch.setattr(module.Completions, "sse", no_done)
    with Loom(loomi.url, kind="openloomi", token_file=str(openloomi_token_file)) as loom:
        with pytest.raises(StreamError) as info:
            list(loom.chat.stream("cut"))
    assert info.value.partial_text == REPLY + "cut"


async def test_async_openloomi(loomi):
    async with AsyncLoom(loomi.url, kind="openloomi", username=EMAIL, password=PASSWORD) as loom:
        assert len(await loom.models.list()) == 2
        loomi.expire_tokens()
        chunks = [c async for c in loom.chat.stream("async hi")]
        assert "".join(chunks) == REPLY + "async hi"
        assert await loom.chat.create("whole") == REPLY + "whole"
    assert loomi.paths().count("/api/remote-auth/login") == 2


def test_the_password_and_jwt_stay_out_of_reprs(loomi, tmp_path: Path):
    loom = Loom(loomi.url, kind="openloomi", username=EMAIL, password=PASSWORD)
    with loom:
        loom.models.list()
        jwt = next(r.header("Authorization") for r in loomi.requests
                   if r.path == "/api/ai/v1/models").split()[1]
        for text in (repr(loom), repr(loom.__dict__), repr(loom._session)):
            assert PASSWORD not in text and jwt not in text
