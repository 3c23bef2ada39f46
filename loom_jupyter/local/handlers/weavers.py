"""Weaver routes: create, list, get, delete, cleanup, logs (SSE) and attach (WebSocket) (§4, §9).

Who may do what follows loom-api.md §9: owners and system admins read and write, `support`
reads everything and types nothing, other users see nothing of someone else's weaver.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from ..base import LocalHandler, LocalWebSocketHandler
from ..errors import InvalidRequest, NotAuthenticated
from ..openapi import SSE_EVENT, errors, json_body, json_response, obj, path_param, query_param
from ..weaver_request import parse_create
from ..weavers import STATUSES, Weaver, WeaverManager, parse_tag_filters
from ..ws_backlog import SendBacklog

READ_ONLY_NOTICE = "\r\n*** Read-only access: You can view output but cannot send input ***\r\n"
FRAME_BYTES = 4096  # Loom sends terminal output in binary frames of at most 4 KiB (§4.7)
EVENT_LINES = 512
DEFAULT_TAIL = 256  # the server code's defaults: tail=256, timestamps=true (§4.6)


class _WeaverHandler(LocalHandler):
    @property
    def weavers(self) -> WeaverManager:
        return self.state.weavers

    def query_bool(self, name: str, default: bool) -> bool:
        raw = (self.get_query_argument(name, None) or "").lower()
        if raw in ("", "true", "false", "1", "0"):
            return default if raw == "" else raw in ("true", "1")
        raise InvalidRequest(f"{name} must be true or false")


class CreateWeaverHandler(_WeaverHandler):
    async def post(self) -> None:
        spec = parse_create(self.json_body())
        self.state.orgs.require_member(self.principal, spec.org_id)
        weaver = await self.weavers.create(spec, self.principal.user_id)
        self.write_json(self.weavers.json(weaver), 201)


class ListWeaversHandler(_WeaverHandler):
    def get(self) -> None:
        filters = parse_tag_filters(self.get_query_arguments("tag"))
        found = [self.weavers.json(w) for w in self.weavers.visible(self.principal, filters)]
        self.write_json({"weavers": found, "count": len(found)})


class WeaverHandler(_WeaverHandler):
    def get(self, weaver_id: str) -> None:
        self.write_json(self.weavers.json(self.weavers.readable(self.principal, weaver_id)))

    def delete(self, weaver_id: str) -> None:
        self.weavers.delete_for(self.principal, weaver_id)
        self.set_status(204)


class CleanupHandler(_WeaverHandler):
    def post(self) -> None:
        self.weavers.require_cleaner(self.principal)
        dry_run = self.query_bool("dry_run", False)
        ids = self.weavers.cleanup(dry_run)
        # The unused key is omitted, as real Loom does (§4.5).
        self.write_json({"dry_run": dry_run, "would_delete" if dry_run else "deleted": ids,
                         "count": len(ids)})


def _event(lines: list[tuple[str, str]], timestamps: bool) -> str:
    """One SSE event of plain text; every `\\n` becomes a new `data:` field, as in axum (§4.6)."""
    text = "".join(f"{stamp} {line}\n" if timestamps else f"{line}\n" for stamp, line in lines)
    return "".join(f"data: {part}\n" for part in text.split("\n")) + "\n"


class WeaverLogsHandler(_WeaverHandler):
    """Plain-text SSE of the weaver's output; follows until the process ends or we disconnect."""

    _task: asyncio.Future[None] | None = None

    async def get(self, weaver_id: str) -> None:
        weaver = self.weavers.readable(self.principal, weaver_id)
        tail = self.query_int("tail", DEFAULT_TAIL, minimum=-1)
        timestamps = self.query_bool("timestamps", True)
        follow = self.query_bool("follow", True)
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        start = weaver.ring.tail(None if tail < 0 else tail)
        self._task = asyncio.ensure_future(self._stream(weaver, start, timestamps, follow))
        try:
            await self._task
        except (asyncio.CancelledError, StreamClosedError):
            return
        if not self._finished:
            self.finish()

    def on_connection_close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _stream(self, weaver: Weaver, start: int, timestamps: bool, follow: bool) -> None:
        await self.flush()  # headers now: a follower sees the stream open before any output
        if not follow:
            batch, _ = weaver.ring.read(start)
            await self._send(batch, timestamps)
            return
        async for batch in weaver.ring.follow(start, self.state.config.log_keepalive_seconds):
            if batch:
                await self._send(batch, timestamps)
            else:
                self.write(":keep-alive\n\n")
                await self.flush()

    async def _send(self, batch: list[tuple[str, str]], timestamps: bool) -> None:
        for i in range(0, len(batch), EVENT_LINES):
            self.write(_event(batch[i:i + EVENT_LINES], timestamps))
        await self.flush()


