"""HS256 JSON Web Tokens made with the standard library, as the v1 and openloomi stand-ins issue them.

`issue` signs a payload carrying `sub`, `iat`, `exp` (seconds since the epoch, a float: RFC 7519
allows non-integer NumericDates, and sub-second lifetimes keep expiry tests fast) and a unique
`jti`; `verify` checks the signature, then `exp`, and raises `TokenError` saying which failed.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any


class TokenError(Exception):
    """A bearer token the stand-in refuses; `expired` tells an expired token from a forged one."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, signing_input: str) -> str:
    return b64url(hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest())


def issue(secret: bytes, subject: str, lifetime: float, **claims: Any) -> str:
    """A signed JWT for `subject` that expires `lifetime` seconds from now."""
    now = time.time()
    payload = {"sub": subject, "iat": round(now, 3), "exp": round(now + lifetime, 3),
               "jti": secrets.token_hex(8), **claims}
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{header}.{body}.{_sign(secret, f'{header}.{body}')}"


def verify(secret: bytes, token: str, now: float | None = None) -> dict[str, Any]:
    """The payload of a token this secret signed and that has not expired, or TokenError."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("Invalid token")
    header, body, signature = parts
    if not hmac.compare_digest(signature, _sign(secret, f"{header}.{body}")):
        raise TokenError("Invalid token")
    try:
        payload = json.loads(unb64url(body))
        exp = float(payload["exp"])
    except (ValueError, KeyError, TypeError):
        raise TokenError("Invalid token") from None
    if exp <= (time.time() if now is None else now):
        raise TokenError("Token expired", expired=True)
    return dict(payload)
