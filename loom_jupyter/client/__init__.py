"""The Loom SDK: `Loom` (sync) and `AsyncLoom` (async) for the whole Loom API, with typed models and errors."""
from __future__ import annotations

from . import kinds
from ._client import AsyncLoom, BaseLoom, Loom
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    LoomConfigError,
    LoomError,
    LoomValidationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
    UnsupportedFeatureError,
)
from ._settings import Settings, resolve_settings
from ._ws import AsyncEventSocket, AsyncTerminalSession, EventSocket, TerminalSession
from .conversation import AsyncConversation, Conversation, Turn
from .follow import FollowEnded, LogGap, Reconnecting, Reconnects, Resumed
from .models import (
    CleanupResult,
    Completed,
    Completion,
    ErrorEvent,
    Health,
    LlmEvent,
    LogLine,
    Message,
    Org,
    OrgList,
    TextDelta,
    Thread,
    ThreadPage,
    ThreadSearchHit,
    ThreadSummary,
    Tool,
    ToolCall,
    ToolCallDelta,
    UnknownEvent,
    Usage,
    User,
    Weaver,
    WeaverList,
    WsToken,
)
from .resources.weavers import REQUEST_ID_TAG

__all__ = [
    "REQUEST_ID_TAG",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncConversation",
    "AsyncEventSocket",
    "AsyncLoom",
    "AsyncTerminalSession",
    "AuthenticationError",
    "BadRequestError",
    "BaseLoom",
    "CleanupResult",
    "Completed",
    "Completion",
    "ConflictError",
    "Conversation",
    "ErrorEvent",
    "EventSocket",
    "FollowEnded",
    "Health",
    "LlmEvent",
    "LogGap",
    "LogLine",
    "Loom",
    "LoomConfigError",
    "LoomError",
    "LoomValidationError",
    "Message",
    "NotFoundError",
    "Org",
    "OrgList",
    "PermissionDeniedError",
    "RateLimitError",
    "Reconnecting",
    "Reconnects",
    "ResponseValidationError",
    "Resumed",
    "ServerError",
    "ServiceUnavailableError",
    "Settings",
    "StreamError",
    "TerminalSession",
    "TextDelta",
    "Thread",
    "ThreadPage",
    "ThreadSearchHit",
    "ThreadSummary",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Turn",
    "UnknownEvent",
    "UnsupportedFeatureError",
    "Usage",
    "User",
    "Weaver",
    "WeaverList",
    "WsToken",
    "kinds",
    "resolve_settings",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith(__name__ + "."):
        try:
            _obj.__module__ = __name__  # reprs and docs show loom_jupyter.client, not private paths
        except (AttributeError, TypeError):
            pass
