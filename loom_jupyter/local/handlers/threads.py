"""`/api/threads`: list, search, get, PUT and visibility with `If-Match` optimistic concurrency,
soft delete (§3.2).

Support is read-only; a private thread is visible to its owner, support and admins only.
"""
from __future__ import annotations

from typing import Any

from ..base import LocalHandler
from ..openapi import errors, json_body, json_response, obj, path_param, query_param
from ..threads import VISIBILITIES, Threads


def _if_match(header: str | None) -> int | None:
    """A bare integer, else None: Loom silently ignores a quoted ETag (§3.2, §10.13)."""
    return int(header) if header is not None and header.strip().isdigit() else None


class _ThreadsBase(LocalHandler):
    @property
    def threads(self) -> Threads:
        return self.state.threads

    def paging(self) -> tuple[int, int, str | None]:
        return (self.query_int("limit", 50, maximum=1000), self.query_int("offset", 0),
                self.get_query_argument("workspace", None) or None)


class ThreadListHandler(_ThreadsBase):
    def get(self) -> None:
        limit, offset, workspace = self.paging()
        threads, total = self.threads.page(self.principal, limit, offset, workspace)
        self.write_json({"threads": threads, "total": total, "limit": limit, "offset": offset})


class ThreadSearchHandler(_ThreadsBase):
    def get(self) -> None:
        query = self.get_query_argument("q", "")
        limit, offset, workspace = self.paging()
        hits = self.threads.search(self.principal, query, limit, offset, workspace)
        self.write_json({"hits": hits, "limit": limit, "offset": offset})


class ThreadHandler(_ThreadsBase):
    def get(self, thread_id: str) -> None:
        self.write_json(self.threads.get(self.principal, thread_id))

    def put(self, thread_id: str) -> None:
        expected = _if_match(self.request.headers.get("If-Match"))
        self.write_json(self.threads.put(self.principal, thread_id, self.json_body(), expected))

    def delete(self, thread_id: str) -> None:
        self.threads.delete(self.principal, thread_id)
        self.set_status(204)


class ThreadVisibilityHandler(_ThreadsBase):
    def post(self, thread_id: str) -> None:
        expected = _if_match(self.request.headers.get("If-Match"))
        self.write_json(self.threads.set_visibility(self.principal, thread_id, self.json_body(),
                                                    expected))


ROUTES = [
    (r"/api/threads", ThreadListHandler),
    (r"/api/threads/search", ThreadSearchHandler),
    (r"/api/threads/([^/]+)", ThreadHandler),
    (r"/api/threads/([^/]+)/visibility", ThreadVisibilityHandler),
]

_STR, _INT = {"type": "string"}, {"type": "integer"}
_SUMMARY_PROPS: dict[str, Any] = {
    "id": _STR, "version": _INT, "created_at": _STR, "updated_at": _STR,
    "last_activity_at": _STR, "title": _STR, "workspace_root": _STR, "git_branch": _STR,
    "git_remote_url": _STR, "git_initial_commit_sha": _STR, "git_current_commit_sha": _STR,
    "provider": _STR, "model": _STR, "tags": {"type": "array", "items": _STR},
    "message_count": _INT, "is_pinned": {"type": "boolean"},
    "visibility": {"type": "string", "enum": list(VISIBILITIES)},
}
_SUMMARY_REQUIRED = ["id", "version", "created_at", "updated_at", "last_activity_at",
                     "message_count", "is_pinned", "visibility"]
OPENAPI_SCHEMAS = {
    "Thread": obj({"id": _STR, "version": _INT, "created_at": _STR, "updated_at": _STR,
                   "last_activity_at": _STR, "visibility": _SUMMARY_PROPS["visibility"],
                   "metadata": {"type": "object"}, "conversation": obj(
                       {"messages": {"type": "array", "items": {"type": "object"}}}),
                   "agent_state": {"type": "object"}},
                  ["id", "version", "created_at", "updated_at", "last_activity_at"]),
    "ThreadSummary": obj(_SUMMARY_PROPS, _SUMMARY_REQUIRED),
    "ThreadSearchHit": obj({**_SUMMARY_PROPS, "score": {"type": "number"}},
                           _SUMMARY_REQUIRED + ["score"]),
}
_PAGING = [query_param("limit", {"type": "integer", "minimum": 0, "maximum": 1000, "default": 50}),
           query_param("offset", {"type": "integer", "minimum": 0, "default": 0}),
           query_param("workspace", _STR, "only threads with this workspace_root")]
_ID = [path_param("thread_id", "`T-<uuid7>`")]
_IF_MATCH = [{"name": "If-Match", "in": "header", "required": False, "schema": _INT,
              "description": "the version the change is based on (a bare integer; anything "
                             "else is ignored, like Loom)"}]
_THREAD = {"$ref": "#/components/schemas/Thread"}

OPENAPI_PATHS = {
    "/api/threads": {"get": {
        "summary": "Threads by last activity, newest first", "tags": ["threads"],
        "parameters": _PAGING,
        "responses": {"200": json_response("A page", obj({
            "threads": {"type": "array", "items": {"$ref": "#/components/schemas/ThreadSummary"}},
            "total": _INT, "limit": _INT, "offset": _INT}, ["threads", "total", "limit", "offset"])),
            **errors(400, 401)}}},
    "/api/threads/search": {"get": {
        "summary": "Full-text (or commit SHA prefix) search; no total", "tags": ["threads"],
        "parameters": [query_param("q", _STR, "required, non-empty")] + _PAGING,
        "responses": {"200": json_response("Hits", obj({
            "hits": {"type": "array", "items": {"$ref": "#/components/schemas/ThreadSearchHit"}},
            "limit": _INT, "offset": _INT}, ["hits", "limit", "offset"])), **errors(400, 401)}}},
    "/api/threads/{thread_id}": {
        "get": {"summary": "A full thread", "tags": ["threads"], "parameters": _ID,
                "responses": {"200": json_response("The thread", _THREAD), **errors(401, 404)}},
        "put": {"summary": "Create or replace; `If-Match: <version>` (bare integer) guards "
                           "against lost updates; the body's version is stored as sent",
                "tags": ["threads"],
                "parameters": _ID + _IF_MATCH,
                "requestBody": json_body(_THREAD),
                "responses": {"200": json_response("The stored thread", _THREAD),
                              **errors(400, 401, 403, 409, 413, 415)}},
        "delete": {"summary": "Soft delete", "tags": ["threads"], "parameters": _ID,
                   "responses": {"204": {"description": "Deleted"}, **errors(401, 403, 404)}},
    },
    "/api/threads/{thread_id}/visibility": {"post": {
        "summary": "Change who sees a thread; bumps `version` (unlike PUT)", "tags": ["threads"],
        "parameters": _ID + _IF_MATCH,
        "requestBody": json_body(obj({"visibility": _SUMMARY_PROPS["visibility"]},
                                     ["visibility"])),
        "responses": {"200": json_response("The stored thread", _THREAD),
                      **errors(400, 401, 403, 404, 409, 413, 415)}}},
}
