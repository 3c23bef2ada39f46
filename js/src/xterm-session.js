// A weaver's TTY in xterm.js (loom-api.md §4.7): the one copy shared by the notebook widget
// (src/terminal.js, anywidget) and the JupyterLab panel's terminal tab (lab/terminal.js).
// It draws the terminal and its chrome, fits it to its box, and links it to the server
// extension's attach WebSocket, reconnecting while the weaver may still run.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";

const KEEPALIVE_MS = 15000; // the Loom web client's empty binary frame (§4.7)
const RETRY_MS = [500, 1000, 2000, 4000, 8000, 8000, 8000]; // then give up
const encoder = new TextEncoder();

export const READ_ONLY_TEXT = "Read-only: you can watch this terminal but your input is not sent.";

/** Dim text on a line of its own: our notes inside the terminal. */
export const dim = (text) => `\r\n\x1b[2m${text}\x1b[0m\r\n`;

/** A path like `/base/loom/api/weaver/x/attach` made absolute against the page, as ws/wss. */
export function socketUrl(path, location) {
  const url = new URL(path, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** The support role's notice: "\r\n*** Read-only access: ... ***\r\n" (§4.7). */
export function isReadOnlyNotice(text) {
  const t = text.trim().toLowerCase();
  return t.startsWith("***") && t.includes("read") && t.includes("only");
}

export function element(tag, className, parent) {
  const node = document.createElement(tag);
  node.className = className;
  parent.appendChild(node);
  return node;
}

/**
 * The terminal and its chrome (title, status line, read-only banner) inside `parent`.
 * `size` fixes cols/rows (else it fits its box and follows resizes); `onStatus` and
 * `onReadOnly` hear every change (the widget mirrors them into its model).
 */
export function mountTerminal(parent, { title, size = {}, onStatus, onReadOnly } = {}) {
  const root = element("div", "loom-terminal", parent);
  const header = element("div", "loom-terminal-header", root);
  const titleLine = element("span", "loom-terminal-title", header);
  const statusLine = element("span", "loom-terminal-status", header);
  const banner = element("div", "loom-terminal-banner", root);
  const screen = element("div", "loom-terminal-screen", root);
  titleLine.textContent = title || "";
  banner.textContent = READ_ONLY_TEXT;
  banner.hidden = true;
  statusLine.setAttribute("role", "status");

  const term = new Terminal({ cursorBlink: true, scrollback: 5000, fontSize: 13, ...size });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(screen);

  const refit = () => {
    if (size.cols && size.rows) return;
    try {
      fit.fit();
    } catch (_) {
      // not laid out yet (a hidden output area or tab): the next resize fits it
    }
  };
  const observer = new ResizeObserver(refit);
  observer.observe(screen);
  requestAnimationFrame(refit);

  const view = {
    root,
    term,
    refit,
    setStatus(status) {
      statusLine.textContent = status;
      statusLine.dataset.status = status.split(":")[0];
      if (onStatus) onStatus(status);
    },
    setReadOnly(readOnly) {
      banner.hidden = !readOnly;
      term.options.disableStdin = readOnly;
      if (onReadOnly) onReadOnly(readOnly);
    },
    /** Send what is typed (text and binary) through `link.send`; returns the disposer. */
    bind(link) {
      const typed = term.onData((data) => link.send(data));
      const binary = term.onBinary((data) => link.send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
      return () => {
        typed.dispose();
        binary.dispose();
      };
    },
    dispose() {
      observer.disconnect();
      term.dispose();
      root.remove();
    },
  };
  return view;
}

/**
 * A same-origin WebSocket to the extension's attach route, reconnecting while the weaver runs.
 * `path()` gives the route (`{base_url}loom/api/weaver/{id}/attach`); `view` is mountTerminal's.
 */
export function socketLink(view, path) {
  const term = view.term;
  let socket = null;
  let attempt = 0;
  let timer = null;
  let keepalive = null;
  let stopped = false;
  let opened = false;

  const giveUp = (status, note) => {
    stopped = true;
    if (note) term.write(dim(note));
    view.setStatus(status);
  };
  const onText = (text) => {
    if (text.startsWith("ERROR:")) return giveUp(`error: ${text.slice(6).trim()}`, text);
    if (isReadOnlyNotice(text)) view.setReadOnly(true);
    term.write(text);
  };
  const scheduleRetry = (why) => {
    if (stopped) return;
    if (attempt >= RETRY_MS.length) return giveUp(`error: ${why}`, `[disconnected: ${why}]`);
    view.setStatus("connecting");
    timer = setTimeout(open, RETRY_MS[attempt++]);
  };
  const onClose = (event) => {
    clearInterval(keepalive);
    socket = null;
    if (stopped) return;
    if (event.code === 1000) return giveUp("closed", "[process exited]");
    const why = event.reason || (opened ? "connection lost" : "could not connect");
    if (opened) term.write(dim(`[${why}; reconnecting]`));
    opened = false;
    scheduleRetry(why);
  };
  function open() {
    timer = null;
    view.setStatus("connecting");
    socket = new WebSocket(socketUrl(path(), window.location));
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      opened = true;
      attempt = 0;
      view.setStatus("connected");
      keepalive = setInterval(() => send(new Uint8Array(0)), KEEPALIVE_MS);
    };
    socket.onmessage = (event) =>
      typeof event.data === "string" ? onText(event.data) : term.write(new Uint8Array(event.data));
    socket.onclose = onClose;
  }
  function send(data) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(typeof data === "string" ? encoder.encode(data) : data);
  }
  open();
  return {
    send,
    /** Try again now (after giving up, or while waiting for the next retry). */
    reconnect() {
      if (socket) return;
      clearTimeout(timer);
      stopped = false;
      attempt = 0;
      open();
    },
    dispose() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(keepalive);
      if (socket) socket.close(1000, "closed by the page");
    },
  };
}
