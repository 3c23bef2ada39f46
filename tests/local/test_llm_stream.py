"""LLM proxy without provider keys: offline responder framing, `/complete`, validation, auth."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

PROVIDERS = ["anthropic", "openai", "vertex"]
QUESTION = "What is the capital of France, please?"


async def apost(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=15) as client:
        return await client.post(url, **kwargs)


async def aget(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=15) as client:
        return await client.get(url, **kwargs)


def chat(text: str = QUESTION, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-test",
        "messages": [{"role": "user", "content": text}],
        "tools": [],
    }
    body.update(extra)
    return body


async def stream_events(
    url: str, headers: dict[str, str], body: Any
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    """All `event: llm` payloads of one `/stream` call (asserting the event name on each)."""
    async with (
        httpx.AsyncClient(timeout=15) as client,
        aconnect_sse(client, "POST", url, json=body, headers=headers) as source,
    ):
        events = []
        async for sse in source.aiter_sse():
            assert sse.event == "llm"
            events.append(json.loads(sse.data))
        return source.response, events


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_offline_stream_framing(loom_server, provider):
    url = f"{loom_server.url}/proxy/{provider}/stream"
    response, events = await stream_events(url, loom_server.headers(), chat())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    deltas = [e for e in events if e["type"] == "text_delta"]
    assert len(deltas) >= 5, "the offline responder must stream in several chunks"
    assert [e["type"] for e in events] == ["text_delta"] * len(deltas) + ["completed"]
    reply = events[-1]["response"]
    text = "".join(d["content"] for d in deltas)
    assert reply["message"] == {"role": "assistant", "content": text}
    assert text.startswith("[offline]")
    assert f'You said (7 words): "{QUESTION}"' in text
    assert reply["tool_calls"] == []
    assert reply["finish_reason"] == "end_turn"
    assert reply["usage"] == {"input_tokens": 7, "output_tokens": len(deltas)}


@pytest.mark.parametrize(
    ("provider", "hint"), [("anthropic", "ANTHROPIC_API_KEY"), ("openai", "OPENAI_API_KEY")]
)
async def test_offline_reply_says_how_to_configure_a_key(loom_server, provider, hint):
    response = await apost(
        f"{loom_server.url}/proxy/{provider}/complete", json=chat(), headers=loom_server.headers()
    )
    assert response.status_code == 200
    text = response.json()["message"]["content"]
    assert "no " + provider + " provider key is configured" in text
    assert hint in text


async def test_complete_matches_stream(loom_server):
    long_text = "word " * 40
    body = chat(long_text, system="Be brief.")
    _, events = await stream_events(
        f"{loom_server.url}/proxy/openai/stream", loom_server.headers(), body
    )
    response = await apost(
        f"{loom_server.url}/proxy/openai/complete", json=body, headers=loom_server.headers()
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == events[-1]["response"]
    content = response.json()["message"]["content"]
    assert "(40 words)" in content and content.endswith('…"'), "long input is quoted shortened"
    assert response.json()["usage"]["input_tokens"] == 42  # 40 words + the system prompt


async def test_offline_without_user_message(loom_server):
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": "hi"}],
    }  # tools left out: allowed locally
    response = await apost(
        f"{loom_server.url}/proxy/anthropic/complete", json=body, headers=loom_server.headers()
    )
    assert response.status_code == 200
    assert "no user message" in response.json()["message"]["content"]


async def test_offline_tool_call_only_when_asked(loom_server):
    tools = [
        {"name": "read_file", "description": "Read a file", "input_schema": {"type": "object"}}
    ]
    url = f"{loom_server.url}/proxy/anthropic/stream"
    asked = chat('Please call tool read_file with {"path": "/etc/hostname"}', tools=tools)
    _, events = await stream_events(url, loom_server.headers(), asked)
    calls = [e for e in events if e["type"] == "tool_call_delta"]
    assert len(calls) >= 2, "tool arguments arrive as several fragments"
    assert {(e["call_id"], e["tool_name"]) for e in calls} == {("call_offline_1", "read_file")}
    assert json.loads("".join(e["arguments_fragment"] for e in calls)) == {"path": "/etc/hostname"}
    reply = events[-1]["response"]
    assert reply["tool_calls"] == [
        {
            "id": "call_offline_1",
            "tool_name": "read_file",
            "arguments_json": {"path": "/etc/hostname"},
        }
    ]
    assert reply["finish_reason"] == "tool_use"
    for body in (
        chat("call tool read_file"),
        chat("call tool write_file", tools=tools),
        chat("hello", tools=tools),
    ):
        _, events = await stream_events(url, loom_server.headers(), body)
        assert [e for e in events if e["type"] == "tool_call_delta"] == []
        assert events[-1]["response"]["finish_reason"] == "end_turn"


BAD_BODIES = [
    ("not json", b"{nope", "valid JSON"),
    ("array", b"[]", "JSON object"),
    ("missing model", {"messages": []}, "'model'"),
    ("empty model", {"model": " ", "messages": []}, "'model'"),
    ("model not string", {"model": 3, "messages": []}, "'model'"),
    ("missing messages", {"model": "m"}, "'messages'"),
    ("messages not list", {"model": "m", "messages": {"role": "user"}}, "'messages'"),
    ("message not object", {"model": "m", "messages": ["hi"]}, "'messages[0]'"),
    (
        "bad role",
        {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
        "'messages[0].role'",
    ),
    (
        "content not string",
        {"model": "m", "messages": [{"role": "user", "content": 5}]},
        "'messages[0].content'",
    ),
    (
        "tool_call_id not string",
        {"model": "m", "messages": [{"role": "tool", "content": "", "tool_call_id": 1}]},
        "'messages[0].tool_call_id'",
    ),
    ("tools not list", {"model": "m", "messages": [], "tools": "read_file"}, "'tools'"),
    (
        "tool without name",
        {"model": "m", "messages": [], "tools": [{"description": "x"}]},
        "'tools[0].name'",
    ),
    (
        "tool schema not object",
        {"model": "m", "messages": [], "tools": [{"name": "a", "input_schema": []}]},
        "'tools[0].input_schema'",
    ),
    ("max_tokens string", {"model": "m", "messages": [], "max_tokens": "10"}, "'max_tokens'"),
    ("max_tokens bool", {"model": "m", "messages": [], "max_tokens": True}, "'max_tokens'"),
    ("max_tokens zero", {"model": "m", "messages": [], "max_tokens": 0}, "'max_tokens'"),
    ("temperature string", {"model": "m", "messages": [], "temperature": "hot"}, "'temperature'"),
    ("temperature negative", {"model": "m", "messages": [], "temperature": -1}, "'temperature'"),
    ("system not string", {"model": "m", "messages": [], "system": ["a"]}, "'system'"),
]


@pytest.mark.parametrize("endpoint", ["stream", "complete"])
@pytest.mark.parametrize(("case", "body", "says"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_bodies_are_400_json(loom_server, endpoint, case, body, says):
    url = f"{loom_server.url}/proxy/openai/{endpoint}"
    headers = {**loom_server.headers(), "Content-Type": "application/json"}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(url, content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "bad_request"
    assert says in response.json()["message"]


@pytest.mark.parametrize("endpoint", ["stream", "complete"])
@pytest.mark.parametrize("auth", [None, "Bearer lk_" + "0" * 64, "Basic abc"])
def test_unauthenticated_is_401(loom_server, endpoint, auth):
    headers = {"Authorization": auth} if auth else {}
    response = httpx.post(
        f"{loom_server.url}/proxy/anthropic/{endpoint}", json=chat(), headers=headers
    )
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "Authentication required"}


def test_any_role_may_use_the_proxy(loom_server):
    key = loom_server.make_key(role="support")
    response = httpx.post(
        f"{loom_server.url}/proxy/vertex/complete", json=chat(), headers=loom_server.headers(key)
    )
    assert response.status_code == 200
    assert response.json()["message"]["content"].startswith("[offline]")


def test_unknown_provider_is_404_json(loom_server):
    response = httpx.post(
        f"{loom_server.url}/proxy/zai/stream", json=chat(), headers=loom_server.headers()
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_rate_limit_mode_every_third_request(loom_server_factory):
    server = loom_server_factory(extra_args=["--llm-rate-limit-every", "3"])
    headers = server.headers()
    statuses = []
    async with httpx.AsyncClient(timeout=15) as client:
        for endpoint in ["complete", "stream", "stream", "complete", "complete", "complete"]:
            bad = await client.post(
                f"{server.url}/proxy/openai/{endpoint}", json={"model": 1}, headers=headers
            )
            assert bad.status_code == 400, "invalid bodies do not use up the count"
            response = await client.post(
                f"{server.url}/proxy/openai/{endpoint}", json=chat(), headers=headers
            )
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert response.headers["content-type"].startswith("application/json"), (
                    "no stream started"
                )
                assert response.json() == {
                    "error": "rate_limited",
                    "message": "LLM rate limited; retry after 2 seconds",
                }
            else:
                assert "[offline]" in response.text
    assert statuses == [200, 200, 503, 200, 200, 503]
