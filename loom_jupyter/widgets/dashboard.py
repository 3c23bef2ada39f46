"""WeaverDashboard: a live weaver table with filters, a create form, deletes, logs and terminals."""

from __future__ import annotations

import html
import math
import threading
from collections import Counter
from typing import Any
from collections.abc import Callable

import ipywidgets as w

from loom_jupyter.client import Loom, LoomError, LoomValidationError
from loom_jupyter.client._settings import DEFAULT_CONNECTION, published_connections
from loom_jupyter.client.models.tags import parse_tag_filters
from loom_jupyter.client.models.weavers import KNOWN_STATUSES, RUNNING

from ._create_form import CreateForm
from ._poll import Poller, close_tree, start_daemon
from ._signin import SignInBar
from ._weaver_table import WeaverTable, short_id

__all__ = ["WeaverDashboard"]

_MESSAGE_COLOURS = {"info": "#4a5568", "ok": "#2f855a", "error": "#c53030"}


class WeaverDashboard(w.VBox):
    """Weavers in one HTML table refreshed by a background poller; only changed rows are rebuilt.

    With 500 weavers the page is still one HTML widget joined from cached row fragments
    plus a handful of controls, never a widget per cell. Actions (logs, terminal, delete)
    apply to the weaver picked in ``selector``, which lists the rows of the current page.
    """

    def __init__(
        self,
        client: Loom | None = None,
        *,
        interval: float = 2.0,
        idle_interval: float = 10.0,
        page_size: int = 50,
        create_timeout: float = 300.0,
        autostart: bool = True,
    ) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else Loom()
        self._switched: dict[str, Loom] = {}  # clients this dashboard made by switching
        self._original = self._client
        self._table = WeaverTable()
        self._lock = threading.RLock()
        self._page = 0
        self._pending_delete: list[str] = []
        self._closed = False
        self.create_timeout = create_timeout
        self.message = ""
        self._tags: dict[str, str] = {}  # the tag filter box, parsed
        self.last_created: str | None = None
        self._build_widgets(page_size)
        self._poller = Poller(self.refresh, interval=interval, idle_interval=idle_interval,
                              on_error=self._poll_failed, name="loom-dashboard")
        if autostart:
            self._poller.start()

    # -- layout -------------------------------------------------------------------------
    def _build_widgets(self, page_size: int) -> None:
        statuses = [("all", ""), *((s, s) for s in KNOWN_STATUSES)]
        self.status_filter = w.Dropdown(options=statuses, value="", description="status")
        self.tag_filter = w.Text(description="tags", placeholder="project:x, team:y")
        self.page_size = w.Dropdown(options=[25, 50, 100, 250, 500], value=page_size,
                                    description="per page")
        self.prev_button = _button("", "chevron-left", lambda: self._turn(-1))
        self.next_button = _button("", "chevron-right", lambda: self._turn(1))
        self.page_label = w.Label()
        self.refresh_button = _button("Refresh", "refresh", self._poller_trigger)
        self.table = w.HTML(self._table.render([]))
        self.selector = w.Dropdown(description="weaver", options=[])
        self.logs_button = _button("Logs", "align-left", self.open_logs)
        self.terminal_button = _button("Terminal", "terminal", self.open_terminal)
        self.delete_button = _button("Delete", "trash", self.request_delete, "danger")
        self.bulk_tag = w.Text(description="by tag", placeholder="project:x")
        self.bulk_delete_button = _button("Delete all with tag", "trash", self.request_bulk_delete, "danger")
        self.confirm_label = w.HTML()
        self.confirm_button = _button("Confirm", "check", self.confirm, "danger")
        self.cancel_button = _button("Cancel", "times", self.cancel)
        self.confirm_box = w.HBox([self.confirm_label, self.confirm_button, self.cancel_button],
                                  layout=w.Layout(display="none"))
        self.status = w.HTML()
        self.form = CreateForm(self._create, self._invalid, org_id=self._default_org())
        self.create_panel = w.Accordion(children=[self.form], selected_index=None)
        self.create_panel.set_title(0, "New weaver")
        self.detail = w.VBox()
        self.signin_bar = SignInBar(self._client, on_signed_in=self._signed_in)
        self.connection = self._connection_picker()
        for control in (self.status_filter, self.tag_filter):
            control.observe(lambda _c: self._refilter(), names="value")
        self.page_size.observe(lambda _c: self._refilter(), names="value")
        super().__init__(children=[
            self.connection,
            self.signin_bar,
            w.HBox([self.status_filter, self.tag_filter, self.refresh_button]),
            w.HBox([self.page_size, self.prev_button, self.next_button, self.page_label]),
            self.table,
            w.HBox([self.selector, self.logs_button, self.terminal_button, self.delete_button]),
            w.HBox([self.bulk_tag, self.bulk_delete_button]),
            self.confirm_box, self.status, self.create_panel, self.detail,
        ])

    # -- connections ----------------------------------------------------------------------
    def _connection_picker(self) -> w.Dropdown:
        """The Jupyter server's Loom connections; shown only when there are two or more."""
        names = sorted(n for n, kind in published_connections().items() if kind == "loom") \
            if self._client.mode == "proxy" else []
        current = self._client.connection or DEFAULT_CONNECTION
        shown = len(names) >= 2 and current in names
        picker = w.Dropdown(options=names if shown else [], value=current if shown else None,
                            description="connection",
                            layout=w.Layout(display="flex" if shown else "none"))
        picker.observe(lambda change: self.switch(change["new"]), names="value")
        return picker

    @property
    def connection_name(self) -> str | None:
        """The named connection shown (None: a client not made from one of the server's)."""
        return self._client.connection or (DEFAULT_CONNECTION if self._client.mode == "proxy"
                                           else None)

    def switch(self, name: str | None) -> None:
        """Show the weavers of the Jupyter server's Loom connection `name` instead."""
        if not name or name == self.connection_name:
            return
        client = self._switched.get(name)
        if self._original.connection == name or (name == DEFAULT_CONNECTION and
                                                 self._original.connection is None):
            client = self._original
        elif client is None:
            client = self._switched[name] = Loom(connection=name)
        with self._lock:
            self._client = client
            self._table = WeaverTable()
            self._page = 0
        self._close_detail()
        self.signin_bar.close()
        self.signin_bar = SignInBar(self._client, on_signed_in=self._signed_in)
        children = list(self.children)  # type: ignore[has-type]  # (set by VBox)
        children[1] = self.signin_bar
        self.children = tuple(children)
        if self.connection.value != name:
            self.connection.value = name
        self.form.org.value = self._default_org()
        self._say(f"Showing connection {name!r}.", "info")
        self._poller_trigger()

    def _signed_in(self) -> None:
        self._table.me = None  # a new person: whose rows are whose changes
        if not self.form.org.value:
            self.form.org.value = self._default_org()
        self._poller_trigger()

    def _default_org(self) -> str:
        try:
            return self._client.default_org_id()
        except LoomError as exc:
            self._say(f"Pick an org for new weavers: {exc}", "info")
            return ""

    # -- refresh and render -------------------------------------------------------------
    def refresh(self) -> bool:
        """List weavers now; return whether any row changed. The poller calls this too."""
        weavers = list(self._client.weavers.list())
        if self._table.me is None:
            self._table.me = self._whoami()
        with self._lock:
            changed = self._table.update(weavers)
            self._render()
        return bool(changed)

    def _whoami(self) -> str:
        try:
            return self._client.me().id
        except LoomError:
            return ""

    def _render(self) -> None:
        with self._lock:
            rows = self._table.select(self.status_filter.value, self._tags)
            size = self.page_size.value
            self._page = max(0, min(self._page, math.ceil(len(rows) / size) - 1))
            visible = rows[self._page * size:(self._page + 1) * size]
            markup = self._table.render(visible)
            if markup != self.table.value:  # unchanged pages are not re-sent: no flicker
                self.table.value = markup
            start = self._page * size
            shown = f"{start + 1}-{start + len(visible)}" if visible else "0"
            self.page_label.value = f"{shown} of {len(rows)} (all: {len(self._table.weavers)})"
            self._update_selector(visible)

    def _update_selector(self, visible: list[Any]) -> None:
        options = tuple((f"{short_id(v.id)} · {v.image} · {v.status}", v.id) for v in visible)
        if options != tuple(self.selector.options):
            keep = self.selector.value
            self.selector.options = options
            ids = [v.id for v in visible]
            # ipywidgets 8 selects nothing after new options: keep the pick, else the first row.
            self.selector.value = keep if keep in ids else (ids[0] if ids else None)

    def _refilter(self) -> None:
        self._page = 0
        self._tags = self._read_tags(self.tag_filter.value) or {}  # not valid yet: no tag filter
        self._render()

    def _read_tags(self, text: str) -> dict[str, str] | None:
        """Tags typed as ``k:v, k2:v2`` by the SDK's one rule; None after saying why not."""
        try:
            tags = parse_tag_filters(text)
        except ValueError as exc:
            self._invalid(LoomValidationError("tags", str(exc)))
            return None
        if self.message.startswith("Invalid tags:"):  # fixed: the complaint goes
            self._say("", "info")
        return tags

    def _turn(self, step: int) -> None:
        self._page += step
        self._render()

    def _poller_trigger(self) -> None:
        self._poller.trigger()
        if not self._poller.running:
            self._job(self.refresh, "loom-dashboard-refresh")

    def _poll_failed(self, exc: Exception) -> None:
        self._say(f"Could not refresh the weaver list: {exc} Retrying with backoff.", "error")

    # -- row actions ----------------------------------------------------------------------
    def _selected(self, weaver_id: str | None) -> str | None:
        chosen = weaver_id or self.selector.value
        if not chosen:
            self._say("Pick a weaver first.", "error")
        return chosen

    def open_logs(self, weaver_id: str | None = None) -> Any:
        """Show a LogView of the weaver under the table (closing what was there)."""
        if (chosen := self._selected(weaver_id)) is None:
            return None
        from .logs import LogView

        return self._show(f"Logs of {chosen}", LogView(chosen, client=self._client))

    def open_terminal(self, weaver_id: str | None = None) -> Any:
        """Show the weaver's terminal under the table (xterm.js, imported only when asked)."""
        if (chosen := self._selected(weaver_id)) is None:
            return None
        from .terminal import Terminal

        return self._show(f"Terminal of {chosen}", Terminal(chosen, client=self._client))

    def _show(self, title: str, widget: Any) -> Any:
        self._close_detail()
        close = _button("Close", "times", self._close_detail)
        self.detail.children = [w.HBox([w.HTML(f"<b>{html.escape(title)}</b>"), close]), widget]
        return widget

    def _close_detail(self) -> None:
        old, self.detail.children = self.detail.children, ()
        for child in old:
            close_tree(child)

    # -- deletes --------------------------------------------------------------------------
    def request_delete(self, weaver_id: str | None = None) -> None:
        """Ask for confirmation before deleting one weaver."""
        if (chosen := self._selected(weaver_id)) is not None:
            self._ask([chosen], f"Delete weaver <code>{html.escape(chosen)}</code>?")

    def request_bulk_delete(self, tag: str | None = None) -> None:
        """Ask for confirmation before deleting every weaver carrying the tag(s)."""
        text = self.bulk_tag.value if tag is None else tag
        tags = self._read_tags(text)
        if tags is None:
            return
        if not tags:
            self._say("Give a tag to delete by, e.g. project:x.", "error")
            return
        self.refresh()
        ids = [v.id for v in self._table.select(tags=tags)]
        if not ids:
            self._say(f"No weaver has the tag {text.strip()}.", "info")
            return
        self._ask(ids, f"Delete {len(ids)} weaver(s) tagged <code>{html.escape(text.strip())}</code>?")

    def _ask(self, ids: list[str], question: str) -> None:
        self._pending_delete = ids
        self.confirm_label.value = question
        self.confirm_box.layout.display = "flex"

    def cancel(self) -> None:
        self._pending_delete = []
        self.confirm_box.layout.display = "none"
        self._say("Nothing deleted.", "info")

    def confirm(self) -> None:
        """Delete what the pending question named, in the background."""
        ids, self._pending_delete = self._pending_delete, []
        self.confirm_box.layout.display = "none"
        if ids:
            self._job(lambda: self._delete_job(ids), "loom-dashboard-delete")

    def _delete_job(self, ids: list[str]) -> None:
        for done, weaver_id in enumerate(ids, 1):
            self._say(f"Deleting {done}/{len(ids)}: {short_id(weaver_id)}…", "info")
            self._client.weavers.delete(weaver_id)
        self._say(f"Deleted {len(ids)} weaver(s).", "ok")
        self._poller.trigger()

    # -- create ---------------------------------------------------------------------------
    def _invalid(self, exc: LoomValidationError) -> None:
        self._say(str(exc), "error")

    def _create(self, kwargs: dict[str, Any]) -> None:
        self.form.submit_button.disabled = True  # one click, one weaver
        self._say(f"Creating a weaver from {kwargs['image']}…", "info")
        self._job(lambda: self._create_job(kwargs), "loom-dashboard-create",
                  lambda: setattr(self.form.submit_button, "disabled", False))

    def _create_job(self, kwargs: dict[str, Any]) -> None:
        weaver = self._client.weavers.create(**kwargs)
        self._poller.trigger()
        if weaver.status != RUNNING:
            self._say(f"Weaver {short_id(weaver.id)} is {weaver.status}; waiting until running…", "info")
            weaver = self._client.weavers.wait(
                weaver.id, until=RUNNING, timeout=self.create_timeout,
                on_status=lambda v: self._say(f"Weaver {short_id(v.id)} is {v.status}…", "info"))
        self.last_created = weaver.id
        self._say(f"Weaver {weaver.id} is {weaver.status}.", "ok")
        self._poller.trigger()

    # -- plumbing -------------------------------------------------------------------------
    def _job(self, work: Callable[[], object], name: str, after: Callable[[], None] | None = None) -> None:
        def run() -> None:
            try:
                work()
            except LoomError as exc:
                self._say(str(exc), "error")
            except Exception as exc:  # a widget thread has nobody else to tell
                self._say(f"Unexpected {type(exc).__name__}: {exc}", "error")
            finally:
                if after is not None:
                    after()

        start_daemon(run, name)

    def _say(self, text: str, kind: str = "info") -> None:
        self.message = text
        colour = _MESSAGE_COLOURS[kind]
        self.status.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def close(self) -> None:
        """Stop polling, close the logs/terminal below, and every child widget."""
        if self._closed:
            return
        self._closed = True
        self._poller.stop()
        self._close_detail()
        for child in self.children:
            close_tree(child)
        super().close()
        if self._owns_client:
            self._original.close()
        for client in self._switched.values():
            client.close()

    def _summary(self) -> str:
        counts = Counter(v.status for v in self._table.weavers.values())
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return f"{len(self._table.weavers)} weavers" + (f": {parts}" if parts else "")

    def __repr__(self) -> str:
        return f"WeaverDashboard({self._summary()})"

    def _repr_html_(self) -> str:
        with self._lock:
            rows = self._table.select()[: self.page_size.value]
            return f"<div><b>Loom weavers</b>: {html.escape(self._summary())}{self._table.render(rows)}</div>"


def _button(label: str, icon: str, action: Callable[[], Any], style: str = "") -> w.Button:
    button = w.Button(description=label, icon=icon, button_style=style,
                      layout=w.Layout(width="auto"))
    button.on_click(lambda _b: action())
    return button
