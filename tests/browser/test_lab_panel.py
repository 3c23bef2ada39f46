"""The Loom panel (the prebuilt JupyterLab extension) in a real JupyterLab with no notebook open.

Everything is done from the panel itself: create a weaver from the sidebar form, watch it run,
open its logs and its terminal side by side, type into the terminal and read the shell's
answer, delete it (with the confirmation dialog), chat through Loom's LLM proxy (the local
server's offline responder), save the conversation as a thread and reopen it, insert it into
an open notebook as a Markdown cell (checked in the saved file), reload the page and find the
log and terminal tabs back and live, follow a log of 100,000 lines (all arrive, search and
scrolling work, no main-thread task over a second: the Long Tasks API). The page must log no
console error. Screenshots of the panel in the light and dark themes are kept under
tests/browser/artifacts/ (git-ignored); the light one is also copied to docs/lab-panel.png.

A second Lab (one for the module) has no credential for its `default` connection (the shared
local Loom) and two named connections: `staging` (a second local Loom, its key in a file) and
`assets` (loom-v1, nobody signed in). On it: the device sign-in from the panel (the code and
link shown, approved by a person's key as Loom's /device page does, the weaver list loaded,
then sign-out), and switching the sidebar, the tabs and the chat to `staging`.

The wheel test builds the package from this checkout (slow: about a minute) and checks that it
carries the labextension and that `jupyter labextension list` shows it enabled once installed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loom_jupyter.client.models.providers import PROVIDERS, default_model
from tests.fixtures.wait import wait_until

from tests.fixtures.loom_server import LocalLoom, running_local_loom

from ._harness import JupyterLab, Lab, page_errors
from .conftest import page_on

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).parent / "artifacts"
DOCS_SCREENSHOT = ROOT / "docs" / "lab-panel.png"
LABEXT = "loom-jupyter"
TYPED = "echo panel-$((6*7))"  # the echoed keystrokes never contain the answer...
ANSWER = "panel-42"            # ...only the shell's output does
LOG_COMMAND = "bash -c 'echo log-$((20+3)); exec bash --norc -i'"
LOG_ANSWER = "log-23"
QUESTION = "hello from the Loom panel"


@pytest.fixture
def weavers(jupyter_lab: JupyterLab) -> Iterator[list[str]]:
    """Ids of weavers a test made; any still there at the end are deleted."""
    made: list[str] = []
    yield made
    for weaver_id in made:
        httpx.delete(jupyter_lab.url(f"loom/api/weaver/{weaver_id}"), timeout=10, trust_env=False)


def _set_theme(jupyter_lab: JupyterLab, theme: str) -> None:
    """Lab's theme setting, through its settings API (token auth: no XSRF needed)."""
    resp = httpx.put(jupyter_lab.url("lab/api/settings/@jupyterlab/apputils-extension:themes"),
                     json={"raw": json.dumps({"theme": theme})}, timeout=10, trust_env=False)
    assert resp.status_code == 204, resp.text


def _errors(lab: Lab) -> list[str]:
    """Console errors and uncaught exceptions of the page (none is expected)."""
    return page_errors(lab)


def _open_lab(lab: Lab, workspace: str, reset: bool = True) -> Any:
    """Lab with no notebook (a fresh workspace unless not `reset`), the Loom sidebar shown;
    returns the sidebar."""
    lab.page.goto(lab.lab.url(f"lab/workspaces/{workspace}" + ("?reset" if reset else "")))
    lab.page.locator(".jp-LabShell").wait_for(timeout=30_000)
    tab = lab.page.locator(".jp-SideBar .lm-TabBar-tab[data-id='loom-sidebar']")
    tab.wait_for(timeout=30_000)
    # the layout is restored once the splash screen goes: only then may the tab be toggled
    lab.page.wait_for_function("() => !document.querySelector('#jupyterlab-splash')",
                               timeout=30_000)
    sidebar = lab.page.locator("#loom-sidebar")
    if not sidebar.is_visible():
        tab.click()
    sidebar.wait_for(state="visible")
    if reset:
        assert lab.page.locator(".jp-NotebookPanel").count() == 0
    return sidebar


