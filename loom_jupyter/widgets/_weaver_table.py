"""The dashboard's weaver table: HTML row fragments cached per weaver, rebuilt only when they change."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from collections.abc import Iterable, Mapping

from loom_jupyter.client.models.weavers import FAILED, PENDING, RUNNING, SUCCEEDED, TERMINATING

__all__ = ["STATUS_COLOURS", "WeaverTable", "short_id", "status_badge"]

STATUS_COLOURS = {
    PENDING: "#b7791f",
    RUNNING: "#2f855a",
    SUCCEEDED: "#2b6cb0",
    FAILED: "#c53030",
    TERMINATING: "#718096",
}
_UNKNOWN_COLOUR = "#4a5568"
_COLUMNS = ("id", "image", "status", "tags", "age / lifetime", "owner")
_CELL = "padding:2px 8px;border-bottom:1px solid #e2e8f0;text-align:left;white-space:nowrap"


def short_id(weaver_id: str) -> str:
    """Head and tail of the id: UUIDv7 heads are timestamps, so weavers made together share them."""
    return weaver_id if len(weaver_id) <= 14 else f"{weaver_id[:8]}…{weaver_id[-4:]}"


def status_badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, _UNKNOWN_COLOUR)
    return (
        f'<span style="color:#fff;background:{colour};border-radius:8px;padding:0 6px">'
        f"{html.escape(status)}</span>"
    )


def _tags_match(weaver_tags: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(weaver_tags.get(k) == v for k, v in wanted.items())


def _age_hours(weaver: Any) -> float:
    if weaver.age_hours is not None:
        return float(weaver.age_hours)
    created = weaver.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return max((datetime.now(timezone.utc) - created).total_seconds() / 3600, 0.0)


def _age_text(age: float) -> str:
    # Tenths of an hour below 10 h: the fragment then changes at most every 6 minutes.
    return f"{math.floor(age * 10) / 10:.1f}h" if age < 10 else f"{math.floor(age)}h"


@dataclass(frozen=True)
class Row:
    """One cached fragment and the visible fields it was built from."""

    signature: tuple
    html: str


class WeaverTable:
    """Weavers keyed by id; ``update`` rebuilds the fragments of changed rows only."""

    def __init__(self) -> None:
        self.weavers: dict[str, Any] = {}
        self.rows: dict[str, Row] = {}
        self.me: str | None = None

    def update(self, weavers: Iterable[Any]) -> set[str]:
        """Take a fresh listing; return the ids that were added, changed or removed."""
        fresh = {w.id: w for w in weavers}
        changed = set(self.weavers) - set(fresh)
        for gone in changed:
            self.rows.pop(gone, None)
        for wid, weaver in fresh.items():
            signature = self._signature(weaver)
            row = self.rows.get(wid)
            if row is None or row.signature != signature:
                self.rows[wid] = Row(signature, self._build(weaver))
                changed.add(wid)
        self.weavers = fresh
        return changed

    def select(self, status: str = "", tags: Mapping[str, str] | None = None) -> list[Any]:
        """Weavers passing the filters, newest first."""
        chosen = [
            w
            for w in self.weavers.values()
            if (not status or w.status == status) and _tags_match(w.tags, tags or {})
        ]
        return sorted(chosen, key=lambda w: (w.created_at, w.id), reverse=True)

    def render(self, weavers: list[Any]) -> str:
        head = "".join(f'<th style="{_CELL}">{c}</th>' for c in _COLUMNS)
        body = "".join(self.rows[w.id].html for w in weavers if w.id in self.rows)
        if not body:
            body = f'<tr><td colspan="{len(_COLUMNS)}" style="{_CELL}"><i>no weavers</i></td></tr>'
        return (
            '<div style="max-height:440px;overflow:auto">'
            '<table class="loom-weavers" style="border-collapse:collapse;font-size:12px">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )

    def _signature(self, weaver: Any) -> tuple:
        return (
            weaver.status,
            weaver.image,
            tuple(sorted(weaver.tags.items())),
            weaver.lifetime_hours,
            _age_text(_age_hours(weaver)),
            weaver.owner_user_id,
            getattr(weaver, "reason", None),
        )

    def _build(self, weaver: Any) -> str:
        status, image, tags, lifetime, age, owner, reason = self._signature(weaver)
        tag_text = ", ".join(f"{k}:{v}" for k, v in tags)
        life = f"{age} / {lifetime}h" if lifetime is not None else age
        owner_text = "you" if owner and owner == self.me else (owner or "")[:8]
        cells = [
            f'<code title="{html.escape(weaver.id)}">{html.escape(short_id(weaver.id))}</code>',
            html.escape(image or ""),
            status_badge(status) + (f' <span style="opacity:.75">{html.escape(reason)}</span>'
                                    if reason else ""),
            html.escape(tag_text),
            html.escape(life),
            f'<span title="{html.escape(owner or "")}">{html.escape(owner_text)}</span>',
        ]
        tds = "".join(f'<td style="{_CELL}">{c}</td>' for c in cells)
        return f'<tr data-weaver-id="{html.escape(weaver.id)}">{tds}</tr>'
