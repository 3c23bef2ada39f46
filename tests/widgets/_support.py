"""Helpers shared by the widget tests: walking a widget tree's state (and, for the modules that
still import it from here, the suite's one wait helper)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import ipywidgets as w

from tests.fixtures.wait import wait_until

# wait_until lives in tests/fixtures/wait.py; it is re-exported here for the modules that import
# it from this one (tests/widgets/test_chat.py, test_logs.py, tests/reliability/...).
__all__ = ["assert_no_secret", "wait_until", "walk"]


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
