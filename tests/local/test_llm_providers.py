"""LLM proxy forwarding to loopback stand-ins of Anthropic and OpenAI, and error translation."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.fixtures.loom_server import LocalLoom, running_local_loom
from tests.fixtures.wait import async_wait_until
from tests.local.llm_standin import StandIn

ANTHROPIC_KEY = "sk-ant-test-" + secrets.token_hex(16)
OPENAI_KEY = "sk-proj-test-" + secrets.token_hex(16)
KEYS = (ANTHROPIC_KEY, OPENAI_KEY)
PROVIDERS = ["anthropic", "openai"]
TOOLS = [{"name": "read_file", "description": "Read a file", "input_schema": {"type": "object"}}]
CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Read the hostname."},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call_9", "tool_name": "read_file", "arguments_json": {"path": "/etc/hostname"}}
        ],
    },
    {"role": "tool", "content": "box", "tool_call_id": "call_9", "name": "read_file"},
    {"role": "user", "content": "Thanks."},
]


async def apost(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=15) as client:
        return await client.post(url, **kwargs)


async def aget(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=15) as client:
        return await client.get(url, **kwargs)


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    server = StandIn(ANTHROPIC_KEY, OPENAI_KEY).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def loom(standin: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLoom]:
    env = {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": standin.url,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": standin.url + "/openai/v1",
        "LOOM_LOCAL_LLM_TIMEOUT": "1",  # the `stall` model answers after 3 s
    }
    with running_local_loom(tmp_path_factory.mktemp("forwarding") / "data", env=env) as server:
        yield server


def assert_no_key(text: str) -> None:
    for key in KEYS:
        assert key not in text
        assert key[-12:] not in text


def body(model: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello."}],
        "tools": [],
        **extra,
    }


async def post_stream(
    loom: LocalLoom, provider: str, payload: dict[str, Any]
) -> tuple[int, str, list[dict]]:
    """(status, raw body when not a stream, llm events when a stream)."""
    async with (
        httpx.AsyncClient(timeout=15) as client,
        aconnect_sse(
            client,
            "POST",
            f"{loom.url}/proxy/{provider}/stream",
            json=payload,
            headers=loom.headers(),
        ) as source,
    ):
        response = source.response
        if not response.headers["content-type"].startswith("text/event-stream"):
            raw = (await response.aread()).decode()
            assert_no_key(raw)
            return response.status_code, raw, []
        events = []
        async for sse in source.aiter_sse():
            assert sse.event == "llm"
            assert_no_key(sse.data)
            events.append(json.loads(sse.data))
        return response.status_code, "", events


@pytest.mark.parametrize(
    ("provider", "usage", "finish"),
    [("anthropic", (11, 6), "end_turn"), ("openai", (9, 6), "stop")],
)
async def test_forwarded_text_is_translated(loom, standin, provider, usage, finish):
    status, _, events = await post_stream(loom, provider, body("text-model"))
    assert status == 200
    assert [e["type"] for e in events] == ["text_delta"] * 6 + ["completed"]
    text = "".join(e["content"] for e in events[:-1])
    assert text == "Hello from the stand-in."
    assert events[-1]["response"] == {
        "message": {"role": "assistant", "content": text},
        "tool_calls": [],
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        "finish_reason": finish,
    }
    seen = standin.requests[-1]
    assert seen["protocol"] == provider and seen["body"]["stream"] is True
    assert seen["body"]["model"] == "text-model"


async def test_anthropic_request_translation(loom, standin):
    payload = {
        "model": "tool",
        "messages": CONVERSATION,
        "tools": TOOLS,
        "temperature": 0.5,
        "system": "Answer in English.",
    }
    status, _, _ = await post_stream(loom, "anthropic", payload)
    assert status == 200
    seen = standin.requests[-1]
    assert seen["headers"]["X-Api-Key"] == ANTHROPIC_KEY
    assert seen["headers"]["Anthropic-Version"] == "2023-06-01"
    sent = seen["body"]
    assert sent["system"] == "Answer in English.\n\nYou are terse."
    assert sent["max_tokens"] == 4096 and sent["temperature"] == 0.5
    assert sent["tools"] == TOOLS
    assert sent["messages"] == [
        {"role": "user", "content": "Read the hostname."},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_9",
                    "name": "read_file",
                    "input": {"path": "/etc/hostname"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_9", "content": "box"}],
        },
        {"role": "user", "content": "Thanks."},
    ]


async def test_openai_request_translation(loom, standin):
    payload = {"model": "tool", "messages": CONVERSATION, "tools": TOOLS, "max_tokens": 99}
    status, _, _ = await post_stream(loom, "openai", payload)
    assert status == 200
    seen = standin.requests[-1]
    assert seen["headers"]["Authorization"] == f"Bearer {OPENAI_KEY}"
    sent = seen["body"]
    assert sent["max_tokens"] == 99 and "temperature" not in sent
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file",
                "parameters": {"type": "object"},
            },
        }
    ]
    assert sent["messages"][2]["tool_calls"] == [
        {
            "id": "call_9",
            "type": "function",
            "function": {"name": "read_file", "arguments": json.dumps({"path": "/etc/hostname"})},
        }
    ]
    assert sent["messages"][3] == {"role": "tool", "content": "box", "tool_call_id": "call_9"}
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool", "user"]


@pytest.mark.parametrize(
    ("provider", "call_id", "finish"),
    [("anthropic", "toolu_01", "tool_use"), ("openai", "call_1", "tool_calls")],
)
async def test_forwarded_tool_call(loom, provider, call_id, finish):
    status, _, events = await post_stream(loom, provider, body("tool", tools=TOOLS))
    assert status == 200
    calls = [e for e in events if e["type"] == "tool_call_delta"]
    assert len(calls) == 3
    assert {(e["call_id"], e["tool_name"]) for e in calls} == {(call_id, "read_file")}
    assert json.loads("".join(e["arguments_fragment"] for e in calls)) == {"path": "/etc/hostname"}
    reply = events[-1]["response"]
    assert reply["message"]["content"] == "Let me look."
    assert reply["tool_calls"] == [
        {"id": call_id, "tool_name": "read_file", "arguments_json": {"path": "/etc/hostname"}}
    ]
    assert reply["finish_reason"] == finish


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forwarded_complete(loom, provider):
    response = httpx.post(
        f"{loom.url}/proxy/{provider}/complete",
        json=body("text"),
        headers=loom.headers(),
        timeout=15,
    )
    assert response.status_code == 200
    assert response.json()["message"]["content"] == "Hello from the stand-in."


UPSTREAM_FAILURES = [
    ("fail-500", 502, "upstream_error", "API error: HTTP 500: Internal server error"),
    ("rate-429", 503, "rate_limited", "LLM rate limited; retry after 7 seconds"),
    ("echo-key", 502, "upstream_error", "API error: HTTP 401: Incorrect API key provided: ***"),
    ("stall", 504, "upstream_timeout", "LLM request timed out"),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("model", "status", "code", "message"), UPSTREAM_FAILURES, ids=[f[0] for f in UPSTREAM_FAILURES]
)
async def test_upstream_failure_before_stream(loom, provider, model, status, code, message):
    got_status, raw, events = await post_stream(loom, provider, body(model))
    assert (got_status, events) == (status, [])
    assert json.loads(raw) == {"error": code, "message": message}
    if model != "stall":  # /complete reports the same error
        response = await apost(
            f"{loom.url}/proxy/{provider}/complete", json=body(model), headers=loom.headers()
        )
        assert (response.status_code, response.json()) == (
            status,
            {"error": code, "message": message},
        )
        assert_no_key(response.text)


MIDSTREAM = [
    (
        "cut",
        {
            "anthropic": "HTTP error: upstream stream broke",
            "openai": "HTTP error: upstream stream broke",
        },
    ),
    (
        "error-event",
        {
            "anthropic": "API error: overloaded_error: Overloaded",
            "openai": "API error: The server had an error",
        },
    ),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("model", "messages"), MIDSTREAM, ids=[m[0] for m in MIDSTREAM])
async def test_upstream_failure_mid_stream(loom, provider, model, messages):
    status, _, events = await post_stream(loom, provider, body(model))
    assert status == 200
    assert [e["type"] for e in events] == ["text_delta", "text_delta", "error"]
    assert events[-1]["message"].startswith(messages[provider])
    response = await apost(
        f"{loom.url}/proxy/{provider}/complete", json=body(model), headers=loom.headers()
    )
    assert response.status_code == 502 and response.json()["error"] == "upstream_error"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_client_disconnect_stops_the_upstream(loom, standin, provider):
    before = standin.disconnects.count(provider)
    async with (
        httpx.AsyncClient(timeout=15) as client,
        aconnect_sse(
            client,
            "POST",
            f"{loom.url}/proxy/{provider}/stream",
            json=body("slow"),
            headers=loom.headers(),
        ) as source,
    ):
        received = 0
        async for _ in source.aiter_sse():
            received += 1
            if received == 3:
                break
    # The stand-in streams for 10 s unless its client goes away.
    count = await async_wait_until(lambda: standin.disconnects.count(provider), 5,
                                   f"{provider} upstream to see its client go away",
                                   until=lambda n: n != before)
    assert count == before + 1


async def test_vertex_stays_offline_with_keys_set(loom, standin):
    count = len(standin.requests)
    status, _, events = await post_stream(loom, "vertex", body("gemini"))
    assert status == 200
    assert events[-1]["response"]["message"]["content"].startswith("[offline]")
    assert len(standin.requests) == count


async def test_provider_keys_never_logged(loom):
    for model in ("echo-key", "fail-500", "cut"):
        await post_stream(loom, "openai", body(model))
    health = await aget(f"{loom.url}/health")
    openapi = await aget(f"{loom.url}/api/openapi.json", headers=loom.headers())
    for text in (health.text, openapi.text, loom.log_path.read_text(errors="replace")):
        assert_no_key(text)
