"""Typed essentials of kind "nodeloom": workflows, executions, agents and agent chat (seed 004)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pydantic

from .. import _validation as check
from .._base import Call, Flow
from .._errors import StreamError
from .._retry import RetryPolicy, request
from .._sse import ServerSentEvent
from ..resources._resource import Resource, Result
from ._common import Page, Record, collect, json_data, page_flow, query, records, stream_call, \
    text_stream_flow
from .base import Paging


def _items(data: Any) -> list[Any]:
    items = data.get("content") if isinstance(data, dict) else data
    return list(items) if isinstance(items, list) else []


def _page_count(data: Any) -> int | None:
    count = data.get("totalPages") if isinstance(data, dict) else None
    return count if isinstance(count, int) else None


# Spring style (our assumption): `?page=0&size=20` -> {"content", "totalElements", "totalPages", ...}
PAGING = Paging(page_param="page", size_param="size", first_page=0, items=_items,
                page_count=_page_count)


class Workflow(Record):
    id: str
    name: str | None = None
    team_id: str | None = pydantic.Field(None, alias="teamId")


class Execution(Record):
    id: str
    workflow_id: str | None = pydantic.Field(None, alias="workflowId")
    status: str | None = None


class Agent(Record):
    id: str
    name: str | None = None


class Team(Record):
    id: str
    name: str | None = None


def _id(field: str, value: str) -> str:
    return quote(check.non_empty(field, value), safe="")


def _get(path: str, parse: Any, policy: RetryPolicy, params: Any = None) -> Flow[Any]:
    return (yield from request(Call("GET", path, params=params, parse=parse, idempotent=True), policy))


class Workflows(Resource):
    """`loom.workflows` of NodeLoom."""

    def list(self, team_id: str | None = None) -> Result[list[Workflow]]:
        flow = _get("/api/workflows", records(Workflow), self._policy, query(teamId=team_id))
        return self._client._run(flow)  # type: ignore[no-any-return]

    def get(self, workflow_id: str) -> Result[Workflow]:
        flow = _get(f"/api/workflows/{_id('workflow_id', workflow_id)}", Workflow.model_validate,
                    self._policy)
        return self._client._run(flow)  # type: ignore[no-any-return]

    def create(self, name: str, team_id: str | None = None, **fields: Any) -> Result[Workflow]:
        body: dict[str, Any] = {"name": check.non_empty("name", name, ident=False), **fields}
        if team_id is not None:
            body["teamId"] = team_id
        call = Call("POST", "/api/workflows", json=body, parse=Workflow.model_validate)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]

    def execute(self, workflow_id: str, input: Any = None) -> Result[Execution]:
        """Start an execution (202); POSTs are not retried, a 429 says how long to wait."""
        body = {"input": input} if input is not None else None
        call = Call("POST", f"/api/workflows/{_id('workflow_id', workflow_id)}/execute", json=body,
                    parse=Execution.model_validate)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]


class Executions(Resource):
    """`loom.executions` of NodeLoom."""

    def list(self, workflow_id: str | None = None, page: int | None = None,
             size: int | None = None) -> Result[Page]:
        """One page (pages count from 0): a list of Execution with `.page_count` and `.total`."""
        flow = page_flow(PAGING, "/api/executions", Execution, self._policy, page, size,
                         {"workflowId": workflow_id})
        return self._client._run(flow)  # type: ignore[no-any-return]

    def get(self, execution_id: str) -> Result[Execution]:
        flow = _get(f"/api/executions/{_id('execution_id', execution_id)}",
                    Execution.model_validate, self._policy)
        return self._client._run(flow)  # type: ignore[no-any-return]

    def cancel(self, execution_id: str) -> Result[Any]:
        call: Call[Any] = Call("POST", f"/api/executions/{_id('execution_id', execution_id)}/cancel")
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]


def token_text(sse: ServerSentEvent) -> str | bool | None:
    """`event: token` `data: {"content"}` ... `event: done` (our documented assumption)."""
    if sse.event == "done":
        return True
    data = json_data(sse)
    if sse.event == "error":
        words = data.get("message") or data.get("error") if isinstance(data, dict) else sse.data
        raise StreamError(f"The NodeLoom agent stream reported an error: {words}.")
    if sse.event in ("token", "message") and isinstance(data, dict):
        content = data.get("content")
        return content if isinstance(content, str) else None
    return None


def chat_flow(agent_id: str, message: str, session_id: str | None, policy: RetryPolicy
              ) -> Flow[None]:
    agent = _id("agent_id", agent_id)
    if session_id is None:
        call: Call[Any] = Call("POST", f"/api/agents/{agent}/sessions", json={})
        created = yield from request(call, policy)
        session_id = str(created["id"]) if isinstance(created, dict) and "id" in created else ""
        if not session_id:
            raise StreamError("NodeLoom did not return a chat session id.")
    body = {"content": check.non_empty("message", message, ident=False), "stream": True}
    path = f"/api/agents/{agent}/sessions/{_id('session_id', session_id)}/messages"
    return (yield from text_stream_flow(stream_call(path, body), policy, "NodeLoom agent stream",
                                        token_text))


class Teams(Resource):
    """`loom.teams` of NodeLoom."""

    def list(self) -> Result[list[Team]]:
        return self._client._run(_get("/api/teams", records(Team), self._policy))  # type: ignore[no-any-return]


class Agents(Resource):
    """`loom.agents` of NodeLoom, with streaming chat."""

    def list(self) -> Result[list[Agent]]:
        return self._client._run(_get("/api/agents", records(Agent), self._policy))  # type: ignore[no-any-return]

    def chat(self, agent_id: str, message: str, session_id: str | None = None) -> Any:
        """Text chunks of the agent's answer as they arrive (a new session unless session_id)."""
        return self._client._iterate(chat_flow(agent_id, message, session_id, self._policy))

    def ask(self, agent_id: str, message: str, session_id: str | None = None) -> Result[str]:
        """The agent's whole answer as one str."""
        flow = collect(chat_flow(agent_id, message, session_id, self._policy), "".join)
        return self._client._run(flow)  # type: ignore[no-any-return]
