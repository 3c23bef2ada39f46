"""Helpers shared by the widget tests: bounded waiting, and walking a widget tree's state."""

from __future__ import annotations

import json
import time
from typing import Any
from collections.abc import Callable, Iterator

import ipywidgets as w


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def walk(widget: w.Widget) -> Iterator[w.Widget]:
    """Every widget reachable from ``widget`` through its traits (children, layout, style...)."""
    seen: set[int] = set()
    stack = [widget]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for name in current.keys:
            value = getattr(current, name, None)
            items = value if isinstance(value, (list, tuple)) else [value]
            stack.extend(item for item in items if isinstance(item, w.Widget))


def assert_no_secret(widget: w.Widget, secret: str) -> int:
    """Fail if ``secret`` appears in the synced state, repr or HTML fallback; return widgets seen."""
    count = 0
    for item in walk(widget):
        state = json.dumps(item.get_state(), default=str)
        assert secret not in state, f"credential leaked in the state of {type(item).__name__}"
        count += 1
    assert secret not in repr(widget)
    assert secret not in widget._repr_html_()
    return count
