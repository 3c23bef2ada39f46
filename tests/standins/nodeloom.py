"""Stand-in for NodeLoom's REST API (seed 004): `sdk_` bearer tokens with roles, rate-limit
headers on every response, Spring-style errors and pages, workflows, executions, agent chat.

Wire facts (seed 004, and the issue-13 contract where the seed is silent):
- `Authorization: Bearer sdk_...`; each token has a role. Viewer: reads only. Operator: also
  executes/cancels and chats with agents. Builder: also creates/changes workflows and
  credentials. Admin: also `/api/sdk-tokens`. Otherwise 403.
- Every response carries `X-RateLimit-Limit/Remaining/Reset` (Reset = unix seconds at which
  the window ends; `rate_limit` requests per `rate_window` seconds, counted per token). Past
  the limit: 429 with the same headers and the error body, until Reset. No Retry-After.
- Errors `{"status","error","message","timestamp","path"}` (e.g. 400 "Workflow name is required").
- Lists are paged (our assumption): `?page=0&size=20` (0-based, size 1..100) ->
  `{"content":[...],"totalElements","totalPages","number","size"}`; newest executions first.
- `GET /api/teams`; `GET /api/workflows?teamId=` (optional filter), `POST /api/workflows
  {"name","teamId"?,...}` (201; 409 on a duplicate name in a team), `GET|PUT|DELETE
  /api/workflows/{id}`, `POST /api/workflows/{id}/execute {"input"?}` -> 202 execution
  (RUNNING, then SUCCESS after `execution_time` s); `GET /api/executions?workflowId=`,
  `GET /api/executions/{id}`, `POST /api/executions/{id}/cancel` (409 unless RUNNING);
  `GET|POST /api/credentials` (secrets never returned), `GET|POST /api/sdk-tokens`.
- Agent chat: `GET /api/agents`, `POST /api/agents/{id}/sessions` -> 201 `{"id",...}`,
  `POST /api/agents/{id}/sessions/{sid}/messages {"content","stream"}` -> with stream,
  SSE `event: token` / `data: {"content": word}` (`chunk_delay` s apart) then `event: done` /
  `data: {"messageId"}` (our assumption); without, `{"messageId","role","content"}`.
  The reply is deterministic: `<agent name> here. You said: <content>`.
"""
from __future__ import annotations

import asyncio
import math
from http.client import responses
from typing import Any, ClassVar

from tornado.iostream import StreamClosedError

from tests.standins._server import ApiError, Handler, Route, StandIn, iso_now, words

ROLES = ("Viewer", "Operator", "Builder", "Admin")
DEFAULT_TOKENS = {f"sdk_standin_{role.lower()}": role for role in ROLES}


