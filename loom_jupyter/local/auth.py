"""Who is calling: hashed API keys with roles, the admin key file, sessions, `lt_` access
tokens (paid out by the device flow), one-shot ws tokens.

Only SHA-256 hashes of keys and tokens are stored (loom-api.md §1.1); the plain admin key exists
in exactly one place, `<data_dir>/admin.key` (mode 0600).
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from .config import LocalConfig
from .principal import Principal, Role
from .store import Store, utc_now
from .store_accounts import Accounts
from .store_signins import SignIns

KEY_RE = re.compile(r"lk_[0-9a-f]{64}")
ACCESS_TOKEN_RE = re.compile(r"lt_[0-9a-f]{64}")
SESSION_SECONDS = 60 * 24 * 3600  # 60 days, like Loom's session cookie (§1.2)
ACCESS_TOKEN_SECONDS = SESSION_SECONDS  # and its access tokens, slid forward on use (§1.1)
# How much of a key listings show: "lk_" and 8 hex digits, enough to tell keys apart, far too
# little to guess the other 56.
PREFIX_LENGTH = 11


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_key() -> str:
    return "lk_" + secrets.token_hex(32)


def key_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]


def write_secret_file(path: Path, secret: str) -> None:
    """Write `secret` alone on one line, mode 0600 from the first byte, replacing atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    path.chmod(0o600)


