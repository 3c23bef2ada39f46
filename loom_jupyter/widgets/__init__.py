"""Notebook widgets for Loom, imported on first use so `import loom_jupyter.widgets` stays cheap."""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; a module still missing (or failing) only breaks its own name.
_EXPORTS = {
    "Terminal": ".terminal",
    "WeaverDashboard": ".dashboard",
    "LogView": ".logs",
    "ChatPanel": ".chat",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
