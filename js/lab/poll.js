// One poll of the weaver list shared by every view (sidebar, status bar): it runs only while
// someone listens, pauses while the browser tab is hidden, and refreshes at once on demand.

export class WeaverPoll {
  constructor(api, intervalSeconds = 5) {
    this.api = api;
    this.interval = intervalSeconds;
    this.weavers = [];
    this.error = null;
    this.updated = null;
    this._listeners = new Set();
    this._timer = null;
    this._inflight = null;
    this._onVisibility = () => (document.hidden ? this._pause() : this.refresh());
    document.addEventListener("visibilitychange", this._onVisibility);
  }

  /** `listener(poll)` after every answer; returns the unsubscribe function. */
  subscribe(listener) {
    this._listeners.add(listener);
    if (this._listeners.size === 1) this.refresh();
    else listener(this);
    return () => {
      this._listeners.delete(listener);
      if (!this._listeners.size) this._pause();
    };
  }

  setInterval(seconds) {
    this.interval = Math.max(1, Number(seconds) || 5);
    if (this._timer !== null) this._schedule();
  }

  get running() {
    return this.weavers.filter((w) => w.status === "running").length;
  }

  /** Ask now (joining a request already under way), then keep polling. */
  refresh() {
    if (!this._inflight) this._inflight = this._fetch().finally(() => (this._inflight = null));
    return this._inflight;
  }

  async _fetch() {
    clearTimeout(this._timer);
    this._timer = null;
    try {
      this.weavers = await this.api.weavers();
      this.error = null;
      this.updated = new Date();
    } catch (exc) {
      this.error = exc;
    }
    for (const listener of this._listeners) listener(this);
    this._schedule();
  }

  _schedule() {
    clearTimeout(this._timer);
    this._timer = null;
    if (!this._listeners.size || document.hidden) return;
    this._timer = setTimeout(() => this.refresh(), this.interval * 1000);
  }

  _pause() {
    clearTimeout(this._timer);
    this._timer = null;
  }

  dispose() {
    this._pause();
    this._listeners.clear();
    document.removeEventListener("visibilitychange", this._onVisibility);
  }
}
