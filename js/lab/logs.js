// A weaver's live log in a main-area tab: follows the SSE route (loom-api.md §4.6), resumes
// after a cut by asking for a tail and dropping what it already has (by timestamp), and draws
// only the rows on screen, so 100k+ lines stay smooth. Search, pause, timestamps, download.
import { Widget } from "@lumino/widgets";
import { h, shortId } from "./format.js";

export const LINE_HEIGHT = 18; // px: .loom-LogLine's height in style/index.css
const MAX_LINES = 250_000; // older lines are dropped beyond this
const OVERSCAN = 20;
const FIRST_TAIL = 100_000; // a tab opens on (up to) the last 100k lines: the whole log, usually
const RETRY_MS = [500, 1000, 2000, 4000, 8000, 15000];
const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) /;
const ENDED = new Set(["succeeded", "failed", "terminating"]);

/** Splits the stream's text into lines and drops what a resumed stream replays. */
export class LogLines {
  constructor(max = MAX_LINES) {
    this.max = max;
    this.lines = [];
    this.dropped = 0; // lines removed from the front (beyond max)
    this.partial = "";
    this.lastStamp = "";
    this.atLastStamp = 0; // lines seen carrying lastStamp
    this._replay = null; // while resuming: {stamp, skip} of what we already have
  }

  get total() {
    return this.dropped + this.lines.length;
  }

  /** A new connection starts: its first lines may repeat ours. */
  resuming() {
    this.partial = "";
    this._replay = this.lastStamp ? { stamp: this.lastStamp, skip: this.atLastStamp, gap: true } : null;
  }

  /** Feed one event's text; returns the number of lines added. */
  feed(text) {
    const parts = (this.partial + text).split("\n");
    this.partial = parts.pop();
    let added = 0;
    for (const line of parts) if (this._keep(line)) { this.lines.push(line); added++; }
    if (this.lines.length > this.max) {
      const extra = this.lines.length - this.max;
      this.lines.splice(0, extra);
      this.dropped += extra;
    }
    return added;
  }

  /** Whatever was left without its newline when the stream ended. */
  flush() {
    const rest = this.partial;
    this.partial = "";
    return rest ? this.feed(rest + "\n") : 0;
  }

  _keep(line) {
    const match = STAMP.exec(line);
    const stamp = match ? match[1] : "";
    const replay = this._replay;
    if (replay && stamp) {
      if (stamp < replay.stamp) { replay.gap = false; return false; }
      if (stamp === replay.stamp && replay.skip > 0) { replay.skip--; replay.gap = false; return false; }
      this._replay = null;
      if (replay.gap) this.gap = true; // the replay did not reach back to what we had
    }
    if (stamp) {
      this.atLastStamp = stamp === this.lastStamp ? this.atLastStamp + 1 : 1;
      this.lastStamp = stamp;
    }
    return true;
  }
}

export class LogViewer extends Widget {
  /** A weaver's log on `connection` (its name; the tab keeps it when the sidebar switches). */
  constructor({ connections, poll, weaverId, connection = "default" }) {
    super();
    this.api = connections.api(connection);
    this.poll = poll;
    this.weaverId = weaverId;
    this.connection = connection;
    this.addClass("loom-LogViewer");
    this.title.label = `Logs ${shortId(weaverId)}`;
    this.title.caption = `Logs of weaver ${weaverId}`;
    this.log = new LogLines();
    this.matches = null; // indexes into log.lines when searching
    this.paused = false;
    this.showStamps = true;
    this.follow = true;
    this._frame = 0;
    this._abort = null;
    this._build();
    this._run();
  }

