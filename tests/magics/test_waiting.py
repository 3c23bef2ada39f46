"""Time (issue 19): "waiting for Loom…" after a silence, configurable timeouts, one line on Ctrl-C.

The hung Loom is a loopback socket that accepts connections and never answers a byte.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loom_jupyter.magics._waiting import TEXT, Waiting

from .conftest import ENV_NAMES, Ran, run

ROOT = Path(__file__).resolve().parents[2]
GET = "%loom get 018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a"


@pytest.fixture
def hung_loom() -> Iterator[str]:
    """A URL where TCP connects and nothing ever answers (a stopped Loom process)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(32)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()


def _interrupted_after(seconds: float, call: Callable[[], Ran]) -> Ran:
    """Run `call` in the main thread and press Ctrl-C (SIGINT to the main thread) after `seconds`."""
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()
    timer = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        return call()
    finally:
        timer.cancel()


def _read_tty(fd: int, until: str, timeout: float = 3.0) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while not seen.endswith(until) and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            seen += os.read(fd, 4096).decode()
    return seen


@pytest.fixture
def hung(shell, magics, hung_loom, monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOOM_URL", hung_loom)
    monkeypatch.setenv("LOOM_API_KEY", "lk_test_hung_loom_key")
    return shell


def test_a_hung_loom_shows_waiting_then_times_out_as_configured(hung, magics, monkeypatch):
    assert magics.client._timeout.read == 30.0  # built with the default, then the setting changes
    monkeypatch.setattr(magics, "waiting_after", 0.3)
    monkeypatch.setattr(magics, "request_timeout", 1.0)
    monkeypatch.setattr(magics, "request_retries", 0)
    started = time.monotonic()
    ran = run(hung, GET)
    took = time.monotonic() - started
    line = ran.usage_error()
    assert 0.9 < took < 4, took
    assert "timed out" in line.lower() or "did not answer" in line.lower(), line
    err = ran.io.stderr
    assert err.count(TEXT) == 1 and "s for Loom\n" in err  # shown once, then ended
    assert err.index(TEXT) < err.index("s for Loom")


def test_retries_are_a_setting_too(hung, magics, monkeypatch):
    monkeypatch.setattr(magics, "waiting_after", 0)
    monkeypatch.setattr(magics, "request_timeout", 0.5)
    monkeypatch.setattr(magics, "request_retries", 2)
    started = time.monotonic()
    run(hung, GET).usage_error()
    assert 1.4 < time.monotonic() - started < 6  # three tries of 0.5 s (plus backoff)


def test_interrupting_a_hung_call_is_one_line(hung, magics, monkeypatch):
    monkeypatch.setattr(magics, "waiting_after", 0.2)
    monkeypatch.setattr(magics, "request_timeout", 30.0)
    started = time.monotonic()
    ran = _interrupted_after(0.8, lambda: run(hung, GET))
    assert time.monotonic() - started < 5
    assert ran.error is None and "Traceback" not in ran.all_text()
    err = ran.io.stderr
    assert "Interrupted: %loom get stopped." in err
    assert err.index(TEXT) < err.index("s for Loom") < err.index("Interrupted")


def test_a_fast_answer_prints_no_waiting_line(ip, magics, monkeypatch):
    monkeypatch.setattr(magics, "waiting_after", 1.0)
    for line in ("%loom weavers", "%loom help", GET):
        ran = run(ip, line)
        assert "waiting for Loom" not in ran.all_text(), line


def test_output_before_the_delay_means_no_waiting_line(hung, magics, monkeypatch):
    """A command that shows something at once (--follow's area, create's board) is not silent."""
    monkeypatch.setattr(magics, "waiting_after", 0.3)
    ran = _interrupted_after(1.0, lambda: run(hung, "%loom logs 018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a -f"))
    assert ran.error is None and ran.io.outputs and "stopped following (interrupted)" in ran.all_text()
    assert TEXT not in ran.io.stderr


def test_on_a_terminal_the_line_is_erased_when_the_answer_comes():
    master, slave = os.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as tty:
        waiting = Waiting(0.05, tty)
        waiting.start()
        time.sleep(0.3)
        waiting.answered()
        waiting.answered()  # idempotent
        seen = _read_tty(master, "\r\x1b[K")
    os.close(master)
    assert seen == TEXT + "\r\x1b[K"


def test_a_disabled_or_early_answer_shows_nothing():
    master, slave = os.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as tty:
        off = Waiting(0, tty)
        off.start()
        quick = Waiting(0.5, tty)
        quick.start()
        quick.answered()
        time.sleep(0.7)
        off.answered()
        assert not off.shown and not quick.shown
    os.close(master)


def test_in_a_real_kernel_the_line_reaches_the_cell_and_no_stdin_means_add_yes(hung_loom, tmp_path):
    """ipykernel: the line is a stderr stream of the running cell; input() without stdin (a
    front end that cannot answer) is one line that says to add --yes."""
    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    env.update(LOOM_URL=hung_loom, LOOM_API_KEY="lk_test_hung_loom_key", IPYTHONDIR=str(tmp_path))
    manager, kernel = start_new_kernel(kernel_name="python3", env=env, cwd=str(ROOT))
    try:
        def execute(code: str) -> tuple[str, list[str]]:
            stderr: list[str] = []
            errors: list[str] = []

            def output(msg: dict) -> None:
                if msg["msg_type"] == "stream" and msg["content"]["name"] == "stderr":
                    stderr.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

            kernel.execute_interactive(code, allow_stdin=False, timeout=30, output_hook=output)
            return "".join(stderr), errors

        execute("%load_ext loom_jupyter\n%config LoomMagics.waiting_after = 0.3\n"
                "%config LoomMagics.request_timeout = 1.0\n%config LoomMagics.request_retries = 0")
        stderr, errors = execute(GET)  # IPython prints a UsageError on stderr, with no traceback
        assert stderr.startswith(TEXT) and errors == [], (stderr, errors)
        said = stderr.split("s for Loom\n", 1)[1]
        assert said.startswith("UsageError: ") and said.count("\n") == 1, said
        stderr, errors = execute("%loom create python:3.12 --count 1000 -- sleep 60")
        assert errors == [] and stderr.startswith("UsageError: Create 1000 weavers"), stderr
        assert "add --yes to %loom create" in stderr and stderr.count("\n") == 1
    finally:
        kernel.stop_channels()
        manager.shutdown_kernel(now=True)
