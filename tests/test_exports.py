"""`loom_jupyter.client.__all__` is exactly its public names, all importable, shown under the package name."""
from __future__ import annotations

from loom_jupyter import client

CONTRACT = {
    "Loom", "AsyncLoom", "LoomError", "APIStatusError", "BadRequestError", "AuthenticationError",
    "PermissionDeniedError", "NotFoundError", "ConflictError", "RateLimitError", "ServerError",
    "ServiceUnavailableError", "APIConnectionError", "APITimeoutError", "StreamError",
    "ResponseValidationError", "LoomConfigError", "LoomValidationError", "Weaver", "WeaverList",
    "LogLine", "CleanupResult", "ThreadPage", "ThreadSummary", "Thread", "ThreadSearchHit",
    "TextDelta", "ToolCallDelta", "Completed", "ErrorEvent", "UnknownEvent", "Completion",
    "Conversation", "AsyncConversation", "Turn",
    "Message", "Health", "User", "Org", "WsToken", "TerminalSession", "AsyncTerminalSession",
}


def test_all_is_sorted_unique_and_complete():
    assert len(client.__all__) == len(set(client.__all__))
    assert set(client.__all__) >= CONTRACT
    public = {n for n in vars(client) if not n.startswith("_") and n not in {"annotations", "conversation", "follow", "models", "resources"}}
    assert public == set(client.__all__)


def test_exports_are_presented_under_the_package():
    for name in ("Loom", "AsyncLoom", "Weaver", "NotFoundError"):
        assert getattr(client, name).__module__ == "loom_jupyter.client"


def test_error_tree():
    assert issubclass(client.LoomValidationError, ValueError)
    assert issubclass(client.APITimeoutError, client.APIConnectionError)
    assert issubclass(client.ServiceUnavailableError, client.ServerError)
    for name in client.__all__:
        obj = getattr(client, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, client.LoomError) and obj.__name__ not in dir(__builtins__)
