"""Pydantic wire models of the Loom API."""
from __future__ import annotations

from .common import Health, ModelList, Org, OrgList, RequestModel, ResponseModel, User, WsToken
from .llm import (
    Completed,
    Completion,
    ErrorEvent,
    LlmEvent,
    LlmRequest,
    Message,
    ResponseMessage,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    UnknownEvent,
    Usage,
)
from .threads import (
    Thread,
    ThreadPage,
    ThreadSearchHit,
    ThreadSearchHitList,
    ThreadSummary,
    ThreadSummaryList,
)
from .weavers import (
    CleanupResult,
    CreateWeaverRequest,
    LogLine,
    Weaver,
    WeaverList,
    WeaverResources,
)

__all__ = [
    "CleanupResult", "Completed", "Completion", "CreateWeaverRequest", "ErrorEvent", "Health",
    "LlmEvent", "LlmRequest", "LogLine", "Message", "ModelList", "Org", "OrgList", "RequestModel",
    "ResponseMessage", "ResponseModel", "TextDelta", "Thread", "ThreadPage", "ThreadSearchHit",
    "ThreadSearchHitList", "ThreadSummary", "ThreadSummaryList", "Tool", "ToolCall",
    "ToolCallDelta", "UnknownEvent", "Usage", "User", "Weaver", "WeaverList", "WeaverResources",
    "WsToken",
]