  _build() {
    const id = this.weaverId;
    this.search = h("input", { type: "search", class: "loom-LogSearch", placeholder: "Search", "aria-label": `Search the logs of weaver ${id}`,
      oninput: () => this._searchChanged() });
    this.matchCount = h("span", { class: "loom-LogMatches", "aria-live": "polite" });
    this.pauseButton = h("button", { class: "jp-mod-styled loom-LogPause", text: "Pause", "aria-pressed": "false",
      "aria-label": "Pause the log display", onclick: () => this.setPaused(!this.paused) });
    this.stampBox = h("input", { type: "checkbox", checked: true, "aria-label": "Show timestamps",
      onchange: () => { this.showStamps = this.stampBox.checked; this._render(true); } });
    const download = h("button", { class: "jp-mod-styled loom-LogDownload", text: "Download", "aria-label": `Download the logs of weaver ${id}`,
      onclick: () => this.download() });
    this.status = h("span", { class: "loom-LogStatus", role: "status" });
    this.rows = h("div", { class: "loom-LogRows" });
    this.spacer = h("div", { class: "loom-LogSpacer" }, this.rows);
    this.viewport = h("div", { class: "loom-LogViewport", tabindex: "0", role: "log", "aria-label": `Logs of weaver ${id}`,
      onscroll: () => this._scrolled() }, this.spacer);
    this.node.append(
      h("div", { class: "loom-LogToolbar" }, this.search, this.matchCount, this.pauseButton,
        h("label", { class: "loom-LogStamps" }, this.stampBox, "timestamps"), download, this.status),
      this.viewport);
  }

