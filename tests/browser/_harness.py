"""A real JupyterLab subprocess and headless Chromium driving it (Playwright, sync API).

`JupyterLab.start()` runs `python -m jupyterlab` with every piece of Jupyter state isolated
under one temporary directory; `stop()` shuts its kernels down, stops it (SIGTERM, then
SIGKILL) and kills any kernel still alive whose command line names that directory. `Lab`
wraps a Playwright page open on JupyterLab with the few notebook gestures the tests need.
Every wait is bounded.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.fixtures.loom_server import stop_group
from tests.fixtures.wait import wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TOKEN = "loom-jupyter-browser-tests"
START_TIMEOUT = 45.0
# Variables of the caller that would leak into (or redirect) the Lab under test.
_SCRUBBED_PREFIXES = ("JUPYTER", "LOOM_", "IPYTHON")
_NEWS_SETTINGS = {"fetchNews": "false", "checkForUpdates": False}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class JupyterLab:
    """`jupyter lab` on a free loopback port, pointed at a Loom through LOOM_URL/LOOM_API_KEY
    (no LOOM_API_KEY when `loom_key` is empty: the Loom connection then has no credential);
    `server_config` is written as its jupyter_server_config.json (e.g. named connections)."""

    home: Path
    loom_url: str
    loom_key: str = field(repr=False)
    server_config: dict[str, Any] = field(default_factory=dict, repr=False)
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def root_dir(self) -> Path:
        return self.home / "notebooks"

    @property
    def log_path(self) -> Path:
        return self.home / "jupyterlab.log"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.origin}/{path.lstrip('/')}{sep}token={TOKEN}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
        env.update(
            JUPYTER_CONFIG_DIR=str(self.home / "config"),
            JUPYTER_DATA_DIR=str(self.home / "data"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            IPYTHONDIR=str(self.home / "ipython"),
            JUPYTER_PLATFORM_DIRS="1",
            LOOM_URL=self.loom_url,
            PYTHONUNBUFFERED="1",
        )
        if self.loom_key:
            env["LOOM_API_KEY"] = self.loom_key
        return env

    def _write_settings(self) -> None:
        settings = (self.home / "config" / "lab" / "user-settings" / "@jupyterlab"
                    / "apputils-extension" / "notification.jupyterlab-settings")
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(_NEWS_SETTINGS))
        if self.server_config:
            (self.home / "config" / "jupyter_server_config.json").write_text(
                json.dumps(self.server_config))
        for name in ("data", "runtime", "ipython"):
            (self.home / name).mkdir(exist_ok=True)
        self.root_dir.mkdir(exist_ok=True)

    def start(self) -> JupyterLab:
        self._write_settings()
        self.port = free_port()
        cmd = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.news_url=", "--LabApp.extension_manager=readonly",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env(),
                                            cwd=self.home, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        try:
            wait_until(self._status, START_TIMEOUT, "jupyter lab to answer /api/status",
                       until=lambda status: status == 200, interval=0.2,
                       ignoring=(httpx.HTTPError,))
        except AssertionError as exc:
            raise RuntimeError(f"{exc}:\n{self.log_text()[-4000:]}") from None

    def _status(self) -> int:
        """The status of /api/status; a Lab that exited ends the wait at once."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n"
                               f"{self.log_text()[-4000:]}")
        return httpx.get(self.url("api/status"), timeout=2, trust_env=False).status_code

    def get(self, path: str, timeout: float = 10.0) -> httpx.Response:
        return httpx.get(self.url(path), timeout=timeout, trust_env=False)

    def write_notebook(self, name: str, cells: Sequence[str]) -> str:
        """A notebook of code cells (no outputs) in the root dir; returns its Lab path."""
        notebook = {
            "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell-{i}",
                       "metadata": {}, "outputs": [], "source": source}
                      for i, source in enumerate(cells)],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5,
        }
        (self.root_dir / name).write_text(json.dumps(notebook, indent=1))
        return name

    def stop(self) -> None:
        """Shut kernels down, stop Lab, then kill whatever kernel of ours is left."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            self.shutdown_kernels()
            stop_group(process)
        for pid in _pids_mentioning(str(self.home)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait_kernel_connected(self, path: str, timeout: float = 30.0) -> None:
        """Until the kernel of `path`'s session has a WebSocket client (the page)."""

        def connections() -> list[int]:
            return [(session.get("kernel") or {}).get("connections", 0)
                    for session in self.get("api/sessions").json()
                    if session.get("path") == path]

        wait_until(connections, timeout, f"the kernel of {path} to get a connection",
                   until=lambda counts: any(n > 0 for n in counts), interval=0.2)

    def shutdown_kernels(self) -> None:
        """Ask Lab to shut every kernel down (a finished test's dashboard stops polling)."""
        try:
            kernels = self.get("api/kernels", timeout=3).json()
            for kernel in kernels:
                httpx.delete(self.url(f"api/kernels/{kernel['id']}"), timeout=5, trust_env=False)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass  # Lab stops its kernels on SIGTERM too; the /proc sweep is the backstop


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains `text` (a unique temp path: only ours match)."""
    needle = text.encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


class Lab:
    """A Playwright page on JupyterLab, recording console errors and page errors."""

    def __init__(self, page: Any, lab: JupyterLab) -> None:
        self.page = page
        self.lab = lab
        self.console: list[str] = []
        self.errors: list[str] = []
        self.sent: dict[str, list[bytes]] = {}  # WebSocket URL -> frames the page sent on it
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws: Any) -> None:
        frames = self.sent.setdefault(ws.url, [])
        ws.on("framesent", lambda payload: frames.append(
            payload.encode() if isinstance(payload, str) else bytes(payload)))

    def sent_on(self, url_suffix: str) -> bytes:
        """Everything the page itself sent on WebSockets whose URL ends with `url_suffix`."""
        return b"".join(b"".join(frames) for url, frames in self.sent.items()
                        if url.split("?")[0].endswith(url_suffix))

    def _on_console(self, msg: Any) -> None:
        line = f"[{msg.type}] {msg.text}"
        self.console.append(line)
        if msg.type == "error":
            self.errors.append(line)

    def open_notebook(self, path: str, timeout: float = 30.0) -> None:
        """Open `path` alone in a workspace of its own; wait until Lab has settled on it (its
        loading spinner gone, focus inside the notebook) and its kernel is idle."""
        workspace = re.sub(r"\W+", "-", path)
        self.page.goto(self.lab.url(f"lab/workspaces/{workspace}/tree/{path}"),
                       timeout=timeout * 1000)
        self.cell(0).wait_for(timeout=timeout * 1000)
        self.page.wait_for_function(
            "() => !document.querySelector('#jupyterlab-splash, .jp-Spinner')"
            " && !!document.activeElement?.closest('.jp-NotebookPanel')", timeout=timeout * 1000)
        self.lab.wait_kernel_connected(path, timeout)
        self.wait_kernel("idle", timeout)

    @property
    def notebook(self) -> Any:
        """The notebook panel on show."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")

    def cell(self, index: int) -> Any:
        return self.notebook.locator(".jp-Notebook .jp-Cell").nth(index)

    def output(self, index: int) -> Any:
        return self.cell(index).locator(".jp-OutputArea-output")

    def run_cell(self, index: int, timeout: float = 10.0) -> None:
        """Select cell `index` (one not run yet) and press the toolbar's run button until the
        cell is queued.

        Lab silently ignores a run while its kernel connection is still being set up (the
        prompt stays `[ ]:`), so an unqueued cell is simply run again.
        """
        prompt = self.cell(index).locator(".jp-InputPrompt")

        def press_run() -> bool:
            prompt.click()
            self.notebook.locator(
                "jp-button[data-command='notebook:run-cell-and-select-next']").click()
            self.page.wait_for_function("el => el.textContent.trim() !== '[ ]:'",
                                        arg=prompt.element_handle(), timeout=2_000)
            return True

        # each try already waits 2 s for the prompt to change: no pause between tries
        wait_until(press_run, timeout, f"cell {index} to start running", interval=0,
                   ignoring=(PlaywrightTimeout,))

    def wait_kernel(self, status: str, timeout: float = 30.0) -> None:
        self.notebook.locator(f".jp-Notebook-ExecutionIndicator[data-status='{status}']").wait_for(
            timeout=timeout * 1000)

    def kernel_status(self) -> str | None:
        return self.notebook.locator(".jp-Notebook-ExecutionIndicator").get_attribute(
            "data-status")

    def report(self) -> str:
        return "\n".join(self.console[-200:])


def page_errors(lab: Lab, ignore: Sequence[str] = ()) -> list[str]:
    """Console errors and uncaught exceptions, minus known-harmless ones."""
    return [e for e in lab.errors if not any(s in e for s in ignore)]

