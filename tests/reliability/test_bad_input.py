"""Bad input at every layer: magics, client, server extension, local server. Each row gets one
clear error and changes nothing (weavers and their status, threads, API keys are compared).

Builds on tests/local/test_weavers.py (malformed create bodies sent raw to the local server) and
tests/magics/test_parsing.py (argument errors without a server): the rows here push the same
kinds of mistakes through the other layers, plus bodies, frames and ids those tests do not send.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from loom_jupyter.client import (
    BadRequestError,
    Loom,
    LoomError,
    LoomValidationError,
    NotFoundError,
)
from loom_jupyter.client.models.threads import Thread
from loom_jupyter.client.models.ids import new_thread_id
from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.fixtures.loom_server import LocalLoom, start_local_loom
from tests.magics.conftest import magics, run, shell  # noqa: F401 - fixtures

from .conftest import IMAGE, state_of

UNKNOWN = "018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a"
MIB = 1024 * 1024
NESTED = b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@dataclass
class World:
    server: LocalLoom
    key: str
    weaver_id: str
    thread_id: str

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A server of our own with one running weaver and one thread, never touched by others."""
    server = start_local_loom(tmp_path_factory.mktemp("bad-input") / "data")
    try:
        key = server.make_key("user", name="bad-input")
        with Loom(url=server.url, api_key=key) as loom:
            weaver = loom.weavers.create(IMAGE, command=["sh", "-i"], lifetime_hours=2)
            thread = loom.threads.put(Thread(id=new_thread_id(), version=0,
                                             conversation={"messages": MESSAGES}))
        yield World(server, key, weaver.id, thread.id)
    finally:
        server.stop()


@pytest.fixture
def unchanged(world: World) -> Iterator[None]:
    before = state_of(world.server)
    yield
    assert state_of(world.server) == before, "a refused input changed stored state"


def one_line(text: str) -> str:
    assert text and "\n" not in text.strip() and "Traceback" not in text, text
    return text


# -- magics ------------------------------------------------------------------------------------

MAGIC_ROWS = [
    ("create --lifetime 0", f"%loom create {IMAGE} --lifetime 0", "at least 1"),
    ("create --lifetime 49", f"%loom create {IMAGE} --lifetime 49", "Invalid --lifetime"),
    ("create --lifetime -1", f"%loom create {IMAGE} --lifetime -1", "at least 1"),
    ("create --lifetime x", f"%loom create {IMAGE} --lifetime two", "whole number"),
    ("create tag without colon", f"%loom create {IMAGE} --tag nocolon", "KEY:VALUE"),
    ("create tag key with space", f'%loom create {IMAGE} --tag "bad key:v"', "tag key"),
    ("create control char in image", "%loom create py\x1bthon", "image"),
    ("create memory lots", f"%loom create {IMAGE} --memory lots", "Kubernetes quantity"),
    ("create bad env name", f"%loom create {IMAGE} --env 1BAD=x", "not a valid environment"),
    ("create bad org", f"%loom create {IMAGE} --org not-a-uuid", "Loom refused to create a weaver"),
    ("create missing workdir", f"%loom create {IMAGE} --workdir /definitely/not/here -- true",
     "Loom refused to create a weaver"),
    ("get malformed id", "%loom get not-a-uuid", "'not-a-uuid' is not a weaver id"),
    ("get unknown id", f"%loom get {UNKNOWN}", f"Weaver {UNKNOWN} was not found"),
    ("delete unknown id", f"%loom delete {UNKNOWN} --yes", f"Weaver {UNKNOWN} was not found"),
    ("logs unknown id", f"%loom logs {UNKNOWN}", f"Weaver {UNKNOWN} was not found"),
    ("thread unknown id", "%loom thread T-nope", "Thread T-nope was not found"),
    ("chat unknown provider", "%%loom chat --new --provider nope\nhello", "provider 'nope'"),
    ("chat unknown provider and model", "%%loom chat --new --provider nope --model m\nhello",
     "Loom has no LLM provider 'nope'"),
    ("chat provider typo", "%%loom chat --new --provider antropic --model m\nhello",
     "did you mean anthropic?"),
    ("weavers status typo", "%loom weavers --status succeded", "did you mean 'succeeded'?"),
    ("weavers dataframe without -o", "%loom weavers --dataframe", "add -o VAR"),
    ("logs dataframe without -o", f"%loom logs {UNKNOWN} --dataframe", "add -o VAR"),
    ("line with an undefined name", "%loom get {undefined_in_this_notebook}", "is not defined"),
]


