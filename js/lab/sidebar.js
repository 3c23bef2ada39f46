// The "Loom" sidebar: where you are signed in, the weaver list (live, from the shared poll),
// filters, multi-select delete and the create form. Logs and terminals open in main-area tabs
// through the panel's commands.
import { Dialog, showDialog } from "@jupyterlab/apputils";
import { Widget } from "@lumino/widgets";
import { ageHours, duration, h, shortId, tagText } from "./format.js";
import { ValidationError, parseTags, weaverRequest } from "./weaver-request.js";

export const STATUSES = ["pending", "running", "succeeded", "failed", "terminating"];
const SIGNIN_POLL_MS = 2000;

function describeCredential(credential) {
  if (!credential) return "no credential";
  if (typeof credential === "string") return credential;
  const who = credential.user ? ` as ${credential.user}` : "";
  return `${credential.source || "credential"}${who}`;
}

export class LoomSidebar extends Widget {
  /** `options`: {connections, poll, settings() -> current settings, commands, icon} */
  constructor({ connections, poll, settings, commands, icon }) {
    super();
    this.connections = connections;
    this.poll = poll;
    this.settings = settings;
    this.commands = commands;
    this.id = "loom-sidebar";
    this.addClass("loom-Sidebar");
    this.title.icon = icon;
    this.title.caption = "Loom: weavers, logs, terminals";
    this.selected = new Set();
    this.rows = new Map();
    this._signinTimer = null;
    this._accountRun = 0;
    this._build();
    this._unsubscribe = poll.subscribe(() => this._renderWeavers());
    this._unfollow = connections.subscribe((_, switched) => switched && this._connectionSwitched());
    this.refreshAccount();
  }

  /** The current connection's routes. */
  get api() {
    return this.connections.api();
  }

  // -- layout ------------------------------------------------------------------------------
  _build() {
    const node = this.node;
    node.setAttribute("role", "region");
    node.setAttribute("aria-label", "Loom");
    this.accountBox = h("section", { class: "loom-Account", "aria-label": "Loom connections and sign-in" });
    this.statusFilter = h("select", { class: "loom-StatusFilter", "aria-label": "Filter weavers by status", onchange: () => this._renderWeavers() },
      h("option", { value: "", text: "All statuses" }), ...STATUSES.map((s) => h("option", { value: s, text: s })));
    this.tagFilter = h("input", { class: "loom-TagFilter", type: "search", placeholder: "tag filter, e.g. team:ds",
      "aria-label": "Filter weavers by tags (key:value, comma separated)", oninput: () => this._renderWeavers() });
    this.deleteButton = h("button", { class: "jp-mod-styled jp-mod-warn loom-DeleteSelected", disabled: true,
      "aria-label": "Delete the selected weavers", text: "Delete", onclick: () => this.deleteSelected() });
    this.newButton = h("button", { class: "jp-mod-styled jp-mod-accept loom-NewWeaver", text: "New weaver",
      "aria-label": "Show the form to create a weaver", "aria-expanded": "false", onclick: () => this.toggleForm() });
    const refresh = h("button", { class: "jp-mod-styled loom-Refresh", text: "Refresh", "aria-label": "Refresh the weaver list",
      onclick: () => { this.poll.refresh(); this.refreshAccount(); } });
    this.form = this._buildForm();
    this.message = h("div", { class: "loom-Message", role: "status", "aria-live": "polite" });
    this.selectAll = h("input", { type: "checkbox", "aria-label": "Select all weavers shown", onchange: () => this._toggleAll() });
    this.tbody = h("tbody");
    this.empty = h("div", { class: "loom-Empty", text: "No weavers yet." });
    this.summary = h("div", { class: "loom-Summary", "aria-live": "polite" });
    node.append(
      h("header", { class: "loom-Header" }, h("h2", { text: "Loom" }), refresh),
      this.accountBox,
      h("div", { class: "loom-Toolbar" }, this.newButton, this.deleteButton),
      this.form,
      this.message,
      h("div", { class: "loom-Filters" }, this.statusFilter, this.tagFilter),
      this.summary,
      h("div", { class: "loom-TableBox" },
        h("table", { class: "loom-Weavers", "aria-label": "Weavers" },
          h("thead", {}, h("tr", {},
            h("th", {}, this.selectAll), ...["Weaver", "Status", "Image", "Tags", "Age / lifetime", "Owner", ""].map(
              (t) => h("th", { scope: "col", text: t })))),
          this.tbody)),
      this.empty,
    );
  }

