// The Terminal widget's front end: xterm.js bound to a weaver's TTY (loom-api.md §4.7).
// "browser" mode opens the Jupyter server extension's WebSocket straight from the page, so
// typing stays live while the kernel is busy; "relay" mode moves bytes through the widget comm.
// The terminal itself (xterm, fitting, the WebSocket link) is ./xterm-session.js, shared with
// the JupyterLab panel.
import { dim, isReadOnlyNotice, mountTerminal, socketLink, socketUrl } from "./xterm-session.js";

export { isReadOnlyNotice, socketUrl };

function bytesOf(buffer) {
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return new Uint8Array(buffer);
}

/** Relay mode: the kernel owns the Loom session; output arrives as comm buffers. */
function relayLink(model, view) {
  const id = Math.random().toString(36).slice(2);
  const onMessage = (msg, buffers) => {
    if (msg.view && msg.view !== id) return; // a replay meant for another view
    for (const buffer of buffers || []) view.term.write(bytesOf(buffer));
    if (msg.type === "exit") view.term.write(dim(msg.text || "[process exited]"));
    if (msg.type === "error") view.term.write(dim(msg.text));
    if (msg.type === "notice") view.term.write(dim(msg.text));
  };
  const onStatus = () => view.setStatus(model.get("status"));
  model.on("msg:custom", onMessage);
  model.on("change:status", onStatus);
  onStatus();
  model.send({ type: "ready", view: id });
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

/** In browser mode the page owns status and read-only: mirror them into the model for Python. */
function mirror(model, key) {
  return (value) => {
    if (model.get("mode") === "browser" && model.get(key) !== value) {
      model.set(key, value);
      model.save_changes();
    }
  };
}

function render({ model, el }) {
  const view = mountTerminal(el, {
    title: `weaver ${model.get("weaver_id")}`,
    size: fixedSize(model),
    onStatus: mirror(model, "status"),
    onReadOnly: mirror(model, "read_only"),
  });
  view.setReadOnly(model.get("read_only"));
  const onReadOnly = () => view.setReadOnly(model.get("read_only"));
  model.on("change:read_only", onReadOnly);

  const link = model.get("mode") === "browser"
    ? socketLink(view, () => model.get("ws_url"))
    : relayLink(model, view);
  const unbind = view.bind(link);

  return () => {
    model.off("change:read_only", onReadOnly);
    unbind();
    link.dispose();
    view.dispose();
  };
}

export default { render };