@pytest.fixture
def connected(shell, magics, world: World, monkeypatch):  # noqa: F811
    for name in ("LOOM_URL", "LOOM_API_KEY", "LOOM_JUPYTER_PROXY_URL", "LOOM_JUPYTER_PROXY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BAD_INPUT_KEY", world.key)
    assert run(shell, f"%loom connect {world.server.url} --api-key-env BAD_INPUT_KEY").error is None
    return shell


@pytest.mark.parametrize(("line", "expected"), [r[1:] for r in MAGIC_ROWS],
                         ids=[r[0] for r in MAGIC_ROWS])
def test_magic_bad_input(connected, unchanged, line, expected, world):
    ran = run(connected, line)
    message = one_line(ran.usage_error())
    assert expected in message, message
    # In the user's words: no HTTP status or route (show_tracebacks brings those back).
    assert "HTTP" not in message and "/api/" not in message and "/proxy/" not in message, message
    assert ran.all_text().count(message[:40]) <= 1, "the error was printed more than once"
    assert world.key not in ran.all_text()


# -- client ------------------------------------------------------------------------------------

def _create(**kw: Any) -> Callable[[Loom, World], Any]:
    return lambda c, w: c.weavers.create(**{"image": IMAGE, "lifetime_hours": 1, **kw})


MESSAGES = [{"role": "user", "content": "x"}]
CLIENT_ROWS: list[tuple[str, Callable[[Loom, World], Any], type, str]] = [
    ("image int", _create(image=7), LoomValidationError, "image"),
    ("image blank", _create(image="  "), LoomValidationError, "image"),
    ("lifetime 0", _create(lifetime_hours=0), LoomValidationError, "between 1 and 48"),
    ("lifetime 49", _create(lifetime_hours=49), LoomValidationError, "between 1 and 48"),
    ("lifetime -1", _create(lifetime_hours=-1), LoomValidationError, "between 1 and 48"),
    ("lifetime str", _create(lifetime_hours="2"), LoomValidationError, "whole number"),
    ("lifetime bool", _create(lifetime_hours=True), LoomValidationError, "whole number"),
    ("tag key with colon", _create(tags={"bad:key": "v"}), LoomValidationError, "tag key"),
    ("tag value dict", _create(tags={"k": {"a": 1}}), LoomValidationError, "single-line"),
    ("tag value newline", _create(tags={"k": "a\nb"}), LoomValidationError, "single-line"),
    ("tag key control char", _create(tags={"k\x07": "v"}), LoomValidationError, "tag key"),
    ("tags a list", _create(tags=["k:v"]), LoomValidationError, "dict"),
    ("memory lots", _create(resources={"memory": "lots"}), LoomValidationError, "quantity"),
    ("memory negative", _create(resources={"memory": "-1Gi"}), LoomValidationError, "quantity"),
    ("gpu resource", _create(resources={"gpu": "1"}), LoomValidationError, "unknown key"),
    ("command a string", _create(command="echo hi"), LoomValidationError, "list of strings"),
    ("command with None", _create(command=["echo", None]), LoomValidationError, "list of strings"),
    ("env bad name", _create(env={"1BAD": "x"}), LoomValidationError, "environment variable"),
    ("env None value", _create(env={"OK": None}), LoomValidationError, "no value"),
    ("org not a uuid", _create(org_id="not-a-uuid"), BadRequestError, "HTTP 400"),
    ("org unknown", _create(org_id=UNKNOWN), LoomError, "HTTP 40"),
    ("image control char", _create(image="py\x1bthon"), BadRequestError, "HTTP 400"),
    ("get empty id", lambda c, w: c.weavers.get(""), LoomValidationError, "id"),
    ("get malformed id", lambda c, w: c.weavers.get("not-a-uuid"), BadRequestError, "HTTP 400"),
    ("get unknown id", lambda c, w: c.weavers.get(UNKNOWN), NotFoundError, "HTTP 404"),
    ("delete traversal id", lambda c, w: c.weavers.delete(f"x/../{w.weaver_id}"),
     LoomValidationError, "not allowed in an id"),
    ("delete dot-dot id", lambda c, w: c.weavers.delete(".."), LoomValidationError,
     "'..' segments"),  # refused before any request
    ("delete unknown id", lambda c, w: c.weavers.delete(UNKNOWN), NotFoundError, "HTTP 404"),
    ("logs negative tail", lambda c, w: list(c.weavers.logs(w.weaver_id, tail=-1)),
     LoomValidationError, "tail"),
    ("logs unknown id", lambda c, w: list(c.weavers.logs(UNKNOWN)), NotFoundError, "HTTP 404"),
    ("attach unknown id", lambda c, w: c.weavers.attach(UNKNOWN), LoomError, "404"),
    ("list bad filter", lambda c, w: c.weavers.list(tags="nocolon"), LoomValidationError,
     "key:value"),
    ("thread unknown", lambda c, w: c.threads.get("T-nope"), NotFoundError, "HTTP 404"),
    ("llm messages a string", lambda c, w: list(c.llm.stream("anthropic", "m", "hi")),
     LoomValidationError, "messages"),
    ("llm empty model", lambda c, w: list(c.llm.stream("anthropic", "", MESSAGES)),
     LoomValidationError, "model"),
    ("llm negative max_tokens", lambda c, w: c.llm.complete("anthropic", "m", MESSAGES,
                                                            max_tokens=-1), LoomError, "max_tokens"),
    ("llm unknown provider", lambda c, w: c.llm.complete("nope", "m", MESSAGES), NotFoundError,
     "HTTP 404"),
]


