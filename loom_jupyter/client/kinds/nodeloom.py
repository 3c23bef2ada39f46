"""Kind "nodeloom" (seed 004): `sdk_...` bearer tokens with RBAC roles, X-RateLimit-* headers and
429 until the reset time, Spring-style `{"status","error","message","timestamp","path"}` errors."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .nodeloom_resources import PAGING, Agents, Executions, Teams, Workflows
from .base import Kind, header, retry_after_header, text_field

# SDK token management (both spellings) and the browser session routes.
CREDENTIAL_ROUTES = re.compile(r"/api/(?:(?:sdk-)?tokens|auth)(?:/.*)?/?$")


def error_message(status: int, data: Any) -> tuple[str | None, str]:
    """`{"status": 400, "error": "Bad Request", "message": "...", ...}`; code = the reason phrase."""
    return text_field(data, "error"), text_field(data, "message") or ""


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until `X-RateLimit-Reset` (a unix timestamp), clamped at 0; else Retry-After."""
    reset = header(headers, "x-ratelimit-reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    return retry_after_header(headers, now)


KIND = Kind(
    name="nodeloom",
    title="NodeLoom",
    default_port=None,
    route_families=("api/",),
    exact_routes=(),
    credential_routes=CREDENTIAL_ROUTES,
    auth="api_key",
    error_message=error_message,
    rate_limit_wait=rate_limit_wait,
    paging=PAGING,
    resources={"workflows": Workflows, "executions": Executions, "agents": Agents,
               "teams": Teams},
)
