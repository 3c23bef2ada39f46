"""The SQL of device-code sign-ins and the `lt_` access tokens they pay out (loom-api.md §1.3).

Only hashes of device codes and tokens are stored. Rows are read and written by the server and,
for `loom-jupyter local approve`, by a second process on the same database (SQLite in WAL mode
with a busy timeout), so every check-then-write runs in one `Store.transaction()`.
"""
from __future__ import annotations

import sqlite3
import time
import uuid

from .store import Store, utc_now


class SignIns:
    """Queries only: the device flow's rules live in `device`, token rules in `auth`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- device codes -------------------------------------------------------------------------

    def drop_expired_codes(self) -> None:
        self.store.execute("DELETE FROM device_codes WHERE expires_at <= ?", (time.time(),))

    def insert_code(self, device_hash: str, user_code: str, expires_at: float) -> bool:
        """False when `user_code` is taken by a live code (the caller draws another)."""
        try:
            self.store.execute("INSERT INTO device_codes (device_hash, user_code, expires_at)"
                               " VALUES (?, ?, ?)", (device_hash, user_code, expires_at))
        except sqlite3.IntegrityError:
            return False
        return True

    def code_by_device(self, device_hash: str) -> sqlite3.Row | None:
        return self.store.one("SELECT device_hash, expires_at, approved_by FROM device_codes"
                              " WHERE device_hash = ?", (device_hash,))

    def code_by_user_code(self, user_code: str) -> sqlite3.Row | None:
        return self.store.one("SELECT device_hash, expires_at, approved_by FROM device_codes"
                              " WHERE user_code = ?", (user_code,))

    def approve_code(self, device_hash: str, user_id: str) -> None:
        self.store.execute("UPDATE device_codes SET approved_by = ?, approved_at = ?"
                           " WHERE device_hash = ?", (user_id, utc_now(), device_hash))

    def delete_code(self, device_hash: str) -> None:
        self.store.execute("DELETE FROM device_codes WHERE device_hash = ?", (device_hash,))

    # -- access tokens ------------------------------------------------------------------------

    def insert_token(self, token_hash: str, user_id: str, seconds: float) -> str:
        token_id = str(uuid.uuid4())
        self.store.execute(
            "INSERT INTO access_tokens (id, token_hash, user_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)", (token_id, token_hash, user_id, utc_now(),
                                        time.time() + seconds))
        return token_id

    def live_token(self, token_hash: str) -> sqlite3.Row | None:
        """The token's id and user, unless it is revoked or has not been used for too long."""
        return self.store.one("SELECT id, user_id FROM access_tokens WHERE token_hash = ?"
                              " AND revoked_at IS NULL AND expires_at > ?",
                              (token_hash, time.time()))

    def touch_token(self, token_id: str, seconds: float) -> None:
        """Record a use and slide the expiry forward (Loom's 60 days, §1.1)."""
        self.store.execute("UPDATE access_tokens SET last_used_at = ?, expires_at = ?"
                           " WHERE id = ?", (utc_now(), time.time() + seconds, token_id))

    def revoke_token(self, token_id: str) -> None:
        self.store.execute("UPDATE access_tokens SET revoked_at = ? WHERE id = ?"
                           " AND revoked_at IS NULL", (utc_now(), token_id))
