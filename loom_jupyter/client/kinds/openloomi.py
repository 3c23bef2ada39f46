"""Kind "openloomi" (seed 003): email/password login or the desktop app's base64 token file, both a
JWT; `{"error","code"?,"cause"?}` errors; OpenAI-style chat streams under /api/ai."""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._base import Call
from .._errors import LoomConfigError
from .openloomi_resources import Chat, Models
from .base import Kind, Token, retry_after_header, text_field, token_from

LOGIN_PATH = "/api/remote-auth/login"
DEFAULT_TOKEN_FILE = "~/.openloomi/token"
# Sign-in, registration, refresh, OAuth, the session cookie routes, and password changes.
CREDENTIAL_ROUTES = re.compile(r"/api/(?:remote-auth|auth|user/password)(?:/.*)?/?$")


def error_message(status: int, data: Any) -> tuple[str | None, str]:
    """`{"error": "...", "code"?: "...", "cause"?: "..."}` -> message `error: cause`."""
    message = text_field(data, "error") or text_field(data, "message") or ""
    cause = text_field(data, "cause")
    if cause:
        message = f"{message.rstrip('.')}: {cause}" if message else cause
    return text_field(data, "code"), message


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float | None:
    return retry_after_header(headers, now)


def login(email: str, password: str) -> Call[Token]:
    """`POST /api/remote-auth/login {"email","password"}` -> `{"user": {...}, "token": JWT}`."""
    return Call("POST", LOGIN_PATH, json={"email": email, "password": password},
                parse=lambda data: token_from(data["token"]))


def read_token_file(path: str) -> str:
    """The JWT inside the desktop app's token file (base64 text, whitespace ignored)."""
    where = Path(path).expanduser()
    try:
        raw = where.read_text(encoding="ascii", errors="strict")
    except (OSError, UnicodeError) as exc:
        raise LoomConfigError(
            f"Cannot read the openloomi token file {str(where)!r} ({type(exc).__name__})."
        ) from None
    compact = "".join(raw.split())
    try:
        token = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeError):
        token = ""
    if not compact or token.count(".") != 2 or any(c.isspace() for c in token):
        raise LoomConfigError(
            f"The openloomi token file {str(where)!r} does not hold a base64-encoded JWT."
        )
    return token


KIND = Kind(
    name="openloomi",
    title="openloomi",
    default_port=3414,
    route_families=("api/",),
    exact_routes=(),
    credential_routes=CREDENTIAL_ROUTES,
    auth="password",
    error_message=error_message,
    rate_limit_wait=rate_limit_wait,
    login=login,
    read_token_file=read_token_file,
    resources={"models": Models, "chat": Chat},
)
