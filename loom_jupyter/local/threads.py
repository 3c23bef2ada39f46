"""Threads: validation, summaries, search, and who may read or write one (§3)."""
from __future__ import annotations

import json
import re
from typing import Any

from .errors import InvalidRequest, NotAllowed, NotFound, VersionConflict
from .principal import Principal
from .store import Store, parse_timestamp, utc_now
from .store_threads import Reader, ThreadRows

VISIBILITIES = ("organization", "private", "public", "team")
_SUMMARY_KEYS = ("workspace_root", "git_branch", "git_remote_url", "git_initial_commit_sha",
                 "git_current_commit_sha", "provider", "model")
_SHA = re.compile(r"[0-9a-f]{7,40}")


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message)


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


def _reader(p: Principal) -> Reader:
    return Reader(p.user_id, sees_private=p.sees_everything)


def _require_writer(p: Principal, row: Any) -> None:
    """Support only reads; a live thread is changed by its owner or a system admin."""
    if p.is_support:
        raise NotAllowed("Support access is read-only")
    if row is not None and row["deleted_at"] is None and not (
            p.is_admin or row["owner_user_id"] == p.user_id):
        raise NotAllowed("Only the thread's owner may change it")


def _check_version(stored: int, expected: int | None) -> None:
    """`If-Match` (when sent) must name the stored version, else 409 with both numbers."""
    if expected is not None and stored != expected:
        raise VersionConflict(f"Version conflict: expected {stored}, got {expected}",
                              server_version=stored, client_version=expected)


def _stamped(data: dict[str, Any], existing: Any) -> dict[str, Any]:
    """`data` as sent (PUT does not bump `version`, §3.2), with `updated_at` and defaults;
    `existing` is the live row it replaces (its `created_at` is kept), if any."""
    now = utc_now()
    data = {**data, "updated_at": now}
    if existing is not None:
        data.setdefault("created_at", json.loads(existing["data"]).get("created_at", now))
    data.setdefault("created_at", now)
    data.setdefault("last_activity_at", now)
    data.setdefault("visibility", "organization")
    return data


class Threads:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows = ThreadRows(store)

    def page(self, p: Principal, limit: int, offset: int,
             workspace: str | None) -> tuple[list[dict[str, Any]], int]:
        found, total = self.rows.page(_reader(p), limit, offset, workspace)
        return [summary(data) for data in found], total

    def search(self, p: Principal, query: str, limit: int, offset: int,
               workspace: str | None) -> list[dict[str, Any]]:
        query = query.lower().strip()
        if not query:
            raise InvalidRequest("Empty search query")
        hits = []
        for r in self.rows.searchable(_reader(p), workspace):
            data = json.loads(r["data"])
            if (score := _score(data, r["search_text"], query)) > 0:
                hits.append((score, r["activity_ts"], {**summary(data), "score": score}))
        hits.sort(key=lambda h: (-h[0], -h[1], h[2]["id"]))
        return [h[2] for h in hits[offset:offset + limit]]

    def _visible_row(self, p: Principal, thread_id: str) -> Any:
        row = self.rows.visible(_reader(p), thread_id)
        if row is None:
            raise NotFound(f"Thread not found: {thread_id}")
        return row

    def get(self, p: Principal, thread_id: str) -> dict[str, Any]:
        return dict(json.loads(self._visible_row(p, thread_id)["data"]))

    def put(self, p: Principal, thread_id: str, body: dict[str, Any],
            expected: int | None) -> dict[str, Any]:
        """Create or replace; `expected` (from `If-Match`) guards against lost updates."""
        data = validate(body, thread_id)
        with self.store.transaction():
            row = self.rows.row(thread_id)
            _require_writer(p, row)
            live = row if row is not None and row["deleted_at"] is None else None
            if live is not None:
                _check_version(live["version"], expected)
            saved = _stamped(data, live)
            owner = p.user_id if live is None else live["owner_user_id"]
            self.rows.upsert(saved, owner, _search_text(saved))
        return saved

    def set_visibility(self, p: Principal, thread_id: str, body: dict[str, Any],
                       expected: int | None) -> dict[str, Any]:
        """`POST .../visibility`: unlike PUT, this bumps `version` itself (§3.2)."""
        visibility = body.get("visibility")
        if not isinstance(visibility, str) or visibility not in VISIBILITIES:
            raise _bad(f"visibility must be one of {list(VISIBILITIES)}")
        with self.store.transaction():
            row = self._visible_row(p, thread_id)
            _require_writer(p, row)
            _check_version(row["version"], expected)
            data = {**json.loads(row["data"]), "visibility": visibility,
                    "version": row["version"] + 1, "updated_at": utc_now()}
            self.rows.upsert(data, row["owner_user_id"], row["search_text"])
        return data

    def delete(self, p: Principal, thread_id: str) -> None:
        _require_writer(p, self._visible_row(p, thread_id))
        self.rows.soft_delete(thread_id)
