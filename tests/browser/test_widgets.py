"""The widgets in a real JupyterLab: dashboard -> create -> logs -> terminal, typed into by the page.

The terminal is typed into while another cell keeps the kernel busy (`time.sleep`): its bytes
can then only travel browser <-> server extension WebSocket <-> Loom, never through the kernel.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ._harness import JupyterLab, Lab

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

BUSY = "import time\ntime.sleep(60)  # keeps the kernel busy while the page types"
TYPED = "echo hello-$((6*7))"  # the echoed keystrokes never contain the answer...
ANSWER = "hello-42"            # ...only the shell's output does
# What the form's command field gets: a first line for the logs, then a shell to type into.
LOG_COMMAND = "bash -c 'echo log-$((20+3)); exec bash --norc -i'"
LOG_ANSWER = "log-23"


@pytest.fixture
def weavers(jupyter_lab: JupyterLab) -> Iterator[list[str]]:
    """Ids of weavers a test made (or found in the table); all deleted at the end."""
    made: list[str] = []
    yield made
    for weaver_id in made:
        httpx.delete(jupyter_lab.url(f"loom/api/weaver/{weaver_id}"), timeout=10,
                     trust_env=False)


def _create_weaver(jupyter_lab: JupyterLab, command: list[str]) -> str:
    """POST through the extension's proxy with the Jupyter token, as the page would."""
    org_id = jupyter_lab.get("loom/api/orgs").json()["orgs"][0]["id"]
    resp = httpx.post(jupyter_lab.url("loom/api/weaver"), timeout=30, trust_env=False,
                      json={"image": "local", "org_id": org_id, "command": command,
                            "lifetime_hours": 1})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _type_while_busy(lab: Lab, terminal: Any, busy_cell: int, weaver_id: str) -> None:
    """Run the busy cell, then type into xterm.js and read the shell's answer it renders; the
    keystrokes must have left the page on the extension's attach WebSocket."""
    terminal.locator(".loom-terminal-status[data-status='connected']").wait_for()
    lab.run_cell(busy_cell)
    lab.wait_kernel("busy", 10)
    terminal.locator(".xterm").click()
    lab.page.keyboard.type(TYPED, delay=10)
    lab.page.keyboard.press("Enter")
    rows = terminal.locator(".xterm .xterm-rows")
    rows.filter(has_text=ANSWER).wait_for(timeout=15_000)
    assert lab.kernel_status() == "busy", "the kernel finished before the answer came back"
    assert lab.cell(busy_cell).locator(".jp-InputPrompt").inner_text().strip() == "[*]:"
    assert TYPED.encode() in lab.sent_on(f"/loom/api/weaver/{weaver_id}/attach"), lab.sent


def test_dashboard_creates_a_weaver_follows_its_logs_and_opens_its_terminal(
        lab: Lab, weavers: list[str]) -> None:
    path = lab.lab.write_notebook("dashboard.ipynb", [
        "from loom_jupyter.widgets import WeaverDashboard\ndash = WeaverDashboard(interval=0.5)\ndash",
        BUSY,
    ])
    lab.open_notebook(path)
    lab.run_cell(0)
    dashboard = lab.output(0)
    dashboard.locator("table.loom-weavers").wait_for()

    # create through the form
    dashboard.get_by_text("New weaver", exact=True).click()
    dashboard.locator("input[placeholder='python:3.12']").fill("python:3.12")
    dashboard.locator("input[placeholder='optional, e.g. sleep 600']").fill(LOG_COMMAND)
    dashboard.locator("button", has_text="Create weaver").click()
    row = dashboard.locator("table.loom-weavers tr[data-weaver-id]").first
    row.filter(has_text="running").wait_for(timeout=30_000)
    weavers.append(str(row.get_attribute("data-weaver-id")))
    assert "python:3.12" in row.inner_text()
    dashboard.get_by_text("is running.").wait_for()

    # its logs (picked in the "weaver" dropdown, which lists the rows on show)
    picker = dashboard.locator(".widget-dropdown:has(label:text-is('weaver')) select")
    picker.select_option(index=0)
    dashboard.locator("button", has_text="Logs").click()
    dashboard.locator("pre", has_text=LOG_ANSWER).wait_for()
    dashboard.get_by_text(f"Logs of {weavers[0]}").wait_for()

    # its terminal, typed into while the kernel is busy
    dashboard.locator("button", has_text="Terminal").click()
    terminal = dashboard.locator(".loom-terminal")
    terminal.wait_for()
    _type_while_busy(lab, terminal, busy_cell=1, weaver_id=weavers[0])
    assert lab.errors == [], lab.report()


def test_loom_attach_magic_terminal_types_while_the_kernel_is_busy(
        lab: Lab, jupyter_lab: JupyterLab, weavers: list[str]) -> None:
    weavers.append(_create_weaver(jupyter_lab, ["bash", "--norc", "-i"]))
    path = jupyter_lab.write_notebook("attach.ipynb", [
        f"%load_ext loom_jupyter\n%loom attach {weavers[0]}",
        BUSY,
    ])
    lab.open_notebook(path)
    lab.run_cell(0)
    terminal = lab.output(0).locator(".loom-terminal")
    terminal.wait_for()
    assert weavers[0] in terminal.locator(".loom-terminal-title").inner_text()
    _type_while_busy(lab, terminal, busy_cell=1, weaver_id=weavers[0])
    assert lab.errors == [], lab.report()
