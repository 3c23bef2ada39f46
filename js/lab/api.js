// Every request of the panel: the server extension's `{base_url}loom/...` routes, with
// Jupyter's own auth and XSRF (ServerConnection). Errors become one LoomApiError, here only.
import { URLExt } from "@jupyterlab/coreutils";
import { ServerConnection } from "@jupyterlab/services";
import { sseEvents } from "./sse.js";

export class LoomApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "LoomApiError";
    this.status = status;
    this.code = code;
  }
}

/** `{"error","message"}` (Loom and the extension), else the start of the text. */
async function errorFrom(response) {
  const text = await response.text().catch(() => "");
  let code = `http_${response.status}`;
  let message = text.trim().slice(0, 300) || response.statusText || `HTTP ${response.status}`;
  try {
    const body = JSON.parse(text);
    if (body && typeof body === "object") {
      code = body.error || body.reason || code;
      message = body.message || body.detail || message;
    }
  } catch (_) {
    // not JSON: keep the text
  }
  return new LoomApiError(response.status, code, message);
}

export class LoomApi {
  /** `prefix`: where the connection's routes are, `loom/` (the default connection) or
   * `loom/connections/NAME/`; the extension's own routes (status, connections) are under `loom/`. */
  constructor(settings = ServerConnection.makeSettings(), { prefix = "loom/", connection = "default" } = {}) {
    this.settings = settings;
    this.prefix = prefix;
    this.connection = connection;
  }

  /** `{base_url}<prefix><path>` (path may carry a query); `root`: under `loom/` whatever the prefix. */
  url(path, root = false) {
    return URLExt.join(this.settings.baseUrl, root ? "loom/" : this.prefix, path);
  }

  /** The WebSocket route of a weaver's terminal, as a page-relative path. */
  attachPath(weaverId) {
    return URLExt.join(this.settings.baseUrl, this.prefix, "api/weaver", encodeURIComponent(weaverId), "attach");
  }

  async request(path, { method = "GET", body, headers = {}, signal, root = false } = {}) {
    const init = { method, headers: { ...headers }, signal };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await ServerConnection.makeRequest(this.url(path, root), init, this.settings);
    } catch (exc) {
      if (exc && exc.name === "AbortError") throw exc;
      throw new LoomApiError(0, "network", `Jupyter server unreachable: ${exc.message || exc}`);
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async json(path, options) {
    const response = await this.request(path, options);
    return response.status === 204 ? null : response.json();
  }

  // -- the extension's own routes (sign-in: this connection's) -------------------------
  status() {
    return this.json("status", { root: true });
  }

  signin() {
    return this.json("signin");
  }

  startSignin() {
    return this.json("signin", { method: "POST" });
  }

  signOut() {
    return this.json("signin", { method: "DELETE" });
  }

  /** Named connections, or null when this server has none (an older extension: 404). */
  async connections() {
    try {
      const answer = await this.json("connections", { root: true });
      return Array.isArray(answer) ? answer : answer && Array.isArray(answer.connections) ? answer.connections : null;
    } catch (exc) {
      if (exc instanceof LoomApiError && exc.status === 404) return null;
      throw exc;
    }
  }

  // -- Loom, through the extension's proxy (loom-api.md) ---------------------------------
  weaver(id) {
    return this.json(`api/weaver/${encodeURIComponent(id)}`);
  }

  async weavers() {
    const answer = await this.json("api/weavers");
    return (answer && answer.weavers) || [];
  }

  createWeaver(body) {
    return this.json("api/weaver", { method: "POST", body });
  }

  deleteWeaver(id) {
    return this.json(`api/weaver/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  async orgs() {
    const answer = await this.json("api/orgs");
    return (answer && answer.orgs) || [];
  }

  async threads(limit = 50) {
    const answer = await this.json(`api/threads?limit=${limit}`);
    return (answer && answer.threads) || [];
  }

  thread(id) {
    return this.json(`api/threads/${encodeURIComponent(id)}`);
  }

  /** PUT does not bump the version (§3.2): send expected+1 with If-Match: expected. */
  putThread(thread, expected) {
    return this.json(`api/threads/${encodeURIComponent(thread.id)}`, {
      method: "PUT", body: { ...thread, version: expected + 1 }, headers: { "If-Match": String(expected) },
    });
  }

  /** The SSE events of a GET (logs) or POST (LLM stream) route. */
  async *events(path, { method = "GET", body, signal } = {}) {
    const response = await this.request(path, { method, body, signal, headers: { Accept: "text/event-stream" } });
    yield* sseEvents(response.body);
  }
}