  // -- following ---------------------------------------------------------------------------
  async _run() {
    let attempt = 0;
    let tail = FIRST_TAIL;
    while (!this.isDisposed) {
      this._abort = new AbortController();
      const started = Date.now();
      const before = this.log.total;
      this._setStatus(attempt ? "reconnecting" : "connecting");
      if (this.log.total) this.log.resuming();
      let why = "the stream ended";
      try {
        const events = this.api.events(`api/weaver/${encodeURIComponent(this.weaverId)}/logs?tail=${tail}&timestamps=true`,
          { signal: this._abort.signal });
        this._setStatus("following");
        for await (const event of events) {
          if (event.event === "error") { this._note(`[log stream error: ${event.data}]`); continue; }
          if (event.data === "keep-alive") continue;
          if (this.log.feed(event.data) > 0) this._changed();
          if (this.log.gap) { this.log.gap = false; this._note("[some lines may be missing: the log moved on while we were away]"); }
        }
        this.log.flush();
        this._changed();
      } catch (exc) {
        if (this.isDisposed || (exc && exc.name === "AbortError")) return;
        why = exc.message || String(exc);
        if (exc.status === 404 || exc.status === 403) { this._setStatus(`error: ${why}`); return; }
      }
      if (await this._weaverEnded()) { this._setStatus("ended"); return; }
      // Resume: ask for about as many lines as arrived per second times the time away, plus margin.
      const rate = (this.log.total - before) / Math.max(1, (Date.now() - started) / 1000);
      const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
      tail = Math.min(MAX_LINES, Math.ceil(rate * (delay / 1000 + 2)) + 256);
      attempt = this.log.total > before ? 0 : attempt + 1;
      this._setStatus(`reconnecting (${why})`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Gone, or done: asked of the shared poll when it polls our connection (no request of
   * our own, no 404 to log), else of the weaver's own route. */
  async _weaverEnded() {
    if (this.poll.api !== this.api || this.poll.blocked) {
      try {
        return ENDED.has((await this.api.weaver(this.weaverId)).status);
      } catch (exc) {
        return exc.status === 404; // gone; anything else: unknown, keep trying
      }
    }
    await this.poll.refresh();
    if (this.poll.error) return false; // unknown: keep trying
    const weaver = this.poll.weavers.find((w) => w.id === this.weaverId);
    return !weaver || ENDED.has(weaver.status);
  }

  _note(text) {
    this.log.lines.push(text);
    this._changed();
  }

  _setStatus(text) {
    this.status.textContent = text;
    this.status.dataset.status = text.split(/[ :]/)[0];
    this.node.dataset.status = this.status.dataset.status;
  }

  // -- drawing -----------------------------------------------------------------------------
  _changed() {
    if (this.matches) this._extendMatches();
    if (!this.paused) this._schedule();
  }

  _schedule() {
    if (!this._frame) this._frame = requestAnimationFrame(() => { this._frame = 0; this._render(); });
  }

  _count() {
    return this.matches ? this.matches.length : this.log.lines.length;
  }

  _lineAt(i) {
    const line = this.log.lines[this.matches ? this.matches[i] : i] ?? "";
    return this.showStamps ? line : line.replace(STAMP, "");
  }

  _render(force = false) {
    if (this.isDisposed || !this.isVisible) return;
    const count = this._count();
    this.spacer.style.height = `${count * LINE_HEIGHT}px`;
    if (this.follow && !this.paused) this.viewport.scrollTop = this.viewport.scrollHeight;
    // the scroll position may still be the one of a longer list (a search just narrowed it)
    const top = Math.min(this.viewport.scrollTop, Math.max(0, count * LINE_HEIGHT - this.viewport.clientHeight));
    const first = Math.min(count, Math.max(0, Math.floor(top / LINE_HEIGHT) - OVERSCAN));
    const last = Math.max(first, Math.min(count, Math.ceil((top + this.viewport.clientHeight) / LINE_HEIGHT) + OVERSCAN));
    if (!force && this._drawn && this._drawn.first === first && this._drawn.last === last && this._drawn.count === count) return;
    this._drawn = { first, last, count };
    this.rows.style.transform = `translateY(${first * LINE_HEIGHT}px)`;
    const nodes = this.rows.children;
    const wanted = last - first;
    while (nodes.length < wanted) this.rows.append(h("div", { class: "loom-LogLine" }));
    while (nodes.length > wanted) this.rows.lastChild.remove();
    for (let i = 0; i < wanted; i++) {
      const text = this._lineAt(first + i);
      if (nodes[i].textContent !== text) nodes[i].textContent = text;
    }
    const shown = this.matches ? `${this.matches.length} of ${this.log.lines.length} lines match` : `${this.log.total} lines`;
    this.matchCount.textContent = shown;
  }

  _scrolled() {
    const v = this.viewport;
    this.follow = v.scrollTop + v.clientHeight >= v.scrollHeight - LINE_HEIGHT;
    this._render();
  }

  // -- search, pause, download -------------------------------------------------------------
  _searchChanged() {
    const query = this.search.value.toLowerCase();
    this.matches = query ? [] : null;
    this._matched = 0;
    if (query) this._extendMatches();
    this._render(true);
  }

  _extendMatches() {
    const query = this.search.value.toLowerCase();
    const lines = this.log.lines;
    if (this._matchedDropped !== this.log.dropped) { // old lines were dropped: indexes moved
      this.matches = [];
      this._matched = 0;
      this._matchedDropped = this.log.dropped;
    }
    for (let i = this._matched; i < lines.length; i++) if (lines[i].toLowerCase().includes(query)) this.matches.push(i);
    this._matched = lines.length;
  }

  setPaused(paused) {
    this.paused = paused;
    this.pauseButton.textContent = paused ? "Resume" : "Pause";
    this.pauseButton.setAttribute("aria-pressed", String(paused));
    this.pauseButton.setAttribute("aria-label", paused ? "Resume the log display" : "Pause the log display");
    if (!paused) { this.follow = true; this._render(true); }
  }

  text() {
    return this.log.lines.map((line) => (this.showStamps ? line : line.replace(STAMP, ""))).join("\n") + "\n";
  }

  download() {
    const url = URL.createObjectURL(new Blob([this.text()], { type: "text/plain" }));
    const a = h("a", { href: url, download: `weaver-${this.weaverId}.log` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  onAfterShow() {
    this._render(true);
  }

  onResize() {
    this._render(true);
  }

  dispose() {
    if (this.isDisposed) return;
    if (this._abort) this._abort.abort();
    cancelAnimationFrame(this._frame);
    super.dispose();
  }
}
