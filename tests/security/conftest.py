"""Every in-process Jupyter server in the security suites: no request may end in a 500 or a
traceback in the server log (issue 18). Checked after each test, whatever it asserted."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

_WATCHED = ("", "tornado.application", "tornado.access", "tornado.general", "ServerApp",
            "LoomJupyter", "loom_jupyter")
_FIVE_HUNDRED = re.compile(r"^500 |Uncaught exception|Traceback \(most recent call last\)")


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info or _FIVE_HUNDRED.search(text):
            self.bad[id(record)] = f"{record.name}: {text[:300]}"


@pytest.fixture(autouse=True)
def no_server_tracebacks() -> Iterator[None]:
    collector = _Collector()
    loggers = [logging.getLogger(name) for name in _WATCHED]
    for logger in loggers:
        logger.addHandler(collector)
    yield
    for logger in loggers:
        logger.removeHandler(collector)
    assert not collector.bad, "the server logged a 500 or a traceback:\n" + "\n".join(
        collector.bad.values())