def _screenshot(lab: Lab, sidebar: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    lab.page.screenshot(path=str(path))
    sidebar.screenshot(path=str(ARTIFACTS / f"sidebar-{name}"))
    return path


def _row(sidebar: Any, weaver_id: str) -> Any:
    return sidebar.locator(f"tr[data-weaver-id='{weaver_id}']")


def test_the_panel_creates_watches_attaches_and_deletes_a_weaver(
        lab: Lab, weavers: list[str]) -> None:
    sidebar = _open_lab(lab, "loom-panel-weavers")
    sidebar.locator(".loom-Connection").first.wait_for()
    assert "signed in" in sidebar.locator(".loom-Account").inner_text()

    # create from the form: a bad tag is refused before anything is sent
    before = {w["id"] for w in lab.lab.get("loom/api/weavers").json()["weavers"]}
    sidebar.get_by_role("button", name="Show the form to create a weaver").click()
    form = sidebar.locator("form.loom-CreateForm")
    form.get_by_label("Image").fill("python:3.12")
    form.get_by_label("Tags").fill("team ds")
    form.get_by_role("button", name="Create weaver").click()
    message = sidebar.locator(".loom-Message")
    message.filter(has_text="Invalid tags: tag 'team ds' must look like KEY:VALUE").wait_for()
    form.get_by_label("Tags").fill("suite:lab-panel")
    form.get_by_label("Command").fill(LOG_COMMAND)
    form.get_by_role("button", name="Create weaver").click()
    message.filter(has_text="Created weaver").wait_for(timeout=30_000)
    made = [w for w in lab.lab.get("loom/api/weavers").json()["weavers"] if w["id"] not in before]
    assert len(made) == 1, made
    weaver_id = made[0]["id"]
    weavers.append(weaver_id)
    assert made[0]["tags"] == {"suite": "lab-panel"} and made[0]["lifetime_hours"] == 4

    # watch it run (the shared poll), then filter by status and tag
    row = _row(sidebar, weaver_id)
    row.locator(".loom-Cell-status", has_text="running").wait_for(timeout=30_000)
    assert "python:3.12" in row.inner_text() and "suite:lab-panel" in row.inner_text()
    sidebar.get_by_label("Filter weavers by status").select_option("failed")
    row.wait_for(state="detached")
    sidebar.get_by_label("Filter weavers by status").select_option("running")
    sidebar.get_by_label("Filter weavers by tags (key:value, comma separated)").fill("suite:lab-panel")
    row.wait_for()
    status_item = lab.page.locator(".loom-StatusItem")
    status_item.filter(has_text=re.compile(r"Loom: [1-9]\d* running")).wait_for()

    # logs and terminal side by side
    row.get_by_role("button", name=f"Logs of weaver {weaver_id}").click()
    logs = lab.page.locator(f"#loom-logs-{weaver_id}")
    logs.locator(".loom-LogLine", has_text=LOG_ANSWER).wait_for(timeout=15_000)
    row.get_by_role("button", name=f"Terminal of weaver {weaver_id}").click()
    terminal = lab.page.locator(f"#loom-terminal-{weaver_id}")
    terminal.locator(".loom-terminal-status[data-status='connected']").wait_for(timeout=15_000)
    logs_box, terminal_box = logs.bounding_box(), terminal.bounding_box()
    assert logs.is_visible() and terminal.is_visible()
    assert logs_box and terminal_box and terminal_box["x"] >= logs_box["x"] + logs_box["width"] - 2, \
        (logs_box, terminal_box)

    # type into the terminal, read the shell's answer; the keystrokes left on the attach socket
    terminal.locator(".xterm").click()
    lab.page.keyboard.type(TYPED, delay=10)
    lab.page.keyboard.press("Enter")
    terminal.locator(".xterm .xterm-rows").filter(has_text=ANSWER).wait_for(timeout=15_000)
    assert TYPED.encode() in lab.sent_on(f"/loom/api/weaver/{weaver_id}/attach"), lab.sent
    # the log tab follows the same output live
    logs.locator(".loom-LogLine", has_text=ANSWER).wait_for(timeout=15_000)
    logs.get_by_label(f"Search the logs of weaver {weaver_id}").fill(LOG_ANSWER)
    logs.locator(".loom-LogMatches", has_text="1 of").wait_for()

    sidebar.get_by_role("button", name="Show the form to create a weaver").click()  # hide it
    form.wait_for(state="hidden")
    shot = _screenshot(lab, sidebar, "lab-panel-light.png")
    DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, DOCS_SCREENSHOT)

    # delete it: select, confirm in the dialog
    row.get_by_role("checkbox").check()
    sidebar.get_by_role("button", name="Delete the selected weavers").click()
    dialog = lab.page.locator(".jp-Dialog")
    dialog.filter(has_text="Delete 1 weaver?").wait_for()
    dialog.locator("button.jp-mod-accept").click()
    message.filter(has_text="Deleted 1 weaver.").wait_for(timeout=15_000)

    def gone() -> bool:
        resp = lab.lab.get(f"loom/api/weaver/{weaver_id}")
        return resp.status_code == 404 or resp.json().get("status") == "terminating"

    wait_until(gone, 15, f"weaver {weaver_id} to be deleted")
    row.wait_for(state="detached", timeout=15_000)
    weavers.remove(weaver_id)
    assert _errors(lab) == [], lab.report()


