"""What every resource shares: a reference to its client (sync or async, the resource does not care)."""
from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union

from .._base import Call, Flow, Sleep
from .._errors import LoomError, NotFoundError
from .._retry import RetryPolicy, request, should_retry

T = TypeVar("T")
# Resource methods return T on Loom and an awaitable of T on AsyncLoom: the flow is the same,
# only the client's driver differs. Python's types cannot say "T or Awaitable[T] depending on
# the client" (no higher-kinded types), so type checkers see the sync client's T, and
# AsyncLoom declares its resources as Any (see _client.py); at run time this is the union.
if TYPE_CHECKING:
    Result = Annotated[T, "Awaitable[T] on AsyncLoom"]
else:
    Result = Union[T, Awaitable[T]]  # noqa: UP007 - a generic alias needs Union


class Resource:
    def __init__(self, client: Any) -> None:
        self._client = client

    @property
    def _policy(self) -> RetryPolicy:
        return self._client._policy  # type: ignore[no-any-return]


def delete(path: str, policy: RetryPolicy) -> Flow[None]:
    """DELETE with retries; a 404 on a retry means the first attempt already succeeded."""
    call: Call[None] = Call("DELETE", path, expect="empty", idempotent=True)
    try:
        return (yield call)
    except LoomError as exc:
        if policy.max_attempts < 2 or not should_retry(call, exc):
            raise
    yield Sleep(policy.base)
    try:
        yield from request(call, replace(policy, max_attempts=policy.max_attempts - 1))
    except NotFoundError:
        return None
    return None
