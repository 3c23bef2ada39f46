"""The local server's settings: the terminal stall time from its flag or environment variable,
and a bad value refused in one line before anything starts."""
from __future__ import annotations

import argparse

import pytest

from loom_jupyter.local.config import (
    ATTACH_STALL_ENV,
    DEFAULT_ATTACH_STALL_SECONDS,
    LocalConfig,
    add_arguments,
    from_args,
)


def _config(*argv: str) -> LocalConfig:
    parser = argparse.ArgumentParser(prog="loom-jupyter local")
    add_arguments(parser)
    return from_args(parser.parse_args(list(argv)))


def test_the_stall_time_defaults_to_thirty_seconds(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ATTACH_STALL_ENV, raising=False)
    assert _config().attach_stall_seconds == DEFAULT_ATTACH_STALL_SECONDS == 30.0


def test_the_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ATTACH_STALL_ENV, "12")
    assert _config().attach_stall_seconds == 12.0
    assert _config("--attach-stall-seconds", "2.5").attach_stall_seconds == 2.5


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_a_bad_flag_is_one_line_from_argparse(value: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as stop:
        _config("--attach-stall-seconds", value)
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("loom-jupyter local: error: argument --attach-stall-seconds:")
    assert repr(value) in error


@pytest.mark.parametrize("value", ["0", "soon"])
def test_a_bad_environment_value_is_one_line(value: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ATTACH_STALL_ENV, value)
    with pytest.raises(SystemExit) as stop:
        LocalConfig()
    message = str(stop.value.code)
    assert message.startswith(f"{ATTACH_STALL_ENV} must be") and repr(value) in message
    assert "\n" not in message
