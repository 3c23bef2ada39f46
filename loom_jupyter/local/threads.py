"""Threads in SQLite: validation, summaries, search, and who may read or write one (§3)."""
from __future__ import annotations

import builtins
import json
import re
from typing import Any

from .base import ApiError, Principal
from .store import Store, parse_timestamp, utc_now

VISIBILITIES = ("organization", "private", "public", "team")
_SUMMARY_KEYS = ("workspace_root", "git_branch", "git_remote_url", "git_initial_commit_sha",
                 "git_current_commit_sha", "provider", "model")
_SHA = re.compile(r"[0-9a-f]{7,40}")


def _bad(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def validate(body: dict[str, Any], path_id: str) -> dict[str, Any]:
    """The thread to store, or 400: the body id must equal the path id (§3.2)."""
    if body.get("id") != path_id:
        raise _bad("Thread id in the body does not match the path")
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise _bad("version must be a non-negative integer")
    if body.get("visibility", "organization") not in VISIBILITIES:
        raise _bad(f"visibility must be one of {list(VISIBILITIES)}")
    for key in ("metadata", "conversation", "agent_state"):
        if key in body and not isinstance(body[key], dict):
            raise _bad(f"{key} must be an object")
    if not isinstance(body.get("conversation", {}).get("messages", []), list):
        raise _bad("conversation.messages must be a list")
    for key in ("created_at", "updated_at", "last_activity_at"):
        if key in body and not _is_timestamp(body[key]):
            raise _bad(f"{key} must be an RFC3339 timestamp")
    return dict(body)


def _is_timestamp(value: Any) -> bool:
    try:
        parse_timestamp(value)
        return isinstance(value, str)
    except (TypeError, ValueError, AttributeError):
        return False


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """A ThreadSummary: optional keys omitted when absent, like Loom (§3.1)."""
    meta = data.get("metadata") or {}
    out = {k: data[k] for k in ("id", "version", "created_at", "updated_at", "last_activity_at")}
    out.update({k: data[k] for k in _SUMMARY_KEYS if data.get(k) is not None})
    if meta.get("title"):
        out["title"] = meta["title"]
    if meta.get("tags"):
        out["tags"] = meta["tags"]
    out["message_count"] = len((data.get("conversation") or {}).get("messages") or [])
    out["is_pinned"] = bool(meta.get("is_pinned", False))
    out["visibility"] = data.get("visibility", "organization")
    return out


def _search_text(data: dict[str, Any]) -> str:
    meta = data.get("metadata") or {}
    parts = [str(meta.get("title") or ""), " ".join(map(str, meta.get("tags") or []))]
    parts += [str(data.get(k) or "") for k in _SUMMARY_KEYS]
    for message in (data.get("conversation") or {}).get("messages") or []:
        if isinstance(message, dict):
            parts.append(str(message.get("content") or ""))
    return "\n".join(parts).lower()


def _shas(data: dict[str, Any]) -> list[str]:
    shas = [data.get("git_initial_commit_sha"), data.get("git_current_commit_sha")]
    return [s.lower() for s in shas + list(data.get("git_commits") or []) if isinstance(s, str)]


def _score(data: dict[str, Any], text: str, query: str) -> float:
    """A SHA-looking query matches commit prefixes first, then all words must occur (§3.2)."""
    if _SHA.fullmatch(query) and any(s.startswith(query) for s in _shas(data)):
        return 10.0
    words = query.split()
    if not all(w in text for w in words):
        return 0.0
    title = str((data.get("metadata") or {}).get("title") or "").lower()
    return float(sum(text.count(w) + (2 if w in title else 0) for w in words))


class ThreadStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    _VISIBLE = "deleted_at IS NULL AND (? OR owner_user_id = ? OR visibility != 'private')"

    def _visible(self, p: Principal) -> tuple[str, list[Any]]:
        return self._VISIBLE, [p.is_admin or p.is_support, p.user_id]

    def row(self, thread_id: str) -> Any:
        return self.store.one("SELECT * FROM threads WHERE id = ?", (thread_id,))

    def list(self, p: Principal, limit: int, offset: int,
             workspace: str | None) -> tuple[list[dict[str, Any]], int]:
        where, params = self._visible(p)
        if workspace:
            where, params = where + " AND workspace_root = ?", params + [workspace]
        total = self.store.one(f"SELECT count(*) AS n FROM threads WHERE {where}", params)
        rows = self.store.all(f"SELECT data FROM threads WHERE {where} ORDER BY activity_ts DESC,"
                              " id LIMIT ? OFFSET ?", params + [limit, offset])
        return [summary(json.loads(r["data"])) for r in rows], int(total["n"]) if total else 0

    def search(self, p: Principal, query: str, limit: int, offset: int,
               workspace: str | None) -> builtins.list[dict[str, Any]]:
        where, params = self._visible(p)
        if workspace:
            where, params = where + " AND workspace_root = ?", params + [workspace]
        query = query.lower().strip()
        hits = []
        for r in self.store.all(f"SELECT data, search_text, activity_ts FROM threads WHERE {where}",
                                params):
            data = json.loads(r["data"])
            if (score := _score(data, r["search_text"], query)) > 0:
                hits.append((score, r["activity_ts"], {**summary(data), "score": score}))
        hits.sort(key=lambda h: (-h[0], -h[1], h[2]["id"]))
        return [h[2] for h in hits[offset:offset + limit]]

    def save(self, data: dict[str, Any], owner_user_id: str, existing: Any) -> dict[str, Any]:
        """Store `data` as sent (PUT does not bump `version`, §3.2), stamping `updated_at`."""
        now = utc_now()
        data = {**data, "updated_at": now}
        if existing is not None and existing["deleted_at"] is None:
            data.setdefault("created_at", json.loads(existing["data"]).get("created_at", now))
        data.setdefault("created_at", now)
        data.setdefault("last_activity_at", now)
        data.setdefault("visibility", "organization")
        self.store.execute(
            "INSERT INTO threads (id, version, owner_user_id, visibility, workspace_root,"
            " activity_ts, search_text, data, deleted_at) VALUES (?,?,?,?,?,?,?,?,NULL)"
            " ON CONFLICT(id) DO UPDATE SET version=excluded.version,"
            " owner_user_id=excluded.owner_user_id, visibility=excluded.visibility,"
            " workspace_root=excluded.workspace_root, activity_ts=excluded.activity_ts,"
            " search_text=excluded.search_text, data=excluded.data, deleted_at=NULL",
            (data["id"], data["version"], owner_user_id, data["visibility"],
             data.get("workspace_root"), parse_timestamp(data["last_activity_at"]),
             _search_text(data), json.dumps(data)))
        return data

    def soft_delete(self, thread_id: str) -> None:
        self.store.execute("UPDATE threads SET deleted_at = ? WHERE id = ?", (utc_now(), thread_id))