@pytest.mark.parametrize(("action", "error", "expected"), [r[1:] for r in CLIENT_ROWS],
                         ids=[r[0] for r in CLIENT_ROWS])
def test_client_bad_input(world, unchanged, action, error, expected):
    with Loom(url=world.server.url, api_key=world.key, max_retries=0) as client:
        with pytest.raises(error) as info:
            action(client, world)
    assert expected in one_line(str(info.value))
    assert world.key not in str(info.value)


# -- local server, raw ----------------------------------------------------------------------------

def _post(path: str, content: bytes, ctype: str = "application/json", **headers: str) -> Any:
    def send(w: World) -> httpx.Response:
        return httpx.post(w.url(path.replace("{org}", w.server.org_id)), content=content,
                          headers=w.headers(**{"Content-Type": ctype}, **headers), timeout=30)
    return send


def _admin_post(path: str, body: Any) -> Any:
    def send(w: World) -> httpx.Response:
        return httpx.post(w.url(path.replace("{org}", w.server.org_id)), json=body,
                          headers=w.server.headers(), timeout=30)
    return send


def _put_thread(body: bytes, **headers: str) -> Any:
    def send(w: World) -> httpx.Response:
        return httpx.put(w.url(f"/api/threads/{w.thread_id}"), content=body,
                         headers=w.headers(**{"Content-Type": "application/json"}, **headers),
                         timeout=30)
    return send


def _get(path: str) -> Any:
    return lambda w: httpx.get(w.url(path.replace("{weaver}", w.weaver_id)), headers=w.headers(),
                               timeout=30)