def test_the_chat_panel_streams_saves_and_reopens_a_thread(lab: Lab) -> None:
    _open_lab(lab, "loom-panel-chat")
    lab.page.locator(".jp-SideBar .lm-TabBar-tab[data-id='loom-chat']").click()
    chat = lab.page.locator("#loom-chat")
    chat.wait_for(state="visible")
    chat.get_by_label("Message to Loom").fill(QUESTION)
    chat.get_by_label("Message to Loom").press("Enter")
    answer = chat.locator(".loom-ChatTurn-assistant .loom-ChatText")
    answer.filter(has_text=f'You said (5 words): "{QUESTION}"').wait_for(timeout=20_000)
    assert answer.inner_text().startswith("[offline]")
    chat.locator(".loom-ChatTurn-assistant[data-streaming]").wait_for(state="detached")

    chat.get_by_role("button", name="Save the conversation as a Loom thread").click()
    status = chat.locator(".loom-ChatStatus")
    status.filter(has_text="Saved as thread").wait_for(timeout=10_000)
    thread_id = re.search(r"thread (T-[0-9a-f-]+)", status.inner_text()).group(1)  # type: ignore[union-attr]
    stored = lab.lab.get(f"loom/api/threads/{thread_id}").json()
    messages = stored["conversation"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"], messages
    assert messages[0]["content"] == QUESTION and "[offline]" in messages[1]["content"]
    assert stored["metadata"]["title"] == QUESTION

    # a new conversation, then the saved one reopened from the thread list
    chat.get_by_role("button", name="Start a new conversation").click()
    assert chat.locator(".loom-ChatTurn").count() == 0
    threads = chat.get_by_label("Saved threads")
    threads.focus()
    chat.locator(f".loom-ThreadList option[value='{thread_id}']").wait_for(state="attached")
    threads.select_option(thread_id)
    chat.locator(".loom-ChatTurn-user", has_text=QUESTION).wait_for()
    assert chat.locator(".loom-ChatTurn").count() == 2
    status.filter(has_text=f"Opened thread {thread_id}").wait_for()

    # the Python side's providers, and a default model that follows the provider until typed over
    provider, model = chat.get_by_label("LLM provider"), chat.get_by_label("Model")
    offered = provider.locator("option").evaluate_all("(options) => options.map((o) => o.value)")
    assert tuple(offered) == PROVIDERS
    assert model.input_value() == default_model("anthropic")
    for name in ("openai", "vertex", "anthropic"):
        provider.select_option(name)
        assert model.input_value() == default_model(name), name
    model.fill("my-model")
    provider.select_option("openai")
    assert model.input_value() == "my-model"
    assert _errors(lab) == [], lab.report()


def test_the_panel_in_the_dark_theme(lab: Lab, jupyter_lab: JupyterLab) -> None:
    _set_theme(jupyter_lab, "JupyterLab Dark")
    try:
        sidebar = _open_lab(lab, "loom-panel-dark")
        lab.page.locator("body[data-jp-theme-light='false']").wait_for(state="attached", timeout=20_000)
        sidebar.locator(".loom-Connection").first.wait_for()
        background = sidebar.evaluate("el => getComputedStyle(el).backgroundColor")
        channels = [int(c) for c in re.findall(r"\d+", background)[:3]]
        assert sum(channels) < 3 * 128, f"the sidebar is not dark: {background}"
        _screenshot(lab, sidebar, "lab-panel-dark.png")
        assert _errors(lab) == [], lab.report()
    finally:
        _set_theme(jupyter_lab, "JupyterLab Light")


def _create_weaver(jupyter: JupyterLab, command: list[str], made: list[str]) -> str:
    """A weaver made through the Jupyter server's proxy (quicker than the form); its id."""
    org = jupyter.get("loom/api/orgs").json()["orgs"][0]["id"]
    resp = httpx.post(jupyter.url("loom/api/weaver"), timeout=30, trust_env=False, json={
        "image": "python:3.12", "org_id": org, "lifetime_hours": 1, "command": command,
        "tags": {"suite": "lab-panel"}})
    assert resp.status_code in (200, 201), resp.text
    made.append(resp.json()["id"])
    return str(resp.json()["id"])


def _chat(lab: Lab, question: str) -> Any:
    """The chat panel, after asking `question` and reading the whole answer."""
    lab.page.locator(".jp-SideBar .lm-TabBar-tab[data-id='loom-chat']").click()
    chat = lab.page.locator("#loom-chat")
    chat.wait_for(state="visible")
    chat.get_by_label("Message to Loom").fill(question)
    chat.get_by_label("Message to Loom").press("Enter")
    chat.locator(".loom-ChatTurn-assistant .loom-ChatText").filter(
        has_text=f'"{question}"').wait_for(timeout=20_000)
    chat.locator(".loom-ChatTurn-assistant[data-streaming]").wait_for(state="detached")
    return chat


def test_the_chat_goes_into_the_active_notebook_as_a_markdown_cell(
        lab: Lab, jupyter_lab: JupyterLab) -> None:
    path = jupyter_lab.write_notebook("panel-insert.ipynb", ["x = 1"])
    lab.open_notebook(path)
    chat = _chat(lab, "insert me please")
    answer = chat.locator(".loom-ChatTurn-assistant .loom-ChatText").inner_text()
    chat.get_by_role("button", name="Insert the conversation into the active notebook as a "
                     "Markdown cell").click()
    chat.locator(".loom-ChatStatus", has_text="Inserted into the notebook as a Markdown cell.") \
        .wait_for()
    cell = lab.notebook.locator(".jp-MarkdownCell")
    cell.locator(".jp-RenderedMarkdown strong", has_text="You:").wait_for()  # rendered
    assert lab.notebook.locator(".jp-Cell").count() == 2
    assert "insert me please" in cell.inner_text()

    lab.cell(0).locator(".jp-InputPrompt").click()
    lab.page.keyboard.press("Control+s")

    def saved() -> list[dict[str, Any]]:
        return list(jupyter_lab.get(f"api/contents/{path}?content=1").json()["content"]["cells"])

    cells = wait_until(saved, 15, "the notebook to be saved with the new cell",
                       until=lambda cells: len(cells) == 2)
    assert cells[1]["cell_type"] == "markdown", cells
    source = cells[1]["source"]
    source = "".join(source) if isinstance(source, list) else source
    assert source == ("**You:** insert me please\n\n**Loom (anthropic/claude-sonnet-4-20250514):** "
                      f"{answer}"), source
    assert _errors(lab) == [], lab.report()


def test_log_and_terminal_tabs_come_back_after_a_reload(lab: Lab, weavers: list[str]) -> None:
    weaver_id = _create_weaver(lab.lab, ["bash", "-c", "echo restore-$((30+3)); exec bash --norc -i"],
                               weavers)
    workspace = "loom-panel-restore"
    sidebar = _open_lab(lab, workspace)
    row = _row(sidebar, weaver_id)
    row.locator(".loom-Cell-status", has_text="running").wait_for(timeout=30_000)
    row.get_by_role("button", name=f"Logs of weaver {weaver_id}").click()
    row.get_by_role("button", name=f"Terminal of weaver {weaver_id}").click()
    logs = lab.page.locator(f"#loom-logs-{weaver_id}")
    terminal = lab.page.locator(f"#loom-terminal-{weaver_id}")
    logs.locator(".loom-LogLine", has_text="restore-33").wait_for(timeout=15_000)
    terminal.locator(".loom-terminal-status[data-status='connected']").wait_for(timeout=15_000)

    def layout() -> str:  # what Lab saved of the workspace (it saves a moment after a change)
        return lab.lab.get(f"lab/api/workspaces/{workspace}").text

    wait_until(layout, 15, "Lab to save the tabs in the workspace",
               until=lambda text: f"loom-logs:loom-logs-{weaver_id}" in text
               and f"loom-terminal:loom-terminal-{weaver_id}" in text)
    _open_lab(lab, workspace, reset=False)  # the page loads again, the workspace as saved
    logs.locator(".loom-LogLine", has_text="restore-33").wait_for(timeout=20_000)
    terminal.locator(".loom-terminal-status[data-status='connected']").wait_for(timeout=20_000)
    assert logs.is_visible() and terminal.is_visible()
    terminal.locator(".xterm").click()
    lab.page.keyboard.type("echo again-$((6*6))", delay=10)
    lab.page.keyboard.press("Enter")
    terminal.locator(".xterm .xterm-rows").filter(has_text="again-36").wait_for(timeout=15_000)
    logs.locator(".loom-LogLine", has_text="again-36").wait_for(timeout=15_000)  # live
    assert _errors(lab) == [], lab.report()


BIG_LOG = 100_000
# Every main-thread task over 50 ms (the Long Tasks API) and the longest gap between frames.
_WATCH_MAIN_THREAD = """() => {
  const watch = { longest: 0, longTasks: 0, maxFrameGap: 0,
                  supported: PerformanceObserver.supportedEntryTypes.includes("longtask") };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      watch.longTasks++;
      watch.longest = Math.max(watch.longest, entry.duration);
    }
  }).observe({ type: "longtask" });
  let last = performance.now();
  const tick = (now) => {
    watch.maxFrameGap = Math.max(watch.maxFrameGap, now - last);
    last = now;
    if (!watch.stopped) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  window.loomWatch = watch;
}"""


def test_a_log_of_100k_lines_arrives_whole_without_freezing_the_page(
        lab: Lab, weavers: list[str]) -> None:
    # the lines come a few seconds after the start: usually while the tab is open and following
    weaver_id = _create_weaver(lab.lab, ["bash", "-c", f"sleep 4; seq -f 'line %06g' 1 {BIG_LOG}; "
                                         "exec sleep 600"], weavers)
    sidebar = _open_lab(lab, "loom-panel-big-log")
    row = _row(sidebar, weaver_id)
    row.locator(".loom-Cell-status", has_text="running").wait_for(timeout=30_000)
    lab.page.evaluate(_WATCH_MAIN_THREAD)
    row.get_by_role("button", name=f"Logs of weaver {weaver_id}").click()
    logs = lab.page.locator(f"#loom-logs-{weaver_id}")
    count = logs.locator(".loom-LogMatches")
    count.filter(has_text=f"{BIG_LOG} lines").wait_for(timeout=60_000)
    watch = lab.page.evaluate("() => { window.loomWatch.stopped = true; return window.loomWatch; }")
    assert watch["supported"], "this Chromium has no Long Tasks API: the test would prove nothing"
    # a generous bound: it catches a frozen page, it is not a speed benchmark
    assert watch["longest"] < 1000, watch
    assert watch["maxFrameGap"] < 2000, watch

    # following: the last line is on screen; the top of the log is the first line
    viewport = logs.locator(".loom-LogViewport")
    logs.locator(".loom-LogLine", has_text=f"line {BIG_LOG:06d}").wait_for()
    viewport.evaluate("el => { el.scrollTop = 0; }")
    logs.locator(".loom-LogLine", has_text="line 000001").wait_for()
    assert logs.locator(".loom-LogLine").count() < 200  # only the rows on screen are drawn
    viewport.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    logs.locator(".loom-LogLine", has_text=f"line {BIG_LOG:06d}").wait_for()

    search = logs.get_by_label(f"Search the logs of weaver {weaver_id}")
    search.fill("line 0999")
    count.filter(has_text=f"100 of {BIG_LOG} lines match").wait_for()
    search.fill("line 050000")
    count.filter(has_text=f"1 of {BIG_LOG} lines match").wait_for()
    logs.locator(".loom-LogLine", has_text="line 050000").wait_for()
    assert _errors(lab) == [], lab.report()


# -- no credential, named connections: a second Lab for this module ----------------------------
@pytest.fixture(scope="module")
def staging_loom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLoom]:
    """A second local Loom server: the `staging` connection."""
    with running_local_loom(tmp_path_factory.mktemp("loom-staging") / "data") as server:
        yield server


