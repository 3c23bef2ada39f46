"""A real IPython shell with `%load_ext loom_jupyter`, pointed at the local Loom server."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output
from traitlets.config import Config

ENV_NAMES = ("LOOM_URL", "LOOM_API_KEY", "LOOM_JUPYTER_PROXY_URL", "LOOM_JUPYTER_PROXY_TOKEN")
TRAITS = ("show_tracebacks", "default_provider", "default_model", "max_history", "max_tokens",
          "log_refresh_hz", "log_buffer_lines", "wait_timeout", "request_timeout",
          "request_retries", "waiting_after", "confirm_count_above", "board_rows")


@dataclass
class Ran:
    """One executed cell: its result, and everything it printed or displayed."""

    result: Any
    io: CapturedIO

    @property
    def value(self) -> Any:
        return self.result.result

    @property
    def error(self) -> BaseException | None:
        return self.result.error_in_exec or self.result.error_before_exec

    def texts(self) -> list[str]:
        """stdout, stderr and every mime type of every display, as strings."""
        found = [self.io.stdout, self.io.stderr]
        for out in self.io.outputs:
            found += [str(v) for v in out.data.values()]
        return found

    def all_text(self) -> str:
        return "\n".join(self.texts())

    def usage_error(self) -> str:
        """Assert this cell failed with a one-line UsageError and no traceback; return the line."""
        assert isinstance(self.error, UsageError), (self.error, self.io.stdout, self.io.stderr)
        message = str(self.error)
        assert "\n" not in message, message
        assert "Traceback" not in self.all_text()
        return message


@pytest.fixture(scope="session")
def shell(tmp_path_factory: pytest.TempPathFactory) -> InteractiveShell:
    if not InteractiveShell.initialized():
        os.environ.setdefault("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        InteractiveShell.instance(config=config)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "loom_jupyter")
    return ip


@pytest.fixture
def magics(shell: InteractiveShell) -> Any:
    instance = shell.magics_manager.registry["LoomMagics"]
    saved = {name: getattr(instance, name) for name in TRAITS}
    instance.close()
    instance.hooks.clear()
    yield instance
    instance.close()
    instance.hooks.clear()
    for name, value in saved.items():
        setattr(instance, name, value)


@pytest.fixture
def offline(shell: InteractiveShell, magics: Any, monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    """The shell with no Loom configured at all (for parsing and refusal tests)."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return shell


@pytest.fixture
def ip(shell: InteractiveShell, magics: Any, loom_server: Any, user_key: str,
       monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    """The shell configured through LOOM_URL/LOOM_API_KEY (direct mode, a plain user key)."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOOM_URL", loom_server.url)
    monkeypatch.setenv("LOOM_API_KEY", user_key)
    return shell


def run(shell: InteractiveShell, source: str) -> Ran:
    """Run one cell the way a notebook does (stored in history), capturing all output."""
    with capture_output(display=True) as io:
        result = shell.run_cell(source, store_history=True)
    return Ran(result, io)


@pytest.fixture
def client(loom_server: Any, user_key: str) -> Any:
    """An SDK client for the local server; the weavers a test leaves running are deleted."""
    from loom_jupyter.client import Loom

    with Loom(loom_server.url, user_key) as loom:
        yield loom
        for weaver in loom.weavers.list():
            if weaver.status in ("pending", "running"):
                loom.weavers.delete(weaver.id)
