"""The SDK against the real embedded local Loom server over loopback (tests/fixtures/loom_server.py)."""
from __future__ import annotations

import threading

import pytest

from loom_jupyter.client import (
    AsyncLoom,
    AuthenticationError,
    Completed,
    ConflictError,
    Loom,
    NotFoundError,
    PermissionDeniedError,
    TextDelta,
)
from tests.fixtures.wait import read_until, wait_until

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def admin(loom_server):
    with Loom(loom_server.url, loom_server.admin_key, timeout=10) as client:
        yield client


@pytest.fixture
def user(loom_server):
    with Loom(loom_server.url, loom_server.make_key("user"), timeout=10) as client:
        yield client


def test_health_me_orgs(loom_server, admin):
    assert admin.health().ok
    me = admin.me()
    assert "system_admin" in me.global_roles
    orgs = admin.orgs()
    assert loom_server.org_id in [o.id for o in orgs]
    assert admin.default_org_id() == loom_server.org_id


def test_wrong_key_is_authentication_error(loom_server):
    with Loom(loom_server.url, "lk_" + "0" * 64) as client:
        with pytest.raises(AuthenticationError) as info:
            client.me()
    assert "0" * 64 not in str(info.value)


def test_ws_token(admin):
    token = admin.auth.ws_token()
    assert token.token.startswith("ws_") and token.expires_in == 30
    assert token.token not in repr(token)


def _thread(thread_id: str) -> dict:
    return {"id": thread_id, "version": 1, "created_at": "2025-01-01T00:00:00+00:00",
            "updated_at": "2025-01-01T00:00:00+00:00", "last_activity_at": "2025-01-01T00:00:00+00:00",
            "workspace_root": "/tmp/ws", "conversation": {"messages": [{"role": "user", "content": "hi"}]},
            "metadata": {"title": "client test", "tags": [], "is_pinned": False, "extra": {}},
            "visibility": "organization", "future_field": {"kept": [1, 2]}}


def test_threads_roundtrip_and_real_conflict(loom_server, user):
    import uuid

    from loom_jupyter.client import Thread

    thread_id = f"T-{uuid.uuid4()}"
    created = user.threads.put(Thread.model_validate(_thread(thread_id)), expected_version=0)
    assert created.version == 1
    fetched = user.threads.get(thread_id)
    assert fetched.model_extra.get("future_field") == {"kept": [1, 2]}
    saved = user.threads.put(fetched)
    assert saved.version == fetched.version + 1
    with pytest.raises(ConflictError) as info:
        user.threads.put(fetched)  # stale: someone (we) saved since
    assert info.value.server_version == saved.version
    assert info.value.client_version == fetched.version
    page = user.threads.list(limit=50)
    assert thread_id in [t.id for t in page.threads]
    assert thread_id in [t.id for t in user.threads.iter_all(limit=1)]
    assert thread_id in [h.id for h in user.threads.search("client test")]
    user.threads.delete(thread_id)
    with pytest.raises(NotFoundError):
        user.threads.get(thread_id)


def test_llm_stream_and_complete_offline(user):
    events = list(user.llm.stream("anthropic", "claude-test", MESSAGES))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and isinstance(events[-1], Completed)
    text = "".join(d.content for d in deltas)
    assert text.startswith("[offline]") and events[-1].response.text == text
    completion = user.llm.complete("anthropic", "claude-test", MESSAGES)
    assert completion.text.startswith("[offline]")


async def test_async_client_against_local_server(loom_server):
    async with AsyncLoom(loom_server.url, loom_server.admin_key, timeout=10) as client:
        assert (await client.health()).ok
        assert await client.default_org_id() == loom_server.org_id
        events = [e async for e in client.llm.stream("openai", "gpt-test", MESSAGES)]
        assert isinstance(events[-1], Completed)


SCRIPT = "for i in 1 2 3; do echo line $i; done; sleep 60"


def test_weaver_lifecycle(loom_server, user):
    weaver = user.weavers.create("local", command=["sh", "-c", SCRIPT], tags={"suite": "client"},
                                 lifetime_hours=1)
    try:
        seen = []
        weaver = user.weavers.wait(weaver.id, timeout=30, on_status=seen.append)
        assert weaver.status == "running" and seen[-1].status == "running"
        assert weaver.id in [w.id for w in user.weavers.list(tags={"suite": "client"})]
        assert weaver.id not in [w.id for w in user.weavers.list(tags={"suite": "other"})]
        assert user.weavers.get(weaver.id).tags["suite"] == "client"
        lines = []
        for line in user.weavers.logs(weaver.id):
            lines.append(line)
            if len(lines) == 3:
                break  # leaving a following stream early must close it cleanly
        assert [line.text for line in lines] == ["line 1", "line 2", "line 3"]
        assert all(line.timestamp is not None for line in lines)
        assert [line.text for line in user.weavers.logs(weaver.id, tail=1, follow=False)] == ["line 3"]
    finally:
        user.weavers.delete(weaver.id)

    def status() -> str:
        try:
            return user.weavers.get(weaver.id).status
        except NotFoundError:
            return "gone"

    ended = wait_until(status, 15, "the deleted weaver to end",
                       until=lambda s: s not in ("pending", "running", "terminating"))
    assert ended == "gone"  # a deleted weaver is not kept as succeeded or failed


def test_attach_interactive_shell(loom_server, user):
    weaver = user.weavers.create("local", command=["sh"], lifetime_hours=1)
    try:
        user.weavers.wait(weaver.id, timeout=30)
        with user.weavers.attach(weaver.id) as term:
            assert not term.read_only
            term.send("echo attached-$((40+2))\n")
            read_until(lambda: term.recv(timeout=0.5), b"attached-42", 15)
    finally:
        user.weavers.delete(weaver.id)


def test_support_attach_is_read_only_and_user_cannot_cleanup(loom_server, user):
    weaver = user.weavers.create("local", command=["sh"], lifetime_hours=1)
    try:
        user.weavers.wait(weaver.id, timeout=30)
        with Loom(loom_server.url, loom_server.make_key("support")) as support:
            with support.weavers.attach(weaver.id) as term:
                read_until(lambda: term.recv(timeout=0.5), b"***", 15, "the read-only notice")
                assert term.read_only
            with pytest.raises(PermissionDeniedError):
                support.weavers.delete(weaver.id)
        with pytest.raises(PermissionDeniedError):
            user.weavers.cleanup(dry_run=True)
    finally:
        user.weavers.delete(weaver.id)


def test_admin_cleanup_dry_run(admin):
    result = admin.weavers.cleanup(dry_run=True)
    assert result.dry_run and result.count == len(result.ids)


def test_create_in_foreign_org_is_forbidden(loom_server, user):
    with pytest.raises(PermissionDeniedError):
        user.weavers.create("local", "00000000-0000-7000-8000-000000000000", command=["true"])


def test_sync_client_usable_from_a_thread_while_a_loop_runs(loom_server):
    """The sync client never runs an event loop of its own (a kernel already has one)."""
    import asyncio

    async def main() -> str:
        with Loom(loom_server.url, loom_server.admin_key) as client:
            return client.default_org_id()

    assert asyncio.run(main()) == loom_server.org_id
    out = []
    worker = threading.Thread(target=lambda: out.append(Loom(loom_server.url, loom_server.admin_key).me().id))
    worker.start()
    worker.join(20)
    assert out
