"""Kind "loom": the Loom server this project was built for (loom-api.md)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._problems import code_and_message
from ..resources import Auth, Llm, SignIn, Threads, Weavers
from .base import Kind, retry_after_header

# Routes that mint, list or revoke credentials, or hand out a thread to the public: a kernel
# must never reach them through the proxy (matched on the decoded upstream path).
CREDENTIAL_ROUTES = re.compile(
    r"/api/(?:orgs/[^/]+/api-keys|auth/device/complete|auth/logout|sessions|threads/[^/]+/share)"
    r"(?:/.*)?/?$")


def error_message(status: int, data: Any) -> tuple[str | None, str]:
    """Loom's flat, nested, `{code,message}` and `{status,message}` error bodies (§2)."""
    if not isinstance(data, dict):
        return None, ""
    return code_and_message(data, "", {})  # type: ignore[arg-type]


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float | None:
    return retry_after_header(headers, now)


KIND = Kind(
    name="loom",
    title="Loom",
    default_port=None,
    route_families=("api/", "proxy/"),
    exact_routes=("health", "auth/ws-token"),
    credential_routes=CREDENTIAL_ROUTES,
    auth="api_key",
    error_message=error_message,
    rate_limit_wait=rate_limit_wait,
    resources={"weavers": Weavers, "threads": Threads, "llm": Llm, "auth": Auth, "signin": SignIn},
)
