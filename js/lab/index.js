// The Loom panel for JupyterLab 4: a sidebar (weavers, sign-in), log and terminal tabs, a chat
// panel, palette commands, a status-bar item and settings. It needs no kernel: everything goes
// through the server extension's `{base_url}loom/...` routes (./api.js).
import { ILabShell, ILayoutRestorer } from "@jupyterlab/application";
import { ICommandPalette, InputDialog, MainAreaWidget, WidgetTracker } from "@jupyterlab/apputils";
import { INotebookTracker, NotebookActions } from "@jupyterlab/notebook";
import { ISettingRegistry } from "@jupyterlab/settingregistry";
import { IStatusBar } from "@jupyterlab/statusbar";
import { LabIcon } from "@jupyterlab/ui-components";
import { Widget } from "@lumino/widgets";
import { ChatPanel } from "./chat.js";
import { Connections, DEFAULT } from "./connections.js";
import { LogViewer } from "./logs.js";
import { WeaverPoll } from "./poll.js";
import { LoomSidebar } from "./sidebar.js";
import { WeaverTerminal } from "./terminal.js";

const PLUGIN_ID = "loom-jupyter:panel";
export const DEFAULTS = {
  pollInterval: 5,
  defaultImage: "python:3.12",
  defaultLifetime: 4,
  confirmDelete: true,
  chatProvider: "anthropic",
  chatModel: "claude-sonnet-4-20250514",
};

export const loomIcon = new LabIcon({
  name: "loom-jupyter:loom",
  svgstr: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<rect x="3" y="3" width="3" height="18" rx="1"/><rect x="10.5" y="3" width="3" height="18" rx="1"/>' +
    '<rect x="18" y="3" width="3" height="18" rx="1"/><rect x="2" y="6" width="20" height="2.5" rx="1"/>' +
    '<rect x="2" y="15.5" width="20" height="2.5" rx="1"/></g></svg>',
});

const chatIcon = new LabIcon({
  name: "loom-jupyter:chat",
  svgstr: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">' +
    '<path class="jp-icon3" fill="#616161" d="M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>',
});

export const COMMANDS = {
  showPanel: "loom:show-panel",
  refresh: "loom:refresh",
  newWeaver: "loom:new-weaver",
  deleteSelected: "loom:delete-selected",
  openLogs: "loom:open-logs",
  openTerminal: "loom:open-terminal",
  openChat: "loom:open-chat",
  signIn: "loom:sign-in",
  useConnection: "loom:use-connection",
};

/** A status-bar item: the running weavers, from the shared poll; a click shows the panel. */
class RunningCount extends Widget {
  constructor(poll, onClick) {
    super();
    this.addClass("loom-StatusItem");
    this.node.setAttribute("role", "button");
    this.node.setAttribute("tabindex", "0");
    this.node.addEventListener("click", onClick);
    this.node.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && onClick());
    this._unsubscribe = poll.subscribe((p) => {
      const text = p.blocked ? `Loom: ${p.blocked.short}` : p.error ? "Loom: ?" : `Loom: ${p.running} running`;
      this.node.textContent = text;
      this.node.title = p.blocked ? `Loom: ${p.blocked.message}` : p.error ? `Loom: ${p.error.message}`
        : `${p.running} running weavers (of ${p.weavers.length}); click for the Loom panel`;
      this.node.setAttribute("aria-label", this.node.title);
    });
  }

  dispose() {
    this._unsubscribe();
    super.dispose();
  }
}

function insertMarkdown(notebooks) {
  return (markdown) => {
    const panel = notebooks && notebooks.currentWidget;
    if (!panel) return false;
    const notebook = panel.content;
    NotebookActions.insertBelow(notebook);
    NotebookActions.changeCellType(notebook, "markdown");
    notebook.activeCell.model.sharedModel.setSource(markdown);
    NotebookActions.run(notebook, panel.sessionContext);
    return true;
  };
}

async function loadSettings(registry, apply) {
  if (!registry) return;
  try {
    const settings = await registry.load(PLUGIN_ID);
    const read = () => apply({ ...DEFAULTS, ...settings.composite });
    read();
    settings.changed.connect(read);
  } catch (exc) {
    console.warn("loom-jupyter: settings not loaded, using the defaults", exc);
  }
}

/** The tab of a weaver's logs or terminal: one per weaver and connection. */
export function tabId(kind, { id, connection = DEFAULT }) {
  return connection === DEFAULT ? `loom-${kind}-${id}` : `loom-${kind}-${connection}-${id}`;
}

