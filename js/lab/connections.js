// The named connections of the Jupyter server (`GET {base_url}loom/connections`) and which one
// the panel works with. Every Loom-kind connection gets one LoomApi on its own prefix; the
// sidebar, the shared poll and new chats follow the current one; log and terminal tabs keep
// the connection they were opened on.
import { LoomApi } from "./api.js";

export const DEFAULT = "default";
const STATE_KEY = "loom-jupyter:connection"; // localStorage, per Jupyter server (base URL)

/** The prefix of a connection's routes: `default` keeps the original `loom/` routes. */
export function prefixOf(name, listed) {
  if (name === DEFAULT) return "loom/";
  return (listed && listed.prefix) || `loom/connections/${encodeURIComponent(name)}/`;
}

export class Connections {
  constructor(settings) {
    this.settings = settings;
    this.root = new LoomApi(settings); // the extension's own routes: status, connections
    this.list = null; // [{name, kind, title, url, default, signed_in, credential, prefix}] or null
    this.current = this._remembered() || DEFAULT;
    this._apis = new Map();
    this._listeners = new Set();
  }

  get _key() {
    return `${STATE_KEY}:${this.settings.baseUrl}`;
  }

  _remembered() {
    try {
      return window.localStorage.getItem(this._key);
    } catch (_) {
      return null; // storage disabled: start on the default connection
    }
  }

  _remember(name) {
    try {
      window.localStorage.setItem(this._key, name);
    } catch (_) {
      // storage disabled: the choice lasts until the page reloads
    }
  }

  /** The LoomApi of connection `name` (the current one when omitted). */
  api(name = this.current) {
    let api = this._apis.get(name);
    if (!api) {
      api = new LoomApi(this.settings, { prefix: prefixOf(name, this.find(name)), connection: name });
      this._apis.set(name, api);
    }
    return api;
  }

  find(name) {
    return (this.list || []).find((c) => c.name === name) || null;
  }

  /** The current connection's row (a stand-in for `default` on a server without the list). */
  get info() {
    return this.find(this.current) || { name: this.current, kind: "loom", title: "Loom", default: this.current === DEFAULT };
  }

  /** Whether the current connection can be asked for weavers without a 401. Unknown: yes. */
  get usable() {
    const info = this.find(this.current);
    return !info || (info.kind === "loom" && !!info.signed_in);
  }

  /** `listener(connections, switched)` on every change; returns the unsubscribe function. */
  subscribe(listener) {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  _emit(switched) {
    for (const listener of this._listeners) listener(this, switched);
  }

  /** Ask the server for the list (null on a server without named connections). */
  async refresh() {
    const before = JSON.stringify(this.list);
    this.list = await this.root.connections();
    let switched = false;
    if (this.list && !this.list.some((c) => c.name === this.current && c.kind === "loom")) {
      const fallback = this.list.find((c) => c.default && c.kind === "loom") || this.list.find((c) => c.kind === "loom");
      if (fallback && fallback.name !== this.current) {
        this.current = fallback.name;
        switched = true;
      }
    }
    if (switched || JSON.stringify(this.list) !== before) this._emit(switched);
    return this.list;
  }

  /** Work with connection `name` from now on (Loom-kind connections only). */
  select(name) {
    const info = this.find(name);
    if (name === this.current || (this.list && (!info || info.kind !== "loom"))) return false;
    this.current = name;
    this._remember(name);
    this._emit(true);
    return true;
  }
}
