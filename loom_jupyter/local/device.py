"""Loom's device-code sign-in (loom-api.md §1.3): a program starts it and polls, a signed-in
person approves the short user code, and the next poll pays out one `lt_` access token.

Codes live in SQLite with a wall-clock expiry, so an approval by `loom-jupyter local approve`
(a second process on the same data directory) and a server restart both keep them. A code pays
out exactly once; afterwards, like an unknown or expired one, it polls as `expired`.
"""
from __future__ import annotations

import math
import re
import secrets
import time
import uuid
from typing import Any

from .auth import Auth, token_hash
from .errors import InvalidDeviceCode, InvalidUserCode

_USER_CODE = re.compile(r"(\d{3})-?(\d{3})-?(\d{3})")
_DRAWS = 20  # user codes drawn before giving up (a billion codes, a handful live at once)


def _new_user_code() -> str:
    digits = f"{secrets.randbelow(10**9):09d}"
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"


def canonical_user_code(value: Any) -> str:
    """`123-456-789` from what a person typed (dashes optional, spaces around ignored)."""
    match = _USER_CODE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidUserCode("Invalid or expired user code")
    return "-".join(match.groups())


def _device_hash(value: Any) -> str:
    """The stored hash of a device code; any spelling of the same UUID is the same code."""
    try:
        return token_hash(str(uuid.UUID(value)))
    except (TypeError, ValueError, AttributeError):
        raise InvalidDeviceCode("Invalid device code") from None


class DeviceFlow:
    def __init__(self, auth: Auth, ttl: float) -> None:
        self.auth = auth
        self.store = auth.store
        self.rows = auth.signins
        self.ttl = ttl

    def start(self, base_url: str) -> dict[str, Any]:
        """A new code pair; `verification_url` is where a person approves it (`<base>/device`)."""
        device_code = str(uuid.uuid4())
        with self.store.transaction():
            self.rows.drop_expired_codes()
            for _ in range(_DRAWS):
                user_code = _new_user_code()
                if self.rows.insert_code(token_hash(device_code), user_code,
                                         time.time() + self.ttl):
                    break
            else:
                raise RuntimeError("no free user code")  # a 500: cannot happen in practice
        return {"device_code": device_code, "user_code": user_code,
                "verification_url": f"{base_url.rstrip('/')}/device",
                "expires_in": max(1, math.ceil(self.ttl))}

    def poll(self, device_code: Any) -> dict[str, Any]:
        """`pending`, `completed` with the token (once: the code is then spent), or `expired`."""
        device_hash = _device_hash(device_code)
        with self.store.transaction():
            row = self.rows.code_by_device(device_hash)
            if row is None or row["expires_at"] <= time.time():
                return {"status": "expired"}
            if row["approved_by"] is None:
                return {"status": "pending"}
            self.rows.delete_code(device_hash)
            token = self.auth.issue_access_token(row["approved_by"])
        return {"status": "completed", "access_token": token}

    def approve(self, user_id: str, user_code: Any) -> None:
        """Sign the code's program in as `user_id`; a code is approved once, before it expires."""
        code = canonical_user_code(user_code)
        with self.store.transaction():
            row = self.rows.code_by_user_code(code)
            if row is None or row["expires_at"] <= time.time() or row["approved_by"] is not None:
                raise InvalidUserCode("Invalid or expired user code")
            self.rows.approve_code(row["device_hash"], user_id)