@pytest.fixture(scope="module")
def staging_key(staging_loom: LocalLoom) -> str:
    return staging_loom.make_key("user", name="panel-staging")


@pytest.fixture(scope="module")
def keyless_jupyter(loom_server: LocalLoom, staging_loom: LocalLoom, staging_key: str,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """Lab whose `default` connection (the shared Loom) has no credential, with `staging` (a
    second Loom, its key in a file) and `assets` (a loom-v1 server, nobody signed in)."""
    home = tmp_path_factory.mktemp("jupyterlab-keyless")
    key_file = home / "staging.key"
    key_file.write_text(staging_key + "\n")
    key_file.chmod(0o600)
    lab = JupyterLab(home, loom_server.url, "", server_config={"LoomJupyter": {"connections": {
        "staging": {"kind": "loom", "url": staging_loom.url, "api_key_file": str(key_file)},
        "assets": {"kind": "loom-v1", "url": "http://127.0.0.1:9", "username": "alice"},
    }}})
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def keyless(request: pytest.FixtureRequest, keyless_jupyter: JupyterLab, browser_context: Any,
            loom_server: LocalLoom) -> Iterator[Lab]:
    """A fresh page on the keyless Lab (artifacts kept on failure, as for `lab`)."""
    with page_on(request, keyless_jupyter, browser_context, loom_server) as wrapped:
        yield wrapped


def _use(sidebar: Any, name: str) -> None:
    """Make `name` the panel's connection (the choice is remembered by the browser)."""
    row = sidebar.locator(f".loom-Connection[data-connection='{name}']")
    row.wait_for()
    if row.get_attribute("data-current") != "true":
        row.get_by_role("button", name=f"Use connection {name}").click()
    sidebar.locator(f".loom-Connection[data-connection='{name}'][data-current='true']").wait_for()


def _use_from_palette(lab: Lab, sidebar: Any, name: str) -> None:
    """"Loom: Use Connection…" from the command palette, `name` chosen in its dialog."""
    lab.page.keyboard.press("Control+Shift+C")
    search = lab.page.locator(".lm-CommandPalette-input")
    search.wait_for(state="visible")
    search.fill("Loom: Use Connection")
    lab.page.locator(".lm-CommandPalette-item:not(.lm-mod-disabled)",
                     has_text="Loom: Use Connection").first.click()
    dialog = lab.page.locator(".jp-Dialog")
    dialog.locator("select").select_option(name)
    dialog.locator("button.jp-mod-accept").click()
    dialog.wait_for(state="detached")
    sidebar.locator(f".loom-Connection[data-connection='{name}'][data-current='true']").wait_for()


def test_signing_in_from_the_panel(keyless: Lab, loom_server: LocalLoom) -> None:
    sidebar = _open_lab(keyless, "loom-panel-signin")
    _use(sidebar, "default")
    default = sidebar.locator(".loom-Connection[data-connection='default']")
    assert default.get_attribute("data-signed-in") == "false"
    summary = sidebar.locator(".loom-Summary")
    summary.filter(has_text="Sign in to connection default to see its weavers.").wait_for()
    status_item = keyless.page.locator(".loom-StatusItem")
    status_item.filter(has_text="Loom: signed out").wait_for()
    sidebar.get_by_role("button", name="Sign in to Loom").click()

    pending = sidebar.locator(".loom-SignIn[data-state='pending']")
    pending.wait_for(timeout=15_000)
    code = pending.get_by_label("Sign-in code").inner_text().strip()
    link = pending.get_by_role("link")
    assert link.get_attribute("href") == f"{loom_server.url}/device", link.get_attribute("href")
    assert code and code in pending.inner_text()

    # a person approves the code with their own Loom login, as Loom's /device page does
    person = loom_server.make_user("user", name="panel-person")
    weaver = httpx.post(f"{loom_server.url}/api/weaver", headers=loom_server.headers(person["key"]),
                        json={"image": "python:3.12", "org_id": loom_server.org_id,
                              "lifetime_hours": 1, "command": ["sleep", "600"]}, timeout=30).json()
    try:
        approved = httpx.post(f"{loom_server.url}/api/auth/device/complete",
                              json={"user_code": code}, headers=loom_server.headers(person["key"]),
                              timeout=10)
        assert approved.status_code == 200, approved.text
        sidebar.locator(".loom-SignIn[data-state='signed_in']").wait_for(timeout=20_000)
        assert "panel-person" in default.inner_text(), default.inner_text()
        assert default.get_attribute("data-signed-in") == "true"
        _row(sidebar, weaver["id"]).wait_for(timeout=15_000)  # that person's weavers
        summary.filter(has_text=re.compile(r"default: \d+ running, 1 in all")).wait_for()
        status_item.filter(has_text=re.compile(r"Loom: \d+ running")).wait_for()

        sidebar.get_by_role("button", name="Sign out of Loom").click()
        sidebar.locator(".loom-SignIn[data-state='signed_out']").wait_for(timeout=15_000)
        _row(sidebar, weaver["id"]).wait_for(state="detached")
        summary.filter(has_text="Sign in to connection default").wait_for()
        assert default.get_attribute("data-signed-in") == "false"
        assert _errors(keyless) == [], keyless.report()
    finally:
        httpx.delete(f"{loom_server.url}/api/weaver/{weaver['id']}",
                     headers=loom_server.headers(person["key"]), timeout=10)


def test_the_panel_works_on_every_loom_connection(keyless: Lab, staging_loom: LocalLoom,
                                                 staging_key: str) -> None:
    requested: list[str] = []
    keyless.page.on("request", lambda request: requested.append(request.url.split("?")[0]))
    staging = staging_loom.headers(staging_key)
    sidebar = _open_lab(keyless, "loom-panel-connections")
    _use(sidebar, "default")
    rows = sidebar.locator(".loom-Connection")
    sidebar.locator(".loom-Connection[data-connection='assets']").wait_for()
    assert [rows.nth(i).get_attribute("data-connection") for i in range(rows.count())] == \
        ["default", "staging", "assets"]
    assets = sidebar.locator(".loom-Connection[data-connection='assets']")
    assert assets.get_attribute("data-kind") == "loom-v1" and "signed out" in assets.inner_text()
    assert assets.get_by_role("button").count() == 0  # other kinds: listed only
    staging_row = sidebar.locator(".loom-Connection[data-connection='staging']")
    assert staging_row.get_attribute("data-signed-in") == "true"

    made: list[str] = []
    try:
        _use(sidebar, "staging")
        summary = sidebar.locator(".loom-Summary")
        summary.filter(has_text=re.compile(r"staging: \d+ running, 0 in all")).wait_for()
        # create on staging from the form: it lands on the staging server
        sidebar.get_by_role("button", name="Show the form to create a weaver").click()
        form = sidebar.locator("form.loom-CreateForm")
        form.get_by_label("Organization").locator("option").first.wait_for(state="attached")
        form.get_by_label("Command").fill("bash -c 'echo staged-$((2*3)); exec bash --norc -i'")
        form.get_by_role("button", name="Create weaver").click()
        sidebar.locator(".loom-Message").filter(has_text="Created weaver").wait_for(timeout=30_000)
        on_staging = httpx.get(f"{staging_loom.url}/api/weavers", headers=staging, timeout=10)
        made = [w["id"] for w in on_staging.json()["weavers"]]
        assert len(made) == 1, on_staging.text
        weaver_id = made[0]
        row = _row(sidebar, weaver_id)
        row.locator(".loom-Cell-status", has_text="running").wait_for(timeout=30_000)
        _screenshot(keyless, sidebar, "lab-panel-connections.png")

        # its logs and terminal go through the staging prefix
        row.get_by_role("button", name=f"Logs of weaver {weaver_id}").click()
        logs = keyless.page.locator(f"#loom-logs-staging-{weaver_id}")
        logs.locator(".loom-LogLine", has_text="staged-6").wait_for(timeout=15_000)
        row.get_by_role("button", name=f"Terminal of weaver {weaver_id}").click()
        terminal = keyless.page.locator(f"#loom-terminal-staging-{weaver_id}")
        terminal.locator(".loom-terminal-status[data-status='connected']").wait_for(timeout=15_000)
        terminal.locator(".xterm").click()
        keyless.page.keyboard.type("echo on-staging-$((7*7))", delay=10)
        keyless.page.keyboard.press("Enter")
        terminal.locator(".xterm .xterm-rows").filter(has_text="on-staging-49").wait_for(
            timeout=15_000)
        assert keyless.sent_on(f"/loom/connections/staging/api/weaver/{weaver_id}/attach")
        prefix = f"{keyless.lab.origin}/loom/connections/staging/"
        assert f"{prefix}api/weaver/{weaver_id}/logs" in requested, requested
        assert f"{prefix}api/weavers" in requested and f"{prefix}api/weaver" in requested

        # a chat on staging is saved as a staging thread
        chat = _chat(keyless, "hello staging")
        chat.locator(".loom-ChatConnection", has_text="On connection staging.").wait_for()
        chat.get_by_role("button", name="Save the conversation as a Loom thread").click()
        status = chat.locator(".loom-ChatStatus")
        status.filter(has_text="Saved as thread").wait_for(timeout=10_000)
        thread_id = re.search(r"thread (T-[0-9a-f-]+)", status.inner_text()).group(1)  # type: ignore[union-attr]
        stored = httpx.get(f"{staging_loom.url}/api/threads/{thread_id}", headers=staging,
                           timeout=10)
        assert stored.status_code == 200 and stored.json()["metadata"]["title"] == "hello staging"

        # delete it from the sidebar
        row.get_by_role("checkbox").check()
        sidebar.get_by_role("button", name="Delete the selected weavers").click()
        keyless.page.locator(".jp-Dialog button.jp-mod-accept").click()
        sidebar.locator(".loom-Message").filter(has_text="Deleted 1 weaver.").wait_for(
            timeout=15_000)
        row.wait_for(state="detached", timeout=15_000)

        # back on default from the command palette: nobody signed in there, the list says so
        _use_from_palette(keyless, sidebar, "default")
        summary.filter(has_text="Sign in to connection default").wait_for()
        assert _errors(keyless) == [], keyless.report()
    finally:
        for weaver_id in made:
            httpx.delete(f"{staging_loom.url}/api/weaver/{weaver_id}", headers=staging, timeout=10)


# -- the wheel ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, built once (an isolated build, as pip does for users)."""
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                           "--disable-pip-version-check", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("loom_jupyter-*.whl")
    return wheel


@pytest.mark.timeout(900)
def test_the_wheel_ships_the_labextension_enabled(built_wheel: Path,
                                                  tmp_path: Path) -> None:
    data = f"share/jupyter/labextensions/{LABEXT}/"
    with zipfile.ZipFile(built_wheel) as wheel:
        names = [n.split(".data/data/", 1)[1] for n in wheel.namelist() if ".data/data/" in n]
        package = json.loads(wheel.read(next(n for n in wheel.namelist()
                                             if n.endswith(f".data/data/{data}package.json"))))
    assert f"{data}package.json" in names
    assert any(re.fullmatch(rf"{data}static/remoteEntry\.[0-9a-f]+\.js", n) for n in names), names
    assert f"{data}schemas/{LABEXT}/panel.json" in names
    assert package["name"] == LABEXT and package["jupyterlab"]["_build"]["load"].startswith("static/")

    # installed into a venv of its own (never this one: pip would first uninstall ours), files
    # only; this environment's Lab, told to look there, finds it enabled
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    target = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(target), "install", "--no-deps",
                    "--quiet", "--disable-pip-version-check", str(built_wheel)],
                   check=True, timeout=120)
    prefix = venv
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(JUPYTER_PATH=str(prefix / "share" / "jupyter"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"), JUPYTER_PLATFORM_DIRS="1")
    listed = subprocess.run([sys.executable, "-m", "jupyterlab.labextensions", "list"],
                            capture_output=True, text=True, env=env, timeout=60)
    text = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    section = text.split(str(prefix / "share" / "jupyter" / "labextensions"), 1)
    assert len(section) == 2, text
    ours = next((line for line in section[1].splitlines() if line.strip().startswith(LABEXT)), "")
    assert "enabled" in ours and "OK" in ours, text