class WeaverAttachHandler(LocalWebSocketHandler):
    """Raw bytes both ways; auth on the upgrade request, never by a first message (§4.7).
    Output is back-pressured (ws_backlog.py): a slow reader slows the weaver, loses nothing."""

    weaver: Weaver
    read_only = False
    backlog: SendBacklog | None = None

    def get_compression_options(self) -> dict[str, Any] | None:
        return None

    async def get(self, weaver_id: str) -> None:  # type: ignore[override]
        self.require_upgrade()
        principal = await self.authenticate_handshake()
        if principal is None:
            raise NotAuthenticated("Authentication required")
        self.weaver = self.state.weavers.readable(principal, weaver_id)
        self.read_only = not self.weaver.writable_by(principal)
        await super().get(weaver_id)

    def open(self, weaver_id: str) -> None:  # type: ignore[override]
        process = self.weaver.process
        if self.weaver.status != "running" or process is None:
            self.write_message(f"ERROR: weaver {self.weaver.id} is not running "
                               f"(status: {self.weaver.status})")
            self.close(1000, "weaver not running")
            return
        if self.read_only:
            self.write_message(READ_ONLY_NOTICE)
        self.backlog = SendBacklog(self._stalled, self.state.config.attach_stall_seconds)
        replay = process.attach(self._output)
        if replay:  # nothing printed yet is not the end of the terminal (b"" means EOF below)
            self._output(replay)  # a scrollback is far below the mark: no waiting

    def _output(self, data: bytes) -> Awaitable[None] | None:
        if not data:  # the process's terminal closed
            if self.ws_connection is not None:
                self.close(1000, "weaver stopped")
            return None
        try:
            for i in range(0, len(data), FRAME_BYTES):
                sent = self.write_message(data[i:i + FRAME_BYTES], binary=True)
        except WebSocketClosedError:
            self._detach()
            return None
        assert self.backlog is not None
        return self.backlog.add(len(data), sent)

    def _stalled(self) -> None:
        """Took nothing for `attach_stall_seconds`: let the weaver go on without it (it may reconnect)."""
        self._detach()
        if self.ws_connection is not None:
            self.close(1013, "terminal output not read")

    def on_message(self, message: str | bytes) -> None:
        if self.read_only or self.weaver.process is None:
            return  # silently dropped, like Loom's support attach (§4.7)
        self.weaver.process.write(message.encode() if isinstance(message, str) else message)

    def on_close(self) -> None:
        self._detach()

    def _detach(self) -> None:
        if self.backlog is not None:
            self.backlog.close()
        if getattr(self, "weaver", None) is not None and self.weaver.process is not None:
            self.weaver.process.detach(self._output)


_ID = r"([^/]+)"
ROUTES = [
    (r"/api/weaver", CreateWeaverHandler),
    (r"/api/weavers", ListWeaversHandler),
    (r"/api/weavers/cleanup", CleanupHandler),
    (rf"/api/weaver/{_ID}", WeaverHandler),
    (rf"/api/weaver/{_ID}/logs", WeaverLogsHandler),
    (rf"/api/weaver/{_ID}/attach", WeaverAttachHandler),
]