LLM = {"model": "m", "messages": MESSAGES, "tools": []}
LOCAL_ROWS = [
    ("invalid UTF-8 body", _post("/api/weaver", b'{"image": "\xff\xfe"}'), 400, "bad_request"),
    ("JSON nested 100k deep", _post("/api/weaver", NESTED), 400, "bad_request"),
    ("JSON null body", _post("/api/weaver", b"null"), 400, "bad_request"),
    ("JSON string body", _post("/api/weaver", b'"image"'), 400, "bad_request"),
    ("NaN lifetime", _post("/api/weaver", b'{"image": "x", "lifetime_hours": NaN}'), 400,
     "bad_request"),
    ("huge lifetime", _post("/api/weaver", b'{"image": "x", "lifetime_hours": 1e400}'), 400,
     "bad_request"),
    ("thread If-Match not a number", _put_thread(b"{}", **{"If-Match": "abc"}), 400, "bad_request"),
    ("thread body a list", _put_thread(b"[]"), 400, "bad_request"),
    ("thread messages wrong type", _put_thread(b'{"messages": "hi"}'), 400, "bad_request"),
    ("thread body too large", _put_thread(b'{"x": "' + b"a" * (11 * MIB) + b'"}'), 413,
     "payload_too_large"),
    ("llm temperature a string", _post("/proxy/anthropic/stream", json.dumps(
        {**LLM, "temperature": "hot"}).encode()), 400, "bad_request"),
    ("llm messages not a list", _post("/proxy/anthropic/complete", json.dumps(
        {**LLM, "messages": "hi"}).encode()), 400, "bad_request"),
    ("llm body too large", _post("/proxy/anthropic/stream", b'{"model": "' + b"m" * (11 * MIB)
                                 + b'"}'), 413, "payload_too_large"),
    ("llm form body", _post("/proxy/anthropic/stream", b"model=m",
                            "application/x-www-form-urlencoded"), 415, "unsupported_media_type"),
    ("key with role god", _admin_post("/api/orgs/{org}/api-keys", {"name": "x", "role": "god"}),
     400, None),
    ("key name control chars", _admin_post("/api/orgs/{org}/api-keys", {"name": "a\x00b\x1b"}),
     400, "invalid_name"),
    ("key scopes empty", _admin_post("/api/orgs/{org}/api-keys", {"name": "x", "scopes": []}),
     400, "invalid_scopes"),  # as Loom (loom-api.md §1.5); the README's example names scopes
    ("threads offset overflow", _get("/api/threads?offset=99999999999999999999999"), 400,
     "bad_request"),
    ("logs tail not a number", _get("/api/weaver/{weaver}/logs?tail=lots"), 400, "bad_request"),
    ("weaver id with NUL", _get("/api/weaver/a%00b"), 400, "bad_request"),
    ("tag filter control char", _get("/api/weavers?tag=a%01b"), 400, "bad_request"),
]


@pytest.mark.parametrize(("send", "status", "code"), [r[1:] for r in LOCAL_ROWS],
                         ids=[r[0] for r in LOCAL_ROWS])
def test_local_server_bad_input(world, unchanged, send, status, code):
    response = send(world)
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert (code is None or body["error"] == code) and one_line(body["message"])


def _attach(world: World) -> Any:
    url = world.url(f"/api/weaver/{world.weaver_id}/attach").replace("http://", "ws://")
    return ws_connect(url, additional_headers=world.headers(), open_timeout=10)


def _read_until(ws: Any, needle: bytes, seconds: float = 10) -> bytes:
    seen, deadline = b"", time.monotonic() + seconds
    while needle not in seen and time.monotonic() < deadline:
        try:
            frame = ws.recv(timeout=max(0.05, deadline - time.monotonic()))
        except TimeoutError:
            break
        seen += frame if isinstance(frame, bytes) else frame.encode()
    return seen


def test_terminal_text_frame_with_invalid_utf8_is_refused_and_the_weaver_lives(world, unchanged):
    with _attach(world) as ws:
        with ws.protocol_mutex:  # a text frame that is not UTF-8: what a browser never sends
            ws.protocol.send_text(b"echo \xff\xfe broken\n")
            ws.send_data()
        with pytest.raises(ConnectionClosed) as info:  # tornado fails it at once (1006, no frame)
            _read_until(ws, b"never")
        assert info.value.rcvd is None or info.value.rcvd.code == 1007
    with _attach(world) as ws:  # the weaver did not notice
        ws.send(b"echo alive-$((40+2))\n")
        assert b"alive-42" in _read_until(ws, b"alive-42")


def test_terminal_binary_frame_with_invalid_utf8_reaches_the_pty_as_bytes(world, unchanged):
    with _attach(world) as ws:
        ws.send(b"printf '%s\\n' \xff\xfe | od -An -tx1 | tr -d ' '\n")
        assert b"fffe0a" in _read_until(ws, b"fffe0a")


