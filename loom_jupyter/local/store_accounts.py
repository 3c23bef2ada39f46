"""The SQL of orgs, users, memberships, API keys and sessions; the rules live in `auth`/`orgs`."""
from __future__ import annotations

import sqlite3
import time
import uuid

from .store import Store, utc_now

_KEY_COLUMNS = ("k.id, k.name, k.prefix, k.scopes, k.created_by, k.created_at, k.last_used_at, "
                "k.revoked_at, k.user_id, u.role")
_ORG_COLUMNS = ("o.id, o.name, o.created_at, "
                "(SELECT count(*) FROM memberships c WHERE c.org_id = o.id) AS member_count")


class Accounts:
    """Queries only: every check of who may do what is made by the caller."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- orgs and users -----------------------------------------------------------------------

    def insert_org(self, name: str) -> str:
        org_id = str(uuid.uuid4())
        self.store.execute("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)",
                           (org_id, name, utc_now()))
        return org_id

    def org_exists(self, org_id: str) -> bool:
        return self.store.one("SELECT 1 FROM orgs WHERE id = ?", (org_id,)) is not None

    def orgs_with_role(self, user_id: str) -> list[sqlite3.Row]:
        """Every org, oldest first, with its member count and the user's membership role there
        (None if not a member)."""
        return self.store.all(
            f"SELECT {_ORG_COLUMNS}, m.role FROM orgs o LEFT JOIN memberships m "
            "ON m.org_id = o.id AND m.user_id = ? ORDER BY o.created_at", (user_id,))

    def org(self, org_id: str) -> sqlite3.Row | None:
        return self.store.one(f"SELECT {_ORG_COLUMNS} FROM orgs o WHERE o.id = ?", (org_id,))

    def members(self, org_id: str) -> list[sqlite3.Row]:
        """An org's members, oldest first; a user joins their org when it is created with them."""
        return self.store.all(
            "SELECT u.id AS user_id, u.display_name, m.role, u.created_at AS joined_at"
            " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?"
            " ORDER BY u.created_at, u.id", (org_id,))

    def insert_user(self, display_name: str, role: str, org_id: str, org_role: str) -> str:
        user_id = str(uuid.uuid4())
        self.store.execute("INSERT INTO users (id, display_name, role, created_at) VALUES (?,?,?,?)",
                           (user_id, display_name, role, utc_now()))
        self.store.execute("INSERT INTO memberships (org_id, user_id, role) VALUES (?, ?, ?)",
                           (org_id, user_id, org_role))
        return user_id

    def user(self, user_id: str) -> sqlite3.Row | None:
        return self.store.one("SELECT display_name, role, created_at FROM users WHERE id = ?",
                              (user_id,))

    def user_ids_named(self, name: str) -> list[str]:
        """Ids of the users with this id or display name (display names need not be unique)."""
        rows = self.store.all("SELECT id FROM users WHERE id = ? OR display_name = ?"
                              " ORDER BY created_at", (name, name))
        return [str(r["id"]) for r in rows]

    def org_ids_of(self, user_id: str) -> tuple[str, ...]:
        rows = self.store.all("SELECT org_id FROM memberships WHERE user_id = ? ORDER BY org_id",
                              (user_id,))
        return tuple(r["org_id"] for r in rows)

    # -- API keys -----------------------------------------------------------------------------

    def insert_key(self, key_hash: str, prefix: str, org_id: str, user_id: str, name: str,
                   scopes: list[str], created_by: str) -> tuple[str, str]:
        key_id, created_at = str(uuid.uuid4()), utc_now()
        self.store.execute(
            "INSERT INTO api_keys (id, org_id, user_id, name, prefix, scopes, key_hash, created_by,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key_id, org_id, user_id, name, prefix, " ".join(scopes), key_hash, created_by,
             created_at))
        return key_id, created_at

    def fill_key_facts(self, key_id: str, prefix: str) -> None:
        """Give a key stored by an older version its `prefix` and a creator (its own user)."""
        self.store.execute("UPDATE api_keys SET prefix = COALESCE(prefix, ?),"
                           " created_by = COALESCE(created_by, user_id) WHERE id = ?",
                           (prefix, key_id))

    def key_by_hash(self, key_hash: str) -> sqlite3.Row | None:
        return self.store.one("SELECT id, user_id, revoked_at FROM api_keys WHERE key_hash = ?",
                              (key_hash,))

    def touch_key(self, key_id: str, prefix: str) -> None:
        """Record a use (and learn the prefix of a key stored before prefixes were)."""
        self.store.execute("UPDATE api_keys SET last_used_at = ?, prefix = COALESCE(prefix, ?)"
                           " WHERE id = ?", (utc_now(), prefix, key_id))

    def keys_of_org(self, org_id: str) -> list[sqlite3.Row]:
        return self.store.all(
            f"SELECT {_KEY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id "
            "WHERE k.org_id = ? ORDER BY k.created_at", (org_id,))

    def key_in_org(self, key_id: str, org_id: str) -> sqlite3.Row | None:
        return self.store.one("SELECT revoked_at FROM api_keys WHERE id = ? AND org_id = ?",
                              (key_id, org_id))

    def revoke_key(self, key_id: str) -> None:
        self.store.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (utc_now(), key_id))

    # -- cookie sessions ----------------------------------------------------------------------

    def session_user(self, token_hash: str) -> str | None:
        row = self.store.one("SELECT user_id FROM sessions WHERE token_hash = ? AND expires_at > ?",
                             (token_hash, time.time()))
        return None if row is None else str(row["user_id"])

    def insert_session(self, token_hash: str, user_id: str, seconds: float) -> None:
        """Store a session (and drop the expired ones while at it)."""
        now = time.time()
        self.store.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        self.store.execute("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) "
                           "VALUES (?, ?, ?, ?)", (token_hash, user_id, utc_now(), now + seconds))

    def delete_session(self, token_hash: str) -> None:
        self.store.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

