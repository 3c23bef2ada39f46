// The Terminal widget's front end: xterm.js bound to a weaver's TTY (loom-api.md §4.7).
// "browser" mode opens the Jupyter server extension's WebSocket straight from the page, so
// typing stays live while the kernel is busy; "relay" mode moves bytes through the widget comm.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";

const KEEPALIVE_MS = 15000; // the Loom web client's empty binary frame (§4.7)
const RETRY_MS = [500, 1000, 2000, 4000, 8000, 8000, 8000]; // then give up
const DIM = (text) => `\r\n\x1b[2m${text}\x1b[0m\r\n`;
const encoder = new TextEncoder();

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

function bytesOf(buffer) {
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return new Uint8Array(buffer);
}

function element(tag, className, parent) {
  const node = document.createElement(tag);
  node.className = className;
  parent.appendChild(node);
  return node;
}

/** Status shown to the user and mirrored into the model, so Python can read it too. */
function statusSetter(model, line) {
  return (status) => {
    line.textContent = status;
    line.dataset.status = status.split(":")[0];
    if (model.get("mode") === "browser" && model.get("status") !== status) {
      model.set("status", status);
      model.save_changes();
    }
  };
}

/** Browser mode: a same-origin WebSocket to the extension, reconnecting while the weaver runs. */
function browserLink(model, term, ui) {
  let socket = null;
  let attempt = 0;
  let timer = null;
  let keepalive = null;
  let stopped = false;
  let opened = false;

  const giveUp = (status, note) => {
    stopped = true;
    if (note) term.write(DIM(note));
    ui.setStatus(status);
  };
  const onText = (text) => {
    if (text.startsWith("ERROR:")) return giveUp(`error: ${text.slice(6).trim()}`, text);
    if (isReadOnlyNotice(text)) ui.setReadOnly(true);
    term.write(text);
  };
  const scheduleRetry = (why) => {
    if (stopped) return;
    if (attempt >= RETRY_MS.length) return giveUp(`error: ${why}`, `[disconnected: ${why}]`);
    ui.setStatus("connecting");
    timer = setTimeout(open, RETRY_MS[attempt++]);
  };
  const onClose = (event) => {
    clearInterval(keepalive);
    socket = null;
    if (stopped) return;
    if (event.code === 1000) return giveUp("closed", "[process exited]");
    const why = event.reason || (opened ? "connection lost" : "could not connect");
    if (opened) term.write(DIM(`[${why}; reconnecting]`));
    opened = false;
    scheduleRetry(why);
  };
  function open() {
    timer = null;
    ui.setStatus("connecting");
    socket = new WebSocket(socketUrl(model.get("ws_url"), window.location));
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      opened = true;
      attempt = 0;
      ui.setStatus("connected");
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
    dispose() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(keepalive);
      if (socket) socket.close(1000, "widget closed");
    },
  };
}

/** Relay mode: the kernel owns the Loom session; output arrives as comm buffers. */
function relayLink(model, term, ui) {
  const view = Math.random().toString(36).slice(2);
  const onMessage = (msg, buffers) => {
    if (msg.view && msg.view !== view) return; // a replay meant for another view
    for (const buffer of buffers || []) term.write(bytesOf(buffer));
    if (msg.type === "exit") term.write(DIM(msg.text || "[process exited]"));
    if (msg.type === "error") term.write(DIM(msg.text));
    if (msg.type === "notice") term.write(DIM(msg.text));
  };
  const onStatus = () => ui.setStatus(model.get("status"));
  model.on("msg:custom", onMessage);
  model.on("change:status", onStatus);
  onStatus();
  model.send({ type: "ready", view });
  return {
    send(data) {
      if (typeof data === "string") model.send({ type: "input", data });
      else model.send({ type: "input" }, undefined, [data]);
    },
    dispose() {
      model.off("msg:custom", onMessage);
      model.off("change:status", onStatus);
    },
  };
}

/** Only the dimensions Python fixed: xterm.js rejects (console.error) an explicit `undefined`. */
function fixedSize(model) {
  const size = {};
  for (const key of ["cols", "rows"]) if (model.get(key)) size[key] = model.get(key);
  return size;
}

function render({ model, el }) {
  const root = element("div", "loom-terminal", el);
  const header = element("div", "loom-terminal-header", root);
  const title = element("span", "loom-terminal-title", header);
  const statusLine = element("span", "loom-terminal-status", header);
  const banner = element("div", "loom-terminal-banner", root);
  const screen = element("div", "loom-terminal-screen", root);
  title.textContent = `weaver ${model.get("weaver_id")}`;
  banner.textContent = "Read-only: you can watch this terminal but your input is not sent.";

  const size = fixedSize(model);
  const term = new Terminal({ cursorBlink: true, scrollback: 5000, fontSize: 13, ...size });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(screen);

  const ui = {
    setStatus: statusSetter(model, statusLine),
    setReadOnly(readOnly) {
      banner.hidden = !readOnly;
      term.options.disableStdin = readOnly;
      if (model.get("mode") === "browser" && model.get("read_only") !== readOnly) {
        model.set("read_only", readOnly);
        model.save_changes();
      }
    },
  };
  ui.setReadOnly(model.get("read_only"));
  const onReadOnly = () => ui.setReadOnly(model.get("read_only"));
  model.on("change:read_only", onReadOnly);

  const link = model.get("mode") === "browser" ? browserLink(model, term, ui) : relayLink(model, term, ui);
  const typed = term.onData((data) => link.send(data));
  const binary = term.onBinary((data) => link.send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));

  const refit = () => {
    if (size.cols && size.rows) return;
    try {
      fit.fit();
    } catch (_) {
      // not laid out yet (hidden output area): the next resize fits it
    }
  };
  const observer = new ResizeObserver(refit);
  observer.observe(screen);
  requestAnimationFrame(refit);

  return () => {
    observer.disconnect();
    model.off("change:read_only", onReadOnly);
    typed.dispose();
    binary.dispose();
    link.dispose();
    term.dispose();
  };
}

export default { render };
