"""The local server's SQLite database (stdlib sqlite3, WAL): schema and small query helpers.

One connection, used only from the event-loop thread; every statement is a short local write or
read, so handlers call it directly instead of bouncing through a thread pool.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orgs (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memberships (
    org_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id));
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL,
    scopes TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, created_by TEXT, created_at TEXT NOT NULL,
    last_used_at TEXT, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS device_codes (
    device_hash TEXT PRIMARY KEY, user_code TEXT NOT NULL UNIQUE, expires_at REAL NOT NULL,
    approved_by TEXT, approved_at TEXT);
CREATE TABLE IF NOT EXISTS access_tokens (
    id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
    created_at TEXT NOT NULL, last_used_at TEXT, expires_at REAL NOT NULL, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS threads (
    id TEXT PRIMARY KEY, version INTEGER NOT NULL, owner_user_id TEXT NOT NULL,
    visibility TEXT NOT NULL, workspace_root TEXT, activity_ts REAL NOT NULL,
    search_text TEXT NOT NULL, data TEXT NOT NULL, deleted_at TEXT);
CREATE INDEX IF NOT EXISTS threads_by_activity ON threads (activity_ts DESC);
CREATE TABLE IF NOT EXISTS weavers (
    id TEXT PRIMARY KEY, owner_user_id TEXT NOT NULL, org_id TEXT NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL, data TEXT NOT NULL, deleted_at TEXT);
"""
# Columns added after a table was first shipped: (table, column, declaration). A data directory
# made by an older version gains them on open; `CREATE TABLE IF NOT EXISTS` would not add them.
ADDED_COLUMNS = (("api_keys", "prefix", "TEXT"),)


def utc_now() -> str:
    """RFC3339 with milliseconds and a `Z`, like Loom's timestamps (loom-api.md §3.1)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: str) -> float:
    """Seconds since the epoch for an RFC3339 string (`Z` or an offset); ValueError otherwise."""
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


class Store:
    """A thin owner of the connection: schema on open, queries, transactions."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        if not path.exists():  # created 0600 first: SQLite gives its -wal/-shm files the same mode
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        for table, column, declaration in ADDED_COLUMNS:
            if column not in {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return self._conn.execute(sql, params).fetchone()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        return self._conn.execute(sql, params).rowcount

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (a check-then-write is atomic)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def ping(self) -> None:
        """A real round trip through SQLite, for /health."""
        self.one("SELECT count(*) FROM orgs")