def test_session_socket_nested_json_is_an_auth_error_not_a_crash(world, unchanged):
    url = world.url("/api/ws/sessions/s1").replace("http://", "ws://")
    with ws_connect(url, open_timeout=10) as ws:
        ws.send("[" * 50_000 + "]" * 50_000)
        reply = json.loads(ws.recv(timeout=10))
        assert reply == {"type": "auth_error", "message": "invalid authentication message"}
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 4006
    assert "Traceback" not in world.server.log_text()


def test_local_server_logged_no_crash(world):
    assert "Traceback" not in world.server.log_text()
    assert "Uncaught exception" not in world.server.log_text()


# -- the server extension -----------------------------------------------------------------------

@pytest.fixture
def loom_target(world: World) -> LoomTarget:
    return LoomTarget(world.server.url, world.key)


EXTENSION_ROWS = [
    ("bad JSON relayed", "POST", "api/weaver", b"{not json", 400, "bad_request"),
    ("nested JSON relayed", "POST", "api/weaver", NESTED, 400, "bad_request"),
    ("huge body streamed to 413", "POST", "api/weaver", b"x" * (11 * MIB), 413,
     "payload_too_large"),
    ("unknown id relayed", "GET", f"api/weaver/{UNKNOWN}", None, 404, "weaver_not_found"),
    ("control char in id", "GET", "api/weaver/a%01b", None, 400, "bad_request"),
    ("invalid UTF-8 in id", "GET", "api/weaver/%ff%fe", None, 400, "bad_request"),
    ("bad escape in query", "GET", "api/weavers?tag=%zz", None, 400, "bad_request"),
    ("unknown route family", "GET", "bin/loom", None, 404, "not_found"),
    ("lifetime 49 relayed", "POST", "api/weaver",
     json.dumps({"image": IMAGE, "org_id": "{org}", "lifetime_hours": 49}).encode(), 400,
     "invalid_lifetime"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"),
                         [r[1:] for r in EXTENSION_ROWS], ids=[r[0] for r in EXTENSION_ROWS])
async def test_extension_bad_input(loom_proxy: LoomProxy, world, method, path, body, status, code):
    before = await asyncio.to_thread(state_of, world.server)
    if body is not None:
        body = body.replace(b"{org}", world.server.org_id.encode())
    if "%" in path:  # raw, so no client normalises the escapes away
        target = f"{loom_proxy.base_url}loom/{path}"
        got, data = await loom_proxy.raw(loom_proxy.raw_get(
            target, {"Authorization": f"token {loom_proxy.jupyter_token}"}, method))
        _, _, payload = data.partition(b"\r\n\r\n")
        text = payload.decode("utf-8", "replace")
    else:
        async with loom_proxy.client("kernel", timeout=30) as http:
            r = await http.request(method, path, content=body,
                                   headers={"Content-Type": "application/json"})
        got, text = r.status_code, r.text
    assert got == status, text[:300]
    answer = json.loads(text)
    assert answer["error"] == code and one_line(answer["message"])
    assert world.key not in text
    assert await asyncio.to_thread(state_of, world.server) == before


async def test_extension_terminal_invalid_utf8_text_frame_is_refused(loom_proxy: LoomProxy, world):
    from websockets.asyncio.client import connect

    url = loom_proxy.ws_url + f"api/weaver/{world.weaver_id}/attach"
    headers = loom_proxy.headers("jupyter")
    async with connect(url, additional_headers=headers, open_timeout=10) as ws:
        ws.protocol.send_text(b"echo \xff\n")
        ws.send_data()  # type: ignore[attr-defined]
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is None or info.value.rcvd.code == 1007
    async with connect(url, additional_headers=headers, open_timeout=10) as ws:
        await ws.send(b"echo ok-$((1+1))\n")
        seen = b""
        while b"ok-2" not in seen:
            frame = await asyncio.wait_for(ws.recv(), 10)
            seen += frame if isinstance(frame, bytes) else frame.encode()


def test_the_table_has_at_least_40_rows():
    rows = len(MAGIC_ROWS) + len(CLIENT_ROWS) + len(LOCAL_ROWS) + len(EXTENSION_ROWS)
    assert rows >= 40, rows
