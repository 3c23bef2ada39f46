// One poll of the weaver list shared by every view (sidebar, status bar): it runs only while
// someone listens, pauses while the browser tab is hidden, and refreshes at once on demand.
// It asks the current connection, and nothing while that connection has no credential.

export class WeaverPoll {
  constructor(api, intervalSeconds = 5) {
    this.api = api;
    this.interval = intervalSeconds;
    this.weavers = [];
    this.error = null;
    this.updated = null;
    this.blocked = null; // {short, message}: why nothing is asked (no credential), shown instead
    this._generation = 0; // answers of a connection switched away from are dropped
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

  /** Poll `api` from now on; `blocked` ({short, message}: why) stops asking until cleared. */
  use(api, blocked = null) {
    if (api === this.api && blocked === this.blocked) return this.refresh();
    const switched = api !== this.api;
    this.api = api;
    this.blocked = blocked;
    this._generation++;
    this._inflight = null;
    if (switched || blocked) {
      this.weavers = [];
      this.error = null;
    }
    return this.refresh();
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
    if (!this._inflight) {
      const request = this._fetch().finally(() => {
        if (this._inflight === request) this._inflight = null;
      });
      this._inflight = request;
    }
    return this._inflight;
  }

  async _fetch() {
    clearTimeout(this._timer);
    this._timer = null;
    const generation = this._generation;
    if (!this.blocked) {
      let weavers = null;
      let error = null;
      try {
        weavers = await this.api.weavers();
      } catch (exc) {
        error = exc;
      }
      if (generation !== this._generation) return; // switched meanwhile: use() asked again
      if (error) this.error = error;
      else {
        this.weavers = weavers;
        this.error = null;
        this.updated = new Date();
      }
    }
    for (const listener of this._listeners) listener(this);
    this._schedule();
  }

  _schedule() {
    clearTimeout(this._timer);
    this._timer = null;
    if (!this._listeners.size || document.hidden || this.blocked) return;
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
