// The chat panel (right area): a conversation with Loom's LLM proxy (loom-api.md §5), streamed
// as it arrives; saved as a Loom thread (§3, the SDK's Conversation.save rules), reopened from
// the thread list, and inserted into the active notebook as a Markdown cell.
import { Widget } from "@lumino/widgets";
import { h } from "./format.js";

// The Python side's vocabulary (client/models/providers.py), which the browser tests hold this to:
// the providers Loom routes and each one's default model ("" = the model must be named).
export const PROVIDERS = ["anthropic", "openai", "vertex", "zai"];
export const DEFAULT_MODELS = { anthropic: "claude-sonnet-4-20250514", openai: "gpt-4o-mini" };
const TITLE_LENGTH = 60;
const SAVE_ATTEMPTS = 3;

/** A time-ordered UUIDv7 (RFC 9562), as Loom's thread ids use: `T-<uuid7>`. */
export function uuid7(now = Date.now()) {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let ms = now;
  for (let i = 5; i >= 0; i--) { bytes[i] = ms % 256; ms = Math.floor(ms / 256); }
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function titleFrom(turns) {
  const first = (turns.find((t) => t.role === "user") || {}).content || "Notebook chat";
  const flat = first.split(/\s+/).filter(Boolean).join(" ");
  return flat.length <= TITLE_LENGTH ? flat : flat.slice(0, TITLE_LENGTH - 1) + "…";
}

/** The conversation as Markdown, for a notebook cell. */
export function markdownOf(turns) {
  return turns.filter((t) => t.content).map((t) => t.role === "user"
    ? `**You:** ${t.content}`
    : `**Loom${t.model ? ` (${t.provider}/${t.model})` : ""}:** ${t.content}${t.cut ? `\n\n*(${t.cut})*` : ""}`).join("\n\n");
}

export class ChatPanel extends Widget {
  /** `insert(markdown)` puts text into the active notebook (false when there is none). A
   * conversation stays on the connection it started on; a new one starts on the current one. */
  constructor({ connections, settings, icon, insert }) {
    super();
    this.connections = connections;
    this.api = connections.api();
    this.settings = settings;
    this.insert = insert;
    this.id = "loom-chat";
    this.addClass("loom-Chat");
    this.title.icon = icon;
    this.title.caption = "Loom chat";
    this.node.setAttribute("role", "region");
    this.node.setAttribute("aria-label", "Loom chat");
    this._build();
    this.reset();
    this._unfollow = connections.subscribe(() => this._connectionsChanged());
  }

  _connectionsChanged() {
    if (!this.turns.length && !this._abort && this.api !== this.connections.api()) this.reset();
    else this._showConnection();
  }

  /** Which connection this conversation talks to, when there is a choice. */
  _showConnection() {
    const list = this.connections.list;
    const name = this.api.connection;
    const next = this.connections.current;
    this.connectionLine.hidden = !(list && list.length > 1);
    this.connectionLine.textContent = next === name ? `On connection ${name}.`
      : `On connection ${name}; New starts on ${next}.`;
  }

  _build() {
    const s = this.settings();
    this.provider = h("select", { class: "loom-ChatProvider", "aria-label": "LLM provider",
      onchange: () => this._providerChanged() },
      PROVIDERS.map((p) => h("option", { value: p, text: p, selected: p === s.chatProvider })));
    this._providerWas = this.provider.value;
    this.model = h("input", { class: "loom-ChatModel", value: s.chatModel, placeholder: "model", "aria-label": "Model" });
    this.threadList = h("select", { class: "loom-ThreadList", "aria-label": "Saved threads",
      onfocus: () => this.loadThreads(), onchange: () => this.threadList.value && this.open(this.threadList.value) });
    this.log = h("div", { class: "loom-ChatLog", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
    this.prompt = h("textarea", { class: "loom-ChatPrompt", rows: 3, placeholder: "Ask Loom… (Enter sends, Shift+Enter: new line)",
      "aria-label": "Message to Loom", onkeydown: (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
      } });
    const button = (text, label, onclick, cls = "") => h("button", { class: `jp-mod-styled ${cls}`, text, "aria-label": label, onclick });
    this.sendButton = button("Send", "Send the message", () => this.send(), "jp-mod-accept loom-ChatSend");
    this.stopButton = button("Stop", "Stop the answer", () => this.stop(), "loom-ChatStop");
    this.stopButton.disabled = true;
    this.saveButton = button("Save", "Save the conversation as a Loom thread", () => this.save(), "loom-ChatSave");
    this.insertButton = button("Insert", "Insert the conversation into the active notebook as a Markdown cell", () => this.insertIntoNotebook(), "loom-ChatInsert");
    this.status = h("div", { class: "loom-ChatStatus", role: "status" });
    this.connectionLine = h("div", { class: "loom-ChatConnection", hidden: true });
    this.node.append(
      h("header", { class: "loom-Header" }, h("h2", { text: "Loom chat" }),
        button("New", "Start a new conversation", () => this.reset(), "loom-ChatNew")),
      this.connectionLine,
      h("div", { class: "loom-ChatSettings" }, this.provider, this.model),
      h("div", { class: "loom-ChatThreads" }, this.threadList,
        button("↻", "Refresh the thread list", () => this.loadThreads(), "jp-mod-minimal")),
      this.log,
      this.prompt,
      h("div", { class: "loom-ChatButtons" }, this.sendButton, this.stopButton, this.saveButton, this.insertButton),
      this.status);
  }

  say(text, kind = "info") {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  // -- the conversation --------------------------------------------------------------------
  /** A new conversation, on `api` (the current connection's unless given). */
  reset(api = this.connections.api()) {
    if (this._abort) this._abort.abort();
    if (api !== this.api) this.threadList.replaceChildren(); // another server's threads
    this.api = api;
    this.turns = [];
    this.saved = 0;
    this.thread = null;
    this.log.replaceChildren();
    this.threadList.value = "";
    this.say("");
    this._showConnection();
  }

  _show(turn) {
    const body = h("div", { class: "loom-ChatText", text: turn.content });
    const node = h("div", { class: `loom-ChatTurn loom-ChatTurn-${turn.role}`, "data-role": turn.role },
      h("div", { class: "loom-ChatWho", text: turn.role === "user" ? "You" : "Loom" }), body);
    this.log.append(node);
    this.log.scrollTop = this.log.scrollHeight;
    return body;
  }

  async send() {
    const prompt = this.prompt.value.trim();
    if (!prompt || this._abort) return;
    const provider = this.provider.value;
    const model = this.model.value.trim();
    if (!model) { this.say("Invalid model: give one, e.g. claude-sonnet-4-20250514.", "error"); return; }
    this.prompt.value = "";
    const question = { role: "user", content: prompt };
    const answer = { role: "assistant", content: "", provider, model, cut: "" };
    const messages = [...this.messages(), { role: "user", content: prompt }];
    this._show(question);
    const text = this._show(answer);
    text.parentElement.dataset.streaming = "true";
    this._abort = new AbortController();
    this.sendButton.disabled = true;
    this.stopButton.disabled = false;
    this.say("Loom is answering…");
    let ended = false;
    try {
      const events = this.api.events(`proxy/${provider}/stream`, { method: "POST", signal: this._abort.signal,
        body: { model, messages, tools: [], max_tokens: 4096 } });
      for await (const event of events) {
        if (event.event !== "llm" && event.event !== "message") continue;
        const data = JSON.parse(event.data);
        if (data.type === "text_delta") {
          answer.content += data.content || "";
          text.textContent = answer.content;
          this.log.scrollTop = this.log.scrollHeight;
        } else if (data.type === "completed") {
          if (!answer.content) answer.content = ((data.response || {}).message || {}).content || "";
          ended = true;
          break;
        } else if (data.type === "error") {
          answer.cut = `the provider reported an error: ${data.message}`;
          ended = true;
          break;
        }
      }
      if (!ended && !answer.cut) answer.cut = "the stream broke off";
    } catch (exc) {
      if (exc && exc.name === "AbortError") answer.cut = "stopped by you";
      else if (!answer.content) {
        // nothing arrived: the question is not part of the history
        text.parentElement.remove();
        this.log.lastChild.remove();
        this.prompt.value = prompt;
        this.say(`Loom could not answer: ${exc.message}`, "error");
        return;
      } else answer.cut = `the stream broke off: ${exc.message}`;
    } finally {
      this._abort = null;
      this.sendButton.disabled = false;
      this.stopButton.disabled = true;
      delete text.parentElement.dataset.streaming;
    }
    text.textContent = answer.content;
    if (answer.cut) text.parentElement.append(h("div", { class: "loom-ChatCut", text: `(${answer.cut})` }));
    this.turns.push(question, answer);
    this.say(answer.cut ? `The answer is partial: ${answer.cut}.` : "");
  }

  stop() {
    if (this._abort) this._abort.abort();
  }

  /** The history in wire form (turns without text are left out). */
  messages() {
    return this.turns.filter((t) => t.content).map((t) => ({ role: t.role, content: t.content }));
  }

  // -- threads -----------------------------------------------------------------------------
  _newThread() {
    const now = new Date().toISOString();
    return { id: `T-${uuid7()}`, version: 0, created_at: now, updated_at: now, last_activity_at: now,
      conversation: { messages: [] },
      metadata: { title: titleFrom(this.turns), tags: ["jupyter"], is_pinned: false, extra: {} } };
  }

  /** Append the unsaved messages to the thread (created on the first save); after a 409,
   * on top of the version someone else saved. */
  async save() {
    const unsaved = this.turns.slice(this.saved).filter((t) => t.content).map((t) => ({ role: t.role, content: t.content }));
    if (!unsaved.length) { this.say(this.thread ? "Everything is saved." : "Nothing to save yet."); return null; }
    const upto = this.turns.length;
    let base = this.thread || this._newThread();
    const answered = [...this.turns].reverse().find((t) => t.model);
    this.saveButton.disabled = true;
    try {
      for (let attempt = 1; attempt <= SAVE_ATTEMPTS; attempt++) {
        const conversation = { ...(base.conversation || {}), messages: [...((base.conversation || {}).messages || []), ...unsaved] };
        const thread = { ...base, conversation, last_activity_at: new Date().toISOString(),
          ...(answered ? { provider: answered.provider, model: answered.model } : {}) };
        try {
          const stored = await this.api.putThread(thread, base.version);
          this.thread = stored;
          this.saved = upto;
          this.say(`Saved as thread ${stored.id} (version ${stored.version}).`);
          this.loadThreads();
          return stored;
        } catch (exc) {
          if (exc.status !== 409 || attempt === SAVE_ATTEMPTS) throw exc;
          base = await this.api.thread(base.id);
        }
      }
    } catch (exc) {
      this.say(`Could not save: ${exc.message}`, "error");
    } finally {
      this.saveButton.disabled = false;
    }
    return null;
  }

  async loadThreads() {
    try {
      const threads = await this.api.threads();
      const current = this.thread ? this.thread.id : "";
      this.threadList.replaceChildren(h("option", { value: "", text: threads.length ? "Open a saved thread…" : "No saved threads" }),
        ...threads.map((t) => h("option", { value: t.id, text: `${t.title || t.id} (${t.message_count ?? "?"} messages)`, selected: t.id === current })));
    } catch (exc) {
      this.say(`Could not list threads: ${exc.message}`, "error");
    }
  }

  /** Continue a stored thread: its user and assistant messages become the history. */
  async open(id) {
    try {
      const thread = await this.api.thread(id);
      this.reset(this.api);
      this.thread = thread;
      this.turns = ((thread.conversation || {}).messages || [])
        .filter((m) => (m.role === "user" || m.role === "assistant") && typeof m.content === "string")
        .map((m) => ({ role: m.role, content: m.content, provider: thread.provider, model: thread.model }));
      this.saved = this.turns.length;
      this.turns.forEach((t) => this._show(t));
      this.threadList.value = id;
      this.say(`Opened thread ${id}.`);
    } catch (exc) {
      this.say(`Could not open the thread: ${exc.message}`, "error");
    }
  }

  insertIntoNotebook() {
    if (!this.turns.length) { this.say("Nothing to insert yet."); return; }
    if (this.insert(markdownOf(this.turns))) this.say("Inserted into the notebook as a Markdown cell.");
    else this.say("Open a notebook first: the conversation goes below its active cell.", "error");
  }

  /** A model left at the old provider's default follows the new provider; a typed one stays. */
  _providerChanged() {
    const was = this._providerWas;
    this._providerWas = this.provider.value;
    const model = this.model.value.trim();
    if (!model || (was && model === (DEFAULT_MODELS[was] || ""))) {
      this.model.value = DEFAULT_MODELS[this.provider.value] || "";
    }
  }

  settingsChanged(previous, current) {
    if (this.model.value === previous.chatModel) this.model.value = current.chatModel;
    if (this.provider.value === previous.chatProvider) this.provider.value = current.chatProvider;
    this._providerWas = this.provider.value;
  }

  dispose() {
    if (this._abort) this._abort.abort();
    this._unfollow();
    super.dispose();
  }
}
