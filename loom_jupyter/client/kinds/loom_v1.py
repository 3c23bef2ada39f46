"""Kind "loom-v1": the Loom v1 asset server (seed 002): REST under /api/v1, username/password login
returning a JWT, `{"message","statusCode"}` errors, `page`/`perPage` paging, default port 8092."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._base import Call
from .loom_v1_resources import PAGING, Assets, Pipelines
from .base import Kind, Token, retry_after_header, text_field, token_from

LOGIN_PATH = "/api/v1/auth/login"
# Sign-in, OAuth exchange, API-key (token) management and user records (password changes).
CREDENTIAL_ROUTES = re.compile(r"/api/v1/(?:auth|tokens|users/[^/]+)(?:/.*)?/?$")


def error_message(status: int, data: Any) -> tuple[str | None, str]:
    """`{"message": "...", "statusCode": 404}`."""
    return None, text_field(data, "message") or ""


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float | None:
    return retry_after_header(headers, now)


def login(username: str, password: str) -> Call[Token]:
    """`POST /api/v1/auth/login {"username","password"}` -> `{"token": JWT}`."""
    return Call("POST", LOGIN_PATH, json={"username": username, "password": password},
                parse=lambda data: token_from(data["token"]))


KIND = Kind(
    name="loom-v1",
    title="Loom v1 asset server",
    default_port=8092,
    route_families=("api/v1/",),
    exact_routes=(),
    credential_routes=CREDENTIAL_ROUTES,
    auth="password",
    error_message=error_message,
    rate_limit_wait=rate_limit_wait,
    login=login,
    paging=PAGING,
    resources={"assets": Assets, "pipelines": Pipelines},
)
