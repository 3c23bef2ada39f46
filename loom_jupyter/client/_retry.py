"""When to retry (a pure decision), how long to wait (a backoff generator), and the retry flow."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ._base import Call, Flow, OpenStream, Sleep
from ._errors import APIConnectionError, APIStatusError, LoomError, RateLimitError

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` counts the first try; waits grow base*2**n up to `cap` seconds."""

    max_attempts: int = 3
    base: float = 0.25
    cap: float = 8.0
    # A server asking us to wait longer than this is better reported than silently awaited.
    max_retry_after: float = 10.0



def backoff(policy: RetryPolicy) -> Iterator[float]:
    """Capped exponential delays: base, 2*base, 4*base, ... cap, cap, ..."""
    delay = policy.base
    while True:
        yield min(delay, policy.cap)
        delay *= 2


def jittered(delays: Iterator[float], share: float, rng: Callable[[], float]) -> Iterator[float]:
    """Each delay shortened by a random part of up to `share` of it, so that many clients cut off
    at once (a Loom restart) do not all come back at the same instant."""
    for delay in delays:
        yield delay * (1.0 - share * rng())


def should_retry(call: Call[Any], exc: LoomError) -> bool:
    """Idempotent calls retry transient failures; others only when the request never left."""
    if isinstance(exc, APIConnectionError):
        return call.idempotent or not exc.request_sent
    if isinstance(exc, APIStatusError):
        return call.idempotent and exc.status_code in RETRY_STATUSES
    return False


def wait_for(exc: LoomError, delay: float, policy: RetryPolicy) -> float | None:
    """The wait before the next try, honouring retry_after; None means give up now."""
    hint = exc.retry_after if isinstance(exc, RateLimitError) else None
    if hint is None:
        return delay
    return None if hint > policy.max_retry_after else max(delay, hint)


def wait_reason(call: Call[Any], exc: LoomError, wait: float) -> str | None:
    """A log line for a wait the server asked for (a rate limit); plain backoff stays quiet."""
    if not isinstance(exc, RateLimitError) or exc.retry_after is None:
        return None
    return (f"{call.method} {call.path} is rate limited (HTTP {exc.status_code}); "
            f"waiting {wait:.1f} s before retrying.")


def request(call: Call[T], policy: RetryPolicy, *, stream: bool = False) -> Flow[T]:
    """Send `call` (or open it as a stream), retrying per policy; yields Sleep between tries."""
    delays = backoff(policy)
    attempt = 0
    while True:
        attempt += 1
        try:
            return (yield OpenStream(call) if stream else call)  # type: ignore[no-any-return]
        except LoomError as exc:
            if attempt >= policy.max_attempts or not should_retry(call, exc):
                raise
            wait = wait_for(exc, next(delays), policy)
            if wait is None:
                raise
            reason = wait_reason(call, exc, wait)
        yield Sleep(wait, reason)
