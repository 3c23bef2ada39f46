// A weaver's terminal in a main-area tab: the widget's own terminal code (src/xterm-session.js)
// on the extension's attach WebSocket; it fits the tab and follows resizes and reconnects.
import { Widget } from "@lumino/widgets";
import { mountTerminal, socketLink } from "../src/xterm-session.js";
import { h, shortId } from "./format.js";

export class WeaverTerminal extends Widget {
  /** A weaver's terminal on `connection` (its name; kept when the sidebar switches). */
  constructor({ connections, weaverId, connection = "default" }) {
    super();
    const api = connections.api(connection);
    this.weaverId = weaverId;
    this.connection = connection;
    this.addClass("loom-TerminalTab");
    this.title.label = `Terminal ${shortId(weaverId)}`;
    this.title.caption = `Terminal of weaver ${weaverId}`;
    this.node.setAttribute("aria-label", `Terminal of weaver ${weaverId}`);
    this.view = mountTerminal(this.node, { title: `weaver ${weaverId}` });
    this.link = socketLink(this.view, () => api.attachPath(weaverId));
    this.unbind = this.view.bind(this.link);
    this.reconnect = h("button", { class: "jp-mod-styled jp-mod-minimal loom-Reconnect", text: "Reconnect",
      "aria-label": `Reconnect the terminal of weaver ${weaverId}`, onclick: () => this.link.reconnect() });
    this.view.root.querySelector(".loom-terminal-header").append(this.reconnect);
  }

  onAfterShow() {
    this.view.refit();
  }

  onActivateRequest() {
    this.view.term.focus();
  }

  onResize() {
    this.view.refit();
  }

  dispose() {
    if (this.isDisposed) return;
    this.unbind();
    this.link.dispose();
    this.view.dispose();
    super.dispose();
  }
}