  _buildForm() {
    const field = (label, input) => h("label", { class: "loom-Field" }, h("span", { text: label }), input);
    const s = this.settings();
    this.fields = {
      image: h("input", { name: "image", value: s.defaultImage, placeholder: "python:3.12", "aria-label": "Image" }),
      org: h("select", { name: "org", "aria-label": "Organization" }),
      tags: h("input", { name: "tags", placeholder: "project:x, team:y", "aria-label": "Tags" }),
      env: h("textarea", { name: "env", rows: 2, placeholder: "NAME=value, one a line", "aria-label": "Environment variables" }),
      lifetime: h("input", { name: "lifetime", type: "number", min: 1, max: 48, value: String(s.defaultLifetime), "aria-label": "Lifetime in hours" }),
      memory: h("input", { name: "memory", placeholder: "e.g. 2Gi", "aria-label": "Memory limit" }),
      cpu: h("input", { name: "cpu", placeholder: "e.g. 2 or 500m", "aria-label": "CPU limit" }),
      command: h("input", { name: "command", placeholder: "optional, e.g. sleep 600", "aria-label": "Command" }),
    };
    this.createButton = h("button", { type: "submit", class: "jp-mod-styled jp-mod-accept", text: "Create weaver", "aria-label": "Create weaver" });
    const f = this.fields;
    return h("form", { class: "loom-CreateForm", hidden: true, "aria-label": "New weaver",
      onsubmit: (event) => { event.preventDefault(); this.create(); } },
      field("Image", f.image), field("Organization", f.org), field("Tags", f.tags), field("Env", f.env),
      field("Lifetime (h)", f.lifetime), field("Memory", f.memory), field("CPU", f.cpu), field("Command", f.command),
      h("div", { class: "loom-FormButtons" }, this.createButton));
  }

  say(text, kind = "info") {
    this.message.textContent = text;
    this.message.dataset.kind = kind;
    this.message.setAttribute("role", kind === "error" ? "alert" : "status");
  }

  // -- account: connections and sign-in --------------------------------------------------
  /** The connections, the current one's sign-in; the poll asks only a signed-in connection. */
  async refreshAccount() {
    clearTimeout(this._signinTimer);
    const run = ++this._accountRun;
    const problems = [];
    let signin = null;
    let status = null;
    try {
      await this.connections.refresh();
    } catch (exc) {
      problems.push(exc.message);
    }
    const api = this.api;
    const info = this.connections.info;
    await Promise.all([
      info.kind === "loom" ? api.signin().then((s) => (signin = s), (e) => problems.push(e.message)) : null,
      this.connections.list ? null : api.status().then((s) => (status = s), () => null),
    ]);
    if (this.isDisposed || run !== this._accountRun) return;
    this._renderAccount(signin, status, problems);
    const signedIn = signin ? signin.state === "signed_in" : this.connections.usable;
    this.poll.use(api, signedIn ? null : { short: "signed out", message: `Sign in to ${this._connectionName()} to see its weavers.` });
    if (signin && signin.state === "pending") this._signinTimer = setTimeout(() => this.refreshAccount(), SIGNIN_POLL_MS);
  }

  _connectionName() {
    const list = this.connections.list;
    return list && list.length > 1 ? `connection ${this.connections.current}` : "Loom";
  }

  _renderAccount(signin, status, problems) {
    const box = this.accountBox;
    box.replaceChildren();
    const current = this.connections.current;
    const list = this.connections.list && this.connections.list.length ? this.connections.list : [{
      name: current, kind: "loom", title: "Loom", url: (signin && signin.url) || (status && status.url) || "(not configured)",
      default: current === "default",
      signed_in: !!(status ? status.credential : signin && signin.credential),
      credential: (signin && signin.credential) || (status && status.credential_source),
    }];
    box.append(h("ul", { class: "loom-Connections", "aria-label": "Loom connections" }, list.map((c) => this._connectionRow(c, signin))));
    if (signin) box.append(this._signinView(signin));
    if (problems.length) box.append(h("div", { class: "loom-Problem", role: "alert", text: problems.join(" ") }));
  }

