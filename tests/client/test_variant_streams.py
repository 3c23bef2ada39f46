"""LLM SSE variants (§5.5, §10.7), thread variants (§10.13) and attach WebSocket variants (§10.9)."""
from __future__ import annotations

import pytest

from loom_jupyter.client import (
    AuthenticationError,
    Completed,
    ConflictError,
    ErrorEvent,
    Loom,
    StreamError,
    TextDelta,
    Thread,
    ToolCallDelta,
    UnknownEvent,
)
from tests.client.variant_app import KEY

MESSAGES = [{"role": "user", "content": "hi"}]


def test_llm_named_events(variants, variant):
    events = list(variant("llm-named").llm.stream("anthropic", "claude", MESSAGES, system="be brief"))
    assert [type(e) for e in events] == [TextDelta, TextDelta, ToolCallDelta, Completed]
    assert events[2].arguments_fragment == '{"path":'
    assert events[-1].response.text == "Hello" and events[-1].response.usage.output_tokens == 2
    body = variants.state["llm-named:bodies"][-1]
    assert body["tools"] == [] and body["messages"][0] == {"role": "system", "content": "be brief"}


def test_llm_unnamed_events_and_unknown_types_pass_through(variant):
    events = list(variant("llm-unnamed").llm.stream("llm", "m", MESSAGES))
    assert [type(e).__name__ for e in events] == ["TextDelta", "UnknownEvent", "TextDelta", "Completed"]
    assert events[1].type == "server_query" and events[1].data["id"] == "Q-1"


def test_llm_other_event_names_and_comments_are_skipped(variant):
    events = list(variant("llm-other-events").llm.stream("anthropic", "m", MESSAGES))
    assert "".join(e.content for e in events if isinstance(e, TextDelta)) == "Hello"


def test_llm_truncated_stream_keeps_partial_text(variant):
    seen = []
    with pytest.raises(StreamError) as info:
        for event in variant("llm-truncated").llm.stream("anthropic", "m", MESSAGES):
            seen.append(event)
    assert info.value.partial_text == "Hello"
    assert len(seen) == 2


def test_llm_midstream_rate_limit_error_is_an_event(variant):
    events = list(variant("llm-error").llm.stream("anthropic", "m", MESSAGES))
    assert isinstance(events[-1], ErrorEvent)
    assert "Some(30)" in events[-1].message


async def test_llm_stream_async(avariant):
    async with avariant("llm-named") as client:
        events = [e async for e in client.llm.stream("anthropic", "claude", MESSAGES)]
    assert isinstance(events[-1], Completed)


def test_thread_list_as_bare_array(variant):
    page = variant("bare").threads.list()
    assert [t.id for t in page.threads] == ["T-1", "T-2"] and page.total == 2
    assert [t.id for t in variant("bare").threads.iter_all()] == ["T-1", "T-2"]


def test_conflict_carries_both_versions(variants, variant):
    thread = Thread.model_validate({"id": "T-1", "version": 5, "extra_field": {"kept": True}})
    with pytest.raises(ConflictError) as info:
        variant("conflict").threads.put(thread)
    assert (info.value.server_version, info.value.client_version) == (6, 5)


def test_attach_error_frame_raises(variant):
    with pytest.raises(StreamError, match="not running"):
        variant("ws-error").weavers.attach("w1")


def test_attach_read_only_notice(variant):
    with variant("ws-ro").weavers.attach("w1") as term:
        assert term.read_only
        assert b"Read-only access" in term.recv(timeout=2)
        assert term.recv(timeout=2) == b"$ "


def test_attach_sends_the_key_in_the_handshake_and_relays_bytes(variants, variant):
    with variant("ws-echo").weavers.attach("w1") as term:
        assert not term.read_only
        assert term.recv(timeout=2) == b"$ "
        term.send("ls\n")
        assert term.recv(timeout=2) == b"echo:ls\n"
        assert term.recv(timeout=2) == b"text-frame"  # text frames arrive as bytes too
        term.send(b"exit\n")
        assert list(term) == []
        assert term.recv() is None
    assert variants.state["ws_auth"][-1] == f"Bearer {KEY}"


def test_attach_without_credential_is_authentication_error(variants):
    with Loom(f"{variants.url}/ws-echo", "lk_wrong") as client:
        with pytest.raises(AuthenticationError):
            client.weavers.attach("w1")


async def test_attach_async(avariant):
    async with avariant("ws-echo") as client:
        term = await client.weavers.attach("w1")
        async with term:
            assert await term.recv(timeout=2) == b"$ "
            await term.send(b"pwd\n")
            assert await term.recv(timeout=2) == b"echo:pwd\n"
            assert await term.recv(timeout=0.05) in (b"text-frame", b"")


@pytest.mark.parametrize(
    ("reply", "ok"),
    [({"type": "auth_ok", "user_id": "u1"}, True),
     ({"type": "auth_success", "success": True, "user_id": "u1"}, True),
     ({"type": "auth_error", "message": "invalid token"}, False),
     ({"type": "auth_error", "success": False, "error": "invalid token"}, False)],
)
def test_session_auth_replies(reply, ok):
    from loom_jupyter.client._ws import check_auth_reply

    if ok:
        assert check_auth_reply(reply) == "u1"
    else:
        with pytest.raises(AuthenticationError, match="invalid token"):
            check_auth_reply(reply)


def test_unknown_event_model_is_exported():
    assert UnknownEvent(type="x").data is None
