"""Command lines that must fail cleanly, and help, with no server involved."""
from __future__ import annotations

import signal
import socket
import threading

import pytest

from .conftest import run


def test_help_lists_every_command(offline):
    from loom_jupyter.magics._magics import COMMANDS

    ran = run(offline, "%loom help")
    assert ran.error is None
    text = ran.all_text()
    for name in COMMANDS:
        assert f"%loom {name}" in text
    assert "%%loom chat" in text


def test_bare_loom_is_help(offline):
    ran = run(offline, "%loom")
    assert ran.error is None and "%loom create" in ran.all_text()


@pytest.mark.parametrize("name", ["connect", "create", "logs", "delete", "chat", "weavers", "threads"])
def test_command_help_prints_usage(offline, name):
    ran = run(offline, f"%loom {name} --help")
    assert ran.error is None
    assert f"usage: %loom {name}" in ran.io.stdout


def test_help_for_one_command(offline):
    ran = run(offline, "%loom help create")
    assert "usage: %loom create" in ran.io.stdout and "--count" in ran.io.stdout


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("%loom frobnicate", "no command 'frobnicate'"),
        ("%loom weaver", "did you mean %loom weavers?"),
        ("%loom stauts", "did you mean %loom status?"),
        ("%loom create", "required: image"),
        ("%loom create img --count 0", "at least 1"),
        ("%loom create img --count x", "expected a whole number"),
        ("%loom create img --env NOEQUALS", "KEY=VALUE"),
        ("%loom weavers --tag nocolon", "KEY:VALUE"),
        ("%loom weavers --bogus", "unrecognized arguments: --bogus"),
        ("%loom logs", "required: id"),
        ("%loom logs abc --tail -3", "at least 0"),
        ('%loom chat --system "unterminated', "check the quotes"),
        ("%loom connect --api-key-env A --api-key-file B", "not allowed with"),
        ("%loom delete", "give weaver ids"),
        ("%loom weavers -o 1bad", "variable name"),
    ],
)
def test_bad_arguments_are_one_line_usage_errors(offline, line, expected):
    ran = run(offline, line)
    message = ran.usage_error()
    assert expected in message


def test_cell_form_only_for_chat(offline):
    ran = run(offline, "%%loom weavers\nhello")
    assert "only for chat" in ran.usage_error()


def test_no_connection_says_how_to_connect(offline):
    ran = run(offline, "%loom weavers")
    message = ran.usage_error()
    assert "%loom connect" in message


def test_status_without_connection_is_not_an_error(offline):
    ran = run(offline, "%loom status")
    assert ran.error is None
    assert "%loom connect URL --api-key-env NAME" in ran.all_text()


def test_config_traits_are_configurable(offline, magics):
    ran = run(offline, "%config LoomMagics.max_history = 4")
    assert ran.error is None and magics.max_history == 4
    ran = run(offline, "%config LoomMagics")
    assert "log_refresh_hz" in ran.all_text()


def test_show_tracebacks_reraises_the_original(offline, magics):
    from loom_jupyter.client import LoomConfigError

    magics.show_tracebacks = True
    ran = run(offline, "%loom weavers")
    assert isinstance(ran.error, LoomConfigError)


def test_every_command_module_has_the_three_names():
    from loom_jupyter.magics._magics import COMMANDS, build_parser, load_command

    for name in COMMANDS:
        module = load_command(name)
        assert module.SUMMARY and callable(module.configure) and callable(module.run)
        assert build_parser(name).prog == f"%loom {name}"


@pytest.mark.parametrize("line", ["%loom -h", "%loom --help", "%loom"])
def test_help_flags_show_the_command_list(offline, line):
    ran = run(offline, line)
    assert ran.error is None and "%loom create" in ran.all_text()


def test_ctrl_c_in_any_magic_ends_in_one_line(offline, monkeypatch):
    """A Loom that accepts connections and never answers; the user presses Ctrl-C."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    monkeypatch.setenv("LOOM_URL", f"http://127.0.0.1:{hung.getsockname()[1]}")
    monkeypatch.setenv("LOOM_API_KEY", "lk_" + "0" * 64)
    main = threading.main_thread().ident
    assert main is not None
    # A real SIGINT to the main thread, as the kernel's interrupt sends: it also breaks a
    # blocking socket read (interrupt_main() would only set a flag).
    timer = threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        ran = run(offline, "%loom weavers")
    finally:
        timer.cancel()
        hung.close()
    assert ran.error is None
    assert ran.io.stderr.strip() == "Interrupted: %loom weavers stopped."
    assert "Traceback" not in ran.all_text() and "httpcore" not in ran.all_text()