_STR, _INT = {"type": "string"}, {"type": "integer"}
_STR_MAP = {"type": "object", "additionalProperties": _STR}
_STATUS = {"type": "string", "enum": list(STATUSES)}
OPENAPI_SCHEMAS = {
    "Weaver": obj({"id": _STR, "pod_name": _STR, "status": _STATUS, "created_at": _STR,
                   "image": _STR, "tags": _STR_MAP, "lifetime_hours": _INT,
                   "age_hours": {"type": "number"}, "owner_user_id": _STR,
                   "reason": {**_STR, "description": "local extension: why it failed"}},
                  ["id", "pod_name", "status", "created_at", "image", "tags",
                   "lifetime_hours", "age_hours"]),
    "CreateWeaver": obj({
        "image": _STR, "org_id": _STR, "env": _STR_MAP, "tags": _STR_MAP,
        "resources": obj({"memory_limit": _STR, "cpu_limit": _STR}),
        "lifetime_hours": {"type": "integer", "minimum": 1, "maximum": 48, "default": 24},
        "command": {"type": "array", "items": _STR}, "args": {"type": "array", "items": _STR},
        "workdir": _STR}, ["image", "org_id"]),
}
_WEAVER = {"$ref": "#/components/schemas/Weaver"}
_PID = [path_param("weaver_id", "a UUIDv7")]
_IDS = {"type": "array", "items": _STR}
OPENAPI_PATHS = {
    "/api/weaver": {"post": {
        "summary": "Start a weaver (a local process on a PTY); returns once it runs",
        "tags": ["weavers"], "requestBody": json_body({"$ref": "#/components/schemas/CreateWeaver"}),
        "responses": {"201": json_response("Started", _WEAVER),
                      **errors(400, 401, 403, 404, 413, 415, 429, 500)}}},
    "/api/weavers": {"get": {
        "summary": "Your weavers (all of them for support and admins)", "tags": ["weavers"],
        "parameters": [{**query_param("tag", _STR, "`key:value`; repeat to require several"),
                        "style": "form", "explode": True}],
        "responses": {"200": json_response("The weavers", obj(
            {"weavers": {"type": "array", "items": _WEAVER}, "count": _INT},
            ["weavers", "count"])), **errors(400, 401)}}},
    "/api/weavers/cleanup": {"post": {
        "summary": "Delete expired weavers (system admins only)", "tags": ["weavers"],
        "parameters": [query_param("dry_run", {"type": "boolean", "default": False})],
        "responses": {"200": json_response("What was (or would be) deleted", obj(
            {"dry_run": {"type": "boolean"}, "deleted": _IDS, "would_delete": _IDS,
             "count": _INT}, ["dry_run", "count"])), **errors(400, 401, 403)}}},
    "/api/weaver/{weaver_id}": {
        "get": {"summary": "One weaver", "tags": ["weavers"], "parameters": _PID,
                "responses": {"200": json_response("The weaver", _WEAVER),
                              **errors(400, 401, 403, 404)}},
        "delete": {"summary": "Stop and remove (owner or system admin)", "tags": ["weavers"],
                   "parameters": _PID,
                   "responses": {"204": {"description": "Deleting"},
                                 **errors(400, 401, 403, 404)}}},
    "/api/weaver/{weaver_id}/logs": {"get": {
        "summary": "Output as plain-text SSE (`data:` lines, `:keep-alive` comments); follows "
                   "until the process ends", "tags": ["weavers"],
        "parameters": _PID + [
            query_param("tail", {"type": "integer", "minimum": -1, "default": DEFAULT_TAIL},
                        "lines of history first; -1 = all that is kept"),
            query_param("timestamps", {"type": "boolean", "default": True}),
            query_param("follow", {"type": "boolean", "default": True})],
        "responses": {"200": {"description": "SSE stream",
                              "content": {"text/event-stream": {"schema": SSE_EVENT}}},
                      **errors(400, 401, 403, 404)}}},
    "/api/weaver/{weaver_id}/attach": {"get": {
        "summary": "Terminal WebSocket: binary output frames, raw input; `support` is read-only",
        "tags": ["weavers"], "parameters": _PID,
        "responses": {"101": {"description": "Switching protocols"},
                      **errors(400, 401, 403, 404)}}},
}
