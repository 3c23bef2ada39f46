"""What every resource shares: a reference to its client (sync or async, the resource does not care)."""
from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import replace
from urllib.parse import urlsplit
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union

from .._base import Call, Flow, Sleep
from .._errors import LoomError, LoomValidationError, NotFoundError
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


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def relative_path(path: str) -> str:
    """A request path relative to the client's base URL. A full URL (or `//host`) is refused:
    the credential must only ever go to the configured host."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or path.lstrip("/").startswith("/") or "\\" in path:
        raise LoomValidationError("path", f"expected a path on this server like '/api/...', got {path!r}.")
    if any(seg in ("..", ".") for seg in parts.path.split("/")):
        raise LoomValidationError("path", f"{path!r} contains '.' or '..' segments.")
    return path.lstrip("/")


def _param_pairs(params: Mapping[str, object] | None) -> list[tuple[str, str]] | None:
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise LoomValidationError("params", f"expected a dict, got {type(params).__name__}.")
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if item is not None:
                pairs.append((str(key), ("true" if item else "false") if isinstance(item, bool)
                              else str(item)))
    return pairs


def raw_call(method: str, path: str, params: Mapping[str, object] | None, json: object) -> Call[object]:
    """`request(method, path, params=, json=)`: any route, the parsed JSON answer."""
    verb = method.upper() if isinstance(method, str) else ""
    if verb not in _METHODS:
        raise LoomValidationError("method", f"expected one of {', '.join(sorted(_METHODS))}, got {method!r}.")
    if not isinstance(path, str) or not path.strip("/"):
        raise LoomValidationError("path", f"expected a path like '/api/...', got {path!r}.")
    relative_path(path)
    return Call(verb, "/" + path.lstrip("/"), params=_param_pairs(params), json=json,
                idempotent=verb in _IDEMPOTENT)
