"""`client.weavers`: create (never duplicated), list, get, wait, logs, attach, delete, cleanup."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from .. import _validation as check
from .._base import Call, Flow, Sleep
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    LoomError,
    RateLimitError,
)
from .._resume import LIMIT as WHOLE_LOG
from .._retry import RetryPolicy, backoff, request
from ..models.tags import format_tag_filter, parse_tag_filter
from ..models.weavers import (
    FINAL_STATUSES,
    KNOWN_STATUSES,
    REQUEST_ID_TAG,
    RUNNING,
    CleanupResult,
    CreateWeaverRequest,
    Weaver,
    WeaverList,
    WeaverResources,
    status_filter,
    unknown_statuses,
)
from ..follow import FollowEnded, Reconnecting, Reconnects, StatusCheck, reconnect_flow
from . import auth as _auth
from ._resource import Resource, Result, delete
from .logs import logs_flow

# POST /api/weaver blocks until the pod runs (up to ~60 s by default, loom-api.md §4.2).
CREATE_READ_TIMEOUT = 180.0
AMBIGUOUS_STATUSES = frozenset({502, 504})


def _weaver_list(data: Any) -> WeaverList:
    items = data.get("weavers", []) if isinstance(data, dict) else data
    return WeaverList(Weaver.model_validate(w) for w in items)


def _matches(weaver: Weaver, filters: list[str]) -> bool:
    return all((weaver.request_id if k == REQUEST_ID_TAG else weaver.tags.get(k)) == v
               for k, v in map(parse_tag_filter, filters))


def list_flow(filters: list[str], policy: RetryPolicy) -> Flow[WeaverList]:
    """The server's `tag` filter may be rejected with a plain-text 400 (§4.3): filter here too."""
    call = Call("GET", "/api/weavers", params=[("tag", f) for f in filters] or None,
                parse=_weaver_list, idempotent=True)
    try:
        found = yield from request(call, policy)
    except BadRequestError:
        if not filters:
            raise
        found = yield from request(Call("GET", "/api/weavers", parse=_weaver_list, idempotent=True), policy)
    return WeaverList(w for w in found if _matches(w, filters))


def _by_status(flow: Flow[WeaverList], chosen: frozenset[str]) -> Flow[WeaverList]:
    found = yield from flow
    unknown = unknown_statuses(chosen, found)
    if unknown:
        raise check.LoomValidationError(
            "status", f"unknown status {unknown[0]!r}; one of {', '.join(KNOWN_STATUSES)}.")
    return WeaverList(w for w in found if w.status in chosen)


def _resources(resources: Mapping[str, str] | None, memory: str | None,
               cpu: str | None) -> dict[str, str]:
    """`memory=`/`cpu=` and the older `resources=` dict, as the wire's `memory_limit`/`cpu_limit`."""
    out = check.resources(resources)
    for key, value in (("memory", memory), ("cpu", cpu)):
        if value is None:
            continue
        wire = check.resources({key: value})
        if out.keys() & wire.keys() and out != {**out, **wire}:
            raise check.LoomValidationError(key, f"given twice: {key}= and resources= disagree.")
        out.update(wire)
    return out


def get_flow(weaver_id: str, policy: RetryPolicy) -> Flow[Weaver]:
    call = Call("GET", f"/api/weaver/{weaver_id}", parse=Weaver.model_validate, idempotent=True)
    return (yield from request(call, policy))


def _ambiguous(exc: LoomError) -> bool | None:
    """True: the weaver may exist; False: it surely does not; None: not worth retrying."""
    if isinstance(exc, APIConnectionError):
        return exc.request_sent
    if isinstance(exc, APIStatusError) and not isinstance(exc, RateLimitError):
        return True if exc.status_code in AMBIGUOUS_STATUSES else None
    return None


def create_flow(body: dict[str, Any], org_id: str | None, policy: RetryPolicy) -> Flow[Weaver]:
    """POST once; after an ambiguous failure, look for our request-id tag before trying again."""
    body = {**body, "org_id": org_id or (yield from _auth.default_org_id(policy))}
    request_id = body["tags"][REQUEST_ID_TAG]
    call = Call("POST", "/api/weaver", json=body, parse=Weaver.model_validate,
                read_timeout=CREATE_READ_TIMEOUT)
    delays = backoff(policy)
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return (yield call)
        except LoomError as exc:
            ambiguous = _ambiguous(exc)
            if ambiguous is None or attempt == policy.max_attempts:
                raise
            if ambiguous:
                existing = yield from list_flow([format_tag_filter(REQUEST_ID_TAG, request_id)], policy)
                if existing:
                    return existing[0]
        yield Sleep(next(delays))
    raise AssertionError("unreachable")  # pragma: no cover


