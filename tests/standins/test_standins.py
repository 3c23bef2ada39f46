"""The stand-ins do what their docstrings say, checked over real loopback HTTP and WebSockets."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.fixtures.wait import wait_until
from tests.standins import LoomV1StandIn, NodeLoomStandIn, OpenLoomiStandIn, spawn
from tests.standins._jwt import unb64url

pytestmark = pytest.mark.timeout(60)


def claims(token: str) -> dict[str, Any]:
    return dict(json.loads(unb64url(token.split(".")[1])))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sse_events(resp: httpx.Response) -> Iterator[tuple[str | None, str, float]]:
    """(event, data, arrival time) for each SSE event of a streamed response."""
    event: str | None = None
    for line in resp.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, line[6:], time.monotonic()
            event = None


@pytest.fixture
def v1(v1_standin: LoomV1StandIn) -> Iterator[LoomV1StandIn]:
    v1_standin.reset()
    yield v1_standin
    v1_standin.reset()


@pytest.fixture
def v1_http(v1: LoomV1StandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{v1.url}/api/v1", headers=bearer(v1.login()), timeout=10) as c:
        yield c


@pytest.fixture
def loomi(openloomi_standin: OpenLoomiStandIn) -> Iterator[OpenLoomiStandIn]:
    openloomi_standin.reset()
    yield openloomi_standin
    openloomi_standin.reset()


@pytest.fixture
def node(nodeloom_standin: NodeLoomStandIn) -> Iterator[NodeLoomStandIn]:
    nodeloom_standin.reset()
    yield nodeloom_standin
    nodeloom_standin.reset()


def node_http(node: NodeLoomStandIn, role: str = "Admin") -> httpx.Client:
    return httpx.Client(base_url=f"{node.url}/api", headers=bearer(node.token(role)), timeout=10)


# -- loom-v1 ---------------------------------------------------------------------------------
def test_v1_login_gives_a_jwt_with_exp_and_wrong_password_is_401(v1: LoomV1StandIn) -> None:
    assert v1.credentials() == [{"username": v1.username, "password": v1.password}]
    ok = httpx.post(f"{v1.url}/api/v1/auth/login",
                    json={"username": "admin", "password": "loom-v1-admin-pass"})
    assert ok.status_code == 200
    token = ok.json()["token"]
    header = json.loads(unb64url(token.split(".")[0]))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims(token)["sub"] == "admin"
    assert 299 < claims(token)["exp"] - time.time() <= 300
    bad = httpx.post(f"{v1.url}/api/v1/auth/login", json={"username": "admin", "password": "no"})
    assert (bad.status_code, bad.json()) == (
        401, {"message": "Invalid username or password", "statusCode": 401})
    missing = httpx.post(f"{v1.url}/api/v1/auth/login", json={"username": "admin"})
    assert missing.status_code == 400 and missing.json()["statusCode"] == 400


def test_v1_routes_need_a_valid_unexpired_token(v1: LoomV1StandIn) -> None:
    url = f"{v1.url}/api/v1/assets"
    assert httpx.get(url).json() == {"message": "Authorization required", "statusCode": 401}
    forged = v1.login()[:-2] + "xx"
    assert httpx.get(url, headers=bearer(forged)).json()["message"] == "Invalid token"
    v1.configure(token_lifetime=0.4)
    short = v1.login()
    assert httpx.get(url, headers=bearer(short)).status_code == 200
    time.sleep(max(0.0, claims(short)["exp"] - time.time()) + 0.05)
    expired = httpx.get(url, headers=bearer(short))
    assert (expired.status_code, expired.json()) == (
        401, {"message": "Token expired", "statusCode": 401})
    v1.configure(token_lifetime=300)
    fresh = v1.login()
    assert httpx.get(url, headers=bearer(fresh)).status_code == 200
    v1.expire_tokens()
    assert httpx.get(url, headers=bearer(fresh)).json()["message"] == "Token expired"


def test_v1_pages_assets_and_errors_have_message_and_status(v1_http: httpx.Client) -> None:
    for i in range(30):
        assert v1_http.post("/assets", json={"name": f"a{i:02}.bin"}).status_code == 201
    first = v1_http.get("/assets").json()
    assert len(first["data"]) == 25
    assert first["_metainfo"] == {"currentPage": 1, "perPage": 25, "pageCount": 2, "totalCount": 33}
    page = v1_http.get("/assets", params={"page": 4, "perPage": 10}).json()
    assert [a["name"] for a in page["data"]] == ["a27.bin", "a28.bin", "a29.bin"]
    assert page["_metainfo"]["pageCount"] == 4
    assert v1_http.get("/assets", params={"page": 9}).json()["data"] == []
    bad = v1_http.get("/assets", params={"perPage": "lots"})
    assert bad.status_code == 400 and set(bad.json()) == {"message", "statusCode"}
    missing = v1_http.get("/assets/abc")
    assert (missing.status_code, missing.json()) == (
        404, {"message": "Cannot find asset with uuid 'abc'", "statusCode": 404})
    assert v1_http.post("/assets", json={}).json()["statusCode"] == 400
    assert v1_http.get("/users").json()["data"][0]["username"] == "admin"
    assert {t["name"] for t in v1_http.get("/tags").json()["data"]} == {"demo", "raw"}


def test_v1_binary_round_trip_with_sha512(v1_http: httpx.Client) -> None:
    data = os.urandom(300_000)
    asset = v1_http.post("/assets", json={"name": "blob.bin"}).json()
    assert (asset["size"], asset["sha512"], asset["tags"]) == (0, None, [])
    assert v1_http.get(f"/assets/{asset['uuid']}/binary").status_code == 404
    up = v1_http.post(f"/assets/{asset['uuid']}/binary", content=data,
                      headers={"Content-Type": "image/png"})
    assert up.status_code == 200
    assert up.json()["sha512"] == hashlib.sha512(data).hexdigest()
    assert (up.json()["size"], up.json()["mimeType"]) == (len(data), "image/png")
    down = v1_http.get(f"/assets/{asset['uuid']}/binary")
    assert down.content == data and down.headers["Content-Type"] == "image/png"
    by_hash = v1_http.get(f"/assets/sha512/{hashlib.sha512(data).hexdigest()}")
    assert by_hash.json()["uuid"] == asset["uuid"]
    multipart = v1_http.post(f"/assets/{asset['uuid']}/binary",
                             files={"file": ("x.txt", b"hi", "text/plain")})
    assert multipart.json()["sha512"] == hashlib.sha512(b"hi").hexdigest()
    assert v1_http.delete(f"/assets/{asset['uuid']}").status_code == 200
    assert v1_http.get(f"/assets/{asset['uuid']}").status_code == 404


def test_v1_user_created_with_a_password_can_log_in(v1: LoomV1StandIn,
                                                    v1_http: httpx.Client) -> None:
    user = v1_http.post("/users", json={"username": "bo", "password": "pw-bo"}).json()
    assert "password" not in user
    assert v1_http.post("/users", json={"username": "bo"}).status_code == 409
    login = httpx.post(f"{v1.url}/api/v1/auth/login", json={"username": "bo", "password": "pw-bo"})
    assert login.status_code == 200
    v1_http.post(f"/users/{user['uuid']}", json={"password": "pw-2"})
    again = httpx.post(f"{v1.url}/api/v1/auth/login", json={"username": "bo", "password": "pw-bo"})
    assert again.status_code == 401


def ws_url(v1: LoomV1StandIn) -> str:
    return v1.url.replace("http://", "ws://") + "/api/v1/pipelines/events/ws"


def test_v1_events_socket_needs_authorization_on_the_upgrade(v1: LoomV1StandIn) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(v1), open_timeout=5)
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body or b"")["statusCode"] == 401
    with pytest.raises(InvalidStatus) as forged:
        connect(ws_url(v1), open_timeout=5, additional_headers=bearer("a.b.c"))
    assert forged.value.response.status_code == 401


def test_v1_pipeline_run_emits_started_progress_finished(v1: LoomV1StandIn,
                                                         v1_http: httpx.Client) -> None:
    pipeline = v1_http.get("/pipelines").json()["data"][0]
    with connect(ws_url(v1), open_timeout=5, additional_headers=bearer(v1.login())) as ws:
        run = v1_http.post(f"/pipelines/{pipeline['uuid']}/run")
        assert run.status_code == 202 and run.json()["pipeline"] == pipeline["uuid"]
        events = [json.loads(ws.recv(timeout=5)) for _ in range(5)]
    assert [e["type"] for e in events] == ["pipeline.started", *["pipeline.progress"] * 3,
                                           "pipeline.finished"]
    assert {e["pipeline"] for e in events} == {pipeline["uuid"]}
    assert [e.get("progress") for e in events[1:4]] == [0.333, 0.667, 1.0]
    assert events[-1]["status"] == "success" and events[0]["timestamp"].endswith("Z")
    upgrade = next(r for r in v1.requests if r.path.endswith("/events/ws"))
    assert (upgrade.header("Authorization") or "").startswith("Bearer ey")


def test_v1_late_subscriber_gets_the_running_pipelines_earlier_events(
        v1: LoomV1StandIn, v1_http: httpx.Client) -> None:
    v1.configure(event_delay=0.5)
    failing = v1_http.post("/pipelines", json={"name": "broken", "steps": ["a"], "fail": True})
    v1_http.post(f"/pipelines/{failing.json()['uuid']}/run")
    wait_until(lambda: v1.call(lambda: any(r["events"] for r in v1.runs.values())), 5,
               "the run's first event")
    with connect(ws_url(v1), open_timeout=5, additional_headers=bearer(v1.login())) as ws:
        events = [json.loads(ws.recv(timeout=5)) for _ in range(3)]
    assert [e["type"] for e in events] == ["pipeline.started", "pipeline.progress",
                                           "pipeline.finished"]
    assert events[-1]["status"] == "failed"


def test_requests_are_recorded_with_every_header(v1: LoomV1StandIn) -> None:
    httpx.get(f"{v1.url}/api/v1/tags", headers={**bearer(v1.login()), "Cookie": "a=1",
                                                "X-Extra": "yes"})
    seen = v1.requests[-1]
    assert (seen.method, seen.path) == ("GET", "/api/v1/tags")
    assert seen.header("cookie") == "a=1" and seen.header("x-extra") == "yes"
    assert (seen.header("authorization") or "").startswith("Bearer ey")
    v1.reset()
    assert v1.requests == []
    assert "admin" not in repr(v1) and "pass" not in repr(v1)


# -- openloomi ---------------------------------------------------------------------------------
def test_openloomi_login_refresh_user_and_error_shape(loomi: OpenLoomiStandIn) -> None:
    base = f"{loomi.url}/api/remote-auth"
    login = httpx.post(f"{base}/login", json={"email": "user@example.com", "password": "password123"})
    assert login.status_code == 200
    body = login.json()
    assert set(body["user"]) == {"id", "email", "name"} and body["user"]["id"].startswith("user_")
    assert claims(body["token"])["email"] == "user@example.com"
    refreshed = httpx.post(f"{base}/refresh", headers=bearer(body["token"])).json()["token"]
    assert refreshed != body["token"]
    me = httpx.get(f"{base}/user", headers=bearer(refreshed))
    assert me.json() == body["user"]
    bad = httpx.post(f"{base}/login", json={"email": "user@example.com", "password": "x"})
    assert (bad.status_code, bad.json()) == (
        401, {"error": "Invalid email or password", "code": "invalid_credentials"})
    invalid = httpx.post(f"{base}/login", json={"email": "user@example.com"})
    assert invalid.status_code == 400
    assert invalid.json() == {"error": "Invalid request body", "code": "validation_error",
                              "cause": "password: Required"}
    assert httpx.get(f"{base}/user").json()["code"] == "unauthorized"
    assert httpx.get(f"{loomi.url}/api/nothing").json() == {"error": "Not Found",
                                                            "code": "not_found"}


def test_openloomi_expired_token_is_401_token_expired(loomi: OpenLoomiStandIn) -> None:
    loomi.configure(token_lifetime=0.3)
    token = loomi.login()
    url = f"{loomi.url}/api/remote-auth/user"
    assert httpx.get(url, headers=bearer(token)).status_code == 200
    time.sleep(max(0.0, claims(token)["exp"] - time.time()) + 0.05)
    expired = httpx.get(url, headers=bearer(token))
    assert (expired.status_code, expired.json()) == (
        401, {"error": "Token expired", "code": "token_expired"})
    assert httpx.post(f"{loomi.url}/api/remote-auth/refresh",
                      headers=bearer(token)).status_code == 401
    loomi.configure(token_lifetime=300)
    other = loomi.login()
    loomi.expire_tokens()
    assert httpx.get(url, headers=bearer(other)).json()["code"] == "token_expired"


def test_openloomi_token_file_holds_base64_of_a_working_jwt(loomi: OpenLoomiStandIn,
                                                            openloomi_token_file: Path) -> None:
    assert oct(openloomi_token_file.stat().st_mode & 0o777) == "0o600"
    token = base64.b64decode(openloomi_token_file.read_text().strip()).decode()
    assert token.count(".") == 2
    me = httpx.get(f"{loomi.url}/api/remote-auth/user", headers=bearer(token))
    assert me.json()["email"] == "user@example.com"


def test_openloomi_status_models_and_plain_completion(loomi: OpenLoomiStandIn) -> None:
    assert httpx.get(f"{loomi.url}/api/ai/chat").json() == {"status": "ok"}
    auth = bearer(loomi.login())
    assert httpx.get(f"{loomi.url}/api/ai/v1/models").status_code == 401
    models = httpx.get(f"{loomi.url}/api/ai/v1/models", headers=auth).json()
    assert models["object"] == "list"
    assert models["data"][0] == {"id": "openloomi-default", "object": "model",
                                 "owned_by": "openloomi"}
    plain = httpx.post(f"{loomi.url}/api/ai/v1/chat/completions", headers=auth, json={
        "model": "openloomi-fast", "messages": [{"role": "user", "content": "hi"}]}).json()
    assert plain["object"] == "chat.completion"
    assert plain["choices"][0]["message"]["content"] == (
        "Hello from the openloomi stand-in. You said: hi")
    unknown = httpx.post(f"{loomi.url}/api/ai/v1/chat/completions", headers=auth, json={
        "model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "model_not_found")
    empty = httpx.post(f"{loomi.url}/api/ai/chat", headers=auth, json={"messages": []})
    assert empty.status_code == 400 and empty.json()["code"] == "validation_error"


@pytest.mark.parametrize("path", ["/api/ai/v1/chat/completions", "/api/ai/chat"])
def test_openloomi_streams_openai_style_chunks(loomi: OpenLoomiStandIn, path: str) -> None:
    body = {"messages": [{"role": "user", "content": "stream me"}], "stream": True}
    with httpx.stream("POST", f"{loomi.url}{path}", json=body, headers=bearer(loomi.login()),
                      timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = list(sse_events(resp))
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data, _ in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Hello from the openloomi stand-in. You said: stream me"
    assert len(chunks) >= 8 and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert events[-1][2] - events[1][2] > 0.1  # chunks arrived over time, not in one piece


def test_a_client_leaving_mid_stream_is_recorded(loomi: OpenLoomiStandIn) -> None:
    loomi.configure(chunk_delay=0.05)
    body = {"messages": [{"role": "user", "content": "word " * 200}], "stream": True}
    with httpx.stream("POST", f"{loomi.url}/api/ai/chat", json=body,
                      headers=bearer(loomi.login()), timeout=10) as resp:
        next(sse_events(resp))
    wait_until(lambda: loomi.disconnects, 5, "the stand-in to see the client leave")
    assert loomi.disconnects == ["/api/ai/chat"]


# -- nodeloom ----------------------------------------------------------------------------------
def test_nodeloom_every_response_has_rate_limit_headers(node: NodeLoomStandIn) -> None:
    answers = [httpx.get(f"{node.url}/api/workflows", headers=bearer(node.token())),
               httpx.get(f"{node.url}/api/workflows"),
               httpx.get(f"{node.url}/api/nowhere", headers=bearer(node.token()))]
    assert [a.status_code for a in answers] == [200, 401, 404]
    for answer in answers:
        assert answer.headers["X-RateLimit-Limit"] == "1000"
        assert int(answer.headers["X-RateLimit-Reset"]) >= time.time()
    assert answers[0].headers["X-RateLimit-Remaining"] == "999"
    error = answers[1].json()
    assert set(error) == {"status", "error", "message", "timestamp", "path"}
    assert (error["status"], error["error"], error["path"]) == (401, "Unauthorized",
                                                                "/api/workflows")
    bad = httpx.get(f"{node.url}/api/teams", headers=bearer("sdk_nope")).json()
    assert bad["message"] == "Invalid or expired SDK token"


def test_nodeloom_429_until_the_reset_time(node: NodeLoomStandIn) -> None:
    node.configure(rate_limit=3, rate_window=1.0)
    with node_http(node, "Viewer") as http:
        codes = [http.get("/teams") for _ in range(4)]
        assert [c.status_code for c in codes] == [200, 200, 200, 429]
        assert [c.headers["X-RateLimit-Remaining"] for c in codes] == ["2", "1", "0", "0"]
        limited = codes[-1]
        assert limited.json()["status"] == 429 and limited.json()["error"] == "Too Many Requests"
        assert "Retry-After" not in limited.headers
        reset = int(limited.headers["X-RateLimit-Reset"])
        assert 0 < reset - time.time() <= 2
        with node_http(node, "Admin") as other:  # counted per token
            assert other.get("/teams").status_code == 200
        time.sleep(max(0.0, reset - time.time()) + 0.05)
        assert http.get("/teams").status_code == 200
        node.reset_rate_limits()
        assert http.get("/teams").headers["X-RateLimit-Remaining"] == "2"


def test_nodeloom_roles(node: NodeLoomStandIn) -> None:
    body = {"name": "new flow"}
    with node_http(node, "Viewer") as viewer:
        assert viewer.get("/workflows").status_code == 200
        denied = viewer.post("/workflows", json=body)
        assert denied.status_code == 403 and denied.json()["error"] == "Forbidden"
    with node_http(node, "Operator") as operator:
        assert operator.post("/workflows", json=body).status_code == 403
        flow = operator.get("/workflows").json()["content"][0]
        assert operator.post(f"/workflows/{flow['id']}/execute").status_code == 202
        assert operator.get("/sdk-tokens").status_code == 403
    with node_http(node, "Builder") as builder:
        assert builder.post("/workflows", json=body).status_code == 201
    with node_http(node, "Admin") as admin:
        made = admin.post("/sdk-tokens", json={"role": "Viewer"}).json()
    assert made["token"].startswith("sdk_")
    assert httpx.get(f"{node.url}/api/teams", headers=bearer(made["token"])).status_code == 200


def test_nodeloom_spring_pages_and_workflow_errors(node: NodeLoomStandIn) -> None:
    with node_http(node) as http:
        team = http.get("/teams").json()["content"][0]["id"]
        for i in range(23):
            assert http.post("/workflows", json={"name": f"w{i}", "teamId": team}).status_code == 201
        page = http.get("/workflows", params={"teamId": team, "page": 2, "size": 10}).json()
        assert {k: page[k] for k in ("totalElements", "totalPages", "number", "size")} == {
            "totalElements": 25, "totalPages": 3, "number": 2, "size": 10}
        assert [w["name"] for w in page["content"]] == ["w18", "w19", "w20", "w21", "w22"]
        assert len(http.get("/workflows").json()["content"]) == 20
        nameless = http.post("/workflows", json={"teamId": team})
        assert (nameless.status_code, nameless.json()["message"]) == (
            400, "Workflow name is required")
        assert http.post("/workflows", json={"name": "w1"}).status_code == 409
        assert http.get("/workflows", params={"teamId": "nope"}).status_code == 404
        assert http.get("/workflows", params={"size": 0}).status_code == 400
        assert http.delete(f"/workflows/{page['content'][0]['id']}").status_code == 204


def test_nodeloom_executions_run_finish_and_cancel(node: NodeLoomStandIn) -> None:
    with node_http(node) as http:
        flow = http.get("/workflows").json()["content"][0]
        started = http.post(f"/workflows/{flow['id']}/execute", json={"input": {"n": 1}}).json()
        assert started["status"] == "RUNNING"
        done = wait_until(lambda: http.get(f"/executions/{started['id']}").json(), 5,
                          "the execution to finish", until=lambda e: e["status"] != "RUNNING")
        assert done["status"] == "SUCCESS" and done["output"]["input"] == {"n": 1}
        assert http.post(f"/executions/{started['id']}/cancel").status_code == 409
        node.configure(execution_time=30)
        slow = http.post(f"/workflows/{flow['id']}/execute").json()
        cancelled = http.post(f"/executions/{slow['id']}/cancel")
        assert cancelled.json()["status"] == "CANCELLED"
        listed = http.get("/executions", params={"workflowId": flow["id"]}).json()
        assert [e["id"] for e in listed["content"]] == [slow["id"], started["id"]]


def test_nodeloom_agent_chat_streams_tokens_then_done(node: NodeLoomStandIn) -> None:
    with node_http(node, "Operator") as http:
        agent = http.get("/agents").json()["content"][0]
        session = http.post(f"/agents/{agent['id']}/sessions")
        assert session.status_code == 201
        url = f"/agents/{agent['id']}/sessions/{session.json()['id']}/messages"
        said = "hello there, tell me about the weather today"
        with http.stream("POST", url, json={"content": said, "stream": True}) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            assert "X-RateLimit-Remaining" in resp.headers
            events = list(sse_events(resp))
        assert [e for e, _, _ in events[:-1]] == ["token"] * (len(events) - 1)
        assert events[-1][0] == "done" and "messageId" in json.loads(events[-1][1])
        text = "".join(json.loads(d)["content"] for _, d, _ in events[:-1])
        assert text == f"{agent['name']} here. You said: {said}"
        assert events[-1][2] - events[0][2] > 0.15  # 11 chunks 0.02 s apart, not one piece
        plain = http.post(url, json={"content": "again"}).json()
        assert plain["content"] == f"{agent['name']} here. You said: again"
        assert http.get(url).json()["totalElements"] == 4
        assert http.post(url, json={}).json()["message"] == "content is required"


# -- as processes ------------------------------------------------------------------------------
def test_cli_serves_and_prints_url_and_credentials(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    child = spawn("openloomi", "--users", "a@b.c:pw:with:colons", "--token-file", str(token_file))
    try:
        assert child.credentials == [{"email": "a@b.c", "password": "pw:with:colons"}]
        assert child.info["token_file"] == str(token_file)
        token = base64.b64decode(token_file.read_text()).decode()
        me = httpx.get(f"{child.url}/api/remote-auth/user", headers=bearer(token), timeout=5)
        assert me.json()["email"] == "a@b.c"
        assert "pw:with" not in repr(child)
    finally:
        child.stop()
    assert child.process.returncode == 0


# -- from async tests (pytest-asyncio gives each test its own loop) -----------------------------
async def test_usable_from_async_tests(v1: LoomV1StandIn, loomi: OpenLoomiStandIn) -> None:
    from websockets.asyncio.client import connect as aconnect

    async with httpx.AsyncClient(headers=bearer(loomi.login()), timeout=10) as http:
        body = {"messages": [{"role": "user", "content": "async"}], "stream": True}
        async with http.stream("POST", f"{loomi.url}/api/ai/chat", json=body) as resp:
            lines = [line async for line in resp.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) > 5
    auth = bearer(v1.login())
    async with aconnect(ws_url(v1), additional_headers=auth, open_timeout=5) as ws:
        async with httpx.AsyncClient(headers=auth, timeout=10) as http:
            pipeline = (await http.get(f"{v1.url}/api/v1/pipelines")).json()["data"][0]
            await http.post(f"{v1.url}/api/v1/pipelines/{pipeline['uuid']}/run")
        first = json.loads(await ws.recv())
    assert first["type"] == "pipeline.started"