  _connectionRow(c, signin) {
    const isCurrent = c.name === this.connections.current;
    // the current connection's sign-in state is fresher than the list's
    const signedIn = isCurrent && signin ? signin.state === "signed_in" : !!c.signed_in;
    const credential = isCurrent && signin && signin.credential ? signin.credential : c.credential;
    const kindTitle = c.title && c.title !== c.name ? ` · ${c.title}` : "";
    const row = h("li", { class: "loom-Connection", "data-connection": c.name, "data-kind": c.kind || "loom",
      "data-signed-in": String(signedIn), "data-current": String(isCurrent), "aria-current": isCurrent ? "true" : null },
      h("span", { class: "loom-ConnectionName", text: `${c.name}${kindTitle}${c.default && c.name !== "default" ? " (default)" : ""}` }),
      h("span", { class: "loom-ConnectionUrl", text: c.url || "" }),
      h("span", { class: "loom-ConnectionState", text: signedIn ? `signed in: ${describeCredential(credential)}` : "signed out" }));
    if (isCurrent && this.connections.list && this.connections.list.length > 1) {
      row.append(h("span", { class: "loom-ConnectionCurrent", text: "in use" }));
    } else if (!isCurrent && (c.kind || "loom") === "loom") {
      row.append(h("button", { class: "jp-mod-styled jp-mod-minimal loom-UseConnection", text: "Use",
        "aria-label": `Use connection ${c.name}`, onclick: () => this.connections.select(c.name) }));
    }
    return row;
  }

  /** Another connection was chosen: its weavers, its organizations, its sign-in. */
  _connectionSwitched() {
    this.selected.clear();
    for (const row of this.rows.values()) row.remove();
    this.rows.clear();
    this._orgsLoaded = false;
    this.fields.org.replaceChildren();
    this.say("");
    this.refreshAccount();
  }

  _signinView(signin) {
    const view = h("div", { class: "loom-SignIn", "data-state": signin.state });
    if (signin.state === "pending") {
      const link = h("a", { href: signin.verification_url, target: "_blank", rel: "noopener noreferrer", text: signin.verification_url });
      view.append(
        h("div", {}, "To sign in, open ", link, " and enter the code"),
        h("div", { class: "loom-UserCode", "aria-label": "Sign-in code", text: signin.user_code }),
        h("div", { class: "loom-Hint", text: `The code expires in ${Math.ceil((signin.expires_in || 0) / 60)} min.` }),
        h("button", { class: "jp-mod-styled", text: "Cancel", "aria-label": "Cancel the sign-in", onclick: () => this._signOut() }));
    } else if (signin.state === "signed_in") {
      const c = signin.credential || {};
      view.append(h("div", { text: `Signed in to ${signin.url} (${describeCredential(c)}).` }));
      if (c.source === "sign-in") {
        view.append(h("button", { class: "jp-mod-styled", text: "Sign out", "aria-label": "Sign out of Loom", onclick: () => this._signOut() }));
      }
    } else {
      view.append(h("div", { text: `Nobody is signed in to ${signin.url}.` }),
        h("button", { class: "jp-mod-styled jp-mod-accept", text: "Sign in", "aria-label": "Sign in to Loom", onclick: () => this.signIn() }));
    }
    if (signin.last_attempt && signin.last_attempt.message) view.append(h("div", { class: "loom-Hint", text: signin.last_attempt.message }));
    return view;
  }

  async signIn() {
    try {
      await this.api.startSignin();
    } catch (exc) {
      this.say(`Sign-in failed: ${exc.message}`, "error");
    }
    await this.refreshAccount();
  }

  async _signOut() {
    this.poll.use(this.api, { short: "signing out", message: "Signing out…" }); // no request of the poll may race the sign-out (a 401)
    try {
      await this.api.signOut();
    } catch (exc) {
      this.say(`Sign-out failed: ${exc.message}`, "error");
    }
    await this.refreshAccount();
  }

