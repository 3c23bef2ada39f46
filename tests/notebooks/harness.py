"""Run the tutorial notebooks against a fresh embedded local Loom server each.

Used two ways, so stored outputs and checked outputs come from the same setup:

- as pytest hooks by `notebooks/conftest.py` (strict `pytest --nbval`, see `make test-notebooks`):
  before a notebook's kernel starts, a new local server is started and `LOOM_URL` and
  `LOOM_API_KEY` are exported into `os.environ`, which the kernel inherits;
- by `notebooks/refresh.py` (`make notebooks-refresh`), which executes the notebooks in place
  with nbclient under the same environment.

A fresh server per notebook keeps notebooks independent: a thread saved in one never shows
up in another's listing. Each kernel also gets its own empty IPYTHONDIR, so nobody's startup
files or history change what a notebook prints.

nbval (0.11) ignores `update_display_data`, so any output updated in place (streamed chat
answers, `%loom logs --follow`, the `%loom create` progress board) would be compared in its
first state while the stored notebook holds its last. `apply_display_updates` makes nbval
apply updates the way Jupyter front ends and nbclient do.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.loom_server import LocalLoom, start_local_loom

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SANITIZE = NOTEBOOKS / "sanitize.cfg"

#: Removed from the kernels' environment: the notebooks run in direct mode against the local
#: server, whatever the shell that started the tests had configured.
CLEARED_ENV = ("LOOM_URL", "LOOM_API_KEY", "LOOM_JUPYTER_PROXY_URL", "LOOM_JUPYTER_PROXY_TOKEN",
               "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")


class NotebookServers:
    """One local Loom server at a time under a private temporary directory."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="loom-notebooks-"))
        self.server: LocalLoom | None = None
        self.notebook: str | None = None
        self._saved_env: dict[str, str | None] = {}
        self._count = 0

    def start_for(self, notebook: str) -> LocalLoom:
        """Stop the previous notebook's server, start a new one, export its URL and key."""
        self.stop()
        self._count += 1
        data = self.root / f"{self._count:02d}-{Path(notebook).stem}" / "data"
        self.server = start_local_loom(data)
        self.notebook = notebook
        ipython_dir = data.parent / "ipython"
        ipython_dir.mkdir()
        env: dict[str, str | None] = {name: None for name in CLEARED_ENV}
        # COLUMNS: argparse wraps `%loom CMD --help` to the terminal's width otherwise.
        env.update(LOOM_URL=self.server.url, LOOM_API_KEY=self.server.admin_key,
                   IPYTHONDIR=str(ipython_dir), COLUMNS="80")
        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            self.notebook = None

    def close(self) -> None:
        self.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def secrets(self) -> list[str]:
        return [self.server.admin_key] if self.server is not None else []


@contextlib.contextmanager
def notebook_servers() -> Iterator[NotebookServers]:
    servers = _new_servers()
    try:
        yield servers
    finally:
        servers.close()


# -- nbval: apply update_display_data like a front end ----------------------------------------

def _as_node(data: Any) -> Any:
    from nbformat import from_dict

    return from_dict(dict(data))


def apply_display_updates(nbfile: Any) -> None:
    """Wrap `nbfile.get_kernel_message` so `update_display_data` rewrites the earlier display.

    nbval stores `out['data'] = msg['content']['data']`; a NotebookNode is stored as is (not
    copied), so turning the display's data into a NotebookNode first lets a later update
    change what nbval compares. The update message itself is consumed here.
    """
    if getattr(nbfile, "_loom_display_updates", False):
        return
    original = nbfile.get_kernel_message
    displays: dict[str, list[tuple[Any, Any]]] = {}

    def get_kernel_message(timeout: float | None = None, stream: str = "iopub") -> Any:
        while True:
            msg = original(timeout=timeout, stream=stream)
            kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
            content = msg.get("content", {})
            display_id = (content.get("transient") or {}).get("display_id")
            if kind in ("display_data", "execute_result") and display_id:
                content["data"] = _as_node(content.get("data", {}))
                content["metadata"] = _as_node(content.get("metadata", {}))
                displays.setdefault(display_id, []).append((content["data"], content["metadata"]))
                return msg
            if kind == "update_display_data":
                for data, metadata in displays.get(display_id or "", []):  # every display of the id
                    data.clear()
                    data.update(_as_node(content.get("data", {})))
                    metadata.clear()
                    metadata.update(_as_node(content.get("metadata", {})))
                continue
            return msg

    nbfile.get_kernel_message = get_kernel_message
    nbfile._loom_display_updates = True


# -- pytest hooks (imported by notebooks/conftest.py) -----------------------------------------

_SERVERS: NotebookServers | None = None


def _new_servers() -> NotebookServers:
    """Every notebook's servers, with notebook 08's other platforms (started only for it)."""
    from .platforms import PlatformNotebookServers

    return PlatformNotebookServers()


def _servers() -> NotebookServers:
    global _SERVERS
    if _SERVERS is None:
        _SERVERS = _new_servers()
    return _SERVERS


def _is_cell(item: Any) -> bool:
    return type(item).__name__ == "IPyNbCell"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Before a notebook's first cell (when nbval starts its kernel), start its own server."""
    if _is_cell(item) and item.parent is not None:
        servers = _servers()
        notebook = str(item.parent.path)
        if servers.notebook != notebook:
            servers.start_for(notebook)
        apply_display_updates(item.parent)
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a cell whose live outputs contain the server's key, whatever nbval compares."""
    result = yield
    if _is_cell(item) and _SERVERS is not None:
        text = json.dumps(getattr(item, "test_outputs", None) or [], default=str)
        if any(secret and secret in text for secret in _SERVERS.secrets()):
            raise AssertionError(f"{item.name}: an output contains the Loom API key the kernel was given.")
    return result


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _SERVERS
    if _SERVERS is not None:
        _SERVERS.close()
        _SERVERS = None
