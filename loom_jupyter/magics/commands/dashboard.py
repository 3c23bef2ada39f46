"""`%loom dashboard`: the weaver dashboard widget."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

SUMMARY = "Show the weaver dashboard (list, create, follow logs, delete)."


def configure(parser: Any) -> None:
    """No options."""


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    from .._widgets import make_widget

    return make_widget("WeaverDashboard", "dashboard", client=magics.client)