  // -- the weaver list ---------------------------------------------------------------------
  /** The weavers the filters let through; a bad tag filter is reported and ignored. */
  visibleWeavers() {
    const status = this.statusFilter.value;
    let tags = {};
    try {
      tags = parseTags(this.tagFilter.value);
      this.tagFilter.removeAttribute("aria-invalid");
      this.tagFilter.title = "";
    } catch (exc) {
      this.tagFilter.setAttribute("aria-invalid", "true");
      this.tagFilter.title = exc.message;
    }
    return this.poll.weavers.filter((w) => (!status || w.status === status) &&
      Object.entries(tags).every(([k, v]) => (w.tags || {})[k] === v));
  }

  _renderWeavers() {
    if (this.isDisposed) return;
    const poll = this.poll;
    const shown = this.visibleWeavers();
    const ids = new Set(shown.map((w) => w.id));
    for (const id of [...this.selected]) if (!poll.weavers.some((w) => w.id === id)) this.selected.delete(id);
    for (const [id, row] of this.rows) if (!ids.has(id)) { row.remove(); this.rows.delete(id); }
    let previous = null;
    for (const weaver of shown) {
      const row = this.rows.get(weaver.id) || this._newRow(weaver);
      this._updateRow(row, weaver);
      const expected = previous ? previous.nextSibling : this.tbody.firstChild;
      if (row !== expected) this.tbody.insertBefore(row, expected);
      previous = row;
    }
    this.empty.hidden = shown.length > 0 || !!poll.blocked;
    this.empty.textContent = poll.weavers.length ? "No weaver matches the filters." : "No weavers yet.";
    const list = this.connections.list;
    const on = list && list.length > 1 ? `${this.connections.current}: ` : "";
    const error = poll.error ? ` Could not refresh: ${poll.error.message}` : "";
    this.summary.textContent = poll.blocked ? poll.blocked.message : `${on}${poll.running} running, ${poll.weavers.length} in all` +
      (shown.length !== poll.weavers.length ? ` (${shown.length} shown)` : "") + "." + error;
    this.summary.dataset.kind = poll.error ? "error" : poll.blocked ? "blocked" : "info";
    this._syncSelection();
  }

  _newRow(weaver) {
    const id = weaver.id;
    const connection = this.connections.current; // rows are rebuilt when it changes
    const check = h("input", { type: "checkbox", "aria-label": `Select weaver ${id}`,
      onchange: () => { check.checked ? this.selected.add(id) : this.selected.delete(id); this._syncSelection(); } });
    const button = (text, command, label) => h("button", { class: "jp-mod-styled jp-mod-minimal loom-RowAction", text,
      "aria-label": `${label} of weaver ${id}`, onclick: () => this.commands.execute(command, { id, connection }) });
    const labels = { image: "image", tags: "tags", age: "age / lifetime", owner: "owner" };
    const cells = ["id", "status", "image", "tags", "age", "owner"].map((name) =>
      h("td", { class: `loom-Cell-${name}`, "data-label": labels[name] }));
    const row = h("tr", { "data-weaver-id": id }, h("td", {}, check), ...cells,
      h("td", { class: "loom-Actions" }, button("Logs", "loom:open-logs", "Logs"), button("Terminal", "loom:open-terminal", "Terminal")));
    row._check = check;
    row._cells = Object.fromEntries(["id", "status", "image", "tags", "age", "owner"].map((n, i) => [n, cells[i]]));
    this.rows.set(id, row);
    return row;
  }

  _updateRow(row, weaver) {
    const c = row._cells;
    const set = (cell, text, title) => {
      if (cell.textContent !== text) cell.textContent = text;
      if (title !== undefined && cell.title !== title) cell.title = title;
    };
    set(c.id, shortId(weaver.id), weaver.id);
    set(c.status, weaver.status || "?");
    row.dataset.status = weaver.status || "";
    set(c.image, weaver.image || "", weaver.image || "");
    set(c.tags, tagText(weaver.tags));
    const age = ageHours(weaver);
    set(c.age, `${duration(age)} / ${weaver.lifetime_hours ?? "?"}h`,
      weaver.lifetime_hours ? `expires in ${duration(weaver.lifetime_hours - age)}` : "");
    set(c.owner, weaver.owner_user_id ? shortId(weaver.owner_user_id) : "", weaver.owner_user_id || "");
    row._check.checked = this.selected.has(weaver.id);
  }