function activate(app, shell, palette, restorer, registry, statusBar, notebooks) {
  const connections = new Connections(app.serviceManager.serverSettings);
  let current = { ...DEFAULTS };
  const settings = () => current;
  const poll = new WeaverPoll(connections.api(), current.pollInterval);
  poll.blocked = { short: "…", message: "Checking the connection…" }; // until the sidebar knows
  const { commands } = app;

  const sidebar = new LoomSidebar({ connections, poll, settings, commands, icon: loomIcon });
  shell.add(sidebar, "left", { rank: 650 });
  const chat = new ChatPanel({ connections, settings, icon: chatIcon, insert: insertMarkdown(notebooks) });
  shell.add(chat, "right", { rank: 650 });

  loadSettings(registry, (next) => {
    const previous = current;
    current = next;
    poll.setInterval(next.pollInterval);
    sidebar.settingsChanged(previous, next);
    chat.settingsChanged(previous, next);
  });

  // Log and terminal tabs: one tracker each, so the layout restorer reopens them after a reload.
  const trackers = { logs: new WidgetTracker({ namespace: "loom-logs" }), terminal: new WidgetTracker({ namespace: "loom-terminal" }) };
  const findTab = (id) => trackers.logs.find((w) => w.id === id) || trackers.terminal.find((w) => w.id === id);
  const openTab = (kind, args, make) => {
    const id = tabId(kind, args);
    const existing = findTab(id);
    if (existing) {
      shell.activateById(existing.id);
      return existing;
    }
    const content = make();
    const widget = new MainAreaWidget({ content });
    widget.id = id;
    widget.title.label = content.title.label;
    widget.title.caption = content.title.caption;
    widget.title.icon = loomIcon;
    trackers[kind].add(widget);
    // A weaver's logs and terminal open side by side: the second one splits off the first.
    const partner = findTab(tabId(kind === "logs" ? "terminal" : "logs", args));
    const mode = args.mode || (partner ? "split-right" : "tab-after");
    shell.add(widget, "main", { mode, ref: partner ? partner.id : undefined });
    shell.activateById(widget.id);
    return widget;
  };
  if (restorer) {
    restorer.add(sidebar, "loom-sidebar");
    restorer.add(chat, "loom-chat");
    const tabArgs = (widget) => ({ id: widget.content.weaverId, connection: widget.content.connection });
    restorer.restore(trackers.logs, { command: COMMANDS.openLogs, args: tabArgs, name: (w) => w.id });
    restorer.restore(trackers.terminal, { command: COMMANDS.openTerminal, args: tabArgs, name: (w) => w.id });
  }

  const weaverArg = { type: "object", properties: { id: { type: "string", description: "the weaver id" },
    connection: { type: "string", description: "the connection it runs on (default: default)" },
    mode: { type: "string", description: "where the tab goes: tab-after, split-right, split-bottom…" } }, required: ["id"] };

  commands.addCommand(COMMANDS.showPanel, {
    label: "Loom: Show Panel", caption: "Show the Loom sidebar", icon: loomIcon,
    execute: () => shell.activateById(sidebar.id),
  });
  commands.addCommand(COMMANDS.refresh, {
    label: "Loom: Refresh Weavers", execute: () => { poll.refresh(); sidebar.refreshAccount(); },
  });
  commands.addCommand(COMMANDS.newWeaver, {
    label: "Loom: New Weaver…", execute: () => { shell.activateById(sidebar.id); sidebar.toggleForm(true); },
  });
  commands.addCommand(COMMANDS.deleteSelected, {
    label: "Loom: Delete Selected Weavers", isEnabled: () => sidebar.selected.size > 0,
    execute: () => sidebar.deleteSelected(),
  });
  commands.addCommand(COMMANDS.openLogs, {
    label: (args) => (args.id ? `Loom: Logs of ${String(args.id).slice(0, 8)}` : "Loom: Open Weaver Logs"),
    describedBy: { args: weaverArg },
    isEnabled: (args) => !!args.id,
    execute: (args) => openTab("logs", args,
      () => new LogViewer({ connections, poll, weaverId: args.id, connection: args.connection || DEFAULT })),
  });
  commands.addCommand(COMMANDS.openTerminal, {
    label: (args) => (args.id ? `Loom: Terminal of ${String(args.id).slice(0, 8)}` : "Loom: Open Weaver Terminal"),
    describedBy: { args: weaverArg },
    isEnabled: (args) => !!args.id,
    execute: (args) => openTab("terminal", args,
      () => new WeaverTerminal({ connections, weaverId: args.id, connection: args.connection || DEFAULT })),
  });
  commands.addCommand(COMMANDS.openChat, {
    label: "Loom: Open Chat", icon: chatIcon, execute: () => shell.activateById(chat.id),
  });
  commands.addCommand(COMMANDS.signIn, {
    label: "Loom: Sign In…", execute: () => { shell.activateById(sidebar.id); sidebar.signIn(); },
  });
  const loomConnections = () => (connections.list || []).filter((c) => c.kind === "loom").map((c) => c.name);
  commands.addCommand(COMMANDS.useConnection, {
    label: (args) => (args.name ? `Loom: Use Connection ${args.name}` : "Loom: Use Connection…"),
    caption: "Work with another of this server's Loom connections (sidebar, new tabs, new chats)",
    describedBy: { args: { type: "object", properties: { name: { type: "string", description: "a Loom connection's name" } } } },
    isEnabled: (args) => (args.name ? loomConnections().includes(args.name) : loomConnections().length > 1),
    execute: async (args) => {
      let name = args.name;
      if (!name) {
        const names = loomConnections();
        const answer = await InputDialog.getItem({ title: "Use Loom connection", label: "Connection",
          items: names, current: Math.max(0, names.indexOf(connections.current)) });
        if (!answer.button.accept || !answer.value) return;
        name = answer.value;
      }
      connections.select(name);
      shell.activateById(sidebar.id);
    },
  });
  if (palette) {
    for (const command of [COMMANDS.showPanel, COMMANDS.refresh, COMMANDS.newWeaver, COMMANDS.deleteSelected,
      COMMANDS.openChat, COMMANDS.signIn, COMMANDS.useConnection]) palette.addItem({ command, category: "Loom" });
  }

  if (statusBar) {
    statusBar.registerStatusItem("loom-jupyter:running", {
      item: new RunningCount(poll, () => shell.activateById(sidebar.id)),
      align: "left", rank: 50,
    });
  }
}

const plugin = {
  id: PLUGIN_ID,
  description: "The Loom panel: weavers, logs, terminals and chat without a kernel.",
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette, ILayoutRestorer, ISettingRegistry, IStatusBar, INotebookTracker],
  activate,
};

export default [plugin];