class Auth:
    def __init__(self, store: Store, config: LocalConfig) -> None:
        self.store = store
        self.accounts = Accounts(store)
        self.signins = SignIns(store)
        self.config = config
        self._ws_tokens: dict[str, tuple[str, str | None, float]] = {}

    # -- org, users, the admin key ------------------------------------------------------------

    @property
    def default_org_id(self) -> str:
        org_id = self.store.get_meta("default_org_id")
        assert org_id is not None, "ensure_default_org() runs at startup"
        return org_id

    def ensure_default_org(self) -> str:
        if (org_id := self.store.get_meta("default_org_id")) is not None:
            return org_id
        with self.store.transaction():
            org_id = self.accounts.insert_org("default")
            self.store.set_meta("default_org_id", org_id)
        return org_id

    def ensure_admin_key(self, path: Path) -> None:
        """Reuse the key in `path` when it is valid; otherwise mint one and write it there."""
        text = path.read_text().strip() if path.is_file() else ""
        if KEY_RE.fullmatch(text):
            row = self.accounts.key_by_hash(token_hash(text))
            if row is not None and row["revoked_at"] is None:
                self.accounts.fill_key_facts(row["id"], key_prefix(text))
                path.chmod(0o600)
                return
            if row is None:  # the database was reset but the file survived: keep the key
                self._register_admin_key(text)
                path.chmod(0o600)
                return
        key = new_key()
        self._register_admin_key(key)
        write_secret_file(path, key)

    def _register_admin_key(self, key: str) -> None:
        org_id = self.default_org_id
        with self.store.transaction():
            user_id = self.store.get_meta("admin_user_id")
            if user_id is None:
                user_id = self.accounts.insert_user("admin", "system_admin", org_id, "owner")
                self.store.set_meta("admin_user_id", user_id)
            # Nobody made the bootstrap key but the admin it authenticates: its own creator.
            self.accounts.insert_key(token_hash(key), key_prefix(key), org_id, user_id, "admin",
                                     ["*"], created_by=user_id)

    def create_key(self, org_id: str, name: str, scopes: list[str], role: Role,
                   created_by: str) -> dict[str, str]:
        """A new key and the new user it authenticates as (`role`), in one transaction."""
        key = new_key()
        with self.store.transaction():
            user_id = self.accounts.insert_user(name, role, org_id, "member")
            key_id, created_at = self.accounts.insert_key(token_hash(key), key_prefix(key), org_id,
                                                          user_id, name, scopes, created_by)
        return {"id": key_id, "key": key, "prefix": key_prefix(key), "created_at": created_at,
                "user_id": user_id}

    # -- authentication -----------------------------------------------------------------------

    def principal_for(self, user_id: str, key_id: str | None = None,
                      access_token_id: str | None = None) -> Principal | None:
        user = self.accounts.user(user_id)
        if user is None:
            return None
        return Principal(user_id=user_id, display_name=user["display_name"], role=user["role"],
                         org_ids=self.accounts.org_ids_of(user_id), key_id=key_id,
                         access_token_id=access_token_id)

    def me(self, p: Principal) -> dict[str, Any]:
        """`GET /api/auth/me`: who the caller is and their global roles (§1.3). A local user has
        no email, avatar or locale: Loom sends null for what it does not know."""
        user = self.accounts.user(p.user_id)
        return {"id": p.user_id, "display_name": p.display_name, "email": None,
                "avatar_url": None, "locale": None,
                "global_roles": [] if p.role == "user" else [p.role],
                "created_at": user["created_at"] if user else utc_now()}

    def authenticate_bearer(self, token: str) -> Principal | None:
        """An `lk_` API key or an `lt_` access token, else None; `ws_` tokens are WS-only (§1.1)."""
        if token.startswith("lt_"):
            return self.authenticate_access_token(token)
        return self.authenticate_key(token)

    def authenticate_key(self, token: str) -> Principal | None:
        """An `lk_` API key (not revoked), else None."""
        if not KEY_RE.fullmatch(token):
            return None
        row = self.accounts.key_by_hash(token_hash(token))
        if row is None or row["revoked_at"] is not None:
            return None
        self.accounts.touch_key(row["id"], key_prefix(token))
        return self.principal_for(row["user_id"], row["id"])

    def authenticate_session(self, value: str) -> Principal | None:
        user_id = self.accounts.session_user(token_hash(value))
        return None if user_id is None else self.principal_for(user_id)

    def authenticate_token(self, token: str) -> Principal | None:
        """First-message WS auth: a one-shot `ws_` token (consumed) or an API key."""
        if token.startswith("ws_"):
            entry = self._ws_tokens.pop(token_hash(token), None)
            if entry is None or entry[2] < time.monotonic():
                return None
            return self.principal_for(entry[0], entry[1])
        return self.authenticate_bearer(token)

    def authenticate_access_token(self, token: str) -> Principal | None:
        """An `lt_` token acts exactly as its user, with that user's roles, like an API key."""
        if not ACCESS_TOKEN_RE.fullmatch(token):
            return None
        row = self.signins.live_token(token_hash(token))
        if row is None:
            return None
        self.signins.touch_token(row["id"], ACCESS_TOKEN_SECONDS)
        return self.principal_for(row["user_id"], access_token_id=row["id"])

    # -- issued tokens ------------------------------------------------------------------------

    def create_ws_token(self, principal: Principal) -> str:
        now = time.monotonic()
        self._ws_tokens = {h: e for h, e in self._ws_tokens.items() if e[2] >= now}
        token = "ws_" + secrets.token_hex(16)
        self._ws_tokens[token_hash(token)] = (principal.user_id, principal.key_id,
                                              now + self.config.ws_token_ttl)
        return token

    def create_session(self, principal: Principal) -> str:
        value = secrets.token_urlsafe(32)
        self.accounts.insert_session(token_hash(value), principal.user_id, SESSION_SECONDS)
        return value

    def delete_session(self, value: str) -> None:
        self.accounts.delete_session(token_hash(value))

    def issue_access_token(self, user_id: str) -> str:
        """A new `lt_` token for `user_id`; only its hash is kept. Call inside a transaction."""
        token = "lt_" + secrets.token_hex(32)
        self.signins.insert_token(token_hash(token), user_id, ACCESS_TOKEN_SECONDS)
        return token

    def logout(self, p: Principal, cookie: str | None) -> None:
        """End the credential that made the call: the cookie session, or the `lt_` token (then
        it answers 401). An API key is not a sign-in and stays valid (revoke it instead)."""
        if cookie:
            self.delete_session(cookie)
        if p.access_token_id is not None:
            self.signins.revoke_token(p.access_token_id)
