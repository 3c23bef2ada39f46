"""Kind "nodeloom" against its stand-in: SDK tokens, workflows, executions, pages, agent chat
streams, role errors, and the rate limit (waited out for reads, reported for writes)."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from loom_jupyter.client import (
    AsyncLoom,
    AuthenticationError,
    ConflictError,
    Loom,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from tests.fixtures.wait import wait_until
from tests.standins.fixtures import nodeloom_standin  # noqa: F401
from tests.standins.nodeloom import NodeLoomStandIn


@pytest.fixture
def node(nodeloom_standin: NodeLoomStandIn) -> Iterator[NodeLoomStandIn]:  # noqa: F811
    nodeloom_standin.reset()
    yield nodeloom_standin
    nodeloom_standin.reset()


@pytest.fixture
def loom(node: NodeLoomStandIn) -> Iterator[Loom]:
    client = Loom(node.url, kind="nodeloom", api_key=node.token("Admin"), timeout=5.0)
    yield client
    client.close()


def test_workflows_and_executions(node, loom):
    team = loom.teams.list()[0]
    workflows = loom.workflows.list(team_id=team.id)
    assert [w.name for w in workflows] == ["Daily report", "Summarise inbox"]
    assert all(w.team_id == team.id for w in workflows)
    made = loom.workflows.create("Weekly digest", team_id=team.id, description="x")
    assert loom.workflows.get(made.id).name == "Weekly digest"
    execution = loom.workflows.execute(made.id, input={"n": 1})
    assert execution.status == "RUNNING" and execution.workflow_id == made.id
    wait_until(lambda: loom.executions.get(execution.id).status == "SUCCESS", timeout=5)
    page = loom.executions.list(workflow_id=made.id)
    assert [e.id for e in page] == [execution.id] and (page.page, page.total) == (0, 1)
    assert node.requests[-1].header("Authorization") == f"Bearer {node.token('Admin')}"


def test_errors_in_nodeloom_shape(node, loom):
    with pytest.raises(NotFoundError) as info:
        loom.workflows.get("nope")
    assert str(info.value) == ("GET /api/workflows/nope failed with HTTP 404 (Not Found): "
                               "Workflow not found: nope.")
    team = loom.teams.list()[0].id
    with pytest.raises(ConflictError, match="already exists in this team"):
        loom.workflows.create("Daily report", team_id=team)
    running = loom.workflows.execute(loom.workflows.list()[0].id)
    loom.executions.cancel(running.id)
    with Loom(node.url, kind="nodeloom", api_key=node.token("Viewer")) as viewer:
        assert len(viewer.workflows.list()) == 2
        with pytest.raises(PermissionDeniedError) as denied:
            viewer.workflows.create("Nope", team_id=team)
        assert "(role Viewer)" in str(denied.value)
    with Loom(node.url, kind="nodeloom", api_key="sdk_not_a_token") as stranger:
        with pytest.raises(AuthenticationError, match="Invalid or expired SDK token"):
            stranger.request("GET", "/api/agents")


def test_agent_chat_streams_text(node, loom):
    agent = next(a for a in loom.agents.list() if a.name == "Helper")
    chunks = list(loom.agents.chat(agent.id, "what is up?"))
    assert len(chunks) > 3 and "".join(chunks) == "Helper here. You said: what is up?"
    session = next(r for r in node.requests if r.path.endswith("/sessions"))
    message = node.requests[-1]
    assert session.method == "POST" and session.path == f"/api/agents/{agent.id}/sessions"
    assert message.path.startswith(session.path + "/") and message.path.endswith("/messages")
    assert message.json() == {"content": "what is up?", "stream": True}
    assert loom.agents.ask(agent.id, "again") == "Helper here. You said: again"


def test_idempotent_reads_wait_out_the_rate_limit(node, loom, caplog):
    node.configure(rate_limit=3, rate_window=1.0)
    caplog.set_level(logging.WARNING, logger="loom_jupyter.client")
    started = time.monotonic()
    for _ in range(5):
        assert len(loom.workflows.list()) == 2
    elapsed = time.monotonic() - started
    statuses = [r.path for r in node.requests]
    assert len(statuses) >= 6  # at least one 429 was answered and the read sent again
    waits = [r.getMessage() for r in caplog.records if "rate limited" in r.getMessage()]
    assert waits and waits[0].startswith("GET /api/workflows is rate limited (HTTP 429); waiting ")
    assert elapsed > 0.05


def test_a_write_over_the_limit_says_how_long_to_wait(node, loom):
    workflow = loom.workflows.list()[0].id
    node.configure(rate_limit=1, rate_window=30.0)
    node.reset_rate_limits()
    loom.workflows.get(workflow)
    before = time.time()
    with pytest.raises(RateLimitError) as info:
        loom.workflows.execute(workflow)
    assert 0 < info.value.retry_after <= 31.0 + (time.time() - before)
    assert str(info.value).startswith("POST /api/workflows/")
    assert "failed with HTTP 429 (Too Many Requests): Rate limit exceeded; retry after " in str(info.value)
    assert str(info.value).endswith(" seconds before retrying.")
    assert sum(r.path.endswith("/execute") for r in node.requests) == 1  # never resent


def test_a_wait_longer_than_allowed_is_reported_not_awaited(node):
    node.configure(rate_limit=1, rate_window=30.0)
    with Loom(node.url, kind="nodeloom", api_key=node.token(), max_rate_limit_wait=1.0) as loom:
        loom.request("GET", "/api/teams")
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            loom.request("GET", "/api/teams")
        assert time.monotonic() - started < 1.0
        assert info.value.retry_after > 1.0


async def test_async_nodeloom(node):
    node.configure(rate_limit=3, rate_window=1.0)
    async with AsyncLoom(node.url, kind="nodeloom", api_key=node.token("Operator")) as loom:
        agents = await loom.agents.list()
        agent = agents[1]
        chunks = [c async for c in loom.agents.chat(agent.id, "async")]
        assert "".join(chunks) == f"{agent.name} here. You said: async"
        page = await loom.executions.list(size=5)
        assert page.page_count == 0 and list(page) == []
    # The list came after 3 requests in the window: answered 429, waited out, sent again.
    assert [r.path for r in node.requests][-2:] == ["/api/executions", "/api/executions"]