class NodeHandler(Handler):
    """Every NodeLoom route: rate limit, then SDK token, then role; Spring-style errors."""

    standin: NodeLoomStandIn
    write_role: ClassVar[str] = "Builder"
    read_role: ClassVar[str] = "Viewer"
    _rate: tuple[int, int, int] | None = None

    def error_body(self, status: int, message: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {"status": status, "error": responses.get(status, "Error"), "message": message,
                "timestamp": iso_now(), "path": self.request.path}

    def set_default_headers(self) -> None:  # also runs when an error clears the headers
        if self._rate is not None:
            limit, remaining, reset = self._rate
            self.set_header("X-RateLimit-Limit", str(limit))
            self.set_header("X-RateLimit-Remaining", str(remaining))
            self.set_header("X-RateLimit-Reset", str(reset))

    def prepare(self) -> None:
        super().prepare()
        token = self.bearer()
        allowed, self._rate = self.standin.count(token or f"anonymous:{self.request.remote_ip}")
        self.set_default_headers()
        if not allowed:
            raise ApiError(429, f"Rate limit exceeded; retry after {self._rate[2]}")
        if token is None:
            raise ApiError(401, "Full authentication is required to access this resource")
        self.role = self.standin.tokens.get(token)
        if self.role is None:
            raise ApiError(401, "Invalid or expired SDK token")
        needed = self.read_role if self.request.method in ("GET", "HEAD") else self.write_role
        if ROLES.index(self.role) < ROLES.index(needed):
            raise ApiError(403, f"Insufficient permissions for this action (role {self.role})")

    def send_page(self, items: list[dict[str, Any]]) -> None:
        page = self.int_arg("page", 0, 0, 1_000_000)
        size = self.int_arg("size", 20, 1, 100)
        self.send_json({"content": items[page * size:(page + 1) * size],
                        "totalElements": len(items), "totalPages": math.ceil(len(items) / size),
                        "number": page, "size": size})

    def find(self, table: str, key: str, what: str) -> dict[str, Any]:
        found = self.standin.tables[table].get(key)
        if found is None:
            raise ApiError(404, f"{what} not found: {key}")
        return found


class NotFound(NodeHandler):
    read_role = write_role = "Viewer"

    def prepare(self) -> None:
        super().prepare()
        raise ApiError(404, f"No endpoint {self.request.method} {self.request.path}")


class Teams(NodeHandler):
    def get(self) -> None:
        self.send_page(list(self.standin.tables["teams"].values()))


class Workflows(NodeHandler):
    def get(self) -> None:
        team = self.get_query_argument("teamId", None)
        if team is not None:
            self.find("teams", team, "Team")
        self.send_page([w for w in self.standin.tables["workflows"].values()
                        if team in (None, w["teamId"])])

    def post(self) -> None:
        body = self.body_json()
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise ApiError(400, "Workflow name is required")
        team = body.get("teamId") or next(iter(self.standin.tables["teams"]))
        self.find("teams", str(team), "Team")
        self.send_json(self.standin.add_workflow(body["name"], str(team), body), 201)


class Workflow(NodeHandler):
    def get(self, key: str) -> None:
        self.send_json(self.find("workflows", key, "Workflow"))

    def put(self, key: str) -> None:
        workflow, body = self.find("workflows", key, "Workflow"), self.body_json()
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            raise ApiError(400, "Workflow name is required")
        workflow.update({k: body[k] for k in ("name", "description", "active", "nodes")
                         if k in body}, updatedAt=iso_now())
        self.send_json(workflow)

    def delete(self, key: str) -> None:
        self.find("workflows", key, "Workflow")
        del self.standin.tables["workflows"][key]
        self.set_status(204)
        self.finish()


class Execute(NodeHandler):
    write_role = "Operator"

    def post(self, key: str) -> None:
        workflow = self.find("workflows", key, "Workflow")
        data = self.body_json().get("input", {})
        self.send_json(self.standin.execute(workflow, data), 202)


class Executions(NodeHandler):
    def get(self) -> None:
        workflow = self.get_query_argument("workflowId", None)
        items = [e for e in self.standin.tables["executions"].values()
                 if workflow in (None, e["workflowId"])]
        self.send_page(items[::-1])


class Execution(NodeHandler):
    def get(self, key: str) -> None:
        self.send_json(self.find("executions", key, "Execution"))


class Cancel(NodeHandler):
    write_role = "Operator"

    def post(self, key: str) -> None:
        execution = self.find("executions", key, "Execution")
        if execution["status"] != "RUNNING":
            raise ApiError(409, f"Execution {key} is not running (status {execution['status']})")
        execution.update(status="CANCELLED", finishedAt=iso_now())
        self.send_json(execution)


class Credentials(NodeHandler):
    def get(self) -> None:
        self.send_page(list(self.standin.tables["credentials"].values()))

    def post(self) -> None:
        body = self.body_json()
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise ApiError(400, "Credential name is required")
        ident = self.standin.new_id("credentials")
        credential = {"id": ident, "name": body["name"], "type": str(body.get("type", "generic")),
                      "createdAt": iso_now()}
        self.standin.tables["credentials"][ident] = credential
        self.send_json(credential, 201)


class SdkTokens(NodeHandler):
    read_role = write_role = "Admin"

    def get(self) -> None:
        self.send_page([{"prefix": t[:8], "role": r} for t, r in self.standin.tokens.items()])

    def post(self) -> None:
        role = self.body_json().get("role", "Viewer")
        if role not in ROLES:
            raise ApiError(400, f"role must be one of {', '.join(ROLES)}")
        token = f"sdk_{self.standin.new_id('tokens').replace('-', '')}"
        self.standin.tokens[token] = role
        self.send_json({"token": token, "role": role}, 201)


class Agents(NodeHandler):
    def get(self) -> None:
        self.send_page(list(self.standin.tables["agents"].values()))


class Agent(NodeHandler):
    def get(self, key: str) -> None:
        self.send_json(self.find("agents", key, "Agent"))


class Sessions(NodeHandler):
    write_role = "Operator"

    def post(self, agent: str) -> None:
        self.find("agents", agent, "Agent")
        ident = self.standin.new_id("sessions")
        session = {"id": ident, "agentId": agent, "createdAt": iso_now(), "messages": []}
        self.standin.tables["sessions"][ident] = session
        self.send_json({k: v for k, v in session.items() if k != "messages"}, 201)


class Messages(NodeHandler):
    write_role = "Operator"

    def session(self, agent: str, key: str) -> dict[str, Any]:
        self.find("agents", agent, "Agent")
        session = self.find("sessions", key, "Session")
        if session["agentId"] != agent:
            raise ApiError(404, f"Session not found: {key}")
        return session

    def get(self, agent: str, key: str) -> None:
        self.send_page(self.session(agent, key)["messages"])

    async def post(self, agent: str, key: str) -> None:
        session, body = self.session(agent, key), self.body_json()
        if not isinstance(body.get("content"), str) or not body["content"]:
            raise ApiError(400, "content is required")
        name = self.standin.tables["agents"][agent]["name"]
        text = f"{name} here. You said: {body['content']}"
        message = {"messageId": self.standin.new_id("messages"), "role": "assistant",
                   "content": text}
        session["messages"] += [{"role": "user", "content": body["content"]}, message]
        if not body.get("stream"):
            self.send_json(message)
            return
        self.start_sse()
        try:
            for part in words(text):
                await asyncio.sleep(self.standin.chunk_delay)
                await self.sse({"content": part}, "token")
            await self.sse({"messageId": message["messageId"]}, "done")
        except StreamClosedError:
            pass  # recorded in `disconnects` by on_connection_close


class NodeLoomStandIn(StandIn):
    """NodeLoom's API on 127.0.0.1; `tokens` maps an `sdk_` token to its role."""

    kind = "nodeloom"
    OPTIONS = ("tokens", "rate_limit", "rate_window", "execution_time", "chunk_delay")
    not_found = NotFound

    def __init__(self, tokens: dict[str, str] | None = None, rate_limit: int = 1000,
                 rate_window: float = 60.0, execution_time: float = 0.2,
                 chunk_delay: float = 0.02) -> None:
        self.tokens = dict(tokens or DEFAULT_TOKENS)
        bad = [r for r in self.tokens.values() if r not in ROLES]
        if bad:
            raise ValueError(f"unknown role(s) {bad}; roles: {', '.join(ROLES)}")
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.execution_time = execution_time
        self.chunk_delay = chunk_delay
        super().__init__()

    def routes(self) -> list[Route]:
        return [
            ("/api/teams", Teams), ("/api/workflows", Workflows),
            ("/api/workflows/([^/]+)", Workflow), ("/api/workflows/([^/]+)/execute", Execute),
            ("/api/executions", Executions), ("/api/executions/([^/]+)", Execution),
            ("/api/executions/([^/]+)/cancel", Cancel), ("/api/credentials", Credentials),
            ("/api/sdk-tokens", SdkTokens), ("/api/agents", Agents), ("/api/agents/([^/]+)", Agent),
            ("/api/agents/([^/]+)/sessions", Sessions),
            ("/api/agents/([^/]+)/sessions/([^/]+)/messages", Messages),
        ]

    def credentials(self) -> list[dict[str, str]]:
        return [{"token": t, "role": r} for t, r in self.tokens.items()]

    def token(self, role: str = "Admin") -> str:
        """The first token that has `role`."""
        return next(t for t, r in self.tokens.items() if r == role)

    def reset_rate_limits(self) -> None:
        self.call(self.windows.clear)

    # -- state (touched on the loop only) ----------------------------------------------------
    def _reset_state(self) -> None:
        self.tokens = dict(self.tokens)
        self.windows: dict[str, tuple[int, int]] = {}
        self.tables: dict[str, dict[str, dict[str, Any]]] = {
            t: {} for t in ("teams", "workflows", "executions", "credentials", "agents", "sessions")}
        team = self.new_id("teams")
        self.tables["teams"][team] = {"id": team, "name": "Stand-in Team", "role": "Admin"}
        for name in ("Daily report", "Summarise inbox"):
            self.add_workflow(name, team, {"description": f"{name} (stand-in)"})
        for name, what in (("Helper", "Answers questions"), ("Researcher", "Looks things up")):
            ident = self.new_id("agents")
            self.tables["agents"][ident] = {"id": ident, "name": name, "description": what,
                                            "teamId": team}
        ident = self.new_id("credentials")
        self.tables["credentials"][ident] = {"id": ident, "name": "Slack bot", "type": "slack",
                                             "createdAt": iso_now()}

    def count(self, key: str) -> tuple[bool, tuple[int, int, int]]:
        """Count one request against `key`'s window: (allowed, (limit, remaining, reset))."""
        now = self.clock()
        reset, used = self.windows.get(key, (0, 0))
        if now >= reset:
            reset, used = math.ceil(now + self.rate_window), 0
        allowed = used < self.rate_limit
        used += allowed
        self.windows[key] = (reset, used)
        return allowed, (self.rate_limit, self.rate_limit - used, reset)

    def add_workflow(self, name: str, team: str, body: dict[str, Any]) -> dict[str, Any]:
        if any(w["name"] == name and w["teamId"] == team
               for w in self.tables["workflows"].values()):
            raise ApiError(409, f"A workflow named '{name}' already exists in this team")
        ident, now = self.new_id("workflows"), iso_now()
        workflow = {"id": ident, "name": name, "teamId": team,
                    "description": str(body.get("description", "")),
                    "active": bool(body.get("active", False)), "nodes": body.get("nodes", []),
                    "createdAt": now, "updatedAt": now}
        self.tables["workflows"][ident] = workflow
        return workflow

    def execute(self, workflow: dict[str, Any], data: Any) -> dict[str, Any]:
        ident = self.new_id("executions")
        execution = {"id": ident, "workflowId": workflow["id"], "teamId": workflow["teamId"],
                     "status": "RUNNING", "input": data, "output": None,
                     "startedAt": iso_now(), "finishedAt": None}
        self.tables["executions"][ident] = execution
        self.spawn(self._finish(execution, workflow["name"]))
        return dict(execution)

    async def _finish(self, execution: dict[str, Any], name: str) -> None:
        await asyncio.sleep(self.execution_time)
        if execution["status"] == "RUNNING":
            execution.update(status="SUCCESS", finishedAt=iso_now(),
                             output={"result": f"{name} finished", "input": execution["input"]})
