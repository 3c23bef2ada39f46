"""The Loom panel (the prebuilt JupyterLab extension) in a real JupyterLab with no notebook open.

Everything is done from the panel itself: create a weaver from the sidebar form, watch it run,
open its logs and its terminal side by side, type into the terminal and read the shell's
answer, delete it (with the confirmation dialog), chat through Loom's LLM proxy (the local
server's offline responder), save the conversation as a thread and reopen it. The page must
log no console error. Screenshots of the panel in the light and dark themes are kept under
tests/browser/artifacts/ (git-ignored); the light one is also copied to docs/lab-panel.png.

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

from tests.fixtures.wait import wait_until

from ._harness import JupyterLab, Lab, page_errors

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
    """Console errors, except the 404 of `loom/connections` on a server without named
    connections (the panel then shows the default one; Chromium still logs the 404)."""
    optional = [f"[error] {m.text}" for m in lab.page_console if m.type == "error"
                and m.location.get("url", "").split("?")[0].endswith("/loom/connections")]
    errors = page_errors(lab)
    for line in optional:
        if line in errors:
            errors.remove(line)
    return errors


def _open_lab(lab: Lab, workspace: str) -> Any:
    """Lab with no notebook (a fresh workspace), the Loom sidebar shown; returns the sidebar."""
    seen: list[Any] = []
    lab.page_console = seen  # type: ignore[attr-defined]
    lab.page.on("console", lambda message: seen.append(message))
    lab.page.goto(lab.lab.url(f"lab/workspaces/{workspace}?reset"))
    lab.page.locator(".jp-LabShell").wait_for(timeout=30_000)
    tab = lab.page.locator(".jp-SideBar .lm-TabBar-tab[data-id='loom-sidebar']")
    tab.wait_for(timeout=30_000)
    sidebar = lab.page.locator("#loom-sidebar")
    if not sidebar.is_visible():
        tab.click()
    sidebar.wait_for(state="visible")
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