  _toggleAll() {
    for (const w of this.visibleWeavers()) this.selectAll.checked ? this.selected.add(w.id) : this.selected.delete(w.id);
    this._renderWeavers();
  }

  _syncSelection() {
    const n = this.selected.size;
    this.deleteButton.disabled = n === 0;
    this.deleteButton.textContent = n ? `Delete (${n})` : "Delete";
    const shown = [...this.rows.keys()];
    this.selectAll.checked = shown.length > 0 && shown.every((id) => this.selected.has(id));
  }

  /** Delete the selected weavers (after a confirmation, unless the settings say not to). */
  async deleteSelected() {
    const ids = [...this.selected];
    if (!ids.length) return;
    if (this.settings().confirmDelete) {
      const answer = await showDialog({
        title: `Delete ${ids.length} weaver${ids.length > 1 ? "s" : ""}?`,
        body: `${ids.map(shortId).join(", ")} will be stopped and removed. This cannot be undone.`,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: "Delete" })],
      });
      if (!answer.button.accept) return;
    }
    this.say(`Deleting ${ids.length}…`);
    const results = await Promise.allSettled(ids.map((id) => this.api.deleteWeaver(id)));
    const failed = results.map((r, i) => [r, ids[i]]).filter(([r]) => r.status === "rejected");
    for (const id of ids) this.selected.delete(id);
    this.say(failed.length
      ? `Deleted ${ids.length - failed.length}; failed: ${failed.map(([r, id]) => `${shortId(id)} (${r.reason.message})`).join(", ")}`
      : `Deleted ${ids.length} weaver${ids.length > 1 ? "s" : ""}.`, failed.length ? "error" : "info");
    await this.poll.refresh();
  }

  // -- the create form ---------------------------------------------------------------------
  toggleForm(show = this.form.hidden) {
    this.form.hidden = !show;
    this.newButton.setAttribute("aria-expanded", String(show));
    if (show) {
      this._loadOrgs();
      this.fields.image.focus();
    }
  }

  async _loadOrgs() {
    if (this._orgsLoaded) return;
    try {
      const orgs = await this.api.orgs();
      this.fields.org.replaceChildren(...orgs.map((o) => h("option", { value: o.id, text: o.name || o.id })));
      this._orgsLoaded = orgs.length > 0;
      if (!orgs.length) this.say("This Loom account belongs to no organization, so it cannot create weavers.", "error");
    } catch (exc) {
      this.say(`Could not list your organizations: ${exc.message}`, "error");
    }
  }

  async create() {
    await this._loadOrgs();
    const values = Object.fromEntries(Object.entries(this.fields).map(([k, el]) => [k, el.value]));
    let body;
    try {
      body = weaverRequest(values);
    } catch (exc) {
      if (!(exc instanceof ValidationError)) throw exc;
      this.say(exc.message, "error");
      return;
    }
    this.createButton.disabled = true;
    this.say(`Creating a weaver from ${body.image}…`);
    try {
      const weaver = await this.api.createWeaver(body);
      this.say(`Created weaver ${shortId(weaver.id)} (${weaver.status}).`);
      this.fields.command.value = "";
    } catch (exc) {
      this.say(`Could not create the weaver: ${exc.message}`, "error");
    } finally {
      this.createButton.disabled = false;
      this.poll.refresh();
    }
  }

  /** New settings: the form's defaults follow when the user has not typed over them. */
  settingsChanged(previous, current) {
    if (this.fields.image.value === previous.defaultImage) this.fields.image.value = current.defaultImage;
    if (this.fields.lifetime.value === String(previous.defaultLifetime)) this.fields.lifetime.value = String(current.defaultLifetime);
  }

  dispose() {
    if (this.isDisposed) return;
    clearTimeout(this._signinTimer);
    this._unsubscribe();
    this._unfollow();
    super.dispose();
  }
}