def wait_flow(
    weaver_id: str, until: str, timeout: float, on_status: Callable[[Weaver], Any] | None,
    policy: RetryPolicy,
) -> Flow[Weaver]:
    """Poll until `status == until`; fail fast on a final status that can never become it."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        weaver = yield from get_flow(weaver_id, policy)
        if on_status is not None:
            on_status(weaver)
        if weaver.status == until:
            return weaver
        if weaver.status in FINAL_STATUSES:
            raise LoomError(f"Weaver {weaver_id} is {weaver.status_text}, so it will never be "
                            f"{until}.")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise APITimeoutError(
                f"Weaver {weaver_id} is still {weaver.status} after {timeout:g} s (waiting for {until})."
            )
        yield Sleep(min(delay, remaining))
        delay = min(delay * 1.5, 2.0)


class Weavers(Resource):
    """`client.weavers`."""

    def create(
        self, image: str, org_id: str | None = None, *, env: Mapping[str, str] | None = None,
        memory: str | None = None, cpu: str | None = None, lifetime_hours: int | None = None,
        tags: Mapping[str, str] | None = None, command: Iterable[str] | None = None,
        args: Iterable[str] | None = None, workdir: str | None = None, repo_id: str | None = None,
        resources: Mapping[str, str] | None = None,
    ) -> Result[Weaver]:
        """Create a weaver (org_id defaults to your only org); safe to call on a flaky network.

        `memory="4Gi"`, `cpu="2"` and `lifetime_hours=4` are `%loom create`'s `--memory`,
        `--cpu` and `--lifetime` (`resources={"memory": ..., "cpu": ...}` also works)."""
        tags = {**check.tag_dict(tags), REQUEST_ID_TAG: uuid.uuid4().hex}
        body = CreateWeaverRequest(
            image=check.non_empty("image", image, ident=False), org_id=org_id or "-",
            env=check.env(env), tags=tags,
            resources=WeaverResources.model_validate(_resources(resources, memory, cpu)),
            lifetime_hours=check.lifetime(lifetime_hours), command=check.string_list("command", command),
            args=check.string_list("args", args), workdir=workdir, repo_id=repo_id,
        ).model_dump(exclude_none=True)
        return self._client._run(create_flow(body, org_id, self._policy))  # type: ignore[no-any-return]

    def list(self, tags: Any = None, status: str | Iterable[str] | None = None) -> Result[WeaverList]:
        """Your weavers (all of them for support/admin), optionally filtered by tags
        (`{key: value}` or `"key:value"` strings, all must match) and by status (one or a list:
        any of them), the values of `%loom weavers --tag/--status`."""
        try:
            chosen = status_filter(status)
        except ValueError as exc:
            raise check.LoomValidationError("status", str(exc).rstrip(".") + ".") from None
        flow = list_flow(check.tag_filters(tags), self._policy)
        if chosen:
            flow = _by_status(flow, chosen)
        return self._client._run(flow)  # type: ignore[no-any-return]

    def get(self, id: str) -> Result[Weaver]:
        return self._client._run(get_flow(check.non_empty("id", id), self._policy))  # type: ignore[no-any-return]

    def delete(self, id: str) -> Result[None]:
        path = f"/api/weaver/{check.non_empty('id', id)}"
        return self._client._run(delete(path, self._policy))  # type: ignore[no-any-return]

    def wait(
        self, id: str, until: str = RUNNING, timeout: float = 120.0,
        on_status: Callable[[Weaver], Any] | None = None,
    ) -> Result[Weaver]:
        """Poll until the weaver reaches `until`; `on_status(weaver)` is called after every poll."""
        flow = wait_flow(check.non_empty("id", id), until, timeout, on_status, self._policy)
        return self._client._run(flow)  # type: ignore[no-any-return]

    def logs(
        self, id: str, *, tail: int | None = None, timestamps: bool = False, follow: bool = True
    ) -> Any:
        """Complete log lines (LogLine): the whole log Loom holds, or its last `tail` lines; with
        follow=True, then the new ones until the weaver ends, resuming after drops and outages
        without loss or repeats (a gap Loom no longer holds is logged)."""
        return self._client._iterate(self._logs_flow(id, tail, timestamps, follow, events=False))

    def follow(self, id: str, *, tail: int | None = None, timestamps: bool = False) -> Any:
        """`logs(follow=True)` with its events between the lines: Reconnecting, Resumed, LogGap,
        and a last FollowEnded (see `loom_jupyter.client.follow`)."""
        return self._client._iterate(self._logs_flow(id, tail, timestamps, True, events=True))

    def reconnect(self, id: str, reconnects: Reconnects) -> Result[Reconnecting | FollowEnded]:
        """After a weaver's stream dropped: Reconnecting (wait its `delay`, then reconnect) while
        the weaver may still run, FollowEnded once it has ended or is gone."""
        weaver_id = check.non_empty("id", id)
        flow = reconnect_flow(weaver_id, self._status_check(weaver_id), reconnects)
        return self._client._run(flow)  # type: ignore[no-any-return]

    def _logs_flow(self, id: str, tail: int | None, timestamps: bool, follow: bool,
                   events: bool) -> Flow[None]:
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
            raise check.LoomValidationError("tail", f"expected a non-negative integer, got {tail!r}.")
        weaver_id = check.non_empty("id", id)
        tail = WHOLE_LOG if tail is None else tail  # Loom's own default is the last 256 lines
        return logs_flow(weaver_id, tail, timestamps, follow, self._policy,
                         self._status_check(weaver_id), events=events)

    def _status_check(self, weaver_id: str) -> StatusCheck:
        """One GET per check: the follow's own backoff does the retrying."""
        once = replace(self._policy, max_attempts=1)
        return lambda: get_flow(weaver_id, once)

    def attach(self, id: str, *, probe: float = 0.3) -> Any:
        """A terminal session (TerminalSession / AsyncTerminalSession) on the weaver's TTY."""
        return self._client._attach(f"/api/weaver/{check.non_empty('id', id)}/attach", probe)

    def cleanup(self, dry_run: bool = False) -> Result[CleanupResult]:
        """Delete expired weavers (system admins only); dry_run lists them instead."""
        call = Call("POST", "/api/weavers/cleanup", params=[("dry_run", str(bool(dry_run)).lower())],
                    parse=CleanupResult.model_validate, idempotent=bool(dry_run))
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]


