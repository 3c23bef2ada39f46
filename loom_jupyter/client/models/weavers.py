"""Weaver wire models: the weaver itself, lists, cleanup results, log lines, create requests."""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, model_validator

from .._repr import fields_table
from .common import ModelList, RequestModel, ResponseModel

# The weaver status vocabulary (loom-api.md §4.1), the only list of it outside `local/`.
PENDING, RUNNING, SUCCEEDED, FAILED, TERMINATING = (
    "pending", "running", "succeeded", "failed", "terminating")
KNOWN_STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, TERMINATING)  # a newer Loom may add more
ACTIVE_STATUSES = frozenset({PENDING, RUNNING})  # on its way to run, or running
LIVE_STATUSES = ACTIVE_STATUSES | {TERMINATING}  # its pod (process) may still produce output
FINAL_STATUSES = frozenset({SUCCEEDED, FAILED})  # ended by itself; it will never run again
# Set by `weavers.create` so a create whose answer was lost can be found instead of repeated.
REQUEST_ID_TAG = "loom-jupyter-request-id"


def status_filter(statuses: str | Iterable[str] | None) -> frozenset[str]:
    """The statuses a filter keeps (empty: all), from one status or several; the one rule for
    `weavers.list(status=...)`, `%loom weavers --status` and the dashboard. A value that is
    not a status this SDK knows but is close to one is a typo: ValueError with "did you mean"."""
    if statuses is None:
        return frozenset()
    values = [statuses] if isinstance(statuses, str) else list(statuses)
    chosen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"a status is a word such as {RUNNING!r}, got {value!r}")
        value = value.strip().lower()
        close = difflib.get_close_matches(value, KNOWN_STATUSES, n=1, cutoff=0.75)
        if value not in KNOWN_STATUSES and close:
            raise ValueError(f"unknown status {value!r} (did you mean {close[0]!r}?)")
        chosen.add(value)
    return frozenset(chosen)


def unknown_statuses(chosen: frozenset[str], found: Iterable[Weaver]) -> list[str]:
    """Statuses of a filter that neither this SDK nor any listed weaver knows (likely typos)."""
    seen = {w.status for w in found}
    return sorted(s for s in chosen if s not in KNOWN_STATUSES and s not in seen)


_EXIT_CODE = re.compile(r"\bexit code (-?\d+)")


class Weaver(ResponseModel):
    """A weaver (loom-api.md §4.1); `status` may be a value newer than this SDK knows."""

    id: str
    pod_name: str | None = None
    status: str = PENDING
    created_at: datetime
    image: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    lifetime_hours: int | None = None
    age_hours: float | None = None
    owner_user_id: str | None = None
    request_id: str | None = None
    reason: str | None = None  # why it failed or stopped, when the server says (e.g. "exit code 3")

    @model_validator(mode="before")
    @classmethod
    def _split_request_id(cls, data: Any) -> Any:
        """Our bookkeeping tag moves to `request_id`: `tags` holds only the user's tags."""
        tags = data.get("tags") if isinstance(data, dict) else None
        if isinstance(tags, dict) and REQUEST_ID_TAG in tags:
            tags = dict(tags)
            data = {**data, "tags": tags, "request_id": tags.pop(REQUEST_ID_TAG)}
        return data

    @property
    def exit_code(self) -> int | None:
        """The process's exit code, when `reason` gives one."""
        match = _EXIT_CODE.search(self.reason or "")
        return int(match.group(1)) if match else None

    @property
    def status_text(self) -> str:
        """The status with its reason: `failed (exit code 3)`."""
        return f"{self.status} ({self.reason})" if self.reason else self.status

    @property
    def expires_at(self) -> datetime | None:
        """Not sent by Loom (§4.1): created_at + lifetime_hours."""
        if self.lifetime_hours is None:
            return None
        return self.created_at + timedelta(hours=self.lifetime_hours)

    def __repr_args__(self) -> Any:
        return [(k, v) for k, v in super().__repr_args__() if k != "reason" or v]

    def _repr_html_(self) -> str:
        pairs = [(k, getattr(self, k)) for k in type(self).model_fields
                 if k != "reason" or self.reason]  # a reason only when there is one
        return fields_table(pairs + [("expires_at", self.expires_at)], f"Weaver {self.id}")


class WeaverList(ModelList[Weaver]):
    """`GET /api/weavers` as a list of Weaver (the server's `count` is just the length)."""

    columns = ("id", "status", "image", "created_at", "age_hours", "lifetime_hours", "tags")


class CleanupResult(ResponseModel):
    """Accepts `{dry_run, would_delete|deleted, count}` (omitted or null) and `{deleted_count, deleted_ids}` (§4.5)."""

    dry_run: bool = False
    ids: list[str] = Field(default_factory=list)
    count: int = 0

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        ids = data.get("would_delete") or data.get("deleted") or data.get("deleted_ids") or []
        count = data.get("count", data.get("deleted_count"))
        return {
            "dry_run": bool(data.get("dry_run", False)),
            "ids": ids,
            "count": len(ids) if count is None else count,
        }


@dataclass(frozen=True)
class LogLine:
    """One complete log line; `timestamp` is set when the server prefixed one."""

    text: str
    timestamp: datetime | None = None

    def __str__(self) -> str:
        return self.text


class WeaverResources(RequestModel):
    memory_limit: str | None = None
    cpu_limit: str | None = None


class CreateWeaverRequest(RequestModel):
    """Body of `POST /api/weaver` (§4.2); `repo_id` is harmless where the server ignores it."""

    image: str
    org_id: str
    env: dict[str, str] = Field(default_factory=dict)
    resources: WeaverResources = Field(default_factory=WeaverResources)
    tags: dict[str, str] = Field(default_factory=dict)
    lifetime_hours: int | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    workdir: str | None = None
    repo_id: str | None = None
