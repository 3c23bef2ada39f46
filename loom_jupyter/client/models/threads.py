"""Thread wire models (loom-api.md §3); a full Thread keeps unknown fields for lossless round trips."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._repr import fields_table
from .common import ModelList, ResponseModel


class ThreadSummary(ResponseModel):
    """A list item; optional keys may be missing (§10.13)."""

    id: str
    version: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    last_activity_at: str | None = None
    title: str | None = None
    workspace_root: str | None = None
    git_branch: str | None = None
    provider: str | None = None
    model: str | None = None
    tags: list[str] = Field(default_factory=list)
    message_count: int = 0
    is_pinned: bool = False
    visibility: str | None = None


class ThreadSummaryList(ModelList[ThreadSummary]):
    columns = ("id", "title", "version", "message_count", "last_activity_at", "workspace_root")


class ThreadPage(ResponseModel):
    """One page of `GET /api/threads`; a bare array (the Rust client's expectation) is accepted."""

    threads: list[ThreadSummary] = Field(default_factory=list)
    total: int = 0
    limit: int | None = None
    offset: int = 0

    @field_validator("threads", mode="after")
    @classmethod
    def _as_list(cls, value: list[ThreadSummary]) -> ThreadSummaryList:
        return ThreadSummaryList(value)

    @model_validator(mode="before")
    @classmethod
    def _bare_array(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"threads": data, "total": len(data)}
        if isinstance(data, dict) and "total" not in data and isinstance(data.get("threads"), list):
            return {**data, "total": len(data["threads"])}
        return data

    def _repr_html_(self) -> str:
        return ThreadSummaryList(self.threads)._repr_html_()

    def to_pandas(self) -> Any:
        return ThreadSummaryList(self.threads).to_pandas()


class ThreadSearchHit(ThreadSummary):
    score: float | None = None


class ThreadSearchHitList(ModelList[ThreadSearchHit]):
    columns = ("id", "title", "score", "version", "last_activity_at")


class Thread(BaseModel):
    """A full thread; unknown fields are kept (extra="allow") so `put` loses nothing."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str
    version: int
    created_at: str | None = None
    updated_at: str | None = None
    last_activity_at: str | None = None
    workspace_root: str | None = None
    conversation: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    visibility: str | None = None

    @property
    def title(self) -> str | None:
        return (self.metadata or {}).get("title")

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.conversation or {}).get("messages") or [])

    def wire(self) -> dict[str, Any]:
        """The JSON body for PUT: exactly what was received plus what was changed."""
        return self.model_dump(mode="json", exclude_unset=True)

    def _repr_html_(self) -> str:
        pairs = [("id", self.id), ("title", self.title), ("version", self.version),
                 ("messages", len(self.messages)), ("updated_at", self.updated_at),
                 ("visibility", self.visibility)]
        return fields_table(pairs, f"Thread {self.id}")
