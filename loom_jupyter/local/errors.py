"""What can go wrong in the local server, named for what went wrong and free of HTTP.

Domain code (auth, orgs, threads, weavers, the LLM proxy) raises these; the HTTP layer turns
each into a status and Loom's `{"error", "message", ...}` body in one table (`base.py`).

    LocalError
    ├── InvalidRequest ── InvalidLifetime, InvalidName, InvalidScopes,
    │                     InvalidDeviceCode, InvalidUserCode
    ├── BodyTooLarge, UnsupportedMediaType      (raised by the HTTP layer itself)
    ├── NotAuthenticated
    ├── NotAllowed
    ├── NotFound ── WeaverNotFound
    ├── VersionConflict, AlreadyRevoked
    ├── TooManyWeavers
    ├── ProvisionFailed
    ├── RateLimited
    └── UpstreamFailed ── UpstreamTimeout
"""
from __future__ import annotations

from typing import Any


class LocalError(Exception):
    """The request cannot be done; `details` are extra facts for the caller (never secrets)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(LocalError):
    """The request (body, query or path) is malformed; nothing has changed."""


class InvalidLifetime(InvalidRequest):
    """A weaver lifetime outside 1..48 hours."""


class InvalidName(InvalidRequest):
    """An API key name that is empty or holds control characters."""


class InvalidScopes(InvalidRequest):
    """API key scopes that are empty or unknown."""


class InvalidDeviceCode(InvalidRequest):
    """A device-code poll whose `device_code` is not a UUID (loom-api.md §1.3)."""


class InvalidUserCode(InvalidRequest):
    """A user code to approve that is malformed, unknown, expired or already used."""


class BodyTooLarge(LocalError):
    """The request body is over the configured limit."""


class UnsupportedMediaType(LocalError):
    """A body that is not JSON where JSON is expected."""


class NotAuthenticated(LocalError):
    """No valid credential came with the request."""


class NotAllowed(LocalError):
    """The caller is known but may not do this."""


class NotFound(LocalError):
    """No such thing, or the caller may not know it exists."""


class WeaverNotFound(NotFound):
    """No weaver with this id."""


class VersionConflict(LocalError):
    """A thread write based on an older version (`server_version`, `client_version` details)."""


class AlreadyRevoked(LocalError):
    """An API key revoked a second time."""


class TooManyWeavers(LocalError):
    """The limit of pending and running weavers is reached."""


class ProvisionFailed(LocalError):
    """A weaver's process could not start."""


class UpstreamFailed(LocalError):
    """The LLM provider failed or answered something unusable."""


class UpstreamTimeout(UpstreamFailed):
    """The LLM provider did not answer in time."""


class RateLimited(LocalError):
    """Too many LLM requests: the provider's 429, or the local rate-limit mode."""
