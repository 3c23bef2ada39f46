"""`client.threads`: list, page through, read, save with optimistic concurrency, delete, search."""
from __future__ import annotations

from typing import Any

from .. import _validation as check
from .._base import Call, Emit, Flow, Sleep
from .._errors import ConflictError, LoomError, LoomValidationError
from .._retry import RetryPolicy, request, should_retry
from ..models.threads import Thread, ThreadPage, ThreadSearchHit, ThreadSearchHitList
from ._resource import Resource, Result, delete


def _page_params(workspace: str | None, limit: int, offset: int) -> list[tuple[str, str]]:
    for name, value in (("limit", limit), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "limit" else 0):
            raise LoomValidationError(name, f"expected a {'positive' if name == 'limit' else 'non-negative'} integer, got {value!r}.")
    params = [("limit", str(limit)), ("offset", str(offset))]
    if workspace:
        params.insert(0, ("workspace", workspace))
    return params


def list_call(workspace: str | None, limit: int, offset: int) -> Call[ThreadPage]:
    return Call("GET", "/api/threads", params=_page_params(workspace, limit, offset),
                parse=ThreadPage.model_validate, idempotent=True)


def iter_flow(workspace: str | None, limit: int, policy: RetryPolicy) -> Flow[None]:
    offset = 0
    while True:
        page = yield from request(list_call(workspace, limit, offset), policy)
        for summary in page.threads:
            yield Emit(summary)
        offset += len(page.threads)
        if not page.threads or offset >= page.total:
            return


def get_call(thread_id: str) -> Call[Thread]:
    return Call("GET", f"/api/threads/{thread_id}", parse=Thread.model_validate, idempotent=True)


def put_flow(thread: Thread, expected: int, policy: RetryPolicy) -> Flow[Thread]:
    """PUT does not bump the version (loom-api.md §3.2): send expected+1, If-Match: expected."""
    body = {**thread.wire(), "version": expected + 1}
    call = Call("PUT", f"/api/threads/{thread.id}", json=body, headers={"If-Match": str(expected)},
                parse=lambda data: Thread.model_validate(data if data is not None else body),
                idempotent=True)
    try:
        return (yield call)
    except LoomError as exc:
        if policy.max_attempts < 2 or not should_retry(call, exc):
            raise
    yield Sleep(policy.base)
    try:
        return (yield from request(call, policy))
    except ConflictError as exc:
        # Our first PUT arrived after all: the stored version is the one we sent.
        if exc.server_version != expected + 1:
            raise
        return (yield from request(get_call(thread.id), policy))


def _hits(data: Any) -> ThreadSearchHitList:
    items = data.get("hits", []) if isinstance(data, dict) else data
    return ThreadSearchHitList(ThreadSearchHit.model_validate(h) for h in items)


class Threads(Resource):
    """`client.threads`."""

    def list(self, *, workspace: str | None = None, limit: int = 50, offset: int = 0) -> Result[ThreadPage]:
        """One page, most recently active first."""
        return self._client._run(request(list_call(workspace, limit, offset), self._policy))  # type: ignore[no-any-return]

    def iter_all(self, *, workspace: str | None = None, limit: int = 50) -> Any:
        """Every thread summary, fetching pages of `limit` as needed."""
        _page_params(workspace, limit, 0)
        return self._client._iterate(iter_flow(workspace, limit, self._policy))

    def get(self, id: str) -> Result[Thread]:
        return self._client._run(request(get_call(check.non_empty("id", id)), self._policy))  # type: ignore[no-any-return]

    def put(self, thread: Thread, *, expected_version: int | None = None) -> Result[Thread]:
        """Save `thread`; ConflictError (server_version, client_version) if someone else saved first."""
        if not isinstance(thread, Thread):
            raise LoomValidationError("thread", "expected a Thread (from threads.get or Thread.model_validate).")
        expected = thread.version if expected_version is None else expected_version
        return self._client._run(put_flow(thread, expected, self._policy))  # type: ignore[no-any-return]

    def delete(self, id: str) -> Result[None]:
        return self._client._run(delete(f"/api/threads/{check.non_empty('id', id)}", self._policy))  # type: ignore[no-any-return]

    def search(self, q: str, *, limit: int = 50, offset: int = 0) -> Result[ThreadSearchHitList]:
        """Full-text (or commit-SHA prefix) search."""
        if not isinstance(q, str) or not q.strip():
            raise LoomValidationError("q", "the search query must not be empty.")
        params = [("q", q), *_page_params(None, limit, offset)]
        call = Call("GET", "/api/threads/search", params=params, parse=_hits, idempotent=True)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]
